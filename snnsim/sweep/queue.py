"""The jobs of an experiment that wait in (or run from) a SLURM queue.

``sweep submit`` records each array job it submits in ``RESULTS/NAME/.slurm-submitted``
(one line: ``JOBID PACK STALE LOG``, ``PACK`` 0 without ``--pack``, ``STALE`` 1 with
``--rerun-stale``, else 0, ``LOG`` where its tasks write their stderr, as SLURM says, if it does). :func:`queued` asks ``squeue`` which tasks of those array jobs are
still in the queue, so that ``status`` shows their jobs as *queued*, not missing, and a second
``submit`` does not submit them again. A ``submit`` holds the experiment's lock
``.slurm-submitted.lock`` from reading the jobs' states until it has recorded its array job
(:func:`submitting`): of two at once, the second waits, then sees the first one's jobs queued. A stale job stays *stale* unless its array job was sent
with ``--rerun-stale``: without it, the task leaves the job as it is. A job whose task has left the
queue without a result or a ``.failed`` marker (the marker could not be written: a full disk) is
*failed* where the task's log says so (:func:`queued`'s ``failed``). An array job sent
by ``sbatch slurm/array.sh`` directly is not recorded, and its jobs stay *missing* until they
start.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import pwd
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Collection, Iterator
from pathlib import Path

from .. import atomic_write
from ..cli import signals_held, stop_on_signals
from ..errors import SnnsimError
from .experiment import Experiment
from .jobs import JobLock, job_dir, pack_indices, pack_of

RECORD = ".slurm-submitted"


#: Seconds a SLURM command may take before a line on stderr says what it waits for (a controller
#: that does not answer takes some 9 s to give up; one that answers, a fraction of a second).
SAY_AFTER_S = 1.0


def ask_slurm(argv: list[str], shown: str, what: str, env: dict[str, str] | None = None,
              timeout: float = 30) -> subprocess.CompletedProcess:  # fmt: skip
    """``subprocess.run(argv)`` of a SLURM client (``scontrol``, ``squeue``) with its output
    captured; where it has not answered after :data:`SAY_AFTER_S`, one line on stderr says what it
    waits for (``shown``: the command as named there; ``what``: what its answer is for) and for
    how long at most. Raises as ``run``: ``OSError``, ``subprocess.TimeoutExpired`` after
    ``timeout`` seconds; the command is killed on the way out of any exception (Ctrl-C too, and
    SIGTERM, which raises :class:`~snnsim.cli.Interrupted` meanwhile: by default it ended this
    process at once and left the command running until its own time-out)."""
    main = threading.current_thread() is threading.main_thread()  # only there can a handler be set
    with stop_on_signals() if main else contextlib.nullcontext():
        proc = None
        try:
            with signals_held() if main else contextlib.nullcontext():  # a stop while it starts: raised once it has
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            try:
                out, err = proc.communicate(timeout=min(SAY_AFTER_S, timeout))
            except subprocess.TimeoutExpired:
                print(f"snnsim.sweep: waiting for the SLURM controller: {shown} ({what}), at most "
                      f"{timeout:g} s ...", file=sys.stderr, flush=True)  # fmt: skip
                out, err = proc.communicate(timeout=max(timeout - SAY_AFTER_S, 0))
        except BaseException:  # the time-out, Ctrl-C, a stop signal: the command ends too (as run's)
            if proc is not None:
                proc.kill()
                proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _squeue_env() -> dict[str, str]:
    """The environment without the user's ``SQUEUE_*`` defaults (``SQUEUE_STATES``,
    ``SQUEUE_PARTITION`` ...), which would hide some of the queued tasks."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SQUEUE_")}


def record_path(exp: Experiment, root: str | os.PathLike | None = None) -> Path:
    return job_dir(exp, root) / RECORD


