"""Axonal delays of the input channels, fixed or learned.

Channel i of the inputs reaches the network ``d_i`` steps late (``0 <= d_i <= D``); a fractional
delay interpolates linearly between the two whole-step delays around it, which makes the
delayed input differentiable in ``d_i`` (learned delays):

.. math::
    \\tilde x_{t,i} = \\sum_{k=0}^{D} \\max(0, 1 - |k - d_i|)\\, x_{t-k,i}, \\qquad x_{t<0} = 0

Computed as one causal depthwise convolution per model; ``tests/functional/test_cell.py``
checks it against this sum written as a loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def delay_kernel(d: torch.Tensor, max_steps: int) -> torch.Tensor:
    """Interpolation weights (..., D + 1) of delays ``d`` (...), in steps, clamped to [0, D]."""
    k = torch.arange(max_steps + 1, dtype=d.dtype, device=d.device)
    return (1 - (k - d.clamp(0, max_steps).unsqueeze(-1)).abs()).clamp_min(0)


def delay(x: torch.Tensor, d: torch.Tensor, max_steps: int) -> torch.Tensor:
    """Inputs ``x`` (M, B, T, C) with channel c of model m delayed by ``d[m, c]`` steps (M, C)."""
    kernel = delay_kernel(d, max_steps).flip(-1).unsqueeze(-2)  # (M, C, 1, D + 1): conv1d's correlation
    out = []
    for xm, km in zip(x.unbind(0), kernel.unbind(0)):
        padded = F.pad(xm.transpose(1, 2), (max_steps, 0))  # (B, C, D + T)
        out.append(F.conv1d(padded, km, groups=xm.shape[-1]).transpose(1, 2))
    return torch.stack(out)
