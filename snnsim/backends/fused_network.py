"""The whole decoder network on the CPU as one autograd operation (fused backend, spike inputs).

Forward, with the compiled kernels and no autograd graph inside: the input currents as sums of
the weight rows of active inputs (:mod:`~snnsim.backends.sparse_input`), the hidden LIF layer,
the product of hidden spikes (0/1) with the output weights as sums of weight rows
(``spike_mm_fwd``), and the output layer (leaky integrator, or LIF for a spiking readout). The
backward pass runs the same chain back (``spike_mm_bwd`` and the layers' adjoints). The
equations are those of :class:`~snnsim.network.Decoder` with the fused backend; only the
rounding of the sums differs from the per-layer path (tests: ``tests/backends/test_fused_network.py``).

It replaces about twenty autograd nodes per mini-batch by one: on the 2-core CPU of this
project the autograd and Python overhead, not the arithmetic, was half of a batch's time
(benchmarks/README.md).

Without the adaptive threshold the network runs one (model, sample) at a time through the
whole chain (``net_fwd`` / ``net_bwd``, :class:`_PerSample`): a sample's records (steps x 32
values per layer) stay in the core's cache instead of layer-wide arrays of megabytes, and only
the hidden layer's currents (and a spiking output's records) are kept for the backward pass,
which computes the hidden membranes again from them. Its trace equals the layer-by-layer
kernels' bit for bit; its weight gradients are summed per tile of
:data:`SAMPLES_PER_TILE` samples, then over the tiles in order (whatever the thread count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..functional.cell import CellOptions
from ..functional.lif import LIFParameters
from . import _native
from .fused import (
    alif_backward_native,
    alif_forward_native,
    li_backward_native,
    li_forward_native,
    lif_backward_native,
    lif_forward_native,
)
from .sparse_input import SpikeRows, padded_width, project_backward, project_forward

_LIF = CellOptions()  # no model-space option


def _spike_mm(s: torch.Tensor, w: torch.Tensor, batch: int) -> torch.Tensor:
    rows, steps = s.shape[0], s.shape[1]
    h = torch.empty((rows, steps, batch * w.shape[-1]), dtype=w.dtype)
    _native.kernel("spike_mm_fwd", w.dtype)(
        s.data_ptr(), w.data_ptr(), h.data_ptr(), rows, steps, batch, w.shape[-2], w.shape[-1],
        _native.threads_for(s.numel()),
    )  # fmt: skip
    return h


class _Network(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        w1: torch.Tensor,
        w2: torch.Tensor,
        data: Sequence[SpikeRows],
        index: torch.Tensor,
        p: LIFParameters,
        spiking_output: bool,
        opts: CellOptions,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_models, batch = index.shape
        steps = data[0].shape[1]
        w1, w2 = w1.detach().contiguous(), w2.detach().contiguous()
        alpha, v_th, std = float(p.alpha), float(p.v_th), p.neuron == "standard"
        h1 = project_forward(w1, data, index, time_major=True).view(n_models, steps, -1)
        if opts.adaptive:  # the standard neuron with an adaptive threshold (the config checked both)
            s1, v1, a1 = alif_forward_native(h1, alpha, v_th, opts.adapt_decay, opts.adapt_jump)
        else:
            (s1, v1), a1 = lif_forward_native(h1, alpha, v_th, std), None
        h2 = _spike_mm(s1, w2, batch)
        if spiking_output:
            s2, v2 = lif_forward_native(h2, alpha, v_th, std)
            trace = s2
        else:
            s2, v2 = None, li_forward_native(h2, alpha, std)
            trace = v2
        ctx.save_for_backward(w2, h1, s1, v1, a1, h2, s2, v2)
        ctx.data, ctx.index, ctx.p, ctx.spiking, ctx.w1_shape = data, index, p, spiking_output, w1.shape
        ctx.opts = opts
        # spike counts are integers: a float32 sum is exact below 2**24 per model
        counts = (s1.sum((1, 2)) if s1[0].numel() < 2**24 else s1.sum((1, 2), dtype=torch.float64)).double()
        ctx.mark_non_differentiable(counts)
        return trace.view(n_models, steps, batch, w2.shape[-1]), counts

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: Any, grad_trace: torch.Tensor, grad_counts: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, None, None, None, None, None]:
        w2, h1, s1, v1, a1, h2, s2, v2 = ctx.saved_tensors
        p = ctx.p
        alpha, v_th, slope, std = float(p.alpha), float(p.v_th), float(p.slope), p.neuron == "standard"
        n_models, batch = ctx.index.shape
        g = grad_trace.reshape(h2.shape).contiguous()
        if ctx.spiking:
            gh2 = lif_backward_native(h2, s2, v2, g, None, alpha, v_th, slope, std)
        else:
            gh2 = li_backward_native(g, alpha, std)
        gs1 = torch.empty_like(s1)
        gw2 = torch.empty_like(w2)
        _native.kernel("spike_mm_bwd", w2.dtype)(
            s1.data_ptr(), w2.data_ptr(), gh2.data_ptr(), gs1.data_ptr(), gw2.data_ptr(), n_models, s1.shape[1],
            batch, w2.shape[-2], w2.shape[-1], _native.threads_for(s1.numel()),
        )  # fmt: skip
        opts = ctx.opts
        if opts.adaptive:
            gh1 = alif_backward_native(
                h1, (s1, v1, a1), gs1, None, alpha, v_th, slope, opts.adapt_decay, opts.adapt_jump
            )
        else:
            gh1 = lif_backward_native(h1, s1, v1, gs1, None, alpha, v_th, slope, std)
        gw1 = project_backward(gh1.view(n_models, -1, h1.shape[-1] // batch), ctx.data, ctx.index, True, ctx.w1_shape)
        return gw1, gw2, None, None, None, None, None


#: Samples per tile of the per-sample kernels: each tile sums its samples' weight gradients, then
#: a model's tiles are summed in order, so the numbers depend on this constant, never on the threads.
SAMPLES_PER_TILE = 16


def _addresses(tensors: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    return torch.tensor([[t.data_ptr() for t in row] for row in tensors], dtype=torch.int64)


class _PerSample(torch.autograd.Function):
    """The network without the adaptive threshold, one (model, sample) at a time in the compiled
    kernels ``net_fwd`` / ``net_bwd``: every layer's records for a sample stay in cache, and only
    the hidden layer's currents (and a spiking output's records) are kept for the backward pass.
    The trace is bit-identical to :class:`_Network`'s; the weight gradients are summed per
    tile of :data:`SAMPLES_PER_TILE` samples, so they equal its to float rounding."""

    @staticmethod
    def forward(
        ctx: Any,
        w1: torch.Tensor,
        w2: torch.Tensor,
        data: Sequence[SpikeRows],
        index: torch.Tensor,
        p: LIFParameters,
        spiking_output: bool,
        record: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_models, batch = index.shape
        steps, n_in = data[0].shape[1], data[0].shape[2]
        n_hidden, n_out, dtype = w1.shape[-1], w2.shape[-1], w1.dtype
        hp, op = padded_width(n_hidden, dtype), padded_width(n_out, dtype, 32)
        w1p = torch.zeros((n_models, n_in, hp), dtype=dtype)
        w1p[..., :n_hidden] = w1.detach()
        w2p = torch.zeros((n_models, hp, op), dtype=dtype)
        w2p[:, :n_hidden, :n_out] = w2.detach()
        index = index.contiguous()
        per = -(-batch // SAMPLES_PER_TILE)
        trace = torch.empty((n_models, batch, steps, n_out), dtype=dtype)
        counts = torch.empty(n_models * per, dtype=torch.int64)
        h1 = h2 = v2 = None
        if record:
            h1 = torch.empty((n_models, batch, steps, hp), dtype=dtype)  # the membranes are computed again
            if spiking_output:
                h2, v2 = (torch.empty((n_models, batch, steps, op), dtype=dtype) for _ in range(2))
        std = p.neuron == "standard"
        pointers = [None if t is None else t.data_ptr() for t in (trace, h1, h2, v2)]
        csr = _addresses([(d.ptr, d.idx) for d in data])  # kept alive through the call
        _native.kernel("net_fwd", dtype)(
            csr.data_ptr(), index.data_ptr(), w1p.data_ptr(),
            w2p.data_ptr(), n_models, batch, steps, n_in, n_hidden, hp, n_out, op, float(p.alpha), float(p.v_th),
            int(std), int(spiking_output), *pointers, counts.data_ptr(), SAMPLES_PER_TILE,
            _native.threads_for(n_models * batch * steps * hp),
        )  # fmt: skip
        ctx.save_for_backward(w2, h1, h2, v2)
        ctx.data, ctx.index, ctx.p, ctx.spiking = data, index, p, spiking_output
        counts = counts.view(n_models, per).sum(1).double()
        ctx.mark_non_differentiable(counts)
        return trace, counts

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: Any, grad_trace: torch.Tensor, grad_counts: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, None, None, None, None, None]:
        w2, h1, h2, v2 = ctx.saved_tensors
        if h1 is None:
            raise RuntimeError("the network ran without records (no gradient was wanted)")
        p, data, index = ctx.p, ctx.data, ctx.index
        n_models, batch = index.shape
        steps, n_in = data[0].shape[1], data[0].shape[2]
        n_hidden, n_out, dtype = w2.shape[-2], w2.shape[-1], w2.dtype
        hp, op = h1.shape[-1], padded_width(n_out, dtype, 32)
        w2t = torch.zeros((n_models, n_out, hp), dtype=dtype)
        w2t[..., :n_hidden] = w2.detach().transpose(1, 2)
        per = -(-batch // SAMPLES_PER_TILE)
        gw1t, gw1 = torch.empty((n_models * per, n_in, hp), dtype=dtype), torch.empty((n_models, n_in, hp), dtype=dtype)
        gw2t, gw2 = torch.empty((n_models * per, hp, op), dtype=dtype), torch.empty((n_models, hp, op), dtype=dtype)
        g = grad_trace.to(dtype).contiguous()
        pointers = [None if t is None else t.data_ptr() for t in (g, h1, h2, v2, gw1t, gw2t, gw1, gw2)]
        csc = _addresses([d.csc() for d in data])  # kept alive through the call
        _native.kernel("net_bwd", dtype)(
            csc.data_ptr(), index.data_ptr(), w2t.data_ptr(), n_models, batch,
            steps, n_in, n_hidden, hp, n_out, op, float(p.alpha), float(p.v_th), float(p.slope),
            int(p.neuron == "standard"), int(ctx.spiking), *pointers, SAMPLES_PER_TILE,
            _native.threads_for(n_models * batch * steps * hp),
        )  # fmt: skip
        return gw1[..., :n_hidden], gw2[:, :n_hidden, :n_out], None, None, None, None, None


class _SpikeProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s, w = s.detach().contiguous(), w.detach().contiguous()
        ctx.save_for_backward(s, w)
        return _spike_mm(s, w, 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, w = ctx.saved_tensors
        grad_h = grad_h.contiguous()
        gs, gw = torch.empty_like(s), torch.empty_like(w)
        _native.kernel("spike_mm_bwd", w.dtype)(
            s.data_ptr(), w.data_ptr(), grad_h.data_ptr(), gs.data_ptr(), gw.data_ptr(), s.shape[0], s.shape[1], 1,
            w.shape[-2], w.shape[-1], _native.threads_for(s.numel()),
        )  # fmt: skip
        return gs, gw


def spike_product(s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``s @ w`` per model for 0/1 spikes ``s`` (M, R, H) and weights ``w`` (M, H, O): sums of the
    weight rows of active neurons in a fixed order, and its gradients (compiled kernels)."""
    return _SpikeProduct.apply(s, w)


def supported(w1: torch.Tensor) -> bool:
    """The op runs where the compiled kernels do: CPU, float32 or float64."""
    return _native.supported(w1)


def network(
    w1: torch.Tensor,
    w2: torch.Tensor,
    data: Sequence[SpikeRows],
    index: torch.Tensor,
    p: LIFParameters,
    spiking_output: bool,
    opts: CellOptions = _LIF,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The output trace (M, B, T, out) of samples ``index`` (M, B) of each model's
    data set (the output layer's spikes with ``spiking_output``, else its membranes), and the
    hidden spikes per model (M,). ``opts``: the hidden layer's model-space options, of which the
    kernels carry the adaptive threshold (with the standard neuron)."""
    index = index.to(torch.int64)
    if opts == _LIF:
        record = torch.is_grad_enabled() and (w1.requires_grad or w2.requires_grad)
        return _PerSample.apply(w1, w2, tuple(data), index, p, spiking_output, record)
    trace, counts = _Network.apply(w1, w2, tuple(data), index, p, spiking_output, opts)
    return trace.transpose(1, 2), counts
