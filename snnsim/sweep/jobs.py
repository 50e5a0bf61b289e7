"""Job result files and job states; running one job.

Job ``INDEX`` of experiment ``NAME`` writes ``RESULTS/NAME/job-INDEX.h5`` (``RESULTS`` is
``results``, or ``$SNNSIM_RESULTS``, or ``--results-dir``) with :func:`snnsim.results.write`:
a temporary file, fsync, rename. So a job killed at any moment (even SIGKILL during the
write) leaves either no ``job-INDEX.h5`` or a complete one; a leftover temporary file
(``.job-INDEX.h5.*.tmp``) is never taken for a result. Result folders of snnsim 0.2 name the
files ``task-INDEX.h5`` (and ``task-INDEX.failed``); they are read as they are.

States (:func:`state`):

``running``  a live process holds the job's lock (:class:`JobLock`), or (:func:`states`) SLURM
             runs the task of a recorded array job that will run it, and that task holds none of
             its jobs' locks yet (``(starting)``);
``done``     the file loads, its data read back as written (:func:`snnsim.results.verify`), it has
             ``complete = 1``, and it was made by this experiment's config for
             this index with this snnsim's numerics (:data:`snnsim.results.NUMERICS_VERSION`);
``stale``    a complete file, but its config or numerics version differs from what the
             experiment file and this snnsim now give, or its config is one this snnsim cannot
             read (a newer snnsim's), or its data are another now (a data file changed since, a
             synthetic set this snnsim loads otherwise: :func:`made_otherwise`) (reported; never merged silently, never overwritten unless
             asked);
``corrupt``  a ``job-INDEX.h5`` that does not load, whose data do not read back as written, or
             that lacks the complete mark;
``failed``   no result, and a ``job-INDEX.failed`` marker (written by the runner when the run
             raised an exception; it holds the traceback);
``queued``   not done or running, and a task of an array job that ``sweep submit`` sent still
             waits for it in the SLURM queue (:mod:`snnsim.sweep.queue`; asked by :func:`states`);
             a stale job only where that array job was sent with ``--rerun-stale``, else it
             leaves the job as it is;
``missing``  none of the above (never run, still running, killed, cancelled or requeued).
"""

from __future__ import annotations

import fcntl
import fnmatch
import json
import os
import re
import socket
import sys
import time
import traceback
import unicodedata
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .. import results
from ..atomic_write import WriteFailed, clean_leftovers, folder_blocked, leftovers_by_target, write_bytes
from ..config import as_keys, config_digest
from ..errors import (
    EXIT_DIVERGED,
    EXIT_FAILED,
    EXIT_NOT_WRITTEN,
    EXIT_OK,
    EXIT_STALE,
    DataError,
    ResultError,
    SnnsimError,
)
from .experiment import Experiment

if TYPE_CHECKING:
    import xarray as xr

STATES = ("done", "running", "queued", "missing", "failed", "corrupt", "stale")
ENV_RESULTS = "SNNSIM_RESULTS"
PREFIX = "job"
LEGACY_PREFIX = "task"  # snnsim 0.2's name of a job file


def results_dir(override: str | os.PathLike | None = None) -> Path:
    """``override``, else ``$SNNSIM_RESULTS``, else ``results``; a leading ``~`` is the home folder
    (``SNNSIM_RESULTS="~/r"``: the shell leaves a quoted one as it is)."""
    if override is not None:
        return Path(os.path.expanduser(override))
    return Path(os.path.expanduser(os.environ.get(ENV_RESULTS) or "results"))


def check_results_dir(override: str | None) -> Path:
    """:func:`results_dir`, refused (naming where it came from) when empty or a file."""
    where = "--results-dir" if override is not None else f"${ENV_RESULTS}" if os.environ.get(ENV_RESULTS) else None
    if override == "":
        raise SnnsimError("--results-dir: empty; give a folder")
    root = results_dir(override)
    name = where or "the results folder"
    why, blocker, _ = folder_blocked(root)
    if why == "file":
        raise SnnsimError(f"{name}: {root} is a file; give a folder")
    if why == "link":  # scratch space behind a link, not mounted here or purged
        raise SnnsimError(
            f"{name}: {root}: {blocker} is a symbolic link to {os.readlink(blocker)}, which does not exist"
        )
    if why == "below":  # a file above it: no job's file can be there
        raise SnnsimError(f"{name}: {root}: {blocker} is a file, not a folder")
    return root


def check_merged_kind(path: Path, kind: str) -> None:
    """Refuse to replace the merged file ``path`` when the other command made it (a ``tune``
    merge has the attribute ``tune_spec``, a ``sweep`` merge ``experiment``): a sweep and a
    tuning spec of the same name would replace each other's results. Nor a file of one run, or
    of a model's predictions (a ``config`` and no merge's attribute): ``snnsim.run --out
    results/NAME.h5`` was replaced by the merge without a word."""
    if not path.is_file():
        return
    try:
        attrs = results.file_attrs(path)
    except Exception:  # noqa: BLE001 - a damaged file is replaced, as before
        return
    theirs = "tune" if "tune_spec" in attrs else "sweep" if "experiment" in attrs else None
    if theirs not in (None, kind):
        raise SnnsimError(f"{path} holds the merged results of a {theirs} named {path.stem!r}; "
                          f"give this {kind} another name")  # fmt: skip
    if theirs is None and "config" in attrs:
        what = "a model's predictions (python -m snnsim.predict)" if "model" in attrs else "the results of one run"
        raise SnnsimError(f"{path} holds {what}, not a merge; move it away: the {kind}'s merged results go there")


def job_dir(exp: Experiment, root: str | os.PathLike | None = None) -> Path:
    return results_dir(root) / exp.name


def result_path(exp: Experiment, index: int, root: str | os.PathLike | None = None) -> Path:
    """Where job ``index`` writes its result: ``RESULTS/NAME/job-INDEX.h5``."""
    return job_dir(exp, root) / f"{PREFIX}-{exp.check_index(index)}.h5"


