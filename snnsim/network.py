"""The decoder network: input -> hidden LIF layer -> output layer, weights without biases.

Weights are ``(in, out)`` matrices as in the notebook, with a leading *model* dimension M so
that M independent networks (repeats) train as one batched model: ``w1`` is (M, in, hidden)
and inputs are (M, B, T, in). Each model's slice is initialised from its own generator, so a
batched model equals its models trained one by one.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch import nn

from .backends import Backend
from .functional.lif import LIFParameters
from .readouts import Readout


class NetworkOutput(NamedTuple):
    hidden_spikes: torch.Tensor  # (M, B, T, hidden)
    out_spikes: torch.Tensor | None  # (M, B, T, out) for a spiking output layer
    out_membrane: torch.Tensor  # (M, B, T, out)


def init_weight(shape: tuple[int, int], mode: str, generator: torch.Generator) -> torch.Tensor:
    """U(-b, b) weights drawn on the CPU (the same on every device).

    ``notebook``: b = 1/sqrt(shape[1]), what ``nn.init._calculate_fan_in_and_fan_out`` returns
    for an (in, out) matrix (seed quirk 2); ``fan-in``: b = 1/sqrt(shape[0]).
    """
    fan = shape[1] if mode == "notebook" else shape[0]
    bound = 1.0 / math.sqrt(fan)
    return torch.rand(shape, generator=generator, dtype=torch.float64).mul_(2 * bound).sub_(bound).float()


def per_model_matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(M, R, K) @ (M, K, N) as M separate products: the same call for every model whatever M is
    (a batched product may round differently for M = 1). ``unbind``, not indexing: its
    backward is one stack, not M zero-filled copies."""
    return torch.stack([a @ b for a, b in zip(x.unbind(0), w.unbind(0))])


class Decoder(nn.Module):
    """M independent two-layer spiking networks sharing one backend and readout."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, backend: Backend, readout: Readout,
                 params: LIFParameters, init: str, generators: Sequence[torch.Generator]):
        super().__init__()
        self.backend = backend
        self.readout = readout
        self.params = params
        self.w1 = nn.Parameter(torch.stack([init_weight((n_in, n_hidden), init, g) for g in generators]))
        self.w2 = nn.Parameter(torch.stack([init_weight((n_hidden, n_out), init, g) for g in generators]))

    @property
    def n_models(self) -> int:
        return self.w1.shape[0]

    def forward(self, x: torch.Tensor) -> NetworkOutput:
        """``x``: (M, B, T, in) input spikes -> records of both layers."""
        return self.forward_currents(torch.matmul(x, self.w1.unsqueeze(1)))  # all steps in one product

    def forward_currents(self, h1: torch.Tensor, time_major: bool = False) -> NetworkOutput:
        """The network from the hidden layer's input currents ``h1`` (M, B, T, hidden) on.

        ``time_major``: ``h1`` is (M, T, B, hidden) instead. Each layer then sees one row per
        model whose steps hold all samples' neurons side by side (M, T, B*neurons), which the
        fused backend's loops run over in long contiguous stretches; the records returned are
        (M, B, T, ...) views either way, and the numbers are the same.
        """
        m = h1.shape[0]
        if time_major:
            steps, b = h1.shape[1], h1.shape[2]
            layer = lambda fn, h: fn(h.reshape(m, steps, -1), self.params)  # noqa: E731
            record = lambda x, n: x.view(m, steps, b, n).transpose(1, 2)  # noqa: E731
        else:
            layer = lambda fn, h: fn(h, self.params)  # noqa: E731
            record = lambda x, n: x  # noqa: E731
        n_hidden, n_out = self.w2.shape[1], self.w2.shape[2]
        s1, _ = layer(self.backend.lif, h1)
        # all samples and steps of a model in one product, model by model
        h2 = per_model_matmul(s1.reshape(m, -1, n_hidden), self.w2).view(h1.shape[:-1] + (n_out,))
        if self.readout.spiking_output:
            s2, v2 = layer(self.backend.lif, h2)
            s2 = record(s2, n_out)
        else:
            s2, v2 = None, layer(self.backend.li, h2)
        return NetworkOutput(record(s1, n_hidden), s2, record(v2, n_out))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self(x)
        return self.readout(out.out_spikes, out.out_membrane)