@contextlib.contextmanager
def submitting(exp: Experiment, root: str | os.PathLike | None = None) -> Iterator[None]:
    """Hold the experiment's submit lock (``flock`` on ``.slurm-submitted.lock``, released by
    the kernel when the holder exits or dies) for the ``with`` block; wait, with a note, while
    another ``sweep submit`` of the experiment holds it. Folders it made for the lock are removed
    again where the block recorded nothing (a submit refused, or with nothing to submit)."""
    lock = JobLock(record_path(exp, root).with_name(RECORD + ".lock"))
    made = [p for p in (lock.path.parent, *lock.path.parent.parents) if not p.exists()]  # innermost first

    def remove_made() -> None:  # leave no folder of a submit that sent nothing
        if made and not record_path(exp, root).exists():
            with contextlib.suppress(OSError):
                lock.path.unlink(missing_ok=True)
                for folder in made:
                    folder.rmdir()

    try:
        lock.acquire_waiting(f"another `sweep submit` of {exp.name}")
    except OSError as exc:  # a full disk: its empty lock file and folders are not left behind
        remove_made()
        raise SnnsimError(f"submit: cannot take the lock {lock.path}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        remove_made()
        lock.release()


def _recorded(exp: Experiment, root: str | os.PathLike | None) -> list[tuple[str, int, bool, str | None]]:
    """The recorded ``(array job id, pack size, reruns stale jobs, its tasks' stderr log as
    :func:`_log_pattern` gives it or None)``; none where the record is absent or unreadable (a
    line of two fields, as snnsim wrote them first: not rerunning stale)."""
    try:
        lines = record_path(exp, root).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split(maxsplit=3)
        if len(parts) >= 2 and all(p.isdigit() for p in parts[:3]):
            out.append((parts[0], int(parts[1]), len(parts) >= 3 and parts[2] == "1", (parts[3:] or [None])[0]))
    return out


#: A task's one-line error that counts as its jobs' failure (:func:`_failed_in_log`): a full disk.
WRITE_ERRORS = tuple(os.strerror(e) for e in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG))


def _fill_in(pattern: str, fields: dict[str, str], keep: str) -> str | None:
    """``pattern`` (an sbatch ``--error`` file name) with its ``%x``-style fields in ``fields``
    filled in (``%3a``: zero-padded to 3), those in ``keep`` left as they are; None where it has
    another (``%j``, ``%N``: not known here)."""
    unknown = []

    def one(m: re.Match) -> str:
        if m.group(2) in fields:
            return fields[m.group(2)].zfill(int(m.group(1) or 0))
        if m.group(2) not in keep:
            unknown.append(m.group(0))
        return m.group(0)

    out = re.sub(r"%(\d*)([A-Za-z%])", one, pattern)
    return None if unknown else out


def _log_pattern(job: str) -> str | None:
    """Where the tasks of array job ``job`` write their stderr, as SLURM has it (``squeue -O
    STDERR``), with the job's name, id and user filled in and ``%a`` (the task) left: for
    :func:`_failed_in_log` once the task has left the queue. None where SLURM does not tell, or
    the name has a field known only to the task (``%j``, ``%N``)."""
    try:
        proc = ask_slurm(["squeue", "-h", "-j", job, "-O", "STDERR:4096|,Name:256"], "squeue",
                         f"where array job {job} writes its logs", env=_squeue_env())  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = proc.stdout.splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else ""
    pattern, name = line[:4096].strip(), line[4097:].strip()
    if not pattern or "\n" in pattern:
        return None
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a user id with no name here: a %u is not filled in
        user = None
    fields = {"x": name, "A": job} | ({"u": user} if user else {})
    filled = _fill_in(pattern, fields, keep="a%")
    return None if filled is None else str(Path(filled).absolute())


#: How many bytes of a SLURM log's end :func:`_log_tail` reads
LOG_TAIL = 65536


def _log_tail(path: Path) -> list[str]:
    """The whole lines of the last :data:`LOG_TAIL` bytes of the log ``path``, no character cut:
    the line where the read begins is left out unless it begins there, and a last character not
    yet all written (the task writes its line) is dropped. Bytes that are not UTF-8 in the log
    itself are U+FFFD. Raises OSError."""
    with open(path, "rb") as fh:
        start = max(fh.seek(0, os.SEEK_END) - LOG_TAIL, 0)
        fh.seek(max(start - 1, 0))  # the byte before: a newline there, and the first line is whole
        data = fh.read()
    if start:
        newline = data.find(b"\n")
        data = data[newline + 1 :] if newline >= 0 else b""
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=False).splitlines()


