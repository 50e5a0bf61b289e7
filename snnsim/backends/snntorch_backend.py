"""snnTorch backend: ``snntorch.Leaky`` neurons driven with the notebook's step order.

How the notebook's LIF maps onto ``snn.Leaky`` (snnTorch 1.0.0):

- Leaky's update ``mem = beta*mem + x`` with ``reset_mechanism="none"`` is exactly the
  notebook's integration ``alpha*v + h`` (beta = alpha = exp(-dt/tau)); the output layer is
  this alone.
- Leaky's own resets differ from the notebook's and cannot be configured to match it: Leaky
  fires from the *updated* membrane and its ``"zero"`` reset zeroes only the previous membrane
  (the current input survives) with a *detached* reset signal; the notebook fires from the
  membrane *before* the update (seed quirk 3) and multiplies the whole updated membrane by
  (1 - s), letting gradients flow through s. So the adapter uses ``reset_mechanism="none"``,
  takes spikes from ``Leaky.fire`` on the pre-update membrane, and applies the notebook's
  multiplicative reset itself. Each step calls the neuron's state function (its integration)
  and ``fire`` rather than ``Leaky.forward``, whose spike and reset outputs the adapter would
  throw away: the time loop's overhead is a sixth of ``Leaky.forward``'s.
- The surrogate is passed as ``spike_grad``: :class:`snnsim.functional.SigmoidSpike` (slope 5),
  not snnTorch's own sigmoid surrogate, which returns NaN gradients for large negative inputs
  in 1.0.0 (snntorch issue #427).
- The model-space layer (:meth:`SnnTorchBackend.cell`, :mod:`snnsim.functional.cell`) runs
  ``Leaky``, ``Synaptic`` (synaptic current), ``RLeaky`` or ``RSynaptic`` (recurrent) the same
  way: their state function with ``reset_mechanism="none"``, ``fire`` on the updated membrane
  and the reset to zero applied by the adapter. Per-neuron (learned) decays are given to the
  neuron as its ``beta`` tensor; the recurrent connection is the neuron's own ``recurrent``
  slot, filled with the M models' weights (one product per model). snnTorch has no adaptive
  threshold: the config refuses one on this backend.
- Membranes are passed in explicitly (``init_hidden=False``), so Leaky's silent zeroing of a
  mis-shaped hidden state never comes into play, and each neuron is removed
  from snnTorch's class-level ``instances`` list so that sweeps do not accumulate them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..functional.cell import CellOptions, per_model_product
from ..functional.lif import LIFParameters
from ..functional.surrogate import SigmoidSpike

if TYPE_CHECKING:
    from snntorch import Leaky


class Step:
    """A Heaviside step without gradient, for the spikes that ``Leaky.forward`` computes and the
    adapter does not use (its reset signal and the spike of the updated membrane): they cost two
    autograd functions per step with the surrogate, nothing with this."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype)