def failed_path(exp: Experiment, index: int, root: str | os.PathLike | None = None) -> Path:
    """The marker a failed job leaves (with its traceback)."""
    return job_dir(exp, root) / f"{PREFIX}-{exp.check_index(index)}.failed"


def found_result(exp: Experiment, index: int, root: str | os.PathLike | None = None) -> Path:
    """The result file of job ``index`` as it is on disk: ``job-INDEX.h5``, else the
    ``task-INDEX.h5`` of an older result folder, else (neither exists) :func:`result_path`."""
    path = result_path(exp, index, root)
    legacy = path.with_name(f"{LEGACY_PREFIX}-{index}.h5")
    return legacy if not path.exists() and legacy.exists() else path


def _found_marker(exp: Experiment, index: int, root: str | os.PathLike | None) -> Path:
    path = failed_path(exp, index, root)
    legacy = path.with_name(f"{LEGACY_PREFIX}-{index}.failed")
    return legacy if not path.exists() and legacy.exists() else path


def merged_path(exp: Experiment, root: str | os.PathLike | None = None) -> Path:
    return results_dir(root) / f"{exp.name}.h5"


@dataclass(frozen=True)
class JobState:
    index: int
    state: str
    reason: str = ""
    wall_seconds: float | None = None  # done jobs: the process's wall time until the file was written
    peak_rss_mb: float | None = None  # done jobs: the process's peak memory then
    holder: str | None = None  # running jobs: who holds the job's lock ("host pid N"), as its lock file says


def state(
    exp: Experiment,
    index: int,
    root: str | os.PathLike | None = None,
    check_data: bool = True,
    listing: Listing | None = None,
) -> JobState:
    """The state of one job (see the module docstring). ``check_data=False`` skips reading the
    arrays back (:func:`snnsim.results.verify`): for a caller that loads the file next, which
    checks them anyway. ``listing``: the job folder's, for a caller asking about many jobs."""
    holder = job_lock(exp, index, root).holder()
    if holder is not None:
        progress = checkpoint_progress(exp, root, listing).get(index)
        at = f"(epoch {progress[0]}/{progress[1]}) " if progress else ""
        return JobState(index, "running", f"{at}by {holder}", holder=holder)
    return file_state(exp, index, root, check_data, listing)


def damage_of(path: Path, check_data: bool = True) -> tuple[str | None, dict]:
    """Why the result file ``path`` cannot be read (cut short, its arrays changed after writing
    (``check_data``), unreadable, or without its complete mark), or None; and its attributes
    (empty where it cannot be read)."""
    damage = results.verify(path) if check_data else None
    if damage:
        return damage, {}
    try:
        attrs = results.file_attrs(path)
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds for a damaged file
        return f"unreadable ({type(exc).__name__})", {}
    return (None if results.is_complete(attrs) else "no complete mark"), attrs


#: :func:`sidecar_refusal` of a checkpoint made by other configs.
OTHER_CONFIG = "was made by another config"


def sidecar_refusal(info: dict, config_json: str) -> str | None:
    """Why a checkpoint whose sidecar reads ``info`` (:func:`snnsim.training.save_checkpoint`) is
    not resumed by a model of the config ``config_json`` (:meth:`RunConfig.to_json`), as far as
    the sidecar tells without torch: made by other configs (:data:`OTHER_CONFIG`), by an snnsim of
    other numerics, or with other computing libraries; None where it says none of these (a
    sidecar of an earlier snnsim may not say)."""
    made_by = info.get("configs")
    if made_by is not None and config_digest(config_json) not in (map(str, made_by) if isinstance(made_by, list)
                                                                  else ()):  # fmt: skip
        return OTHER_CONFIG
    numerics, versions = info.get("numerics_version"), info.get("versions")
    if numerics is not None and numerics != results.NUMERICS_VERSION:
        return f"was made by an snnsim of numerics version {numerics}, this one has {results.NUMERICS_VERSION}"
    made_with = {str(k): str(v) for k, v in versions.items()} if isinstance(versions, dict) else {}
    now = _library_versions()
    if changed := [k for k, v in made_with.items() if v != now.get(k, v)]:
        return (f"was made with {', '.join(f'{k} {made_with[k]}' for k in changed)}, this snnsim has "
                f"{', '.join(f'{k} {now[k]}' for k in changed)}")  # fmt: skip
    return None


def file_state(
    exp: Experiment,
    index: int,
    root: str | os.PathLike | None = None,
    check_data: bool = True,
    listing: Listing | None = None,
) -> JobState:
    """The state of one job from its files alone, whoever holds its lock (the holder asks)."""
    path = found_result(exp, index, root)
    if path.exists():
        damage, attrs = damage_of(path, check_data)
        if damage:
            return JobState(index, "corrupt", damage)
        if "config" not in attrs:
            return JobState(index, "corrupt", "no config")
        try:
            made_by = results.read_config(attrs["config"], path)
        except ResultError as exc:  # a complete file of another snnsim: kept, not rerun
            return JobState(index, "stale", f"a config this snnsim cannot read ({exc.reason})")
        wanted = exp.config(index)
        if made_by != wanted:
            diff = [k for k, v in wanted.to_dict().items() if made_by.to_dict().get(k) != v]
            return JobState(
                index,
                "stale",
                "config differs: "
                + ", ".join(f"{k} {made_by.to_dict().get(k)!r} != {wanted.to_dict()[k]!r}" for k in diff),
            )
        if why := made_otherwise(attrs, wanted.data):
            return JobState(index, "stale", why)
        wall, peak = attrs.get("job_wall_seconds"), attrs.get("peak_rss_mb")
        return JobState(index, "done", "", None if wall is None else float(wall), None if peak is None else float(peak))
    marker = _found_marker(exp, index, root)
    if marker.exists():
        return JobState(index, "failed", _last_line(marker))
    listing = list_folder(exp, root) if listing is None else listing
    progress = listing.progress.get(index)
    if progress:
        batch = listing.checkpoint_jobs[index]
        if done := [j for j in batch if j != index and found_result(exp, j, root).exists()]:
            # its pack runs without the done jobs: another batched model, another checkpoint
            return JobState(index, "missing", f"its checkpoint (epoch {progress[0]}/{progress[1]}, of jobs "
                            f"{array_spec(batch)}) cannot resume: job {array_spec(done)} is done since")  # fmt: skip
        info = listing.checkpoint_info.get(index, {})
        if why := sidecar_refusal(info, exp.config(index).to_json()):
            edited = " (the experiment file changed since)" if why == OTHER_CONFIG else ""  # the file edited since
            return JobState(index, "missing", f"its checkpoint (epoch {progress[0]}/{progress[1]}) {why}{edited}: it "
                            "starts from epoch 1")  # fmt: skip
        resumes = f"resumes from its checkpoint after epoch {progress[0]}/{progress[1]}"
        if len(set(batch)) > 1:  # a pack's batched model: run alone (or in another pack), the job starts anew
            resumes += (f" when jobs {array_spec(batch)} run again in one pack (the --pack they ran with); "
                        "run otherwise, from epoch 1")  # fmt: skip
        return JobState(index, "missing", resumes)
    return JobState(index, "missing")


