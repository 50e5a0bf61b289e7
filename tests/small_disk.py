"""A real small file system for the tests of a full disk: a tmpfs mounted at a folder (root only)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def mounted_tmpfs(folder: Path, size: str = "64k", read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (``read_only``: mounted read-only) at ``folder`` (made if
    missing) for the ``with`` block, then unmount it; skips the test where mounting needs root
    that it has not."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder.mkdir(exist_ok=True)
    options = f"ro,size={size}" if read_only else f"size={size}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path, room: int = 0) -> None:
    """Fill the file system of ``folder`` (a file ``filler``) but for ``room`` bytes; 0: to its
    last page, written until the kernel says there is no space left."""
    with open(folder / "filler", "wb", buffering=0) as fh:
        if room:
            fh.write(b"\0" * (os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize - room))
            return
        with pytest.raises(OSError, match="No space left"):
            while True:
                fh.write(b"\0" * 4096)
