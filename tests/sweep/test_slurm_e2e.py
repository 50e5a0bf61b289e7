"""End to end: the `smoke` experiment on a real one-node SLURM cluster, and the same sequence
through `sweep local` (always run); the killed sequences use a copy of it with longer trainings
and one seed (2 tasks, :func:`long_smoke`).

Sequence: submit every task, kill one task while it trains, see `status` report it missing,
resubmit only the missing index, merge, and check the merged dataset's dimensions,
coordinates and that every task's numbers appear exactly once, at their own coordinates.

The SLURM test uses a running cluster if `sinfo` answers; else, as root, it starts one with
`slurm/local-cluster.sh start` (and stops it afterwards); else it is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from in_process import run_here

from snnsim import results
from snnsim.sweep import cli, experiment
from snnsim.sweep.jobs import checkpoint_path, result_path

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "smoke.toml"
CLUSTER = ROOT / "slurm" / "local-cluster.sh"
#: Epochs of the killed sequences' grid: its tasks train for seconds, not milliseconds, so
#: that a kill after a task's first checkpoint lands while it trains (as in test_slurm_requeue,
#: whose one job of these settings is stopped by ``scancel`` after its epoch 2).
LONG_EPOCHS = 120
#: Seeds of the killed sequences' grid: one (2 tasks, readout mean and fr), so that its tasks run
#: at once on the 2 CPUs (of `sweep local -j 2` and of the one-node cluster), not in two rounds
#: of process start-ups; both swept settings stay dimensions of the merged file.
LONG_SEEDS = "seed = [0]"


def sweep(*args, env, cwd, check=True, timeout=300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "snnsim.sweep", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"sweep {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def here(*args, env, cwd, check=True) -> subprocess.CompletedProcess:
    """``python -m snnsim.sweep ARGS`` run in this process (in_process.run_here): for the further
    cases of a command whose first case in this module runs as a process of its own."""
    proc = run_here(cli.main, *args, env=env, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"sweep {' '.join(map(str, args))} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def status(env, cwd, path=SMOKE, in_process=False) -> dict:
    """``sweep status --json``, as a process of its own, or ``in_process`` (:func:`here`)."""
    if in_process:
        return json.loads(here("status", path, "--json", env=env, cwd=cwd).stdout)
    return json.loads(sweep("status", str(path), "--json", env=env, cwd=cwd).stdout)


def long_smoke(cwd: Path) -> Path:
    """The smoke grid with :data:`LONG_EPOCHS` epochs and the seeds :data:`LONG_SEEDS` (2 tasks),
    as ``cwd/smoke.toml``."""
    text = SMOKE.read_text()
    assert "\nepochs = 16\n" in text and "\nseed = [0, 1]\n" in text
    path = cwd / "smoke.toml"
    path.write_text(
        text.replace("\nepochs = 16\n", f"\nepochs = {LONG_EPOCHS}\n").replace("\nseed = [0, 1]\n", f"\n{LONG_SEEDS}\n")
    )
    assert experiment.load(path).grid_size == 2
    return path


def first_checkpoint(exp, index: int, cwd: Path) -> Path | None:
    """The checkpoint of job ``index`` once its first epoch is saved (it is training)."""
    path = checkpoint_path(exp, [index], [0], cwd / "results")
    return path if path.exists() else None


def wait_for(predicate, timeout, what, interval=0.3):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def check_merged(root: Path, path: Path = SMOKE) -> None:
    """The merged file: one dim per swept setting, task coordinates, every value once."""
    exp = experiment.load(path)
    ds = results.load(root / exp.name)  # results/NAME -> results/NAME.h5
    assert list(ds.dims)[: len(exp.keys)] == list(exp.keys)
    for key, values in exp.swept.items():
        assert ds[key].values.tolist() == list(values)
        assert ds.sizes[key] == len(values)
    cfg = exp.config(0)
    assert ds.sizes["epoch"] == cfg.epochs and ds.sizes["repeat"] == 1
    assert ds.test_acc.dims == (*exp.keys, "repeat")
    assert json.loads(ds.attrs["missing"]) == [] and ds.attrs["n_jobs"] == exp.grid_size
    assert sorted(ds.job_index.values.ravel().tolist()) == list(range(exp.grid_size))
    assert np.isfinite(ds.test_acc).all() and np.isfinite(ds.loss).all()
    for i in range(exp.grid_size):
        task = results.load(result_path(exp, i, root))
        point = ds.sel(exp.settings(i))
        assert int(point.job_index) == i
        for name in ("test_acc", "train_acc", "loss", "confusion", "train_seconds"):
            np.testing.assert_array_equal(point[name].values, task[name].values, err_msg=f"task {i} {name}")
    # and no two tasks are the same numbers (a duplicated file would show here)
    losses = ds.loss.values.reshape(exp.grid_size, -1)
    assert len({tuple(row) for row in losses}) == exp.grid_size


@pytest.fixture
def workdir(tmp_path):
    env = dict(os.environ, SNNSIM_RESULTS=str(tmp_path / "results"), SNNSIM_PYTHON=sys.executable)
    env.pop("SLURM_ARRAY_TASK_ID", None)
    return tmp_path, env


def _children_running(parent: int, index: int, path: Path = SMOKE) -> list[int]:
    """PIDs of `snnsim.sweep run ... INDEX` processes started by ``parent``."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")[:-1]
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"snnsim.sweep" in argv and argv[-2:] == [str(path).encode(), str(index).encode()]:
            out.append(int(p.name))
    return out