def _integrate(leaky: Leaky, h_t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """One step of the neuron's own state function, ``beta.clamp(0, 1) * mem + input`` (what
    ``Leaky.forward`` computes with ``reset_mechanism="none"``), without the spikes and resets
    that ``Leaky.forward`` adds and the adapter does not use: 44 against 275 us per call here."""
    leaky.mem = v
    return leaky.state_function(h_t)


class PerModelRecurrent(nn.Module):
    """The recurrent slot of ``RLeaky``/``RSynaptic`` for M models: spikes (M, B, N) times each
    model's weights ``weight`` (M, N, N), set before each run."""

    def __init__(self) -> None:
        super().__init__()
        self.weight: torch.Tensor | None = None

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return per_model_product(s, self.weight)


class SnnTorchBackend:
    name = "snntorch"

    def __init__(self) -> None:
        import snntorch

        self._snn = snntorch
        self._neurons: dict[tuple, object] = {}

    def _leaky(self, p: LIFParameters, like: torch.Tensor, spiking: bool) -> Leaky:
        """``spiking``: a neuron whose ``fire`` has the notebook's surrogate gradient; otherwise one
        used for its integration ``alpha*v + h`` only."""
        key = (p, like.device, like.dtype, spiking)
        neuron = self._neurons.get(key)
        if neuron is None:
            neuron = self._snn.Leaky(
                beta=torch.tensor(p.alpha, dtype=like.dtype),  # of the layer's dtype: no conversion per step
                threshold=torch.tensor(p.v_th, dtype=like.dtype),  # a float would be stored in float32
                spike_grad=SigmoidSpike(p.slope) if spiking else Step(),
                reset_mechanism="none",
                init_hidden=False,
            ).to(device=like.device)
            instances = self._snn.SpikingNeuron.instances
            if neuron in instances:
                instances.remove(neuron)
            self._neurons[key] = neuron
        return neuron

    def lif(self, h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
        leaky, firing = self._leaky(p, h, False), self._leaky(p, h, True)
        v = s = torch.zeros_like(h[..., 0, :])
        one = torch.ones((), dtype=h.dtype, device=h.device)  # a Python 1 would be converted every step
        spikes, membrane = [], []
        if p.neuron == "standard":  # spike from the updated membrane, reset to 0 in the same step
            for h_t in h.unbind(-2):
                integrated = _integrate(leaky, h_t, v)
                s = firing.fire(integrated)
                v = integrated * (one - s)
                spikes.append(s)
                membrane.append(v)
            return torch.stack(spikes, -2), torch.stack(membrane, -2)
        spikes, membrane = [s], [v]
        for h_t in h.unbind(-2)[:-1]:
            integrated = _integrate(leaky, h_t, v)  # alpha*v + h_t
            s_next = firing.fire(v)  # spike from the membrane before the update
            v = integrated * (one - s)  # the notebook's multiplicative reset
            s = s_next
            spikes.append(s)
            membrane.append(v)
        return torch.stack(spikes, -2), torch.stack(membrane, -2)

    def li(self, h: torch.Tensor, p: LIFParameters) -> torch.Tensor:
        leaky = self._leaky(p, h, False)
        v = torch.zeros_like(h[..., 0, :])
        if p.neuron == "standard":
            membrane = []
            for h_t in h.unbind(-2):
                v = _integrate(leaky, h_t, v)
                membrane.append(v)
            return torch.stack(membrane, -2)
        membrane = [v]
        for h_t in h.unbind(-2)[:-1]:
            v = _integrate(leaky, h_t, v)
            membrane.append(v)
        return torch.stack(membrane, -2)

    def _cell_neuron(self, opts: CellOptions, recurrent: bool, n: int, like: torch.Tensor) -> nn.Module:
        """The snnTorch neuron of a model-space layer of ``n`` neurons, integration only."""
        key = ("cell", opts, recurrent, n, like.device)
        neuron = self._neurons.get(key)
        if neuron is None:
            kw = {"reset_mechanism": "none", "init_hidden": False, "spike_grad": Step()}
            if recurrent:
                kw.update(all_to_all=True, linear_features=n)
            syn = torch.tensor(opts.syn_decay, dtype=torch.float64)
            if opts.syn_decay:
                cls = self._snn.RSynaptic if recurrent else self._snn.Synaptic
                neuron = cls(alpha=syn, beta=0.5, **kw)
            else:
                neuron = (self._snn.RLeaky if recurrent else self._snn.Leaky)(beta=0.5, **kw)
            if recurrent:
                neuron.recurrent = PerModelRecurrent()
            instances = self._snn.SpikingNeuron.instances
            if neuron in instances:
                instances.remove(neuron)
            self._neurons[key] = neuron.to(device=like.device)
            neuron = self._neurons[key]
        return neuron

    def cell(
        self,
        h: torch.Tensor,
        p: LIFParameters,
        opts: CellOptions,
        alpha: torch.Tensor | None = None,
        recurrent: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model-space layer (:func:`snnsim.functional.cell.cell_sequence`) over currents
        ``h`` (M, B, T, N) through ``Leaky``/``Synaptic``/``RLeaky``/``RSynaptic``."""
        if opts.adaptive:
            raise ValueError("snnTorch has no adaptive-threshold neuron; use the norse backend (LSNN) or fused")
        neuron = self._cell_neuron(opts, recurrent is not None, h.shape[-1], h)
        firing = self._leaky(p, h, True)
        neuron.beta = torch.as_tensor(p.alpha if alpha is None else alpha, dtype=h.dtype, device=h.device)
        if recurrent is not None:
            neuron.recurrent.weight = recurrent
        v = s = c = torch.zeros_like(h[..., 0, :])
        spikes, membrane = [], []
        for h_t in h.unbind(-2):
            neuron.mem = v
            if recurrent is not None:
                neuron.spk = s
            if opts.syn_decay:
                neuron.syn = c
                c, u = neuron.state_function(h_t)
            else:
                u = neuron.state_function(h_t)
            s = firing.fire(u)
            v = u * (1 - s)
            spikes.append(s)
            membrane.append(v)
        if recurrent is not None:
            neuron.recurrent.weight = None  # no reference to this run's graph
        return torch.stack(spikes, -2), torch.stack(membrane, -2)
