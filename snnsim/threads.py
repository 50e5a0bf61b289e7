"""Threads, and numbers that do not depend on them.

Torch's CPU reductions (matrix products over many samples, sums) split their work by the
number of threads, and so round differently with 1 and with 2 threads; training amplifies the
last bit into different weights and accuracies. So during a run (:func:`deterministic`) torch's
own ops and numpy's BLAS run on one thread, and the cores are used by snnsim's compiled kernels
instead (:mod:`snnsim.backends._native`), which split their work by model rows, every row
computed the same way whatever the split: the same config and seed give the same numbers
whatever the thread count, by hand, under SLURM or in ``sweep local -j N``.

:func:`kernel_threads`: ``$SNNSIM_THREADS``, else the CPUs this process may run on.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator, MutableMapping

from .errors import SnnsimError

ENV = "SNNSIM_THREADS"
#: OpenMP's thread count, read by its library (libgomp) as torch loads it
OMP = "OMP_NUM_THREADS"
_OMP_COUNTS = re.compile(r"\s*\+?0*[1-9]\d*\s*(,\s*\+?0*[1-9]\d*\s*)*", re.ASCII)  # C's digits and spaces
#: The largest count OpenMP's library takes (a C long); one above is "Invalid value" there too
_OMP_MOST = 2**63 - 1


def kernel_threads() -> int:
    """Threads for snnsim's compiled kernels. A ``$SNNSIM_THREADS`` that is not a positive
    integer is named in a warning (once) and the CPUs are used; the numbers do not change."""
    value = os.environ.get(ENV, "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cpus = max(1, os.cpu_count() or 1)
    if value:
        warnings.warn(f"{ENV}={value!r} is not a positive integer; using the {cpus} CPU(s) of this process",
                      stacklevel=2)  # fmt: skip
    return cpus


def check_openmp(environ: MutableMapping[str, str] = os.environ) -> None:
    """Before torch loads (:func:`snnsim.cli.process`): an empty ``$OMP_NUM_THREADS`` is unset
    (OpenMP's library printed "Invalid value" for it); one that is not a positive integer, or a
    comma-separated list of them, raises :class:`~snnsim.errors.SnnsimError` (exit 2) in one line,
    where OpenMP's library printed its line and went on. The numbers do not depend on it."""
    value = environ.get(OMP)
    if value is None or (_OMP_COUNTS.fullmatch(value) and all(_held_by_openmp(n) for n in value.split(","))):
        return
    if not value.strip():
        del environ[OMP]
        return
    raise SnnsimError(f"{OMP}={value!r} is not a thread count: give a positive integer "
                      "(or a comma-separated list of them, one per nesting level), or unset it")  # fmt: skip


def _held_by_openmp(count: str) -> bool:
    """Whether the count ``count`` (digits, maybe a ``+`` and spaces) is one OpenMP's library holds."""
    digits = count.strip().lstrip("+").lstrip("0")
    return len(digits) <= len(str(_OMP_MOST)) and int(digits) <= _OMP_MOST


def share(env: dict[str, str], processes: int) -> dict[str, str]:
    """``env`` for one of ``processes`` processes started at once on this process's CPUs
    (``sweep local -j N``, ``tune run -j N``): ``$SNNSIM_THREADS`` is the CPUs this process may run
    on (its affinity) / N, unless ``env`` sets it already (the numbers do not change)."""
    if processes > 1:
        env.setdefault(ENV, str(max(1, kernel_threads() // processes)))
    return env


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Torch's intra-op threads and every BLAS/OpenMP pool of the process at one thread, then
    back to what they were."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)
