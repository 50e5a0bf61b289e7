"""Compiled CPU loops for the fused backend: plain C, built with the system C compiler at first
use and called through ``ctypes``.

Why not a torch C++ extension: ``torch.utils.cpp_extension.load_inline`` compiles against the
torch headers, which is slow and needs ninja; this file needs no torch headers, builds with
``cc -O3 -fopenmp`` and is cached (keyed by the source, the flags and the CPU) under
``$SNNSIM_CACHE`` or ``~/.cache/snnsim``. Where the compiler lacks OpenMP, the same kernels are
built without it (one thread, the same numbers): the first process says so in one line (the
compiler, how to get OpenMP) and leaves a ``.no-openmp`` file, keyed by the host and the
compiler's file, so that later processes there go straight to the one-thread build silently.
A build killed part-way (SIGKILL, scancel) leaves its folder ``build-HOST-PID-XXXXXXXX`` in the
cache; the next build removes it once its process is gone (or after an hour, from another host).
Without a compiler, :func:`library` returns None, a warning is issued once and torch ops run
instead (a compiler that fails is remembered in a ``.failed`` file, keyed as the ``.no-openmp``
one and by the source and ``$PATH``, so that later processes there fall back at once): with every backend, the product of hidden spikes and output weights
(:func:`snnsim.network.hidden_product`) and the IPD stimuli and input currents; with the fused
backend also its vectorised torch loops. ``SNNSIM_NO_NATIVE=1`` does the same without the warning.
The torch loops can round otherwise in the last bits (a small fused IPD run's final loss
2.6650283 with the kernels, 2.6650281 without).

Kernels (time at dimension -2 and neurons contiguous, exactly the notebook's LIF step in the
input dtype). Each call takes a thread count last (:func:`threads_for`) and splits its work
into that many tiles with OpenMP: rows (models), or windows of columns of a few rows, or spans
of rows or inputs; every value is computed by the same code whatever the split, so the
numbers do not depend on the thread count (``ctypes`` releases the GIL during a call):

- ``lif_fwd``: ``v[t+1] = (alpha*v[t] + h[t]) * (1 - s[t])``, ``s[t+1] = v[t] > v_th``.
  Compiled with ``-ffp-contract=off`` so that ``alpha*v + h`` is rounded twice, as torch's
  separate multiply and add are: spikes and membranes are bit-identical to the torch loop.
- ``lif_bwd``: the BPTT adjoint of :mod:`snnsim.backends.fused`; it forms the surrogate's
  sigmoid itself (float32: a vectorised exp to about 2 ulp; float64: libm's ``exp``).
- ``alif_fwd`` / ``alif_bwd``: the standard neuron with an adaptive threshold
  (:mod:`snnsim.functional.cell`, adaptation only) and its adjoint; the forward also records the
  adaptation ``A`` after each step (the adjoint reads it).
- ``li_fwd`` / ``li_bwd``: the leaky integrator ``v[t+1] = alpha*v[t] + h[t]`` and its
  adjoint ``dh[t] = lam[t+1]``, ``lam[t] = dv[t] + alpha*lam[t+1]``.
- ``proj_fwd`` / ``proj_bwd``: input currents of binary input spikes given as lists of active
  inputs, ``h[r] = sum_{i active} w[i]`` (a sequential sum in increasing ``i``) and the
  weight gradient ``dw[i] += dh[r]`` for every active ``i``: a sparse replacement for the two
  dense products ``x @ w`` and ``x^T @ dh`` (the input spikes are ~22 % dense);
- ``spike_mm_fwd`` / ``spike_mm_bwd``: the product of 0/1 hidden spikes with the output weights
  and its gradients, in fixed summation orders.
- ``mt_bernoulli_f32``: the IPD stimulus' Bernoulli draws from torch's CPU generator stream
  (:mod:`snnsim.encoders.bernoulli`).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch

from ..atomic_write import process_gone
from ..threads import kernel_threads

SOURCE = (Path(__file__).parent / "kernels.c").read_text()

#: OpenMP for the kernels' threads; a compiler without it builds them without threads.
OPENMP = "-fopenmp"
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


_without = ""  # why this process runs the torch loops instead (:func:`kernels`), once it tried
#: wall seconds this process spent building (or failing to build) the kernels: a training that
#: builds them at its first use leaves them out of its ``train_seconds``
build_seconds = 0.0
#: Device type (``cuda``) -> what computed the kernels' part there in this process (:func:`kernels`).
_elsewhere: dict[str, set[str]] = {}
#: One record per open :func:`scope`, innermost last: device type -> what computed the kernels'
#: part there since it opened (``cpu`` -> ``{"asked"}`` once anything asked for the library).
_scopes: list[dict[str, set[str]]] = []

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


def _flags() -> list[str]:
    """:data:`FLAGS` and ``$SNNSIM_CFLAGS`` (e.g. ``-DSNNSIM_KEEP_SUBNORMALS`` for comparisons)."""
    return [*FLAGS, *os.environ.get("SNNSIM_CFLAGS", "").split()]


#: A build folder older than this (seconds) is a killed build's: a build takes seconds.
STALE_BUILD_S = 3600


def _host_key() -> str:
    """This host and its process-id namespace (a container's pids are not the host's)."""
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = ""
    return hashlib.sha256(f"{platform.node()}\0{ns}".encode()).hexdigest()[:8]


def _build_prefix() -> str:
    """The name of this process' build folders begins with this: ``build-HOST-PID-``."""
    return f"build-{_host_key()}-{os.getpid()}-"


