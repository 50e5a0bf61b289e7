"""Writing a file so that no reader ever sees half of it and nothing is replaced by surprise.

:func:`write_bytes` writes the bytes to a temporary file beside the target, named
``.NAME.HOST.PID.TOKEN.tmp``, created with the mode a normally created file gets under the
process's umask; flushes it to disk; then puts it in place:

- without ``overwrite``, with a hard link, which fails when the target exists: of two processes
  writing one path, exactly one succeeds, and the other is told (:class:`PathTaken`);
- with ``overwrite``, with a rename, which replaces the target in one step.

A process killed during the write leaves at most its temporary file, never a partial target.
:func:`leftovers` lists the temporaries of a target (:func:`leftovers_by_target`: of every target
in a folder, from one listing); :func:`clean_leftovers` removes those whose writer is gone (same
host, no such process; any host, where the caller holds the lock every writer holds) and returns
the others.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import EXIT_NOT_WRITTEN, SnnsimError
from .signals import signals_held


class WriteFailed(SnnsimError, OSError):
    """The file could not be written (no space, no permission ...); nothing was left behind."""

    exit_code = EXIT_NOT_WRITTEN

    def __init__(self, path: Path, reason: str, errno_: int | None = None) -> None:
        self.path, self.reason, self.errno_ = path, reason, errno_
        super().__init__(f"cannot write {path}: {reason}; nothing written there")


class PathTaken(WriteFailed):
    """The target exists (and ``overwrite`` was not asked for)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "the file exists (another run wrote it)", errno.EEXIST)


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"


def temporary_name(path: Path) -> Path:
    """A fresh temporary name beside ``path`` that says which process writes it."""
    return path.with_name(f".{path.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_bytes(path: str | os.PathLike, data: bytes | memoryview, overwrite: bool = False,
                durable: bool = True, result: bool = True) -> Path:  # fmt: skip
    """Write ``data`` to ``path`` atomically (see the module docstring). Raises
    :class:`PathTaken` or :class:`WriteFailed` (an ``OSError``) with nothing left behind.
    ``durable=False`` skips the two syncs: still atomic for a killed process, not for a power
    cut (for files that are rewritten often and checked when read, such as checkpoints).
    A stop once the file is in place names it (``written``) unless ``result=False`` (a checkpoint,
    a cache, a record: not the command's result)."""
    path = Path(path)
    tmp = temporary_name(path)
    placed = False
    try:
        _write_temporary(tmp, data, durable)
        with signals_held():  # a stop as the file is put in place comes once it is known to be there
            if overwrite:
                os.replace(tmp, path)
            else:
                _link_new(tmp, path)
            placed = True
        if durable:
            _sync_folder(path.parent)
    except FileExistsError:
        _remove(tmp)
        raise PathTaken(path) from None
    except OSError as exc:
        _remove(tmp)
        raise WriteFailed(path, exc.strerror or str(exc), exc.errno) from None
    except BaseException as exc:  # a stop signal or Ctrl-C in the middle: no temporary left behind
        _remove(tmp)
        if result and placed and getattr(exc, "written", False) is None:  # a stop once the file is in place
            exc.written = path
        raise
    return path


def replace_together(files: Iterable[tuple[str | os.PathLike, bytes | memoryview]]) -> list[Path]:
    """Write each ``(path, data)`` of ``files`` (a figure's formats), replacing what is there: all
    of them in temporaries first, then each put in place with a rename, so that a write that
    fails (a full disk) leaves every path as it was and no temporary (:class:`WriteFailed`). A
    stop signal during the renames comes after the last one, and names it (``written``)."""
    made: list[tuple[Path, Path]] = []
    placed = False
    try:
        for path, data in files:
            path = Path(path)
            if path.is_dir() and not path.is_symlink():  # its rename would fail once others are in place
                raise WriteFailed(path, os.strerror(errno.EISDIR), errno.EISDIR)
            made.append((temporary_name(path), path))
            try:
                _write_temporary(made[-1][0], data, durable=True)
            except OSError as exc:
                raise WriteFailed(path, exc.strerror or str(exc), exc.errno) from None
        with signals_held():  # every file in place before a stop is taken, not some of them
            for tmp, path in made:
                try:
                    os.replace(tmp, path)
                except OSError as exc:
                    raise WriteFailed(path, exc.strerror or str(exc), exc.errno) from None
            placed = True
        for folder in dict.fromkeys(path.parent for _, path in made):
            _sync_folder(folder)
    except BaseException as exc:  # a stop signal too: no temporary left behind
        for tmp, _ in made:
            _remove(tmp)
        if placed and made and getattr(exc, "written", False) is None:  # a stop once they are in place
            exc.written = made[-1][1]
        raise
    return [path for _, path in made]


