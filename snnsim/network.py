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
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import nn

from .backends import Backend
from .functional.cell import ALPHA_MAX, CellOptions, per_model, per_model_product
from .functional.delay import delay
from .functional.lif import LIFParameters
from .readouts import Readout

if TYPE_CHECKING:
    from .config import RunConfig


@dataclass(frozen=True)
class Architecture:
    """The hidden layers of a decoder (the model space, :mod:`snnsim.functional.cell`).

    ``hidden``: neurons per hidden layer; ``cell``: synaptic current and adaptive threshold;
    ``recurrent``: all-to-all recurrent weights in every hidden layer; ``learn_tau``: a trained
    membrane decay per hidden neuron; ``delays``: ``none``, ``fixed`` (drawn once) or ``learned``
    axonal delays of the input channels (:mod:`snnsim.functional.delay`) of at most
    ``max_delay`` steps. The default, one LIF layer, is the notebook's network."""

    hidden: tuple[int, ...]
    cell: CellOptions = CellOptions()
    recurrent: bool = False
    learn_tau: bool = False
    delays: str = "none"
    max_delay: int = 0

    @property
    def general(self) -> bool:
        """Whether any model-space option is on (the network then runs :meth:`Decoder._forward_general`)."""
        return self != Architecture(self.hidden[:1])

    @classmethod
    def from_config(cls, cfg: RunConfig) -> Architecture:
        def decay(tau: float) -> float:
            return math.exp(-cfg.dt / tau) if tau else 0.0

        cell = CellOptions(decay(cfg.tau_syn), decay(cfg.tau_adapt), cfg.adapt_jump if cfg.tau_adapt else 0.0)
        return cls(cfg.hidden_sizes, cell, cfg.recurrent, cfg.learn_tau, cfg.delays,
                   int(round(cfg.max_delay / cfg.dt)) if cfg.delays != "none" else 0)  # fmt: skip


class PartOutput(NamedTuple):
    """Records of the models of one :class:`Part` (M_part models); the compiled network keeps
    only the trace and the hidden spike counts (the records are then None)."""

    hidden_spikes: torch.Tensor | None  # (M_part, B, T, hidden)
    out_spikes: torch.Tensor | None  # (M_part, B, T, out) for a spiking output layer
    out_membrane: torch.Tensor | None  # (M_part, B, T, out)
    trace: torch.Tensor  # (M_part, B, T, out): the output trace the part's readout reads
    hidden_count: torch.Tensor | None = None  # (M_part,) hidden spikes, where the records are not kept
    # several hidden layers: hidden_spikes holds them all side by side, (M_part, B, T, sum of sizes)

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


def unit_dim(k: int) -> str:
    """The result-file dimension of hidden layer ``k``'s neurons."""
    return "hidden_unit" if k == 0 else f"hidden_unit_{k}"


#: Units of the trained tensors that hold a physical quantity (the weights and decays have none):
#: the input delays are counted in network steps (IPD: of dt; BMI: of one 50 ms bin), as the network uses them.
WEIGHT_UNITS = {"input_delay": "steps"}


def weight_dims(arch: Architecture) -> dict[str, tuple[str, ...]]:
    """The trained tensors of a decoder in a result file: name -> dims after ``repeat``
    (``w1``, ``w2`` and, beyond the default network, the model-space parameters)."""
    last = len(arch.hidden) - 1
    dims = {"w1": ("input_unit", unit_dim(0)), "w2": (unit_dim(last), "output_unit")}
    for k in range(last):
        dims[f"w_hidden{k + 1}"] = (unit_dim(k), unit_dim(k + 1))
    for k in range(len(arch.hidden) if arch.recurrent else 0):
        dims[f"w_recurrent{k}"] = (unit_dim(k), unit_dim(k) + "_post")
    for k in range(len(arch.hidden) if arch.learn_tau else 0):
        dims[f"alpha_hidden{k}"] = (unit_dim(k),)
    if arch.delays != "none":
        dims["input_delay"] = ("input_unit",)
    return dims