def made_otherwise(attrs: dict, data: str | None) -> str | None:
    """Why the numbers of a complete result file (its attributes ``attrs``, trained on ``data``)
    are not this snnsim's: made with other numerics, or on a data file that has changed since,
    or on a synthetic set that this snnsim's generator (or its cache) gives otherwise now; None
    when none of these (a sweep's job is then done, a tuning trial counts)."""
    numerics = results.numerics_version(attrs)
    if numerics != results.NUMERICS_VERSION:
        return f"numerics version {numerics} (snnsim {attrs.get('snnsim_version')}) != {results.NUMERICS_VERSION} of this snnsim"
    return _data_changed(data, attrs.get("data_file_sha256")) or _synthetic_changed(
        data, attrs.get("synthetic_data_sha256")
    )


def _data_changed(data: str | None, digest: str | None) -> str | None:
    """Why a job that trained on data file ``data`` (SHA-256 ``digest``, recorded since snnsim
    0.3.0) is stale: the file differs now; None when it is the same, or cannot be read to tell."""
    from ..datasets.bmi import is_file_source

    return results.data_changed(data, digest) if is_file_source(data) else None


def _synthetic_changed(data: str | None, digest: str | None) -> str | None:
    """Why a job that trained on synthetic source ``data`` (None: the standard set), whose arrays
    had SHA-256 ``digest`` (recorded since snnsim 0.3.0), is stale: this snnsim loads (from its
    cache, else generated) another set now; None when the same, or it cannot be loaded to tell."""
    from ..datasets.bmi import synthetic_sha256

    if digest is None:
        return None
    try:
        now = synthetic_sha256(data)
    except (DataError, OSError):
        return None
    if now is None or now == digest:
        return None
    return (f"synthetic data {data or 'synthetic'} with SHA-256 {digest[:12]}... then, {now[:12]}... now "
            "(this snnsim's generator, or its cache)")  # fmt: skip


def states(
    exp: Experiment,
    root: str | os.PathLike | None = None,
    check_data: bool = True,
    listing: Listing | None = None,
    progress: str | None = None,
) -> list[JobState]:
    """The state of every job, with one listing of the job folder (``listing``, else a new one),
    and one question to the SLURM queue: a job neither done nor running that a queued task will
    run is ``queued``, or ``running`` where SLURM runs that task already (its ``sweep run`` still
    starting, before it takes the job's lock). With ``progress``, a bar of that description
    counts the jobs checked, on a terminal only (seconds for hundreds of jobs), and is cleared."""
    from tqdm.auto import tqdm

    from .queue import queued

    listing = list_folder(exp, root) if listing is None else listing
    if progress is None:  # no bar at all (``local --quiet``, ``run``): nothing of tqdm runs
        out = [state(exp, i, root, check_data, listing) for i in range(exp.grid_size)]
    else:  # closed on the way out too: a stop's line is its own, not after the bar's text
        out = []
        with tqdm(total=exp.grid_size, desc=progress, unit="job", disable=None, leave=False) as bar:
            for i in range(exp.grid_size):
                out.append(state(exp, i, root, check_data, listing))
                bar.update()
    failed: dict[int, str] = {}  # missing jobs whose SLURM task's log says they failed (no marker: a full disk)
    waiting = queued(exp, root, stale={s.index for s in out if s.state == "stale"},
                     missing=[s.index for s in out if s.state == "missing"], failed=failed)  # fmt: skip
    out = [JobState(s.index, "failed", failed[s.index]) if s.index in failed else s for s in out]

    # a running task that holds one of its jobs' locks has started: it will not come back to a job
    # of its pack it has failed (or one that was not its to run)
    started = {waiting[s.index][0] for s in out if s.index in waiting and s.state == "running"}

    def in_queue(s: JobState) -> JobState:
        task, slurm_state = waiting[s.index]
        if slurm_state == "RUNNING":
            return s if task in started else JobState(s.index, "running", f"(starting) in SLURM job {task}")
        return JobState(s.index, "queued", f"SLURM job {task} {slurm_state}")

    return [in_queue(s) if s.index in waiting and s.state not in ("done", "running") else s for s in out]


