"""What a sweep refuses, or reports, instead of losing or mixing results: a merge that would
replace numbers with NaN, a tuning study of the same name, a data file changed under done jobs,
stale jobs a rerun leaves alone, damaged checkpoint sidecars, paths in the way, and settings that
cannot run on this machine (checked before any job starts)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from in_process import run_here
from lost_stop import StopInFinalizer
from small_disk import fill, mounted_tmpfs
from sweep.test_merge import TEXT, fake_job

from snnsim import results
from snnsim.datasets.bmi_synthetic import generate
from snnsim.errors import ResultError
from snnsim.sweep import cli
from snnsim.sweep.experiment import loads
from snnsim.sweep.jobs import job_dir, job_lock, result_path, run_jobs, state, states
from snnsim.sweep.merge import MergeError, merge

BMI = """
name = "g"
[fixed]
study = "bmi"
model = "linear"
n_train_folds = 2
data = "{data}"
[sweep]
seed = [0, 1]
"""

TINY_IPD_GRID = """
name = "ed"
[fixed]
study = "ipd"
backend = "fused"
epochs = {epochs}
n_train_batches = 2
n_test_batches = 1
batch_size = 16
hidden = 8
[sweep]
readout = ["mean", "fr"]
seed = [0, 1]
"""


@pytest.fixture
def no_scontrol_questions(monkeypatch):
    """``submit`` without asking ``scontrol`` for MaxArraySize and node memory, which these tests
    do not check: where it is installed and its controller is down (a SLURM test's cluster
    stopped), each question takes some 9 s to say nothing (as in tests/sweep/test_listing.py)."""
    monkeypatch.setattr(cli, "max_array_size", lambda failed=None: None)
    monkeypatch.setattr(cli, "node_memory", lambda failed=None: None)


def one_line(capsys) -> str:
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.sweep: error: "), err
    return err[0]


@pytest.mark.xdist_group("guards-fake-jobs")  # the fake jobs, written once on one xdist worker
def test_allow_missing_does_not_replace_a_jobs_numbers_with_nan(tmp_path, fake_jobs):
    exp = loads(TEXT)
    fake_jobs(tmp_path)
    merge(exp, tmp_path)
    merged = tmp_path / "m.h5"
    before = merged.read_bytes()
    result_path(exp, 3, tmp_path).write_bytes(b"damaged")  # job 3 was merged, and is corrupt now
    with pytest.raises(
        MergeError, match=r"holds job 3, which is not done now; merging would replace its numbers with NaN: rerun it,"
    ):
        merge(exp, tmp_path, allow_missing=True)
    assert merged.read_bytes() == before
    edited = loads("# the same grid, commented\n" + TEXT.replace("\n", "  \n"))
    assert edited.source != exp.source
    with pytest.raises(MergeError, match=r"holds job 3, which is not done now"):
        merge(edited, tmp_path, allow_missing=True)
    assert merged.read_bytes() == before
    rewritten = loads(TEXT.replace("epochs = 3", "epochs = 3\nrepeats = 1").replace('"2ms"', "0.002"))
    assert (rewritten.fixed, rewritten.blocks) != (exp.fixed, exp.blocks)  # the same jobs, written otherwise
    with pytest.raises(MergeError, match=r"holds job 3, which is not done now"):
        merge(rewritten, tmp_path, allow_missing=True)
    assert merged.read_bytes() == before
    # moved away (or another grid): merged with the hole, as asked
    merged.rename(tmp_path / "kept.h5")
    ds = merge(exp, tmp_path, allow_missing=True)
    assert json.loads(ds.attrs["missing"]) == [3] and np.isnan(ds.sel(exp.settings(3)).test_acc).all()
    # a second merge with the same hole replaces the first: nothing more is lost
    merge(exp, tmp_path, allow_missing=True)


@pytest.mark.xdist_group("guards-fake-jobs")  # the fake jobs, written once on one xdist worker
def test_a_sweep_and_a_tuning_study_of_one_name_are_refused(tmp_path, capsys, fake_jobs):
    from snnsim import tune

    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    exp = loads(TEXT)
    fake_job(exp, 0, tmp_path)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'name = "m"\n[fixed]\nstudy = "ipd"\nn_val_batches = 1\n[search]\nlr = { low = 1e-3, high = 1e-2 }\n'
    )
    assert tune.main(["--results-dir", str(tmp_path), "run", str(spec)]) == 2
    assert "holds the job files of a sweep named 'm'; give the tuning spec another name" in capsys.readouterr().err
    assert not (tmp_path / "m" / "optuna.journal").exists()
    result_path(exp, 0, tmp_path).unlink()
    for left in ("job-0.failed", ".job-1.lock", ".jobs-0,2.r0-0.ckpt"):  # a sweep's, though none is done
        (tmp_path / "m" / left).write_text("")
        with pytest.raises(tune.SpecError, match="holds the job files of a sweep named 'm'"):
            tune.study(tune.load(spec), tmp_path)
        (tmp_path / "m" / left).unlink()
    # the other way round: a study's folder is no sweep's
    tune.study(tune.load(spec), tmp_path)
    assert cli.main(["--results-dir", str(tmp_path), "status", str(exp_file)]) == 2
    assert "holds the study of a tuning spec named 'm'; give the experiment another name" in one_line(capsys)
    # and a merged file of the one is not replaced by the other's merge
    shutil.rmtree(tmp_path / "m")
    fake_jobs(tmp_path)
    merge(exp, tmp_path)
    shutil.rmtree(tmp_path / "m")
    with pytest.raises(tune.SnnsimError, match="holds the merged results of a sweep named 'm'"):
        tune.merge(tune.load(spec), tmp_path)


@pytest.mark.xdist_group("guards-fake-jobs")  # the fake jobs, written once on one xdist worker
def test_a_merge_does_not_replace_the_file_of_one_run(tmp_path, capsys, fake_jobs):
    """A run's result file at RESULTS/NAME.h5 (``snnsim.run --out results/m.h5``) was replaced by
    ``sweep merge`` of an experiment named m without a word, and so by ``tune merge``."""
    from snnsim import tune

    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    exp = loads(TEXT)
    fake_jobs(tmp_path)
    run = tmp_path / "m.h5"
    shutil.copy(result_path(exp, 0, tmp_path), run)  # a file of one run, as snnsim.run --out writes it
    before = run.read_bytes()
    assert cli.main(["--results-dir", str(tmp_path), "merge", str(exp_file)]) == 2
    assert one_line(capsys) == (f"snnsim.sweep: error: {run} holds the results of one run, not a merge; move it "
                                "away: the sweep's merged results go there")  # fmt: skip
    shutil.rmtree(tmp_path / "m")
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'name = "m"\n[fixed]\nstudy = "ipd"\nn_val_batches = 1\n[search]\nlr = { low = 1e-3, high = 1e-2 }\n'
    )
    with pytest.raises(tune.SnnsimError, match="holds the results of one run, not a merge; move it away: the tune's"):
        tune.merge(tune.load(spec), tmp_path)
    assert run.read_bytes() == before


def test_a_swept_list_setting_merges_with_its_text_as_labels(tmp_path, tiny_ipd):
    """``hidden = [8, "8,8"]``: one and two hidden layers; merged, the coordinate is "8", "8,8"."""
    fixed = "\n".join(f"{k} = {json.dumps(v)}" for k, v in {**tiny_ipd, "n_val_batches": 0}.items() if k != "hidden")
    exp = loads(f'name = "h"\n[fixed]\n{fixed}\nneuron = "standard"\n[sweep]\nhidden = [8, "8,8"]\n')
    assert run_jobs(exp, [0, 1], tmp_path, log=lambda m: None) == 0
    ds = merge(exp, tmp_path)
    assert ds.hidden.values.tolist() == ["8", "8,8"]
    for i, label in enumerate(["8", "8,8"]):
        job = results.load(result_path(exp, i, tmp_path))
        np.testing.assert_array_equal(ds.test_acc.sel(hidden=label).values, job.test_acc.values)
    assert results.load(tmp_path / "h.h5").hidden.values.tolist() == ["8", "8,8"]


def test_a_data_file_changed_under_done_jobs_makes_them_stale(tmp_path, bmi_path, capsys, no_scontrol_questions):
    data = tmp_path / "data.pkl"
    shutil.copy(bmi_path, data)
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=data))
    exp = loads(exp_file.read_text())
    res = tmp_path / "r"
    assert run_jobs(exp, [0, 1], res, log=lambda m: None) == 0
    assert [s.state for s in states(exp, res)] == ["done", "done"]
    job0 = results.load(result_path(exp, 0, res))
    assert len(job0.attrs["data_file_sha256"]) == 64
    data.write_bytes(pickle.dumps(generate(seed=1, samples_per_fold=300)))  # another data set, same path
    st = [state(exp, i, res) for i in range(2)]
    assert [s.state for s in st] == ["stale", "stale"]
    assert st[0].reason.startswith(f"data file {data} changed since (SHA-256 {job0.attrs['data_file_sha256'][:12]}")
    # `local` says why it has nothing to run, and how to rerun
    assert cli.main(["--results-dir", str(res), "local", str(exp_file), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "nothing to run (0 of 2 jobs done; 2 stale (0-1: made by another config or snnsim), rerun with " \
           "--rerun-stale)" in out, out  # fmt: skip
    # a rerun of stale jobs replaces them and leaves done ones as they are
    assert run_jobs(exp, [0], res, rerun_stale=True, log=lambda m: None) == 0
    done_bytes = result_path(exp, 0, res).read_bytes()
    # submit and local pass --rerun-stale on, never --force (which would rerun done jobs too)
    assert cli.main(["--results-dir", str(res), "submit", str(exp_file), "--rerun-stale", "--pack", "2",
                     "--dry-run"]) == 0  # fmt: skip
    line = capsys.readouterr().out.strip().split()
    assert line[-3:] == ["--rerun-stale", "--pack", "2"] and "--force" not in line, line
    assert cli.main(["--results-dir", str(res), "local", str(exp_file), "--rerun-stale", "--pack", "2", "--quiet"]) == 0
    assert "job 0: already done" in (res / "g" / "logs" / "pack-0.log").read_text()
    assert result_path(exp, 0, res).read_bytes() == done_bytes
    assert [s.state for s in states(exp, res)] == ["done", "done"]


def test_a_synthetic_set_changed_under_done_jobs_makes_them_stale(tmp_path, monkeypatch):
    """Jobs on ``synthetic:NAME:SEED`` whose set this snnsim loads otherwise now (its cache file
    edited or regenerated, another generator) were done in ``sweep status`` and merged without a
    word. They are stale, as a tuning trial on such a set is; the set restored, done again."""
    from snnsim.datasets import bmi_synthetic

    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data="synthetic:weak:3"))
    exp = loads(exp_file.read_text())
    res = tmp_path / "r"
    assert run_jobs(exp, [0, 1], res, log=lambda m: None) == 0
    made = results.load(result_path(exp, 0, res)).attrs["synthetic_data_sha256"]
    cache = bmi_synthetic.cache_path(3, "weak")
    kept = cache.read_bytes()
    data = pickle.loads(kept)
    data["MI"][0][0, 0] += 1  # one spike count more: another set in the same cache file
    cache.write_bytes(pickle.dumps(data))

    def sweep(*args, in_process=False):  # a new process (or run_here): none of this one's loaded sets
        if in_process:  # the further cases
            return run_here(cli.main, "--results-dir", res, *args, exp_file, env=dict(os.environ))
        return subprocess.run([sys.executable, "-m", "snnsim.sweep", "--results-dir", str(res), *args, str(exp_file)],
                              capture_output=True, text=True, timeout=300, env=dict(os.environ))  # fmt: skip

    st = json.loads(sweep("status", "--json").stdout)
    assert st["done"] == [] and st["stale"] == [0, 1], st
    assert st["reasons"]["0"].startswith(f"synthetic data synthetic:weak:3 with SHA-256 {made[:12]}... then, "), st
    proc = sweep("merge", in_process=True)
    assert proc.returncode != 0 and "stale 0-1" in proc.stderr and not (res / "g.h5").exists(), proc.stderr
    cache.write_bytes(kept)  # the set restored: the jobs are done again
    st = json.loads(sweep("status", "--json", in_process=True).stdout)
    assert st["done"] == [0, 1] and st["stale"] == [], st


def test_a_damaged_checkpoint_sidecar_is_no_progress(tmp_path, capsys):
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / ".job-5.r0-0.ckpt.json").write_text("{}")
    (folder / ".job-6.r0-0.ckpt.json").write_text('{"epoch": "x", "epochs": 3}')
    (folder / ".jobs-5-3.r0-0.ckpt.json").write_text('{"epoch": 1, "epochs": 3}')
    assert cli.main(["--results-dir", str(tmp_path), "status", str(exp_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["missing"] == list(range(12))


def test_local_checks_the_device_and_the_tensorboard_folder_first(tmp_path, capsys):
    exp_file = tmp_path / "c.toml"
    exp_file.write_text(
        'name = "c"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\ndevice = "cuda"\n[sweep]\nseed = [0, 1]\n'
    )
    code = cli.main(["--results-dir", str(tmp_path), "local", str(exp_file), "--quiet", "--indices", "0"])
    if torch.cuda.is_available():  # a GPU machine runs it
        assert code == 0 and result_path(loads(exp_file.read_text()), 0, tmp_path).exists()
    else:
        assert code == 2
        assert one_line(capsys).endswith("jobs 0 run on cuda, and this machine has no CUDA device; submit them to a "
                                         'GPU partition, or set device = "auto"; no job started')  # fmt: skip
        assert not (tmp_path / "c").exists()
    (tmp_path / "tb").write_text("a file")
    exp_file.write_text(f'name = "t"\ntensorboard = "{tmp_path / "tb"}"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n'
                        '[sweep]\nseed = [0]\n')  # fmt: skip
    assert cli.main(["--results-dir", str(tmp_path), "local", str(exp_file), "--quiet"]) == 2
    assert "is a file; give a folder; no job started" in one_line(capsys)
    assert not (tmp_path / "t").exists()


def test_local_refuses_a_tensorboard_folder_through_a_broken_link(tmp_path, capsys):
    """``tensorboard = "runs"`` where ``runs`` is a link to a folder that is gone (a purged scratch
    space): every job trained, said "tensorboard: cannot write in runs (No such file or directory)"
    and logged nothing. It is refused before any job starts now, as a file there is."""
    (tmp_path / "runs").symlink_to(tmp_path / "gone")
    exp_file = tmp_path / "t.toml"
    exp_file.write_text(f'name = "t"\ntensorboard = "{tmp_path / "runs"}"\n[fixed]\nstudy = "ipd"\nbackend = "fused"\n'
                        'epochs = 1\nn_train_batches = 1\nn_test_batches = 1\nhidden = 8\n[sweep]\nseed = [0]\n')  # fmt: skip
    assert cli.main(["--results-dir", str(tmp_path), "local", str(exp_file), "--quiet"]) == 2
    assert one_line(capsys).endswith(f"{tmp_path / 'runs'} is a link to {tmp_path / 'gone'}, which is not there; "
                                     "give a folder; no job started")  # fmt: skip
    assert not (tmp_path / "t").exists()


def test_local_refuses_a_tensorboard_folder_it_cannot_make(tmp_path, capsys):
    """``tensorboard`` below a file, or in a read-only file system: every job trained, said
    "tensorboard: cannot write in ..." and logged nothing (``snnsim.run --tensorboard`` refuses
    both). Refused before any job starts now."""
    (tmp_path / "afile").write_text("")
    locked = tmp_path / "locked"
    locked.mkdir()
    text = (
        '[fixed]\nstudy = "ipd"\nbackend = "fused"\nepochs = 1\nn_train_batches = 1\nn_test_batches = 1\nhidden = 8\n'
    )
    with mounted_tmpfs(locked):
        subprocess.run(["mount", "-o", "remount,ro", str(locked)], check=True)
        for folder, fragment in [("afile/tb", f"is below the file {tmp_path / 'afile'}; give a folder; no job started"),
                                 ("locked/tb", f"cannot write in {locked} (Read-only file system); no job started")]:  # fmt: skip
            exp_file = tmp_path / "t.toml"
            exp_file.write_text(f'name = "t"\ntensorboard = "{tmp_path / folder}"\n{text}[sweep]\nseed = [0]\n')
            assert cli.main(["--results-dir", str(tmp_path), "local", str(exp_file), "--quiet"]) == 2
            assert one_line(capsys).endswith(fragment)
            assert not (tmp_path / "t").exists()


def test_run_refuses_a_tensorboard_folder_made_read_only_since_submit(tmp_path, capsys):
    """``sweep run`` (a SLURM task) whose experiment's ``tensorboard`` folder became read-only
    after ``submit`` checked it: each job trained, said "tensorboard: cannot write in ...; training
    goes on without it", wrote its result (exit 0) and its events were lost. The jobs not done are
    refused now before training, each in one line and a ``.failed`` naming why (exit 2, as
    ``snnsim.run --tensorboard`` refuses such a folder); a done job is left alone."""
    exp_file = tmp_path / "t.toml"
    with mounted_tmpfs(tmp_path / "locked", "256k") as locked:
        exp_file.write_text(f'name = "t"\ntensorboard = "{locked / "tb"}"\n[fixed]\nstudy = "ipd"\nbackend = "fused"\n'
                            'epochs = 1\nn_train_batches = 1\nn_test_batches = 1\nhidden = 8\n[sweep]\nseed = [0, 1]\n')  # fmt: skip
        exp = loads(exp_file.read_text())
        assert cli.main(["--results-dir", str(tmp_path), "run", str(exp_file), "0"]) == 0
        subprocess.run(["mount", "-o", "remount,ro", str(locked)], check=True)
        capsys.readouterr()
        assert cli.main(["--results-dir", str(tmp_path), "run", str(exp_file), "0", "--pack", "2"]) == 2
    err = capsys.readouterr().err
    reason = f"t: tensorboard = '{locked / 'tb'}': cannot write in {locked / 'tb'} (Read-only file system); not trained"
    assert err.splitlines()[1:] == [f"snnsim.sweep: job 0: already done ({result_path(exp, 0, tmp_path)}); skipped",
                                    f"snnsim.sweep: job 1: failed: {reason}"], err  # fmt: skip
    assert [(s.state, s.reason) for s in states(exp, tmp_path)] == [("done", ""), ("failed", reason)]


def test_submit_of_cuda_jobs_from_a_machine_without_cuda(tmp_path, capsys, monkeypatch):
    """A login node has no GPU: ``submit`` of jobs on ``device = "cuda"`` (for a GPU partition)
    was refused there by the node memory check, which asked this machine for CUDA."""
    monkeypatch.setattr(cli, "max_array_size", lambda failed=None: None)
    monkeypatch.setattr(cli, "node_memory", lambda failed=None: 64 * 2**30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    exp_file = tmp_path / "c.toml"
    exp_file.write_text(
        'name = "c"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\ndevice = "cuda"\n[sweep]\nseed = [0, 1]\n'
    )
    assert cli.main(["--results-dir", str(tmp_path), "submit", str(exp_file), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "--array=0-1 " in out.out and out.err == ""


def test_results_folders_in_the_way_are_one_line(tmp_path, capsys, monkeypatch):
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SNNSIM_RESULTS", str(blocker))
    assert cli.main(["status", str(exp_file)]) == 2
    assert one_line(capsys) == f"snnsim.sweep: error: $SNNSIM_RESULTS: {blocker} is a file; give a folder"
    assert cli.main(["--results-dir", str(blocker), "status", str(exp_file)]) == 2
    assert one_line(capsys) == f"snnsim.sweep: error: --results-dir: {blocker} is a file; give a folder"
    assert cli.main(["--results-dir", "", "status", str(exp_file)]) == 2
    assert one_line(capsys) == "snnsim.sweep: error: --results-dir: empty; give a folder"
    # a file where the experiment's folder goes, or below a file
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "m").write_text("")
    root = tmp_path / "r"
    assert cli.main(["--results-dir", str(root), "local", str(exp_file), "--quiet"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"snnsim.sweep: error: {root}") and "Not a directory" in line, line
    for command in ("local", "merge", "status"):  # merge and status said "jobs not done"
        assert cli.main(["--results-dir", str(blocker / "below"), command, str(exp_file)]) == 2
        assert one_line(capsys) == f"snnsim.sweep: error: --results-dir: {blocker / 'below'}: {blocker} is a file, " \
                                   "not a folder"  # fmt: skip
    assert (tmp_path / "r" / "m").read_text() == ""


def test_a_results_folder_behind_a_link_to_nothing_is_named(tmp_path, capsys):
    """Results on scratch space behind a symbolic link that is not there (not mounted on this node,
    or purged): ``local`` said "snnsim.sweep: error: scratch: File exists", and ``status`` counted
    every job missing (exit 0), as if none had run. Each names the link and its target, exit 2, as
    ``snnsim.run --out`` does."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    link = tmp_path / "scratch"
    link.symlink_to(tmp_path / "gone")
    for root in (link, link / "results"):
        for command in ("local", "merge", "status"):
            assert cli.main(["--results-dir", str(root), command, str(exp_file)]) == 2
            assert one_line(capsys) == (f"snnsim.sweep: error: --results-dir: {root}: {link} is a symbolic link to "
                                        f"{tmp_path / 'gone'}, which does not exist")  # fmt: skip
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("args", [["1"], ["0", "--pack", "2"]])
def test_a_folder_in_the_way_of_a_jobs_file_is_named_before_training(args, tmp_path, bmi_path, capsys):
    """A folder at job 1's result file: ``run 1`` blamed --results-dir and suggested a file inside
    that folder; a pack with job 1 trained every job, then lost them all at job 1's write (exit 5,
    "job 0: not written: cannot write .../job-1.h5")."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    root = tmp_path / "r"
    blocker = root / "g" / "job-1.h5"
    blocker.mkdir(parents=True)
    assert cli.main(["--results-dir", str(root), "run", str(exp_file), *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"snnsim.sweep: error: job 1: {blocker} is a folder, where its result file goes; move it away"
    assert "Traceback" not in "".join(err) and blocker.is_dir()
    assert not (root / "g" / "job-0.h5").exists()  # nothing trained: the pack's other job is not left half-run


def test_run_on_bad_input_is_one_line_and_a_failed_job(tmp_path, bmi_path, capsys):
    """``sweep run`` (what a SLURM task calls) finds a data file removed since ``submit``."""
    data = tmp_path / "data.pkl"
    shutil.copy(bmi_path, data)
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=data))
    data.unlink()
    assert cli.main(["--results-dir", str(tmp_path / "r"), "run", str(exp_file), "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"job 0: failed: data: no file at {data}" in err, err
    st = state(loads(exp_file.read_text()), 0, tmp_path / "r")
    assert st.state == "failed" and f"no file at {data}" in st.reason


@pytest.mark.parametrize("case", ["data file gone", "too large"])
def test_a_failed_jobs_reason_names_the_experiments_keys_not_the_runs_flags(case, tmp_path, bmi_path, capsys):
    """A job that ``sweep run`` refuses (its data file removed since ``submit``; its memory past
    this machine's) names the settings as the experiment file's keys, in its log line, its
    ``.failed`` marker and ``status``: it named the run's flags (``--data: no file at ...``,
    ``use smaller settings (--batch-size, ...)``), which neither the file nor ``sweep`` has."""
    exp_file = tmp_path / "g.toml"
    if case == "data file gone":
        exp_file.write_text(BMI.format(data=tmp_path / "gone.pkl"))
        expected = f"data: no file at {tmp_path / 'gone.pkl'}"
    else:
        exp_file.write_text(TINY_IPD_GRID.format(epochs=1).replace("n_train_batches = 2", "n_train_batches = 1000000"))
        expected = ("available; use smaller settings (batch_size, hidden, n_train_batches, n_test_batches, repeats, "
                    "duration, max_delay)")  # fmt: skip
    root = tmp_path / "r"
    assert cli.main(["--results-dir", str(root), "run", str(exp_file), "0"]) == 2
    logged = capsys.readouterr().err.splitlines()[-1]
    assert logged.startswith("snnsim.sweep: job 0: failed: ") and logged.endswith(expected), logged
    reason = state(loads(exp_file.read_text()), 0, root).reason
    assert reason == logged.removeprefix("snnsim.sweep: job 0: failed: "), reason  # the .failed marker's last line
    assert cli.main(["--results-dir", str(root), "status", str(exp_file)]) == 0
    assert f"job 0 failed: {reason}\n" in capsys.readouterr().out
    assert "--" not in reason.replace(str(tmp_path), "")


def test_a_failed_jobs_reason_names_a_data_path_starting_as_a_flag_as_given(tmp_path, capsys, monkeypatch):
    """An experiment file's data path that starts as a flag does (``data = "--data notes.pkl"``, a
    text file) was named mangled in the job's failure, as if it were the flag: ``data: data
    notes.pkl is a text file``. The file's path is named as the file gives it."""
    monkeypatch.chdir(tmp_path)
    Path("--data notes.pkl").write_text("hello\n")
    Path("g.toml").write_text(BMI.format(data="--data notes.pkl"))
    assert cli.main(["--results-dir", "r", "run", "g.toml", "0"]) == 2
    reason = capsys.readouterr().err.splitlines()[-1].removeprefix("snnsim.sweep: job 0: failed: ")
    assert reason.startswith("data: --data notes.pkl is a text file, not a pickle;"), reason
    assert state(loads(Path("g.toml").read_text()), 0, "r").reason == reason  # the .failed marker's last line