def _write_temporary(tmp: Path, data: bytes | memoryview, durable: bool) -> None:
    """Write ``data`` to the new file ``tmp`` (the caller removes it where that fails)."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any new file
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def missing_folders(path: str | os.PathLike) -> list[Path]:
    """The folders above the file ``path`` that do not exist yet, deepest first: those its write
    (or the check of its folder) makes."""
    missing = []
    for folder in Path(os.path.abspath(path)).parents:  # "a/../b": b, not a path through a folder made on the way
        if os.path.lexists(folder):
            break
        missing.append(folder)
    return missing


@contextmanager
def no_empty_folders(path: str | os.PathLike, catch: type[BaseException] | tuple = BaseException) -> Iterator[None]:
    """Where the block raises ``catch`` (a refusal, a full disk, a stop), remove the folders above
    the file ``path`` that it made and left empty, deepest first: a command that wrote nothing
    leaves nothing; a folder that holds a file (one written before the stop) stays."""
    made = missing_folders(path)
    try:
        yield
    except catch:
        for folder in made:
            with suppress(OSError):
                folder.rmdir()
        raise


def folder_blocked(folder: Path) -> tuple[str | None, Path, Path]:
    """What keeps files from being made in ``folder`` (made if missing), by its path alone:
    ``(why, where, made_in)``, ``why`` one of ``"file"`` (``folder`` is a file), ``"link"``
    (``where`` is a link on its way to a folder that is gone: a purged scratch space), ``"below"``
    (``where`` is the file it would be below) or None; ``made_in``: ``folder``, or the nearest
    folder above it that exists, where the files are made (see :func:`cannot_write_in`)."""
    if folder.exists() and not folder.is_dir():
        return "file", folder, folder
    for link in (folder, *folder.parents):
        if link.is_symlink() and not link.exists():
            return "link", link, folder
    made_in = folder.resolve()
    while not made_in.exists():  # the folder, or the nearest one above that exists
        made_in = made_in.parent
    return (None if made_in.is_dir() else "below"), made_in, made_in


def cannot_write_in(folder: str | os.PathLike) -> str | None:
    """Why a file cannot be made in ``folder`` (read-only, no permission, full: the OS's words),
    found by making and removing a probe file there; None where it can."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".snnsim-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _link_new(tmp: Path, path: Path) -> None:
    """Put ``tmp`` in place as ``path`` only if ``path`` does not exist (FileExistsError)."""
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # a file system without hard links: the check and the rename are two steps here
        if path.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
        os.rename(tmp, path)
        return
    os.unlink(tmp)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:  # never made (its name too long ...), or gone: the write's own error is raised
        pass


def leftovers(path: str | os.PathLike) -> list[Path]:
    """Temporary files of ``path`` left by writers that did not finish (killed, or still writing)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        names = os.listdir(folder)
    except OSError:  # no such folder, or not one, or unreadable: no temporaries found there
        return []
    return leftovers_by_target(folder, names).get(path.name, [])


def leftovers_by_target(folder: Path, names: Iterable[str]) -> dict[str, list[Path]]:
    """The temporaries among ``names`` (entries of ``folder``) by the name of their target: every
    ``.T.*.tmp`` under ``T``. A caller asking about many targets lists the folder once for all."""
    out: dict[str, list[Path]] = {}
    for name in names:
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        for end in range(1, len(name)):  # every T with name = ".T.*.tmp"
            if name[end] == "." and name.endswith(".tmp", end + 1):
                out.setdefault(name[1:end], []).append(folder / name)
    return {target: sorted(paths) for target, paths in out.items()}


def writer_of(tmp: Path) -> tuple[str, int] | None:
    """The host (its dots as ``_``) and process id that made ``tmp`` (``.NAME.HOST.PID.TOKEN.tmp``);
    None where the name is not one of ours."""
    parts = tmp.name[len(".") :].rsplit(".", 4)  # NAME, HOST, PID, TOKEN, "tmp"
    return (parts[1], int(parts[2])) if len(parts) == 5 and parts[2].isdigit() else None


def _writer_here(tmp: Path) -> int | None:
    """The id of the process of this host that made ``tmp``; None where another host made it, or
    the name is not one of ours."""
    writer = writer_of(tmp)
    return writer[1] if writer is not None and writer[0] == _host() else None


def _writer_gone(tmp: Path) -> bool:
    """True when ``tmp`` was made on this host by a process that no longer exists."""
    return (pid := _writer_here(tmp)) is not None and process_gone(pid)


def writer_alive(tmp: Path) -> bool:
    """True when ``tmp`` was made on this host by a process that still exists: a write under way,
    not one that was interrupted (a writer on another host cannot be asked: False)."""
    return (pid := _writer_here(tmp)) is not None and not process_gone(pid)


def process_gone(pid: int) -> bool:
    """True when process ``pid`` of this host no longer exists (another user's is alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: another user's process
        return False
    return False


def clean_leftovers(
    path: str | os.PathLike, found: list[Path] | None = None, locked: bool = False
) -> tuple[list[Path], list[Path]]:
    """Remove the temporaries of ``path`` whose writer is gone; return (removed, kept).
    ``found``: those temporaries, where the caller has listed them (:func:`leftovers_by_target`).
    ``locked``: the caller holds the lock that every writer of ``path`` holds while it writes, so
    a writer on another host is gone too (only a live process of this host is not asked)."""
    removed, kept = [], []
    for tmp in leftovers(path) if found is None else found:
        if _writer_gone(tmp) or (locked and writer_of(tmp) is not None and not writer_alive(tmp)):
            _remove(tmp)
            removed.append(tmp)
        else:
            kept.append(tmp)
    return removed, kept


def clean_and_report(path: str | os.PathLike, prog: str, writers: str, found: list[Path] | None = None) -> None:
    """:func:`clean_leftovers`, saying on stderr what it removed (of killed ``writers``, e.g.
    "runs") and which temporaries it kept. ``found``: the temporaries to look at (default: those
    of ``path``)."""
    removed, kept = clean_leftovers(path, found)
    if removed:
        print(f"{prog}: removed {len(removed)} temporary file(s) of killed {writers} beside {path}", file=sys.stderr)
    if kept:
        print(f"{prog}: note: {len(kept)} temporary file(s) beside {path} belong to other or running writers: "
              f"{', '.join(p.name for p in kept)}", file=sys.stderr)  # fmt: skip
