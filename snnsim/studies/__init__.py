"""Studies: what is learned and measured, one module per study (``--study ipd|bmi``).

A study module defines a class that follows :class:`Study` and one instance of it, ``STUDY``;
``STUDIES`` maps the study's name to a factory returning that instance (imported only when
called, so the config, which takes its names from here, does not import torch). Everything
that is the same for every study (grouping configs into batched models, packs, the data cache,
timing, result callbacks) is in :mod:`snnsim.runner`; the epoch loop (progress, early stopping)
is in :mod:`snnsim.training`. Adding a study: see ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    import torch
    import xarray as xr
    from torch import nn

    from ..config import RunConfig
    from ..training import FitOptions, Training


def cell(value: float, decimals: int) -> str:
    """``value`` as an 11-wide cell of ``snnsim.run``'s table, ``decimals`` after the point; in 4
    significant digits (``-6.992e+05``) where that would not leave a space before it."""
    text = f"{value:.{decimals}f}"
    return f"{text:>11}" if len(text) <= 10 else f"{value:>11.4g}"


class Outcome(NamedTuple):
    """What one repeat produced: the study's per-repeat record and its training time (s)."""

    result: Any
    seconds: float


class Study(Protocol):
    """The pieces of one study. ``cfgs`` and ``seeds`` list one config and one seed per model of
    a batched model; every model's numbers must not depend on the other models."""

    name: str
    memory_flags: str  # the flags that size a run's memory, named when the runner refuses one

    def group_key(self, cfg: RunConfig) -> Hashable:
        """Configs with equal keys train as one batched model (at most :data:`~snnsim.runner.CPU_MODELS_PER_BATCH`
        on the CPU): typically the config without seed and repeats."""

    def data_key(self, cfg: RunConfig, seed: int) -> Hashable:
        """What the data of ``cfg`` and ``seed`` depend on: configs with equal keys share them."""

    def make_data(self, cfg: RunConfig, seed: int, device: torch.device) -> Any:
        """The data one model trains and is evaluated on."""

    def memory_bytes(self, cfg: RunConfig) -> tuple[int, int]:
        """Estimated bytes of (one data key's data, one model's training): the runner refuses a
        run that would not fit in the memory available."""

    def make_model(self, cfgs: Sequence[RunConfig], seeds: Sequence[int], device: torch.device) -> nn.Module:
        """One batched model of ``len(seeds)`` models, model m initialised from seed ``seeds[m]``."""

    def fit(
        self, model: nn.Module, cfgs: Sequence[RunConfig], data: Sequence[Any], seeds: Sequence[int],
        options: FitOptions,
    ) -> Training:  # fmt: skip
        """Train in place (model m on ``data[m]``); gradient-trained studies pass ``options``
        (progress, hooks, checkpoint) to :func:`snnsim.training.fit_epochs`."""

    def evaluate(self, model: nn.Module, cfgs: Sequence[RunConfig], data: Sequence[Any], training: Training,
                 progress: bool = False) -> list:  # fmt: skip
        """One per-repeat record per model; with ``progress``, a progress bar on a terminal."""

    def to_dataset(
        self, cfg: RunConfig, outcomes: Mapping[int, Outcome], data: Any, device: torch.device
    ) -> xr.Dataset:
        """The result dataset of ``cfg`` from its repeats' outcomes (``data``: its first repeat's data)."""

    def summarise(self, ds: xr.Dataset) -> str:
        """The table ``python -m snnsim.run`` prints."""


def _ipd() -> Study:
    from .ipd import STUDY

    return STUDY


def _bmi() -> Study:
    from .bmi import STUDY

    return STUDY


STUDIES: dict[str, Callable[[], Study]] = {"ipd": _ipd, "bmi": _bmi}


def get_study(name: str) -> Study:
    """The study called ``name``; an unknown name raises a KeyError listing the valid ones."""
    try:
        factory = STUDIES[name]
    except KeyError:
        raise KeyError(f"unknown study {name!r}; accepted: {', '.join(STUDIES)}") from None
    return factory()
