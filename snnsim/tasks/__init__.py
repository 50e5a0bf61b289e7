"""Tasks: one module per study.

``TASKS`` maps the ``--task`` name to a :class:`Task`: ``run(config, progress=True) ->
xarray.Dataset`` and ``summarise(dataset) -> str`` (the table the CLI prints).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import xarray as xr


@dataclass(frozen=True)
class Task:
    run: Callable[..., xr.Dataset]
    summarise: Callable[[xr.Dataset], str]


TASKS: dict[str, Task] = {}

from . import ipd  # noqa: E402,F401  (registration)

from . import bmi  # noqa: E402,F401  (registration)