@pytest.mark.slow
def test_local_sequence(workdir):
    """submit all (sweep local -j 2), SIGKILL one task while it trains (after its first
    checkpoint), status, rerun missing (it resumes from the checkpoint), merge."""
    cwd, env = workdir
    path = long_smoke(cwd)
    exp = experiment.load(path)
    victim = 1
    local = subprocess.Popen(
        [sys.executable, "-m", "snnsim.sweep", "local", str(path), "-j", "2", "--quiet"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = cwd / "results" / "smoke" / "logs" / f"job-{victim}.log"
    pid = wait_for(lambda: _children_running(local.pid, victim, path), 60, f"task {victim} to start")[0]
    checkpoint = wait_for(lambda: first_checkpoint(exp, victim, cwd), 120, f"task {victim} to train", interval=0.05)
    os.kill(pid, signal.SIGKILL)
    out, err = local.communicate(timeout=180)
    assert local.returncode == 1, out + err
    assert f"job {victim}: killed by signal 9 (SIGKILL); log {log}" in out
    assert checkpoint.exists() and not result_path(exp, victim, cwd / "results").exists()
    st = status(env, cwd, path)
    assert st["missing"] == [victim] and st["todo_array"] == str(victim)
    assert st["done"] == [i for i in range(exp.grid_size) if i != victim]
    assert st["failed"] == st["corrupt"] == st["stale"] == []
    # merge refuses the hole
    refused = sweep("merge", str(path), env=env, cwd=cwd, check=False)
    assert refused.returncode == 2 and f"missing {victim}" in refused.stderr
    # rerun: only the missing index runs, from the epoch its checkpoint saved
    # (the commands' further cases in this process: the job itself still runs as a process of its own)
    again = here("local", path, "-j", "2", "--quiet", env=env, cwd=cwd)
    assert "ran 1 job " in again.stdout and "1 ok, 0 not ok" in again.stdout
    m = re.search(r"resuming from the checkpoint after epoch (\d+) of (\d+)", log.read_text())
    assert m and 1 <= int(m.group(1)) < LONG_EPOCHS == int(m.group(2)), log.read_text()
    assert status(env, cwd, path, in_process=True)["done"] == list(range(exp.grid_size))
    assert not checkpoint.exists()
    assert "nothing to run" in here("local", path, env=env, cwd=cwd).stdout
    here("merge", path, env=env, cwd=cwd)
    check_merged(cwd / "results", path)


# -- the real cluster ------------------------------------------------------------------------------
def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=20)
    return proc.returncode == 0 and any(
        s.strip() in ("idle", "mixed", "allocated", "completing") for s in proc.stdout.splitlines()
    )


@pytest.fixture(scope="session")
def cluster():
    """The one-node cluster for every SLURM test of the session (they run on one xdist worker):
    started once and stopped at the end, not stopped and started again between modules."""
    if _cluster_up():
        yield "running"
        return
    if os.geteuid() != 0:
        pytest.skip(
            "no SLURM cluster answers (sinfo) and not root, so slurm/local-cluster.sh cannot start one; "
            "the same sequence ran through `sweep local` in test_local_sequence"
        )
    proc = subprocess.run([str(CLUSTER), "start"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not _cluster_up():
        pytest.skip(
            f"slurm/local-cluster.sh start failed (exit {proc.returncode}): "
            f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no message'}"
        )
    yield "started"
    subprocess.run([str(CLUSTER), "stop"], capture_output=True, text=True, timeout=60)


def squeue_states(job: str) -> dict[str, str]:
    """Task id -> state of the job's tasks still queued or running ({} once all have left). A
    failed query (squeue times out on a loaded machine) is asked again, never read as empty."""
    for _ in range(20):
        proc = subprocess.run(["squeue", "-h", "-r", "-j", job, "-o", "%i %T"], capture_output=True, text=True)
        if proc.returncode == 0:
            return dict(line.split() for line in proc.stdout.splitlines() if line.strip())
        if "Invalid job id" in proc.stderr:  # gone from the controller (MinJobAge after its end)
            return {}
        time.sleep(0.5)
    raise AssertionError(f"squeue kept failing: {proc.stderr.strip()}")


def job_field(task: str, field: str) -> str:
    proc = subprocess.run(["scontrol", "show", "job", task], capture_output=True, text=True)
    m = re.search(rf"\b{field}=(\S+)", proc.stdout)
    return m.group(1) if m else ""


@pytest.mark.slurm
def test_slurm_sequence(cluster, workdir):
    """sbatch the smoke grid; scancel one task while it trains (after its first checkpoint);
    status shows it missing; `sweep submit` resubmits only it, and it resumes; merge."""
    cwd, env = workdir
    path = long_smoke(cwd)
    exp = experiment.load(path)
    n = exp.grid_size
    (cwd / "logs").mkdir()
    start = time.monotonic()
    sub = subprocess.run(
        ["sbatch", "--parsable", f"--array=0-{n - 1}", str(ROOT / "slurm" / "array.sh"), str(path)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert sub.returncode == 0, sub.stderr
    job = sub.stdout.strip().split(";")[0]
    cancelled = 1

    try:
        # the user cancels one task while it trains (SLURM sends TERM to the batch shell and Python)
        checkpoint = wait_for(lambda: first_checkpoint(exp, cancelled, cwd), 120, f"task {cancelled} to train", 0.05)
        subprocess.run(["scancel", f"{job}_{cancelled}"], check=True, timeout=30)
        wait_for(lambda: not squeue_states(job), 180, f"job {job} to finish")
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)

    err = (cwd / "logs" / f"snnsim_{job}_{cancelled}.err").read_text()
    assert "stopped by SIGTERM; no result written" in err, err
    assert checkpoint.exists()
    st = status(env, cwd, path)
    assert st["missing"] == [cancelled], st
    assert st["done"] == [i for i in range(n) if i != cancelled]
    assert st["failed"] == st["corrupt"] == st["stale"] == []
    refused = sweep("merge", str(path), env=env, cwd=cwd, check=False)
    assert refused.returncode == 2 and f"missing {cancelled}" in refused.stderr

    resub = sweep("submit", str(path), env=env, cwd=cwd)
    m = re.search(r"submitted 1 job as SLURM array job (\d+) \(--array=(\S+)\)", resub.stdout)
    assert m and m.group(2) == str(cancelled), resub.stdout
    job2 = m.group(1)
    try:
        wait_for(lambda: not squeue_states(job2), 120, f"job {job2} to finish")
    finally:
        subprocess.run(["scancel", job2], capture_output=True, timeout=30)
    assert (cwd / "logs" / f"snnsim_{job2}_{cancelled}.out").exists()
    err2 = (cwd / "logs" / f"snnsim_{job2}_{cancelled}.err").read_text()
    m = re.search(r"resuming from the checkpoint after epoch (\d+) of (\d+)", err2)
    assert m and 1 <= int(m.group(1)) < LONG_EPOCHS == int(m.group(2)), err2
    assert status(env, cwd, path, in_process=True)["done"] == list(range(n))
    here("merge", path, env=env, cwd=cwd)
    check_merged(cwd / "results", path)
    print(f"slurm e2e: {time.monotonic() - start:.0f} s")


@pytest.mark.slurm
def test_slurm_packs(cluster, workdir):
    """`sweep submit --pack 2`: the 4 smoke tasks as 2 array tasks of 2 (strided), every task's
    file written, the grid merges, and the numbers equal the tasks run one by one."""
    cwd, env = workdir
    exp = experiment.load(SMOKE)
    (cwd / "logs").mkdir()
    sub = sweep("submit", str(SMOKE), "--pack", "2", env=env, cwd=cwd)
    m = re.search(r"submitted 4 jobs in 2 packs of at most 2 as SLURM array job (\d+) \(--array=0-1\)", sub.stdout)
    assert m, sub.stdout
    job = m.group(1)
    try:
        wait_for(lambda: not squeue_states(job), 180, f"job {job} to finish")
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    err = (cwd / "logs" / f"snnsim_{job}_0.err").read_text()
    assert "pack 0 of 2 (2 jobs): 0,2" in err, err
    assert status(env, cwd, in_process=True)["done"] == list(range(exp.grid_size))
    here("merge", SMOKE, env=env, cwd=cwd)
    check_merged(cwd / "results")
    alone = cwd / "alone"
    for i in (0, 3):
        here("run", SMOKE, i, env=dict(env, SNNSIM_RESULTS=str(alone)), cwd=cwd)
        a = results.load(result_path(exp, i, alone))
        b = results.load(result_path(exp, i, cwd / "results"))
        for name in ("loss", "test_acc", "confusion", "w1"):
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"task {i} {name}")


def test_submit_asks_a_controller_that_does_not_answer_once_and_says_what_it_left_unchecked(tmp_path):
    """SLURM installed, its controller down: ``submit`` asked ``scontrol`` for the array size and
    then for the nodes' memory (some 9 s each to give up), and printed its line after that without
    a word of either. It asks once, and says what it could not check. The controller is a real
    one that does not answer: a configuration naming a port nobody listens on."""
    if shutil.which("scontrol") is None:
        pytest.skip("no scontrol here (slurm/local-cluster.sh installs it, as in CI)")
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        "ClusterName=down\nSlurmctldHost=localhost\nSlurmctldPort=1\nMessageTimeout=1\nAuthType=auth/none\n"
    )
    env = dict(os.environ, SLURM_CONF=str(conf))
    proc = run_here(cli.main, "--results-dir", tmp_path / "r", "submit", SMOKE, "--dry-run", env=env, cwd=tmp_path)
    assert proc.returncode == 0 and " sbatch --parsable --array=0-3 " in proc.stdout, proc.stderr
    notes = proc.stderr.splitlines()
    assert len(notes) == 1 and notes[0].startswith("snnsim.sweep: note: scontrol show config: "), notes
    assert notes[0].endswith("; this cluster's MaxArraySize and node memory are not checked"), notes


@pytest.mark.slurm
def test_submit_refuses_an_array_past_max_array_size(cluster, workdir):
    """sbatch would answer only "Invalid job array specification"; submit names the limit and the
    --pack that fits, and with that pack the array fits."""
    from snnsim.sweep.cli import max_array_size

    cwd, env = workdir
    limit = max_array_size()
    assert limit is not None and limit > 1, "scontrol show config gives MaxArraySize"
    n = limit + 5
    path = cwd / "big.toml"
    path.write_text(f'name = "big"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\nseed = {list(range(n))}\n')
    refused = sweep("submit", str(path), env=env, cwd=cwd, check=False)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"snnsim.sweep: error: submit: job {n - 1} is past this cluster's MaxArraySize ({limit}: array indices "
        f"0..{limit - 1}); --pack 2 runs the {n} jobs as {-(-n // 2)} array tasks"
    ]
    packed = here("submit", path, "--pack", "2", "--dry-run", env=env, cwd=cwd)
    assert f"--array=0-{-(-n // 2) - 1} " in packed.stdout
    assert not (cwd / "results" / "big").exists()


@pytest.mark.slurm
def test_submit_refuses_a_job_larger_than_the_largest_node(cluster, workdir):
    """A job whose memory estimate (runner.estimate_memory) is past every node's memory would be
    refused when it starts, after its wait in the queue: submit refuses it first, naming the job,
    its settings, the estimate and the node's memory; the jobs that fit are submitted alone."""
    from snnsim import runner

    cwd, env = workdir
    shown = subprocess.run(["scontrol", "-o", "show", "node"], capture_output=True, text=True, timeout=60).stdout
    node = max(int(mb) * 2**20 for mb in re.findall(r"\bRealMemory=(\d+)", shown))
    assert node > 10**9, shown
    path = cwd / "huge.toml"
    path.write_text('name = "huge"\n[fixed]\nstudy = "ipd"\nepochs = 1\n[sweep]\nhidden = [8, 100000]\n')
    exp = experiment.load(path)
    for args in ([], ["--pack", "2"]):
        cfgs = [exp.config(i) for i in ((0, 1) if args else (1,))]
        need = runner.estimate_memory(cfgs, runner.plan(cfgs))
        assert need > node
        # the first case as a process of its own, the second in this one
        refused = (here if args else sweep)("submit", str(path), "--dry-run", *args, env=env, cwd=cwd, check=False)
        what = "pack 0 (jobs 0-1)" if args else "job 1 (hidden=100000)"
        assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
            f"snnsim.sweep: error: submit: {what} needs about {need / 1e9:.1f} GB of memory (estimated), more than "
            f"the {node / 1e9:.1f} GB of this cluster's largest node: it would be refused when it starts; use smaller "
            "settings (batch_size, hidden, n_train_batches, n_test_batches, repeats, duration, max_delay); no job "
            "submitted"
        ], refused.stderr
    path.write_text(path.read_text().replace("100000", "16"))
    assert "--array=0-1 " in here("submit", path, "--dry-run", env=env, cwd=cwd).stdout
    assert not (cwd / "results" / "huge").exists()


