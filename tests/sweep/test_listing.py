"""`sweep status`, `submit` and `merge` list the job folder once, however many jobs it holds: their
cost grows with jobs + files, not jobs x files (one listing per job took minutes on a folder of
12,000 jobs). Counted, not timed: listings of the job folder through ``os.scandir`` (which
``Path.glob`` uses) and ``os.listdir`` (``Path.iterdir``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from snnsim.atomic_write import leftovers, leftovers_by_target
from snnsim.sweep import cli

TEXT = """name = "big"
[fixed]
study = "ipd"
backend = "fused"
epochs = 1
[sweep]
seed = {seeds}
"""
COMMANDS = (["status"], ["status", "--json"], ["submit", "--dry-run"], ["merge", "--allow-missing"])


def job_folder(base: Path, n: int) -> tuple[Path, Path]:
    """An experiment of ``n`` jobs, none done, and its job folder as after runs: a lock file of
    every job; failure markers, checkpoint sidecars and temporaries of some."""
    folder = base / "res" / "big"
    folder.mkdir(parents=True)
    toml = base / "big.toml"
    toml.write_text(TEXT.format(seeds=list(range(n))))
    for i in range(n):
        (folder / f".job-{i}.lock").write_text("")
        if i % 4 == 1:
            (folder / f"job-{i}.failed").write_text("{}\nRuntimeError: boom\n")
        if i % 10 == 2:
            (folder / f".job-{i}.r0-0.ckpt.json").write_text(json.dumps({"epoch": 3, "epochs": 10}))
        if i % 10 == 3:
            (folder / f".job-{i}.h5.otherhost.123.abcd1234.tmp").write_bytes(b"")
    return toml, folder


def listings(monkeypatch, folder: Path, argv: list[str]) -> int:
    """How many times ``sweep ARGV`` lists ``folder``."""
    count = 0

    def counted(real):
        def listing(path=".", *args, **kwargs):
            nonlocal count
            if not isinstance(path, int) and Path(os.fsdecode(path)).resolve() == folder.resolve():
                count += 1
            return real(path, *args, **kwargs)

        return listing

    with monkeypatch.context() as m:
        m.setattr(os, "scandir", counted(os.scandir))
        m.setattr(os, "listdir", counted(os.listdir))
        m.setattr(cli, "max_array_size", lambda failed=None: None)  # `scontrol` can take seconds to say nothing
        m.setattr(cli, "node_memory", lambda failed=None: None)
        cli.main(argv)
    return count


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_the_job_folder_is_listed_once_however_many_jobs(tmp_path, monkeypatch, capsys, argv):
    counts = {}
    for n in (50, 200):
        toml, folder = job_folder(tmp_path / str(n), n)
        res = str(folder.parent)
        counts[n] = listings(monkeypatch, folder, ["--results-dir", res, argv[0], str(toml), *argv[1:]])
        out = capsys.readouterr().out
        if argv == ["status"]:  # what it lists is what it found
            assert f"missing {n - len(range(1, n, 4))}  failed {len(range(1, n, 4))}" in out
            assert "job 12 missing: resumes from its checkpoint after epoch 3/10" in out
            assert "job 13 failed: RuntimeError: boom" in out
            assert f"{n // 10} temporary file(s) of interrupted writes" in out
            assert ".job-3.h5.otherhost.123.abcd1234.tmp, .job-13.h5." in out
    assert counts == {50: 1, 200: 1}


def test_leftovers_by_target_are_the_leftovers_of_each_target(tmp_path):
    names = [".job-1.h5.host.1.ab.tmp", ".job-1.h5..tmp", ".job-1.h5.tmp", ".job-10.h5.host.1.ab.tmp",
             "job-1.h5.host.1.ab.tmp", ".job-1.h5.host.1.ab.tmp.x", ".job-2.h5.d.tmp", ".job-1.h5.a.tmp"]  # fmt: skip
    for name in names:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".job-3.h5.dir.tmp").mkdir()
    found = leftovers_by_target(tmp_path, [p.name for p in tmp_path.iterdir()])
    for target in ("job-1.h5", "job-10.h5", "job-2.h5", "job-3.h5", "job-4.h5", "job-1", "job"):
        assert found.get(target, []) == leftovers(tmp_path / target), target
    assert [p.name for p in found["job-1.h5"]] == [".job-1.h5..tmp", ".job-1.h5.a.tmp", ".job-1.h5.host.1.ab.tmp"]


def test_status_reads_each_running_jobs_lock_once(tmp_path, monkeypatch, capsys):
    """`sweep status` read each running job's lock file twice: for its state, then again for the
    host and pid whose temporaries are not those of interrupted writes. It reads it once: what the
    holder's temporary is and what it says are as before (a job run on another host)."""
    import fcntl

    from snnsim.sweep.jobs import JobLock

    toml, folder = job_folder(tmp_path, 6)
    held = []
    for i in (0, 4):  # running on node7 of the cluster: its lock held, its checkpoint being written
        (folder / f".job-{i}.lock").write_text(f"node7.cluster pid {100 + i}\n")
        fd = os.open(folder / f".job-{i}.lock", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.append(fd)
        (folder / f".job-{i}.r0-0.ckpt.node7_cluster.{100 + i}.abcd1234.tmp").write_bytes(b"")
    reads: dict[str, int] = {}
    real = JobLock.held_text

    def counted(self):
        text = real(self)
        if text is not None:
            reads[self.path.name] = reads.get(self.path.name, 0) + 1
        return text

    monkeypatch.setattr(JobLock, "held_text", counted)
    try:
        assert cli.main(["--results-dir", str(folder.parent), "status", str(toml)]) == 0
    finally:
        for fd in held:
            os.close(fd)
    out = capsys.readouterr().out
    assert "job 0 running by node7.cluster pid 100" in out and "job 4 running by node7.cluster pid 104" in out, out
    assert "1 temporary file(s) of interrupted writes" in out and ".job-3.h5.otherhost.123.abcd1234.tmp" in out, out
    assert reads == {".job-0.lock": 1, ".job-4.lock": 1}, reads
