"""The model-space hidden neuron as a pure reference: LIF with an optional synaptic current,
recurrent input, per-neuron (learnable) membrane decays and an adaptive threshold.

It steps as the libraries' neurons do (the *standard* order of :mod:`snnsim.functional.lif`:
spike from the updated membrane, reset to zero in the same step). With input currents
:math:`h_t` (already weighted), recurrent weights :math:`V`, synaptic decay :math:`a_s =
e^{-\\Delta t/\\tau_{syn}}` (0: no synaptic current), membrane decays :math:`\\alpha` (one per
neuron, or one for the layer), adaptation decay :math:`\\rho = e^{-\\Delta t/\\tau_{adapt}}` and
jump :math:`\\beta` (0: a fixed threshold :math:`\\vartheta`):

.. math::
    x_t &= h_t + s_{t-1} V \\\\
    c_t &= a_s c_{t-1} + x_t \\\\
    u_t &= \\alpha v_{t-1} + c_t \\\\
    s_t &= \\Theta(u_t - \\vartheta - \\rho A_{t-1}) \\\\
    A_t &= \\rho A_{t-1} + \\beta s_t \\\\
    v_t &= u_t (1 - s_t)

from zero states; the surrogate gradient (:func:`~snnsim.functional.surrogate.spike_fn`) flows
through the threshold too. With every option off this is the standard LIF. snnTorch's
``Leaky``/``Synaptic``/``RLeaky``/``RSynaptic`` and Norse's ``LIFBoxCell``/``LIFCell``/``LSNNCell``
steps are this equation (:mod:`snnsim.backends`); ``tests/functional/test_cell.py`` checks it
against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from ..backends import ALPHA_MAX as ALPHA_MAX  # the largest learned membrane decay (re-exported)
from .lif import LIFParameters
from .surrogate import spike_fn


class CellOptions(NamedTuple):
    """Fixed settings of a model-space layer (decays per step, dimensionless).

    Parameters:
        syn_decay (float): a_s = exp(-dt/tau_syn); 0: no synaptic current (c_t = x_t).
        adapt_decay (float): rho = exp(-dt/tau_adapt) of the threshold adaptation.
        adapt_jump (float): beta, threshold increase per spike; 0: a fixed threshold.
    """

    syn_decay: float = 0.0
    adapt_decay: float = 0.0
    adapt_jump: float = 0.0

    @property
    def adaptive(self) -> bool:
        return self.adapt_jump != 0.0


class _PerModelProduct(torch.autograd.Function):
    """(M, R, K) @ (M, K, N) model by model, every product (forward and backward) on fresh copies
    of the model's operands. The BLAS (MKL) rounds a small product differently when an operand
    starts at an address that is not aligned, as model m's slice of a batched tensor does at
    offset m * R * K (and the slices of the gradients in the backward pass): a model's numbers
    would then depend on how many models are batched with it. Fresh copies start aligned."""

    @staticmethod
    def forward(ctx: Any, s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(s, w)
        return torch.stack([a.clone() @ b.clone() for a, b in zip(s.unbind(0), w.unbind(0))])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        s, w = ctx.saved_tensors
        grads = [g.clone() for g in grad.unbind(0)]
        gs = gw = None
        if ctx.needs_input_grad[0]:
            gs = torch.stack([g @ b.clone().T for g, b in zip(grads, w.unbind(0))])
        if ctx.needs_input_grad[1]:
            gw = torch.stack([a.clone().T @ g for a, g in zip(s.unbind(0), grads)])
        return gs, gw


def per_model_product(s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(M, B, K) @ (M, K, N), model by model: the same numbers for a model whatever M is and
    wherever the model sits in the batch (:class:`_PerModelProduct`)."""
    return _PerModelProduct.apply(s, w)


class _FreshGradient(torch.autograd.Function):
    """The identity, whose backward hands on a fresh copy of the gradient (see :func:`per_model`)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.clone()


def per_model(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
    """``fn`` model by model (``tensors`` share the leading dim M), concatenated: each call gets
    fresh copies of its model's slices, and its backward a fresh copy of its slice of the
    gradient, as a model alone has them, so that a model's numbers do not depend on M (as
    :class:`_PerModelProduct`, for operations of any kind)."""
    return torch.cat([
        _FreshGradient.apply(fn(*(t.clone() for t in parts))) for parts in zip(*(t.split(1) for t in tensors))
    ])  # fmt: skip


def cell_sequence(
    h: torch.Tensor,
    p: LIFParameters,
    opts: CellOptions,
    alpha: torch.Tensor | None = None,
    recurrent: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer over input currents ``h`` (M, B, T, N): (spikes, membrane) after each step.

    ``alpha``: membrane decays broadcastable to (M, B, N) (default ``p.alpha``); ``recurrent``:
    weights (M, N, N) from the layer's spikes of the previous step."""
    a = p.alpha if alpha is None else alpha
    v = c = adapt = s = torch.zeros_like(h[..., 0, :])
    spikes, membrane = [], []
    for h_t in h.unbind(-2):
        x = h_t if recurrent is None else h_t + per_model_product(s, recurrent)
        c = opts.syn_decay * c + x
        u = a * v + c
        s = spike_fn(u - p.v_th - opts.adapt_decay * adapt, p.slope)
        adapt = opts.adapt_decay * adapt + opts.adapt_jump * s
        v = u * (1 - s)
        spikes.append(s)
        membrane.append(v)
    return torch.stack(spikes, -2), torch.stack(membrane, -2)