def test_a_failed_job_on_a_full_disk_leaves_no_empty_failed_marker(tmp_path, bmi_path, capsys):
    """``sweep run`` whose job fails (its data file removed since ``submit``) on a full file system
    (a real tmpfs): the ``.failed`` marker could not be written, and the run said so, but left an
    empty ``job-0.failed``, so ``status`` listed the job failed with no reason. Nothing is left
    now: the job is missing, and runs again."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=tmp_path / "gone.pkl"))
    exp = loads(exp_file.read_text())
    with mounted_tmpfs(tmp_path / "small") as folder:
        job_dir(exp, folder).mkdir()
        job_lock(exp, 0, folder).path.write_text("an earlier holder\n")  # its page, taken again by the run
        fill(folder)
        assert cli.main(["--results-dir", str(folder), "run", str(exp_file), "0"]) == 2
        err = capsys.readouterr().err
        assert f"could not write {folder / 'g' / 'job-0.failed'} (No space left on device)" in err, err
        assert "Traceback" not in err
        assert not (folder / "g" / "job-0.failed").exists()
        assert not [p.name for p in (folder / "g").iterdir() if p.name.endswith(".tmp")]
        assert state(exp, 0, folder).state == "missing"


def test_a_job_whose_log_cannot_be_written_still_writes_its_result(tmp_path, bmi_path):
    """``sweep run`` whose stderr goes to a full file system (SLURM's ``logs/`` in a home folder
    over its quota, the results on scratch): the first log line raised, and the job ended with
    exit 1 before it trained, with no result, no ``.failed`` and no word anywhere. The log lines
    are dropped now, and the jobs train and write their results."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    with mounted_tmpfs(tmp_path / "logs") as logs:
        with open(logs / "job.err", "wb") as err:
            fill(logs)
            argv = [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(tmp_path / "r"), "run", str(exp_file),
                    "0", "--pack", "2"]  # fmt: skip
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, text=True)
    assert proc.returncode == 0, proc.stdout
    assert [s.state for s in states(loads(exp_file.read_text()), tmp_path / "r")] == ["done", "done"]


