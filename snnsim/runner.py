"""The runner: how configs of any study become result datasets, in one process.

Used by ``python -m snnsim.run`` (one config) and by sweep jobs and packs (several configs).
It owns what is the same for every study (:mod:`snnsim.studies`):

- **grouping**: every (config, repeat) is one model with seed ``cfg.seed + repeat``; models
  whose configs have equal :meth:`~snnsim.studies.Study.group_key` train as one batched model,
  at most :data:`CPU_MODELS_PER_BATCH` on the CPU (unless a config says
  ``batch_repeats = false``: then each of its repeats trains alone);
- **the data cache**: data with equal :meth:`~snnsim.studies.Study.data_key` are made once and
  shared by every model that uses them;
- **timing** (the ``train_seconds`` of each repeat: training time of its batched model divided
  by its number of models) and **result callbacks**: ``on_result(i, dataset)`` as soon as
  config ``i`` has all its repeats, so that a caller can write results while later groups train.

Every model's numbers equal those of running its config alone: batching is exact
(:mod:`snnsim.network`) and every random draw comes from a stream keyed by the model's seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch
import xarray as xr

from .config import RunConfig
from .device import resolve_device
from .studies import Outcome, Study, get_study

#: Most models in one batched model on the CPU; a larger group trains as several batched models,
#: one after the other (more models' records exceed glibc's mmap threshold and are page-faulted in
#: anew each batch: measured in benchmarks/README.md). On CUDA there is no limit.
CPU_MODELS_PER_BATCH = 10

Member = tuple[int, int]  # (config index, repeat)


def plan(cfgs: Sequence[RunConfig]) -> list[list[Member]]:
    """The batched models that train ``cfgs``: lists of (config index, repeat), models with the
    same readout and tau side by side."""
    groups: dict[Hashable, list[Member]] = {}
    for i, cfg in enumerate(cfgs):
        study = get_study(cfg.study)
        for r in range(cfg.repeats):
            key = (cfg.study, study.group_key(cfg)) if cfg.batch_repeats else (i, r)
            groups.setdefault(key, []).append((i, r))
    batches = []
    for members in groups.values():
        members.sort(key=lambda m: (cfgs[m[0]].readout, cfgs[m[0]].tau))
        cpu = resolve_device(cfgs[members[0][0]].device).type == "cpu"
        size = CPU_MODELS_PER_BATCH if cpu else len(members)
        batches += [members[k : k + size] for k in range(0, len(members), size)]
    return batches


class DataCache:
    """Each study's data, made once per data key and device."""

    def __init__(self) -> None:
        self._data: dict[Hashable, Any] = {}

    def get(self, study: Study, cfg: RunConfig, seed: int, device: torch.device) -> Any:
        key = (study.name, study.data_key(cfg, seed), device)
        if key not in self._data:
            self._data[key] = study.make_data(cfg, seed, device)
        return self._data[key]


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_configs(
    cfgs: Sequence[RunConfig], progress: bool = True, on_result: Callable[[int, xr.Dataset], None] | None = None
) -> list[xr.Dataset]:
    """Run ``cfgs`` in this process and return their result datasets, in order (see the module
    docstring)."""
    cache = DataCache()
    outcomes: list[dict[int, Outcome]] = [{} for _ in cfgs]
    results: list[xr.Dataset | None] = [None] * len(cfgs)
    for members in plan(cfgs):
        batch = [cfgs[i] for i, _ in members]
        seeds = [cfgs[i].seed + r for i, r in members]
        study = get_study(batch[0].study)
        device = resolve_device(batch[0].device)
        data = [cache.get(study, c, s, device) for c, s in zip(batch, seeds)]
        model = study.make_model(batch, seeds, device)
        _synchronise(device)
        start = time.perf_counter()
        training = study.fit(model, batch, data, seeds, progress)
        _synchronise(device)
        seconds = (time.perf_counter() - start) / len(seeds)
        for (i, r), result in zip(members, study.evaluate(model, batch, data, training)):
            outcomes[i][r] = Outcome(result, seconds)
            if len(outcomes[i]) == cfgs[i].repeats:
                first = cache.get(study, cfgs[i], cfgs[i].seed, device)
                results[i] = study.to_dataset(cfgs[i], outcomes[i], first, device)
                if on_result is not None:
                    on_result(i, results[i])
    return results


def run(cfg: RunConfig, progress: bool = True) -> xr.Dataset:
    """Train ``cfg.repeats`` models of ``cfg`` and return the result dataset."""
    return run_configs([cfg], progress)[0]


def summarise(ds: xr.Dataset) -> str:
    """The table ``python -m snnsim.run`` prints for a result dataset of any study."""
    return get_study(ds.attrs["study"]).summarise(ds)