def check_data(exp: Experiment, indices: list[int], here: bool = False) -> None:
    """Read every data file that jobs ``indices`` read, once each, with the checks a run makes
    (:func:`snnsim.datasets.bmi.load`): a missing or malformed file is one :class:`DataError`
    before any job starts, not a failure in every job's log. Synthetic sources are only parsed
    (making them is the jobs' work). Relative paths are read from the current folder, as the
    jobs started from it read them. The experiment's ``tensorboard`` folder must not be a file;
    with ``here`` (the jobs run on this machine) a job on ``cuda`` needs a CUDA device here."""
    from ..datasets import bmi, bmi_synthetic

    if exp.tensorboard is not None:
        _check_tensorboard(exp, here)
    on_cuda = [i for i in indices if exp.config(i).device == "cuda"]
    if here and on_cuda:
        import torch

        if not torch.cuda.is_available():
            raise SnnsimError(f"{exp.name}: jobs {array_spec(on_cuda)} run on cuda, and this machine has no CUDA "
                              "device; submit them to a GPU partition, or set device = \"auto\"; no job started")  # fmt: skip
    readers: dict[str, list[int]] = {}
    for i in indices:
        data = exp.config(i).data
        if data is not None:
            readers.setdefault(data, []).append(i)
    for data, jobs in readers.items():
        try:
            if bmi_synthetic.parse_source(data) is None:
                bmi.load(data)
        except (DataError, ValueError) as exc:
            why = str(exc).removeprefix("--data: ")  # the file's key, not a flag it (or sweep) has not
            where = ""
            full = Path(os.path.expanduser(data))  # "~nobody/x" as it is, as the run reads it (Path.expanduser raises)
            missing = isinstance(exc, DataError) and not full.exists()  # not a damaged file
            if missing and exp.path is not None and not full.is_absolute():  # as run --config says
                beside = Path(os.path.abspath(Path(exp.path).parent / data))  # full, as the hint asks
                there = f"; {beside} is there: give its full path" if beside.exists() else ""
                where = (
                    f"; a relative path is read from the current folder, {Path.cwd()}, not the experiment file's{there}"
                )
            raise DataError(f"{exp.path or exp.name}: data: {why} (read by job{'s' * (len(jobs) > 1)} "
                            f"{array_spec(jobs)}{where}); no job started") from None  # fmt: skip


#: Unicode categories of characters a marker's shown line has none of (control, format, private)
_NOT_TEXT = ("Cc", "Cf", "Co", "Cs")
#: ANSI escape sequences (colours, links) of a library that colours its messages: CSI, OSC, two-byte
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def _last_line(path: Path) -> str:
    """The last line of the ``.failed`` marker ``path`` (its error), without the ANSI escape
    sequences of a library that colours its messages and with any other control character made
    printable (``\\x07``); a marker that is not text (damaged: bytes that are not UTF-8, NUL bytes)
    or cannot be read is named as such, in one line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # removed since it was found: the job runs again, and says nothing of why it failed
        return ""
    except OSError as exc:
        return f"its .failed marker is unreadable ({exc.strerror or type(exc).__name__})"
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return f"its .failed marker is unreadable: {len(data)} bytes not text"
    lines = [ln for ln in _ESCAPES.sub("", text).splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    return "".join(ascii(ch)[1:-1] if unicodedata.category(ch) in _NOT_TEXT else ch for ch in last)


def array_spec(indices: list[int]) -> str:
    """Indices in sbatch ``--array`` syntax: ``[0, 1, 2, 5, 7, 8] -> "0-2,5,7-8"``."""
    indices = sorted(set(indices))
    parts = []
    i = 0
    while i < len(indices):
        j = i
        while j + 1 < len(indices) and indices[j + 1] == indices[j] + 1:
            j += 1
        parts.append(str(indices[i]) if i == j else f"{indices[i]}-{indices[j]}")
        i = j + 1
    return ",".join(parts)


_ARRAY_PART = re.compile(r"(\d+)(?:-(\d+)(?::(\d+))?)?")


def parse_array_spec(spec: str, check: Callable[[int], object] | None = None) -> list[int]:
    """Inverse of :func:`array_spec`: sbatch ``--array`` syntax (``0-3,7``, ``0-9:2``, a ``%K``
    throttle). Raises ValueError for anything else, an empty range (``5-3``) or a step of 0.
    ``check`` is called with each part's largest index before its range is made (a job index
    past the grid raises there, not after ``0-99999999999`` filled the memory)."""
    spec, _, throttle = spec.strip().partition("%")
    if _ and not (throttle.isascii() and throttle.isdigit() and int(throttle) > 0):
        raise ValueError(f"bad throttle %{throttle}")
    out: list[int] = []
    for part in spec.split(","):
        match = _ARRAY_PART.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"bad part {part!r}")
        a, b, step = match.groups()
        a, b, step = int(a), int(a if b is None else b), int(step or 1)
        if b < a or step < 1:
            raise ValueError(f"empty range {part!r}")
        if check is not None:
            check(b)
        out += range(a, b + 1, step)
    return sorted(set(out))


# -- locks: one runner per job --------------------------------------------------------------------
class JobLock:
    """An exclusive lock on one job, held while a process runs it: ``flock`` on the hidden file
    ``.job-INDEX.lock``, released when the holder exits or dies, by the kernel (on NFS through
    its lock manager, so it also holds across the nodes of a cluster). The lock file says which
    host and process hold it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait: float = 1.0, note: str = "") -> bool:
        """Take the lock, trying for ``wait`` seconds (a ``status`` probe holds it for a moment);
        the file says who holds it, then ``note`` (for :meth:`held_text`).
        Raises :class:`~snnsim.atomic_write.WriteFailed`, naming the lock file and holding nothing,
        where the holder cannot be written in it (a full disk)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)
        try:  # who holds it, for `status`: a full disk is said here, naming the lock, not as a bare errno
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} pid {os.getpid()}\n{note}".encode())
        except OSError as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise WriteFailed(self.path, exc.strerror or str(exc), exc.errno) from None
        self._fd = fd
        return True

    def acquire_waiting(self, what: str) -> None:
        """Take the lock however long it takes; where another process holds it, say once on stderr
        that this one waits for ``what`` (and who holds it). Raises as :meth:`acquire`."""
        if not self.acquire(wait=0):
            print(f"snnsim.sweep: waiting for {what} ({self.holder() or self.path})", file=sys.stderr, flush=True)
            self.acquire(wait=float("inf"))

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> str | None:
        """Who holds the lock ("host pid N"), or None when nobody does."""
        held = self.held_text()
        return None if held is None else held.partition("\n")[0].strip() or "another process"

    def held_text(self) -> str | None:
        """What the lock file says while another process holds the lock (its holder's line, then
        the ``note`` of :meth:`acquire`); None when none does."""
        if self._fd is not None or not self.path.exists():
            return None
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return os.pread(fd, 1 << 20, 0).decode(errors="replace")
            finally:
                os.close(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        return None


def lock_holders(st: list[JobState]) -> set[tuple[str, int]]:
    """The processes holding the locks of the running jobs of ``st`` (as :func:`state` read them),
    as (host with its dots as ``_``, pid), as :func:`snnsim.atomic_write.writer_of` names the writer
    of a temporary file: a process on another host writing a job's file is not one that was killed."""
    out = set()
    for s in st:
        if m := re.fullmatch(r"(.*) pid (\d+)", s.holder or ""):
            out.add((m.group(1).replace(".", "_") or "host", int(m.group(2))))
    return out


