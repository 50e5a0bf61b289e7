"""The benchmark scripts run (smoke runs: the figures themselves are measured, not tested)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_bench_ipd_quick():
    out = _run(
        "benchmarks/bench_ipd.py", "--quick", "--threads", "1", "--only", "notebook loop,snnsim fused", "--no-grid"
    )
    rows = {
        line.split()[0] + " " + line.split()[1]: line
        for line in out.splitlines()
        if line.startswith(("notebook", "snnsim"))
    }
    assert set(rows) == {"notebook loop", "snnsim fused"}
    assert "x" in rows["snnsim fused"].split()[3]  # a ratio against the notebook loop


def test_profile_ipd_one_model():
    out = _run("benchmarks/profile_ipd.py", "--models", "1", "--readout", "mean", "--tau", "0.02")
    assert "ms per model and batch" in out and "minor page faults per batch" in out
    assert "lif_fwd_f32" in out and "proj_fwd_f32" in out