def _remove_killed_builds(folder: Path) -> None:
    """Remove the build folders that killed builds (SIGKILL, scancel) left in ``folder``: those of
    this host whose process is gone, and any older than :data:`STALE_BUILD_S` (another host's, or
    an older snnsim's ``tmpXXXXXXXX`` holding only the source and the library). A live build's
    folder is never one of them."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    host, now = _host_key(), time.time()
    for entry in entries:
        parts = entry.name.split("-")
        ours = len(parts) == 4 and parts[0] == "build" and parts[2].isdigit()
        legacy = entry.name.startswith("tmp") and len(entry.name) == 11
        if not (ours or legacy):
            continue
        try:
            if not entry.is_dir() or entry.is_symlink():
                continue
            if legacy and any(f.name != "kernels.c" and not f.name.startswith("lif_kernels_") for f in entry.iterdir()):
                continue
            dead = ours and parts[1] == host and process_gone(int(parts[2]))
            if dead or now - entry.stat().st_mtime > STALE_BUILD_S:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def _command(compiler: str) -> list[str]:
    """The words of ``compiler`` (``$CC``), split as make's shell splits them: ``ccache gcc``,
    ``gcc -m64`` or a quoted path with spaces."""
    try:
        return shlex.split(compiler)
    except ValueError as exc:  # an unclosed quote
        raise RuntimeError(f"CC={compiler!r} cannot be split into a command: {exc}") from None


class CompileFailed(RuntimeError):
    """The compiler ran and failed; ``lasting`` when running it again would fail again (not a
    compiler killed by a signal, nor a full disk)."""

    def __init__(self, message: str, lasting: bool) -> None:
        super().__init__(message)
        self.lasting = lasting


def _compile(compiler: str, flags: list[str], target: Path) -> None:
    """Build the kernels into ``target`` (atomically: concurrent builders never see a partial file),
    in a folder named by this host and process (:func:`_remove_killed_builds`)."""
    with tempfile.TemporaryDirectory(prefix=_build_prefix(), dir=target.parent) as tmp:
        src = Path(tmp).resolve() / "kernels.c"  # absolute: the file includes itself (__FILE__)
        src.write_text(SOURCE)
        out = Path(tmp) / target.name
        proc = subprocess.run([*_command(compiler), *flags, str(src), "-o", str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            lasting = proc.returncode > 0 and "No space left on device" not in proc.stderr
            raise CompileFailed(f"{compiler} failed: {proc.stderr.strip()[:2000]}", lasting)
        os.replace(out, target)


def _compiler_paths(compiler: str) -> list[str]:
    """The words of ``compiler`` with each program as the file it runs and as its name in its
    real folder: ``/bin/cc`` and ``/usr/bin/cc`` are one compiler where ``/bin`` links to
    ``/usr/bin`` (merged /usr); ``cc`` switched to another compiler (``alternatives``) is another,
    and so is one wrapper by two names (ccache as ``gcc`` and as ``clang``)."""
    paths = []
    for word in _command(compiler):
        path = shutil.which(word)
        if path is None:  # a flag (``gcc -m64``)
            paths.append(word)
            continue
        folder, name = os.path.split(os.path.abspath(path))
        paths.append(f"{os.path.realpath(path)}\0{os.path.join(os.path.realpath(folder), name)}")
    return paths


def _target(compiler: str, flags: list[str]) -> Path:
    """The cached library of ``compiler`` with ``flags`` on this CPU: in :func:`_cache_dir`, or in a
    per-user temp folder where that cannot be written."""
    words = [SOURCE, *_compiler_paths(compiler), *flags, platform.machine(), _cpu_id()]
    key = hashlib.sha256("\0".join(words).encode()).hexdigest()
    target = _cache_dir() / f"lif_kernels_{key[:16]}.so"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(target.parent, os.W_OK):
            raise PermissionError(str(target.parent))
    except OSError:  # read-only home (e.g. some cluster nodes): a per-user temp folder
        target = Path(tempfile.gettempdir()) / f"snnsim-{os.getuid()}" / target.name
        target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _compiler_files(compiler: str) -> list[str]:
    """Each program of ``compiler`` (``ccache gcc``) as its file: its real path, size and time."""
    idents = []
    for word in _command(compiler):
        path = shutil.which(word) or word
        try:
            st = os.stat(path)
            idents.append(f"{os.path.realpath(path)}\0{st.st_size}\0{st.st_mtime_ns}")
        except OSError:
            idents.append(path)
    return idents


def _no_openmp_marker(compiler: str, target: Path) -> Path:
    """The file that remembers that ``compiler`` could not build (or load) the OpenMP ``target``
    on this machine: keyed by the host and the compiler's file (its path, size and time), so that
    another machine sharing the cache, or a changed compiler, tries OpenMP again."""
    key = hashlib.sha256("\0".join([target.name, platform.node(), *_compiler_files(compiler)]).encode()).hexdigest()
    return target.with_name(f"{target.stem}-{key[:12]}.no-openmp")


def _failed_marker(compiler: str, target: Path) -> Path:
    """The file that remembers that ``compiler`` failed to build ``target`` (the one-thread
    kernels, whose name keys the source, the flags and the CPU) on this machine: keyed also by
    the host, the compiler's file and ``$PATH`` (where gcc finds ``ld``), so that another machine,
    a changed compiler, source or ``PATH`` tries again."""
    words = [target.name, platform.node(), *_compiler_files(compiler), os.environ.get("PATH", "")]
    key = hashlib.sha256("\0".join(words).encode()).hexdigest()
    return target.with_name(f"{target.stem}-{key[:12]}.failed")


def _remember_failure(marker: Path, exc: BaseException) -> str:
    """Write ``marker`` (atomically) with the compiler's line that names the cause; return the note
    for the warning, or "" where the cache cannot take it (e.g. a full disk)."""
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}")
    try:
        tmp.write_text(_first_error(exc) + "\n")
        os.replace(tmp, marker)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return ""
    return _failure_note(marker)


def _failure_note(marker: Path) -> str:
    return f"; not tried again while {marker} remembers the failure (delete it to try again)"


class BuildFailed(RuntimeError):
    """The compiler failed to build these kernels, in this process or (remembered by
    :func:`_failed_marker`) an earlier one: ``note`` says where that is remembered and how to try
    again."""

    def __init__(self, message: str, note: str) -> None:
        super().__init__(message)
        self.note = note


def _compiler_version(compiler: str) -> str:
    try:
        out = subprocess.run([*_command(compiler), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return ""
    return out.strip().splitlines()[0] if out.strip() else ""


def _first_error(exc: BaseException, prefer: str = "") -> str:
    """One line of a compiler's or loader's message (after :func:`_compile`'s "CC failed: "): the
    first naming ``prefer``, else the first that names an error and is not collect2's exit
    status, else the first."""
    head, sep, text = str(exc).partition(" failed: ")
    if not sep or "\n" in head:
        head, sep, text = "", "", str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()] or [type(exc).__name__]
    erring = [ln for ln in lines if not ln.startswith("collect2:")]
    words = ("error", "failed", "cannot", "not found", "no such")
    line = next((ln for ln in lines if prefer and prefer in ln.lower()), None) or next(
        (ln for ln in erring if any(w in ln.lower() for w in words)), lines[0]
    )
    return head + sep + (line if len(line) <= 300 else line[:297] + "...")


def _remember_no_openmp(marker: Path, compiler: str, exc: BaseException) -> None:
    """Write ``marker`` (atomically; a cache folder that cannot take it is only not remembered)
    and say once, in one line, that the kernels run on one thread and why."""
    version = _compiler_version(compiler)
    reason = _first_error(exc, prefer="omp").removeprefix(f"{compiler} failed: ")
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}")
    try:
        tmp.write_text(f"{compiler}\n{version}\n{reason}\n")
        os.replace(tmp, marker)
        remembered = f"; remembered in {marker} (delete it to try again)"
    except OSError:  # e.g. a full disk
        with contextlib.suppress(OSError):
            tmp.unlink()
        remembered = ""
    warnings.warn(
        f"the compiled CPU kernels run on one thread: {compiler}"
        + (f" ({version})" if version else "")
        + f" cannot build them with {OPENMP} ({reason}); install its OpenMP (libgomp for gcc, libomp for"
        f" clang) or set CC to a compiler with OpenMP{remembered}",
        RuntimeWarning,
        stacklevel=4,
    )


def _build() -> ctypes.CDLL:
    compiler = os.environ.get("CC", "").strip() or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise RuntimeError("no C compiler found (cc, gcc or clang)")
    openmp = _target(compiler, [*_flags(), OPENMP])
    failed_marker = _failed_marker(compiler, _target(compiler, _flags()))
    if failed_marker.exists():  # this compiler failed here before: the torch loops at once
        try:
            reason = failed_marker.read_text().strip().splitlines()[0]
        except (OSError, IndexError):
            reason = f"{compiler} failed"
        raise BuildFailed(reason, _failure_note(failed_marker))
    marker = _no_openmp_marker(compiler, openmp)
    # without OpenMP: one thread (a compiler that failed with OpenMP here before goes straight there)
    attempts = ([] if marker.exists() else [[*_flags(), OPENMP]]) + [_flags()]
    _remove_killed_builds(openmp.parent)
    announced, failed = False, None
    for flags in attempts:
        target = _target(compiler, flags)
        try:
            if not target.exists():
                from ..cli import announcing

                if (
                    not announced and announcing()
                ):  # on a line of its own, not after a progress bar's text (a BMI run's)
                    from tqdm import tqdm

                    tqdm.write(f"snnsim: compiling the CPU kernels into {target.parent} (once per machine; about 10 s)",
                               file=sys.stderr)  # fmt: skip
                    if sys.stderr is not None:
                        sys.stderr.flush()
                    announced = True
                _compile(compiler, flags, target)
            lib = ctypes.CDLL(str(target))
            break
        except (RuntimeError, OSError) as exc:
            if OPENMP not in flags:
                if isinstance(exc, CompileFailed) and exc.lasting:
                    raise BuildFailed(str(exc), _remember_failure(failed_marker, exc)) from exc
                raise
            failed = exc
    if failed is not None:  # the compiler builds the kernels, but not with OpenMP
        _remember_no_openmp(marker, compiler, failed)
    for suf in ("f32", "f64"):
        scalar = ctypes.c_float if suf == "f32" else ctypes.c_double
        layer = [_i64] * 3  # rows, steps, columns
        # the layers' last two arguments: standard (the standard neuron's step order, 0/1) and threads
        signatures = {
            "lif_fwd": [_p] * 3 + layer + [scalar] * 2 + [_i64, _i64],
            "lif_bwd": [_p] * 6 + layer + [scalar] * 3 + [_i64, _i64],
            "alif_fwd": [_p] * 4 + layer + [scalar] * 4 + [_i64],
            "alif_bwd": [_p] * 7 + layer + [scalar] * 5 + [_i64],
            "li_fwd": [_p] * 2 + layer + [scalar, _i64, _i64],
            "li_bwd": [_p] * 2 + layer + [scalar, _i64, _i64],
            "proj_fwd": [_p, _i64, _p, _p, _p, _i64, _i64, _p, _i64, _i64, _i64],
            "proj_bwd": [_p, _i64, _p, _p, _p, _i64, _p, _i64, _i64, _i64, _i64, _p, _i64],
            "spike_mm_fwd": [_p] * 3 + [_i64] * 6,
            "spike_mm_bwd": [_p] * 5 + [_i64] * 6,
            "net_fwd": [_p] * 4 + [_i64] * 8 + [scalar] * 2 + [_i64] * 2 + [_p] * 5 + [_i64] * 2,
            "net_bwd": [_p] * 3 + [_i64] * 8 + [scalar] * 3 + [_i64] * 2 + [_p] * 8 + [_i64] * 2,
        }
        for name, argtypes in signatures.items():
            fn = getattr(lib, f"{name}_{suf}")
            fn.argtypes, fn.restype = argtypes, None
    lib.csr_build.argtypes = [_p, _i64, _i64, _p, _p]
    lib.csr_build.restype = None
    lib.csc_build.argtypes = [_p, _i64, _i64, _i64, _p, _p, _p]
    lib.csc_build.restype = None
    lib.mt_bernoulli_f32.argtypes = [_p, _p, _p, _i64, _p]
    lib.mt_bernoulli_f32.restype = None
    lib.snnsim_kernels = "compiled (OpenMP)" if OPENMP in flags else "compiled (one thread)"  # for kernels()
    return lib


def switched_off(value: str | None) -> bool:
    """Whether ``value`` of ``$SNNSIM_NO_NATIVE`` turns the kernels off: any value but none, empty or ``0``."""
    return (value or "") not in ("", "0")


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None (with one warning) when they cannot be built here."""
    global _lib, _tried, _without, build_seconds
    if _scopes and "cpu" not in _scopes[-1]:  # noted in every open scope at once: the innermost tells
        noted({"cpu": {"asked"}})
    if _tried:
        return _lib
    with _lock:
        if not _tried:
            start = time.perf_counter()
            switch = os.environ.get("SNNSIM_NO_NATIVE", "")
            if switched_off(switch):
                _lib, _without = None, f"SNNSIM_NO_NATIVE={switch}"
            else:
                try:
                    _lib = _build()
                except Exception as exc:  # noqa: BLE001 - any failure means: use the torch loops
                    reason = _first_error(exc)
                    warnings.warn(
                        f"compiled CPU kernels unavailable ({reason}); slower torch ops take their place with every"
                        " backend (the hidden spikes' product, the IPD stimuli and input currents, the fused neurons)"
                        + getattr(exc, "note", ""),
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    _lib, _without = None, reason
            _tried = True
            build_seconds += time.perf_counter() - start
    return _lib


def kernels(device: object = "cpu") -> str:
    """Which loops computed what the compiled kernels compute on the CPU, in this process on
    ``device`` (a run's device), for result files: on the CPU ``compiled (OpenMP)``, ``compiled
    (one thread)`` (the same numbers) or ``torch loops (WHY)`` (which round otherwise in the
    last bits); on a GPU ``cuda (torch ops)``, or ``cuda (Triton LIF kernels, torch ops)`` where the
    fused backend's Triton kernels ran; ``none`` where nothing in this process asked for them
    there (a ridge decoder). Inside a :func:`scope`, what asked for them within the innermost one
    (one run of a process that runs several), not in the whole process. Never builds them."""
    kind = torch.device(device).type
    asked = _scopes[-1] if _scopes else None
    if kind != "cpu":
        how = _elsewhere.get(kind) if asked is None else asked.get(kind)
        return f"{kind} ({', '.join(sorted(how))})" if how else "none"
    if not _tried or (asked is not None and kind not in asked):
        return "none"
    return getattr(_lib, "snnsim_kernels", "compiled") if _lib is not None else f"torch loops ({_without})"


@contextlib.contextmanager
def scope() -> Iterator[dict[str, set[str]]]:
    """A record of what asks for the kernels inside (device type -> how), which :func:`kernels`
    reads while it is the innermost one open: the runner opens one per batched model, so that a
    ridge decoder trained after a spiking one in the same process (a pack, a tuning worker)
    records ``none``, not the kernels the spiking one used. Every open scope records an ask."""
    asked: dict[str, set[str]] = {}
    _scopes.append(asked)
    try:
        yield asked
    finally:
        _scopes.pop()


def noted(asked: dict[str, set[str]]) -> None:
    """Record in every open :func:`scope` that ``asked`` (a scope's record) computed the kernels'
    part: what made data that a later scope reads from a cache."""
    for record in _scopes:
        for kind, how in asked.items():
            record.setdefault(kind, set()).update(how)


def computed_elsewhere(device: torch.device, how: str = "torch ops") -> None:
    """Note for :func:`kernels` that ``how`` computed the kernels' part on ``device`` (not the CPU)."""
    _elsewhere.setdefault(device.type, set()).add(how)
    noted({device.type: {how}})


def usable(device: torch.device) -> bool:
    """True when the compiled kernels run on ``device``: the CPU, once they are built; another
    device computes their part itself (noted for :func:`kernels`)."""
    if device.type != "cpu":
        computed_elsewhere(device)
        return False
    return library() is not None


def supported(*tensors: torch.Tensor) -> bool:
    """True when the compiled kernels can run on these tensors (CPU, float32/float64)."""
    return all(t.dtype in (torch.float32, torch.float64) for t in tensors) and all(usable(t.device) for t in tensors)


def suffix(dtype: torch.dtype) -> str:
    return "f32" if dtype == torch.float32 else "f64"


def kernel(name: str, dtype: torch.dtype) -> Callable[..., None]:
    """The compiled kernel ``name`` for ``dtype`` (``lif_fwd``, float32 -> ``lif_fwd_f32``)."""
    return getattr(library(), f"{name}_{suffix(dtype)}")


# -- threads ------------------------------------------------------------------------------------

#: Fewer elements than this per kernel call run on one thread: waking a thread costs more than
#: such a call takes.
MIN_PARALLEL = 1 << 16


def threads_for(elements: int) -> int:
    """Threads for a kernel call over ``elements`` values (the kernels split their work with
    OpenMP into that many tiles; the numbers do not depend on it)."""
    return max(1, min(kernel_threads(), elements // MIN_PARALLEL))


def run_layer(fn: Callable[..., None], tensors: Sequence[torch.Tensor | None], rows: int, steps: int, n: int,
              *scalars: float) -> None:  # fmt: skip
    """``fn(*pointers, rows, steps, n, *scalars, threads)`` on contiguous (rows, steps, n) tensors
    (None passed as NULL)."""
    pointers = [None if t is None else t.data_ptr() for t in tensors]
    fn(*pointers, rows, steps, n, *scalars, threads_for(rows * steps * n))
