"""Fused backend: each layer's whole time loop is one autograd operation with a hand-written
backward pass (BPTT), instead of one autograd node per step and operation.

Same equations as :mod:`snnsim.functional.lif`. The LIF recurrence runs forward without
building a graph and saves only the input currents, spikes and membranes; its backward pass
is the adjoint recurrence below.

LIF adjoint, with :math:`a_t = \\alpha v_t + h_t` and surrogate derivative
:math:`g_t = \\sigma'(v_t - \\vartheta)`, for t = T-2 .. 0:

.. math::
    \\lambda^v_t = \\bar v_t + \\alpha (1 - s_t) \\lambda^v_{t+1} + g_t \\lambda^s_{t+1}, \\quad
    \\lambda^s_t = \\bar s_t - a_t \\lambda^v_{t+1}, \\quad
    \\bar h_t = (1 - s_t) \\lambda^v_{t+1}

Leaky integrator (no reset) adjoint: :math:`\\bar h_t = \\lambda_{t+1}`,
:math:`\\lambda_t = \\bar v_t + \\alpha \\lambda_{t+1}`.

Implementations, chosen per call:

- CPU, float32/float64: compiled C loops (:mod:`snnsim.backends._native`), bit-identical
  forward to :func:`~snnsim.functional.lif.lif_sequence` / ``li_sequence`` and independent of
  how many rows (models, samples) are batched together.
- CUDA, float32, with Triton installed: one Triton kernel per layer and direction
  (:mod:`snnsim.backends.triton_lif`), the T steps walked inside the kernel. Checked against
  the torch loops on the CPU under Triton's interpreter; not yet run or timed on a GPU.
- Otherwise (other dtypes, no Triton, or no C compiler): the same recurrences as torch loops
  over time-major contiguous buffers, without autograd and with in-place ops (about 4 ops per
  step forward, 5 backward).

The standard neuron (``neuron="standard"``: spike from the updated membrane, reset in the same
step) has its own compiled loops on the CPU (``standard=1`` in the kernels, adjoint in
``kernels.c``); elsewhere it runs the reference steps of :mod:`snnsim.functional.lif` under
autograd. So does the standard neuron with an adaptive threshold (``alif_fwd``/``alif_bwd``,
the only model-space option the kernels carry; elsewhere :func:`~snnsim.functional.cell.cell_sequence`).

The leaky integrator off the CPU is one matrix product with a fixed (T, T) lower-triangular
matrix of powers of alpha (a linear filter). CUDA graphs for the whole training step are not
written yet (no GPU to test them).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import torch

from ..functional.cell import CellOptions, cell_sequence
from ..functional.lif import LIFParameters, li_sequence, standard_lif_sequence
from ..functional.surrogate import sigmoid
from . import _native

_TRITON = None  # the triton_lif module once imported; False when Triton cannot be imported


def _triton_kernels(h: torch.Tensor) -> ModuleType | None:
    """:mod:`snnsim.backends.triton_lif` when it takes ``h`` (CUDA float32 and Triton present)."""
    global _TRITON
    if h.dtype != torch.float32:
        return None
    if _TRITON is None:
        try:
            from . import triton_lif
        except ImportError:
            _TRITON = False
        else:
            _TRITON = triton_lif
    if _TRITON and _TRITON.supported(h):
        _native.computed_elsewhere(h.device, "Triton LIF kernels")  # for a result file's ``kernels``
        return _TRITON
    return None


def _flat(h: torch.Tensor) -> tuple[torch.Tensor, int, int, int]:
    """Contiguous view (R, T, N) of ``h`` (..., T, N)."""
    h = h.contiguous()
    steps, n = h.shape[-2], h.shape[-1]
    rows = h.numel() // max(steps * n, 1)
    return h, rows, steps, n


def surrogate_derivative(v: torch.Tensor, v_th: float, slope: float) -> torch.Tensor:
    """:math:`\\beta\\sigma(\\beta(v-\\vartheta))(1-\\sigma(\\beta(v-\\vartheta)))`, the notebook's surrogate."""
    sig = sigmoid((v - v_th) * slope)
    return sig.mul_(1 - sig).mul_(slope)


