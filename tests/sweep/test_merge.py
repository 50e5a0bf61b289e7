"""Task states and merging: dims/coords, holes, NaN with --allow-missing, stale and partial files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from in_process import run_here
from lost_stop import StopInFinalizer
from signalled_write import signal_in_write
from terminal import on_a_terminal

from snnsim import results, runner
from snnsim.costs import Costs
from snnsim.metrics import Classification
from snnsim.studies import Outcome, ipd
from snnsim.studies.ipd import IPDRepeat
from snnsim.sweep import cli
from snnsim.sweep.experiment import loads
from snnsim.sweep.jobs import failed_path, result_path, run_job, state, states
from snnsim.sweep.merge import MergeError, merge, stack

ROOT = Path(__file__).resolve().parents[2]

TEXT = """
name = "m"
[fixed]
study = "ipd"
backend = "fused"
epochs = 3
n_classes = 4
[sweep]
readout = ["mean", "max", "fr"]
tau = ["20ms", "2ms"]
seed = [0, 1]
"""


@pytest.fixture
def exp():
    return loads(TEXT)


def fake_job(exp, index, root, **config_changes):
    """A job file shaped like a real IPD result whose numbers encode the job index."""
    cfg = exp.config(index).replace(**config_changes)
    conf = np.full((cfg.n_classes, cfg.n_classes), index)
    repeat = IPDRepeat(
        np.arange(cfg.epochs) + 100.0 * index,
        Classification(float(index), 1.0, conf),
        Classification(1000.0 + index, 2.0, conf),
        {"w1": np.zeros((200, cfg.hidden)), "w2": np.zeros((cfg.hidden, cfg.n_classes))},
        Costs(*(float(index + k) for k in range(len(Costs._fields)))),
    )
    ds = ipd.STUDY.to_dataset(cfg, {0: Outcome(repeat, 0.5)}, None, "cpu")
    return results.write(ds, result_path(exp, index, root))


def test_merge_dims_coords_and_values(exp, tmp_path, fake_jobs):
    fake_jobs(tmp_path)
    ds = merge(exp, tmp_path)
    assert list(ds.dims)[:3] == ["readout", "tau", "seed"]
    assert dict(ds.sizes) == {
        "readout": 3,
        "tau": 2,
        "seed": 2,
        "repeat": 1,
        "epoch": 3,
        "true_class": 4,
        "pred_class": 4,
        "input_unit": 200,
        "hidden_unit": 30,
        "output_unit": 4,
    }
    assert ds.readout.values.tolist() == ["mean", "max", "fr"]
    assert ds.tau.values.tolist() == [0.02, 0.002] and ds.tau.attrs["units"] == "s"
    assert ds.seed.values.tolist() == [0, 1]
    assert ds.test_acc.dims == ("readout", "tau", "seed", "repeat")
    # every task's values at its own coordinates: nothing lost, nothing duplicated
    assert sorted(ds.job_index.values.ravel().tolist()) == list(range(exp.grid_size))
    for i in range(exp.grid_size):
        point = ds.sel(exp.settings(i))
        assert int(point.job_index) == i
        assert float(point.test_acc.squeeze()) == 1000.0 + i
        assert point.loss.squeeze().values.tolist() == [100.0 * i + e for e in range(3)]
        assert int(point.confusion.values.min()) == int(point.confusion.values.max()) == i
    # written, complete, and loaded back by name
    again = results.load(tmp_path / "m")
    assert again.attrs["complete"] == 1 and again.attrs["experiment"] == "m"
    assert "readout = [" in again.attrs["experiment_toml"] and json.loads(again.attrs["missing"]) == []
    xr.testing.assert_equal(again, ds)
    assert again.confusion.dtype.kind == "i"  # no hole: the counts stay integers
    job = results.load(result_path(exp, 0, tmp_path))  # each variable keeps its units and long name
    kept = {name: {k: again[name].attrs.get(k) for k in ("units", "long_name")} for name in job.data_vars}
    assert kept == {name: {k: v.attrs.get(k) for k in ("units", "long_name")} for name, v in job.data_vars.items()}
    assert again.test_err_deg.attrs["units"] == "deg"
    # a swept setting is told by its coordinate, not again by job in the attributes; a fixed one is kept
    assert {f"config_{k}{by}" for k in exp.keys for by in ("", "_by_job")} & set(again.attrs) == set()
    assert again.attrs["config_epochs"] == exp.config(0).epochs


def test_a_swept_setting_with_a_unit_carries_it_in_the_merged_file(tmp_path):
    """Every swept setting that is a physical quantity (durations in s, rates and frequencies in
    Hz) has its ``units`` in the merged file as xarray opens it; ``rate_target`` (Hz) had none."""
    exp = loads("""