def test_unbalanced_sbatch_args_are_one_line(tmp_path, capsys):
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    argv = ["--results-dir", str(tmp_path), "submit", str(exp_file), "--dry-run", "--sbatch-args", "'unterminated"]
    assert cli.main(argv) == 2
    assert one_line(capsys) == 'snnsim.sweep: error: submit: --sbatch-args "\'unterminated": No closing quotation'


def slow_slurm_command(folder, name, release):
    """A SLURM client ``name`` (``scontrol``, ``squeue``) whose controller does not answer: it
    waits until the file ``release`` exists (at most 15 s), then fails as one that gave up."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f"""#!/bin/sh
for i in $(seq 150); do [ -e "{release}" ] && break; sleep 0.1; done
echo "{name}: error: Unable to contact slurm controller (connect failure)" >&2
exit 1
""")
    os.chmod(path, 0o755)
    return path


def first_line_while_waiting(argv, env, release):
    """``argv``'s first line on stderr while the SLURM command it runs waits for ``release``
    (None where none comes within 8 s), then the finished process and the rest of its stderr."""
    import select

    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline() if select.select([proc.stderr], [], [], 8)[0] else None
    finally:
        release.touch()
        out, err = proc.communicate(timeout=60)
    return first, proc, out, err


def test_submit_says_what_it_waits_for_while_the_slurm_controller_does_not_answer(tmp_path):
    """SLURM installed, its controller down: ``submit --dry-run`` sat silent for some 9 s (scontrol
    giving up) before its note and its line. After a second without an answer it says on stderr
    what it waits for; a controller that answers at once (here: fails at once) adds no such line."""
    release = tmp_path / "release"
    slow_slurm_command(tmp_path / "bin", "scontrol", release)
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    argv = [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(tmp_path / "r"), "submit", str(exp_file),
            "--dry-run"]  # fmt: skip
    first, proc, out, err = first_line_while_waiting(argv, env, release)
    assert first is not None, "nothing on stderr while scontrol waited"
    assert first.startswith("snnsim.sweep: waiting for the SLURM controller: scontrol show config (for this "
                            "cluster's MaxArraySize and node memory)"), first  # fmt: skip
    assert proc.returncode == 0 and " sbatch --parsable --array=0-11 " in out, err
    assert err.splitlines() == [
        "snnsim.sweep: note: scontrol show config: scontrol: error: Unable to contact slurm controller (connect "
        "failure); this cluster's MaxArraySize and node memory are not checked"
    ]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)  # it answers at once now
    assert proc.returncode == 0 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("snnsim.sweep: note: scontrol show config: ")


def test_submit_names_the_settings_of_a_job_too_large_for_every_node_as_the_file_keys(tmp_path, monkeypatch, capsys):
    """A job past the largest node's memory is refused by ``submit`` naming the settings that size
    it as the experiment file's keys (``hidden``, ``batch_size``): it named the run's flags
    (``--batch-size``), which neither the file nor ``sweep`` has. (A cluster of one 1000 MB node,
    told by an ``scontrol`` first on PATH; tests/sweep/test_slurm_e2e.py asks a real one.)"""
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "scontrol"
    fake.write_text(
        '#!/bin/sh\ncase "$*" in *config*) echo "MaxArraySize = 1001";; *) echo "NodeName=n1 RealMemory=1000";; esac\n'
    )
    os.chmod(fake, 0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    exp_file = tmp_path / "huge.toml"
    exp_file.write_text('name = "huge"\n[fixed]\nstudy = "ipd"\nepochs = 1\n[sweep]\nhidden = [8, 100000]\n')
    assert cli.main(["--results-dir", str(tmp_path / "r"), "submit", str(exp_file), "--dry-run"]) == 2
    line = one_line(capsys)
    assert line.startswith("snnsim.sweep: error: submit: job 1 (hidden=100000) needs about "), line
    assert line.endswith("GB of this cluster's largest node: it would be refused when it starts; use smaller "
                         "settings (batch_size, hidden, n_train_batches, n_test_batches, repeats, duration, max_delay); "
                         "no job submitted"), line  # fmt: skip
    assert not (tmp_path / "r").exists()


def sleeping_slurm_command(tmp_path, name: str, exp_text: str) -> tuple:
    """A fake ``name`` (scontrol, sbatch) first on PATH that writes its pid, then sleeps 60 s (a
    controller that does not answer), and an experiment file of ``exp_text``: (pid file,
    experiment file, environment)."""
    pid_file = tmp_path / f"{name}.pid"
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / name
    fake.write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\nexec sleep 60\n')
    os.chmod(fake, 0o755)
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(exp_text)
    return pid_file, exp_file, dict(os.environ, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")


def assert_gone_soon(pid: int, what: str) -> None:
    """Process ``pid`` ends within 10 s (killed, then reaped by its parent)."""
    deadline = time.time() + 10
    while time.time() < deadline and not process_gone(pid):
        time.sleep(0.1)
    assert process_gone(pid), what


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_submit_stopped_while_it_asks_slurm_leaves_no_slurm_command_behind(signum, tmp_path):
    """Ctrl-C (or SIGTERM: ``kill``, a batch system's stop) while ``submit`` waits for
    ``scontrol`` (a controller that does not answer) stops the submit, and its ``scontrol`` with
    it, as ``subprocess.run`` did; it is not left waiting on its own. SIGTERM ended the submit
    and left ``scontrol`` running until its own time-out."""

    pid_file, exp_file, env = sleeping_slurm_command(tmp_path, "scontrol", TEXT)
    argv = [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(tmp_path / "r"), "submit", str(exp_file),
            "--dry-run"]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as at a terminal # fmt: skip
    try:
        assert "waiting for the SLURM controller" in proc.stderr.readline()
        proc.send_signal(signum)  # to the submit alone
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert_gone_soon(int(pid_file.read_text()), "scontrol still runs after its submit stopped")


def test_a_submit_stopped_while_sbatch_runs_stops_sbatch_and_says_so(tmp_path):
    """SIGTERM to ``submit`` while ``sbatch`` waits (a slow controller; here a fake sbatch first on
    PATH): the submit died by the signal with nothing on stderr, and sbatch ran on alone, to send
    an array job that nothing recorded or named. sbatch is stopped with it now, and one line
    says so and how to see whether it had sent the array."""
    pid_file, exp_file, env = sleeping_slurm_command(tmp_path, "sbatch", TEXT)
    argv = [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(tmp_path / "r"), "submit", str(exp_file)]
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (pid_file.exists() and pid_file.read_text().strip()):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # to the submit alone
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    # where SLURM is installed with its controller down, submit's questions to scontrol say so first
    assert [line for line in err.splitlines() if "scontrol show config" not in line] == [
        "snnsim.sweep: stopped by SIGTERM; no result written; sbatch was stopped too: `squeue` shows whether "
        "it had sent the array job (not recorded: `sweep status` shows its jobs missing)"
    ], err
    assert_gone_soon(int(pid_file.read_text()), "sbatch still runs after its submit stopped")


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie left to a reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("args", ["--array=0-1", "-a 0-1", "-a0-1", "--arr=3", "--ar 2", "--time=1:00 --array 5"])
def test_sbatch_args_that_set_the_array_are_refused(args, tmp_path, capsys, no_scontrol_questions):
    """``--sbatch-args "--array=..."`` came after submit's own ``--array``: sbatch took the last,
    and ran other jobs than submit recorded and printed. Refused in one line; other options pass."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    argv = ["--results-dir", str(tmp_path), "submit", str(exp_file), "--dry-run", f"--sbatch-args={args}"]
    assert cli.main(argv) == 2
    assert one_line(capsys).startswith("snnsim.sweep: error: submit: --sbatch-args: -")
    assert cli.main([*argv[:-1], "--sbatch-args=--account=a -A b --time=1:00"]) == 0
    assert "--account=a -A b --time=1:00" in capsys.readouterr().out


@pytest.mark.parametrize("args", ["--export=NONE", "--export NONE", "--exp=PATH", "--export=SNNSIM_THREADS=2"])
def test_sbatch_args_that_keep_the_environment_from_the_jobs_are_refused(args, tmp_path, capsys, no_scontrol_questions):
    """``--sbatch-args=--export=NONE``: the array tasks ran without ``SNNSIM_RESULTS`` and
    ``SNNSIM_PYTHON`` (python3 without snnsim: exit 1 and no ``.failed``; or results in another
    folder), and ``status`` showed them missing with no reason. Refused in one line."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    argv = ["--results-dir", str(tmp_path), "submit", str(exp_file), "--dry-run", f"--sbatch-args={args}"]
    assert cli.main(argv) == 2
    assert one_line(capsys).startswith(f"snnsim.sweep: error: submit: --sbatch-args: {args} would keep ")
    assert cli.main([*argv[:-1], "--sbatch-args=--export=ALL,SNNSIM_THREADS=2"]) == 0
    assert "--export=ALL,SNNSIM_THREADS=2" in capsys.readouterr().out


def test_submit_failed_with_all_is_refused(tmp_path, capsys, no_scontrol_questions):
    """``submit --failed --all`` submitted every job, the done ones too, where --failed asks for
    the failed jobs only: the two choose the jobs apart, so the pair is refused in one line."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    argv = ["--results-dir", str(tmp_path), "submit", str(exp_file), "--dry-run", "--failed", "--all"]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].endswith("error: argument --all: not allowed with argument --failed"), err


def test_submit_on_a_full_disk_leaves_no_folder(tmp_path, capsys):
    """``submit`` on a full results disk: one line naming its lock, and no job folder left behind
    with an empty lock file in it (a submit that sent nothing leaves no folder)."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    with mounted_tmpfs(tmp_path / "small") as folder:
        fill(folder)
        assert cli.main(["--results-dir", str(folder), "submit", str(exp_file)]) == 2
        assert "cannot take the lock" in one_line(capsys)
        assert sorted(p.name for p in folder.iterdir()) == ["filler"]


def test_a_complete_mark_that_is_not_one_number_is_corrupt(tmp_path, capsys):
    exp = loads(TEXT)
    path = fake_job(exp, 0, tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["complete"] = np.array([1, 1])
    assert state(exp, 0, tmp_path, check_data=False).reason == "no complete mark"
    bare = tmp_path / "bare.h5"  # no checksum either: the mark itself must be read with care
    with h5py.File(bare, "w") as f:
        f.attrs.update({"complete": np.array([1, 1]), "snnsim_version": "0.3.0"})
    with pytest.raises(ResultError, match="is incomplete"):
        results.load(bare)


def test_a_results_folder_that_cannot_be_made_is_one_line(tmp_path, capsys):
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    assert cli.main(["--results-dir", "/proc/no-such-folder", "local", str(exp_file), "--quiet"]) == 2
    assert one_line(capsys).startswith("snnsim.sweep: error: /proc/no-such-folder")


def test_a_job_written_by_another_process_after_the_check_is_not_rerun(tmp_path, monkeypatch):
    """The state is read before the lock is taken; a job finished in between stays as written."""
    from snnsim.sweep import jobs

    exp = loads(TEXT)
    real = jobs.JobLock.acquire

    def acquire_after_another_finished(lock):  # the other process writes job 1 just before
        fake_job(exp, 1, tmp_path)
        return real(lock)

    monkeypatch.setattr(jobs.JobLock, "acquire", acquire_after_another_finished)
    logged = []
    assert run_jobs(exp, [1], tmp_path, log=logged.append) == 0
    assert "job 1: written by another process meanwhile; skipped" in logged
    assert results.load(result_path(exp, 1, tmp_path)).test_acc.item() == 1001.0  # the other's numbers


def test_a_complete_file_with_a_config_this_snnsim_cannot_read_is_kept(tmp_path):
    """A newer snnsim's file (a setting unknown here): stale, never rerun over unless asked."""
    exp = loads(TEXT)
    path = fake_job(exp, 0, tmp_path)
    ds = results.load(path)
    ds.attrs["config"] = json.dumps({**json.loads(ds.attrs["config"]), "new_setting": 1})
    results.write(ds, path, overwrite=True)  # intact: its checksum matches
    before = path.read_bytes()
    st = state(exp, 0, tmp_path)
    assert st.state == "stale" and st.reason.startswith("a config this snnsim cannot read (")
    assert st.reason.endswith("(--new-setting: unknown setting)")
    assert run_jobs(exp, [0], tmp_path, log=lambda m: None) == 3
    assert path.read_bytes() == before


def test_local_with_packs_leaves_stale_jobs_and_succeeds(tmp_path, bmi_path, capsys):
    """A pack holding a stale job it was not asked to replace: the other jobs run, exit 0."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    exp = loads(exp_file.read_text())
    assert run_jobs(exp, [0], tmp_path, log=lambda m: None) == 0
    path = result_path(exp, 0, tmp_path)
    ds = results.load(path)
    ds.attrs["config"] = json.dumps({**json.loads(ds.attrs["config"]), "n_train_folds": 3})  # another config's
    results.write(ds, path, overwrite=True)
    stale = path.read_bytes()
    assert cli.main(["--results-dir", str(tmp_path), "local", str(exp_file), "--pack", "2", "--quiet"]) == 0
    assert "1 ok, 0 not ok (packs)" in capsys.readouterr().out
    assert [s.state for s in states(exp, tmp_path)] == ["stale", "done"] and path.read_bytes() == stale


def test_merge_into_a_folder_is_refused_before_reading(tmp_path, capsys):
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    (tmp_path / "m.h5").mkdir()
    assert cli.main(["--results-dir", str(tmp_path), "merge", str(exp_file)]) == 2
    assert one_line(capsys).endswith("m.h5 is a folder; move it away: the merged results are written there")


def test_a_full_disk_at_the_job_locks_is_one_line_naming_the_lock_and_holds_none(tmp_path, bmi_path, capsys):
    """A pack run on a full file system (a real tmpfs, where this process may mount one; else a
    per-file size limit of 0, RLIMIT_FSIZE): the lock of job 0 (its file written before) is taken,
    the holder of job 1 cannot be written. Before, the run said only "snnsim.sweep: error: No
    space left on device", naming no file, and kept job 0 locked."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    exp = loads(exp_file.read_text())
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
    ).returncode == 0  # fmt: skip
    job_dir(exp, folder).mkdir()
    old_handler, old_limit = signal.getsignal(signal.SIGXFSZ), resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        if mounted:
            job_lock(exp, 0, folder).path.write_text("an earlier holder\n")  # one page, freed and taken again
            fill(folder)  # the rest of the file system
            reason = "No space left on device"
        else:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, old_limit[1]))
            reason = "File too large"
        code = cli.main(["--results-dir", str(folder), "run", str(exp_file), "0", "--pack", "2"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    try:
        assert code == 5
        failed = 1 if mounted else 0
        err = capsys.readouterr().err.splitlines()
        assert err[0] == "snnsim.sweep: pack 0 of 1 (2 jobs): 0-1", err
        assert err[1:] == [
            f"snnsim.sweep: error: cannot write {job_lock(exp, failed, folder).path}: {reason}; nothing written there"
        ]
        assert [job_lock(exp, i, folder).holder() for i in range(2)] == [None, None]  # no lock kept in this process
        assert [s.state for s in states(exp, folder)] == ["missing", "missing"]
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def test_local_on_a_full_disk_names_each_log_it_cannot_write(tmp_path, bmi_path):
    """`local` whose job logs cannot be written (a real full tmpfs, where this process may mount
    one; else a per-file size limit of 0, RLIMIT_FSIZE): each job is reported as not started,
    naming its log. Before, the first failed log write ended `local` with "snnsim.sweep: error:
    No space left on device", naming no file and no job."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
    ).returncode == 0  # fmt: skip
    limit, reason = None, "No space left on device"
    try:
        if mounted:
            fill(folder)  # the rest of the file system
        else:
            reason = "File too large"

            def limit() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

        argv = [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(folder), "local", str(exp_file), "--quiet"]
        proc = subprocess.run(argv, capture_output=True, text=True, preexec_fn=limit)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert (
            proc.stderr == "" and "ran 0 jobs" in proc.stdout and "0 ok, 2 not ok; 2 jobs not started" in proc.stdout
        ), proc.stdout + proc.stderr
        logs = folder / "g" / "logs"
        for i in range(2):
            assert f"  job {i}: not started: cannot write its log {logs / f'job-{i}.log'} ({reason})" in proc.stdout
        assert not (folder / "g" / "job-0.h5").exists() and not (folder / "g" / "job-1.h5").exists()
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.xdist_group("guards-fake-jobs")  # the fake jobs, written once on one xdist worker
def test_merge_on_a_full_disk_is_one_line_exit_5_and_keeps_the_earlier_merged_file(tmp_path, capsys, fake_jobs):
    """docs/sweeps.md: `merge` exits 5 where the merged file cannot be written, and an earlier
    merged file stays as it was (a real full tmpfs, where this process may mount one; else a
    per-file size limit below the merged file's size, RLIMIT_FSIZE)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
    ).returncode == 0  # fmt: skip
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    old_handler, old_limit = signal.getsignal(signal.SIGXFSZ), resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        fake_jobs(folder)
        assert cli.main(["--results-dir", str(folder), "merge", str(exp_file)]) == 0
        merged = folder / "m.h5"
        before = merged.read_bytes()
        capsys.readouterr()
        if mounted:
            fill(folder)  # the rest of the file system
            reason = "No space left on device"
        else:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, old_limit[1]))
            reason = "File too large"
        code = cli.main(["--results-dir", str(folder), "merge", str(exp_file)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    try:
        assert code == 5
        assert one_line(capsys) == f"snnsim.sweep: error: cannot write {merged}: {reason}; nothing written there"
        assert merged.read_bytes() == before
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def test_local_indices_with_packs_runs_only_the_jobs_asked_for(tmp_path, bmi_path, capsys):
    """`local --pack 2 --indices 0`: pack 0 holds jobs 0 and 1, and only job 0 runs. Before, the
    whole pack ran (job 1 too) while `local` said it ran 1 job."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    exp = loads(exp_file.read_text())
    argv = ["--results-dir", str(tmp_path), "local", str(exp_file), "--pack", "2", "--quiet"]
    assert cli.main([*argv, "--indices", "0"]) == 0
    assert "ran 1 job in 1 pack of at most 2" in capsys.readouterr().out
    assert [s.state for s in states(exp, tmp_path)] == ["done", "missing"]
    assert cli.main([*argv, "--indices", "1"]) == 0
    assert [s.state for s in states(exp, tmp_path)] == ["done", "done"]
    # run --only: jobs of the pack, nothing else
    assert cli.main(["--results-dir", str(tmp_path), "run", str(exp_file), "0", "--only", "0"]) == 2
    assert one_line(capsys).endswith("run: --only selects jobs of a pack; give --pack K too")


def test_run_refuses_an_only_of_no_job_of_the_pack_and_a_task_id_that_is_no_index(
    tmp_path, bmi_path, capsys, monkeypatch
):
    """``run 0 --pack 1 --only 1`` (pack 0 holds job 0 alone) runs nothing: one line, exit 2, not a
    run of no job; a ``$SLURM_ARRAY_TASK_ID`` that is no index is named in one line too."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    run = ["--results-dir", str(tmp_path), "run", str(exp_file)]
    assert cli.main([*run, "0", "--pack", "1", "--only", "1"]) == 2
    assert one_line(capsys).endswith("run: --only 1: none of them is in pack 0")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "x1")
    assert cli.main(run) == 2
    assert one_line(capsys).endswith("run: $SLURM_ARRAY_TASK_ID='x1' is not a job index")
    assert not (tmp_path / "g").exists() or not any((tmp_path / "g").glob("job-*.h5"))


def test_a_stop_once_the_result_is_in_place_counts_it_written(tmp_path, bmi_path):
    """A stop (SIGTERM, SLURM's USR1) that lands after a job's result file is in place, while its
    folder is synced: the job said "stopped; no result written" and exited 143, and under SLURM
    its task was requeued for nothing. The write finishes first; the job is written, exit 0."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path).replace("seed = [0, 1]", "seed = [0]"))
    code = (  # hold the process in the fsync of a folder: the result's, once it is in place
        "import os, stat, sys, time\nfrom snnsim.sweep.cli import main\nfsync = os.fsync\n"
        "def held(fd):\n    if stat.S_ISDIR(os.fstat(fd).st_mode):\n"
        "        print('syncing', flush=True)\n        time.sleep(3)\n    return fsync(fd)\n"
        "os.fsync = held\n"
        f"sys.exit(main(['--results-dir', {str(tmp_path)!r}, 'run', {str(exp_file)!r}, '0']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "syncing"
    result = tmp_path / "g" / "job-0.h5"
    assert result.exists(), "the signal should land once the result is in place"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"job 0: wrote {result}" in err and "stopped by SIGTERM after every result was written" in err, err
    assert "no result written" not in err
    assert state(loads(exp_file.read_text()), 0, tmp_path).state == "done"


@pytest.mark.parametrize("script", ["no-such.sh", "."])
def test_a_submit_script_that_is_no_file_is_one_line(tmp_path, capsys, monkeypatch, script):
    """``submit --script`` naming no file (or a folder): ``--dry-run`` printed an sbatch command
    that could never run, with exit 0, and a real submit made ./logs before sbatch refused."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    monkeypatch.chdir(tmp_path)
    for dry in (["--dry-run"], []):
        argv = ["--results-dir", str(tmp_path / "r"), "submit", str(exp_file), "--script", script, *dry]
        assert cli.main(argv) == 2
        line = one_line(capsys)
        assert line.startswith(f"snnsim.sweep: error: submit: --script: {script}"), line
    assert not (tmp_path / "logs").exists() and not (tmp_path / "r").exists()


def jobs_starting_with(tmp_path: Path, action: str, job: str | None = None) -> dict[str, str]:
    """The environment of a `local` whose jobs (``job``: only that index) run ``action``, a line of
    Python (``os``, ``signal`` and ``time`` imported), as their interpreter starts: a sitecustomize
    on their PYTHONPATH (`python -m snnsim.sweep run EXP I`: argv is ['-m', 'run', EXP, I])."""
    site = tmp_path / "site"
    site.mkdir()
    which = "" if job is None else f" and sys.argv[-1] == {job!r}"
    (site / "sitecustomize.py").write_text(
        f"import os, signal, sys, time\nif sys.argv[:2] == ['-m', 'run']{which}:\n    {action}\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    env.pop("SLURM_ARRAY_TASK_ID", None)
    return env


def test_local_names_a_job_killed_by_a_signal(bmi_path, tmp_path):
    """`local` whose job is killed by SIGKILL (the out-of-memory killer, kill -9): named as such,
    not as "exit code -9" (Popen's return code); a job that ran is ok. The job kills itself with a
    real SIGKILL as its interpreter starts (a sitecustomize on its PYTHONPATH)."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    env = jobs_starting_with(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)", job="1")
    # `local` itself in this process: its jobs are processes of their own, started with this environment
    proc = run_here(cli.main, "--results-dir", tmp_path / "r", "local", exp_file, "--quiet", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    log = tmp_path / "r" / "g" / "logs" / "job-1.log"
    assert "1 ok, 1 not ok" in proc.stdout and f"  job 1: killed by signal 9 (SIGKILL); log {log}" in proc.stdout, (
        proc.stdout
    )
    assert "code -9" not in proc.stdout.replace(str(tmp_path), "TMP")  # not Popen's code; tmp_path may hold "-9"


def test_local_stopped_by_a_signal_whose_raise_a_finalizer_swallowed(bmi_path, tmp_path, monkeypatch):
    """`local` waiting on its jobs, whose SIGTERM is handled while a finalizer (``__del__``) runs
    (here: as the end of job 0 is counted): Python prints the raised stop as "Exception ignored"
    and drops it, and every later stop signal is ignored. `local` waited for every job to end and
    exited 0; it stops now as after any SIGTERM: job 1 (which waits 30 s as its interpreter
    starts, a sitecustomize on its PYTHONPATH) is stopped too, and `local` exits 143."""
    import tqdm

    from snnsim.cli import Interrupted

    update, lost = tqdm.tqdm.update, []

    def counted(self, n=1):
        StopInFinalizer()  # made and finalized here: the stop is raised inside __del__
        return update(self, n)

    monkeypatch.setattr(tqdm.tqdm, "update", counted)
    monkeypatch.setattr(sys, "unraisablehook", lost.append)
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    env = jobs_starting_with(tmp_path, "time.sleep(30)", job="1")
    start = time.monotonic()
    proc = run_here(cli.main, "--results-dir", tmp_path / "r", "local", exp_file, "--quiet", env=env)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stdout + proc.stderr
    assert [type(u.exc_value) for u in lost] == [Interrupted]  # the raise was lost where it landed
    assert "g: stopped by SIGTERM; the jobs running were stopped too" in proc.stderr, proc.stderr
    assert time.monotonic() - start < 25  # job 1 did not wait out its 30 s
    assert [s.state for s in states(loads(exp_file.read_text()), tmp_path / "r")] == ["done", "missing"]


def test_local_stopped_as_its_first_job_starts_stops_that_job_too(tmp_path):
    """SIGTERM (scancel) in the moment `local` has handed its jobs to its threads, a job's process
    started, but the stop handling not yet open: `local` died of the signal (exit -15) and its job
    ran on, orphaned. The stop handling is open before any job starts now: `local` stops that job
    and exits 143. Made deterministic in `local`'s own process: its pool's ``submit`` waits until
    the job's process is started, then sends the SIGTERM; each job waits 30 s as its interpreter
    starts (a sitecustomize on its PYTHONPATH)."""
    exp_file = tmp_path / "ed.toml"
    exp_file.write_text(TINY_IPD_GRID.format(epochs=1))
    env = jobs_starting_with(tmp_path, "time.sleep(30)")
    pids = tmp_path / "pids"
    code = (
        "import concurrent.futures, os, signal, subprocess, sys, threading\n"
        "started, Popen, submit = threading.Event(), subprocess.Popen, concurrent.futures.ThreadPoolExecutor.submit\n"
        "class Noted(Popen):\n"
        "    def __init__(self, *args, **kwargs):\n"
        "        super().__init__(*args, **kwargs)\n"
        f"        with open({str(pids)!r}, 'a') as f: print(self.pid, file=f)\n"
        "        started.set()\n"
        "def handed(self, *args, **kwargs):\n"
        "    future = submit(self, *args, **kwargs)\n"
        "    if started.wait(60) and not hasattr(handed, 'sent'):\n"
        "        handed.sent = os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return future\n"
        "subprocess.Popen, concurrent.futures.ThreadPoolExecutor.submit = Noted, handed\n"
        "from snnsim.sweep.cli import main\n"
        f"sys.exit(main(['--results-dir', {str(tmp_path / 'r')!r}, 'local', {str(exp_file)!r}, '--quiet']))\n"
    )
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 128 + signal.SIGTERM, proc.stdout + proc.stderr
        assert "ed: stopped by SIGTERM; the jobs running were stopped too" in proc.stderr, proc.stderr
        assert time.monotonic() - start < 25  # the job did not wait out its 30 s
        job = int(pids.read_text().split()[0])
        with pytest.raises(ProcessLookupError):  # ended, and waited for by `local`
            os.kill(job, 0)
    finally:  # an orphaned job of a `local` that died would run on
        for pid in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _a_done_job_of_a_synthetic_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """An experiment of one BMI job on ``synthetic:sparse:9`` (small folds), run in this process
    with the set cached under ``tmp_path``: its file and the ``--results-dir`` arguments."""
    from snnsim.datasets import bmi_synthetic as syn

    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    monkeypatch.setattr(syn, "generate", lambda seed, gen: generate(seed, samples_per_fold=300, gen=gen))
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data="synthetic:sparse:9").replace("seed = [0, 1]", "seed = [0]"))
    root = ["--results-dir", str(tmp_path / "r")]
    assert cli.main([*root, "run", str(exp_file), "0"]) == 0  # the done job, in this process
    return exp_file, root


def test_a_quiet_local_does_not_say_it_generates_the_synthetic_set(tmp_path, monkeypatch):
    """`local --quiet` prints no progress bar and no notes; checking its done jobs' synthetic data
    where the set's cache is gone, it generated the set and said so on a terminal all the same.
    Without ``--quiet`` it says so."""
    from snnsim.datasets import bmi as bmi_data
    from snnsim.datasets import bmi_synthetic as syn

    exp_file, root = _a_done_job_of_a_synthetic_set(tmp_path, monkeypatch)
    for quiet in (True, False):
        syn.cache_path(9, "sparse").unlink()
        monkeypatch.setattr(bmi_data, "SYNTHETIC", {})  # as a new process: the set not read
        err = Terminal()
        monkeypatch.setattr(sys, "stderr", err)
        assert cli.main([*root, "local", str(exp_file), *["--quiet"] * quiet]) == 0
        assert syn.cache_path(9, "sparse").exists()  # the set was made again, to check the job
        assert ("snnsim: generating the synthetic BMI data set" in err.getvalue()) is not quiet


def test_the_synthetic_sets_line_is_not_glued_to_the_bar_of_the_job_files_checked(tmp_path, monkeypatch):
    """`status` on a terminal draws a bar of the job files it checks; checking a done job of a
    synthetic set whose cache is gone generates the set, and its line was printed after the bar's
    text, on the bar's line (``g: checking job files:   0%|   | 0/1 [...]snnsim: generating ...``).
    It is a line of its own."""
    from snnsim.datasets import bmi as bmi_data
    from snnsim.datasets import bmi_synthetic as syn

    exp_file, root = _a_done_job_of_a_synthetic_set(tmp_path, monkeypatch)
    syn.cache_path(9, "sparse").unlink()
    monkeypatch.setattr(bmi_data, "SYNTHETIC", {})  # as a new process: the set not read
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert cli.main([*root, "status", str(exp_file)]) == 0
    shown = err.getvalue()
    assert "g: checking job files" in shown and "snnsim: generating the synthetic BMI data set" in shown, shown
    before = shown[: shown.index("snnsim: generating")]
    assert not before.split("\n")[-1].split("\r")[-1].strip(), shown  # nothing of the bar on the line's start


def test_local_says_which_jobs_another_process_was_running(tmp_path, bmi_path, capsys):
    """Two `sweep local` of one folder at once: each skips the jobs the other holds, and each
    said "ran 2 jobs ...; 2 ok" with exit 0, even for a job the other was still running (and
    might fail). A real second process takes job 1's lock once `local` has chosen its jobs (its
    job 0 is running): `local` names job 1 as skipped, being run by that process, and counts
    only job 0 as run and ok."""
    exp_file = tmp_path / "g.toml"
    exp_file.write_text(BMI.format(data=bmi_path))
    exp = loads(exp_file.read_text())
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom snnsim.sweep.experiment import load\n"
        "from snnsim.sweep.jobs import job_lock\n"
        f"exp, root = load({str(exp_file)!r}), Path({str(tmp_path)!r})\n"
        "while job_lock(exp, 0, root).holder() is None:\n    time.sleep(0.01)\n"
        "assert job_lock(exp, 1, root).acquire()\nprint('held', flush=True)\nsys.stdin.read()\n"
    )
    other = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        argv = ["--results-dir", str(tmp_path), "local", str(exp_file), "--quiet"]
        assert cli.main(argv) == 0
        assert other.stdout.readline().strip() == "held"
        out = capsys.readouterr().out
        assert "ran 1 job in" in out and "1 ok, 0 not ok" in out, out
        assert "1 job (1) skipped, being run by another process: 0 done since, 1 still running" in out, out
        assert f"job 1: skipped, being run by {socket.gethostname()} pid {other.pid}; now running" in out, out
        assert [s.state for s in states(exp, tmp_path)] == ["done", "running"]
    finally:
        other.communicate("", timeout=60)  # the other process ends without writing job 1
    assert [s.state for s in states(exp, tmp_path)] == ["done", "missing"]


@pytest.mark.xdist_group("guards-fake-jobs")  # the fake jobs, written once on one xdist worker
def test_two_merges_at_once_keep_the_later_jobs(tmp_path, capsys, fake_jobs):
    """Two merges into one file at once: a `--allow-missing` merge that read the jobs while job 11
    was missing, and a merge started after job 11 was written. The first wrote its file last, and
    replaced the second's complete merge with one where job 11 is NaN (its check that no merged
    job is lost ran before the other's write). The merges now take turns: the second reads the
    jobs once the first has written, and the merged file ends complete."""
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    exp = loads(TEXT)
    fake_jobs(tmp_path, skip=(exp.grid_size - 1,))
    code = (  # the first merge, held for 3 s as it writes (a large merged file takes that long)
        "import sys, time\nfrom snnsim import results\nfrom snnsim.sweep.cli import main\nwrite = results.write\n"
        "def slow(*args, **kwargs):\n    print('writing', flush=True)\n    time.sleep(3)\n"
        "    return write(*args, **kwargs)\n"
        "results.write = slow\n"
        f"sys.exit(main(['--results-dir', {str(tmp_path)!r}, 'merge', {str(exp_file)!r}, '--allow-missing']))\n"
    )
    first = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "writing"
    fake_job(exp, exp.grid_size - 1, tmp_path)
    assert cli.main(["--results-dir", str(tmp_path), "merge", str(exp_file)]) == 0
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "missing (NaN): 11" in out
    merged = results.load(tmp_path / "m.h5")
    assert json.loads(merged.attrs["missing"]) == [] and sorted(merged.job_index.values.ravel()) == list(range(12))


def test_an_experiment_file_edited_while_local_runs_is_not_run_half_old_half_new(tmp_path):
    """`sweep local` chose its jobs from the file as it was, and each job's process read the file
    again: edited while job 0 trained (its seeds swapped, fewer epochs), jobs 1-3 ran the new file's points at
    the old indices, and `local` said "4 ok" for a grid that was half the old file's (two jobs
    stale at once). The jobs started after the edit are refused in one line now (exit 2)."""
    toml, res = tmp_path / "ed.toml", tmp_path / "res"
    text = TINY_IPD_GRID.format(epochs=3000)
    toml.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    local = subprocess.Popen([sys.executable, "-m", "snnsim.sweep", "--results-dir", str(res), "local", str(toml),
                              "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list((res / "ed").glob(".job-0.*.ckpt.json")):  # job 0 trains
            assert local.poll() is None and time.monotonic() < deadline, local.communicate()
            time.sleep(0.05)
        toml.write_text(TINY_IPD_GRID.format(epochs=2).replace("seed = [0, 1]", "seed = [1, 0]"))
        os.kill(job_lock_holder_pid(res / "ed" / ".job-0.lock"), signal.SIGTERM)  # job 0 stops: no wait for it
        out, err = local.communicate(timeout=240)
    finally:
        if local.poll() is None:
            local.kill()
    assert local.returncode == 1, out + err
    for i in (1, 2, 3):
        assert not (res / "ed" / f"job-{i}.h5").exists(), out
        log = (res / "ed" / "logs" / f"job-{i}.log").read_text()
        assert log.splitlines()[-1] == (f"snnsim.sweep: error: run: {toml} changed since `sweep local` read it: "
                                        "this job was not run; run `sweep local` again for the file as it is now")  # fmt: skip
    assert "job 1: exit code 2" in out
    assert (f"  {toml} changed while the jobs ran: those started after the change were not run; run `sweep local` "
            "again for the file as it is now") in out.splitlines()  # fmt: skip


def job_lock_holder_pid(lock) -> int:
    """The process id a job's lock file names (``HOST pid N``)."""
    return int(lock.read_text().split("pid")[1].split()[0])


def test_a_comment_or_description_edited_while_local_runs_changes_no_job(tmp_path):
    """What `sweep local` passes its jobs (:func:`cli.source_digest`) leaves out comments, the
    description and the layout: such an edit while it runs does not refuse the jobs started after."""
    toml, res = tmp_path / "ed.toml", tmp_path / "res"
    text = TINY_IPD_GRID.format(epochs=1)
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    env[cli.ENV_EXPERIMENT] = f"local {cli.source_digest(loads(text))}"  # as `sweep local` gives its jobs
    toml.write_text('description = "edited"\n# a comment\n' + text.replace("epochs = 1", "epochs   =   1"))
    proc = run_here(cli.main, "--results-dir", res, "run", toml, "0", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (res / "ed" / "job-0.h5").exists()
    toml.write_text(text.replace("epochs = 1", "epochs = 2"))
    proc = run_here(cli.main, "--results-dir", res, "run", toml, "1", env=env)
    assert proc.returncode == 2 and "changed since `sweep local` read it" in proc.stderr, proc.stderr
    assert not (res / "ed" / "job-1.h5").exists()
