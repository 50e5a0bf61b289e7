"""Neuron backends: the libraries whose neurons run the network.

Every backend turns input currents ``h`` of shape (..., T, N) into records of the same shape and
follows the notebook's equations (:mod:`snnsim.functional.lif`):

- ``lif(h, p) -> (spikes, membrane)``: the hidden (or spiking output) layer;
- ``li(h, p) -> membrane``: the non-spiking output layer;
- ``cell(h, p, opts, alpha, recurrent) -> (spikes, membrane)``: the model-space hidden layer
  (:mod:`snnsim.functional.cell`: synaptic current, recurrence, per-neuron decays, adaptive
  threshold), on the library backends, and the adaptive threshold on ``fused`` too
  (:data:`MODEL_SPACE` says which backend carries what).

``BACKENDS`` is a plain dict of name -> factory. A factory imports its module (and the library
behind it) only when called, so importing this package, and the config that takes its names
from here, does not import torch. Adding a backend: a module with a class like
:class:`~snnsim.backends.fused.FusedBackend`, and one factory and one entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from ..functional.cell import CellOptions
    from ..functional.lif import LIFParameters


class Backend(Protocol):
    name: str

    def lif(self, h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]: ...

    def li(self, h: torch.Tensor, p: LIFParameters) -> torch.Tensor: ...

    def cell(
        self, h: torch.Tensor, p: LIFParameters, opts: CellOptions, alpha: torch.Tensor | None,
        recurrent: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...  # fmt: skip


def _snntorch() -> Backend:
    from .snntorch_backend import SnnTorchBackend

    return SnnTorchBackend()


def _norse() -> Backend:
    from .norse_backend import NorseBackend

    return NorseBackend()


def _fused() -> Backend:
    from .fused import FusedBackend

    return FusedBackend()


BACKENDS: dict[str, Callable[[], Backend]] = {"snntorch": _snntorch, "norse": _norse, "fused": _fused}

#: Largest membrane decay per step a learned time constant (``--learn-tau``) may reach: the learned
#: decays are clamped to [0, ALPHA_MAX] (Norse's Euler step divides by 1 - alpha). Here, without torch,
#: so that the config can refuse a ``--tau`` whose decay lies above it.
ALPHA_MAX = 0.999

#: Model-space options (config fields) -> the backends that carry them; the config refuses the rest.
MODEL_SPACE: dict[str, tuple[str, ...]] = {
    "hidden": ("snntorch", "norse", "fused"),  # several hidden layers
    "tau_syn": ("snntorch", "norse"),
    "recurrent": ("snntorch", "norse"),
    "learn_tau": ("snntorch", "norse"),
    "tau_adapt": ("norse", "fused"),
    "delays": ("snntorch", "norse"),
    "rate_reg": ("snntorch", "norse", "fused"),
}


def make_backend(name: str) -> Backend:
    """Build the backend called ``name``; an unknown name raises a KeyError listing the valid ones."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; accepted: {', '.join(BACKENDS)}") from None
    return factory()
