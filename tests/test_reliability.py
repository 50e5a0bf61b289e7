"""Nothing lost, nothing silent: the faults a user meets, through the real command lines.

Each test runs ``python -m snnsim.run`` or ``python -m snnsim.sweep`` in a subprocess, as a user
types it, and checks the exit code, the one line on stderr, and what is (not) on disk.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from in_process import run_here
from signalled_write import held_in_checkpoint_write
from small_disk import fill, mounted_tmpfs

from snnsim import results

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--backend", "fused", "--epochs", "1", "--n-train-batches", "2", "--n-test-batches", "1", "--batch-size", "8",
        "--hidden", "8", "--quiet"]  # fmt: skip


def snnsim(module: str, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300,
           preexec_fn=None) -> subprocess.CompletedProcess:  # fmt: skip
    return subprocess.run([sys.executable, "-m", f"snnsim.{module}", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=timeout, preexec_fn=preexec_fn)  # fmt: skip


def sweep_here(*args: object) -> subprocess.CompletedProcess:
    """``python -m snnsim.sweep ARGS`` run in this process (its jobs are processes of their own, as
    ever): for the commands after the first, where the process itself is not what is tested."""
    from snnsim.sweep import cli

    return run_here(cli.main, *args, cwd=ROOT)


def one_line_error(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """``proc`` failed with ``code`` and exactly one line on stderr that holds every fragment."""
    err = proc.stderr
    assert proc.returncode == code, (proc.returncode, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def no_checkpoint(proc: subprocess.CompletedProcess, reason: str) -> subprocess.CompletedProcess:
    """``proc`` said in one line that its checkpoints could not be written (and trained on);
    returned without that line."""
    lines = proc.stderr.splitlines(keepends=True)
    notes = [line for line in lines if line.startswith("snnsim.run: checkpoint: cannot write")]
    assert len(notes) == 1 and reason in notes[0] and "training goes on" in notes[0], proc.stderr
    proc.stderr = "".join(line for line in lines if line not in notes)
    return proc


def no_temporaries(folder: Path) -> bool:
    return not any(p.name.endswith(".tmp") for p in folder.iterdir())


# -- 1. overwrite --------------------------------------------------------------------------------
def test_an_existing_out_is_kept_unless_overwrite_is_asked(tmp_path):
    """The refusal in a process of its own, the run with --overwrite in this one."""
    from snnsim import run

    out = tmp_path / "r.h5"
    out.write_text("precious")
    one_line_error(snnsim("run", *TINY, "--out", str(out)), 2, "--out", "exists", "--overwrite")
    assert out.read_text() == "precious"
    proc = run_here(run.main, *TINY, "--out", out, "--overwrite", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert results.load(out).attrs["complete"] == 1


def test_two_runs_writing_one_path_do_not_both_succeed(tmp_path):
    out = tmp_path / "r.h5"
    cmd = [sys.executable, "-m", "snnsim.run", *TINY, "--epochs", "3", "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in "ab"]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes[0] == 0 and codes[1] in (2, 5), (codes, outputs)
    assert sum("result file:" in o for o, _ in outputs) == 1
    assert results.load(out).attrs["complete"] == 1
    if codes[1] == 5:  # both trained: the loser's result is kept beside the file, and it says where
        err = next(e for p, (_, e) in zip(procs, outputs) if p.returncode == 5)
        kept = [p for p in tmp_path.iterdir() if p.name not in ("r.h5",)]
        assert len(kept) == 1 and kept[0].name in err and results.load(kept[0]).attrs["complete"] == 1
    assert no_temporaries(tmp_path)


# -- 2. permissions ------------------------------------------------------------------------------
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_result_files_get_the_mode_of_the_umask(tmp_path, umask, mode):
    """The first case in a process started with the umask, the other in this one under it."""
    from snnsim import run

    out = tmp_path / "r.h5"
    if umask == 0o022:
        proc = snnsim("run", *TINY, "--out", str(out), preexec_fn=lambda: os.umask(umask))
    else:
        before = os.umask(umask)
        try:
            proc = run_here(run.main, *TINY, "--out", out, cwd=ROOT)
        finally:
            os.umask(before)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_mode & 0o777 == mode


# -- 3. full disk -------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A folder on a real file system of 1.2 MB (a tmpfs, where this process may mount one), or
    else a process limit of 1.2 MB per file (RLIMIT_FSIZE: the kernel refuses the write with
    EFBIG). Yields (folder, preexec_fn for the subprocess, the expected reason)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(folder)], capture_output=True
    ).returncode == 0  # fmt: skip
    if mounted:
        yield folder, None, "No space left on device"
        subprocess.run(["umount", str(folder)], check=True)
        return

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_200_000, 1_200_000))

    yield folder, limit, "File too large"


def test_full_disk_one_line_nothing_partial_and_the_result_not_lost_silently(small_disk, tmp_path):
    """The first run in a process of its own; the second in this one where the disk is a real
    small file system (a per-file limit of a process, the fallback, needs a process of its own)."""
    from snnsim import run

    folder, limit, reason = small_disk
    big = [*TINY, "--hidden", "2000"]  # w1 alone is 1.6 MB: more than the small disk holds
    err = one_line_error(no_checkpoint(snnsim("run", *big, "--out", str(folder / "r.h5"), preexec_fn=limit), reason),
                         5, str(folder / "r.h5"), reason, "lost", "--fallback-dir")  # fmt: skip
    assert os.listdir(folder) == [] and "Segmentation" not in err
    spare = tmp_path / "spare"
    spare.mkdir()
    second = (*big, "--out", folder / "r.h5", "--fallback-dir", spare)
    proc = snnsim("run", *map(str, second), preexec_fn=limit) if limit else run_here(run.main, *second, cwd=ROOT)
    err = one_line_error(no_checkpoint(proc, reason), 5, str(spare / "r.h5"))
    assert os.listdir(folder) == [] and results.load(spare / "r.h5").sizes["hidden_unit"] == 2000


def test_full_disk_under_out_and_fallback_dir_names_both_and_says_the_result_is_lost(small_disk):
    """Before, only the fallback's failure was said ("snnsim.run: error: cannot write
    FALLBACK/r.h5: No space left on device; nothing written there"): neither --out nor that the
    trained result was lost."""
    folder, limit, reason = small_disk
    spare = folder / "spare"  # on the same full file system
    spare.mkdir()
    big = [*TINY, "--hidden", "2000"]
    proc = snnsim("run", *big, "--out", str(folder / "r.h5"), "--fallback-dir", str(spare), preexec_fn=limit)
    err = one_line_error(no_checkpoint(proc, reason), 5, f"--out: cannot write {folder / 'r.h5'}: {reason}",
                         f"--fallback-dir: cannot write {spare / 'r.h5'}: {reason}", "the trained result")  # fmt: skip
    assert err.rstrip().endswith("is lost") and "Traceback" not in err
    assert os.listdir(folder) == ["spare"] and os.listdir(spare) == []


def test_a_full_disk_before_training_trains_only_for_a_fallback_dir_with_room(tmp_path):
    """--out on a file system with no room left: without --fallback-dir (or with one on a full
    one too) nothing is trained (one line, exit 5); with one that has room, the run trains, says
    so, and saves its result there (it refused before training, so the fallback never served)."""
    from snnsim import run

    with mounted_tmpfs(tmp_path / "full", "1m") as folder:
        fill(folder)
        out = folder / "r.h5"
        one_line_error(run_here(run.main, *TINY, "--out", str(out), cwd=ROOT), 5,
                       f"--out: only 0 kB free on the file system of {out}; nothing trained")  # fmt: skip
        full_spare = folder / "spare"
        full_spare.mkdir()
        one_line_error(run_here(run.main, *TINY, "--out", str(out), "--fallback-dir", str(full_spare), cwd=ROOT), 5,
                       f"and 0 kB under --fallback-dir {full_spare}; nothing trained")  # fmt: skip
        spare = tmp_path / "spare"
        spare.mkdir()
        proc = run_here(run.main, *TINY, "--out", str(out), "--fallback-dir", str(spare), cwd=ROOT)
        lines = no_checkpoint(proc, "No space left on device").stderr.splitlines()
        assert proc.returncode == 5 and len(lines) == 2, proc.stderr
        assert lines[0] == (f"snnsim.run: note: --out: only 0 kB free on the file system of {out}; training anyway: "
                            f"the result goes to --fallback-dir {spare} if --out is still full then")  # fmt: skip
        assert lines[1].endswith(f"the result was saved to {spare / 'r.h5'} (--fallback-dir)")
        assert results.load(spare / "r.h5").sizes["hidden_unit"] == 8
        assert sorted(os.listdir(folder)) == ["filler", "spare"] and os.listdir(full_spare) == []


def test_full_disk_in_a_sweep(small_disk, tmp_path):
    folder, limit, reason = small_disk
    exp = tmp_path / "big.toml"
    exp.write_text('name = "big"\n[fixed]\nbackend = "fused"\nepochs = 1\nn_train_batches = 1\nn_test_batches = 1\n'
                   'batch_size = 8\nhidden = 2000\n[sweep]\nseed = [0]\n')  # fmt: skip
    proc = snnsim("sweep", "--results-dir", str(folder), "run", str(exp), "0", preexec_fn=limit)
    assert proc.returncode == 5, proc.stderr
    assert reason in proc.stderr and "Traceback" not in proc.stderr
    assert [p.name for p in (folder / "big").iterdir() if not p.name.startswith(".job-0.lock")] == []


# ``python -m snnsim.run`` whose --out folder breaks after training, right before the result is
# written: replaced by a file, or made read-only (remounted, where it is a tmpfs; else chmod)
BROKEN_BEFORE_SAVING = """
import shutil, subprocess, sys
from snnsim import run
real, fault = run.save, sys.argv.pop(1)
def save(ds, out, overwrite, fallback):
    if fault == "file":
        shutil.rmtree(out.parent)
        out.parent.write_text("")
    elif subprocess.run(["mount", "-o", "remount,ro", str(out.parent)], capture_output=True).returncode:
        out.parent.chmod(0o555)
    return real(ds, out, overwrite, fallback)