def checkpoint_path(
    exp: Experiment, jobs: list[int], repeats: list[int], root: str | os.PathLike | None = None
) -> Path:
    """The checkpoint of the batched model of ``jobs`` (their repeats ``repeats``):
    ``.job-3.r0-0.ckpt``, or ``.jobs-0,2,4-8.r0-0.ckpt`` for a batched model of a pack."""
    spec = array_spec(jobs)
    name = f".job-{spec}" if len(set(jobs)) == 1 else f".jobs-{spec}"
    return job_dir(exp, root) / f"{name}.r{min(repeats)}-{max(repeats)}.ckpt"


def _remove_orphaned_checkpoints(
    exp: Experiment, root: str | os.PathLike | None, listing: Listing, todo: list[int], log: Callable[[str], None]
) -> None:
    """Remove the checkpoints of batched models that cannot resume: one of their jobs is done
    (a pack killed after some of its results were written, so their other jobs run in another
    batched model; or a job killed after its result was written, before it removed its
    checkpoint). Not one that this run may form again (its jobs all among ``todo``), nor one
    with a job another process runs."""
    for path, batch, progress in listing.checkpoints:
        done = [j for j in batch if found_result(exp, j, root).exists()]
        if not done or set(batch) <= set(todo) or any(job_lock(exp, j, root).holder() for j in batch if j not in todo):
            continue
        try:
            for file in (path, Path(f"{path}.json")):
                file.unlink(missing_ok=True)
        except OSError:  # clutter left, not a reason to fail the jobs
            continue
        log(f"removed the checkpoint {path.name} (epoch {progress[0]}/{progress[1]}): job {array_spec(done)} "
            "of it is done, so it cannot resume")  # fmt: skip


def remove_done_checkpoints(exp: Experiment, root: str | os.PathLike | None, log: Callable[[str], None]) -> None:
    """Remove the checkpoints whose jobs are done and run by no process (see
    :func:`_remove_orphaned_checkpoints`): for a command with no job to run."""
    _remove_orphaned_checkpoints(exp, root, list_folder(exp, root), [], log)


def done_checkpoints(exp: Experiment, listing: Listing, done: list[int]) -> list[Path]:
    """The checkpoints in ``listing`` (named by their sidecars) all of whose jobs are among
    ``done``: left by jobs killed after their results were written."""
    return [path for path, batch, _ in listing.checkpoints if set(batch) <= set(done)]


def checkpoint_progress(
    exp: Experiment, root: str | os.PathLike | None = None, listing: Listing | None = None
) -> dict[int, tuple[int, int]]:
    """Job index -> (epochs done, epochs) from the checkpoints in the job folder (their small
    JSON sidecars: no torch needed), as ``listing`` (else a new listing) found them."""
    return (list_folder(exp, root) if listing is None else listing).progress


_SIDECAR = re.compile(r"\.jobs?-([0-9,-]+)\.r\d+-\d+\.ckpt\.json")


@cache
def _library_versions() -> dict[str, str]:
    """:func:`snnsim.results.library_versions`, read once per process (status: once, not per job)."""
    return results.library_versions()


_CHECKPOINT = re.compile(r"\.jobs?-([0-9,-]+)\.r\d+-\d+\.ckpt(\.json)?")


