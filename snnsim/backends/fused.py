"""Fused backend: each layer's whole time loop is one autograd operation with a hand-written
backward pass (BPTT), instead of one autograd node per step and operation.

Same equations as :mod:`snnsim.functional.lif`. The LIF recurrence runs forward without
building a graph and saves only the input currents, spikes and membranes; its backward pass
is the adjoint recurrence below. The leaky integrator without reset is a linear filter, so it
is one matrix product with a fixed (T, T) lower-triangular matrix of powers of alpha.

LIF adjoint, with :math:`a_t = \\alpha v_t + h_t` and surrogate derivative
:math:`g_t = \\sigma'(v_t - \\vartheta)`, for t = T-2 .. 0:

.. math::
    \\lambda^v_t = \\bar v_t + \\alpha (1 - s_t) \\lambda^v_{t+1} + g_t \\lambda^s_{t+1}, \\quad
    \\lambda^s_t = \\bar s_t - a_t \\lambda^v_{t+1}, \\quad
    \\bar h_t = (1 - s_t) \\lambda^v_{t+1}
"""

from __future__ import annotations

import torch

from ..functional.lif import LIFParameters
from . import BACKENDS


class _LIFFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: torch.Tensor, alpha: float, v_th: float, slope: float):
        steps = h.shape[-2]
        spikes = torch.zeros_like(h)
        membrane = torch.zeros_like(h)
        v = torch.zeros_like(h[..., 0, :])
        s = torch.zeros_like(v)
        for t in range(steps - 1):
            v_new = (alpha * v + h[..., t, :]) * (1 - s)
            s = (v > v_th).to(h.dtype)
            v = v_new
            spikes[..., t + 1, :] = s
            membrane[..., t + 1, :] = v
        ctx.save_for_backward(h, spikes, membrane)
        ctx.params = (alpha, v_th, slope)
        return spikes, membrane

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor, grad_membrane: torch.Tensor):
        h, spikes, membrane = ctx.saved_tensors
        alpha, v_th, slope = ctx.params
        steps = h.shape[-2]
        if grad_spikes is None:
            grad_spikes = torch.zeros_like(h)
        if grad_membrane is None:
            grad_membrane = torch.zeros_like(h)
        sig = torch.sigmoid(slope * (membrane - v_th))
        surrogate = slope * sig * (1 - sig)  # g_t for every t
        grad_h = torch.zeros_like(h)
        lam_v = grad_membrane[..., steps - 1, :]
        lam_s = grad_spikes[..., steps - 1, :]
        for t in range(steps - 2, -1, -1):
            v_t, s_t = membrane[..., t, :], spikes[..., t, :]
            keep = 1 - s_t
            grad_h[..., t, :] = keep * lam_v
            new_lam_v = grad_membrane[..., t, :] + alpha * keep * lam_v + surrogate[..., t, :] * lam_s
            lam_s = grad_spikes[..., t, :] - (alpha * v_t + h[..., t, :]) * lam_v
            lam_v = new_lam_v
        return grad_h, None, None, None


def leaky_filter_matrix(alpha: float, steps: int, dtype: torch.dtype, device) -> torch.Tensor:
    """(T, T) matrix L with ``L[t, k] = alpha**(t-1-k)`` for k < t, else 0: ``v = L @ h``."""
    t = torch.arange(steps, device=device, dtype=torch.float64)
    lag = t[:, None] - 1 - t[None, :]
    mat = torch.where(lag >= 0, torch.as_tensor(alpha, dtype=torch.float64) ** lag.clamp(min=0), torch.zeros((), dtype=torch.float64))
    return mat.to(dtype)


class FusedBackend:
    name = "fused"

    def __init__(self) -> None:
        self._filters: dict[tuple, torch.Tensor] = {}

    def lif(self, h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
        return _LIFFunction.apply(h, p.alpha, p.v_th, p.slope)

    def li(self, h: torch.Tensor, p: LIFParameters) -> torch.Tensor:
        key = (p.alpha, h.shape[-2], h.dtype, h.device)
        mat = self._filters.get(key)
        if mat is None:
            mat = self._filters[key] = leaky_filter_matrix(p.alpha, h.shape[-2], h.dtype, h.device)
        return torch.matmul(mat, h)


BACKENDS["fused"] = FusedBackend
