"""Experiment sweeps: Cartesian grids of runs, one result file per job, merged into xarray.

* :mod:`.experiment` -- experiment files (TOML) and the grid's index order.
* :mod:`.jobs` -- where a job's result goes, its state (done / missing / failed / corrupt /
  stale), and running one job (``python -m snnsim.sweep run EXP INDEX``).
* :mod:`.merge` -- one :class:`xarray.Dataset` with one dimension per swept setting.
* :mod:`.cli` -- ``python -m snnsim.sweep count|show|run|submit|local|status|merge``.

See ``docs/sweeps.md``.
"""

from .experiment import Experiment, ExperimentError, load, loads  # noqa: F401
