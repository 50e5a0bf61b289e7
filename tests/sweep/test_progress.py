"""What a sweep says while it works: `sweep status` shows a running job's epoch from its
checkpoint ("running (epoch k/n)"), a stopped job that will resume from its checkpoint, and
`sweep local` draws one progress bar over the sweep (jobs done / total)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from in_process import run_here
from signalled_write import held_in_checkpoint_write

from snnsim import results
from snnsim.sweep import cli

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = """name = "pr"
[fixed]
study = "ipd"
backend = "fused"
epochs = {epochs}
n_train_batches = 12
n_test_batches = 1
batch_size = 32
hidden = 16
[sweep]
seed = [0, 1]
"""


def write(tmp_path: Path, epochs: int) -> Path:
    toml = tmp_path / "pr.toml"
    toml.write_text(EXPERIMENT.format(epochs=epochs))
    return toml


def sweep(*args: str, res: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    proc = subprocess.run([sys.executable, "-m", "snnsim.sweep", "--results-dir", str(res), *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def here(*args: object, res: Path, check: bool = True) -> subprocess.CompletedProcess:
    """:func:`sweep` in this process (in_process.run_here): for the further cases of a command
    whose first case in this module runs as a process of its own (the jobs `local` starts still do)."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    proc = run_here(cli.main, "--results-dir", res, *args, env=env, cwd=ROOT)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def progress(folder: Path) -> dict | None:
    for side in folder.glob(".*.ckpt.json"):
        try:
            return json.loads(side.read_text())
        except ValueError:  # being replaced
            return None
    return None