def _named_tensors(model: Decoder) -> dict[str, torch.Tensor]:
    """The decoder's trained tensors (all M models) by their :func:`weight_dims` names."""
    t = {"w1": model.w1, "w2": model.w2}
    t.update({f"w_hidden{k + 1}": w for k, w in enumerate(model.hidden_weights)})
    t.update({f"w_recurrent{k}": w for k, w in enumerate(model.recurrent_weights)})
    t.update({f"alpha_hidden{k}": a for k, a in enumerate(model.decays)})
    if model.delays is not None:
        t["input_delay"] = model.delays
    return t


def weight_values(model: Decoder, m: int) -> dict[str, np.ndarray]:
    """Model ``m``'s trained tensors by their :func:`weight_dims` names (float32 arrays;
    ``input_delay`` in steps, ``alpha_hidden{k}`` the membrane decays per step, both as used)."""
    out = {}
    for name, t in _named_tensors(model).items():
        v = t[m]
        if name.startswith("alpha_hidden"):
            v = v[0].clamp(0, ALPHA_MAX)
        elif name == "input_delay":
            v = v.clamp(0, model.arch.max_delay)
        out[name] = v.detach().cpu().numpy()
    return out


@torch.no_grad()
def load_weights(model: Decoder, values: dict[str, torch.Tensor]) -> None:
    """Copy stored tensors (:func:`weight_dims` names, each (M, ...)) into ``model``; the inverse
    of :func:`weight_values` (stored decays and delays are the clamped ones: the same network)."""
    for name, target in _named_tensors(model).items():
        target.copy_(values[name].reshape(target.shape))


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
    (a batched product may round differently for M = 1), on aligned copies of the operands
    (:func:`~snnsim.functional.cell.per_model_product`)."""
    return per_model_product(x, w)


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

    ``arch``: the hidden layers (:class:`Architecture`; default one LIF layer of ``n_hidden``).
    Beyond the default, the network has ``hidden_weights`` (between hidden layers),
    ``recurrent_weights``, ``decays`` (learned membrane decays, (M, 1, n)) and ``delays``
    ((M, in), steps), each drawn after w1 and w2 from the model's generator, and it runs on the
    library backends' :meth:`cell` (:mod:`snnsim.functional.cell`).
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
        arch: Architecture | None = None,
    ) -> None:
        super().__init__()
        self.arch = arch or Architecture((n_hidden,))
        if self.arch.hidden[0] != n_hidden:
            raise ValueError(f"n_hidden {n_hidden} but the architecture's first layer has {self.arch.hidden[0]}")
        m = len(generators)
        readouts = [readout] * m if isinstance(readout, Readout) else list(readout)
        per_model = [params] * m if isinstance(params, LIFParameters) else list(params)
        if len(readouts) != m or len(per_model) != m:
            raise ValueError(f"{m} models but {len(readouts)} readouts and {len(per_model)} parameter sets")
        self.backend = backend
        self.parts = _parts(readouts, per_model)
        self.w1 = nn.Parameter(torch.stack([init_weight((n_in, n_hidden), init, g) for g in generators]))
        last = self.arch.hidden[-1]
        self.w2 = nn.Parameter(torch.stack([init_weight((last, n_out), init, g) for g in generators]))
        self._init_model_space(n_in, per_model, init, generators)

    def _init_model_space(self, n_in: int, per_model: Sequence[LIFParameters], init: str,
                          generators: Sequence[torch.Generator]) -> None:  # fmt: skip
        """The parameters of the model-space options, drawn after w1 and w2."""
        arch, sizes = self.arch, self.arch.hidden
        self.hidden_weights = nn.ParameterList(
            nn.Parameter(torch.stack([init_weight((a, b), init, g) for g in generators]))
            for a, b in zip(sizes[:-1], sizes[1:])
        )  # fmt: skip
        self.recurrent_weights = nn.ParameterList(
            nn.Parameter(torch.stack([init_weight((n, n), init, g) for g in generators]))
            for n in (sizes if arch.recurrent else ())
        )  # fmt: skip
        self.decays = nn.ParameterList(
            nn.Parameter(torch.tensor([[[p.alpha] * n] for p in per_model]))
            for n in (sizes if arch.learn_tau else ())
        )  # fmt: skip
        if arch.delays == "none":
            self.delays = None
            return
        d = torch.stack([torch.rand(n_in, generator=g, dtype=torch.float64) * arch.max_delay for g in generators])
        if arch.delays == "learned":
            self.delays = nn.Parameter(d.float())
        else:
            self.register_buffer("delays", d.float())

    @property
    def n_models(self) -> int:
        return self.w1.shape[0]

    def part_of(self, m: int) -> Part:
        """The part (:attr:`parts`: readout and LIF parameters) that holds model ``m``."""
        return next(p for p in self.parts if p.models.start <= m < p.models.stop)

    @property
    def readout(self) -> Readout:
        """The readout of every model (an error where models differ: see :attr:`parts`)."""
        if len({p.readout for p in self.parts}) != 1:
            raise ValueError("the models of this Decoder differ by readout; see Decoder.parts")
        return self.parts[0].readout

    def forward(self, x: torch.Tensor) -> NetworkOutput:
        """``x``: (M, B, T, in) input spikes -> records of both layers."""
        if self.delays is not None:
            x = delay(x, self.delays, self.arch.max_delay)
        # all steps in one product, model by model: a model's slice of one batched product rounds
        # otherwise for some sizes (7 hidden neurons and 23 steps)
        return self.forward_currents(per_model(lambda xm, w: torch.matmul(xm, w.unsqueeze(1)), x, self.w1))

    def forward_held(self, x: torch.Tensor, steps: int) -> NetworkOutput:
        """``x``: (M, B, 1, in) input currents held for ``steps`` steps -> records of both layers
        (the input product once, not once per step; no input delays)."""
        if self.delays is not None:
            raise ValueError("a held input has no delays to apply")
        h1 = per_model_matmul(x.flatten(1, 2), self.w1).unsqueeze(2)  # (M, B, 1, hidden)
        return self.forward_currents(h1.expand(*h1.shape[:-2], steps, h1.shape[-1]))

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
        if self.arch.general:  # the model-space layers step sample-major currents
            return self._forward_general(h1.transpose(1, 2) if time_major else h1, w2, part)
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

    def _forward_general(self, h: torch.Tensor, w2: torch.Tensor, part: Part) -> PartOutput:
        """A part through the model-space hidden layers (sample-major currents (M_part, B, T, n))."""
        m, arch = part.models, self.arch
        layers = []
        for k in range(len(arch.hidden)):
            if k:
                h = per_model_matmul(layers[-1].flatten(1, 2), self.hidden_weights[k - 1][m]).view(
                    h.shape[:-1] + (arch.hidden[k],)
                )  # fmt: skip
            alpha = self.decays[k][m].clamp(0, ALPHA_MAX) if arch.learn_tau else None
            recurrent = self.recurrent_weights[k][m] if arch.recurrent else None
            s, _ = self.backend.cell(h, part.params, arch.cell, alpha, recurrent)
            layers.append(s)
        n_out = w2.shape[2]
        h2 = per_model_matmul(layers[-1].flatten(1, 2), w2).view(h.shape[:-1] + (n_out,))
        if part.readout.spiking_output:
            s2, v2 = self.backend.lif(h2, part.params)
        else:
            s2, v2 = None, self.backend.li(h2, part.params)
        hidden = layers[0] if len(layers) == 1 else torch.cat(layers, -1)
        return PartOutput(hidden, s2, v2, part.readout.trace(s2, v2))

    def connections(self) -> list[tuple[str, str, torch.Tensor]]:
        """(source, target, weights (M, n_source, n_target)) of every weight matrix: sources and
        targets are ``input``, ``hidden{k}`` and ``output``."""
        names = [f"hidden{k}" for k in range(len(self.arch.hidden))]
        out = [("input", names[0], self.w1)]
        for k, w in enumerate(self.hidden_weights):
            out.append((names[k], names[k + 1], w))
        for k, w in enumerate(self.recurrent_weights):
            out.append((names[k], names[k], w))
        return out + [(names[-1], "output", self.w2)]

    def read(self, out: NetworkOutput, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """(M, B, out): each model's readout of its trace, or ``reduce`` over time of the traces.
        Reduced part by part, on the records as computed: the numbers of a model do not depend on
        the other parts."""
        scores = [(reduce or part.readout.reduce)(o.trace) for part, o in zip(self.parts, out.parts)]
        return scores[0] if len(scores) == 1 else torch.cat(scores)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.read(self(x))
