"""The decoder network: input -> hidden LIF layer -> output layer, weights without biases.

Weights are ``(in, out)`` matrices as in the notebook, with a leading *model* dimension M so
that M independent networks (repeats, and settings that differ by readout or tau) train as one
batched model: ``w1`` is (M, in, hidden) and inputs are (M, B, T, in). Each model's slice is
initialised from its own generator and every per-model computation is independent of the other
models, so a batched model equals its models trained one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .backends import Backend
from .functional.lif import LIFParameters
from .readouts import Readout


class PartOutput(NamedTuple):
    """Records of the models of one :class:`Part` (M_part models); the compiled network keeps
    only the trace and the hidden spike counts (the records are then None)."""

    hidden_spikes: torch.Tensor | None  # (M_part, B, T, hidden)
    out_spikes: torch.Tensor | None  # (M_part, B, T, out) for a spiking output layer
    out_membrane: torch.Tensor | None  # (M_part, B, T, out)
    trace: torch.Tensor  # (M_part, B, T, out): the output trace the part's readout reads
    hidden_count: torch.Tensor | None = None  # (M_part,) hidden spikes, where the records are not kept

    def hidden_spike_count(self) -> torch.Tensor:
        """Hidden spikes per model (M_part,), float64."""
        if self.hidden_count is not None:
            return self.hidden_count.double()
        return self.hidden_spikes.detach().double().sum(tuple(range(1, self.hidden_spikes.dim())))


@dataclass(frozen=True)
class NetworkOutput:
    """Records of all M models: per part as computed, and joined over the model dimension on
    access (``hidden_spikes`` etc., (M, B, T, ...); ``out_spikes`` is None unless every model's
    output layer spikes)."""

    parts: tuple[PartOutput, ...]

    def _join(self, field: str) -> torch.Tensor | None:
        xs = [getattr(p, field) for p in self.parts]
        if len(xs) == 1:
            return xs[0]
        return None if any(x is None for x in xs) else torch.cat(xs)

    def hidden_spike_count(self) -> torch.Tensor:
        """Hidden spikes per model (M,), float64."""
        return torch.cat([p.hidden_spike_count() for p in self.parts])

    hidden_spikes = property(lambda self: self._join("hidden_spikes"))
    out_spikes = property(lambda self: self._join("out_spikes"))
    out_membrane = property(lambda self: self._join("out_membrane"))
    trace = property(lambda self: self._join("trace"))


class Part(NamedTuple):
    """Models ``models`` (a slice of the model dimension) share a readout and LIF parameters."""

    models: slice
    readout: Readout
    params: LIFParameters


def _parts(readouts: Sequence[Readout], params: Sequence[LIFParameters]) -> tuple[Part, ...]:
    """Contiguous runs of models with the same readout and parameters."""
    parts: list[Part] = []
    for m, (readout, p) in enumerate(zip(readouts, params)):
        if parts and parts[-1].readout == readout and parts[-1].params == p:
            parts[-1] = parts[-1]._replace(models=slice(parts[-1].models.start, m + 1))
        else:
            parts.append(Part(slice(m, m + 1), readout, p))
    return tuple(parts)


class _Layout:
    """How a part's currents are laid out for the backend's layers.

    Sample-major: currents (M, B, T, N) go to the layers as they are. Time-major: currents are
    (M, T, B, N) and each layer sees one row per model, (M, T, B*N), whose steps hold all
    samples' neurons side by side; records come back as (M, B, T, N) views."""

    def __init__(self, h1: torch.Tensor, time_major: bool) -> None:
        self.time_major = time_major
        self.models = h1.shape[0]
        self.steps, self.batch = (h1.shape[1], h1.shape[2]) if time_major else (h1.shape[2], h1.shape[1])

    def rows(self, h: torch.Tensor) -> torch.Tensor:
        """The layer input of currents ``h``."""
        return h.reshape(self.models, self.steps, -1) if self.time_major else h

    def record(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """A layer's record ``x`` of ``n`` neurons as (M, B, T, n)."""
        return x.view(self.models, self.steps, self.batch, n).transpose(1, 2) if self.time_major else x


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


def hidden_product(s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Hidden spikes (M, R, hidden) times output weights (M, hidden, out): on the CPU as sums of
    weight rows (compiled, :func:`~snnsim.backends.fused_network.spike_product`), elsewhere as
    :func:`per_model_matmul`."""
    from .backends import fused_network

    if fused_network.supported(w):
        return fused_network.spike_product(s, w)
    return per_model_matmul(s, w)


class Decoder(nn.Module):
    """M independent two-layer spiking networks sharing one backend.

    ``readout`` and ``params`` are one for all models, or one per model: models that differ by
    readout or time constant then still train as one batched model (one set of weight tensors,
    one optimiser), each contiguous run of models with the same readout and parameters going
    through the backend's neurons as one call (:attr:`parts`).
    """

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        n_out: int,
        backend: Backend,
        readout: Readout | Sequence[Readout],
        params: LIFParameters | Sequence[LIFParameters],
        init: str,
        generators: Sequence[torch.Generator],
    ) -> None:
        super().__init__()
        m = len(generators)
        readouts = [readout] * m if isinstance(readout, Readout) else list(readout)
        per_model = [params] * m if isinstance(params, LIFParameters) else list(params)
        if len(readouts) != m or len(per_model) != m:
            raise ValueError(f"{m} models but {len(readouts)} readouts and {len(per_model)} parameter sets")
        self.backend = backend
        self.parts = _parts(readouts, per_model)
        self.w1 = nn.Parameter(torch.stack([init_weight((n_in, n_hidden), init, g) for g in generators]))
        self.w2 = nn.Parameter(torch.stack([init_weight((n_hidden, n_out), init, g) for g in generators]))

    @property
    def n_models(self) -> int:
        return self.w1.shape[0]

    @property
    def readout(self) -> Readout:
        """The readout of every model (an error where models differ: see :attr:`parts`)."""
        if len({p.readout for p in self.parts}) != 1:
            raise ValueError("the models of this Decoder differ by readout; see Decoder.parts")
        return self.parts[0].readout

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
        if len(self.parts) == 1:
            return NetworkOutput((self._forward_part(h1, self.w2, self.parts[0], time_major),))
        sizes = [p.models.stop - p.models.start for p in self.parts]
        return NetworkOutput(
            tuple(
                self._forward_part(h, w, part, time_major)
                for h, w, part in zip(h1.split(sizes), self.w2.split(sizes), self.parts)
            )
        )

    def _forward_part(self, h1: torch.Tensor, w2: torch.Tensor, part: Part, time_major: bool) -> PartOutput:
        layout = _Layout(h1, time_major)
        n_hidden, n_out = w2.shape[1], w2.shape[2]
        s1, _ = self.backend.lif(layout.rows(h1), part.params)
        # all samples and steps of a model in one product, model by model
        h2 = hidden_product(s1.reshape(layout.models, -1, n_hidden), w2).view(h1.shape[:-1] + (n_out,))
        if part.readout.spiking_output:
            s2, v2 = self.backend.lif(layout.rows(h2), part.params)
            s2 = layout.record(s2, n_out)
        else:
            s2, v2 = None, self.backend.li(layout.rows(h2), part.params)
        v2 = layout.record(v2, n_out)
        return PartOutput(layout.record(s1, n_hidden), s2, v2, part.readout.trace(s2, v2))

    def read(self, out: NetworkOutput, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """(M, B, out): each model's readout of its trace, or ``reduce`` over time of the traces.
        Reduced part by part, on the records as computed: the numbers of a model do not depend on
        the other parts."""
        scores = [(reduce or part.readout.reduce)(o.trace) for part, o in zip(self.parts, out.parts)]
        return scores[0] if len(scores) == 1 else torch.cat(scores)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.read(self(x))