@pytest.mark.slurm
def test_jobs_waiting_in_the_queue_are_queued_not_missing(cluster, workdir):
    """`submit --pack 2` held in the queue (`--hold`): `status` shows the 4 jobs queued, not
    missing; a second `submit` and `local` start none of them; `merge` names them. A third `submit` without packs, of only what is not queued, after `scancel` of one
    pack: its 2 jobs are missing again and only they are submitted."""
    cwd, env = workdir
    exp = experiment.load(SMOKE)
    (cwd / "logs").mkdir()
    sub = sweep("submit", str(SMOKE), "--pack", "2", "--sbatch-args=--hold", env=env, cwd=cwd)
    m = re.search(r"as SLURM array job (\d+) \(--array=0-1\)", sub.stdout)
    assert m, sub.stdout
    job = m.group(1)
    jobs = []
    try:
        st = status(env, cwd)
        assert st["queued"] == list(range(exp.grid_size)) and st["missing"] == [] and st["todo_array"] == "", st
        assert st["reasons"] == {str(i): f"SLURM job {job}_{i % 2} PENDING (JobHeldUser)" for i in range(exp.grid_size)}
        text = here("status", SMOKE, env=env, cwd=cwd).stdout
        assert f"queued: 0-3 (SLURM job {job}: 4 PENDING (JobHeldUser))" in text and "to resubmit" not in text, text
        again = here("submit", SMOKE, env=env, cwd=cwd)
        assert "nothing to submit (0 of 4 jobs done; 4 queued in SLURM)" in again.stdout, again.stdout
        assert "nothing to run" in here("local", SMOKE, env=env, cwd=cwd).stdout
        refused = here("merge", SMOKE, env=env, cwd=cwd, check=False)
        assert refused.returncode == 2 and "4 of 4 jobs not done (queued 0-3)" in refused.stderr, refused.stderr
        # pack 1 (jobs 1 and 3) cancelled: those two are missing, and the next submit sends only them
        subprocess.run(["scancel", f"{job}_1"], check=True, timeout=30)
        wait_for(lambda: "1" not in squeue_states(job) and f"{job}_1" not in squeue_states(job), 60, "the cancel")
        st = status(env, cwd, in_process=True)
        assert st["queued"] == [0, 2] and st["missing"] == [1, 3], st
        third = here("submit", SMOKE, "--sbatch-args=--hold", env=env, cwd=cwd)
        assert f"jobs 0,2 wait in the SLURM queue already (SLURM job {job}: 2 PENDING (JobHeldUser))" in third.stdout, (
            third.stdout
        )
        m = re.search(r"submitted 2 jobs as SLURM array job (\d+) \(--array=1,3\)", third.stdout)
        assert m, third.stdout
        jobs.append(m.group(1))
        st = status(env, cwd, in_process=True)
        assert st["queued"] == [0, 1, 2, 3] and st["reasons"]["3"] == f"SLURM job {jobs[0]}_3 PENDING (JobHeldUser)", st
    finally:
        subprocess.run(["scancel", job, *jobs], capture_output=True, timeout=30)
    wait_for(lambda: not squeue_states(job) and not squeue_states(jobs[0]), 60, "the jobs to leave the queue")
    st = status(env, cwd, in_process=True)
    assert st["missing"] == [0, 1, 2, 3] and st["queued"] == [], st
    # a record that cannot be written: the jobs are submitted all the same, with a note
    record = cwd / "results" / "smoke" / ".slurm-submitted"
    record.unlink()
    record.mkdir()
    sub = here("submit", SMOKE, "--sbatch-args=--hold", env=env, cwd=cwd)
    m = re.search(r"submitted 4 jobs as SLURM array job (\d+)", sub.stdout)
    assert m, sub.stdout
    subprocess.run(["scancel", m.group(1)], capture_output=True, timeout=30)
    assert f"could not record array job {m.group(1)} in {record}" in sub.stderr, sub.stderr


