"""snnsim.atomic_write: the mode of a written file, and which temporaries a later writer removes (the rest:
tests/test_reliability.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from snnsim import atomic_write


def test_a_temporary_of_another_host_is_kept_even_where_its_process_id_is_free_here(tmp_path):
    """On a shared file system a writer on another node is alive whatever this host's process
    table says: only this host's temporaries of gone processes are removed."""
    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)  # fmt: skip
    assert atomic_write.process_gone(gone)
    here = tmp_path / f".r.h5.{atomic_write._host()}.{gone}.0a1b2c3d.tmp"
    there = tmp_path / f".r.h5.otherhost.{gone}.0a1b2c3d.tmp"
    for tmp in (here, there):
        tmp.write_bytes(b"\x89HDF half a file")
    removed, kept = atomic_write.clean_leftovers(tmp_path / "r.h5")
    assert (removed, kept) == ([here], [there])
    assert not here.exists() and there.exists()


@pytest.mark.parametrize("umask, mode", [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_a_written_file_gets_the_mode_of_the_umask(tmp_path, umask, mode):
    """As any new file: a group-writable umask (a shared project folder) gives a group-writable file."""
    old = os.umask(umask)
    try:
        path = atomic_write.write_bytes(tmp_path / "r.h5", b"data")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"data" and path.stat().st_mode & 0o777 == mode


def test_a_write_without_overwrite_refuses_an_existing_file_and_keeps_it(tmp_path):
    """Without ``overwrite`` the file is put in place only where none is (of two writers of one
    path one is told, :class:`PathTaken`); with it, it replaces the one there. No temporary is
    left either way."""
    path = atomic_write.write_bytes(tmp_path / "r.h5", b"first")
    with pytest.raises(atomic_write.PathTaken, match=r"r\.h5: the file exists \(another run wrote it\)"):
        atomic_write.write_bytes(path, b"second")
    assert path.read_bytes() == b"first" and os.listdir(tmp_path) == ["r.h5"]
    atomic_write.write_bytes(path, b"third", overwrite=True)
    assert path.read_bytes() == b"third" and os.listdir(tmp_path) == ["r.h5"]


def test_under_the_writers_lock_every_temporary_but_a_live_writers_of_this_host_is_removed(tmp_path):
    """``locked``: the caller holds the lock every writer of the path holds, so a temporary of
    another host's writer is a killed writer's and goes; one of a live process of this host
    (the caller itself, writing) stays, as does a file whose name is not one of ours."""
    host = atomic_write._host()
    alive = tmp_path / f".r.h5.{host}.{os.getpid()}.0a1b2c3d.tmp"
    there = tmp_path / ".r.h5.otherhost.12345.0a1b2c3d.tmp"
    foreign = tmp_path / ".r.h5.someone-elses.tmp"
    for tmp in (alive, there, foreign):
        tmp.write_bytes(b"\x89HDF half a file")
    removed, kept = atomic_write.clean_leftovers(tmp_path / "r.h5", locked=True)
    assert (removed, sorted(kept)) == ([there], sorted([alive, foreign]))
    assert alive.exists() and foreign.exists() and not there.exists()


def test_files_put_in_place_together_leave_every_path_as_it_was_where_one_is_a_folder(tmp_path):
    """``replace_together`` (a figure's formats): where one target is a folder (``fig.svg/``), its
    rename failed after the one before had replaced ``fig.png``, and the error said "nothing
    written there" beside half a figure, a new PNG without its SVG. It is refused before any
    file is put in place: every path stays as it was, and no temporary is left."""
    png, svg = tmp_path / "fig.png", tmp_path / "fig.svg"
    png.write_bytes(b"old png")
    svg.mkdir()
    with pytest.raises(atomic_write.WriteFailed) as info:
        atomic_write.replace_together([(png, b"new png"), (svg, b"new svg")])
    assert info.value.path == svg and "Is a directory" in str(info.value)
    assert png.read_bytes() == b"old png" and svg.is_dir()
    assert sorted(os.listdir(tmp_path)) == ["fig.png", "fig.svg"]


def test_no_empty_folders_removes_only_the_folders_it_made_and_left_empty(tmp_path):
    """The folders above a file that a failed command made are removed, deepest first; one that
    holds a file stays, and a folder of the user's reached through ``..`` (``new/../mine``) is not
    one it made: it was listed as missing (``new`` was), then removed once the write had made
    ``new``."""
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(OSError), atomic_write.no_empty_folders(tmp_path / "new" / ".." / "mine" / "r.h5"):
        (tmp_path / "new").mkdir()  # as mkdir(parents=True) makes it on the way
        raise OSError("refused")
    assert mine.is_dir()
    with pytest.raises(KeyboardInterrupt), atomic_write.no_empty_folders(tmp_path / "a" / "b" / "c" / "r.h5"):
        (tmp_path / "a" / "b" / "c").mkdir(parents=True)
        (tmp_path / "a" / "kept.txt").write_text("x")
        raise KeyboardInterrupt
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["kept.txt"]  # b and c gone, a stays
    with atomic_write.no_empty_folders(tmp_path / "d" / "r.h5"):  # no error: nothing removed
        (tmp_path / "d").mkdir()
    assert (tmp_path / "d").is_dir()


@pytest.mark.parametrize("result", [True, False], ids=["a result", "no result"])
def test_a_stop_once_the_file_is_in_place_names_it_only_where_it_is_the_result(result, tmp_path, monkeypatch):
    """A stop in the folder's sync (the file is in place, whole) names the file as written where it
    is the command's result; a checkpoint or a cache (``result=False``) is not named as one."""
    import signal

    from snnsim.signals import Interrupted

    target = tmp_path / "f.bin"

    def fsync(fd: int) -> None:  # the stop comes as the folder is synced, once the file is there
        if target.exists():
            raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(Interrupted) as info:
        atomic_write.write_bytes(target, b"whole", result=result)
    assert info.value.written == (target if result else None)
    assert target.read_bytes() == b"whole" and os.listdir(tmp_path) == ["f.bin"]


def test_a_stop_as_the_file_is_put_in_place_comes_once_it_is_there(tmp_path, monkeypatch):
    """SIGTERM between the hard link that puts the file in place and the removal of its
    temporary: held until the step is over, then the stop names the file, whole, and no
    temporary is left."""
    import signal

    from snnsim.signals import Interrupted, stop_on_signals

    target, real = tmp_path / "f.bin", os.link

    def link(src: str, dst: str) -> None:
        real(src, dst)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(Interrupted) as info, stop_on_signals():
        atomic_write.write_bytes(target, b"whole")
    assert info.value.written == target
    assert target.read_bytes() == b"whole" and os.listdir(tmp_path) == ["f.bin"]


def test_a_stop_once_files_put_in_place_together_are_there_names_the_last(tmp_path, monkeypatch):
    """``replace_together``: a stop in the folder's sync, once every file is in place, names the
    last one put in place (the line the command prints), and every file is whole."""
    import signal

    from snnsim.signals import Interrupted

    png, svg = tmp_path / "fig.png", tmp_path / "fig.svg"

    def fsync(fd: int) -> None:
        if png.exists() and svg.exists():
            raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(Interrupted) as info:
        atomic_write.replace_together([(png, b"png"), (svg, b"svg")])
    assert info.value.written == svg
    assert png.read_bytes() == b"png" and svg.read_bytes() == b"svg" and len(os.listdir(tmp_path)) == 2


def test_without_hard_links_an_existing_file_is_still_refused_and_kept(tmp_path, monkeypatch):
    """On a file system without hard links (``os.link`` fails with EPERM), the write without
    ``overwrite`` checks the target and renames: an existing file is refused and kept, a new one
    written, and no temporary is left."""
    import errno

    def no_link(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_link)
    kept, new = tmp_path / "kept.bin", tmp_path / "new.bin"
    kept.write_bytes(b"mine")
    with pytest.raises(atomic_write.PathTaken):
        atomic_write.write_bytes(kept, b"other")
    atomic_write.write_bytes(new, b"new")
    assert kept.read_bytes() == b"mine" and new.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["kept.bin", "new.bin"]


def test_a_hidden_file_named_like_a_temporary_but_not_ours_is_kept(tmp_path):
    """A user's ``.r.h5.my.notes.v2.tmp`` beside ``r.h5`` has no process id where a temporary of
    ours has it: kept, not a crash of the cleanup (``int("notes")``)."""
    theirs = tmp_path / ".r.h5.my.notes.v2.tmp"
    theirs.write_text("notes")
    assert atomic_write.writer_of(theirs) is None
    assert atomic_write.clean_leftovers(tmp_path / "r.h5", locked=True) == ([], [theirs])
    assert theirs.is_file()


def test_a_temporary_of_another_users_live_process_is_kept(tmp_path, monkeypatch):
    """A writer of this host that signal 0 cannot reach (EPERM: another user's process, alive)
    is not gone: its temporary stays, without the lock and with it."""
    tmp = tmp_path / f".r.h5.{atomic_write._host()}.4242.abcd.tmp"
    tmp.write_bytes(b"theirs")

    def kill(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", kill)
    assert atomic_write.clean_leftovers(tmp_path / "r.h5") == ([], [tmp])
    assert atomic_write.clean_leftovers(tmp_path / "r.h5", locked=True) == ([], [tmp])
    assert tmp.is_file()


def test_only_hidden_files_are_temporaries(tmp_path):
    """Temporaries are hidden (``.r.h5.HOST.PID.TOKEN.tmp``): a user's visible file whose name
    ends the same way (``xr.h5.HOST.PID.TOKEN.tmp``) is none of ``r.h5``'s, and is never removed."""
    name = f"r.h5.{atomic_write._host()}.999999999.abcd.tmp"
    theirs, ours = tmp_path / f"x{name}", tmp_path / f".{name}"
    theirs.write_text("mine")
    ours.write_text("killed writer's")
    assert atomic_write.leftovers(tmp_path / "r.h5") == [ours]
    assert atomic_write.clean_leftovers(tmp_path / "r.h5") == ([ours], [])
    assert theirs.is_file()
