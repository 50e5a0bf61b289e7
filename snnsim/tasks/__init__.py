"""Tasks: one module per study.

``TASKS`` maps the ``--task`` name to a :class:`Task`: ``run(config, progress=True) ->
xarray.Dataset``, ``summarise(dataset) -> str`` (the table the CLI prints) and, optionally,
``run_many(configs, progress, on_result) -> list[xarray.Dataset]``, which runs several configs
in one process sharing data and batching models where it can (sweep packs, ``--pack``); tasks
without it run the configs one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import xarray as xr


@dataclass(frozen=True)
class Task:
    run: Callable[..., xr.Dataset]
    summarise: Callable[[xr.Dataset], str]
    batched_run: Callable[..., list[xr.Dataset]] | None = None

    def run_many(self, cfgs, progress: bool = True, on_result=None) -> list[xr.Dataset]:
        """Run ``cfgs`` in this process; ``on_result(i, dataset)`` as each one completes."""
        if self.batched_run is not None:
            return self.batched_run(cfgs, progress=progress, on_result=on_result)
        out = []
        for i, cfg in enumerate(cfgs):
            out.append(self.run(cfg, progress=progress))
            if on_result is not None:
                on_result(i, out[-1])
        return out


TASKS: dict[str, Task] = {}

from . import ipd  # noqa: E402,F401  (registration)

from . import bmi  # noqa: E402,F401  (registration)
