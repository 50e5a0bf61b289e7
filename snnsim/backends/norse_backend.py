"""Norse backend: Norse's box leaky integrator (``LIBoxCell``) and threshold function.

How the notebook's LIF maps onto Norse (1.1.0):

- Norse integrates with forward Euler: ``v += dt*tau_mem_inv*(v_leak - v + i)``, a decay of
  ``1 - dt*tau_mem_inv`` per step (0.5 at tau = 2 ms, dt = 1 ms) instead of the notebook's
  ``exp(-dt/tau)`` (0.607), and an input gain of ``dt*tau_mem_inv``. The adapter therefore
  sets ``tau_mem_inv = (1 - alpha)/dt`` and ``v_leak = 0`` and feeds ``h/(1 - alpha)``, which
  makes one ``LIBoxCell`` step exactly ``alpha*v + h`` (up to float rounding). The adapter calls
  the cell's step function, ``li_box_feed_forward_step``, as ``LIBoxCell.forward`` does, without
  the module call around it, and passes its constants as 0-dim tensors (the same numbers).
- ``LIFBoxCell`` fires from the updated membrane and resets at once; the notebook fires from the
  membrane before the update and resets one step later by multiplying with (1 - s) (seed quirk
  3), so the adapter composes ``LIBoxCell`` with Norse's ``threshold`` in the notebook's order.
- Norse has no sigmoid surrogate. Its ``"tanh"`` surrogate has derivative
  ``1 - tanh(k x)^2``, and the notebook's is ``beta*sigmoid(beta x)*(1 - sigmoid(beta x)) =
  (beta/4)*(1 - tanh(beta x/2)^2)``. Calling ``threshold(c*(v - v_th), "tanh", 2)`` with
  ``c = beta/4`` gives exactly the notebook's gradient (the forward Heaviside is unchanged by
  the positive factor c).
- The model-space layer (:meth:`NorseBackend.cell`, :mod:`snnsim.functional.cell`) runs the
  feed-forward steps of Norse's ``LIFBoxCell`` (no synaptic current), ``LIFCell`` (synaptic
  current) or ``LSNNCell`` (adaptive threshold) in units scaled by ``c = slope/4`` (input,
  threshold and adaptation jump times c), so that Norse's own ``threshold(v - v_th, "tanh", 2)``
  inside the step has the notebook's surrogate gradient; membranes come back divided by c. The
  Euler steps give the reference's exact decays with ``tau_mem_inv = 1 - alpha`` (per neuron
  where the decays are learned), ``tau_syn_inv = 1 - a_s`` and ``tau_adapt_inv = 1 - rho``
  (dt = 1), inputs times ``c/(1 - alpha)``. ``LSNNCell``'s step adds its input to the current
  after the membrane update; the adapter adds each step's input to the current state before
  the step (input 0 to the step), which is ``LIFCell``'s order. Recurrent input ``s_{t-1} V``
  is added to the input current as ``LIFRecurrentCell`` does, with one weight matrix per model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch

from ..functional.cell import CellOptions, per_model_product
from ..functional.lif import LIFParameters

CellStep = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (h_t, v) -> the next membrane


class Constants(NamedTuple):
    """A layer's numbers as 0-dim tensors of its dtype: torch converts a Python number operand to
    the tensor's dtype with a copy on every operation (the same value), a tenth of the loop's time."""

    gain: torch.Tensor  # the input gain 1/(1 - alpha)
    c: torch.Tensor  # slope/4: Norse's tanh surrogate with the notebook's gradient
    v_th: torch.Tensor
    one: torch.Tensor

    @classmethod
    def of(cls, p: LIFParameters, like: torch.Tensor) -> Constants:
        def t(x: float) -> torch.Tensor:
            return torch.tensor(x, dtype=like.dtype, device=like.device)

        return cls(t(1.0 / (1.0 - p.alpha)), t(p.slope / 4.0), t(p.v_th), t(1.0))


class NorseBackend:
    name = "norse"

    def __init__(self) -> None:
        with warnings.catch_warnings():  # Norse's import decorates with torch.jit.script: a FutureWarning per run
            warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", FutureWarning)
            from norse.torch.functional.leaky_integrator_box import (
                LIBoxParameters,
                LIBoxState,
                li_box_feed_forward_step,
            )
            from norse.torch.functional.threshold import threshold

        self._threshold = threshold
        self._step = li_box_feed_forward_step
        self._params_cls = LIBoxParameters
        self._state_cls = LIBoxState

    def _cell(self, p: LIFParameters, like: torch.Tensor) -> tuple[CellStep, Constants]:
        """``LIBoxCell``'s step function, ``(h_t, v) -> alpha*v + h_t`` for inputs times the gain,
        and the layer's constants. The step is called directly, as ``LIBoxCell.forward`` calls it
        (the same numbers), without the module call around it."""
        dt = 1.0  # the time unit cancels: only dt*tau_mem_inv = 1 - alpha matters
        params = self._params_cls(
            tau_mem_inv=torch.as_tensor((1.0 - p.alpha) / dt, dtype=like.dtype, device=like.device),
            v_leak=torch.zeros((), dtype=like.dtype, device=like.device),
        )

        def cell(h_t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            return self._step(h_t, self._state_cls(v), params, dt)[0]

        return cell, Constants.of(p, like)

    def _fire(self, v: torch.Tensor, k: Constants) -> torch.Tensor:
        return self._threshold(k.c * (v - k.v_th), "tanh", 2.0)

    def lif(self, h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
        cell, k = self._cell(p, h)
        v = s = torch.zeros_like(h[..., 0, :])
        if p.neuron == "standard":  # spike from the updated membrane, reset to 0 in the same step
            spikes, membrane = [], []
            for h_t in (h * k.gain).unbind(-2):
                integrated = cell(h_t, v)
                s = self._fire(integrated, k)
                v = integrated * (k.one - s)
                spikes.append(s)
                membrane.append(v)
            return torch.stack(spikes, -2), torch.stack(membrane, -2)
        spikes, membrane = [s], [v]
        for h_t in (h * k.gain).unbind(-2)[:-1]:
            integrated = cell(h_t, v)  # alpha*v + h_t
            s_next = self._fire(v, k)
            v = integrated * (k.one - s)
            s = s_next
            spikes.append(s)
            membrane.append(v)
        return torch.stack(spikes, -2), torch.stack(membrane, -2)

    def li(self, h: torch.Tensor, p: LIFParameters) -> torch.Tensor:
        cell, k = self._cell(p, h)
        v = torch.zeros_like(h[..., 0, :])
        steps = (h * k.gain).unbind(-2)  # the input gain in one product, as in lif
        if p.neuron != "standard":
            steps = steps[:-1]
        membrane = [] if p.neuron == "standard" else [v]
        for h_t in steps:
            v = cell(h_t, v)
            membrane.append(v)
        return torch.stack(membrane, -2)

    def cell(
        self,
        h: torch.Tensor,
        p: LIFParameters,
        opts: CellOptions,
        alpha: torch.Tensor | None = None,
        recurrent: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The model-space layer (:func:`snnsim.functional.cell.cell_sequence`) over currents
        ``h`` (M, B, T, N) through ``LIFBoxCell``/``LIFCell``/``LSNNCell``'s steps."""
        from norse.torch.functional.lif import LIFFeedForwardState, lif_feed_forward_step
        from norse.torch.functional.lif import LIFParameters as NorseLIF
        from norse.torch.functional.lif_box import LIFBoxFeedForwardState, LIFBoxParameters, lif_box_feed_forward_step
        from norse.torch.functional.lsnn import LSNNFeedForwardState, LSNNParameters, lsnn_feed_forward_step

        def t(x: float | torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(x, dtype=h.dtype, device=h.device)

        c = p.slope / 4.0
        g = 1.0 - t(p.alpha if alpha is None else alpha)  # dt * tau_mem_inv
        gain, zero = c / g, t(0.0)
        common = {"tau_mem_inv": g, "v_leak": zero, "v_th": t(c * p.v_th), "v_reset": zero, "method": "tanh",
                  "alpha": 2.0}  # fmt: skip
        zeros = torch.zeros_like(h[..., 0, :])
        if opts.adaptive:
            params = LSNNParameters(tau_syn_inv=t(1.0 - opts.syn_decay), tau_adapt_inv=t(1.0 - opts.adapt_decay),
                                    beta=t(c * opts.adapt_jump), **common)  # fmt: skip
            state = LSNNFeedForwardState(v=zeros, i=zeros, b=zeros + c * p.v_th)

            def step(x: torch.Tensor, state: LSNNFeedForwardState) -> tuple:
                return lsnn_feed_forward_step(zeros, state._replace(i=state.i + x), params, dt=1.0)
        elif opts.syn_decay:
            params = NorseLIF(tau_syn_inv=t(1.0 - opts.syn_decay), **common)
            state = LIFFeedForwardState(v=zeros, i=zeros)

            def step(x: torch.Tensor, state: LIFFeedForwardState) -> tuple:
                return lif_feed_forward_step(x, state, params, dt=1.0)
        else:
            params = LIFBoxParameters(**common)
            state = LIFBoxFeedForwardState(v=zeros)

            def step(x: torch.Tensor, state: LIFBoxFeedForwardState) -> tuple:
                return lif_box_feed_forward_step(x, state, params, dt=1.0)

        s = zeros
        spikes, membrane = [], []
        for h_t in h.unbind(-2):
            x = h_t if recurrent is None else h_t + per_model_product(s, recurrent)
            s, state = step(x * gain, state)
            spikes.append(s)
            membrane.append(state.v / c)
        return torch.stack(spikes, -2), torch.stack(membrane, -2)
