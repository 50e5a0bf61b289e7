"""The notebook's leaky integrate-and-fire (LIF) and leaky-integrator (LI) neurons as pure steps.

LIF step (decay :math:`\\alpha = e^{-\\Delta t/\\tau}` per step, threshold :math:`\\vartheta`):

.. math::
    v_{t+1} = (\\alpha v_t + h_t)(1 - s_t), \\qquad s_{t+1} = \\Theta(v_t - \\vartheta)

The spike recorded at step t+1 is taken from the membrane *before* the step-t update (seed
quirk 3), and the reset multiplies the whole updated membrane by (1 - s). The multiplicative
reset is differentiable: gradients flow through the spikes of the reset term.

LI step (output layer without spikes; no (1 - alpha) input factor):

.. math::
    v_{t+1} = \\alpha v_t + h_t

Records start with the zero state and hold T values for T input steps (the last input step is
never integrated, as in the notebook). Time is the second-to-last dimension of every tensor:
``(..., T, N)``.

The **standard** neuron (``neuron="standard"``, what NIR's LIF and most libraries mean) fires
from the updated membrane and resets it to zero in the same step; its records hold the state
after each of the T inputs:

.. math::
    u_t = \\alpha v_{t-1} + h_t, \\qquad s_t = \\Theta(u_t - \\vartheta), \\qquad v_t = u_t (1 - s_t)

and its leaky integrator :math:`v_t = \\alpha v_{t-1} + h_t` (:math:`v_{-1} = 0`). The reset is
differentiable here too.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .surrogate import spike_fn


class LIFParameters(NamedTuple):
    """Parameters of one layer.

    Parameters:
        alpha (float): membrane decay per step, exp(-dt/tau), in (0, 1).
        v_th (float): spike threshold.
        slope (float): slope beta of the sigmoid surrogate gradient.
        neuron (str): ``notebook`` or ``standard`` (see the module docstring).
    """

    alpha: float
    v_th: float = 1.0
    slope: float = 5.0
    neuron: str = "notebook"


class LIFState(NamedTuple):
    """State of a LIF layer: membrane ``v`` and the last spike ``s`` (used by the reset)."""

    v: torch.Tensor
    s: torch.Tensor


def lif_step(h_t: torch.Tensor, state: LIFState, p: LIFParameters) -> tuple[torch.Tensor, LIFState]:
    """One LIF step: returns the recorded spike s_{t+1} and the new state."""
    v_new = (p.alpha * state.v + h_t) * (1 - state.s)
    s_new = spike_fn(state.v - p.v_th, p.slope)
    return s_new, LIFState(v_new, s_new)


def li_step(h_t: torch.Tensor, v: torch.Tensor, p: LIFParameters) -> torch.Tensor:
    """One leaky-integrator step: returns the new membrane."""
    return p.alpha * v + h_t


def lif_sequence(h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a LIF layer over input currents ``h`` (..., T, N); return (spikes, membrane) records."""
    if p.neuron == "standard":
        return standard_lif_sequence(h, p)
    zeros = torch.zeros_like(h[..., 0, :])
    state = LIFState(zeros, zeros)
    spikes, membrane = [zeros], [zeros]
    for h_t in h.unbind(-2)[:-1]:
        s, state = lif_step(h_t, state, p)
        spikes.append(s)
        membrane.append(state.v)
    return torch.stack(spikes, -2), torch.stack(membrane, -2)


def li_sequence(h: torch.Tensor, p: LIFParameters) -> torch.Tensor:
    """Run a leaky integrator over input currents ``h`` (..., T, N); return the membrane record."""
    if p.neuron == "standard":
        v, membrane = torch.zeros_like(h[..., 0, :]), []
        for h_t in h.unbind(-2):
            v = li_step(h_t, v, p)
            membrane.append(v)
        return torch.stack(membrane, -2)
    v = torch.zeros_like(h[..., 0, :])
    membrane = [v]
    for h_t in h.unbind(-2)[:-1]:
        v = li_step(h_t, v, p)
        membrane.append(v)
    return torch.stack(membrane, -2)


def standard_lif_sequence(h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """The standard LIF over input currents ``h`` (..., T, N): (spikes, membrane) after each input."""
    v = torch.zeros_like(h[..., 0, :])
    spikes, membrane = [], []
    for h_t in h.unbind(-2):
        u = p.alpha * v + h_t
        s = spike_fn(u - p.v_th, p.slope)
        v = u * (1 - s)
        spikes.append(s)
        membrane.append(v)
    return torch.stack(spikes, -2), torch.stack(membrane, -2)