def _failed_in_log(path: Path, index: int) -> str | None:
    """Why job ``index`` failed, as the last of its lines in the SLURM stderr log ``path`` of
    its task says (``job 2: not written: cannot write ...: No space left on device``, or the
    task's one-line error where a write failed); None where that line says otherwise (it started,
    was stopped, wrote its result, was refused: an experiment file edited since ``submit``) or
    there is none."""
    try:
        lines = _log_tail(path)
    except OSError:
        return None
    own, start = f"snnsim.sweep: job {index}: ", f"snnsim.sweep: job {index} ("
    for line in reversed(lines):
        if line.startswith("snnsim.sweep: error: "):  # the task's one line: only a write counts (not a refusal)
            what = line.removeprefix("snnsim.sweep: error: ")
            return what if what.startswith("cannot write ") or any(e in what for e in WRITE_ERRORS) else None
        if line.startswith(own):
            what = line.removeprefix(own)
            return what if what.startswith(("not written: ", "failed")) else None
        if line.startswith(start):
            return None
    return None


def _queue(why: list[str] | None = None, what: str = "the jobs in the queue") -> dict[str, dict[int, str]] | None:
    """This user's array tasks in the SLURM queue: array job id -> task id -> state, with the
    reason a task waits (``PENDING (Priority)``, ``PENDING (JobHeldUser)``, ``RUNNING``, ...);
    None where ``squeue`` is absent or does not answer. The user by number: a name from $USER
    may be another's, and a user id may have no name here (a container started with
    ``--user``). ``why``: where given, the reason it did not answer is appended to it."""
    if shutil.which("squeue") is None:
        if why is not None:
            why.append("squeue not found")
        return None
    try:
        argv = ["squeue", "-h", "-r", "-u", str(os.getuid()), "-o", "%F|%K|%T|%r"]
        proc = ask_slurm(argv, "squeue", what, env=_squeue_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        if why is not None:
            why.append("squeue timed out after 30 s" if isinstance(exc, subprocess.TimeoutExpired) else str(exc))
        return None
    if proc.returncode != 0:
        if why is not None:
            why.append((proc.stderr.strip().splitlines() or [f"squeue: exit code {proc.returncode}"])[0])
        return None
    out: dict[str, dict[int, str]] = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|", 3)
        if len(parts) == 4 and parts[1].isdigit():  # a job that is no array has task "N/A"
            state, why_waits = parts[2], parts[3].strip()
            text = f"{state} ({why_waits})" if why_waits not in ("", "None") else state
            out.setdefault(parts[0], {})[int(parts[1])] = text
    return out


def queued(
    exp: Experiment,
    root: str | os.PathLike | None = None,
    stale: Collection[int] = (),
    missing: Collection[int] = (),
    failed: dict[int, str] | None = None,
) -> dict[int, tuple[str, str]]:
    """Job index -> the array task that will run it and its state there (``("123_4", "PENDING
    (Priority)")``, ``("123_5", "RUNNING")``), for the jobs of
    the array jobs ``sweep submit`` recorded that are still in the queue, the ``stale`` jobs only
    where the array job reruns them (``--rerun-stale``); {} where none is recorded or ``squeue``
    does not answer. ``failed``: where given, the ``missing`` jobs (no result, no ``.failed``
    marker) whose last recorded task has left the queue and whose SLURM log says they failed
    are added to it, index -> why (their marker could not be written: a full disk)."""
    recorded = _recorded(exp, root)
    if not recorded:
        return {}
    why: list[str] = []
    jobs = ", ".join(j for j, *_ in recorded)
    queue = _queue(why, f"which jobs of array job(s) {jobs} still wait")
    if queue is None:  # the jobs of these array jobs would show missing, and be submitted again
        print(f"snnsim.sweep: note: could not ask SLURM which jobs of array job(s) "
              f"{', '.join(j for j, *_ in recorded)} still wait ({why[0] if why else 'no answer'}); "
              "jobs waiting in the queue show as missing", file=sys.stderr)  # fmt: skip
        return {}
    out: dict[int, tuple[str, str]] = {}
    for job, pack, rerun_stale, _ in recorded:
        for task, state in queue.get(job, {}).items():
            if state == "COMPLETING":  # ending (cancelled, or its jobs written or failed): runs no job
                continue
            try:
                indices = pack_indices(exp, pack, task) if pack else [exp.check_index(task)]
            except SnnsimError:  # the experiment file changed since: not a task of this grid
                continue
            for index in indices:
                if index in stale and not rerun_stale:  # the task leaves it alone
                    continue
                # the first recorded task that holds it; one that runs it over one that waits
                if index not in out or (state == "RUNNING" and out[index][1] != "RUNNING"):
                    out[index] = (f"{job}_{task}", state)
    for index in [] if failed is None else [i for i in missing if i not in out]:
        for job, pack, _, pattern in reversed(recorded):  # the last array job that ran it
            try:
                task = pack_of(exp, pack, index) if pack else index
            except SnnsimError:
                continue
            log = None if pattern is None else _fill_in(pattern, {"a": str(task), "%": "%"}, keep="")
            if queue.get(job, {}).get(task, "COMPLETING") != "COMPLETING" or log is None or not Path(log).exists():
                continue  # waits yet (stale, not rerun), or this array job had no such task
            if why := _failed_in_log(Path(log), index):
                failed[index] = f"{why} (SLURM job {job}_{task}, log {log})"
            break
    return out


def record(
    exp: Experiment, root: str | os.PathLike | None, job: str, pack: int, rerun_stale: bool = False, ask: bool = True
) -> None:
    """Record the array job ``job`` (of packs of ``pack`` jobs, 0: none; rerunning stale jobs
    or not) that ``sweep submit`` sent, keeping only the recorded jobs still in the queue (all
    of them where ``squeue`` does not answer: one that does not is no sign they have left).
    Call it inside :func:`submitting`: two writers at once would each drop the other's line.
    ``ask=False``: without asking ``squeue`` (a submit stopped while it asked: all kept, no log)."""
    queue = _queue(what="which recorded array jobs are still in the queue") if ask else None
    kept = [r for r in _recorded(exp, root) if queue is None or r[0] in queue]
    path = record_path(exp, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [*kept, (job, pack, rerun_stale, _log_pattern(job) if ask else None)]
    text = "".join(f"{j} {p} {int(s)}" + (f" {log}" if log else "") + "\n" for j, p, s, log in rows)
    atomic_write.write_bytes(path, text.encode(), overwrite=True, result=False)


def record_workers(folder: Path, job: str) -> None:
    """Record the array job ``job`` of tuning workers that ``tune submit`` sent, in
    ``FOLDER/.slurm-workers`` (one id a line, keeping those still in the queue), for
    :func:`waiting_workers`."""
    path = folder / ".slurm-workers"
    queue = _queue()
    try:
        kept = [j for j in path.read_text().split() if j.isdigit() and (queue is None or j in queue)]
    except OSError:
        kept = []
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write.write_bytes(path, "".join(f"{j}\n" for j in [*kept, job]).encode(), overwrite=True, result=False)


def ended_workers(folder: Path) -> list[str]:
    """The recorded array jobs of tuning workers (:func:`record_workers`) no longer in the SLURM
    queue; none where ``squeue`` does not answer."""
    try:
        jobs = [j for j in (folder / ".slurm-workers").read_text().split() if j.isdigit()]
    except OSError:
        return []
    queue = _queue() if jobs else None
    return [] if queue is None else [j for j in jobs if j not in queue]


def waiting_workers(folder: Path) -> str | None:
    """The recorded array jobs of tuning workers still in the SLURM queue, as ``"array job 462:
    2 PENDING (JobHeldUser)"``; None where none is recorded, none waits, or ``squeue`` does not
    answer."""
    try:
        jobs = [j for j in (folder / ".slurm-workers").read_text().split() if j.isdigit()]
    except OSError:
        return None
    queue = _queue() if jobs else None
    if not queue:
        return None
    parts = []
    for job in jobs:
        count: dict[str, int] = {}
        for state in queue.get(job, {}).values():
            count[state] = count.get(state, 0) + 1
        if count:
            parts.append(f"array job {job}: " + ", ".join(f"{n} {k}" for k, n in count.items()))
    return "; ".join(parts) or None