@pytest.mark.slurm
def test_two_submits_at_once_send_each_job_once(cluster, workdir):
    """Two `submit`s of one experiment started together: one sends the 4 jobs, the other waits
    for it, then finds them queued and sends nothing; the record keeps the one array job."""
    cwd, env = workdir
    (cwd / "logs").mkdir()
    cmd = [sys.executable, "-m", "snnsim.sweep", "submit", str(SMOKE), "--sbatch-args=--hold"]
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    sent = [m.group(1) for out, _ in outs if (m := re.search(r"as SLURM array job (\d+)", out))]
    try:
        assert [p.returncode for p in procs] == [0, 0], outs
        assert len(sent) == 1, outs
        assert any("nothing to submit (0 of 4 jobs done; 4 queued in SLURM)" in out for out, _ in outs), outs
        record = (cwd / "results" / "smoke" / ".slurm-submitted").read_text()
        assert record == f"{sent[0]} 0 0 {cwd / 'logs' / f'snnsim_{sent[0]}_%a.err'}\n", record  # where its tasks log
    finally:
        subprocess.run(["scancel", *sent], capture_output=True, timeout=30)


@pytest.mark.slurm
def test_tasks_of_an_experiment_edited_after_submit_are_refused(cluster, workdir):
    """An array task reads the experiment file as it starts: one edited since `submit` (here a
    fixed setting, while the tasks are held) would run the new file's points at the old indices.
    Each task refuses instead (one line in its log naming `sweep submit`), writes nothing, and
    `status` shows the jobs missing, to submit again."""
    cwd, env = workdir
    (cwd / "logs").mkdir()
    toml = cwd / "smoke.toml"
    text = SMOKE.read_text()
    assert "\nepochs = 16\n" in text
    toml.write_text(text)
    sub = sweep("submit", str(toml), "--sbatch-args=--hold", env=env, cwd=cwd)
    m = re.search(r"as SLURM array job (\d+) \(--array=0-3\)", sub.stdout)
    assert m, sub.stdout
    job = m.group(1)
    try:
        toml.write_text(text.replace("\nepochs = 16\n", "\nepochs = 2\n"))
        subprocess.run(["scontrol", "release", job], check=True, timeout=30)
        wait_for(lambda: not squeue_states(job), 240, "the edited experiment's tasks to end")
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    for i in range(4):
        err = (cwd / "logs" / f"snnsim_{job}_{i}.err").read_text()
        assert (f"snnsim.sweep: error: run: {toml} changed since `sweep submit` read it: this job was not run; "
                "run `sweep submit` again for the file as it is now") in err, err  # fmt: skip
        assert not result_path(experiment.load(toml), i, cwd / "results").exists()
    assert status(env, cwd, toml, in_process=True)["missing"] == [0, 1, 2, 3]


