"""Compiled CPU loops for the fused backend: plain C, built with the system C compiler at first
use and called through ``ctypes``.

Why not a torch C++ extension: ``torch.utils.cpp_extension.load_inline`` compiles against the
torch headers, which is slow and needs ninja; this file needs no torch headers, builds with
``cc -O3`` and is cached (keyed by the source,
the flags and the CPU) under ``$SNNSIM_CACHE`` or ``~/.cache/snnsim``. Without a compiler (or
with ``SNNSIM_NO_NATIVE=1``), :func:`library` returns None, a warning is issued once and the
fused backend runs its vectorised torch loops instead.

Kernels (each call single-threaded, one row ``r`` of the leading dimensions at a time, time at
dimension -2 and neurons contiguous, exactly the notebook's LIF step in the input dtype). The
callers split the rows (models) into :func:`row_chunks` and run one call per chunk in
:func:`~snnsim.threads.kernel_threads` threads (:func:`run_all`; ``ctypes`` releases the GIL during a
call); every row is computed the same way whatever the split, so the numbers do not depend on
the thread count:

- ``lif_fwd``: ``v[t+1] = (alpha*v[t] + h[t]) * (1 - s[t])``, ``s[t+1] = v[t] > v_th``.
  Compiled with ``-ffp-contract=off`` so that ``alpha*v + h`` is rounded twice, as torch's
  separate multiply and add are: spikes and membranes are bit-identical to the torch loop.
- ``lif_bwd``: the BPTT adjoint of :mod:`snnsim.backends.fused`; it forms the surrogate's
  sigmoid itself (float32: a vectorised exp to about 2 ulp; float64: libm's ``exp``).
- ``li_fwd`` / ``li_bwd``: the leaky integrator ``v[t+1] = alpha*v[t] + h[t]`` and its
  adjoint ``dh[t] = lam[t+1]``, ``lam[t] = dv[t] + alpha*lam[t+1]``.
- ``proj_fwd`` / ``proj_bwd``: input currents of binary input spikes given as lists of active
  inputs, ``h[r] = sum_{i active} w[i]`` (a sequential sum in increasing ``i``) and the
  weight gradient ``dw[i] += dh[r]`` for every active ``i``: a sparse replacement for the two
  dense products ``x @ w`` and ``x^T @ dh`` (the input spikes are ~22 % dense).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ..threads import kernel_threads

SOURCE = (Path(__file__).parent / "kernels.c").read_text()

FLAGS = [
    "-O3",
    "-march=native",
    "-ffp-contract=off",
    "-fno-fast-math",
    "-fno-trapping-math",
    "-shared",
    "-fPIC",
    "-std=gnu99",
]

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False

_i64 = ctypes.c_int64
_p = ctypes.c_void_p


def _cpu_id() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        return next((line for line in text.splitlines() if line.startswith("flags")), platform.processor())
    except OSError:
        return platform.processor()


def _cache_dir() -> Path:
    base = os.environ.get("SNNSIM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "snnsim")
    return Path(base)


def _build() -> ctypes.CDLL:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise RuntimeError("no C compiler found (cc, gcc or clang)")
    key = hashlib.sha256("\0".join([SOURCE, compiler, *FLAGS, platform.machine(), _cpu_id()]).encode()).hexdigest()[:16]
    target = _cache_dir() / f"lif_kernels_{key}.so"
    if not target.exists():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(target.parent, os.W_OK):
                raise PermissionError(str(target.parent))
        except OSError:  # read-only home (e.g. some cluster nodes): a per-user temp folder
            target = Path(tempfile.gettempdir()) / f"snnsim-{os.getuid()}" / target.name
            target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            src = Path(tmp).resolve() / "kernels.c"  # absolute: the file includes itself (__FILE__)
            src.write_text(SOURCE)
            out = Path(tmp) / target.name
            proc = subprocess.run([compiler, *FLAGS, str(src), "-o", str(out)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{compiler} failed: {proc.stderr.strip()[:2000]}")
            os.replace(out, target)  # atomic: concurrent builders never see a partial file
    lib = ctypes.CDLL(str(target))
    for suf in ("f32", "f64"):
        getattr(lib, f"lif_fwd_{suf}").argtypes = [_p, _p, _p, _i64, _i64, _i64]  # + 2 scalars, set below
        getattr(lib, f"lif_bwd_{suf}").argtypes = [_p] * 7 + [_i64, _i64, _i64]
        getattr(lib, f"proj_fwd_{suf}").argtypes = [_p, _i64, _p, _p, _p, _i64, _i64, _p, _i64, _i64]
        getattr(lib, f"proj_bwd_{suf}").argtypes = [_p, _i64, _p, _p, _p, _i64, _p, _i64, _i64, _i64, _i64, _p]
        scalar = ctypes.c_float if suf == "f32" else ctypes.c_double
        getattr(lib, f"lif_fwd_{suf}").argtypes += [scalar, scalar]
        getattr(lib, f"lif_bwd_{suf}").argtypes += [scalar, scalar, scalar]
        getattr(lib, f"li_fwd_{suf}").argtypes = [_p, _p, _i64, _i64, _i64, scalar]
        getattr(lib, f"li_bwd_{suf}").argtypes = [_p, _p, _i64, _i64, _i64, scalar]
        for name in ("lif_fwd", "lif_bwd", "li_fwd", "li_bwd", "proj_fwd", "proj_bwd"):
            getattr(lib, f"{name}_{suf}").restype = None
    lib.csr_build.argtypes = [_p, _i64, _i64, _p, _p]
    lib.csr_build.restype = None
    lib.csc_build.argtypes = [_p, _i64, _i64, _i64, _p, _p, _p]
    lib.csc_build.restype = None
    return lib


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None (with one warning) when they cannot be built here."""
    global _lib, _tried
    if _tried:
        return _lib
    with _lock:
        if not _tried:
            if os.environ.get("SNNSIM_NO_NATIVE", "") not in ("", "0"):
                _lib = None
            else:
                try:
                    _lib = _build()
                except Exception as exc:  # noqa: BLE001 - any failure means: use the torch loops
                    warnings.warn(
                        f"snnsim fused backend: compiled CPU kernels unavailable ({exc}); using the slower torch loops",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    _lib = None
            _tried = True
    return _lib


def supported(*tensors: torch.Tensor) -> bool:
    """True when the compiled kernels can run on these tensors (CPU, float32/float64)."""
    return (
        all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in tensors)
        and library() is not None
    )


