"""Readouts: how the output layer's activity over time becomes one number per output unit.

``READOUTS`` maps a name to a :class:`Readout`; adding a readout is one entry here (and nothing
else: the config takes its names from this registry). Each readout says whether the output
layer spikes, which output trace it reads (membrane or spikes), and how it reduces that trace
over time (dimension -2). ``READOUT_ALIASES`` maps other names of a readout to its name.

- ``mean`` (the notebook's "oc"): mean over time of the output membrane.
- ``max``: max over time of the output membrane (max-over-time).
- ``fr``: the output layer spikes; mean spike count per step (firing rate per step, in [0, 1]).
- ``last``: the output membrane at the last step. For inputs whose most recent steps matter
  most (the BMI bins: bin 19 is the 50 ms just before the prediction), a leaky integrator read
  at the end weights step k by alpha**(T-1-k), recent steps most; ``mean`` does the opposite
  (an early input contributes to more of the averaged steps).
- ``weighted`` (BMI): a learned weighting over time steps of the output membrane, one weight
  per step and output unit, starting as ``mean``; the weights belong to the model
  (:class:`snnsim.studies.bmi.SNNRegressor`), so ``reduce`` here is the starting ``mean``.

The reductions are tensor methods, so importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Readout:
    name: str
    spiking_output: bool
    reduce: Callable[[torch.Tensor], torch.Tensor]
    description: str

    def trace(self, out_spikes: torch.Tensor | None, out_membrane: torch.Tensor) -> torch.Tensor:
        """The output trace this readout reads, (..., T, N)."""
        return out_spikes if self.spiking_output else out_membrane

    def __call__(self, out_spikes: torch.Tensor | None, out_membrane: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.trace(out_spikes, out_membrane))


def _mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(-2)


def _max(x: torch.Tensor) -> torch.Tensor:
    return x.max(-2).values


def _last(x: torch.Tensor) -> torch.Tensor:
    return x[..., -1, :]


def sum_over_time(x: torch.Tensor) -> torch.Tensor:
    """The notebook's evaluation (seed quirk 4): sum over time of the output trace."""
    return x.sum(-2)


READOUTS: dict[str, Readout] = {
    "mean": Readout("mean", False, _mean, "mean over time of the output membrane (the notebook's 'oc')"),
    "max": Readout("max", False, _max, "max over time of the output membrane"),
    "fr": Readout("fr", True, _mean, "spiking output layer, mean spike count per step"),
    "last": Readout("last", False, _last, "output membrane at the last step"),
    "weighted": Readout("weighted", False, _mean, "learned weighting over time steps of the output membrane (BMI)"),
}
#: Readouts with learned parameters of their own, and the studies whose models carry them.
LEARNED_READOUTS = {"weighted": ("bmi",)}
READOUT_ALIASES = {"oc": "mean"}


def get_readout(name: str) -> Readout:
    """The readout called ``name`` (or one of its aliases)."""
    name = READOUT_ALIASES.get(name, name)
    try:
        return READOUTS[name]
    except KeyError:
        raise KeyError(f"unknown readout {name!r}; accepted: {', '.join(READOUTS)}") from None