@pytest.mark.slurm
def test_a_stale_job_in_a_queued_pack_stays_stale(cluster, workdir):
    """A pack held in the queue that holds a stale job: the task will leave that job alone (it
    was not sent with --rerun-stale), so `status` shows it stale, not queued, and a `submit
    --rerun-stale` sends it."""
    cwd, env = workdir
    (cwd / "logs").mkdir()
    path = cwd / "smoke.toml"
    path.write_text(SMOKE.read_text())
    here("run", path, 0, env=env, cwd=cwd)
    path.write_text(SMOKE.read_text().replace("\nepochs = 16\n", "\nepochs = 15\n"))
    st = status(env, cwd, path)
    assert st["stale"] == [0] and st["missing"] == [1, 2, 3], st
    sub = sweep("submit", str(path), "--pack", "2", "--sbatch-args=--hold", env=env, cwd=cwd)
    m = re.search(r"submitted 3 jobs in 2 packs of at most 2 as SLURM array job (\d+) \(--array=0-1\)", sub.stdout)
    assert m, sub.stdout
    jobs = [m.group(1)]
    try:
        st = status(env, cwd, path, in_process=True)
        assert st["stale"] == [0] and st["queued"] == [1, 2, 3], st
        again = here("submit", path, "--rerun-stale", "--sbatch-args=--hold", env=env, cwd=cwd)
        m = re.search(r"submitted 1 job as SLURM array job (\d+) \(--array=0\)", again.stdout)
        assert m, again.stdout
        jobs.append(m.group(1))
        st = status(env, cwd, path, in_process=True)
        assert st["queued"] == [0, 1, 2, 3] and st["reasons"]["0"] == f"SLURM job {jobs[1]}_0 PENDING (JobHeldUser)", st
    finally:
        subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
    wait_for(lambda: not any(squeue_states(j) for j in jobs), 60, "the jobs to leave the queue")


