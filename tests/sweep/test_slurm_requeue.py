"""A SLURM array task stopped by USR1 (the time-limit warning of ``#SBATCH --signal=B:USR1@60``,
here sent by hand with ``scancel --signal=USR1 -b``) is requeued by slurm/array.sh, and the
requeued task resumes from its per-epoch checkpoint and ends with the numbers of a run that was
never stopped, bit for bit (timings aside)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from in_process import run_here
from sweep.test_slurm_e2e import ROOT, cluster, job_field, squeue_states, wait_for, workdir  # noqa: F401 - fixtures
from test_training import same_numbers, sidecar

from snnsim import results
from snnsim.sweep import cli, experiment
from snnsim.sweep.jobs import result_path

EPOCHS = 120
EXPERIMENT = f"""name = "rq"
description = "requeue test: one job of a few seconds, {EPOCHS} short epochs"
[fixed]
task = "ipd"
backend = "fused"
tau = "20ms"
epochs = {EPOCHS}
n_train_batches = 2
n_test_batches = 1
batch_size = 16
hidden = 8
[sweep]
seed = [0]
"""
JOB_ATTRS = ("job_wall_seconds", "peak_rss_mb")  # the process's wall time and memory: not numbers of the run


def sweep(*args, env, cwd) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "snnsim.sweep", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"sweep {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def epoch_saved(folder) -> int:
    """The last epoch of the checkpoint in ``folder`` (0: none yet)."""
    info = sidecar(folder)
    return int(info["epoch"]) if info else 0


def submit_one(cwd, env) -> tuple:
    """``sweep submit`` of the one-job experiment in ``cwd``: (experiment, its results folder, the
    SLURM array job id, its task ``JOB_0``)."""
    toml = cwd / "rq.toml"
    toml.write_text(EXPERIMENT)
    sub = sweep("submit", str(toml), env=env, cwd=cwd)
    m = re.search(r"as SLURM array job (\d+) \(--array=0\)", sub.stdout)
    assert m, sub.stdout
    return experiment.load(toml), cwd / "results" / "rq", m.group(1), f"{m.group(1)}_0"


@pytest.mark.slurm
def test_usr1_requeues_the_task_and_it_resumes_bit_for_bit(cluster, workdir):  # noqa: F811 - fixtures
    cwd, env = workdir
    exp, folder, job, task = submit_one(cwd, env)
    err = cwd / "logs" / f"snnsim_{job}_0.err"
    try:
        sent_at = wait_for(lambda: epoch_saved(folder) >= 2 and epoch_saved(folder), 300, "a checkpoint of epoch 2",
                           interval=0.05)  # fmt: skip
        subprocess.run(["scancel", "--signal=USR1", "-b", task], check=True, timeout=30)
        # the script requeues the task: pending again, restarted once
        wait_for(lambda: squeue_states(job).get(task) == "PENDING" and job_field(task, "Restarts") == "1",
                 120, "the task to be requeued")  # fmt: skip
        assert epoch_saved(folder) >= sent_at  # the checkpoint stays
        assert not result_path(exp, 0, cwd / "results").exists()
        # SLURM holds a requeued task back for the credential lifetime (about 2 min); start it a few
        # seconds from now instead: a launch credential must be newer than the revoked one of the
        # first attempt (whole seconds), else slurmd refuses the task
        subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now+3"], check=True, timeout=30)
        wait_for(lambda: not squeue_states(job), 300, f"job {job} to finish")
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)

    log = err.read_text()
    assert "USR1 (time limit / pre-emption): stopping" in log, log
    assert "job 0: stopped by SIGUSR1; no result written" in log, log
    assert f"requeueing {task}" in log, log
    resumed = re.search(rf"resuming from the checkpoint after epoch (\d+) of {EPOCHS}", log)
    assert resumed, log
    epoch = int(resumed.group(1))
    assert sent_at <= epoch < EPOCHS
    assert log.index("stopped by SIGUSR1") < resumed.start()  # both attempts in one log, in order
    assert f"task {task}: exit code 0" in (cwd / "logs" / f"snnsim_{job}_0.out").read_text()
    st = json.loads(sweep("status", str(exp.path), "--json", env=env, cwd=cwd).stdout)
    assert st["done"] == [0], st
    assert not list(folder.glob(".*.ckpt*"))  # removed once the result was written

    # the same experiment, never stopped, in another results folder (`sweep run` in this process:
    # the numbers to compare with, which need no process of their own)
    alone = cwd / "alone"
    ran = run_here(cli.main, "run", exp.path, 0, env=dict(env, SNNSIM_RESULTS=str(alone)), cwd=cwd)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    requeued = results.load(result_path(exp, 0, cwd / "results"))
    local = results.load(result_path(exp, 0, alone))
    assert requeued.attrs["resumed_from_epoch"] == epoch and "resumed_from_epoch" not in local.attrs
    for ds in (requeued, local):
        assert all(ds.attrs[k] > 0 for k in JOB_ATTRS)
        ds.attrs = {k: v for k, v in ds.attrs.items() if k not in JOB_ATTRS}
    same_numbers(requeued, local)


@pytest.mark.slurm
def test_scancel_after_usr1_cancels_the_task_without_a_requeue(cluster, workdir):  # noqa: F811 - fixtures
    """``scancel`` (TERM) right after a USR1, while the task is stopping: the task ends and is not
    requeued; its checkpoint stays and ``status`` lists it missing. array.sh ignored the TERM
    after a USR1 and requeued the cancelled task (it ran again some 2 minutes later)."""
    cwd, env = workdir
    exp, folder, job, task = submit_one(cwd, env)
    try:
        wait_for(lambda: epoch_saved(folder) >= 2, 300, "a checkpoint of epoch 2", interval=0.05)
        subprocess.run(["scancel", "--signal=USR1", "-b", task], check=True, timeout=30)
        subprocess.run(["scancel", task], check=True, timeout=30)  # while the task stops (a second or so)
        wait_for(lambda: not squeue_states(job), 60, f"job {job} to leave the queue (a requeued task waits ~2 min)")
        assert job_field(task, "Restarts") in ("", "0")
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    err = (cwd / "logs" / f"snnsim_{job}_0.err").read_text()
    assert "TERM: stopping without a result; not requeued" in err, err
    assert "requeueing" not in err, err
    st = json.loads(sweep("status", str(exp.path), "--json", env=env, cwd=cwd).stdout)
    assert st["missing"] == [0] and st["done"] == [], st
    assert epoch_saved(folder) >= 2 and not result_path(exp, 0, cwd / "results").exists()


# -- slurm/array.sh's signal handling, with a stand-in for Python and scontrol (no cluster) ---------
def start_task(tmp_path, child: str) -> tuple[subprocess.Popen, os.PathLike]:
    """slurm/array.sh as array task 7_0, its child the bash code ``child`` instead of Python (it
    touches ``started`` once its traps are set) and an ``scontrol`` that records its arguments
    in ``calls``; returns the script's process once the child has started, and ``calls``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text('#!/bin/bash\necho "$*" >> "$CALLS"\n')
    (tmp_path / "python").write_text(f"#!/bin/bash\n{child}\n")
    for f in (bin_dir / "scontrol", tmp_path / "python"):
        f.chmod(0o755)
    calls = tmp_path / "calls"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SNNSIM_PYTHON=str(tmp_path / "python"),
               SLURM_ARRAY_JOB_ID="7", SLURM_ARRAY_TASK_ID="0", CALLS=str(calls))  # fmt: skip
    proc = subprocess.Popen(["bash", str(ROOT / "slurm" / "array.sh"), "x.toml"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for(lambda: (tmp_path / "started").exists(), 30, "the child to start", interval=0.02)
    return proc, calls


#: a child that stops on USR1 (as `sweep run` does: a second or so, further signals ignored)
STOPS = "trap 'trap \"\" TERM USR1; kill $s; sleep 1; exit 138' USR1; sleep 60 & s=$!; touch started; wait $s"


def test_usr1_requeues_the_task_its_child_stopped_for(tmp_path):
    proc, calls = start_task(tmp_path, STOPS)
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=30)
    assert "task 7_0: exit code 138" in out, out + err
    assert calls.read_text() == "requeue 7_0\n"


def test_usr1_as_the_child_ends_with_its_result_is_no_requeue(tmp_path):
    """A USR1 that lands as the child exits 0 (its result written): the script's wait, cut short
    by the trap, returned 138; where the child was reaped meanwhile (most of the time here), the
    script took 138 for the child's exit code and requeued the finished task. Five times over."""
    for attempt in range(5):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        proc, calls = start_task(folder, "trap 'exit 0' USR1; sleep 5 >/dev/null 2>&1 & touch started; wait $!")
        time.sleep(0.3)  # the script is in its wait
        proc.send_signal(signal.SIGUSR1)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "task 7_0: exit code 0" in out, f"attempt {attempt}: {out}{err}"
        assert "not requeued: it ended with exit code 0" in err, err
        assert not calls.exists(), calls.read_text()


def test_term_after_usr1_is_no_requeue(tmp_path):
    """scancel (TERM) while the child stops for a USR1: the task is cancelled, not requeued."""
    proc, calls = start_task(tmp_path, STOPS)
    proc.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert "TERM: stopping without a result; not requeued" in err, err
    assert "task 7_0: exit code 138" in out, out + err
    assert not calls.exists(), calls.read_text()


def test_tune_worker_script_reports_its_childs_own_exit_code(tmp_path):
    """slurm/tune.sh: a USR1 that lands as the worker exits 0 was reported as exit code 138 (the
    trap's, where bash had reaped the worker meanwhile), and the SLURM task failed. Five times."""
    for attempt in range(5):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        (folder / "python").write_text(
            "#!/bin/bash\ntrap 'exit 0' USR1; sleep 5 >/dev/null 2>&1 & touch started; wait $!\n"
        )
        (folder / "python").chmod(0o755)
        env = dict(os.environ, SNNSIM_PYTHON=str(folder / "python"))
        proc = subprocess.Popen(["bash", str(ROOT / "slurm" / "tune.sh"), "x.toml"], env=env, cwd=folder,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        wait_for(lambda f=folder: (f / "started").exists(), 30, "the worker to start", interval=0.02)
        time.sleep(0.3)  # the script is in its wait
        proc.send_signal(signal.SIGUSR1)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "worker exit code 0" in out, f"attempt {attempt}: {out}{err}"