@dataclass(frozen=True)
class Listing:
    """The names in a job folder, listed once: a command that asks about every job reads its
    checkpoints and temporaries from here, not from one listing per job (jobs x files)."""

    folder: Path
    names: tuple[str, ...]  # in the order listed

    @cached_property
    def _sidecars(self) -> list[tuple[Path, list[int], tuple[int, int], frozenset[str] | None]]:
        """The checkpoints with a readable sidecar: (checkpoint path, its jobs, (epochs done, epochs),
        the digests of the configs it was made by, None in a sidecar of an earlier snnsim)."""
        out = []
        for name in self.names:
            match = _SIDECAR.fullmatch(name)
            if not match:
                continue
            try:
                info = json.loads((self.folder / name).read_text())
                progress = (int(info["epoch"]), int(info["epochs"]))
                indices = parse_array_spec(match.group(1))
                configs = frozenset(map(str, info["configs"])) if "configs" in info else None
            except (OSError, ValueError, KeyError, TypeError, OverflowError):  # damaged (Infinity), or not ours
                continue
            out.append((self.folder / name.removesuffix(".json"), indices, progress, configs))
        return out

    @cached_property
    def checkpoints(self) -> list[tuple[Path, list[int], tuple[int, int]]]:
        """The checkpoints with a readable sidecar: (checkpoint path, its jobs, (epochs done, epochs))."""
        return [(path, indices, progress) for path, indices, progress, _ in self._sidecars]

    @cached_property
    def checkpoint_configs(self) -> dict[int, frozenset[str]]:
        """Job index -> the :func:`~snnsim.config.config_digest` of the configs its checkpoint was
        made by (not for a checkpoint whose sidecar does not say)."""
        return {index: configs for _, indices, _, configs in self._sidecars if configs is not None
                for index in indices}  # fmt: skip

    @cached_property
    def progress(self) -> dict[int, tuple[int, int]]:
        """See :func:`checkpoint_progress`."""
        return {index: progress for _, indices, progress in self.checkpoints for index in indices}

    @cached_property
    def checkpoint_info(self) -> dict[int, dict]:
        """Job index -> its checkpoint's sidecar as read (``versions``, ``numerics_version``: none in
        a sidecar of an earlier snnsim)."""
        out = {}
        for path, indices, _ in self.checkpoints:
            with suppress(OSError, ValueError):
                info = json.loads(Path(f"{path}.json").read_text())
                out.update({index: info for index in indices if isinstance(info, dict)})
        return out

    @cached_property
    def checkpoint_jobs(self) -> dict[int, list[int]]:
        """Job index -> the jobs of the batched model its checkpoint holds (a pack's: several)."""
        return {index: indices for _, indices, _ in self.checkpoints for index in indices}

    @cached_property
    def _temporaries(self) -> dict[str, list[Path]]:
        return leftovers_by_target(self.folder, self.names)

    def leftovers(self, path: Path) -> list[Path]:
        """:func:`snnsim.atomic_write.leftovers` of the file ``path`` in this folder."""
        return self._temporaries.get(path.name, [])

    def checkpoint_leftovers(self) -> list[Path]:
        """Temporaries of the folder's checkpoints and their sidecars (:func:`checkpoint_path`),
        left by jobs killed while they wrote one."""
        return sorted(tmp for paths in self.checkpoint_leftovers_by_jobs().values() for tmp in paths)

    def checkpoint_leftovers_by_jobs(self) -> dict[tuple[int, ...] | None, list[Path]]:
        """:meth:`checkpoint_leftovers` by the jobs of their checkpoint (None: a name that does
        not say which)."""
        out: dict[tuple[int, ...] | None, set[Path]] = {}
        for target, paths in self._temporaries.items():
            if match := _CHECKPOINT.fullmatch(target):
                try:
                    jobs = tuple(parse_array_spec(match.group(1)))
                except (SnnsimError, ValueError):
                    jobs = None
                out.setdefault(jobs, set()).update(paths)
        return {jobs: sorted(paths) for jobs, paths in out.items()}


def list_folder(exp: Experiment, root: str | os.PathLike | None = None) -> Listing:
    """The job folder's names now (none where it is not a folder, or cannot be read: as
    :meth:`pathlib.Path.glob` finds none)."""
    folder = job_dir(exp, root)
    if not folder.is_dir():
        return Listing(folder, ())
    try:
        with os.scandir(folder) as entries:
            return Listing(folder, tuple(entry.name for entry in entries))
    except PermissionError:
        return Listing(folder, ())


def _check_tensorboard(exp: Experiment, here: bool, refused: str = "no job started") -> None:
    """The experiment's ``tensorboard`` folder can be one (made if missing): not a file, nor below
    one, nor through a link to a folder that is gone; with ``here``, one this process may write in.
    ``refused`` ends the error's line (what was not done)."""
    from ..atomic_write import cannot_write_in

    named = f"{exp.name}: tensorboard = {exp.tensorboard!r}"
    why, where, made_in = folder_blocked(Path(exp.tensorboard))
    if why == "file":
        raise SnnsimError(f"{named} is a file; give a folder; {refused}")
    if why == "link":
        raise SnnsimError(f"{named}: {where} is a link to {os.readlink(where)}, which is not there; give a folder; "
                          f"{refused}")  # fmt: skip
    if why == "below":
        raise SnnsimError(f"{named} is below the file {made_in}; give a folder; {refused}")
    if here and (why := cannot_write_in(made_in)):
        raise SnnsimError(f"{named}: cannot write in {made_in} ({why}); {refused}")


def tensorboard_hooks(exp: Experiment, todo: list[int]) -> Callable:
    """Epoch hooks writing each job's scalars under the experiment's ``tensorboard`` folder."""

    def hooks(cfgs: list, members: list) -> list:
        from ..monitor import TensorBoardHook, provenance_text

        labels = [f"job-{todo[i]}" + (f"/repeat-{r}" if cfgs[i].repeats > 1 else "") for i, r in members]
        made = [provenance_text(cfgs[i], cfgs[i].seed + r) for i, r in members]
        return [TensorBoardHook(exp.tensorboard, labels, provenance=made)]

    return hooks


def job_lock(exp: Experiment, index: int, root: str | os.PathLike | None = None) -> JobLock:
    return JobLock(job_dir(exp, root) / f".{PREFIX}-{exp.check_index(index)}.lock")


class LocalRecord:
    """The jobs a running ``sweep local`` will run, for ``status``: the hidden file
    ``.local-HOST-PID.lock`` in the job folder, a :class:`JobLock` held while that ``local`` runs
    (the kernel releases it when the process ends, killed too) whose note lists the jobs, removed
    when it ends. A record nobody holds is stale (its ``local`` was killed) and says nothing."""

    PATTERN = ".local-*.lock"

    def __init__(self, exp: Experiment, jobs: list[int], root: str | os.PathLike | None = None) -> None:
        self.lock = JobLock(job_dir(exp, root) / f".local-{socket.gethostname()}-{os.getpid()}.lock")
        self.jobs = list(jobs)
        self._held = False

    def acquire(self) -> None:
        """Write and hold the record; where it cannot be written (a full disk) hold none: ``status``
        then shows the jobs as it did before (missing), and ``local`` runs them all the same."""
        for old in self.lock.path.parent.glob(self.PATTERN):  # stale ones of killed runs: nobody holds them
            if JobLock(old).holder() is None:
                old.unlink(missing_ok=True)
        try:
            self._held = self.lock.acquire(wait=0, note=json.dumps(self.jobs))
        except (OSError, WriteFailed):
            self.lock.path.unlink(missing_ok=True)

    def release(self) -> None:
        if self._held:
            self.lock.path.unlink(missing_ok=True)
            self.lock.release()
            self._held = False


