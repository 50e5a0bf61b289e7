"""Neuron backends: the libraries whose neurons run the network.

Every backend turns input currents ``h`` of shape (..., T, N) into records of the same shape and
follows the notebook's equations (:mod:`snnsim.functional.lif`):

- ``lif(h, p) -> (spikes, membrane)``: the hidden (or spiking output) layer;
- ``li(h, p) -> membrane``: the non-spiking output layer.

``BACKENDS`` is a plain dict of name -> factory; each backend module adds itself in one line.
Factories import their library only when called, so ``import snnsim`` stays fast.
"""

from __future__ import annotations

from typing import Callable, Protocol

import torch

from ..functional.lif import LIFParameters


class Backend(Protocol):
    name: str

    def lif(self, h: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]: ...

    def li(self, h: torch.Tensor, p: LIFParameters) -> torch.Tensor: ...


BACKENDS: dict[str, Callable[[], Backend]] = {}


def make_backend(name: str) -> Backend:
    """Build the backend called ``name``; an unknown name raises a KeyError listing the valid ones."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; accepted: {', '.join(BACKENDS)}") from None
    return factory()


from . import snntorch_backend, norse_backend, fused  # noqa: E402,F401  (registration)