def suffix(dtype: torch.dtype) -> str:
    return "f32" if dtype == torch.float32 else "f64"


def kernel(name: str, dtype: torch.dtype) -> Callable[..., None]:
    """The compiled kernel ``name`` for ``dtype`` (``lif_fwd``, float32 -> ``lif_fwd_f32``)."""
    return getattr(library(), f"{name}_{suffix(dtype)}")


# -- threads over rows --------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def row_chunks(rows: int) -> list[tuple[int, int]]:
    """[start, stop) ranges splitting ``rows`` into at most :func:`~snnsim.threads.kernel_threads` chunks."""
    k = max(1, min(kernel_threads(), rows))
    bounds = [rows * i // k for i in range(k + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a] or [(0, rows)]


def run_all(calls: Sequence[Callable[[], None]]) -> None:
    """Run independent kernel calls, in :func:`~snnsim.threads.kernel_threads` threads where
    there are several of both."""
    global _pool, _pool_size
    threads = min(kernel_threads(), len(calls))
    if threads <= 1:
        for call in calls:
            call()
        return
    with _lock:
        if _pool is None or _pool_size < threads:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool, _pool_size = ThreadPoolExecutor(threads, thread_name_prefix="snnsim-kernels"), threads
        pool = _pool
    for future in [pool.submit(call) for call in calls]:
        future.result()


def run_rows(
    fn: Callable[..., None],
    tensors: Sequence[torch.Tensor | None],
    row_size: int,
    rows: int,
    *args: float,
    scratch: int = 0,
) -> None:
    """``fn(*pointers, [work], chunk_rows, *args)`` once per chunk of :func:`row_chunks`, in threads.

    ``tensors``: contiguous, ``row_size`` elements per row; each is passed as the address of the
    chunk's first row (None as NULL). ``scratch``: elements of work space per call, passed after
    the pointers."""
    chunks = row_chunks(rows)
    ref = next(t for t in tensors if t is not None)
    stride = row_size * ref.element_size()
    work = torch.empty(len(chunks), scratch, dtype=ref.dtype) if scratch else None

    def call(k: int, start: int, stop: int) -> None:
        pointers = [None if t is None else t.data_ptr() + start * stride for t in tensors]
        if work is not None:
            pointers.append(work[k].data_ptr())
        fn(*pointers, stop - start, *args)

    run_all([functools.partial(call, k, a, b) for k, (a, b) in enumerate(chunks)])
