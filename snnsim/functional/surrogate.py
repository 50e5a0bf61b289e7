"""Heaviside spike function with the notebook's sigmoid surrogate gradient.

.. math::
    S(x) = \\Theta(x), \\qquad
    \\frac{\\partial S}{\\partial x} \\approx \\beta\\,\\sigma(\\beta x)\\,(1 - \\sigma(\\beta x))

with slope :math:`\\beta` (the notebook uses 5). Written with ``torch.sigmoid``, which is finite
for every input (snnTorch 1.0.0's own sigmoid surrogate can return NaN for large negative
inputs, snntorch issue #427).
"""

from __future__ import annotations

from typing import Any

import torch


class SigmoidSurrogate(torch.autograd.Function):
    """``forward(x, slope) = (x > 0)``; backward: derivative of ``sigmoid(slope * x)``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        sig = torch.sigmoid(ctx.slope * x)
        return grad_output * ctx.slope * sig * (1 - sig), None


def spike_fn(x: torch.Tensor, slope: float = 5.0) -> torch.Tensor:
    """Heaviside of ``x`` with the sigmoid surrogate of slope ``slope``."""
    return SigmoidSurrogate.apply(x, slope)


class SigmoidSpike:
    """A picklable callable ``x -> spike_fn(x, slope)``, usable as snnTorch's ``spike_grad``."""

    def __init__(self, slope: float = 5.0) -> None:
        self.slope = float(slope)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return SigmoidSurrogate.apply(x, self.slope)

    def __repr__(self) -> str:
        return f"SigmoidSpike(slope={self.slope})"
