"""The benchmark scripts run (smoke runs: the figures themselves are measured, not tested)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from in_process import run_here

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _here(script, *args):
    """:func:`_run` of ``benchmarks/SCRIPT`` in this process (in_process.run_here): for a script
    that computes in its own process, whose refusals in a process of its own are
    test_a_bad_argument_is_one_line's (the seconds of a new interpreter's torch import saved)."""
    out = run_here(ROOT / "benchmarks" / script, *args, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow
def test_bench_ipd_quick(tmp_path):
    """Each case in its own process (a baseline and snnsim's CLI), the grid through sweep local;
    the table and the raw JSON record. --quick with --runs 2 timed each case once without a word
    (a smoke run's one run won over the repeats asked for): the median was of one run. --runs
    given is the number of runs."""
    out = _run("benchmarks/bench_ipd.py", "--quick", "--runs", "2", "--only", "notebook loop,snnsim fused",
               "--no-tuned", "--results", str(tmp_path))  # fmt: skip
    rows = {
        line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ") and "case" not in line
    }
    assert set(rows) == {"notebook loop", "snnsim fused"}
    assert rows["snnsim fused"].split("|")[3].strip().endswith("x")  # a ratio against the notebook loop
    (record,) = tmp_path.glob("cpu-*-quick.json")
    data = json.loads(record.read_text())
    assert set(data["times"]) == {"notebook loop", "snnsim fused"} and data["grids"][0]["experiment"] == "smoke"
    assert [len(by["default"]) for by in data["times"].values()] == [2, 2]  # the runs asked for
    assert "snnsim.run" in data["commands"]["snnsim fused"] and data["machine"]["torch"]
    assert data["complete"] is True  # a run stopped part-way: false (test_bench_ipd_stopped_part_way_...)
    # which processor: two machines of one vendor name differed 3x in speed
    assert data["machine"]["simd"] in {"AVX-512", "AVX2", "other"} and data["machine"]["cpu_family"]
    # how fast the shared machine ran, before the cases and after the grid (its own process)
    assert data["speed_probe"]["before"] > 0 and data["speed_probe"]["after"] > 0
    assert "machine speed after the runs" in out


def test_baseline_runs_in_its_own_process():
    out = _run("benchmarks/baselines.py", "norse", "--epochs", "1", "--n-train-batches", "1", "--tau", "20ms")
    row = json.loads(out.strip().splitlines()[-1])
    assert row["case"] == "norse" and row["train_s"] > 0 and row["threads"] >= 1


def test_profile_ipd_one_model():
    out = _here("profile_ipd.py", "--models", "1", "--readout", "mean", "--tau", "0.02")
    assert "ms per model and batch" in out and "minor page faults per batch" in out
    assert "net_fwd_f32" in out and "net_bwd_f32" in out


def test_neighbour_loops_report_their_rate():
    assert "products per second" in _here("neighbour.py", "matmul", "--seconds", "0.2")
    assert "GB/s" in _here("neighbour.py", "copy", "--seconds", "0.2")


def test_grid_profile_sums_a_raw_profile_by_stage(tmp_path):
    """Hand-made py-spy raw lines (stack;stack count): each sample in its first matching stage,
    seconds = samples / rate, per job process."""
    parent = 'process 1:"python -m snnsim.sweep local smoke -j 2"'
    job = [f'process {p}:"python -m snnsim.sweep run smoke.toml {p} --pack 2"' for p in (2, 3)]
    lines = [
        f"{parent};main (snnsim/sweep/cli.py:1);cmd_local (snnsim/sweep/cli.py:2) 4",
        f"{parent};{job[0]};IPDTrainer.epoch (ipd.py:1);backward (autograd.py:1);_PerSample.backward (f.py:1) 30",
        f"{parent};{job[1]};IPDTrainer.epoch (ipd.py:1);_PerSample.forward (f.py:1) 10",
        f"{parent};{job[1]};IPDStudy.evaluate (ipd.py:2);cost_of (ipd.py:3);_PerSample.forward (f.py:1) 6",
        f"{parent};{job[0]};run_jobs.<locals>.write (jobs.py:1);encode (results.py:1) 8",
        f"{parent};{job[0]} 2",
        "",
    ]
    profile = tmp_path / "grid.txt"
    profile.write_text("\n".join(lines))
    rows = {}
    for line in _run("benchmarks/grid_profile.py", str(profile), "--rate", "2").splitlines():
        if line.startswith("| ") and "stage" not in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = (float(cells[1]), float(cells[2]))
    assert rows == {
        "training: net_bwd (the kernel call)": (15.0, 7.5),
        "training: net_fwd (the kernel call)": (5.0, 2.5),
        "evaluation: cost metrics": (3.0, 1.5),  # its kernel call counts as evaluation
        "result files": (4.0, 2.0),
        "the sweep's own process": (2.0, 1.0),
        "a process's start and end (no Python frame)": (1.0, 0.5),
    }


@pytest.mark.slow
def test_device_agreement_is_exact_on_one_device():
    """The same training twice on the CPU (data copied, same initial weights): equal to the bit,
    so a drift the script shows between two devices is the arithmetic's. Two batches an epoch: the
    fewest whose order a shuffle of each epoch changes."""
    out = _here("device_agreement.py", "fused", "norse", "--devices", "cpu", "cpu", "--epochs", "2",
                "--n-train-batches", "2", "--n-test-batches", "1")  # fmt: skip
    lines = [line for line in out.splitlines() if "max |w diff|" in line]
    assert len(lines) == 4  # two backends x two readouts
    for line in lines:
        assert line.split("max |w diff| ")[1].split()[0] == "0"
        losses = line.split("loss cpu ")[1].split(" | ")[0].split(" cpu ")
        assert len(losses) == 2 and losses[0] == losses[1] and losses[0].count(",") == 1  # 2 epochs


@pytest.mark.slow
def test_same_numbers_compares_threads_and_batching():
    """Two cases of the model space (the adaptive threshold on two layers of 7 and 5 neurons over
    23 steps, on norse and fused): each with 1 and 3 kernel threads and unbatched repeats, equal
    to the default run in every data variable, and a pack against its runs alone."""
    out = _here("same_numbers.py", "--only", "7+5x23 adaptive,pack adaptive", "--packs")
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| ipd 7+5x23 adaptive |")]
    assert [row[1] for row in rows] == ["norse", "fused"] and all(row[3:6] == ["same"] * 3 for row in rows), out
    packs = [line for line in out.splitlines() if line.startswith("| pack adaptive |")]
    assert packs == ["| pack adaptive | norse | same | same |", "| pack adaptive | fused | same | same |"], out


def test_device_agreement_refuses_a_missing_gpu():
    """In this process (in_process.run_here): the script's first refusal, in a process of its
    own, is test_a_bad_argument_is_one_line's; an exception would fail the test, as a traceback."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --devices cpu cuda is valid here")
    out = run_here(ROOT / "benchmarks" / "device_agreement.py", "fused", cwd=ROOT)
    assert out.returncode == 2 and "no CUDA device" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_resume_after_kill_runs_again_a_reference_of_other_settings(tmp_path):
    """A WORKDIR of an earlier call whose uninterrupted run was made with other settings (here one
    epoch, as by an earlier version of the case): it was reused, and every resumed run compared
    against it ("DIFFER", exit 1). It is run again now, with a line that says why; one of the
    same settings and versions is still reused. The WORKDIR is given relative to where the script
    is called: the runs start in the source tree, and a relative WORKDIR was made where the script
    was called and the runs' results written below the source tree ("no result file at
    w/.../r.h5", exit 2)."""
    from snnsim import run as run_cli

    # no PATH here: each run's process found /bin/cc, which cannot link without PATH (no ld), so it
    # spent about 10 s of CPU on two failed compiles of the kernels, warned, and ran the fused
    # backend's torch loops. Those loops, without the compiles: the kill's window as before
    env = {"MODES": "boundary", "PYTHONPATH": str(ROOT), "SNNSIM_NO_NATIVE": "1"}
    case = "ipd-fused-val-ema"  # the fused backend: the three runs train in a fraction of snnTorch's time
    script = ROOT / "benchmarks" / "resume_after_kill.py"
    sys.path.insert(0, str(script.parent))
    try:
        import resume_after_kill as rak
    finally:
        sys.path.remove(str(script.parent))
    whole = tmp_path / "w" / case / "whole" / "r.h5"
    old = [a if a != "6" else "1" for a in rak.CASES[case]]
    assert run_here(run_cli.main, *old, "--out", whole, cwd=ROOT, env=env).returncode == 0
    proc = run_here(script, "w", case, cwd=tmp_path, env=env)  # relative to the call's folder
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{case}: the reference whole/r.h5 of an earlier call has other settings (epochs)" in proc.stdout
    assert f"| {case} | boundary |" in proc.stdout and proc.stdout.rstrip().endswith("EQUAL |"), proc.stdout
    assert whole.is_file() and (tmp_path / "w" / case / "boundary" / "r.h5").is_file()
    made = whole.stat().st_mtime_ns
    again = run_here(script, tmp_path / "w", case, cwd=tmp_path, env=env)  # its own reference: reused
    assert again.returncode == 0 and "running it again" not in again.stdout, again.stdout
    assert whole.stat().st_mtime_ns == made


#: the scripts' cases of test_bad_arguments_are_one_line_and_exit_2 that run in a process of their
#: own: one of each script that test_a_bad_argument_is_one_line does not run
OWN_PROCESS = (["same_numbers.py", "--only", "bogus"], ["resume_after_kill.py", "w", "bogus"], ["memory_peak.py"])


@pytest.mark.parametrize("args, message", [
    (["baselines.py", "notebook", "--tau", "0"], "baselines.py: error: argument --tau: duration must be positive"),
    (["bench_ipd.py", "--tau", "2 parsecs"], "bench_ipd.py: error: argument --tau: expected a duration with a unit"),
    (["profile_ipd.py", "--tau", "nan"], "profile_ipd.py: error: argument --tau: duration must be positive and fin"),
    (["baselines.py", "notebook", "--device", "tpu"], "baselines.py: error: --device: unknown device 'tpu'"),
    (["device_agreement.py", "fused", "--devices", "tpu", "cpu"], "device_agreement.py: error: --device: unknown"),
    (["profile_ipd.py", "--models", "0"], "profile_ipd.py: error: argument --models: expected an integer >= 1"),
    (["profile_ipd.py", "--models", "1", "--epochs", "0"], "profile_ipd.py: error: argument --epochs: expected an"),
    (["grid_profile.py", "nosuch.txt"], "grid_profile.py: error: nosuch.txt: No such file or directory"),
    (["grid_profile.py", "README.md"], "grid_profile.py: error: README.md: not a raw py-spy profile"),
    (["neighbour.py", "copy", "--seconds", "nan"], "neighbour.py: error: argument --seconds: must be a finite number"),
    (["bench_ipd.py", "--only", "bogus"], "bench_ipd.py: error: --only: unknown case 'bogus'; cases: "),
    (["same_numbers.py", "--only", "bogus"], "same_numbers.py: error: --only: no case label contains 'bogus'; cases"),
    (["resume_after_kill.py", "w", "bogus"], "resume_after_kill.py: error: no case 'bogus'; cases: ipd-default"),
    (["bench_ipd.py", "--results", "README.md"], "bench_ipd.py: error: --results: README.md is a file"),
    # no GPU: refused before any case runs; a GPU: the grid would time the CPU in a cuda record
    (["bench_ipd.py", "--device", "cuda", "--quick", "--only", "snnsim fused"], "bench_ipd.py: error: --device"),
    # docs/sweeps.md's measuring command: no module, or one that is none, was a traceback
    (["memory_peak.py"], "memory_peak.py: error: the following arguments are required: MODULE"),
    (["memory_peak.py", "snnsim.nosuch"], "memory_peak.py: error: argument MODULE: invalid choice: 'snnsim.nosuch'"),
])  # fmt: skip
def test_bad_arguments_are_one_line_and_exit_2(args, message):
    """The benchmark scripts hold to the command-line contract: a bad argument is one line on
    stderr (after argparse's usage line where argparse refuses it), exit 2, no traceback. Each
    script's first case runs in a process of its own (here, or in test_a_bad_argument_is_one_line),
    the others in this one."""
    if args in OWN_PROCESS:
        proc = subprocess.run([sys.executable, f"benchmarks/{args[0]}", *args[1:]], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    else:
        proc = run_here(ROOT / "benchmarks" / args[0], *args[1:], cwd=ROOT)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[-1].startswith(message), lines


def test_bench_ipd_refuses_a_results_folder_it_cannot_make_before_any_run():
    """--results under a file: refused at the start, not after the runs (which take 25 minutes
    in full) when the raw record is written and the timings would be lost. In this process
    (in_process.run_here): the script's first refusal, in a process of its own, is
    test_a_bad_argument_is_one_line's; its runs, had it gone on, would still be processes."""
    args = ["--quick", "--only", "snnsim fused", "--no-grid", "--no-tuned", "--results", "README.md/records"]
    proc = run_here(ROOT / "benchmarks" / "bench_ipd.py", *args, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("bench_ipd.py: error: --results: cannot create folder README.md/records"), proc.stderr
    assert "run 1" not in proc.stdout, proc.stdout  # nothing measured


def test_bench_ipd_refuses_a_tau_a_backend_cannot_run_before_any_run(tmp_path):
    """A --tau that one backend refuses (norse: no decay within float precision) was a traceback
    (RuntimeError: ... failed) when that case's turn came, after the speed probe, the kernels'
    build and every case before it. It is one line now, naming the case, before anything runs."""
    args = ["--quick", "--tau", "1e15", "--only", "snnsim fused,snnsim norse", "--no-grid", "--no-tuned",
            "--results", str(tmp_path)]  # fmt: skip
    proc = run_here(ROOT / "benchmarks" / "bench_ipd.py", *args, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()[-1:]
    assert line.startswith("bench_ipd.py: error: snnsim norse: --tau: 1e+15 s is so long against dt"), proc.stderr
    assert "machine speed" not in proc.stdout and "run 1" not in proc.stdout, proc.stdout  # nothing measured
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bench_ipd_stopped_part_way_keeps_the_timings_it_made(tmp_path):
    """A run stopped part-way (a device session's time limit, scancel: SIGTERM) wrote no record:
    its JSON went out only after the last case, and benchmarks/README.md ("Measured: GPU") lost
    two calls' timings so. The record is written after every measurement now, marked incomplete
    until the end. (The case measured first is snnsim's snnTorch backend: a fraction of the
    baselines' time, measured and recorded as theirs are.)"""
    import signal

    args = ["--quick", "--only", "snnsim snntorch,snnsim fused", "--no-grid", "--no-tuned", "--results", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "benchmarks/bench_ipd.py", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for line in proc.stdout:
            if line.startswith("  run 1: snnsim snntorch"):
                break
        proc.send_signal(signal.SIGTERM)  # while snnsim fused runs (or before it starts)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    (record,) = tmp_path.glob("cpu-*-quick.json")
    data = json.loads(record.read_text())
    assert data["complete"] is False and list(data["times"]) == ["snnsim snntorch"], data
    assert len(data["times"]["snnsim snntorch"]["default"]) == 1 and data["speed_probe"]["before"] > 0


@pytest.mark.slow
def test_bench_ipd_names_a_failed_case_in_one_line(tmp_path):
    """A case whose command fails (here snnsim's run, which cannot write its result file in a
    full $TMPDIR) ended on a traceback (RuntimeError) with the command's whole stderr. It is one
    line now naming the case, the run and the command's own last line, exit 1, and the timings
    made before it are in the record."""
    from small_disk import fill, mounted_tmpfs

    args = ["--quick", "--only", "notebook loop,snnsim fused", "--no-grid", "--no-tuned",
            "--results", str(tmp_path / "records")]  # fmt: skip
    with mounted_tmpfs(tmp_path / "tmp", "256k") as tmp:
        fill(tmp, room=64 * 1024)  # room for the temporary folder, not for a result file
        env = {**os.environ, "TMPDIR": str(tmp)}
        proc = subprocess.run([sys.executable, "benchmarks/bench_ipd.py", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("bench_ipd.py: error: snnsim fused (default), run 1 failed (exit 5): snnsim.run: "), line
    assert "error: --out: only 64 kB free on the file system of " in line, line
    (record,) = (tmp_path / "records").glob("cpu-*-quick.json")
    assert list(json.loads(record.read_text())["times"]) == ["notebook loop"]


def test_readme_numbers_are_those_of_the_stored_records():
    """Every stored CPU record is quoted in benchmarks/README.md as its script computes it: each
    case's repeats, their median and its ratio to the notebook loop's median, and the grids'
    wall seconds (a transcription or arithmetic slip fails here)."""
    import statistics

    readme = (ROOT / "benchmarks" / "README.md").read_text()
    records = sorted((ROOT / "benchmarks" / "results").glob("cpu-*.json"))
    assert records
    for record in records:
        assert record.name in readme, f"{record.name} is not cited"
        data = json.loads(record.read_text())
        notebook = statistics.median(data["times"]["notebook loop"]["default"])
        for case, by in data["times"].items():
            runs = by["default"]
            median = statistics.median(runs)
            assert median == data["medians"][case]["default"]
            assert ", ".join(f"{t:.2f}" for t in runs) in readme, (record.name, case)
            assert f"{notebook / median:.1f}x" in readme, (record.name, case)
        for g in data["grids"]:
            assert f"{g['seconds']:.1f}" in readme, (record.name, g["processes"])


@pytest.mark.parametrize("tau", [0.02, 0.002, 0.0123456789])
def test_bench_ipd_gives_the_baselines_and_snnsim_one_tau(tau, tmp_path):
    """The baselines take --tau in seconds, snnsim's CLI a duration: both must mean the same tau,
    or the cases compared train different networks."""
    import argparse

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_ipd
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from snnsim.units import parse_duration

    args = argparse.Namespace(readout="mean", tau=tau, epochs=1, n_train_batches=2, device="cpu")
    commands = bench_ipd.cases(args, tmp_path / "run.h5")

    def value(cmd):
        return cmd[cmd.index("--tau") + 1]

    assert float(value(commands["notebook loop"])) == tau
    for name in ("snnsim snntorch", "snnsim norse", "snnsim fused"):
        assert parse_duration(value(commands[name])) == tau, (name, value(commands[name]))
    if tau in (0.02, 0.002):  # written as a user writes them, as benchmarks/README.md shows
        assert value(commands["snnsim fused"]) == f"{tau * 1e3:g}ms"


def test_a_benchmark_record_names_the_versions_that_ran_it():
    """A record's ``machine`` names, beside the commit, snnsim's version and numerics version and
    the versions of every library a run's result file names (torch, snnTorch, Norse, numpy, ...):
    timings of two records compare only where these agree."""
    from snnsim import results

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_ipd
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    info = bench_ipd.machine()
    assert info["versions"] == results.library_versions() and info["numerics_version"] == results.NUMERICS_VERSION
    assert json.loads(json.dumps(info)) == info  # as the JSON record holds it


@pytest.mark.parametrize(
    "args",
    [
        ("baselines.py", "snntorch", "--epochs", "x"),
        ("bench_ipd.py", "--runs", "0"),
        ("device_agreement.py", "fused", "--epochs", "x"),
        ("grid_profile.py",),
        ("neighbour.py", "copy", "--seconds", "x"),
        ("profile_ipd.py", "--models", "0"),
        ("bench_ipd.py", "--only", "x", "--results", "tests"),  # a parser.error of the script's own checks
    ],
)
def test_a_bad_argument_is_one_line(args):
    """The benchmark scripts' argparse printed its usage (two to four lines) before the error;
    as every snnsim command, they say it in one line, exit 2."""
    script, *rest = args
    if script == "bench_ipd.py" and rest[0] == "--only":  # bench_ipd.py's second case: in this process
        proc = run_here(ROOT / "benchmarks" / script, *rest, cwd=ROOT)
    else:
        proc = subprocess.run([sys.executable, f"benchmarks/{script}", *rest], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: "), proc.stderr


TINY_SWEEP = """
name = "tiny"
[fixed]
study = "ipd"
backend = "fused"
epochs = 1
n_train_batches = 1
n_test_batches = 1
batch_size = 16
hidden = 4
[sweep]
seed = [0, 1]
"""


def test_memory_peak_says_when_it_measured_nothing(tmp_path):
    """docs/sweeps.md's measuring command ran `sweep local`'s jobs in processes of their own, out
    of its sight, and a `sweep run` of a job already complete trained nothing: both printed no
    measurement and exit 0, as if there were nothing to say. `local` (and `submit`) are refused
    before any job runs; a run that reached no memory check says so in one line, exit 1. (The
    refusal, before the script replaces the runner's memory check, in this process: its first in
    a process of its own is test_bad_arguments_are_one_line_and_exit_2's; the measuring runs in
    processes of their own.)"""
    (tmp_path / "tiny.toml").write_text(TINY_SWEEP)
    script = [sys.executable, str(ROOT / "benchmarks" / "memory_peak.py"), "snnsim.sweep", "--results-dir", "res"]

    def measure(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*script, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)

    proc = run_here(ROOT / "benchmarks" / "memory_peak.py", *script[2:], "local", "tiny.toml", "-j", "1", "--quiet",
                    cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "memory_peak.py: error: snnsim.sweep local runs its jobs in processes of their own, which this one cannot "
        "measure; measure one job or pack: snnsim.sweep run EXP INDEX [--pack K]"
    ]
    assert not (tmp_path / "res").exists()  # no job ran
    proc = measure("run", "tiny.toml", "0")
    assert proc.returncode == 0 and re.search(r"increment -?\d+ MB; estimate \d+ MB", proc.stderr), proc.stderr
    proc = measure("run", "tiny.toml", "0")  # complete: skipped
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "memory_peak.py: error: nothing measured: no run of python -m snnsim.sweep reached the memory check "
        "in this process (a job already complete is skipped)"
    )