@pytest.mark.slurm
def test_a_job_its_running_pack_has_failed_is_failed_not_starting(cluster, workdir):
    """A pack task running in SLURM that has failed one of its jobs (job 0 diverges in its first
    epoch) while it trains the other: `status` showed job 0 running ("(starting)", its task
    RUNNING), as if the task would still run it; it is failed, to resubmit."""
    cwd, env = workdir
    (cwd / "logs").mkdir()
    path = cwd / "pk.toml"
    path.write_text(
        'name = "pk"\n[fixed]\nstudy = "ipd"\nbackend = "fused"\nn_train_batches = 2\nn_test_batches = 1\n'
        "batch_size = 8\n[[sweep]]\nhidden = [8]\nlr = [1e30]\nepochs = [1]\n"
        "[[sweep]]\nhidden = [16]\nlr = [0.01]\nepochs = [100000]\n"
    )
    sub = sweep("submit", str(path), "--pack", "2", env=env, cwd=cwd)
    m = re.search(r"as SLURM array job (\d+) \(--array=0\)", sub.stdout)
    assert m, sub.stdout
    try:
        wait_for(lambda: (cwd / "results" / "pk" / "job-0.failed").exists(), 240, "job 0 to fail")
        st = status(env, cwd, path, in_process=True)
        assert squeue_states(m.group(1)) == {f"{m.group(1)}_0": "RUNNING"}, "the pack ended before the status was read"
    finally:
        subprocess.run(["scancel", m.group(1)], capture_output=True, timeout=30)
    assert st["failed"] == [0] and st["running"] == [1], st
    assert "diverged in epoch 1" in st["reasons"]["0"], st
    wait_for(lambda: not squeue_states(m.group(1)), 60, "the pack to leave the queue")