# -- torch loops (any device) -------------------------------------------------------------------


def _lif_forward_torch(h: torch.Tensor, alpha: float, v_th: float) -> tuple[torch.Tensor, torch.Tensor]:
    ht = h.movedim(-2, 0).contiguous()  # (T, ..., N): every step is one contiguous block
    steps = ht.shape[0]
    mem = torch.empty_like(ht)
    keep = torch.empty_like(ht)  # 1 - s
    mem[0].zero_()
    keep[0].fill_(1)
    for t in range(steps - 1):
        v_next = mem[t + 1]
        torch.mul(mem[t], alpha, out=v_next)
        v_next.add_(ht[t]).mul_(keep[t])
        torch.le(mem[t], v_th, out=keep[t + 1])
    spikes = torch.sub(1, keep)
    return spikes.movedim(0, -2), mem.movedim(0, -2)


def _lif_backward_torch(
    h: torch.Tensor,
    spikes: torch.Tensor,
    mem: torch.Tensor,
    grad_spikes: torch.Tensor | None,
    grad_mem: torch.Tensor | None,
    alpha: float,
    v_th: float,
    slope: float,
) -> torch.Tensor:
    steps = h.shape[-2]
    tm = lambda x: None if x is None else x.movedim(-2, 0).contiguous()  # noqa: E731
    ht, st, vt, gst, gvt = tm(h), tm(spikes), tm(mem), tm(grad_spikes), tm(grad_mem)
    keep = torch.sub(1, st)
    drive = torch.mul(vt, alpha).add_(ht)  # a_t = alpha*v_t + h_t
    sg = surrogate_derivative(vt, v_th, slope)
    grad_h = torch.empty_like(ht)
    grad_h[steps - 1].zero_()
    lam_v = gvt[steps - 1].clone() if gvt is not None else torch.zeros_like(ht[0])
    lam_s = gst[steps - 1].clone() if gst is not None else torch.zeros_like(ht[0])
    tmp = torch.empty_like(lam_v)
    for t in range(steps - 2, -1, -1):
        torch.mul(keep[t], lam_v, out=grad_h[t])
        torch.mul(grad_h[t], alpha, out=tmp)
        tmp.addcmul_(sg[t], lam_s)
        if gvt is not None:
            tmp.add_(gvt[t])
        torch.mul(drive[t], lam_v, out=lam_s).neg_()
        if gst is not None:
            lam_s.add_(gst[t])
        lam_v, tmp = tmp, lam_v
    return grad_h.movedim(0, -2)