name = "u"
[fixed]
study = "ipd"
epochs = 1
n_classes = 4
rate_reg = 0.1
[sweep]
rate_target = [10.0, 20.0]
tone_hz = [20.0, 40.0]
tau = ["20ms", "2ms"]
""")
    for i in range(exp.grid_size):
        fake_job(exp, i, tmp_path)
    merge(exp, tmp_path)
    with xr.open_dataset(tmp_path / "u.h5", engine="h5netcdf") as opened:
        units = {k: opened[k].attrs.get("units") for k in ("rate_target", "tone_hz", "tau")}
    assert units == {"rate_target": "Hz", "tone_hz": "Hz", "tau": "s"}


def test_holes_refused_then_nan_with_allow_missing(exp, tmp_path, capsys, fake_jobs):
    fake_jobs(tmp_path, skip=(3, 7))
    with pytest.raises(MergeError, match=r"2 of 12 jobs not done \(missing 3,7\)"):
        merge(exp, tmp_path)
    assert not (tmp_path / "m.h5").exists()
    ds = merge(exp, tmp_path, allow_missing=True)
    assert json.loads(ds.attrs["missing"]) == [3, 7]
    assert np.isnan(ds.sel(exp.settings(3)).test_acc).all()
    assert int(ds.sel(exp.settings(3)).job_index) == 3
    assert np.isfinite(ds.test_acc).sum() == 10
    assert float(ds.sel(exp.settings(4)).test_acc.squeeze()) == 1004.0
    written = results.load(tmp_path / "m.h5")
    assert np.isnan(written.sel(exp.settings(7)).confusion).all()  # NaN survives the file
    assert float(written.sel(exp.settings(8)).confusion.max()) == 8.0
    # the same through the CLI: exit 2 with a one-line reason, then NaN with the flag
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    assert cli.main(["--results-dir", str(tmp_path), "merge", str(exp_file)]) == 2
    assert "--allow-missing" in capsys.readouterr().err
    assert cli.main(["--results-dir", str(tmp_path), "merge", str(exp_file), "--allow-missing"]) == 0
    assert "missing (NaN): 3,7" in capsys.readouterr().out


@pytest.mark.parametrize("flags", [[], ["--allow-missing"]])
def test_a_merge_with_no_job_done_is_refused_before_xarray_loads(tmp_path, flags):
    """``merge`` of an experiment with no job done imported xarray (half a second) before its
    one-line refusal; it answers without it now, as ``--help`` and the other refusals do."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    argv = ["--results-dir", str(tmp_path), "merge", str(exp_file), *flags]
    code = (
        "import runpy, sys; sys.modules['torch'] = None; sys.modules['xarray'] = None; "
        f"sys.argv = ['snnsim.sweep', *{argv!r}]; runpy.run_module('snnsim.sweep', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    reason = "no completed job to merge" if flags else "12 of 12 jobs not done (missing 0-11)"
    assert proc.stderr.startswith(f"snnsim.sweep: error: m: {reason}") and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "m.h5").exists()