@pytest.mark.slurm
def test_a_submit_that_cannot_ask_squeue_keeps_the_record(cluster, workdir):
    """A second `submit` while `squeue` cannot answer (here: a PATH with sbatch and scontrol but
    no squeue; on a loaded cluster, a time-out) still records the first array job: once the
    second has left the queue, the first one's jobs show queued, not missing to resubmit. And
    the user's own $SQUEUE_* settings (here $SQUEUE_STATES=RUNNING) do not hide queued jobs."""
    cwd, env = workdir
    (cwd / "logs").mkdir()
    first = sweep("submit", str(SMOKE), "--sbatch-args=--hold", env=env, cwd=cwd)
    m = re.search(r"as SLURM array job (\d+) \(--array=0-3\)", first.stdout)
    assert m, first.stdout
    jobs = [m.group(1)]
    try:
        assert status(dict(env, SQUEUE_STATES="RUNNING"), cwd)["queued"] == [0, 1, 2, 3]
        bin_dir = cwd / "bin"
        bin_dir.mkdir()
        for tool in ("sbatch", "scontrol"):
            (bin_dir / tool).symlink_to(shutil.which(tool))
        blind = dict(env, PATH=str(bin_dir))
        # status cannot tell the jobs queued, and says so, naming the array job and the reason
        seen = sweep("status", str(SMOKE), env=blind, cwd=cwd)
        assert (f"note: could not ask SLURM which jobs of array job(s) {jobs[0]} still wait (squeue not "
                "found); jobs waiting in the queue show as missing") in seen.stderr, seen.stderr  # fmt: skip
        second = sweep("submit", str(SMOKE), "--all", "--sbatch-args=--hold", env=blind, cwd=cwd)
        m = re.search(r"as SLURM array job (\d+) \(--array=0-3\)", second.stdout)
        assert m, second.stdout
        jobs.append(m.group(1))
        subprocess.run(["scancel", jobs[1]], check=True, timeout=30)
        wait_for(lambda: not squeue_states(jobs[1]), 60, "the second array job to leave the queue")
        st = status(env, cwd, in_process=True)
        assert st["queued"] == [0, 1, 2, 3] and st["missing"] == [], st
        assert st["reasons"]["0"] == f"SLURM job {jobs[0]}_0 PENDING (JobHeldUser)", st
    finally:
        subprocess.run(["scancel", *jobs], capture_output=True, timeout=30)
    wait_for(lambda: not any(squeue_states(j) for j in jobs), 60, "the jobs to leave the queue")


@pytest.mark.slurm
def test_status_asks_squeue_for_this_user_by_number(cluster, workdir):
    """`status` of a grid with a recorded array job asks squeue for the jobs of this user id:
    with $USER naming another user, the held jobs are still queued; and a user id with no name
    (a container run with --user, here a user namespace) and no $USER gets a status, not a
    KeyError traceback from getpass."""
    cwd, env = workdir
    (cwd / "logs").mkdir()
    sub = sweep("submit", str(SMOKE), "--sbatch-args=--hold", env=env, cwd=cwd)
    m = re.search(r"as SLURM array job (\d+) \(--array=0-3\)", sub.stdout)
    assert m, sub.stdout
    try:
        st = status(dict(env, USER="nobody", LOGNAME="nobody"), cwd)
        assert st["queued"] == [0, 1, 2, 3], st
        nameless = ["unshare", "--user", "--map-user=54321", "--map-group=54321"]
        if subprocess.run([*nameless, "true"], capture_output=True).returncode != 0:
            pytest.skip("no user namespaces here (unshare --user)")
        bare = {k: v for k, v in env.items() if k not in ("USER", "LOGNAME", "LNAME", "USERNAME")}
        proc = subprocess.run([*nameless, sys.executable, "-m", "snnsim.sweep", "status", str(SMOKE)], env=bare,
                              cwd=cwd, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "smoke: 4 jobs in" in proc.stdout, proc.stdout
    finally:
        subprocess.run(["scancel", m.group(1)], capture_output=True, timeout=30)
    wait_for(lambda: not squeue_states(m.group(1)), 60, "the jobs to leave the queue")


def submit_script(workdir, body: str) -> str:
    """``sweep submit SMOKE --script`` of a script running ``body`` in place of the jobs (they
    take no lock and write nothing): its array job's id."""
    cwd, env = workdir
    (cwd / "logs").mkdir()
    script = cwd / "slow.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --output=logs/%x_%A_%a.out\n#SBATCH --mem=100M\n{body}")
    sub = sweep("submit", str(SMOKE), "--script", str(script), env=env, cwd=cwd)
    m = re.search(r"as SLURM array job (\d+) \(--array=0-3\)", sub.stdout)
    assert m, sub.stdout
    return m.group(1)


@pytest.mark.slurm
def test_a_task_that_slurm_runs_is_running_before_it_takes_its_lock(cluster, workdir):
    """A task that SLURM runs but whose `sweep run` has not taken its job's lock yet (Python still
    starting) was `queued`: `status` said "running 0 queued 4" where squeue showed 2 tasks
    running, and a `submit` a moment later "2 running; 2 queued". It is running now, starting in
    its SLURM task. The tasks here are a script that only sleeps (`submit --script`): they never
    take the lock, so the window stays open."""
    cwd, env = workdir
    job = submit_script(workdir, "sleep 120\n")
    try:
        tasks = wait_for(lambda: [t for t, s in squeue_states(job).items() if s == "RUNNING"], 60, "a task to run")
        running = sorted(int(t.rsplit("_", 1)[1]) for t in tasks)
        st = status(env, cwd)
        assert st["running"] == running and st["queued"] == [i for i in range(4) if i not in running], st
        assert st["reasons"][str(running[0])] == f"(starting) in SLURM job {job}_{running[0]}", st
        text = here("status", SMOKE, env=env, cwd=cwd).stdout
        assert f"running {len(running)}  queued {4 - len(running)}" in text, text
        assert f"job {running[0]} running (starting) in SLURM job {job}_{running[0]}" in text, text
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    wait_for(lambda: not squeue_states(job), 60, "the jobs to leave the queue")