def leaky_filter_matrix(alpha: float, steps: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(T, T) matrix L with ``L[t, k] = alpha**(t-1-k)`` for k < t, else 0: ``v = L @ h``."""
    t = torch.arange(steps, device=device, dtype=torch.float64)
    lag = t[:, None] - 1 - t[None, :]
    mat = torch.where(
        lag >= 0, torch.as_tensor(alpha, dtype=torch.float64) ** lag.clamp(min=0), torch.zeros((), dtype=torch.float64)
    )
    return mat.to(dtype)


#: How many leaky filter matrices (one per decay, step count, dtype and device) are kept: a tuning
#: session of many time constants in one process would otherwise keep one (T, T) matrix for each.
FILTERS_KEPT = 16


def _filter(alpha: float, steps: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return _kept_filter(alpha, steps, dtype, str(device))


@functools.lru_cache(maxsize=FILTERS_KEPT)
def _kept_filter(alpha: float, steps: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    return leaky_filter_matrix(alpha, steps, dtype, torch.device(device))


def _li_torch(h: torch.Tensor, alpha: float) -> torch.Tensor:
    """Leaky filter as one GEMM over all rows: (..., N, T) @ L^T."""
    mat = _filter(alpha, h.shape[-2], h.dtype, h.device)
    return torch.matmul(h.transpose(-1, -2), mat.t()).transpose(-1, -2)


# -- autograd functions ---------------------------------------------------------------------------


def lif_forward_native(
    h: torch.Tensor, alpha: float, v_th: float, standard: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes and membranes of a LIF layer, compiled kernels (CPU); ``h`` contiguous (..., T, N);
    ``standard``: the standard neuron's step order."""
    _, rows, steps, n = _flat(h)
    spikes, mem = torch.empty_like(h), torch.empty_like(h)
    _native.run_layer(_native.kernel("lif_fwd", h.dtype), (h, spikes, mem), rows, steps, n, alpha, v_th, int(standard))
    return spikes, mem


def lif_backward_native(
    h: torch.Tensor, spikes: torch.Tensor, mem: torch.Tensor, gs: torch.Tensor | None, gv: torch.Tensor | None,
    alpha: float, v_th: float, slope: float, standard: bool = False,
) -> torch.Tensor:  # fmt: skip
    """The input-current gradient of :func:`lif_forward_native` (gradients ``gs``/``gv`` of spikes
    and membranes, either may be None)."""
    _, rows, steps, n = _flat(h)
    gs = None if gs is None else gs.contiguous()
    gv = None if gv is None else gv.contiguous()
    grad_h = torch.empty_like(h)
    _native.run_layer(_native.kernel("lif_bwd", h.dtype), (h, spikes, mem, gs, gv, grad_h), rows, steps, n, alpha,
                      v_th, slope, int(standard))  # fmt: skip
    return grad_h


def alif_forward_native(
    h: torch.Tensor, alpha: float, v_th: float, rho: float, beta: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spikes, membranes and threshold adaptations of the standard neuron with an adaptive
    threshold (decay ``rho``, jump ``beta`` per spike), compiled kernels (CPU); ``h`` contiguous."""
    _, rows, steps, n = _flat(h)
    spikes, mem, adapt = torch.empty_like(h), torch.empty_like(h), torch.empty_like(h)
    _native.run_layer(_native.kernel("alif_fwd", h.dtype), (h, spikes, mem, adapt), rows, steps, n, alpha, v_th,
                      rho, beta)  # fmt: skip
    return spikes, mem, adapt


def alif_backward_native(
    h: torch.Tensor, records: tuple[torch.Tensor, torch.Tensor, torch.Tensor], gs: torch.Tensor | None,
    gv: torch.Tensor | None, alpha: float, v_th: float, slope: float, rho: float, beta: float,
) -> torch.Tensor:  # fmt: skip
    """The input-current gradient of :func:`alif_forward_native` (``records``: its outputs)."""
    _, rows, steps, n = _flat(h)
    gs = None if gs is None else gs.contiguous()
    gv = None if gv is None else gv.contiguous()
    grad_h = torch.empty_like(h)
    _native.run_layer(_native.kernel("alif_bwd", h.dtype), (h, *records, gs, gv, grad_h), rows, steps, n, alpha,
                      v_th, slope, rho, beta)  # fmt: skip
    return grad_h


def li_forward_native(h: torch.Tensor, alpha: float, standard: bool = False) -> torch.Tensor:
    """Membranes of a leaky integrator, compiled kernels (CPU); ``h`` contiguous (..., T, N)."""
    _, rows, steps, n = _flat(h)
    mem = torch.empty_like(h)
    _native.run_layer(_native.kernel("li_fwd", h.dtype), (h, mem), rows, steps, n, alpha, int(standard))
    return mem


def li_backward_native(grad_mem: torch.Tensor, alpha: float, standard: bool = False) -> torch.Tensor:
    """The input-current gradient of :func:`li_forward_native`."""
    grad_mem, rows, steps, n = _flat(grad_mem)
    grad_h = torch.empty_like(grad_mem)
    _native.run_layer(_native.kernel("li_bwd", grad_mem.dtype), (grad_mem, grad_h), rows, steps, n, alpha,
                      int(standard))  # fmt: skip
    return grad_h


class _LIFFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, h: torch.Tensor, alpha: float, v_th: float, slope: float, standard: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        if _native.supported(h):  # the only path that carries the standard neuron (see lif)
            h = h.contiguous()
            spikes, mem = lif_forward_native(h, alpha, v_th, standard)
        elif (kernels := _triton_kernels(h)) is not None:
            spikes, mem = kernels.lif_forward(h, alpha, v_th)
        else:
            spikes, mem = _lif_forward_torch(h, alpha, v_th)
        ctx.save_for_backward(h, spikes, mem)
        ctx.params = (alpha, v_th, slope)
        ctx.standard = standard
        return spikes, mem

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: Any, grad_spikes: torch.Tensor | None, grad_mem: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, None, None, None, None]:
        h, spikes, mem = ctx.saved_tensors
        alpha, v_th, slope = ctx.params
        if grad_spikes is None and grad_mem is None:
            return None, None, None, None, None
        if _native.supported(h):
            grad_h = lif_backward_native(h, spikes, mem, grad_spikes, grad_mem, alpha, v_th, slope, ctx.standard)
        elif (kernels := _triton_kernels(h)) is not None:
            grad_h = kernels.lif_backward(h, spikes, mem, grad_spikes, grad_mem, alpha, v_th, slope)
        else:
            grad_h = _lif_backward_torch(h, spikes, mem, grad_spikes, grad_mem, alpha, v_th, slope)
        return grad_h, None, None, None, None


class _ALIFFunction(torch.autograd.Function):
    """The adaptive standard neuron on CPU via the compiled recurrence and its adjoint."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, params: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        alpha, v_th, _, rho, beta = params
        h = h.contiguous()
        records = alif_forward_native(h, alpha, v_th, rho, beta)
        ctx.save_for_backward(h, *records)
        ctx.params = params
        return records[0], records[1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_spikes: torch.Tensor | None, grad_mem: torch.Tensor | None) -> tuple:
        h, *records = ctx.saved_tensors
        if grad_spikes is None and grad_mem is None:
            return None, None
        return alif_backward_native(h, tuple(records), grad_spikes, grad_mem, *ctx.params), None


class _LIFunction(torch.autograd.Function):
    """Leaky integrator on CPU via the compiled recurrence (exact, batching-independent)."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, alpha: float, standard: bool) -> torch.Tensor:
        ctx.alpha, ctx.standard = alpha, standard
        return li_forward_native(h.contiguous(), alpha, standard)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_mem: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return li_backward_native(grad_mem, ctx.alpha, ctx.standard), None, None


def lif(h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused LIF layer: (spikes, membrane) records of input currents ``h`` (..., T, N)."""
    standard = p.neuron == "standard"
    if standard and not _native.supported(h):  # no Triton or torch-loop kernels for its step order
        return standard_lif_sequence(h, p)
    return _LIFFunction.apply(h, float(p.alpha), float(p.v_th), float(p.slope), standard)


def li(h: torch.Tensor, p: LIFParameters) -> torch.Tensor:
    """Fused leaky integrator: membrane record of input currents ``h`` (..., T, N)."""
    standard = p.neuron == "standard"
    if _native.supported(h):
        return _LIFunction.apply(h, float(p.alpha), standard)
    return li_sequence(h, p) if standard else _li_torch(h, float(p.alpha))


def adaptive_lif(h: torch.Tensor, p: LIFParameters, opts: CellOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """The standard neuron with an adaptive threshold (``opts``: adaptation only): (spikes,
    membrane) records of input currents ``h`` (..., T, N); compiled kernels on the CPU, the
    reference steps elsewhere."""
    if not _native.supported(h):
        return cell_sequence(h, p, opts)
    params = (float(p.alpha), float(p.v_th), float(p.slope), float(opts.adapt_decay), float(opts.adapt_jump))
    return _ALIFFunction.apply(h, params)


class FusedBackend:
    name = "fused"

    def cell(
        self,
        h: torch.Tensor,
        p: LIFParameters,
        opts: CellOptions,
        alpha: torch.Tensor | None = None,
        recurrent: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model-space layer as far as the kernels carry it: the adaptive threshold
        (:data:`snnsim.backends.MODEL_SPACE`); the config refuses the other options first."""
        if alpha is not None or recurrent is not None or opts.syn_decay:
            raise ValueError("the fused backend carries only the adaptive threshold of the model space")
        return adaptive_lif(h, p, opts) if opts.adaptive else lif(h, p)

    def lif(self, h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
        return lif(h, p)

    def li(self, h: torch.Tensor, p: LIFParameters) -> torch.Tensor:
        return li(h, p)
