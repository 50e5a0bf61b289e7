"""Compiled CPU loops for the fused backend: plain C, built with the system C compiler at first
use and called through ``ctypes``.

Why not a torch C++ extension: ``torch.utils.cpp_extension.load_inline`` compiles against the
torch headers, which takes about a minute on a 2-core machine and needs ninja; this file needs
no torch headers, builds in about a second with ``cc -O3`` and is cached (keyed by the source,
the flags and the CPU) under ``$SNNSIM_CACHE`` or ``~/.cache/snnsim``. Without a compiler (or
with ``SNNSIM_NO_NATIVE=1``), :func:`library` returns None, a warning is issued once and the
fused backend runs its vectorised torch loops instead.

Kernels (all single-threaded, one row ``r`` of the leading dimensions at a time, time at
dimension -2 and neurons contiguous, exactly the notebook's LIF step in the input dtype):

- ``lif_fwd``: ``v[t+1] = (alpha*v[t] + h[t]) * (1 - s[t])``, ``s[t+1] = v[t] > v_th``.
  Compiled with ``-ffp-contract=off`` so that ``alpha*v + h`` is rounded twice, as torch's
  separate multiply and add are: spikes and membranes are bit-identical to the torch loop.
- ``lif_bwd``: the BPTT adjoint of :mod:`snnsim.backends.fused`; the sigmoid of the surrogate
  is passed in (torch's vectorised sigmoid) and its derivative formed in the loop.
- ``li_fwd`` / ``li_bwd``: the leaky integrator ``v[t+1] = alpha*v[t] + h[t]`` and its
  adjoint ``dh[t] = lam[t+1]``, ``lam[t] = dv[t] + alpha*lam[t+1]``.
- ``proj_fwd`` / ``proj_bwd``: input currents of binary input spikes given as lists of active
  inputs, ``h[r] = sum_{i active} w[i]`` (a sequential sum in increasing ``i``) and the
  weight gradient ``dw[i] += dh[r]`` for every active ``i``: a sparse replacement for the two
  dense products ``x @ w`` and ``x^T @ dh`` (the input spikes are ~22 % dense).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch

SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>

#define DEFINE_KERNELS(T, SUF)                                                                  \
void lif_fwd_##SUF(const T* h, T* s, T* v, int64_t R, int64_t steps, int64_t N,                 \
                   T alpha, T vth) {                                                            \
    for (int64_t r = 0; r < R; ++r) {                                                           \
        const T* hr = h + r * steps * N;                                                        \
        T* sr = s + r * steps * N;                                                              \
        T* vr = v + r * steps * N;                                                              \
        for (int64_t n = 0; n < N; ++n) { sr[n] = 0; vr[n] = 0; }                               \
        for (int64_t t = 0; t + 1 < steps; ++t) {                                               \
            const T* ht = hr + t * N; const T* st = sr + t * N; const T* vt = vr + t * N;       \
            T* sn = sr + (t + 1) * N; T* vn = vr + (t + 1) * N;                                 \
            for (int64_t n = 0; n < N; ++n) {                                                   \
                T a = alpha * vt[n];                                                            \
                a = a + ht[n];                                                                  \
                vn[n] = a * ((T)1 - st[n]);                                                     \
                sn[n] = vt[n] > vth ? (T)1 : (T)0;                                              \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
}                                                                                               \
/* gs, gv may be NULL (no gradient for that output); sg = sigmoid(slope*(v[t] - v_th)).   */   \
void lif_bwd_##SUF(const T* h, const T* s, const T* v, const T* sg, const T* gs, const T* gv,   \
                   T* gh, T* work, int64_t R, int64_t steps, int64_t N, T alpha, T slope) {     \
    T* lv = work; T* ls = work + N;                                                             \
    for (int64_t r = 0; r < R; ++r) {                                                           \
        int64_t off = r * steps * N;                                                            \
        const T* hr = h + off; const T* sr = s + off; const T* vr = v + off;                    \
        const T* gr = sg + off; T* ghr = gh + off;                                              \
        const T* gsr = gs ? gs + off : 0; const T* gvr = gv ? gv + off : 0;                     \
        int64_t last = (steps - 1) * N;                                                         \
        for (int64_t n = 0; n < N; ++n) {                                                       \
            lv[n] = gvr ? gvr[last + n] : (T)0;                                                 \
            ls[n] = gsr ? gsr[last + n] : (T)0;                                                 \
            ghr[last + n] = 0;                                                                  \
        }                                                                                       \
        for (int64_t t = steps - 2; t >= 0; --t) {                                              \
            int64_t o = t * N;                                                                  \
            for (int64_t n = 0; n < N; ++n) {                                                   \
                T keep = (T)1 - sr[o + n];                                                      \
                T lvn = lv[n];                                                                  \
                ghr[o + n] = keep * lvn;                                                        \
                T sgn = gr[o + n];                                                              \
                T nv = alpha * keep * lvn + slope * sgn * ((T)1 - sgn) * ls[n];                 \
                if (gvr) nv += gvr[o + n];                                                      \
                T nsv = -(alpha * vr[o + n] + hr[o + n]) * lvn;                                 \
                if (gsr) nsv += gsr[o + n];                                                     \
                ls[n] = nsv;                                                                    \
                lv[n] = nv;                                                                     \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
}                                                                                               \
void li_fwd_##SUF(const T* h, T* v, int64_t R, int64_t steps, int64_t N, T alpha) {            \
    for (int64_t r = 0; r < R; ++r) {                                                           \
        const T* hr = h + r * steps * N; T* vr = v + r * steps * N;                             \
        for (int64_t n = 0; n < N; ++n) vr[n] = 0;                                              \
        for (int64_t t = 0; t + 1 < steps; ++t)                                                 \
            for (int64_t n = 0; n < N; ++n) {                                                   \
                T a = alpha * vr[t * N + n];                                                    \
                vr[(t + 1) * N + n] = a + hr[t * N + n];                                        \
            }                                                                                   \
    }                                                                                           \
}                                                                                               \
void li_bwd_##SUF(const T* gv, T* gh, int64_t R, int64_t steps, int64_t N, T alpha) {           \
    for (int64_t r = 0; r < R; ++r) {                                                           \
        const T* gr = gv + r * steps * N; T* hr = gh + r * steps * N;                           \
        int64_t last = (steps - 1) * N;                                                         \
        for (int64_t n = 0; n < N; ++n) { hr[last + n] = 0; }                                   \
        if (steps > 1) for (int64_t n = 0; n < N; ++n) hr[last - N + n] = gr[last + n];         \
        for (int64_t t = steps - 3; t >= 0; --t)                                                \
            for (int64_t n = 0; n < N; ++n)                                                     \
                hr[t * N + n] = gr[(t + 1) * N + n] + alpha * hr[(t + 1) * N + n];              \
    }                                                                                           \
}                                                                                               \
/* Sparse input projection. rows: R row ids; ptr[q]..ptr[q+1] index idx (active inputs,  */   \
/* increasing). wp: (C, NP) weights padded to NP (multiple of 128 bytes) columns; h: (R, N). */ \
void proj_fwd_##SUF(const int64_t* rows, int64_t R, const int64_t* ptr, const int16_t* idx,     \
                    const T* restrict wp, int64_t N, int64_t NP, T* restrict h) {               \
    /* NP is a multiple of 4 vectors: 4 register accumulators per block of columns */          \
    enum { L = 32 / sizeof(T) };                                                                \
    typedef T vec __attribute__((vector_size(32)));                                             \
    T out[NP];                                                                                  \
    for (int64_t r = 0; r < R; ++r) {                                                           \
        int64_t q = rows[r];                                                                    \
        for (int64_t b = 0; b < NP; b += 4 * L) {                                               \
            vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, x;                                      \
            for (int64_t k = ptr[q]; k < ptr[q + 1]; ++k) {                                     \
                const T* wi = wp + (int64_t)idx[k] * NP + b;                                    \
                __builtin_memcpy(&x, wi, 32); a0 += x;                                          \
                __builtin_memcpy(&x, wi + L, 32); a1 += x;                                      \
                __builtin_memcpy(&x, wi + 2 * L, 32); a2 += x;                                  \
                __builtin_memcpy(&x, wi + 3 * L, 32); a3 += x;                                  \
            }                                                                                   \
            __builtin_memcpy(out + b, &a0, 32); __builtin_memcpy(out + b + L, &a1, 32);         \
            __builtin_memcpy(out + b + 2 * L, &a2, 32); __builtin_memcpy(out + b + 3 * L, &a3, 32); \
        }                                                                                       \
        T* hr = h + r * N;                                                                      \
        for (int64_t n = 0; n < N; ++n) hr[n] = out[n];                                         \
    }                                                                                           \
}                                                                                               \
/* gwp: (C, NP) padded gradient accumulator (zeroed by the caller); gh: (R, N). */              \
void proj_bwd_##SUF(const int64_t* rows, int64_t R, const int64_t* ptr, const int16_t* idx,     \
                    const T* restrict gh, int64_t N, int64_t NP, T* restrict gwp) {             \
    enum { L = 32 / sizeof(T) };                                                                \
    typedef T vec __attribute__((vector_size(32)));                                             \
    T g[NP];                                                                                    \
    for (int64_t n = N; n < NP; ++n) g[n] = 0;                                                  \
    for (int64_t r = 0; r < R; ++r) {                                                           \
        int64_t q = rows[r];                                                                    \
        for (int64_t n = 0; n < N; ++n) g[n] = gh[r * N + n];                                  \
        for (int64_t b = 0; b < NP; b += 4 * L) {                                               \
            vec g0, g1, g2, g3, x;                                                              \
            __builtin_memcpy(&g0, g + b, 32); __builtin_memcpy(&g1, g + b + L, 32);             \
            __builtin_memcpy(&g2, g + b + 2 * L, 32); __builtin_memcpy(&g3, g + b + 3 * L, 32); \
            for (int64_t k = ptr[q]; k < ptr[q + 1]; ++k) {                                     \
                T* wi = gwp + (int64_t)idx[k] * NP + b;                                         \
                __builtin_memcpy(&x, wi, 32); x += g0; __builtin_memcpy(wi, &x, 32);            \
                __builtin_memcpy(&x, wi + L, 32); x += g1; __builtin_memcpy(wi + L, &x, 32);    \
                __builtin_memcpy(&x, wi + 2 * L, 32); x += g2; __builtin_memcpy(wi + 2 * L, &x, 32); \
                __builtin_memcpy(&x, wi + 3 * L, 32); x += g3; __builtin_memcpy(wi + 3 * L, &x, 32); \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
}

/* CSR of a 0/1 byte matrix x (R, C): ptr (R+1), idx (nnz, filled when idx != NULL). */
void csr_build(const uint8_t* x, int64_t R, int64_t C, int64_t* ptr, int16_t* idx) {
    int64_t k = 0;
    ptr[0] = 0;
    for (int64_t r = 0; r < R; ++r) {
        const uint8_t* xr = x + r * C;
        /* branchless: the input bits are random, a branch would mispredict ~1 in 4 */
        if (idx) { for (int64_t c = 0; c < C; ++c) { idx[k] = (int16_t)c; k += xr[c] != 0; } }
        else { for (int64_t c = 0; c < C; ++c) k += xr[c] != 0; }
        ptr[r + 1] = k;
    }
}

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
"""

FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-std=gnu99"]

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
            src = Path(tmp) / "lif_kernels.c"
            src.write_text(SOURCE)
            out = Path(tmp) / target.name
            proc = subprocess.run([compiler, *FLAGS, str(src), "-o", str(out)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{compiler} failed: {proc.stderr.strip()[:2000]}")
            os.replace(out, target)  # atomic: concurrent builders never see a partial file
    lib = ctypes.CDLL(str(target))
    for suf in ("f32", "f64"):
        getattr(lib, f"lif_fwd_{suf}").argtypes = [_p, _p, _p, _i64, _i64, _i64]  # + 2 scalars, set below
        getattr(lib, f"lif_bwd_{suf}").argtypes = [_p] * 8 + [_i64, _i64, _i64]
        getattr(lib, f"proj_fwd_{suf}").argtypes = [_p, _i64, _p, _p, _p, _i64, _i64, _p]
        getattr(lib, f"proj_bwd_{suf}").argtypes = [_p, _i64, _p, _p, _p, _i64, _i64, _p]
        scalar = ctypes.c_float if suf == "f32" else ctypes.c_double
        getattr(lib, f"lif_fwd_{suf}").argtypes += [scalar, scalar]
        getattr(lib, f"lif_bwd_{suf}").argtypes += [scalar, scalar]
        getattr(lib, f"li_fwd_{suf}").argtypes = [_p, _p, _i64, _i64, _i64, scalar]
        getattr(lib, f"li_bwd_{suf}").argtypes = [_p, _p, _i64, _i64, _i64, scalar]
        for name in ("lif_fwd", "lif_bwd", "li_fwd", "li_bwd", "proj_fwd", "proj_bwd"):
            getattr(lib, f"{name}_{suf}").restype = None
    lib.csr_build.argtypes = [_p, _i64, _i64, _p, _p]
    lib.csr_build.restype = None
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
                    warnings.warn(f"snnsim fused backend: compiled CPU kernels unavailable ({exc}); "
                                  "using the slower torch loops", RuntimeWarning, stacklevel=3)
                    _lib = None
            _tried = True
    return _lib


def supported(*tensors: torch.Tensor) -> bool:
    """True when the compiled kernels can run on these tensors (CPU, float32/float64)."""
    return all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in tensors) \
        and library() is not None


def suffix(dtype: torch.dtype) -> str:
    return "f32" if dtype == torch.float32 else "f64"


def ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()
