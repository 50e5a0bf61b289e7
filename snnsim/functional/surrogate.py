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

#: :func:`sigmoid` pads its input to a multiple of this many elements (torch computes two vectors at
#: a time: 32 float32 values with AVX-512).
_SIGMOID_BLOCK = 64


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``torch.sigmoid(x)`` with every element computed the same way whatever the size of ``x``.

    On the CPU, ``torch.sigmoid`` computes the elements of a contiguous tensor in vector blocks
    and the leftover ones (fewer than two vectors) one by one with another formula, which can
    differ in the last bit: the same value then gets another sigmoid depending on where it falls
    in the tensor, and so a model's surrogate gradients would depend on how many models or samples
    are batched with it. Padded with zeros to a multiple of :data:`_SIGMOID_BLOCK` elements, every
    element goes through the vector blocks (torch on one thread, as during a run: :mod:`snnsim.threads`)."""
    if x.device.type != "cpu":
        return torch.sigmoid(x)
    flat = x.reshape(-1)
    n = flat.numel()
    padded = flat.new_zeros(-(-n // _SIGMOID_BLOCK) * _SIGMOID_BLOCK)
    padded[:n] = flat
    return torch.sigmoid(padded)[:n].view(x.shape)


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
        sig = sigmoid(ctx.slope * x)
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
