"""Cost of a trained decoder next to its accuracy, as NeuroBench defines the metrics.

Computed from a model's weights and its records on the test set (per sample, averaged over the
test samples), for the decoder network input -> hidden LIF -> output (LI or LIF):

- ``n_params``: weights (and biases) of the model; ``footprint_bytes``: their bytes (float32)
  and those of the network's buffers, as NeuroBench's ``Footprint`` counts them: fixed input
  delays (``--delays fixed``, one per input channel) are a buffer, not a parameter, that the
  network needs to run. (NeuroBench also counts 20 bytes per snnTorch ``Leaky``; snnsim's
  neurons have no buffers.)
- ``connection_sparsity``: the fraction of weights that are zero.
- ``activation_sparsity``: 1 - spikes / (neurons x steps) over the hidden and output neurons
  (an LI output layer never spikes), as NeuroBench's ``ActivationSparsity`` counts them.
- ``synops_dense``: multiply-accumulates of the dense layers per sample, every weight at every
  integrated step: (T - 1) x (inputs x hidden + hidden x outputs) for the notebook neuron.
- ``synops_eff_macs`` / ``synops_eff_acs``: the effective synaptic operations per sample, each
  non-zero input times the number of non-zero weights it reaches; an input that is a spike
  (0 or 1) costs an accumulate (AC), any other value a multiply-accumulate (MAC), as in
  NeuroBench's ``SynapticOperations``.
- ``hidden_rate_hz``: the hidden neurons' mean firing rate, spikes / (neuron x duration).

A low-rank input layer (BMI ``--input-rank R``) counts as the network runs it: its parameters
are the two factors, its synaptic operations those of their product, the inputs x hidden matrix
the decoder multiplies by (a network that applied the factors one after the other would do
inputs x R + R x hidden per step instead).

The steps counted are those the network integrates: the notebook neuron integrates T - 1 of its
T input steps (its records start with the zero state), the standard neuron all T; NeuroBench,
given those steps, counts the same (``tests/test_costs.py`` checks every metric against
NeuroBench on the snnTorch backend, for both neurons). A recurrent projection integrates the
previous step's spikes: its effective operations count the spikes of all but the last step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from .functional.delay import delay

if TYPE_CHECKING:
    from .network import Decoder

#: (name, units, long name) of every cost variable of a result file.
VARIABLES = (
    ("n_params", "1", "trainable parameters"),
    ("footprint_bytes", "B", "memory of the parameters and buffers (float32)"),
    ("connection_sparsity", "1", "fraction of weights that are zero"),
    ("activation_sparsity", "1", "1 - spikes per neuron and step (hidden and output neurons, test set)"),
    ("synops_dense", "1", "dense synaptic operations (MACs) per sample"),
    ("synops_eff_macs", "1", "effective synaptic multiply-accumulates per sample (non-spike inputs)"),
    ("synops_eff_acs", "1", "effective synaptic accumulates per sample (spike inputs)"),
    ("hidden_rate_hz", "Hz", "mean firing rate of the hidden neurons (test set)"),
)


class Connection(NamedTuple):
    """One weight matrix of a network and the activity it carries."""

    activity: torch.Tensor  # presynaptic activity (N, T, n_pre): input values or spikes
    weights: torch.Tensor  # (n_pre, n_post)
    recurrent: bool = False  # a recurrent projection integrates the previous step's spikes


class Costs(NamedTuple):
    n_params: float
    footprint_bytes: float
    connection_sparsity: float
    activation_sparsity: float
    synops_dense: float
    synops_eff_macs: float
    synops_eff_acs: float
    hidden_rate_hz: float


def cost_variables(costs: Sequence[Costs]) -> dict:
    """The cost metrics of per-repeat records as result variables over ``repeat``."""
    return {name: ("repeat", np.array([getattr(c, name) for c in costs], dtype=float),
                   {"units": units, "long_name": long})
            for name, units, long in VARIABLES}  # fmt: skip


def _is_binary(x: torch.Tensor) -> bool:
    return x.dtype == torch.bool or bool(((x == 0) | (x == 1)).all())


def _effective(x: torch.Tensor, w: torch.Tensor) -> float:
    """Sum over samples and steps of (non-zero inputs x their non-zero fan-out): x (N, T, in), w (in, out).
    Counted per input (non-zero entries times fan-out), exact in float64."""
    fan = (w != 0).sum(1).to(torch.float64)
    active = (x if x.dtype == torch.bool else x != 0).reshape(-1, x.shape[-1])
    if active.shape[0] < 2**24:  # sums of 0/1 in float32 are exact below 2**24 (and much faster than bool's)
        counts = active.view(torch.uint8).sum(0, dtype=torch.float32).to(torch.float64)
    else:
        counts = active.sum(0).to(torch.float64)
    return float((counts * fan).sum())


def spiking(w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor, hidden_spikes: torch.Tensor,
            out_spikes: torch.Tensor | None, dt: float, extra_params: int = 0, neuron: str = "notebook") -> Costs:  # fmt: skip
    """Costs of one spiking decoder: weights ``w1`` (in, hidden), ``w2`` (hidden, out); its inputs
    ``x`` (N, T, in) (spikes or currents), hidden spikes (N, T, hidden) and output spikes (or
    None for an LI output) on N test samples; ``dt``: the step, s (``hidden_rate_hz`` is in Hz).
    ``extra_params``: further parameters (a BMI head); ``neuron``: ``notebook`` or ``standard``
    (which steps are integrated: module docstring)."""
    connections = [Connection(x, w1), Connection(hidden_spikes, w2)]
    return network(connections, [hidden_spikes], out_spikes, w2.shape[1], dt, extra_params, neuron)


def integrated_steps(steps: int, neuron: str) -> int:
    """The input steps a network of ``neuron`` integrates out of ``steps``."""
    return steps - 1 if neuron == "notebook" else steps


def network(connections: list[Connection], hidden: list[torch.Tensor], out_spikes: torch.Tensor | None, n_out: int,
            dt: float, extra_params: int = 0, neuron: str = "notebook", buffers: int = 0) -> Costs:  # fmt: skip
    """Costs of a spiking network of any shape: ``connections``, the first from the inputs, then
    every hidden-layer and recurrent projection; ``hidden``: each hidden layer's spikes (N, T, n);
    ``out_spikes`` (or None for an LI output layer) of ``n_out`` neurons; ``dt``: the step, s;
    ``extra_params``: parameters beyond the weights; ``neuron``: ``notebook`` or ``standard``; ``buffers``: values
    the network stores that are not parameters (in the footprint only)."""
    x = connections[0].activity
    n, steps = x.shape[0], x.shape[1]
    run = integrated_steps(steps, neuron)
    if run < 1:
        raise ValueError(f"a {neuron} network of {steps} step(s) integrates none of its inputs")
    used = slice(0, run)
    weights = [c.weights for c in connections]
    n_weights = sum(int(w.numel()) for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    xs = x[:, used]
    input_ops = _effective(xs, weights[0]) / n
    hidden_ops = sum(_effective(c.activity[:, : run - c.recurrent], c.weights) for c in connections[1:]) / n
    macs = 0.0 if _is_binary(xs) else input_ops
    acs = hidden_ops + (input_ops if _is_binary(xs) else 0.0)
    n_hidden = sum(s.shape[-1] for s in hidden)
    spikes = sum(float(s[:, used].sum()) for s in hidden)
    spikes += float(out_spikes[:, used].sum()) if out_spikes is not None else 0.0
    activation_sparsity = 1.0 - spikes / (n * run * (n_hidden + n_out))
    rate = sum(float(s.sum()) for s in hidden) / (n * n_hidden * steps * dt)
    n_params = n_weights + extra_params
    return Costs(float(n_params), float(4 * (n_params + buffers)), zeros / n_weights, activation_sparsity,
                 float(run * n_weights), macs, acs, rate)  # fmt: skip


def of_decoder(decoder: Decoder, m: int, x: torch.Tensor, hidden_spikes: torch.Tensor, out_spikes: torch.Tensor | None,
               dt: float, extra_params: int = 0) -> Costs:  # fmt: skip
    """Costs of model ``m`` of a :class:`~snnsim.network.Decoder` from its inputs ``x`` (N, T, in),
    hidden spikes (N, T, all hidden neurons), output spikes and the step ``dt`` (s); learned decays and delays
    count as parameters, fixed delays as a buffer (in the footprint). With input delays, the
    first layer's operations are those on the delayed input it integrates (a fractional delay
    spreads a spike over two steps as graded values: multiply-accumulates)."""
    if decoder.delays is not None:
        with torch.no_grad():
            x = delay(x[None].to(decoder.delays.dtype), decoder.delays[m : m + 1], decoder.arch.max_delay)[0]
    layers = dict(zip((f"hidden{k}" for k in range(len(decoder.arch.hidden))),
                      hidden_spikes.split(list(decoder.arch.hidden), -1)))  # fmt: skip
    activity = {"input": x, **layers}
    connections = [Connection(activity[source], w[m], source == target) for source, target, w in decoder.connections()]
    extra = extra_params + sum(int(d[m].numel()) for d in decoder.decays)
    delays = 0 if decoder.delays is None else int(decoder.delays[m].numel())
    learned = decoder.arch.delays == "learned"
    neuron = decoder.part_of(m).params.neuron
    return network(connections, list(layers.values()), out_spikes, decoder.w2.shape[2], dt,
                   extra + (delays if learned else 0), neuron, 0 if learned else delays)  # fmt: skip


def dense(weights: list[torch.Tensor], biases: list[torch.Tensor], x: torch.Tensor) -> Costs:
    """Costs of a non-spiking feed-forward network (ANN, linear decoder) on inputs ``x`` (N, in):
    one step; the first layer's effective operations from its non-zero inputs, the others dense."""
    n_weights = sum(int(w.numel()) for w in weights)
    n_params = n_weights + sum(int(b.numel()) for b in biases)
    zeros = sum(int((w == 0).sum()) for w in weights)
    first = _effective(x[:, None], weights[0]) / x.shape[0]
    rest = float(sum(int((w != 0).sum()) for w in weights[1:]))
    return Costs(float(n_params), float(4 * n_params), zeros / n_weights, np.nan, float(n_weights), first + rest,
                 0.0, np.nan)  # fmt: skip