def waiting_in_local(listing: Listing) -> dict[int, str]:
    """The jobs a running ``sweep local`` will run (:class:`LocalRecord`s in the job folder's
    ``listing``): index -> its holder (``HOST pid N``)."""
    out: dict[int, str] = {}
    for name in sorted(n for n in listing.names if fnmatch.fnmatchcase(n, LocalRecord.PATTERN)):
        if (held := JobLock(listing.folder / name).held_text()) is None:
            continue
        holder, _, note = held.partition("\n")
        try:
            jobs = json.loads(note)
        except ValueError:  # being written this moment: as none
            continue
        if isinstance(jobs, list):
            out.update(dict.fromkeys(jobs, holder.strip() or "another process"))
    return out


# -- running jobs ----------------------------------------------------------------------------------
def n_packs(exp: Experiment, size: int) -> int:
    """Number of packs when ``size`` jobs (at most) run in one process."""
    return -(-exp.grid_size // size)


def pack_indices(exp: Experiment, size: int, pack: int) -> list[int]:
    """Job indices of pack ``pack`` of at most ``size`` jobs: every P-th job from ``pack`` on
    (P packs in all). Strided, not contiguous: with the seed as the last (fastest) sweep key, a
    pack then holds few seeds for many settings, and a seed's data sets are generated once per
    pack and shared by all its settings."""
    packs = n_packs(exp, size)
    if not 0 <= pack < packs:
        raise SnnsimError(
            f"pack {pack} out of range: {exp.name} has {packs} packs of at most {size} jobs (0..{packs - 1})"
        )
    return list(range(pack, exp.grid_size, packs))


def pack_of(exp: Experiment, size: int, index: int) -> int:
    """The pack (of at most ``size`` jobs) that holds job ``index`` (see :func:`pack_indices`)."""
    return index % n_packs(exp, size)


def run_job(
    exp: Experiment,
    index: int,
    root: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
    keep_checkpoints: bool = False,
) -> int:
    """Run job ``index`` unless its result is already complete; return a process exit code
    (see :func:`run_jobs`)."""
    return run_jobs(exp, [index], root, force, progress, log, keep_checkpoints)


def _failure_text(error: Exception, exp: Experiment, index: int) -> str:
    """A job's failure as its experiment file names its settings: by their keys (``data``,
    ``batch_size``), not by the run's flags (``--data``), which neither the file nor ``sweep`` has;
    job ``index``'s values as the file gives them (``data = "--data notes.pkl"``: not a flag)."""
    return as_keys(str(error), {**exp.fixed, **exp.settings(index)}.values())


def _mark_failed(
    exp: Experiment, index: int, root: str | os.PathLike | None, text: str, log: Callable[[str], None]
) -> None:
    marker = failed_path(exp, index, root)
    text = json.dumps({"index": index, "settings": exp.settings(index)}) + "\n" + text
    try:  # in one step: a full disk left an empty marker, a job failed with no reason
        write_bytes(marker, text.encode(), overwrite=True, result=False)
    except WriteFailed as exc:  # e.g. the disk is full: say so, the job stays missing
        log(f"job {index}: could not write {marker} ({exc.reason})")


def run_jobs(
    exp: Experiment,
    indices: list[int],
    root: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
    keep_checkpoints: bool = False,
    rerun_stale: bool = False,
) -> int:
    """Run the jobs ``indices`` not yet complete in this process; return a process exit code.

    The jobs run through :func:`snnsim.runner.run_configs`: those that differ only by seed (and,
    for IPD, by readout or tau) train as one batched model and share their data. Each job's
    result file is written as soon as its batched model is trained, with exactly the numbers
    (and config) of running that job alone. A job another live process is running (its lock is
    held) is skipped; each job's lock is let go once its result file or ``.failed`` marker is
    written, so that ``status`` shows it done or failed while the rest of a pack trains on.
    Temporary files that killed writers left are removed. Every batched model
    saves a checkpoint after each epoch (:func:`checkpoint_path`) and a run of the same jobs
    resumes from it (a requeued SLURM task, or a rerun after a kill); it is removed when the
    jobs' files are written, unless ``keep_checkpoints``. Each job file records the process's
    wall time until it was written (``job_wall_seconds``) and peak memory (``peak_rss_mb``).

    Exit codes (:mod:`snnsim.errors`): 0 all done (or already done, or being run elsewhere);
    1 the run raised (``job-INDEX.failed`` with the traceback, for every job not yet written);
    2 bad input found by the run (a :class:`~snnsim.errors.SnnsimError`: its one line, in the
    ``.failed`` of every job not yet written);
    3 a stale result is in the way (rerun with ``force``, or ``rerun_stale``: replace stale
    results, skip done ones); 4 a job's training diverged (its
    ``.failed`` says which repeat and epoch; the other jobs are written); 5 a result could not
    be written (disk full ...); 128+N stopped by signal N (results already written stay).
    """
    from ..cli import Interrupted, signals_held, stop_on_signals
    from ..runner import peak_memory, run_configs
    from .experiment import format_settings

    todo, code = [], EXIT_OK
    listing = list_folder(exp, root)
    for index in indices:
        current = state(exp, index, root, listing=listing)
        if current.state == "done" and not force:
            log(f"job {index}: already done ({found_result(exp, index, root)}); skipped")
        elif current.state == "stale" and not (force or rerun_stale):
            log(
                f"job {index}: a stale result is in the way ({current.reason}); "
                f"rerun with --rerun-stale (or --force) to replace {result_path(exp, index, root)}"
            )
            code = EXIT_STALE
        elif current.state == "running":
            log(f"job {index}: being run {current.reason}; skipped")
        else:
            todo.append(index)
    for index in todo:  # each job's own file: in a pack, one in the way failed every job's write after training
        path = result_path(exp, index, root)
        if path.is_dir() or (path.exists() and not path.is_file()):
            what = "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"
            raise ResultError(f"job {index}: {path} is {what}, where its result file goes; move it away")
    results.check_writable(result_path(exp, indices[0], root), overwrite=True, flag="--results-dir")
    locks = {}
    for index in todo:
        lock = job_lock(exp, index, root)
        try:
            acquired = lock.acquire()
        except WriteFailed:  # the disk is full: the locks taken so far are not kept
            for held in locks.values():
                held.release()
            raise
        if acquired:
            locks[index] = lock
        else:
            log(f"job {index}: being run by {lock.holder() or 'another process'}; skipped")
    listing = list_folder(exp, root)  # with the locks held: no writer of these jobs adds to it
    for index in list(locks):  # another process may have finished it between the check and the lock
        if not force and file_state(exp, index, root, listing=listing).state == "done":
            log(f"job {index}: written by another process meanwhile; skipped")
            locks.pop(index).release()
    todo = [i for i in todo if i in locks]
    written: set[int] = set()
    diverged: set[int] = set()
    with stop_on_signals():  # also around the handlers below: a second signal cannot break a stop
        try:
            if not keep_checkpoints:  # also with nothing to run: a job killed after writing left its checkpoint
                _remove_orphaned_checkpoints(exp, root, listing, todo, log)
            if not todo:
                return code
            if exp.tensorboard is not None:  # checked at submit; since made read-only, or gone: each job .failed
                _check_tensorboard(exp, here=True, refused="not trained")
            for index in todo:  # its lock held: a writer of its file on another node is gone too
                path = result_path(exp, index, root)
                removed, kept = clean_leftovers(path, listing.leftovers(path), locked=True)
                if removed:
                    log(f"job {index}: removed {len(removed)} temporary file(s) of killed writers")
            removed = []
            for batch, found in listing.checkpoint_leftovers_by_jobs().items():  # another host's: of locked jobs
                removed += clean_leftovers(listing.folder, found, locked=batch is not None and set(batch) <= set(todo))[
                    0
                ]
            if removed:
                log(f"removed {len(removed)} temporary file(s) of checkpoints that killed jobs were writing")
            cfgs = [exp.config(i) for i in todo]

            def write(i: int, ds: xr.Dataset) -> None:
                index = todo[i]
                ds.attrs["job_wall_seconds"] = time.monotonic() - started
                ds.attrs["peak_rss_mb"] = peak_memory() / 2**20
                with signals_held():  # a stop once the file is in place would say it was not written
                    path = results.write(ds, result_path(exp, index, root), overwrite=True)  # the job is locked
                    marker = failed_path(exp, index, root)
                    for old in (
                        marker,
                        path.with_name(f"{LEGACY_PREFIX}-{index}.h5"),
                        marker.with_name(f"{LEGACY_PREFIX}-{index}.failed"),
                    ):
                        if old.exists():
                            old.unlink()  # a failure marker, or a replaced result of an older name
                    written.add(index)
                    locks.pop(index).release()  # done: `status` shows it so while the pack trains on
                    log(f"job {index}: wrote {path}")

            def fail(i: int, error: Exception) -> None:
                index = todo[i]
                diverged.add(index)
                text = _failure_text(error, exp, index)
                _mark_failed(exp, index, root, text, log)
                locks.pop(index).release()  # failed: `status` shows it so while the pack trains on
                log(f"job {index}: failed: {text}")

            for index in todo:
                log(
                    f"job {index} ({index + 1} of {exp.grid_size}) of {exp.name}: {format_settings(exp.settings(index))}"
                )
            started = time.monotonic()
            run_configs(
                cfgs, progress=progress, on_result=write, on_failure=fail,
                hooks=None if exp.tensorboard is None else tensorboard_hooks(exp, todo),
                checkpoints=lambda cs, members: checkpoint_path(exp, [todo[i] for i, _ in members],
                                                                [r for _, r in members], root),
                keep_checkpoints=keep_checkpoints, log=lambda message: log(message),
            )  # fmt: skip
        except Interrupted as exc:
            left = [i for i in todo if i not in written and i not in diverged]
            if not left:  # while the last result was written: nothing to rerun or requeue
                log(f"stopped by {exc.name} after every result was written")
                return EXIT_DIVERGED if diverged else code
            log(
                f"job{'s' if len(left) > 1 else ''} {array_spec(left)}: stopped by {exc.name}; no result written "
                "(rerun or requeue to complete it)"
            )
            return 128 + exc.signum
        except WriteFailed as exc:
            for index in todo:
                if index not in written and index not in diverged:
                    log(f"job {index}: not written: {exc}")
            return EXIT_NOT_WRITTEN
        except SnnsimError as exc:  # bad input found by the run (a data file gone since submit ...)
            for index in todo:
                if index not in written and index not in diverged:
                    text = _failure_text(exc, exp, index)
                    _mark_failed(exp, index, root, text, log)
                    log(f"job {index}: failed: {text}")
            return exc.exit_code
        except Exception:  # noqa: BLE001 - any failure of the run is recorded for `status`
            text = traceback.format_exc()
            try:
                print(text, file=sys.stderr)
            except OSError:  # a log on a full disk: the traceback goes to the .failed files below
                pass
            for index in todo:
                if index not in written and index not in diverged:
                    _mark_failed(exp, index, root, text, log)
                    log(f"job {index}: failed; traceback in {failed_path(exp, index, root)}")
            return EXIT_FAILED
        finally:
            for lock in locks.values():
                lock.release()
    return EXIT_DIVERGED if diverged else code