def test_status_shows_the_epoch_of_a_running_job_and_a_stopped_one_resumes(tmp_path):
    # far more epochs than the test waits for (it stops the job): with 40, a fast machine finished
    # them all (about 15 ms each) while `sweep status` was starting, and the job was no longer mid-run
    n_epochs = 5000
    toml, res = write(tmp_path, epochs=n_epochs), tmp_path / "res"
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    job = subprocess.Popen([sys.executable, "-m", "snnsim.sweep", "--results-dir", str(res), "run", str(toml), "0"],
                           env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and not (progress(res / "pr") or {}).get("epoch", 0) >= 1:
            assert job.poll() is None, job.communicate()
            time.sleep(0.05)
        text = sweep("status", str(toml), res=res).stdout
        line = next(ln for ln in text.splitlines() if "job 0" in ln)
        k, n = map(int, re.search(r"job 0 running \(epoch (\d+)/(\d+)\) by ", line).groups())
        assert 1 <= k < n == n_epochs
    finally:
        job.send_signal(signal.SIGTERM)
        job.communicate(timeout=60)
    assert job.returncode == 128 + signal.SIGTERM
    st = json.loads(sweep("status", str(toml), "--json", res=res).stdout)
    assert 0 in st["missing"]
    stopped = re.fullmatch(rf"resumes from its checkpoint after epoch (\d+)/{n_epochs}", st["reasons"]["0"])
    assert stopped and int(stopped.group(1)) >= k


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """``sweep local pr.toml`` (two jobs of one epoch, one process each), run once for the module
    as a process of its own: the toml, the results folder and the finished command. Both tests
    that read it ran this same command, each into a folder of its own."""
    folder = tmp_path_factory.mktemp("local")
    toml, res = write(folder, epochs=1), folder / "res"
    return toml, res, sweep("local", str(toml), res=res)


@pytest.mark.xdist_group("sweep-local-run")  # one `sweep local`, on one xdist worker
def test_sweep_local_draws_one_bar_over_the_jobs(local_run):
    _, res, proc = local_run
    bars = [part for part in re.split(r"[\r\n]", proc.stderr) if part.startswith("pr:")]
    assert bars and "2/2" in bars[-1] and "100%" in bars[-1], proc.stderr
    assert all(results.load(res / "pr" / f"job-{i}.h5").attrs["complete"] == 1 for i in (0, 1))


@pytest.mark.xdist_group("sweep-local-run")  # one `sweep local`, on one xdist worker
def test_sweep_local_suggests_packs_when_each_job_would_start_a_process(local_run, tmp_path):
    """Two jobs on one process: a one-line note toward --pack (one pack of both); none with
    --pack, none with --quiet, none when there is a process per job."""
    toml, _, proc = local_run
    note = "--pack 2 runs them in 1 process"
    assert [line for line in proc.stderr.splitlines() if "note:" in line] == [
        "snnsim.sweep: note: each of the 2 jobs starts a process of its own and makes its own data; "
        + note
        + ", trained together with the same numbers (docs/sweeps.md)"
    ]
    for args, res in ((["--pack", "2"], "b"), (["--quiet"], "c"), (["-j", "2"], "d")):
        proc = here("local", toml, *args, res=tmp_path / res)
        assert "note:" not in proc.stderr, args


def test_the_pack_note_sizes_its_packs_by_the_processes(tmp_path):
    """5 jobs on 2 processes: packs of 3 (ceil(5 / 2)), 2 processes; no note below two jobs per process."""
    from types import SimpleNamespace

    from snnsim.sweep.experiment import loads

    exp = loads('name = "p"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\nseed = [0, 1, 2, 3, 4]\n')
    ns = SimpleNamespace(pack=0, processes=2)
    assert "of the 5 jobs starts a process of its own and makes its own data; --pack 3 runs them in 2 processes," in (
        cli.pack_hint(exp, [0, 1, 2, 3, 4], ns)
    )
    assert cli.pack_hint(exp, [0, 1, 2, 4], ns) is not None and cli.pack_hint(exp, [0, 1, 2], ns) is None
    assert cli.pack_hint(exp, [0, 1, 2, 3, 4], SimpleNamespace(pack=2, processes=1)) is None


def test_the_pack_note_sizes_its_packs_by_the_jobs_to_run(tmp_path):
    """Jobs 0, 2, 4, 6 of 10 left to run on 2 processes: packs of 5 (the grid's 10 over 2) are every
    second job, so all four are in pack 0, and the note suggested ``--pack 5``: one process where
    ``-j 2`` allows two. It sizes the packs from the jobs that will run: ``--pack 4`` puts them in
    3 packs (0 and 6, 2, 4), each running at most 2 of them, so both processes work."""
    from types import SimpleNamespace

    from snnsim.sweep import jobs
    from snnsim.sweep.experiment import loads

    exp = loads(f'name = "p"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\nseed = {list(range(10))}\n')
    note = cli.pack_hint(exp, [0, 2, 4, 6], SimpleNamespace(pack=0, processes=2))
    assert (
        "of the 4 jobs starts a process of its own and makes its own data; --pack 4 runs them in 3 processes," in note
    )
    assert sorted(jobs.pack_of(exp, 4, i) for i in [0, 2, 4, 6]) == [0, 0, 1, 2]  # what `local --pack 4` runs


def test_the_help_of_local_quiet_names_the_notes_it_drops(capsys):
    """``local --quiet`` drops the note toward ``--pack`` (above) and the line of a synthetic data
    set made to check the jobs, not only the progress bar that its help named alone; the notes of
    jobs that failed last time still print."""
    from snnsim.sweep import cli

    with pytest.raises(SystemExit):
        cli.main(["local", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    quiet = re.search(r"--quiet (.*)$", shown).group(1)
    assert "progress bar" in quiet and "--pack" in quiet and "synthetic" in quiet and "failed" in quiet, quiet
    assert "data file read" in quiet, quiet  # the BMI data file's line on a terminal


def held_in_a_checkpoint_write(toml: Path, res: Path) -> subprocess.Popen:
    """``sweep run`` of job 0 in a process of its own, held (60 s) in its first checkpoint's write
    once it has printed "writing": its temporary is there, and its writer alive."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    return held_in_checkpoint_write("snnsim.sweep.cli", ["--results-dir", str(res), "run", str(toml), "0"], env)


def test_status_does_not_call_a_live_writers_temporary_an_interrupted_write(tmp_path):
    """A running job writes a checkpoint after every epoch (and at the end its result) through a
    temporary file; `sweep status` listed that temporary as one "of interrupted writes" (and in
    ``--json`` ``temporaries``) while its writer was alive and writing it (docs/sweeps.md: the
    temporaries of killed writers)."""
    toml, res = write(tmp_path, 2), tmp_path / "res"
    proc = held_in_a_checkpoint_write(toml, res)
    try:
        assert [p for p in (res / "pr").iterdir() if p.name.endswith(".tmp")]
        status = here("status", toml, res=res)
        assert "running" in status.stdout and "interrupted" not in status.stdout, status.stdout
        assert json.loads(here("status", toml, "--json", res=res).stdout)["temporaries"] == []
    finally:
        proc.kill()
        proc.communicate(timeout=60)


def test_status_does_not_call_a_temporary_of_a_live_job_on_another_host_an_interrupted_write(tmp_path):
    """On a cluster the job runs on another node: its lock names that host and its temporary
    files carry that host's name. `sweep status` could not ask that host whether the writer was
    alive and listed its temporary as one "of interrupted writes"; it is the file of the process
    that holds the job's lock. Once that process is gone, the temporary is listed."""
    toml, res = write(tmp_path, 2), tmp_path / "res"
    proc = held_in_a_checkpoint_write(toml, res)
    try:
        (tmp,) = [p for p in (res / "pr").iterdir() if p.name.endswith(".tmp")]
        target, _, _, token, _ = tmp.name[1:].rsplit(".", 4)
        away = tmp.rename(tmp.with_name(f".{target}.node7_cluster.{proc.pid}.{token}.tmp"))
        (res / "pr" / ".job-0.lock").write_text(f"node7.cluster pid {proc.pid}\n")  # the holder keeps its flock
        status = here("status", toml, res=res)
        assert "by node7.cluster pid" in status.stdout and "interrupted" not in status.stdout, status.stdout
        assert json.loads(here("status", toml, "--json", res=res).stdout)["temporaries"] == []
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    status = here("status", toml, res=res)
    assert (
        f"1 temporary file(s) of interrupted writes (removed when their job runs again): {away.name}" in status.stdout
    )


def test_a_job_killed_while_it_wrote_a_checkpoint_leaves_no_temporary_for_good(tmp_path):
    """SIGKILL in a checkpoint's write leaves its temporary (``..job-0.r0-0.ckpt.HOST.PID.TOKEN.tmp``);
    `sweep status` did not list it and the job's next run removed only its result's temporaries."""
    toml, res = write(tmp_path, 2), tmp_path / "res"
    proc = held_in_a_checkpoint_write(toml, res)
    proc.kill()
    proc.communicate(timeout=60)
    folder = res / "pr"
    stale = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].name.startswith("..job-0.r0-0.ckpt."), stale
    status = here("status", toml, res=res, check=False)
    assert "1 temporary file(s) of interrupted writes" in status.stdout and stale[0].name in status.stdout
    again = here("run", toml, "0", res=res)
    assert "removed 1 temporary file(s) of checkpoints" in again.stdout + again.stderr
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert results.load(folder / "job-0.h5").attrs["complete"] == 1


def test_a_checkpoint_of_another_config_is_not_said_to_resume(tmp_path):
    """The experiment file edited (``lr``, ``epochs``) after a job was stopped: its run starts from
    epoch 1 (and says which settings differ), but `sweep status` said that it resumes from its checkpoint."""
    toml, res = write(tmp_path, epochs=2), tmp_path / "res"
    here("run", toml, "0", "--keep-checkpoints", res=res)
    (res / "pr" / "job-0.h5").unlink()  # as a job stopped after its last epoch: only its checkpoint stays
    st = json.loads(here("status", toml, "--json", res=res).stdout)
    assert st["reasons"]["0"] == "resumes from its checkpoint after epoch 2/2"
    toml.write_text(EXPERIMENT.format(epochs=2).replace("hidden = 16", "hidden = 16\nlr = 0.02"))
    st = json.loads(here("status", toml, "--json", res=res).stdout)
    assert 0 in st["missing"]
    assert st["reasons"]["0"] == (
        "its checkpoint (epoch 2/2) was made by another config (the experiment file changed since): "
        "it starts from epoch 1"
    ), st["reasons"]
    again = here("run", toml, "0", res=res)
    assert "this run has lr=0.02; starting from epoch 1" in again.stdout + again.stderr


def test_a_checkpoint_made_with_other_library_versions_is_not_said_to_resume(tmp_path, monkeypatch):
    """A job stopped, then torch upgraded: its run starts from epoch 1 ("was made with torch 1.0"),
    but `sweep status` said that it resumes from its checkpoint (the sidecar named no versions)."""
    toml, res = write(tmp_path, epochs=2), tmp_path / "res"
    with monkeypatch.context() as before_the_upgrade:
        now = results.library_versions()
        before_the_upgrade.setattr(results, "library_versions", lambda: {**now, "torch": "1.0"})
        here("run", toml, "0", "--keep-checkpoints", res=res)
    (res / "pr" / "job-0.h5").unlink()  # as a job stopped after its last epoch: only its checkpoint stays
    st = json.loads(here("status", toml, "--json", res=res).stdout)
    assert 0 in st["missing"]
    assert st["reasons"]["0"] == (
        f"its checkpoint (epoch 2/2) was made with torch 1.0, this snnsim has torch {now['torch']}: "
        "it starts from epoch 1"
    ), st["reasons"]
    again = here("run", toml, "0", res=res)
    assert "was made with torch 1.0" in again.stdout + again.stderr


def test_a_checkpoint_of_other_numerics_is_not_said_to_resume(tmp_path, monkeypatch):
    """A job stopped, then snnsim upgraded to other numerics: its run starts from epoch 1 ("was
    made by an snnsim of numerics version ..."), but `sweep status` said that it resumes."""
    toml, res = write(tmp_path, epochs=2), tmp_path / "res"
    with monkeypatch.context() as before_the_upgrade:
        before_the_upgrade.setattr(results, "NUMERICS_VERSION", results.NUMERICS_VERSION - 1)
        here("run", toml, "0", "--keep-checkpoints", res=res)
    (res / "pr" / "job-0.h5").unlink()  # as a job stopped after its last epoch: only its checkpoint stays
    st = json.loads(here("status", toml, "--json", res=res).stdout)
    assert 0 in st["missing"]
    assert st["reasons"]["0"] == (
        f"its checkpoint (epoch 2/2) was made by an snnsim of numerics version {results.NUMERICS_VERSION - 1}, "
        f"this one has {results.NUMERICS_VERSION}: it starts from epoch 1"
    ), st["reasons"]
    again = here("run", toml, "0", res=res)
    assert f"numerics version {results.NUMERICS_VERSION - 1}" in again.stdout + again.stderr


def test_a_job_run_again_removes_the_temporaries_a_killed_job_left_on_another_host(tmp_path):
    """A job killed on one node and run again on another: its temporaries (of its result file and
    of its checkpoint) carry the first node's name, and the new run could not ask that host
    whether their writer was alive, so it kept them for good, while `status` said they are
    "removed when their job runs again". The run holds the job's lock, which every writer of
    them held: they are removed. Another job's temporary is left alone."""
    toml, res = write(tmp_path, 1), tmp_path / "res"
    folder = res / "pr"
    folder.mkdir(parents=True)
    mine = [folder / ".job-0.h5.node7_cluster.4242.0badc0de.tmp", folder / "..job-0.r0-0.ckpt.node7_cluster.4242.1.tmp"]
    other = folder / ".job-1.h5.node7_cluster.4343.0badc0de.tmp"
    for path in [*mine, other]:
        path.write_bytes(b"half")
    status = here("status", toml, res=res)
    assert "3 temporary file(s) of interrupted writes (removed when their job runs again)" in status.stdout, status
    run = here("run", toml, "0", res=res)
    assert "job 0: removed 1 temporary file(s) of killed writers" in run.stdout + run.stderr
    assert "removed 1 temporary file(s) of checkpoints" in run.stdout + run.stderr
    assert not any(p.exists() for p in mine) and other.exists()
    assert results.load(folder / "job-0.h5").attrs["complete"] == 1
