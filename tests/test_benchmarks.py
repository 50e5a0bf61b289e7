"""The benchmark scripts run (smoke runs: the figures themselves are measured, not tested)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_bench_ipd_quick(tmp_path):
    """Each case in its own process (a baseline and snnsim's CLI), the grid through sweep local;
    the table and the raw JSON record."""
    out = _run("benchmarks/bench_ipd.py", "--quick", "--only", "notebook loop,snnsim fused", "--no-tuned",
               "--results", str(tmp_path))  # fmt: skip
    rows = {
        line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ") and "case" not in line
    }
    assert set(rows) == {"notebook loop", "snnsim fused"}
    assert rows["snnsim fused"].split("|")[3].strip().endswith("x")  # a ratio against the notebook loop
    (record,) = tmp_path.glob("cpu-*-quick.json")
    data = json.loads(record.read_text())
    assert set(data["times"]) == {"notebook loop", "snnsim fused"} and data["grids"][0]["experiment"] == "smoke"
    assert "snnsim.run" in data["commands"]["snnsim fused"] and data["machine"]["torch"]
    # which processor: two machines of one vendor name differed 3x in speed
    assert data["machine"]["simd"] in {"AVX-512", "AVX2", "other"} and data["machine"]["cpu_family"]
    # how fast the shared machine ran, before the cases and after the grid (its own process)
    assert data["speed_probe"]["before"] > 0 and data["speed_probe"]["after"] > 0
    assert "machine speed after the runs" in out


def test_baseline_runs_in_its_own_process():
    out = _run("benchmarks/baselines.py", "norse", "--epochs", "1", "--n-train-batches", "2")
    row = json.loads(out.strip().splitlines()[-1])
    assert row["case"] == "norse" and row["train_s"] > 0 and row["threads"] >= 1


def test_profile_ipd_one_model():
    out = _run("benchmarks/profile_ipd.py", "--models", "1", "--readout", "mean", "--tau", "0.02")
    assert "ms per model and batch" in out and "minor page faults per batch" in out
    assert "net_fwd_f32" in out and "net_bwd_f32" in out


def test_neighbour_loops_report_their_rate():
    assert "products per second" in _run("benchmarks/neighbour.py", "matmul", "--seconds", "0.2")
    assert "GB/s" in _run("benchmarks/neighbour.py", "copy", "--seconds", "0.2")
