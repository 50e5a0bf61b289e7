"""Freed memory kept in the process during a run, instead of page-faulted in again.

Every training step allocates tensors of a few MB (the records of a batch, per-tile gradients,
copies) and frees them. glibc's ``malloc`` serves blocks above its mmap threshold (128 KiB at
first, raised as blocks are freed) with ``mmap`` and returns them to the operating system on
``free``, and gives the top of its heap back once more than its trim threshold is free there;
the next step's tensors are then new pages, which the kernel faults in and zeroes one 4 KiB
page at a time: over a million page faults in one pack of the IPD grid. :func:`keep_freed_memory`
sets the mmap threshold to 32 MiB (glibc's largest) and the trim threshold to 256 MiB, so
that freed blocks are reused: the process holds on to memory it freed (up to 256 MiB free at
the top of its heap) instead of returning it. The numbers do not change: every tensor is written
before it is read.
Measured in ``benchmarks/README.md`` ("Freed memory kept").

Nothing is changed where the C library is not glibc, or where the user has set glibc's own
settings (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES``).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # bytes: glibc's largest mmap threshold on 64-bit systems
TRIM_THRESHOLD = 256 << 20  # bytes
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once); True if they are set."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False  # not glibc (musl's mallopt does nothing)
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