run.save = save
sys.exit(run.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("fault", ["file", "read-only"])
def test_an_out_folder_that_breaks_during_training_leaves_the_result_in_the_fallback(tmp_path, fault):
    """A folder replaced by a file was a one-line exit 2 with the result lost; a read-only one
    saved the result but exited 2 naming only the checkpoint that could not be removed."""
    folder, spare = tmp_path / "out", tmp_path / "spare"
    folder.mkdir()
    spare.mkdir()
    mounted = fault == "read-only" and os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True
    ).returncode == 0  # fmt: skip
    try:
        proc = subprocess.run([sys.executable, "-c", BROKEN_BEFORE_SAVING, fault, *TINY, "--epochs", "2",
                               "--out", str(folder / "r.h5"), "--fallback-dir", str(spare)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        err = one_line_error(proc, 5, f"the result was saved to {spare / 'r.h5'} (--fallback-dir)")
        assert results.load(spare / "r.h5").attrs["complete"] == 1
        if fault == "read-only":  # the checkpoint stays in the read-only folder, and the line says so
            assert f"its checkpoint {folder / '.r.h5.r0-0.ckpt'} could not be removed" in err
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)
        if folder.is_dir():
            folder.chmod(0o755)


def test_a_fallback_dir_holding_a_result_of_that_name_keeps_it_and_saves_beside_it(tmp_path):
    """Where ``--out`` cannot be written and ``--fallback-dir`` holds a file of its name already (an
    earlier run's result), that file is kept and this result saved beside it, named by the process."""
    from plots.fake_results import bmi_run

    from snnsim import run

    ds = bmi_run(np.random.default_rng(3), repeats=1, epochs=1)
    (tmp_path / "out").write_text("")  # a file where --out's folder must be
    spare = tmp_path / "spare"
    spare.mkdir()
    (spare / "r.h5").write_bytes(b"an earlier result")
    with pytest.raises(run.NotSaved) as info:
        run.save(ds, tmp_path / "out" / "r.h5", False, spare)
    other = spare / f"r.{os.getpid()}.h5"
    assert info.value.saved_to == other and f"the result was saved to {other} (--fallback-dir)" in str(info.value)
    assert results.load(other).attrs["complete"] == 1
    assert (spare / "r.h5").read_bytes() == b"an earlier result"


def test_a_checkpoint_lock_let_go_as_it_is_taken_is_taken_on_the_file_at_its_path(tmp_path, monkeypatch):
    """A run that opens the lock file just before its holder lets go (removing it) locks a file no
    longer at the path, which a third run would make and lock anew: two holders. It takes the lock
    again on the file at the path."""
    import fcntl

    from snnsim import run

    holder, taker = run.CheckpointLock(tmp_path / "r.h5"), run.CheckpointLock(tmp_path / "r.h5")
    assert holder.acquire() is None
    real = fcntl.flock

    def let_go_first(fd: int, op: int) -> None:
        if holder._fd is not None and op & fcntl.LOCK_EX:
            holder.release()  # between the taker's open and its flock
        real(fd, op)

    monkeypatch.setattr(run.fcntl, "flock", let_go_first)
    assert taker.acquire() is None
    assert os.fstat(taker._fd).st_ino == os.stat(taker.path).st_ino
    taker.release()


def test_the_temporaries_of_a_checkpoint_and_of_its_sidecar_are_leftovers_of_the_out(tmp_path):
    """A run killed while it wrote a checkpoint (``.r.h5.r0-3.ckpt``) or its sidecar (``.ckpt.json``) left a temporary of
    either: both are the out's leftovers, which the next run removes; another out's are not."""
    from snnsim import run

    names = ["..r.h5.r0-3.ckpt.host.1.ab.tmp", "..r.h5.r0-3.ckpt.json.host.1.cd.tmp", "..q.h5.r0-3.ckpt.host.1.ef.tmp"]
    for name in names:
        (tmp_path / name).write_text("")
    assert run.checkpoint_leftovers(tmp_path / "r.h5") == sorted(tmp_path / name for name in names[:2])


def test_a_checkpoint_written_in_the_same_tick_as_the_result_is_older_than_it(tmp_path):
    """A file system of coarse times (a second, on some network ones) gives the last checkpoint
    and the result written after it the same time: that checkpoint is as old as the result, left
    by the run that wrote it, and named; one written later is a live run's, and not."""
    from snnsim import run

    out, left, live = tmp_path / "r.h5", tmp_path / ".r.h5.r0-0.ckpt", tmp_path / ".r.h5.r1-1.ckpt"
    for path, ns in ((out, 5 * 10**18), (left, 5 * 10**18), (live, 5 * 10**18 + 1)):
        path.write_bytes(b"")
        os.utime(path, ns=(ns, ns))
    assert run.checkpoints_older_than(out) == [left]


def test_a_kept_checkpoint_names_the_one_epoch_or_the_epochs_a_rerun_trains_again(tmp_path):
    """The line of a checkpoint of epoch 2 of 5 whose run trained on past it says what a rerun
    trains again: "epoch 3" for one, "epochs 3-4" for more."""
    from snnsim import run

    path = tmp_path / ".r.h5.r0-0.ckpt"
    (tmp_path / ".r.h5.r0-0.ckpt.json").write_text(json.dumps({"epoch": 2, "epochs": 5}))
    assert run._kept_checkpoint(path, 3).endswith("resumes from it and trains epoch 3 again")
    assert run._kept_checkpoint(path, 4).endswith("resumes from it and trains epochs 3-4 again")
    assert (
        run._kept_checkpoint(path, 2)
        == f"the checkpoint of epoch 2 of 5 stays ({path}): the same command resumes from it"
    )


@pytest.mark.parametrize("damaged", ['{"epoch": Infinity, "epochs": 3}', '{"epoch": 1, "epochs": -Infinity}'])
def test_a_sidecar_whose_epoch_is_infinite_reads_as_damaged(damaged, tmp_path):
    """A damaged sidecar whose epoch is JSON's Infinity (json.loads reads it; int() raises
    OverflowError, which none caught) ended the stop line of one or several kept checkpoints, and
    `sweep status`'s listing of checkpoints, in a traceback. It reads as any damaged sidecar."""
    from snnsim import run
    from snnsim.sweep.jobs import Listing

    a, b = tmp_path / ".r.h5.r0-9.ckpt", tmp_path / ".r.h5.r10-11.ckpt"
    Path(f"{a}.json").write_text(damaged)
    Path(f"{b}.json").write_text('{"epoch": 1, "epochs": 3}')
    assert run._kept_checkpoint(a, 3) == f"its checkpoint stays ({a}): the same command resumes from it"
    assert run._kept_checkpoints([a, b], {a: 3, b: 3}, 0, 12) == (
        f"their checkpoints stay ({a}, {b}): the same command resumes from them"
    )
    (tmp_path / ".job-3.r0-0.ckpt.json").write_text(damaged)
    (tmp_path / ".job-4.r0-0.ckpt.json").write_text('{"epoch": 1, "epochs": 3}')
    listing = Listing(tmp_path, (".job-3.r0-0.ckpt.json", ".job-4.r0-0.ckpt.json"))
    assert listing.checkpoints == [(tmp_path / ".job-4.r0-0.ckpt", [4], (1, 3))]


def test_a_result_not_saved_names_the_epoch_its_checkpoint_holds(tmp_path):
    """The disk may fill before the last checkpoint: the message says what a rerun trains again."""
    from snnsim.run import _kept_checkpoint

    ckpt = tmp_path / ".r.h5.r0-0.ckpt"
    side = tmp_path / ".r.h5.r0-0.ckpt.json"
    side.write_text('{"epoch": 20, "epochs": 60}')
    assert _kept_checkpoint(ckpt).startswith(f"the checkpoint of epoch 20 of 60 stays ({ckpt}; later ones")
    assert _kept_checkpoint(ckpt).endswith("resumes from it and trains epochs 21-60 again")
    side.write_text('{"epoch": 60, "epochs": 60}')
    assert "of its last epoch stays" in _kept_checkpoint(ckpt) and "only writes the result" in _kept_checkpoint(ckpt)
    side.write_text("{")
    assert _kept_checkpoint(ckpt) == f"its checkpoint stays ({ckpt}): the same command resumes from it"


# ``python -m snnsim.run`` whose disk fills up (another job on it) right after the checkpoint of
# epoch 2 is in place, before its sidecar is written
FULL_BEFORE_SIDECAR = """
import sys
from snnsim import atomic_write, run
real, fill, sidecars = atomic_write.write_bytes, sys.argv.pop(1), []
def write_bytes(path, data, overwrite=False, durable=True, **kw):
    if str(path).endswith(".ckpt.json"):
        sidecars.append(path)
        if len(sidecars) == 2:
            with open(fill, "wb", buffering=0) as fh:
                try:
                    while True:
                        fh.write(bytes(4096))
                except OSError:
                    pass
    return real(path, data, overwrite, durable, **kw)
atomic_write.write_bytes = write_bytes
sys.exit(run.main(sys.argv[1:]))
"""


def test_a_sidecar_that_cannot_be_written_does_not_name_an_older_epoch(tmp_path):
    """The checkpoint of epoch 2 was written and its sidecar was not: the sidecar of epoch 1 stayed,
    and the "not saved" line said "the checkpoint of epoch 1 of 3 stays ... trains epochs 2-3
    again" of a checkpoint that holds epoch 2 (sweep status showed epoch 1 too)."""
    import torch

    with mounted_tmpfs(tmp_path / "small", "1m") as folder:
        proc = subprocess.run([sys.executable, "-c", FULL_BEFORE_SIDECAR, str(folder / "other-job"), *TINY, "--epochs",
                               "3", "--out", str(folder / "r.h5")], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        err = one_line_error(no_checkpoint(proc, "No space left on device"), 5, "lost")
        ckpt = folder / ".r.h5.r0-0.ckpt"
        assert torch.load(ckpt, weights_only=False)["loop"]["epoch"] == 2
        assert not (folder / ".r.h5.r0-0.ckpt.json").exists()
        assert f"its checkpoint stays ({ckpt}): the same command resumes from it" in err


# -- 4. signals and leftover temporaries -----------------------------------------------------------
def test_sigterm_stops_a_run_cleanly(tmp_path):
    out = tmp_path / "r.h5"
    args = [a for a in TINY if a != "--quiet"]  # the progress bar says when training has begun
    proc = subprocess.Popen([sys.executable, "-m", "snnsim.run", *args, "--epochs", "300", "--out", str(out)],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    seen = ""
    while "batch" not in seen:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    left = os.listdir(tmp_path)  # a per-epoch checkpoint may stay, for the same command to resume
    assert not out.exists() and not [n for n in left if n.endswith(".tmp") or ".ckpt" not in n], left
    said = "snnsim.run: stopped by SIGTERM; no result written"
    if ".r.h5.r0-0.ckpt" in left:
        said += "; the checkpoint of epoch "
    assert err.strip().splitlines()[-1].startswith(said), err


def test_sigterm_during_the_write_leaves_no_temporary(tmp_path):
    """The write is held open (a slow fsync) and the process gets SIGTERM inside it."""
    out = tmp_path / "r.h5"
    code = (
        "import os, sys, time\n"
        "real = os.fsync\n"
        "os.fsync = lambda fd: (print('writing', flush=True), time.sleep(30), real(fd))\n"
        "from snnsim.run import main\n"
        f"sys.exit(main({[*TINY, '--out', str(out)]!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)  # fmt: skip
    assert proc.stdout.readline().strip() == "writing"
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the write is under way
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    left = os.listdir(tmp_path)  # the checkpoint of the last epoch stays: the same command resumes and writes
    assert not out.exists() and left and all(".ckpt" in n and not n.endswith(".tmp") for n in left), left


# ``python -m snnsim.run`` that gets a real SIGTERM after its result file is in place: in the sync
# of its folder (the write's last step), in the summary, or while TensorBoard closes
STOPPED_AFTER_THE_WRITE = """
import os, signal, sys
from snnsim import monitor, run, runner
when = sys.argv.pop(1)
def stop():
    os.kill(os.getpid(), signal.SIGTERM)
if when == "folder sync":
    real, calls = os.fsync, []
    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the result file's, then its folder's
            stop()
        return real(fd)
    os.fsync = fsync
elif when == "summary":
    summarise = runner.summarise
    runner.summarise = lambda ds: (stop(), summarise(ds))[1]
elif when == "lock release":  # the lock of --out's checkpoints, let go once the result is written
    release = run.CheckpointLock.release
    run.CheckpointLock.release = lambda self: (stop(), release(self))[1]
else:
    close = monitor.TensorBoardHook.close
    monitor.TensorBoardHook.close = lambda self: (stop(), close(self))[1]
sys.exit(run.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("when", ["folder sync", "summary", "tensorboard", "lock release"])
def test_a_stop_after_the_result_is_written_says_so(when, tmp_path):
    """It said "stopped by SIGTERM; no result written" (exit 143) beside a complete result file,
    and the checkpoint could stay beside it for good (a stop as the checkpoints' lock was let go,
    after the write, said so too, and left the lock's file)."""
    out = tmp_path / "r.h5"
    proc = subprocess.run([sys.executable, "-c", STOPPED_AFTER_THE_WRITE, when, *TINY, "--epochs", "2", "--out",
                           str(out), "--tensorboard", str(tmp_path / "tb")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr.splitlines()[-1] == f"snnsim.run: stopped by SIGTERM after writing {out}"
    assert "no result written" not in proc.stderr and "Traceback" not in proc.stderr
    assert results.load(out).attrs["complete"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5", "tb"]  # no checkpoint, no temporary


def test_temporaries_of_killed_writers_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "r.h5"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = os.uname().nodename.replace(".", "_")
    stale = tmp_path / f".r.h5.{host}.{int(dead.stdout)}.0a1b2c3d.tmp"
    stale.write_bytes(b"\x89HDF half a file")
    other = tmp_path / ".r.h5.otherhost.1.0a1b2c3d.tmp"  # another host's writer: reported, kept
    other.write_bytes(b"\x89HDF")
    proc = snnsim("run", *TINY, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 temporary file(s) of killed runs" in proc.stderr and other.name in proc.stderr
    assert not stale.exists() and other.exists()


def test_a_run_killed_while_it_wrote_a_checkpoint_leaves_no_temporary_for_good(tmp_path):
    """SIGKILL while a checkpoint is written leaves its temporary (``..r.h5.r0-0.ckpt.HOST.PID.TOKEN.tmp``,
    as large as the checkpoint); the next run of the same --out removed only the result's own
    temporaries, so this one stayed for good."""
    from snnsim import run

    out = tmp_path / "r.h5"
    proc = held_in_checkpoint_write("snnsim.run", [*TINY, "--out", str(out)])
    proc.kill()
    proc.communicate(timeout=60)
    stale = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].name.startswith("..r.h5.r0-0.ckpt."), stale
    rerun = run_here(run.main, *TINY, "--out", out, cwd=ROOT)  # in this process: the kill was the process's
    assert rerun.returncode == 0, rerun.stderr
    assert "removed 1 temporary file(s) of killed runs" in rerun.stderr
    assert os.listdir(tmp_path) == ["r.h5"]


def test_a_stop_as_a_checkpoint_is_put_in_place_says_no_result_was_written(tmp_path):
    """SIGTERM as the first checkpoint was put in place (held until it is there) said "stopped by
    SIGTERM after writing the result file .r.h5.r0-0.ckpt": the checkpoint named as the result,
    while no result was written. The line says that none was."""
    out = tmp_path / "r.h5"
    proc = _terminated_in(
        "real = os.replace\n"
        "def stopped(src, dst):\n"
        "    if str(dst).endswith('.ckpt'):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    real(src, dst)\n"
        "os.replace = stopped\n",
        [*TINY, "--epochs", "2", "--out", str(out)],
    )
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr == ("snnsim.run: stopped by SIGTERM; no result written; the checkpoint of epoch 1 of 2 stays "
                           f"({tmp_path / '.r.h5.r0-0.ckpt'}): the same command resumes from it\n"), proc.stderr  # fmt: skip
    assert not out.exists() and (tmp_path / ".r.h5.r0-0.ckpt").is_file()


def test_a_stop_as_a_later_checkpoint_is_put_in_place_names_the_epoch_it_holds(tmp_path):
    """SIGTERM as the checkpoint of epoch 2 was put in place (held until it is there) stopped the
    run before its sidecar was written: the line said "the checkpoint of epoch 1 of 3 stays" (the
    old sidecar's epoch) of a checkpoint that held epoch 2, from which the rerun resumed. The stop
    comes once the checkpoint and its sidecar name one epoch."""
    import json

    from snnsim import run

    out = tmp_path / "r.h5"
    proc = _terminated_in(
        "real = os.replace\n"
        "seen = []\n"
        "def stopped(src, dst):\n"
        "    if str(dst).endswith('.ckpt'):\n"
        "        seen.append(dst)\n"
        "        if len(seen) == 2:\n"
        "            os.kill(os.getpid(), signal.SIGTERM)\n"
        "    real(src, dst)\n"
        "os.replace = stopped\n",
        [*TINY, "--epochs", "3", "--out", str(out)],
    )
    checkpoint = tmp_path / ".r.h5.r0-0.ckpt"
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr == ("snnsim.run: stopped by SIGTERM; no result written; the checkpoint of epoch 2 of 3 stays "
                           f"({checkpoint}): the same command resumes from it\n"), proc.stderr  # fmt: skip
    assert json.loads(Path(f"{checkpoint}.json").read_text())["epoch"] == 2
    rerun = run_here(run.main, *[a for a in TINY if a != "--quiet"], "--epochs", "3", "--out", out, cwd=ROOT)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming from the checkpoint after epoch 2 of 3" in rerun.stderr


def test_a_stop_after_checkpoints_failed_says_the_later_epochs_are_trained_again(tmp_path):
    """The disk filled after the checkpoint of epoch 1 (a real small file system, filled as epoch
    1 ends; the run said so and trained on), and SIGTERM came after epoch 3: the stop said "the
    checkpoint of epoch 1 of 5 stays: the same command resumes from it", as of a run stopped right
    after its checkpoint. It says, as a run that ended does, that later ones could not be written
    and which epochs a rerun trains again."""
    with mounted_tmpfs(tmp_path / "small", "1m") as small:
        out = small / "r.h5"
        proc = _terminated_in(
            _hooks_fill_then_stop(small, fill=[1], stop=[1, 2, 3]),
            [*TINY, "--epochs", "5", "--out", str(out)],
        )
        checkpoint = small / ".r.h5.r0-0.ckpt"
        assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
        assert proc.stderr.splitlines() == [
            f"snnsim.run: checkpoint: cannot write {checkpoint} (No space left on device); training goes on without "
            "them",
            f"snnsim.run: stopped by SIGTERM; no result written; the checkpoint of epoch 1 of 5 stays ({checkpoint}; "
            "later ones could not be written): the same command resumes from it and trains epochs 2-3 again",
        ], proc.stderr
        assert not out.exists()


def test_a_stop_during_a_failing_checkpoint_write_says_that_epoch_is_trained_again(tmp_path):
    """The disk filled as epoch 1 ended (a real small file system) and SIGTERM came during the
    write of epoch 2's checkpoint, which the full disk refused: the stop was raised before epoch
    2's hooks, and said "the checkpoint of epoch 1 of 5 stays: the same command resumes from it",
    as of a run stopped before epoch 2 was done, while a rerun trains epoch 2 again. It says so."""
    with mounted_tmpfs(tmp_path / "small", "1m") as small:
        out = small / "r.h5"
        proc = _terminated_in(
            _hooks_fill_then_stop(small, fill=[1], stop=None) + "from snnsim import atomic_write\n"
            "real, writes = atomic_write.write_bytes, []\n"
            "def written(path, *args, **kwargs):  # the signal comes as the real write on the full disk starts\n"
            "    if str(path).endswith('.ckpt'):\n"
            "        writes.append(path)\n"
            "        if len(writes) == 2:\n"
            "            os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return real(path, *args, **kwargs)\n"
            "atomic_write.write_bytes = written\n",
            [*TINY, "--epochs", "5", "--out", str(out)],
        )
        checkpoint = small / ".r.h5.r0-0.ckpt"
        assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
        assert proc.stderr.splitlines() == [
            f"snnsim.run: checkpoint: cannot write {checkpoint} (No space left on device); training goes on without "
            "them",
            f"snnsim.run: stopped by SIGTERM; no result written; the checkpoint of epoch 1 of 5 stays ({checkpoint}; "
            "later ones could not be written): the same command resumes from it and trains epoch 2 again",
        ], proc.stderr
        assert not out.exists()


@pytest.mark.parametrize(("batching", "first"), [(["--repeats", "12"], "r0-9"),
                                                 (["--repeats", "3", "--no-batch-repeats"], "r0-0")])  # fmt: skip
def test_a_stop_before_the_next_batched_model_has_a_checkpoint_says_it_trains_again(batching, first, tmp_path):
    """SIGTERM as the second batched model (repeats 10-11 of 12; repeat 1 with --no-batch-repeats)
    started, the first's checkpoint at its last epoch: the stop said "the same command resumes
    from it and only writes the result", but the rerun trains the other repeats from epoch 1."""
    out = tmp_path / "r.h5"
    proc = _terminated_in(
        "from snnsim import training\n"
        "real = training._read_checkpoint\n"
        "def read(options):\n"
        f"    if not str(options.checkpoint).endswith('.{first}.ckpt'):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(options)\n"
        "training._read_checkpoint = read\n",
        [*TINY, *batching, "--out", str(out)],
    )
    checkpoint = tmp_path / f".r.h5.{first}.ckpt"
    total = 12 if first == "r0-9" else 3
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"snnsim.run: stopped by SIGTERM; no result written; its checkpoint stays ({checkpoint}): the same command "
        f"resumes from it and trains the other 2 of {total} repeats from epoch 1"
    ), proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.name, f"{checkpoint.name}.json"]


def test_a_result_not_saved_after_patience_ended_the_run_does_not_say_checkpoints_failed(tmp_path):
    """--patience ended the run at epoch N of 30, its checkpoint of epoch N written, and the result
    could not be: the line said "later ones could not be written ... trains epochs N+1-30 again",
    though none failed and the rerun resumes and writes the result, training no epoch."""
    out = tmp_path / "r.h5"
    proc = _terminated_in(
        "from snnsim import run\n"
        "def save(ds, out, overwrite, fallback):\n"
        "    raise run.NotSaved(f'cannot write {out} (No space left on device); no result written')\n"
        "run.save = save\n",
        [*TINY, "--epochs", "30", "--n-val-batches", "1", "--patience", "1", "--out", str(out)],
    )
    checkpoint = tmp_path / ".r.h5.r0-0.ckpt"
    epoch = json.loads(Path(f"{checkpoint}.json").read_text())["epoch"]
    assert proc.returncode == 5 and epoch < 30, proc.stderr
    assert proc.stderr.splitlines() == [
        f"snnsim.run: error: cannot write {out} (No space left on device); no result written; the checkpoint of "
        f"epoch {epoch} of 30 stays ({checkpoint}): the same command resumes from it"
    ], proc.stderr


def test_a_result_not_saved_names_the_checkpoints_of_every_batched_model(tmp_path):
    """12 repeats train as two batched models on the CPU (10 and 2), each with its checkpoint: a
    result that could not be written named the first alone ("the checkpoint of its last epoch
    stays (.r.h5.r0-9.ckpt): ... only writes the result"), though the rerun needs both."""
    out = tmp_path / "r.h5"
    proc = _terminated_in(
        "from snnsim import run\n"
        "def save(ds, out, overwrite, fallback):\n"
        "    raise run.NotSaved(f'cannot write {out} (No space left on device); no result written')\n"
        "run.save = save\n",
        [*TINY, "--repeats", "12", "--out", str(out)],
    )
    first, second = tmp_path / ".r.h5.r0-9.ckpt", tmp_path / ".r.h5.r10-11.ckpt"
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.splitlines() == [
        f"snnsim.run: error: cannot write {out} (No space left on device); no result written; the checkpoints of "
        f"their last epoch stay ({first}, {second}): the same command resumes from them and only writes the result"
    ], proc.stderr
    assert first.exists() and second.exists()


@pytest.mark.parametrize(("batching", "first", "second"), [(["--repeats", "12"], "r0-9", "r10-11"),
                                                           (["--repeats", "2", "--no-batch-repeats"], "r0-0", "r1-1")])  # fmt: skip
def test_a_stop_with_several_checkpoints_names_the_epoch_of_each(batching, first, second, tmp_path):
    """SIGTERM after epoch 1 of the second batched model (the first's checkpoint at epoch 3 of 3):
    the stop said "their checkpoints stay (...): the same command resumes from them", not from
    which epochs. It names them; the rerun resumes from those epochs."""
    from snnsim import run

    out = tmp_path / "r.h5"
    proc = _terminated_in(
        "from snnsim import training\n"
        "call, seen = training._call_hooks, []\n"
        "def stopped(hooks, state, model, weights, epoch, again=False):\n"
        "    call(hooks, state, model, weights, epoch, again)\n"
        "    seen.append(epoch)\n"
        "    if seen == [1, 2, 3, 1]:  # epoch 1 of the second model\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "training._call_hooks = stopped\n",
        [*TINY, *batching, "--epochs", "3", "--out", str(out)],
    )
    a, b = tmp_path / f".r.h5.{first}.ckpt", tmp_path / f".r.h5.{second}.ckpt"
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr.splitlines() == [
        f"snnsim.run: stopped by SIGTERM; no result written; their checkpoints of epochs 3 and 1 of 3 stay ({a}, {b}): "
        "the same command resumes from them"
    ], proc.stderr
    rerun = run_here(run.main, *[w for w in TINY if w != "--quiet"], *batching, "--epochs", "3", "--out", out, cwd=ROOT)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming from the checkpoint after epoch 3 of 3" in rerun.stderr
    assert "resuming from the checkpoint after epoch 1 of 3" in rerun.stderr


def test_a_stop_with_several_checkpoints_after_failed_writes_says_which_epochs_train_again(tmp_path):
    """The disk filled (a real small file system) after epoch 1 of the second batched model, and
    SIGTERM came after its epoch 3 of 4: the line names the epoch each checkpoint holds and the
    epochs of that model a rerun trains again."""
    with mounted_tmpfs(tmp_path / "small", "4m") as small:
        out = small / "r.h5"
        proc = _terminated_in(
            _hooks_fill_then_stop(small, fill=[1, 2, 3, 4, 1], stop=[1, 2, 3, 4, 1, 2, 3]),
            [*TINY, "--repeats", "12", "--epochs", "4", "--out", str(out)],
        )
        a, b = small / ".r.h5.r0-9.ckpt", small / ".r.h5.r10-11.ckpt"
        assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
        assert proc.stderr.splitlines() == [
            f"snnsim.run: checkpoint: cannot write {b} (No space left on device); training goes on without them",
            f"snnsim.run: stopped by SIGTERM; no result written; their checkpoints of epochs 4 and 1 of 4 stay ({a}, "
            f"{b}; later ones could not be written): the same command resumes from them and trains epochs 2-3 of "
            "repeats 10-11 again",
        ], proc.stderr


def test_a_stop_with_several_checkpoints_after_failed_writes_names_them_whatever_the_out_name(tmp_path):
    """As above with a newline in the --out file's name: the repeats of each checkpoint were read
    from its name by a pattern whose ``.*`` stops at a newline, and the stop ended in a traceback
    (AttributeError) instead of its line."""
    with mounted_tmpfs(tmp_path / "small", "4m") as small:
        out = small / "r\n.h5"
        proc = _terminated_in(
            _hooks_fill_then_stop(small, fill=[1, 2, 1], stop=[1, 2, 1, 2]),
            [*TINY, "--repeats", "12", "--epochs", "2", "--out", str(out)],
        )
        a, b = small / ".r\n.h5.r0-9.ckpt", small / ".r\n.h5.r10-11.ckpt"
        assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
        assert proc.stderr.endswith(
            f"snnsim.run: stopped by SIGTERM; no result written; their checkpoints of epochs 2 and 1 of 2 stay ({a}, "
            f"{b}; later ones could not be written): the same command resumes from them and trains epoch 2 of "
            "repeats 10-11 again\n"
        ), proc.stderr


def test_a_stop_before_anything_is_written_leaves_no_folder_of_out(tmp_path):
    """SIGTERM once the checks of ``--out new/sub/r.h5`` had made its folders, before the run
    wrote anything there, left them behind, empty, beside "no result written" (a refusal there
    removed them, as ``predict``, ``export`` and ``plots`` do for a stop too). They are removed."""
    out = tmp_path / "new" / "sub" / "r.h5"
    proc = _terminated_in(
        "from snnsim import runner\n"
        "real = runner.check_memory\n"
        "def stopped(*args):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(*args)\n"
        "runner.check_memory = stopped\n",
        [*TINY, "--out", str(out)],
    )
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr == "snnsim.run: stopped by SIGTERM; no result written\n", proc.stderr
    assert os.listdir(tmp_path) == []


def _hooks_fill_then_stop(small: Path, fill: list[int], stop: list[int] | None) -> str:
    """Code for :func:`_terminated_in`: after the epoch hooks, where the epochs trained so far
    (``seen``, each batched model's in turn) are ``fill`` the real small file system of ``small``
    is filled (written until the kernel refuses), and where they are ``stop`` SIGTERM comes."""
    return (
        "from snnsim import training\n"
        "call, seen = training._call_hooks, []\n"
        "def stopped(hooks, state, model, weights, epoch, again=False):\n"
        "    call(hooks, state, model, weights, epoch, again)\n"
        "    seen.append(epoch)\n"
        f"    if seen == {fill!r}:  # the disk is full from now on\n"
        f"        with open({str(small / 'filler')!r}, 'wb', buffering=0) as fh:\n"
        "            try:\n"
        "                while True:\n"
        "                    fh.write(bytes(4096))\n"
        "            except OSError:\n"
        "                pass\n"
        f"    if seen == {stop!r}:\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "training._call_hooks = stopped\n"
    )


def _terminated_in(patch: str, argv: list[str]) -> subprocess.CompletedProcess:
    """``snnsim.run``'s ``main(argv)`` in a process of its own, after the code ``patch`` (which
    replaces a function by one that sends the process SIGTERM where the stop is to come)."""
    code = f"import os, signal, sys\n{patch}from snnsim.run import main\nsys.exit(main({argv!r}))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


def killed_after_writing(module: str, *args: str) -> None:
    """Run ``python -m MODULE ARGS`` and SIGKILL it once its result is written, when it starts to
    remove its checkpoint (held there: a poll for the result file misses that moment at times)."""
    code = (
        "import sys, time\n"
        "from snnsim import training\n"
        "def held(path):\n"
        "    print('removing', flush=True)\n"
        "    time.sleep(120)\n"
        "training.remove_checkpoint = held\n"
        f"from {module} import main\n"
        f"sys.exit(main({list(args)!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)  # fmt: skip
    assert proc.stdout.readline().strip() == "removing", proc.communicate(timeout=60)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_a_run_killed_after_writing_its_result_names_the_checkpoint_it_left(tmp_path):
    """SIGKILL between the result file and the removal of its checkpoint left the checkpoint
    beside the complete result, and the next run of the same --out did not name it. The runs after
    the killed one in this process."""
    from snnsim import run

    out = tmp_path / "r.h5"
    killed_after_writing("snnsim.run", *TINY, "--epochs", "3", "--out", str(out))
    assert results.load(out).attrs["complete"] == 1
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".r.h5.r0-0.ckpt")]
    assert len(left) == 2, left  # the checkpoint and its sidecar
    proc = run_here(run.main, *TINY, "--epochs", "3", "--out", out, cwd=ROOT)
    one_line_error(proc, 2, "exists", "the checkpoint .r.h5.r0-0.ckpt beside it is older than it")
    assert all(p.exists() for p in left)  # named, not removed: it may be kept by --keep-checkpoints
    again = run_here(run.main, *TINY, "--epochs", "3", "--out", out, "--overwrite", cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert os.listdir(tmp_path) == ["r.h5"]


def test_a_job_killed_after_writing_its_result_leaves_no_checkpoint_for_good(tmp_path):
    """SIGKILL between a job's file and the removal of its checkpoint: with every job done,
    `sweep status` did not name the checkpoint, and `sweep run` and `sweep local` (nothing to
    run) left it for good. One that a live process's job holds stays. The commands after the killed
    one in this process (the holder of the job is a process of its own)."""
    exp = tmp_path / "s.toml"
    exp.write_text(SMOKE.replace("epochs = 1", "epochs = 3").replace("seed = [0, 1, 2]", "seed = [0]"))
    res = ["--results-dir", str(tmp_path / "res")]
    folder = tmp_path / "res" / "s"
    killed_after_writing("snnsim.sweep.cli", *res, "run", str(exp), "0")
    assert results.load(folder / "job-0.h5").attrs["complete"] == 1
    left = [p for p in folder.iterdir() if p.name.startswith(".job-0.r0-0.ckpt")]
    assert len(left) == 2, left  # the checkpoint and its sidecar
    status = json.loads(sweep_here(*res, "status", str(exp), "--json").stdout)
    assert status["done"] == [0] and status["checkpoints_of_done_jobs"] == [str(folder / ".job-0.r0-0.ckpt")]
    assert "1 checkpoint(s) of done jobs" in sweep_here(*res, "status", str(exp)).stdout
    # a live process holds the job (a rerun with --force): its checkpoint is neither named nor removed
    holder = subprocess.Popen([sys.executable, "-c", "import time\nfrom pathlib import Path\nfrom snnsim.sweep.jobs import JobLock\n"
                               f"assert JobLock(Path({str(folder / '.job-0.lock')!r})).acquire()\nprint('held', flush=True)\n"
                               "time.sleep(120)"], stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert json.loads(sweep_here(*res, "status", str(exp), "--json").stdout)["checkpoints_of_done_jobs"] == []
        assert sweep_here(*res, "local", str(exp), "--quiet").returncode == 0
        assert sweep_here(*res, "run", str(exp), "0").returncode == 0
        assert all(p.exists() for p in left)
    finally:
        holder.kill()
        holder.communicate(timeout=60)
    local = sweep_here(*res, "local", str(exp), "--quiet")
    assert local.returncode == 0 and "nothing to run" in local.stdout
    assert "removed the checkpoint .job-0.r0-0.ckpt (epoch 3/3): job 0 of it is done" in local.stdout
    assert not any(p.name.startswith(".job-0.r0-0.ckpt") for p in folder.iterdir())
    assert json.loads(sweep_here(*res, "status", str(exp), "--json").stdout)["checkpoints_of_done_jobs"] == []


# -- 5. corrupt job files ------------------------------------------------------------------------
SMOKE = """name = "s"
[fixed]
backend = "fused"
epochs = 1
n_train_batches = 2
n_test_batches = 1
batch_size = 8
hidden = 8
[sweep]
seed = [0, 1, 2]
"""


def test_a_damaged_job_file_is_corrupt_rerun_and_named_by_merge(tmp_path):
    exp = tmp_path / "s.toml"
    exp.write_text(SMOKE)
    res = ["--results-dir", str(tmp_path / "res")]
    assert snnsim("sweep", *res, "local", str(exp), "--pack", "3", "--quiet").returncode == 0
    job = tmp_path / "res" / "s" / "job-1.h5"
    good = results.load(job)
    data = bytearray(job.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 300] = bytes(b ^ 0x5A for b in data[middle : middle + 300])
    job.write_bytes(bytes(data))  # the first command in a process of its own, the others in this one
    status = json.loads(sweep_here(*res, "status", exp, "--json").stdout)
    assert status["corrupt"] == [1] and status["done"] == [0, 2]
    human = sweep_here(*res, "status", exp).stdout
    assert "job 1 corrupt: " in human
    merged = sweep_here(*res, "merge", exp)
    one_line_error(merged, 2, "corrupt 1")
    again = sweep_here(*res, "local", exp, "--pack", "3", "--quiet")
    assert again.returncode == 0 and "ran 1 job " in again.stdout
    again = results.load(job)
    for name in ("loss", "test_acc", "w1", "w2"):
        np.testing.assert_array_equal(again[name].values, good[name].values)


# -- 6. two sweeps at once -------------------------------------------------------------------------
def test_a_job_run_by_another_live_process_is_skipped(tmp_path):
    exp = tmp_path / "slow.toml"
    exp.write_text(SMOKE.replace("epochs = 1", "epochs = 30000").replace("seed = [0, 1, 2]", "seed = [0, 1]"))
    res = ["--results-dir", str(tmp_path / "res")]
    first = subprocess.Popen([sys.executable, "-m", "snnsim.sweep", *res, "local", str(exp), "--indices", "0",
                              "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    log = tmp_path / "res" / "s" / "logs" / "job-0.log"
    deadline = time.time() + 60
    while not (log.exists() and "job 0 (1 of 2) of s:" in log.read_text()) and time.time() < deadline:
        time.sleep(0.2)
    # the commands beside the live sweep in this process
    status = json.loads(sweep_here(*res, "status", exp, "--json").stdout)
    assert status["running"] == [0] and status["missing"] == [1]
    # a second sweep of the same experiment leaves job 0 to its runner, and its log alone
    second = sweep_here(*res, "local", exp, "--indices", "0", "--quiet")
    assert second.returncode == 0 and "nothing to run" in second.stdout
    direct = sweep_here(*res, "run", exp, "0")
    assert (
        direct.returncode == 0
        and re.search(r"job 0: being run (\(epoch \d+/\d+\) )?by", direct.stderr)
        and "pid" in direct.stderr
    )
    assert "job 0 (1 of 2) of s:" in log.read_text()
    first.send_signal(signal.SIGTERM)  # `sweep local` passes it on to the job it runs
    first.communicate(timeout=60)
    assert first.returncode == 128 + signal.SIGTERM
    status = json.loads(sweep_here(*res, "status", exp, "--json").stdout)
    assert status["running"] == [] and status["missing"] == [0, 1]  # the lock died with its holder


# -- 7. divergence ---------------------------------------------------------------------------------
def test_divergence_is_an_error_naming_repeat_and_epoch(tmp_path):
    """The first in a process of its own, the second in this one (as in the next tests)."""
    from snnsim import run

    out = tmp_path / "r.h5"
    one_line_error(snnsim("run", *TINY, "--lr", "1e30", "--repeats", "2", "--out", str(out)), 4,
                   "repeat 0 (seed 0) diverged in epoch 1", "no result written")  # fmt: skip
    assert os.listdir(tmp_path) == []
    one_line_error(run_here(run.main, "--study", "bmi", "--model", "ann", "--lr", "1e30", "--epochs", "2", "--quiet",
                              "--n-train-folds", "1", cwd=ROOT), 4, "diverged in epoch 1")  # fmt: skip


def test_an_optimiser_that_overflowed_is_divergence_not_frozen_weights(tmp_path):
    from snnsim import run

    # Adam's second moment overflows to inf: every later step is 0 and the weights freeze, while
    # loss and weights stay finite; this was a finished result equal to the untrained model
    out = tmp_path / "r.h5"
    one_line_error(snnsim("run", *TINY, "--weight-decay", "3e38", "--out", str(out)), 4,
                   "diverged in epoch 1: its gradients overflowed the optimiser", "--weight-decay")  # fmt: skip
    assert os.listdir(tmp_path) == []
    one_line_error(run_here(run.main, "--study", "bmi", "--epochs", "1", "--quiet", "--n-train-folds", "1",
                              "--weight-decay", "3e38", cwd=ROOT), 4, "its gradients overflowed the optimiser")  # fmt: skip


def test_a_divergence_names_the_settings_that_cause_it(tmp_path):
    # a learning rate far too large: the loss or weights go NaN, or Adam's moments overflow; each
    # message named no setting, or only --weight-decay and --rate-reg, which were at 0
    from snnsim import run

    bmi = ("--study", "bmi", "--model", "ann", "--epochs", "1", "--quiet", "--n-train-folds", "1")
    for lr, what in (("1e30", "the training loss is nan"), ("3e5", "its gradients overflowed the optimiser")):
        one_line_error(run_here(run.main, *bmi, "--lr", lr, cwd=ROOT), 4, f"diverged in epoch 1: {what}", "--lr")
    one_line_error(run_here(run.main, *TINY, "--lr", "1e20", "--out", tmp_path / "r.h5"), 4,
                   "diverged in epoch 1: its weights are not finite", "--lr")  # fmt: skip
    assert os.listdir(tmp_path) == []


def test_a_learning_rate_too_small_to_move_a_weight_is_refused(tmp_path):
    # --lr 1e-12: every Adam step is below half a float32 ulp of its weight, so no weight changed
    # and the untrained network was written as a result, exit 0, without a word
    from snnsim import run

    out = tmp_path / "r.h5"
    for val in ([], ["--n-val-batches", "1"]):  # with validation, epoch 1's weights were "the best"
        one_line_error(run_here(run.main, *TINY, *val, "--lr", "1e-12", "--out", out), 4,
                       "repeat 0 (seed 0) did not train in epoch 1: none of its weights changed", "--lr 1e-12",
                       "no result written")  # fmt: skip
        assert os.listdir(tmp_path) == []
    # a small learning rate that moves some weights trains as before
    assert run_here(run.main, *TINY, "--lr", "1e-8", "--out", out).returncode == 0


def test_a_run_that_diverges_after_its_first_checkpoint_leaves_no_checkpoint(tmp_path):
    """One step per epoch at --lr 1e30: epoch 1 ends with finite weights near 1e30 (its checkpoint
    written), epoch 2 diverges. The run writes no result, and the checkpoint of epoch 1, of a
    training that cannot go on, is removed with its sidecar (a rerun would resume into the same
    divergence)."""
    from snnsim import run

    args = [*TINY, "--epochs", "3", "--n-train-batches", "1", "--lr", "1e30", "--out", tmp_path / "r.h5"]
    one_line_error(run_here(run.main, *args), 4, "repeat 0 (seed 0) diverged in epoch 2", "no result written")
    assert os.listdir(tmp_path) == []


def test_a_diverging_job_fails_with_its_reason_and_the_others_are_written(tmp_path):
    exp = tmp_path / "d.toml"
    exp.write_text(SMOKE.replace("[sweep]\nseed = [0, 1, 2]", "[sweep]\nlr = [0.01, 1e30]\nseed = [0, 1]"))
    res = ["--results-dir", str(tmp_path / "res")]
    proc = snnsim("sweep", *res, "run", str(exp), "0", "--pack", "4")
    assert proc.returncode == 4, proc.stderr
    status = json.loads(sweep_here(*res, "status", exp, "--json").stdout)  # status in this process
    assert status["done"] == [0, 1] and status["failed"] == [2, 3]
    human = sweep_here(*res, "status", exp).stdout
    assert "job 2 failed: repeat 0 (seed 0) diverged in epoch 1" in human


# -- 8. threads ------------------------------------------------------------------------------------
NUMBERS = ("loss", "train_acc", "test_acc", "confusion", "w1", "w2", "test_fvaf", "y_pred", "val_fvaf_curve")


THREAD_CASES = {
    "ipd-fused": ["--backend", "fused", "--epochs", "2", "--n-train-batches", "16", "--n-test-batches", "4", "--repeats",
                  "2"],
    "ipd-snntorch": ["--backend", "snntorch", "--epochs", "1", "--n-train-batches", "6", "--n-test-batches", "2"],
    "bmi-snn": ["--study", "bmi", "--backend", "fused", "--readout", "last", "--tau", "2ms", "--epochs", "2",
                "--batch-size", "256", "--n-train-folds", "6"],
    "bmi-linear": ["--study", "bmi", "--model", "linear", "--n-train-folds", "12"],
}  # fmt: skip

# every case's ``snnsim.run`` command in one process (argv[1]: {case: args}); prints {case: [exit code, stderr]}
EVERY_CASE = """
import contextlib, io, json, sys
from snnsim import run
said = {}
for case, args in json.loads(sys.argv[1]).items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run.main(args)
    said[case] = [code, err.getvalue()]
print(json.dumps(said))
"""


@pytest.fixture(scope="module")
def by_thread_count(tmp_path_factory) -> tuple[Path, dict]:
    """Every case of THREAD_CASES run by one process per thread count (the count set as its
    process starts, where threads are chosen): the folder of the result files ``CASE-tN.h5``,
    and per thread count each case's exit code and stderr."""
    folder = tmp_path_factory.mktemp("threads")
    said = {}
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads, SNNSIM_THREADS=threads, MKL_NUM_THREADS=threads)
        cases = {case: [*args, "--quiet", "--out", str(folder / f"{case}-t{threads}.h5")]
                 for case, args in THREAD_CASES.items()}  # fmt: skip
        proc = subprocess.run([sys.executable, "-c", EVERY_CASE, json.dumps(cases)], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=600)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        said[threads] = json.loads(proc.stdout.splitlines()[-1])
    return folder, said


@pytest.mark.xdist_group("thread-count")  # the runs, made once on one xdist worker
@pytest.mark.parametrize("case", list(THREAD_CASES))
def test_the_thread_count_does_not_change_the_numbers(case, by_thread_count):
    folder, said = by_thread_count
    files = []
    for threads in ("1", "2"):
        code, err = said[threads][case]
        assert code == 0, err
        files.append(results.load(folder / f"{case}-t{threads}.h5"))
    compared = [n for n in NUMBERS if n in files[0]]
    assert len(compared) >= 4
    for name in compared:
        np.testing.assert_array_equal(files[0][name].values, files[1][name].values, err_msg=name)


# -- 9, 10. bad input: one line, exit 2, nothing written --------------------------------------------
@pytest.fixture(scope="module")
def bmi_file(tmp_path_factory):
    import pickle

    from snnsim.datasets.bmi_synthetic import generate

    folder = tmp_path_factory.mktemp("bmi")
    base = generate(seed=0, samples_per_fold=300)

    def variant(name, key, change, fold=None):  # every fold, or only fold `fold`
        data = {k: list(v) for k, v in base.items()}
        data[key] = [change(a) if fold in (None, i) else a for i, a in enumerate(data[key])]
        with open(folder / f"{name}.pkl", "wb") as fh:
            pickle.dump(data, fh)
        return str(folder / f"{name}.pkl")

    return {
        "complex": variant("complex", "MI", lambda a: a.astype(complex)),
        "negative": variant("negative", "MI", lambda a: a - 1),
        "boolean": variant("boolean", "MI", lambda a: a > 0),
        "constant": variant("constant", "dtheta", np.zeros_like),
        "huge target": variant("huge", "dtheta", lambda a: a * 1e300),
        "target past float32": variant("past32", "dtheta", lambda a: a * 1e40),
        "huge counts": variant("hugecounts", "MI", lambda a: a * 1e300),
        # fold 4: the test fold of rotation 5; one count past float32's range, a target constant but for rounding
        "huge test count": variant(
            "hugetest", "MI", lambda a: np.where(np.arange(a.size).reshape(a.shape) == 5, 1e40, a), fold=4
        ),
        "near-constant test target": variant(
            "nearconst",
            "dtheta",
            lambda a: np.concatenate([[[1 + 1e-12, 0]], np.tile([[1.0, 0]], (len(a) - 1, 1))]),
            fold=4,
        ),
    }


@pytest.mark.parametrize("kind, fragment", [
    ("complex", "MI fold 0 is complex"), ("negative", "not spike counts"), ("boolean", "MI fold 0 is boolean"),
    ("constant", "is constant in the train fold"),
    ("huge target", "in the train fold(s) 5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,0,1,2 is too large to normalise"),
    ("target past float32", "(shoulder) in the train fold(s) 5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,0,1,2 is too "
                            "large for float32 predictions (largest magnitude "),
    ("huge counts", "spike counts of the training fold(s) 5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,0,1,2 are too large"),
    ("huge test count", "the spike counts of the test fold(s) 4 are too large for float32 once normalised (largest 1e+40)"),
    ("near-constant test target", "(shoulder) is constant in the test fold(s) 4"),
])  # fmt: skip
@pytest.mark.parametrize("model", ["snn", "linear"])
def test_bad_bmi_data_is_refused(bmi_file, kind, fragment, model, tmp_path):
    """The first case in a process of its own, the others in this one (no second of CPU each)."""
    from snnsim import run

    out = tmp_path / "r.h5"
    args = ("--study", "bmi", "--model", model, "--data", bmi_file[kind], "--epochs", "1", "--quiet", "--out", out)
    proc = snnsim("run", *map(str, args)) if (kind, model) == ("complex", "snn") else run_here(run.main, *args)
    one_line_error(proc, 2, fragment)
    assert not out.exists()


def test_a_one_row_fold_is_refused(tmp_path):
    import pickle

    from snnsim.datasets.bmi_synthetic import generate

    data = generate(seed=0, samples_per_fold=300)
    data = {k: [a[:1] if i == 4 else a for i, a in enumerate(v)] for k, v in data.items()}  # test fold of rotation 5
    path = tmp_path / "one.pkl"
    with open(path, "wb") as fh:
        pickle.dump(data, fh)
    one_line_error(snnsim("run", "--study", "bmi", "--model", "linear", "--data", str(path), "--quiet"), 2,
                   "--data: the test fold(s) 4 hold(s) 1 row(s): FVAF needs at least 2; choose another --target, --dim, "
                   "--rotation or data set")  # fmt: skip


@pytest.mark.parametrize("args, fragment", [
    (["--data", "/nonexistent.pkl", "--model", "ann"], "a setting of the bmi study; the ipd study does not use it"),
    (["--model", "lstm"], "--model: unknown value 'lstm'"),
    (["--out", "newdir/"], "--out: newdir/ names a folder"),
    (["--epoch", "1"], "unrecognized arguments: --epoch"),
    (["--thr", "0.5"], "unrecognized arguments: --thr"),
    (["--seed", "18446744073709551616"], "--seed: must be an integer in 0..4294967295"),
    (["--tau", "-1ms"], "--tau: duration must be positive"),
    (["--batch-size", "1000000"], "GB of memory"),
    (["--n-train-batches", "1000000"], "GB of memory"),
    (["--rate-max-hz", "5000"], "--rate-max-hz: at most one spike per step of dt=0.001 s: must be <= 1000 Hz"),
    (["--duration", "1ms"], "--duration: must hold at least two steps"),
])  # fmt: skip
def test_bad_settings_one_line_exit_2_nothing_written(args, fragment, tmp_path):
    """The first case in a process of its own, the others in this one."""
    from snnsim import run

    first = args[0] == "--data"
    proc = snnsim("run", *TINY, *args, cwd=tmp_path) if first else run_here(run.main, *TINY, *args, cwd=tmp_path)
    one_line_error(proc, 2, fragment)
    assert os.listdir(tmp_path) == []


def test_out_names_that_cannot_be_written_are_refused_before_training(tmp_path):
    """A name too long for the checkpoint and temporary files beside it (the training would be
    lost at its first checkpoint), or past the file system's limit; a broken symbolic link; a
    device or pipe that --overwrite would replace. The first in a process of its own."""
    from snnsim import run

    room = os.pathconf(tmp_path, "PC_NAME_MAX")
    for n, fragment in [(room - 20, f"is {room - 17} bytes long; at most"), (room + 40, "File name too long")]:
        args = (*TINY, "--out", "b" * n + ".h5")
        proc = snnsim("run", *args, cwd=tmp_path) if n < room else run_here(run.main, *args, cwd=tmp_path)
        one_line_error(proc, 2, fragment)
        assert os.listdir(tmp_path) == []
    (tmp_path / "link.h5").symlink_to("nothing")
    one_line_error(run_here(run.main, *TINY, "--out", "link.h5", cwd=tmp_path), 2,
                   "--out: link.h5 exists (a symbolic link to nothing)")  # fmt: skip
    os.mkfifo(tmp_path / "pipe")
    one_line_error(run_here(run.main, *TINY, "--out", "pipe", "--overwrite", cwd=tmp_path), 2,
                   "--out: pipe is not a regular file (a device, pipe or socket)")  # fmt: skip
    assert sorted(os.listdir(tmp_path)) == ["link.h5", "pipe"] and (tmp_path / "link.h5").is_symlink()


def test_a_tensorboard_folder_that_cannot_be_one_is_refused_before_training(tmp_path):
    """The first in a process of its own, the others in this one."""
    from snnsim import run

    (tmp_path / "afile").write_text("")
    # afile/tb: below a file; passed the check, trained, then "afile/tb: Not a directory" (exit 2, result lost)
    for folder, fragment in [("", "--tensorboard: empty; give a folder"), ("r.h5", "r.h5 is the --out file"),
                             ("afile", "--tensorboard: afile is a file; give a folder"),
                             ("afile/tb", f"--tensorboard: afile/tb is below the file {tmp_path / 'afile'}")]:  # fmt: skip
        args = (*TINY, "--out", "r.h5", "--tensorboard", folder)
        proc = snnsim("run", *args, cwd=tmp_path) if not folder else run_here(run.main, *args, cwd=tmp_path)
        one_line_error(proc, 2, fragment)
        assert os.listdir(tmp_path) == ["afile"]
    # a read-only file system (a tmpfs, where this process may mount one; else a folder without write permission)
    locked = tmp_path / "locked"
    locked.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(locked)],
                                                   capture_output=True).returncode == 0  # fmt: skip
    if not mounted:
        locked.chmod(0o555)
    try:
        one_line_error(run_here(run.main, *TINY, "--out", "r.h5", "--tensorboard", "locked/tb", cwd=tmp_path), 2,
                       f"--tensorboard: cannot write in {locked} (read-only or no permission)")  # fmt: skip
        assert sorted(os.listdir(tmp_path)) == ["afile", "locked"]
    finally:
        if mounted:
            subprocess.run(["umount", str(locked)], check=True)
        locked.chmod(0o755)


def test_the_out_is_never_an_input_file(bmi_path, tmp_path):
    """Even with --overwrite: the result would replace the data or the config it was made from."""
    from snnsim import run

    data = tmp_path / "d.pkl"
    data.write_bytes(Path(bmi_path).read_bytes())
    one_line_error(snnsim("run", "--study", "bmi", "--model", "linear", "--data", str(data), "--out", str(data),
                          "--overwrite", "--quiet"), 2, f"--out: {data} is the --data file; write to another file")  # fmt: skip
    assert data.read_bytes() == Path(bmi_path).read_bytes()
    config = tmp_path / "c.toml"
    config.write_text('study = "bmi"\nmodel = "linear"\n')
    one_line_error(run_here(run.main, "--config", config, "--data", data, "--out", config, "--overwrite"),
                   2, f"--out: {config} is the --config file; write to another file")  # fmt: skip
    assert config.read_text() == 'study = "bmi"\nmodel = "linear"\n'


def test_an_out_refused_with_overwrite_does_not_say_to_delete_an_older_checkpoint(bmi_path, tmp_path):
    """With --overwrite an older checkpoint beside --out is replaced by the run, not in its way:
    where --out is still refused (here: it is the --config file), the line says why and tells
    nothing of that checkpoint (kills ``overwrite or`` dropped in prepare_out)."""
    from snnsim import run

    data = tmp_path / "d.pkl"
    data.write_bytes(Path(bmi_path).read_bytes())
    config = tmp_path / "c.toml"
    config.write_text('study = "bmi"\nmodel = "linear"\n')
    older = tmp_path / ".c.toml.r0-0.ckpt"
    older.write_bytes(b"a checkpoint")
    os.utime(older, ns=(config.stat().st_mtime_ns - 10**9,) * 2)  # last written before --out
    proc = run_here(run.main, "--config", config, "--data", data, "--out", config, "--overwrite")
    assert proc.returncode == 2 and proc.stderr == (
        f"snnsim.run: error: --out: {config} is the --config file; write to another file\n"
    ), proc.stderr
    assert older.read_bytes() == b"a checkpoint"


def test_every_flag_named_in_a_message_exists():
    from snnsim import config
    from snnsim.run import build_parser

    options = build_parser()._option_string_actions
    for name in config.field_names():
        assert config.flag(name) in options, name


def test_experiment_files_that_are_not_utf8_and_a_results_dir_that_is_a_file(tmp_path):
    exp = tmp_path / "latin.toml"
    exp.write_bytes('name = "x"\n# café\n[sweep]\nseed = [0]\n'.encode("latin-1"))
    one_line_error(snnsim("sweep", "count", str(exp)), 2, "not UTF-8")
    (tmp_path / "afile").write_text("x")
    one_line_error(snnsim("sweep", "--results-dir", str(tmp_path / "afile"), "status", "smoke"), 2,
                   "--results-dir", "is a file")  # fmt: skip
    dup = tmp_path / "dup.toml"
    dup.write_text('name = "x"\n[sweep]\nreadout = ["mean", "oc"]\n')
    one_line_error(snnsim("sweep", "count", str(dup)), 2, "twice")


_THREE = ["--repeats", "3", "--no-batch-repeats", "--epochs", "2"]
_AFTER_MODEL_2_EPOCH_1 = (  # the first run: stopped after epoch 1 of the third model (repeat 2)
    "from snnsim import training\n"
    "call, seen = training._call_hooks, []\n"
    "def stopped(hooks, state, model, weights, epoch, again=False):\n"
    "    call(hooks, state, model, weights, epoch, again)\n"
    "    seen.append(epoch)\n"
    "    if seen == [1, 2, 1, 2, 1]:\n"
    "        os.kill(os.getpid(), signal.SIGTERM)\n"
    "training._call_hooks = stopped\n"
)
_IN_MODEL_0_RESUME = (  # the second run: stopped in the first model's resume (its hooks told the epoch resumed)
    "from snnsim import training\n"
    "call = training._call_hooks\n"
    "def stopped(hooks, state, model, weights, epoch, again=False):\n"
    "    call(hooks, state, model, weights, epoch, again)\n"
    "    if again:\n"
    "        os.kill(os.getpid(), signal.SIGTERM)\n"
    "training._call_hooks = stopped\n"
)


@pytest.fixture(scope="module")
def stopped_in_repeat_2(tmp_path_factory) -> tuple[Path, str]:
    """The first run of the tests below, once: ``_THREE`` stopped after epoch 1 of repeat 2 (its
    folder, holding the three checkpoints and their sidecars, and its stderr)."""
    folder = tmp_path_factory.mktemp("stopped")
    first = _terminated_in(_AFTER_MODEL_2_EPOCH_1, [*TINY, *_THREE, "--out", str(folder / "r.h5")])
    assert first.returncode == 128 + signal.SIGTERM, first.stderr
    return folder, first.stderr


def _first_run_into(stopped: tuple[Path, str], folder: Path) -> None:
    """The checkpoints (and sidecars) the first run left, copied beside ``folder / "r.h5"``."""
    import shutil

    for path in sorted(stopped[0].glob(".r.h5.r*")):
        shutil.copy2(path, folder / path.name)


def test_a_stop_while_a_run_resumes_names_the_checkpoints_of_the_models_it_had_not_reached(
    stopped_in_repeat_2, tmp_path
):
    """A run stopped after epoch 1 of repeat 2 of 3 (one model each), its rerun stopped as repeat 0
    resumed: the second stop said "its checkpoint stays (.r.h5.r0-0.ckpt): ... trains the other 2
    of 3 repeats from epoch 1", while the first run's checkpoints of repeats 1 and 2 stayed and a
    third run resumed them. The line names them with their epochs; the third run resumes them."""
    from snnsim import run

    out = tmp_path / "r.h5"
    a, b, c = (tmp_path / f".r.h5.r{r}-{r}.ckpt" for r in range(3))
    said = (f"snnsim.run: stopped by SIGTERM; no result written; their checkpoints of epochs 2, 2 and 1 of 2 stay "
            f"({a}, {b}, {c}): the same command resumes from them")  # fmt: skip
    made = [stopped_in_repeat_2[0] / path.name for path in (a, b, c)]
    assert stopped_in_repeat_2[1].splitlines() == [
        f"snnsim.run: stopped by SIGTERM; no result written; their checkpoints of epochs 2, 2 and 1 of 2 stay "
        f"({', '.join(map(str, made))}): the same command resumes from them"
    ], stopped_in_repeat_2[1]
    _first_run_into(stopped_in_repeat_2, tmp_path)
    second = _terminated_in(_IN_MODEL_0_RESUME, [*TINY, *_THREE, "--out", str(out)])
    assert second.returncode == 128 + signal.SIGTERM and second.stderr.splitlines() == [
        f"snnsim.run: resuming from the checkpoint after epoch 2 of 2 ({a})",
        said,
    ], second.stderr
    third = run_here(run.main, *[w for w in TINY if w != "--quiet"], *_THREE, "--out", out, cwd=ROOT)
    assert third.returncode == 0, third.stderr
    for path, epoch in ((a, 2), (b, 2), (c, 1)):
        assert f"resuming from the checkpoint after epoch {epoch} of 2 ({path})" in third.stderr, third.stderr
    assert results.load(out).attrs["complete"] == 1


@pytest.mark.parametrize("left", ["damaged sidecar", "other seed"])
def test_a_stop_while_a_run_resumes_says_what_an_earlier_checkpoint_it_cannot_judge_or_refuses_does(
    left, stopped_in_repeat_2, tmp_path
):
    """As above, with repeat 2's checkpoint one whose sidecar is damaged (the line cannot tell
    without torch whether it holds the run's model: it says so), or one of a run with another
    --seed (its sidecar names another config: the repeat trains from epoch 1, as the rerun says)."""
    from snnsim import run

    out = tmp_path / "r.h5"
    a, b, c = (tmp_path / f".r.h5.r{r}-{r}.ckpt" for r in range(3))
    _first_run_into(stopped_in_repeat_2, tmp_path)
    if left == "damaged sidecar":
        Path(f"{c}.json").write_text("{")
    else:
        other = tmp_path / "o.h5"
        proc = _terminated_in(_AFTER_MODEL_2_EPOCH_1, [*TINY, *_THREE, "--seed", "7", "--out", str(other)])
        assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
        for suffix in ("", ".json"):
            os.replace(tmp_path / f".o.h5.r2-2.ckpt{suffix}", f"{c}{suffix}")
    second = _terminated_in(_IN_MODEL_0_RESUME, [*TINY, *_THREE, "--out", str(out)])
    head = (f"snnsim.run: stopped by SIGTERM; no result written; their checkpoints of epochs 2 and 2 of 2 stay ({a}, "
            f"{b}): the same command resumes from them")  # fmt: skip
    assert second.returncode == 128 + signal.SIGTERM, second.stderr
    if left == "damaged sidecar":
        said = f"{head}; it resumes from {c} too where it holds its models (else their repeats train from epoch 1)"
    else:
        said = f"{head} and trains the other 1 of 3 repeats from epoch 1"
    assert second.stderr.splitlines()[-1] == said, second.stderr
    third = run_here(run.main, *[w for w in TINY if w != "--quiet"], *_THREE, "--out", out, cwd=ROOT)
    assert third.returncode == 0, third.stderr
    assert f"resuming from the checkpoint after epoch 2 of 2 ({b})" in third.stderr, third.stderr
    if left == "damaged sidecar":  # it held the run's model
        assert f"resuming from the checkpoint after epoch 1 of 2 ({c})" in third.stderr, third.stderr
    else:
        assert re.search(rf"{re.escape(str(c))} was made with seed=\d+, this run has seed=2; starting from epoch 1",
                         third.stderr), third.stderr  # fmt: skip


def test_a_result_not_saved_after_a_run_resumed_names_every_checkpoint_it_resumed(stopped_in_repeat_2, tmp_path,
                                                                                   monkeypatch):  # fmt: skip
    """The two stops above on a real small file system, then the disk filled as the third run
    resumed repeat 2 (at epoch 1 of 2): its result is not saved, and the line names the three
    checkpoints, the epochs they hold and the epoch of repeat 2 that could not be written."""
    from snnsim import run, training

    with mounted_tmpfs(tmp_path / "small", "4m") as small:
        out = small / "r.h5"
        a, b, c = (small / f".r.h5.r{r}-{r}.ckpt" for r in range(3))
        _first_run_into(stopped_in_repeat_2, small)
        proc = _terminated_in(_IN_MODEL_0_RESUME, [*TINY, *_THREE, "--out", str(out)])
        assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
        call = training._call_hooks

        def filled(hooks, state, model, weights, epoch, again=False):
            call(hooks, state, model, weights, epoch, again)
            if again and epoch == 1:  # repeat 2 resumed: the disk is full from now on
                fill(small)

        monkeypatch.setattr(training, "_call_hooks", filled)
        proc = no_checkpoint(run_here(run.main, *TINY, *_THREE, "--out", out, cwd=ROOT), "No space left on device")
        assert proc.returncode == 5, proc.stderr
        assert proc.stderr.splitlines()[-1].endswith(
            f"; their checkpoints of epochs 2, 2 and 1 of 2 stay ({a}, {b}, {c}; later ones could not "
            "be written): the same command resumes from them and trains epoch 2 of repeat 2 again"
        ), proc.stderr
        assert not out.exists()