@pytest.mark.slurm
def test_a_task_on_a_full_results_disk_is_failed_with_its_reason(cluster, workdir):
    """The results on a full file system (a real tmpfs), the tasks' SLURM logs elsewhere: each task
    ended with exit code 5 and its reason in its log, but no `.failed` marker could be written, so
    `status` listed the jobs missing, with no sign that the disk was full. It reads the failure
    from the task's log now (submit records where the tasks log): failed, with the reason and the
    log; `submit --failed` sends them again."""
    from small_disk import fill, mounted_tmpfs

    cwd, env = workdir
    (cwd / "logs").mkdir()
    with mounted_tmpfs(cwd / "results", size="256k") as folder:
        sub = sweep("submit", str(SMOKE), "--sbatch-args=--hold", env=env, cwd=cwd)
        m = re.search(r"as SLURM array job (\d+) \(--array=0-3\)", sub.stdout)
        assert m, sub.stdout
        job = m.group(1)
        try:
            fill(folder)
            subprocess.run(["scontrol", "release", job], check=True, timeout=30)
            wait_for(lambda: not squeue_states(job), 120, f"job {job} to finish")
        finally:
            subprocess.run(["scancel", job], capture_output=True, timeout=30)
        assert "No space left on device" in (cwd / "logs" / f"snnsim_{job}_0.err").read_text()
        st = status(env, cwd)
        assert st["failed"] == [0, 1, 2, 3] and st["missing"] == [], st
        for i in range(4):
            assert st["reasons"][str(i)] == (
                f"cannot write {folder / 'smoke' / f'.job-{i}.lock'}: No space left on device; nothing written "
                f"there (SLURM job {job}_{i}, log {cwd / 'logs' / f'snnsim_{job}_{i}.err'})"
            ), st
        text = here("status", SMOKE, env=env, cwd=cwd).stdout
        assert f"job 0 failed: cannot write {folder / 'smoke' / '.job-0.lock'}: No space left on device" in text
        assert "--array=0-3 " in here("submit", SMOKE, "--failed", "--dry-run", env=env, cwd=cwd).stdout


@pytest.mark.slurm
def test_a_submit_stopped_after_sbatch_still_records_and_names_its_array_job(cluster, workdir):
    """SIGTERM (or Ctrl-C) to `submit` while it asked squeue, after sbatch had taken the array job
    (here a squeue that does not answer): it said "stopped by SIGTERM; no result written", with
    neither the array job's id on stdout nor its record, so `status` showed the jobs missing and
    the next `submit` sent them all again. The array job is recorded (without asking squeue) and
    named now, and the submit still ends as stopped."""
    cwd, env = workdir
    (cwd / "logs").mkdir()
    bin_dir = cwd / "bin"
    bin_dir.mkdir()
    for tool in ("sbatch", "scontrol"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "squeue").write_text("#!/bin/sh\nexec sleep 60\n")
    (bin_dir / "squeue").chmod(0o755)
    proc = subprocess.Popen([sys.executable, "-m", "snnsim.sweep", "submit", str(SMOKE), "--sbatch-args=--hold"],
                            env=dict(env, PATH=f"{bin_dir}{os.pathsep}{env['PATH']}"), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert "waiting for the SLURM controller: squeue" in proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    m = re.search(r"submitted 4 jobs as SLURM array job (\d+) \(--array=0-3\)", out)
    try:
        assert m, (out, err)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert f"stopped by SIGTERM after submitting array job {m.group(1)}" in err, err
        st = status(env, cwd)
        assert st["queued"] == [0, 1, 2, 3] and st["missing"] == [], st
    finally:
        if m:
            subprocess.run(["scancel", m.group(1)], capture_output=True, timeout=30)


@pytest.mark.slurm
def test_tasks_ending_after_scancel_are_not_queued(cluster, workdir):
    """`scancel` of a `submit`ted array mid-way: its running tasks stay COMPLETING in squeue while
    they stop (here a script that takes 10 s to stop). `status` listed their jobs queued ("2
    COMPLETING") and a `submit` then left them out as waiting in the queue already: they never
    ran. A completing task runs no job: they are missing, and submitted again."""
    cwd, env = workdir
    job = submit_script(workdir, "trap 'sleep 10' TERM\nsleep 120 &\nwait\n")
    try:
        tasks = wait_for(lambda: [t for t, s in squeue_states(job).items() if s == "RUNNING"], 60, "a task to run")
        subprocess.run(["scancel", job], check=True, timeout=30)
        wait_for(lambda: set(squeue_states(job)) == set(tasks), 20, "the other tasks to leave the queue")
        assert set(squeue_states(job).values()) == {"COMPLETING"}, squeue_states(job)
        st = status(env, cwd)
        assert st["missing"] == [0, 1, 2, 3] and st["queued"] == [] and st["running"] == [], st
        assert "--array=0-3 " in here("submit", SMOKE, "--dry-run", env=env, cwd=cwd).stdout
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    wait_for(lambda: not squeue_states(job), 60, "the jobs to leave the queue")