def test_a_one_job_experiment_counts_its_job_in_the_singular(tmp_path, capsys):
    """A one-job experiment was "1 of 1 jobs not done" in merge and "1 of 1 jobs done" in
    local and submit; the total takes the singular, as "1 job" elsewhere does."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT.replace('readout = ["mean", "max", "fr"]\ntau = ["20ms", "2ms"]\n', "").replace(
        "seed = [0, 1]", "seed = [0]"))  # fmt: skip
    exp = loads(exp_file.read_text())
    assert exp.grid_size == 1
    with pytest.raises(MergeError, match=r"^m: 1 of 1 job not done \(missing 0\); "):
        merge(exp, tmp_path)
    fake_job(exp, 0, tmp_path)
    for command, verb in (["local"], "run"), (["submit", "--dry-run"], "submit"):  # submit: no SLURM asked
        assert cli.main(["--results-dir", str(tmp_path), command[0], str(exp_file), *command[1:]]) == 0
        assert capsys.readouterr().out == f"m: nothing to {verb} (1 of 1 job done)\n"


def test_a_read_only_results_folder_is_bad_input_as_for_run(tmp_path, capsys):
    """A results folder that cannot be written is found before any job is read: exit 2 (bad
    input, nothing written), as `run --out` and `sweep run` into it; `merge` said 5 (a result
    lost at writing time)."""
    from small_disk import mounted_tmpfs

    from snnsim.run import main as run_main

    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    with mounted_tmpfs(tmp_path / "ro") as ro:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        assert run_main(["--out", str(ro / "run.h5"), "--quiet"]) == 2  # checked before training
        assert capsys.readouterr().err == f"snnsim.run: error: --out: cannot write in {ro}: Read-only file system\n"
        assert cli.main(["--results-dir", str(ro), "merge", str(exp_file)]) == 2
        assert capsys.readouterr().err == (f"snnsim.sweep: error: --results-dir: cannot write in {ro}: Read-only file "
                                           "system; nothing merged\n")  # fmt: skip
        assert os.listdir(ro) == []


def test_a_job_running_during_a_merge_with_holes_is_listed_missing(exp, tmp_path, capsys, fake_jobs):
    """A job another process runs (its lock held) is NaN in a merge with --allow-missing, and so
    listed in `missing`: it was left out of it, so the merged file claimed no hole, and a later
    merge with that job cancelled was refused as if the file held its numbers."""
    from snnsim.sweep.jobs import job_lock

    fake_jobs(tmp_path, skip=(3, 7))
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    lock = job_lock(exp, 3, tmp_path)
    assert lock.acquire()
    try:
        assert state(exp, 3, tmp_path).state == "running"
        ds = merge(exp, tmp_path, allow_missing=True)
        assert json.loads(ds.attrs["missing"]) == [3, 7]
        assert np.isnan(ds.sel(exp.settings(3)).test_acc).all()
        capsys.readouterr()
    finally:
        lock.release()  # the job is cancelled: missing now
    assert cli.main(["--results-dir", str(tmp_path), "merge", str(exp_file), "--allow-missing"]) == 0
    assert "missing (NaN): 3,7" in capsys.readouterr().out


def test_a_job_queued_during_a_merge_with_holes_is_listed_missing(exp, tmp_path, monkeypatch, fake_jobs):
    """A job that a SLURM task still waits to run (squeue's answer given here: no cluster) is NaN
    in a merge with --allow-missing, and so listed in `missing` as a running one is."""
    from snnsim.sweep import queue

    fake_jobs(tmp_path, skip=(3, 7))
    monkeypatch.setattr(queue, "queued", lambda *args, **kwargs: {3: ("123_3", "PENDING (Priority)")})
    assert [s.state for s in states(exp, tmp_path)][3] == "queued"
    ds = merge(exp, tmp_path, allow_missing=True)
    assert json.loads(ds.attrs["missing"]) == [3, 7]
    assert np.isnan(ds.sel(exp.settings(3)).test_acc).all()


def test_holes_keep_the_jobs_float32(exp, tmp_path):
    """A hole is NaN in the jobs' own float type: float32 weights stay float32 (not twice the size)."""
    for i in range(exp.grid_size):
        if i != 5:
            path = fake_job(exp, i, tmp_path)
            ds = results.load(path)
            ds["w1"] = ds.w1.astype(np.float32) + i
            path.unlink()
            results.write(ds, path)
    ds = merge(exp, tmp_path, allow_missing=True)
    assert ds.w1.dtype == np.float32
    assert np.isnan(ds.sel(exp.settings(5)).w1).all()
    assert float(ds.sel(exp.settings(4)).w1.max()) == 4.0
    assert ds.confusion.dtype == np.float64  # integers need a float type to hold NaN
    assert results.load(tmp_path / "m.h5").w1.dtype == np.float32


def test_stale_files_are_reported_not_merged(exp, tmp_path, capsys, fake_jobs):
    fake_jobs(tmp_path, skip=(5,))
    fake_job(exp, 5, tmp_path, epochs=4)
    # other numerics (an older snnsim) for job 6
    path = result_path(exp, 6, tmp_path)
    ds = results.load(path)
    ds.attrs["numerics_version"] = 0
    results.write(ds, path, overwrite=True)
    assert state(exp, 5, tmp_path).state == "stale" and "epochs 4 != 3" in state(exp, 5, tmp_path).reason
    assert state(exp, 6, tmp_path).state == "stale" and "numerics version 0" in state(exp, 6, tmp_path).reason
    with pytest.raises(MergeError, match="stale 5-6"):
        merge(exp, tmp_path)
    ds = merge(exp, tmp_path, allow_missing=True)
    assert json.loads(ds.attrs["stale"]) == [5, 6]
    assert np.isnan(ds.sel(exp.settings(5)).test_acc).all()
    # `run` does not overwrite a stale file without --force
    assert run_job(exp, 5, tmp_path, log=lambda m: None) == 3
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    assert cli.main(["--results-dir", str(tmp_path), "status", str(exp_file)]) == 0
    out = capsys.readouterr().out
    assert "done 10  running 0  queued 0  missing 0  failed 0  corrupt 0  stale 2" in out and "stale: 5-6" in out
    assert "\n    job 5 stale: config differs: epochs 4 != 3\n" in out, out  # why each is stale
    assert "\n    job 6 stale: numerics version 0 " in out, out


def test_a_merge_with_holes_again_with_the_same_stale_job_is_not_refused(exp, tmp_path, fake_jobs):
    """Job 5 stale in the merged file and still stale: merging again with --allow-missing loses
    nothing (the file holds NaN there), so it replaces the file instead of refusing."""
    fake_jobs(tmp_path, skip=(5,))
    fake_job(exp, 5, tmp_path, epochs=4)
    merge(exp, tmp_path, allow_missing=True)
    ds = merge(exp, tmp_path, allow_missing=True)
    assert json.loads(ds.attrs["stale"]) == [5]


def test_a_job_file_of_another_seed_is_stale(exp, tmp_path):
    """The swept seeds edited ([0, 1] -> [0, 3]): a job file that trained another seed than its
    job's is stale, never merged as that job's numbers."""
    fake_job(exp, 1, tmp_path, seed=3)
    assert state(exp, 1, tmp_path).state == "stale" and "seed 3 != 1" in state(exp, 1, tmp_path).reason


def test_a_corrupt_job_is_listed_missing_in_the_merged_file(exp, tmp_path, fake_jobs):
    """A job file damaged since it was written is a hole of an --allow-missing merge, and the
    merged file's ``missing`` names it (a later merge reads that list to know what it held)."""
    fake_jobs(tmp_path)
    result_path(exp, 4, tmp_path).write_bytes(b"damaged")
    ds = merge(exp, tmp_path, allow_missing=True)
    assert json.loads(ds.attrs["missing"]) == [4] and json.loads(ds.attrs["stale"]) == []
    assert np.isnan(ds.sel(exp.settings(4)).test_acc).all()


def test_a_failed_job_is_listed_missing_in_the_merged_file(exp, tmp_path, fake_jobs):
    """A job that failed (its marker, no result file) is a hole of an --allow-missing merge, and
    the merged file's ``missing`` names it, as it names a job never run, running, queued or corrupt."""
    fake_jobs(tmp_path, skip=(2, 6))
    failed_path(exp, 2, tmp_path).write_text("Traceback ...\nRuntimeError: loss became NaN\n")
    assert [s.state for s in states(exp, tmp_path)][2] == "failed"
    ds = merge(exp, tmp_path, allow_missing=True)
    assert json.loads(ds.attrs["missing"]) == [2, 6] and json.loads(ds.attrs["stale"]) == []
    assert np.isnan(ds.sel(exp.settings(2)).test_acc).all()


def test_partial_and_temp_files_are_not_complete(exp, tmp_path):
    fake_job(exp, 0, tmp_path)
    d = tmp_path / "m"
    # a leftover temporary file from an interrupted atomic write: the task is missing
    (d / ".job-1.h5.abc123.tmp").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    # a truncated result file: corrupt
    good = result_path(exp, 0, tmp_path).read_bytes()
    result_path(exp, 2, tmp_path).write_bytes(good[: len(good) // 2])
    # a readable file without the complete mark: corrupt
    ds = results.load(result_path(exp, 0, tmp_path))
    del ds.attrs["complete"]
    ds.to_netcdf(result_path(exp, 3, tmp_path), engine="h5netcdf", invalid_netcdf=True)
    got = {s.index: s.state for s in states(exp, tmp_path)[:4]}
    assert got == {0: "done", 1: "missing", 2: "corrupt", 3: "corrupt"}
    with pytest.raises(MergeError, match="corrupt 2-3"):
        merge(exp, tmp_path)


def test_sigkill_during_the_write_leaves_no_complete_file(exp, tmp_path):
    """Kill a process inside results.write (after the data, before the rename)."""
    code = f"""
import os, sys, time
sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[1])!r}]  # test_merge, signalled_write
import test_merge as t
from snnsim.sweep.experiment import loads
os.fsync = lambda fd: (print("writing", flush=True), time.sleep(60))
t.fake_job(loads(t.TEXT), 4, {str(tmp_path)!r})
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = list((tmp_path / "m").glob(".job-4.h5.*.tmp"))
    assert leftovers, "the kill should have hit the write"
    assert not result_path(exp, 4, tmp_path).exists()
    assert state(exp, 4, tmp_path).state == "missing"


def test_failed_marker_then_cleared(exp, tmp_path, monkeypatch):
    def boom(cfgs, progress=True, on_result=None, on_failure=None, **options):
        raise RuntimeError("loss became NaN")

    def fake(cfgs, progress=True, on_result=None, on_failure=None, **options):
        on_result(0, results.load(fake_job(exp, 2, tmp_path)))

    monkeypatch.setattr(runner, "run_configs", boom)
    assert run_job(exp, 2, tmp_path, log=lambda m: None) == 1
    st = state(exp, 2, tmp_path)
    assert st.state == "failed" and "loss became NaN" in st.reason
    assert not result_path(exp, 2, tmp_path).exists()
    # a later successful run clears the marker
    monkeypatch.setattr(runner, "run_configs", fake)
    assert run_job(exp, 2, tmp_path, log=lambda m: None) == 0
    assert state(exp, 2, tmp_path).state == "done" and not failed_path(exp, 2, tmp_path).exists()
    # and a done task is skipped (the failing task is not even called)
    monkeypatch.setattr(runner, "run_configs", boom)
    assert run_job(exp, 2, tmp_path, log=lambda m: None) == 0
    assert state(exp, 2, tmp_path).state == "done"


def test_repeated_signals_while_stopping(exp, tmp_path, monkeypatch):
    """Under SLURM a task gets TERM twice (slurmstepd, then array.sh forwarding its own). A
    signal that arrives while the first one's stop is being handled must not break it."""

    def stopped(cfgs, progress=True, on_result=None, on_failure=None, **options):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("the signal was not delivered")

    lines = []

    def log(message):
        if "stopped by" in message:
            os.kill(os.getpid(), signal.SIGTERM)  # the second TERM, delivered inside the stop
            os.kill(os.getpid(), signal.SIGUSR1)
        lines.append(message)

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(runner, "run_configs", stopped)
    assert run_job(exp, 2, tmp_path, log=log) == 128 + signal.SIGTERM
    assert any("job 2: stopped by SIGTERM; no result written" in m for m in lines), lines
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored afterwards
    assert state(exp, 2, tmp_path).state == "missing"


def test_sigterm_during_training_writes_nothing(tmp_path):
    """A real task stopped by SIGTERM (scancel) exits 143 and leaves the task missing. Its
    training takes about a minute (5,000 tiny epochs), so the signal comes in the middle of it on
    any machine (with 200 epochs the training could end within the 1.5 s on a fast one, and the
    signal then came after the handlers were restored: exit -15)."""
    exp_file = tmp_path / "slow.toml"
    exp_file.write_text(
        'name = "slow"\n[fixed]\nstudy = "ipd"\nbackend = "fused"\nepochs = 5000\n'
        "n_train_batches = 2\nn_test_batches = 1\nbatch_size = 16\nhidden = 8\n[sweep]\nseed = [0]\n"
    )
    env = dict(os.environ, SNNSIM_RESULTS=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "snnsim.sweep", "run", str(exp_file), "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert "job 0 (1 of 1) of slow" in proc.stderr.readline()
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert "stopped by SIGTERM; no result written" in rest
    assert not any((tmp_path / "slow").glob("job-0.*"))


def test_result_folders_of_snnsim_0_2_are_read(tmp_path):
    """Job files named ``task-INDEX.h5`` whose config says ``task`` (snnsim 0.2) are read: done
    when made with today's numerics (they merge), stale when not (a real 0.2.0 file: no
    numerics version, 0.2.0's numerics); a rerun with --force replaces them under the new name.
    The grid is :data:`TEXT` with a small training, as the rerun trains for real."""
    exp = loads(TEXT.replace("epochs = 3\n", "epochs = 3\nn_train_batches = 1\nn_test_batches = 1\nhidden = 8\n"))
    assert exp.config(1).hidden == 8
    for i in range(exp.grid_size):
        path = fake_job(exp, i, tmp_path)
        if i % 2:
            ds = results.load(path)
            config = json.loads(ds.attrs["config"])
            config["task"] = config.pop("study")
            ds.attrs["config"] = json.dumps(config)
            results.write(ds, path.with_name(f"task-{i}.h5"))
            path.unlink()
    assert all(s.state == "done" for s in states(exp, tmp_path))
    ds = merge(exp, tmp_path)
    assert float(ds.sel(exp.settings(3)).test_acc.squeeze()) == 1003.0
    old = tmp_path / "m" / "task-1.h5"
    made = results.load(old)
    made.attrs["snnsim_version"] = "0.2.0"
    del made.attrs["numerics_version"]
    results.write(made, old, overwrite=True)
    st = state(exp, 1, tmp_path)
    assert st.state == "stale" and "numerics version 1 (snnsim 0.2.0)" in st.reason
    assert run_job(exp, 1, tmp_path, force=True, log=lambda m: None) == 0
    assert not old.exists() and result_path(exp, 1, tmp_path).exists()
    assert state(exp, 1, tmp_path).state == "done"


def test_jobs_of_different_sizes_merge_nan_padded(tmp_path):
    """Jobs whose weights differ in size (a swept hidden size) align on the longer dim, the
    shorter ones padded with NaN, instead of refusing to combine."""
    exp = loads(TEXT.replace("seed = [0, 1]", "hidden = [4, 8]"))
    for i in range(exp.grid_size):
        fake_job(exp, i, tmp_path)
    ds = merge(exp, tmp_path)
    assert ds.sizes["hidden_unit"] == 8
    small = ds["w1"].isel(repeat=0).sel(readout="mean", tau=0.02, hidden=4)
    big = ds["w1"].isel(repeat=0).sel(readout="mean", tau=0.02, hidden=8)
    assert np.isnan(small.values[:, 4:]).all() and not np.isnan(small.values[:, :4]).any()
    assert not np.isnan(big.values).any()


def reference_stack(pieces: list[xr.Dataset], swept: dict[str, tuple]) -> xr.Dataset:
    """:func:`snnsim.sweep.merge.stack` as xarray's nested combine computes it (the merge's
    implementation up to snnsim 0.3.0: one concatenation per nesting level and point), with a
    long_name or units that differ between pieces joined as stack joins them."""
    keys = list(swept)
    points = iter(pieces)

    def nest(prefix: tuple, depth: int) -> xr.Dataset | list:
        if depth == len(keys):
            return next(points).expand_dims({k: [v] for k, v in zip(keys, prefix)})
        return [nest(prefix + (v,), depth + 1) for v in swept[keys[depth]]]

    tree = nest((), 0)
    if not keys:
        return tree
    combined = xr.combine_nested(
        tree, concat_dim=keys, join="outer", combine_attrs="override", data_vars="all", coords="different",
        compat="equals",
    )  # fmt: skip
    for name, var in combined.variables.items():  # the attributes stack sets otherwise: all long_names, units
        for key in ("long_name", "units"):
            texts = dict.fromkeys(p[name].attrs[key] for p in pieces if name in p and key in p[name].attrs)
            if len(texts) > 1:
                var.attrs[key] = " | ".join(texts)
    return combined


def assert_stacks_alike(pieces, swept):
    from snnsim.sweep.merge import stack

    got, want = stack(pieces, swept), reference_stack(pieces, swept)
    xr.testing.assert_identical(got, want)
    for name, var in want.variables.items():
        assert got[name].dtype == var.dtype, name


def test_stack_equals_xarrays_nested_combine_on_ipd_jobs(exp, tmp_path, fake_jobs):
    """Real job files of a grid with holes (the NaN template) and a ragged size: the fast stack
    equals xarray's nested combine, values, dtypes, coordinates and attributes."""
    from snnsim.sweep.merge import _nan_like

    fake_jobs(tmp_path, skip=(exp.grid_size - 2, exp.grid_size - 1))
    loaded = [results.load(result_path(exp, i, tmp_path)) for i in range(exp.grid_size - 2)]
    loaded += [_nan_like(loaded[0])] * 2
    pieces = [ds.drop_vars([k for k in exp.keys if k in ds.variables]) for ds in loaded]
    for p in pieces:
        p.attrs = {}
    assert_stacks_alike(pieces, {k: exp.swept[k] for k in exp.keys})
    assert_stacks_alike(pieces[:1], {})


def test_stack_equals_xarrays_nested_combine_on_bmi_models(tmp_path, bmi_path):
    """BMI jobs of three model kinds (each with its own weight variables) and an outer join on
    an indexed dimension: the fast stack equals xarray's nested combine."""
    from snnsim import run as run_cli

    ds_by_model = {}
    for model in ("linear", "ann", "snn"):
        out = tmp_path / f"{model}.h5"
        args = ["--study", "bmi", "--model", model, "--backend", "fused", "--epochs", "1", "--hidden", "8",
                "--n-train-folds", "2", "--data", bmi_path, "--quiet", "--out", str(out)]  # fmt: skip
        assert run_cli.main(args) == 0
        ds = results.load(out)
        ds.attrs = {}
        ds_by_model[model] = ds
    shorter = ds_by_model["snn"].isel(sample=slice(0, 100))  # an outer join on `sample`
    pieces = [ds_by_model["linear"], ds_by_model["ann"], ds_by_model["snn"], shorter]
    assert_stacks_alike(pieces, {"model": ("linear", "ann"), "copy": (0, 1)})


def test_a_coordinate_that_some_pieces_lack_is_stacked_nan_there():
    """A non-index coordinate of one piece only (``class_ipd_deg`` of a job, none in a job of an
    older snnsim) is stacked, NaN at the piece without it: not the first piece's values for both."""
    a = xr.Dataset({"v": ("x", [1.0, 2.0])}, coords={"c": ("x", [10.0, 20.0])})
    b = xr.Dataset({"v": ("x", [3.0, 4.0])})
    merged = stack([a, b], {"k": (0, 1)})
    assert merged["c"].dims == ("k", "x")
    np.testing.assert_array_equal(merged["c"].values, [[10.0, 20.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(merged["v"].values, [[1.0, 2.0], [3.0, 4.0]])


def test_a_coordinate_that_differs_between_pieces_is_stacked_and_one_alike_kept():
    """A non-index coordinate that differs between pieces (``class_ipd_deg`` of a grid over
    ``n_classes``) is stacked over the swept keys, each piece's own values; one alike in every
    piece stays as it is: not the first piece's values for all."""
    a = xr.Dataset({"v": ("x", [1.0, 2.0])}, coords={"c": ("x", [10.0, 20.0]), "same": ("x", [5.0, 6.0])})
    b = xr.Dataset({"v": ("x", [3.0, 4.0])}, coords={"c": ("x", [30.0, 40.0]), "same": ("x", [5.0, 6.0])})
    merged = stack([a, b], {"k": (0, 1)})
    assert merged["c"].dims == ("k", "x") and merged["same"].dims == ("x",)
    np.testing.assert_array_equal(merged["c"].values, [[10.0, 20.0], [30.0, 40.0]])
    np.testing.assert_array_equal(merged["same"].values, [5.0, 6.0])


UNION = """
name = "u"
[fixed]
study = "ipd"
backend = "fused"
epochs = 3
n_classes = 4
[[sweep]]
readout = ["mean"]
hidden = [4]
tau = ["20ms", "2ms"]
[[sweep]]
readout = ["max", "fr"]
hidden = [8]
tau = ["20ms", "2ms"]
"""


def test_a_setting_that_follows_another_is_a_coordinate_not_a_dimension(tmp_path):
    """A union of grids where hidden follows readout (4 for mean, 8 for max and fr): merged,
    hidden is a coordinate along readout, every point holds its job, and nothing is empty."""
    exp = loads(UNION)
    assert exp.coordinates == {"hidden": "readout"} and exp.dims == ("readout", "tau")
    for i in range(exp.grid_size):
        fake_job(exp, i, tmp_path)
    ds = merge(exp, tmp_path)
    assert "hidden" not in ds.dims and ds["hidden"].dims == ("readout",)
    assert ds["hidden"].values.tolist() == [4, 8, 8] and ds["hidden"].attrs["long_name"].endswith("(follows readout)")
    assert ds.sizes["readout"] == 3 and ds.sizes["tau"] == 2
    for i in range(exp.grid_size):
        s = exp.settings(i)
        point = ds.sel(readout=s["readout"], tau=s["tau"])
        assert int(point.job_index) == i and float(point.train_acc.squeeze()) == i
        assert int(point.hidden) == s["hidden"]
    assert not ds.train_acc.isnull().any()
    # with a block where hidden takes another value for mean, hidden is a dimension again
    wider = loads(UNION + '[[sweep]]\nreadout = ["mean"]\nhidden = [8]\ntau = ["2ms"]\n')
    assert wider.coordinates == {} and wider.dims == ("readout", "hidden", "tau")


def test_points_of_a_union_of_grids_in_no_block_are_nan_with_job_index_minus_1(tmp_path):
    """Two blocks (mean and max at 20 ms, max and fr at 2 ms): the merged dims are their union,
    and the two points no block holds (mean at 2 ms, fr at 20 ms) are NaN with ``job_index`` -1,
    as docs/sweeps.md says; every other point holds its own job. They are no jobs: the merged
    file lists none missing."""
    exp = loads(UNION.split("[[sweep]]")[0] + '[[sweep]]\nreadout = ["mean", "max"]\ntau = ["20ms"]\n'
                '[[sweep]]\nreadout = ["max", "fr"]\ntau = ["2ms"]\n')  # fmt: skip
    assert exp.grid_size == 4 and exp.dims == ("readout", "tau")
    for i in range(exp.grid_size):
        fake_job(exp, i, tmp_path)
    ds = merge(exp, tmp_path)
    assert json.loads(ds.attrs["missing"]) == []
    jobs = {("mean", 0.02): 0, ("max", 0.02): 1, ("max", 0.002): 2, ("fr", 0.002): 3}
    for readout in ("mean", "max", "fr"):
        for tau in (0.02, 0.002):
            point = ds.sel(readout=readout, tau=tau)
            if (readout, tau) in jobs:
                assert int(point.job_index) == jobs[readout, tau] == float(point.train_acc.squeeze())
            else:
                assert int(point.job_index) == -1 and point.train_acc.isnull().all()


def test_the_merged_file_keeps_the_jobs_versions_and_device(exp, tmp_path, fake_jobs):
    fake_jobs(tmp_path)
    one = results.load(result_path(exp, 0, tmp_path)).attrs
    ds = merge(exp, tmp_path)
    assert ds.attrs["versions"] == one["versions"] and ds.attrs["device"] == "cpu"
    assert "job_wall_seconds" not in ds.attrs and "versions_by_job" not in ds.attrs
    # a job made with another torch: the merged file says which jobs used which versions
    path = result_path(exp, 5, tmp_path)
    other = results.load(path)
    other.attrs["versions"] = json.dumps({**json.loads(one["versions"]), "torch": "0.0.1"}, sort_keys=True)
    results.write(other, path, overwrite=True)
    ds = merge(exp, tmp_path)
    by_job = json.loads(ds.attrs["versions_by_job"])
    assert "versions" not in ds.attrs
    assert [(b["jobs"], b["versions"]["torch"]) for b in by_job] == [
        ("0-4,6-11", json.loads(one["versions"])["torch"]),
        ("5", "0.0.1"),
    ]


def test_the_merged_file_keeps_the_kernels_of_its_jobs(exp, tmp_path, fake_jobs):
    """``kernels`` is carried as ``cpu`` is: as it is where every job has it alike, else by job."""
    fake_jobs(tmp_path)
    one = results.load(result_path(exp, 0, tmp_path)).attrs
    assert merge(exp, tmp_path).attrs["kernels"] == one["kernels"]
    path = result_path(exp, 3, tmp_path)
    other = results.load(path)
    other.attrs["kernels"] = "torch loops (SNNSIM_NO_NATIVE=1)"
    results.write(other, path, overwrite=True)
    ds = merge(exp, tmp_path)
    assert "kernels" not in ds.attrs
    assert [(b["jobs"], b["kernels"]) for b in json.loads(ds.attrs["kernels_by_job"])] == [
        ("0-2,4-11", one["kernels"]),
        ("3", "torch loops (SNNSIM_NO_NATIVE=1)"),
    ]


def test_an_attribute_that_differs_between_jobs_is_kept_by_job(tmp_path, bmi_path):
    """A BMI sweep over the rotation: each job's folds differ, so the merged file lists them by
    job (it held the first job's test fold for all before), and the data file's checksum, alike
    in every job, stays as it is."""
    exp = loads(f'name = "r"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\nn_train_folds = 2\ndata = "{bmi_path}"\n'
                "[sweep]\nrotation = [0, 5, 7]\n")  # fmt: skip
    for i in range(exp.grid_size):
        assert run_job(exp, i, tmp_path, log=lambda _: None) == 0
    jobs = [results.load(result_path(exp, i, tmp_path)).attrs for i in range(exp.grid_size)]
    ds = merge(exp, tmp_path)
    for key in ("test_fold", "val_fold", "train_folds"):
        assert key not in ds.attrs
        by_job = {b["jobs"]: b[key] for b in json.loads(ds.attrs[f"{key}_by_job"])}
        assert by_job == {str(i): jobs[i][key].item() if key != "train_folds" else jobs[i][key] for i in range(3)}
    assert [jobs[i]["test_fold"] for i in range(3)] == [19, 4, 6]
    assert ds.attrs["data_file_sha256"] == jobs[0]["data_file_sha256"] and "data_file_sha256_by_job" not in ds.attrs
    assert ds.attrs["data_source"] == bmi_path and ds.attrs["config_n_train_folds"] == 2
    assert "config_rotation" not in ds.attrs and "config" not in ds.attrs


def test_a_merge_stopped_or_killed_in_its_write_leaves_no_temporary(exp, tmp_path, fake_jobs):
    """SIGTERM (scancel) inside the merged file's write: exit 143 and no temporary; SIGKILL: the
    next merge removes the temporary and says so. The previous merged file stays byte for byte."""
    fake_jobs(tmp_path)
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    merge_cmd = ["--results-dir", str(tmp_path), "merge", str(exp_file)]
    assert cli.main(merge_cmd) == 0
    merged = tmp_path / "m.h5"
    before = merged.read_bytes()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        returncode, err = signal_in_write("snnsim.sweep.cli", merge_cmd, ".m.h5.*.tmp", tmp_path, sig)
        assert merged.read_bytes() == before
        if sig == signal.SIGTERM:
            assert returncode == 128 + signal.SIGTERM, err
            assert "snnsim.sweep: stopped by SIGTERM; no result written" in err
            assert not list(tmp_path.glob(".m.h5.*.tmp"))
    assert len(list(tmp_path.glob(".m.h5.*.tmp"))) == 1  # the killed writer's
    proc = subprocess.run([sys.executable, "-m", "snnsim.sweep", *merge_cmd], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert f"snnsim.sweep: removed 1 temporary file(s) of killed merges beside {merged}" in proc.stderr
    assert not list(tmp_path.glob(".m.h5.*.tmp"))


def test_a_merge_waits_for_another_merge_into_the_same_file_and_says_so(tmp_path, fake_jobs, capsys):
    """Two merges at once: the second says whom it waits for, then merges once the first is done."""
    import socket
    import threading

    from snnsim.sweep.jobs import JobLock

    fake_jobs(tmp_path)
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    first = JobLock(tmp_path / ".m.h5.lock")  # another merge's, as it holds it while it writes
    assert first.acquire(wait=0)
    threading.Timer(1.0, first.release).start()
    assert cli.main(["--results-dir", str(tmp_path), "merge", str(exp_file)]) == 0
    err = capsys.readouterr().err
    assert (f"snnsim.sweep: waiting for another merge into {tmp_path / 'm.h5'} ({socket.gethostname()} pid "
            f"{os.getpid()})\n") in err, err  # fmt: skip
    assert results.load(tmp_path / "m.h5").attrs["complete"] == 1


def test_a_merge_stopped_by_a_signal_whose_raise_a_finalizer_swallowed_keeps_the_merged_file(
    exp, tmp_path, fake_jobs, capsys, monkeypatch
):
    """SIGTERM (scancel, or Ctrl-C) handled while a finalizer (``__del__``) runs as the merge
    reads its job files: Python drops the raised stop, and every later stop signal is ignored.
    The merge read on and replaced the merged file, exit 0. It stops now as after any stop: exit
    143, the previous merged file stays byte for byte."""
    from snnsim.cli import Interrupted

    fake_jobs(tmp_path)
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    merge_cmd = ["--results-dir", str(tmp_path), "merge", str(exp_file)]
    assert cli.main(merge_cmd) == 0
    merged = tmp_path / "m.h5"
    before = merged.read_bytes()
    load, lost = results.load, []

    def read(*args, **kwargs):
        if not lost:
            StopInFinalizer()  # made and finalized here: the stop is raised inside __del__
        return load(*args, **kwargs)

    monkeypatch.setattr(results, "load", read)
    monkeypatch.setattr(sys, "unraisablehook", lost.append)
    capsys.readouterr()
    assert cli.main(merge_cmd) == 128 + signal.SIGTERM
    assert [type(u.exc_value) for u in lost] == [Interrupted]  # the raise was lost where it landed
    assert capsys.readouterr().err.strip().splitlines()[-1] == "snnsim.sweep: stopped by SIGTERM; no result written"
    assert merged.read_bytes() == before


def test_a_merge_keeps_the_versions_that_made_the_jobs(exp, tmp_path):
    """The merged file's ``snnsim_version`` is that of the snnsim that made the jobs, not the one
    that merged them (recorded apart, in ``merged_with``); jobs made by different versions (of
    the same numerics) each keep theirs, by job."""
    here = results.library_versions()

    def made_by(index: int, snnsim: str, torch: str) -> None:
        result_path(exp, index, tmp_path).unlink(missing_ok=True)
        path = fake_job(exp, index, tmp_path)
        ds = results.load(path)
        ds.attrs["snnsim_version"] = snnsim
        ds.attrs["versions"] = json.dumps({**here, "snnsim": snnsim, "torch": torch}, sort_keys=True)
        results.write(ds, path, overwrite=True)

    for i in range(exp.grid_size):
        made_by(i, "0.3.0.dev1", "2.5.0")
    merged = merge(exp, tmp_path)
    assert merged.attrs["snnsim_version"] == "0.3.0.dev1"
    assert json.loads(merged.attrs["versions"])["torch"] == "2.5.0"
    assert json.loads(merged.attrs["merged_with"]) == here
    made_by(1, "0.3.0.dev2", "2.6.0")
    merged = merge(exp, tmp_path)
    assert "snnsim_version" not in merged.attrs and "versions" not in merged.attrs
    by_job = {e["jobs"]: e["snnsim_version"] for e in json.loads(merged.attrs["snnsim_version_by_job"])}
    assert by_job == {"0,2-11": "0.3.0.dev1", "1": "0.3.0.dev2"}
    versions = {e["jobs"]: e["versions"]["torch"] for e in json.loads(merged.attrs["versions_by_job"])}
    assert versions == {"0,2-11": "2.5.0", "1": "2.6.0"}


def test_attributes_that_differ_only_where_their_text_is_shortened_are_by_job():
    """Pieces' attributes are compared in full: two long arrays apart in the middle only printed
    alike (numpy shortens them with ``...``) and were merged as one value for every job."""
    from snnsim.sweep.merge import carried_attrs

    a, b = np.zeros(2000), np.zeros(2000)
    b[1000] = 1.0
    assert str(a) == str(b)
    out = carried_attrs({0: {"w": a, "n": 3}, 1: {"w": b, "n": 3}, 2: {"w": a.copy(), "n": 3}}, varied=())
    assert out["n"] == 3 and "w" not in out
    assert [d["jobs"] for d in json.loads(out["w_by_job"])] == ["0,2", "1"]
    assert json.loads(out["w_by_job"])[1]["w"][1000] == 1.0


def test_an_attribute_that_only_some_jobs_have_is_kept_by_job():
    """Jobs of an older snnsim without ``kernels`` beside jobs that have it: the merged file says
    which jobs it is of, not that every job's numbers came from those loops."""
    from snnsim.sweep.merge import carried_attrs

    out = carried_attrs(
        {0: {"kernels": "compiled (OpenMP)", "n": 3}, 1: {"n": 3}, 2: {"kernels": "compiled (OpenMP)", "n": 3}},
        varied=(),
    )
    assert out["n"] == 3 and "kernels" not in out
    assert json.loads(out["kernels_by_job"]) == [{"jobs": "0,2", "kernels": "compiled (OpenMP)"}]


def test_a_swept_setting_that_names_a_dimension_of_the_jobs_is_one_line():
    """A BMI ``--encoding window`` sweep over ``neuron = ["notebook", "standard"]``: its job files
    hold ``x_mean`` over a dimension ``neuron`` (48 recorded neurons), and the merge stopped with
    xarray's ``ValueError: conflicting sizes for dimension 'neuron'``, a traceback. It is one line
    naming the setting, the variable and what to do."""
    pieces = [xr.Dataset({"x_mean": ("neuron", np.zeros(48)), "fvaf": ((), 0.5)}) for _ in range(2)]
    with pytest.raises(MergeError) as refused:
        stack(pieces, {"neuron": ("notebook", "standard")})
    assert str(refused.value) == (
        "the swept setting neuron is also the name of a dimension of x_mean in the job files (48 long), which one "
        "merged file cannot hold; sweep neuron in experiments of their own, one value each, and merge those"
    )
    merged = stack(pieces, {"readout": ("mean", "fr")})  # a setting that names no dimension: merged as before
    assert dict(merged.sizes) == {"readout": 2, "neuron": 48}


def test_a_long_name_that_differs_between_jobs_keeps_every_jobs_text():
    """A BMI grid over ``model = ["snn", "ann", "linear"]``: x_mean's long_name of the ridge and
    ANN jobs carries the feature order, the spiking one's does not. The merged variable kept the
    first (spiking) job's long_name, losing the feature order; now it holds each distinct text."""
    snn = xr.Dataset({"x_mean": ("recorded_neuron", np.zeros(2), {"long_name": "mean", "units": "Hz"})})
    ann = xr.Dataset({"x_mean": ("feature", np.zeros(3), {"long_name": "mean; feature order", "units": "Hz"})})
    merged = stack([snn, ann, ann], {"model": ("snn", "ann", "linear")})
    assert merged["x_mean"].attrs == {"long_name": "mean | mean; feature order", "units": "Hz"}


def test_units_that_differ_between_jobs_are_not_the_first_jobs_and_the_figures_say_so(tmp_path, bmi_path, capsys):
    """A BMI grid over ``target = ["theta", "dtheta"]`` (and ``model``): y_true, y_pred, y_mean and
    the RMSEs of the velocity jobs are in rad/s, but the merged variables had the first (angle)
    job's units, "rad", for all. Each distinct unit is kept now, as the long names are, and the
    figures of ``python -m snnsim.plots`` name each point's own units."""
    from snnsim import plots
    from snnsim.plots import __main__ as plot

    exp = loads(f'name = "t"\n[fixed]\nstudy = "bmi"\nn_train_folds = 2\nepochs = 1\nhidden = 8\ndata = "{bmi_path}"\n'
                '[sweep]\nmodel = ["linear", "ann"]\ntarget = ["theta", "dtheta"]\n')  # fmt: skip
    for i in range(exp.grid_size):
        assert run_job(exp, i, tmp_path, log=lambda _: None) == 0
    ds = merge(exp, tmp_path)
    for name in ("y_true", "y_pred", "y_mean", "y_std", "train_rmse", "val_rmse", "test_rmse"):
        assert ds[name].attrs["units"] == "rad | rad/s", name
    assert ds["y_true"].attrs["long_name"] == "true theta (test fold) | true dtheta (test fold)"
    assert ds["train_seconds"].attrs["units"] == "s"  # alike in every job: as it is
    merged = tmp_path / "t.h5"
    assert plot.main([str(merged), "--out", str(tmp_path / "figs"), "--format", "png"]) == 0
    drawn = sorted(Path(p).stem for p in capsys.readouterr().out.split())
    assert drawn == ["t_costs", "t_prediction"]  # learning curves would pool the targets: skipped, said on stderr
    figures = plot.figures_for(results.load(merged))
    assert figures["prediction"]().axes[0].get_ylabel() == "Shoulder angle (rad)"  # the first point: theta
    ds = results.load(merged)
    velocity = plots.prediction_trace(ds, sel={"model": "ann", "target": "dtheta"}).axes[0]
    assert velocity.get_ylabel() == "Shoulder velocity (rad/s)"
    assert figures["costs"]().axes[0].get_ylabel() == "Test FVAF of shoulder angle / velocity"
    assert plots.cost_figure(ds, metric="test_rmse").axes[0].get_ylabel() == "test_rmse (rad | rad/s)"


def test_merge_shows_each_long_step_on_a_terminal_and_nothing_in_a_log(tmp_path, fake_jobs):
    """``sweep merge`` of 240 jobs sat silent for some 2.6 s before its bar of the job files read
    (checking the jobs' states) and 2 s after it (combining the jobs, writing the merged file). A
    terminal shows a bar of the job files checked, then the bar of those read (both cleared), then
    one line for the combining and the write; a log (stderr not a terminal) gets none of them."""
    fake_jobs(tmp_path)
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    cmd = [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(tmp_path), "merge", str(exp_file)]
    code, out, shown = on_a_terminal(cmd, cwd=ROOT)
    assert code == 0 and out.startswith(f"m: merged into {tmp_path / 'm.h5'}"), (out, shown)
    checked, read = shown.find("m: checking job files"), shown.find("m: reading job files")
    line = f"m: combining 12 jobs and writing {tmp_path / 'm.h5'}\r\n"
    assert 0 <= checked < read < shown.find(line), shown
    assert "/12 [" in shown[checked:read], shown
    bars = shown.split("m: combining")[0]  # the bars' line is clear before the line of the combining
    assert not bars.replace("\r\n", "\n").split("\r")[-1].strip(), shown
    proc = run_here(cli.main, *cmd[3:], cwd=ROOT)  # a log, in this process
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
