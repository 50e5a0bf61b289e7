"""A SLURM array task stopped by USR1 (the time-limit warning of ``#SBATCH --signal=B:USR1@60``,
here sent by hand with ``scancel --signal=USR1 -b``) is requeued by slurm/array.sh, and the
requeued task resumes from its per-epoch checkpoint and ends with the numbers of a run that was
never stopped, bit for bit (timings aside)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from sweep.test_slurm_e2e import cluster, job_field, squeue_states, wait_for, workdir  # noqa: F401 - fixtures
from test_training import same_numbers, sidecar

from snnsim import results
from snnsim.sweep import experiment
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


@pytest.mark.slurm
def test_usr1_requeues_the_task_and_it_resumes_bit_for_bit(cluster, workdir):  # noqa: F811 - fixtures
    cwd, env = workdir
    toml = cwd / "rq.toml"
    toml.write_text(EXPERIMENT)
    exp = experiment.load(toml)
    folder = cwd / "results" / "rq"
    sub = sweep("submit", str(toml), env=env, cwd=cwd)
    m = re.search(r"as SLURM array job (\d+) \(--array=0\)", sub.stdout)
    assert m, sub.stdout
    job = m.group(1)
    task = f"{job}_0"
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
    st = json.loads(sweep("status", str(toml), "--json", env=env, cwd=cwd).stdout)
    assert st["done"] == [0], st
    assert not list(folder.glob(".*.ckpt*"))  # removed once the result was written

    # the same experiment through `sweep local`, never stopped, in another results folder
    alone = cwd / "alone"
    sweep("local", str(toml), "--quiet", env=dict(env, SNNSIM_RESULTS=str(alone)), cwd=cwd)
    requeued = results.load(result_path(exp, 0, cwd / "results"))
    local = results.load(result_path(exp, 0, alone))
    assert requeued.attrs["resumed_from_epoch"] == epoch and "resumed_from_epoch" not in local.attrs
    for ds in (requeued, local):
        assert all(ds.attrs[k] > 0 for k in JOB_ATTRS)
        ds.attrs = {k: v for k, v in ds.attrs.items() if k not in JOB_ATTRS}
    same_numbers(requeued, local)
