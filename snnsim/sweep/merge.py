"""Merge an experiment's job files into one :class:`xarray.Dataset`.

Each job dataset gets one new length-1 dimension per swept setting (coordinate = its value),
and the jobs are combined in grid order (:func:`xarray.combine_nested`), so the merged dataset
has dimensions ``(*swept keys, *job dims)``. Durations (``tau``, ``dt``, ``duration``) are
coordinates in seconds with ``units = "s"``.

Added: ``job_index`` (int, -1 where no job) over the swept dims. Attributes: ``experiment``
(name), ``experiment_toml`` (the experiment file's text), ``swept`` (JSON list of keys),
``fixed`` (JSON), ``n_jobs``, ``missing`` / ``stale`` (JSON lists of the indices left NaN),
``snnsim_version``, ``complete = 1``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import xarray as xr

from .. import results
from ..errors import ResultError
from .experiment import UNITS, Experiment
from .jobs import found_result, merged_path, states

# per-job attributes that differ between jobs; dropped from the merged dataset
_PER_JOB_ATTRS = ("config", "seed", "created", "device", "versions", "data_sha256")


class MergeError(ResultError):
    """The grid has holes (or stale/corrupt files) and ``allow_missing`` was not given."""


def merge(
    exp: Experiment, root: str | os.PathLike | None = None, allow_missing: bool = False, write: bool = True
) -> xr.Dataset:
    """Merge the job files of ``exp``; write ``RESULTS/NAME.h5`` when ``write``.

    Raises:
        MergeError: some job is not done (missing, failed, corrupt or stale) and
            ``allow_missing`` is false. With ``allow_missing`` those points are NaN and their
            indices are listed in the attributes ``missing`` and ``stale``.
    """
    st = states(exp, root)
    bad = [s for s in st if s.state != "done"]
    if bad and not allow_missing:
        from .jobs import array_spec

        by_state: dict[str, list[int]] = {}
        for s in bad:
            by_state.setdefault(s.state, []).append(s.index)
        summary = "; ".join(f"{k} {array_spec(v)}" for k, v in by_state.items())
        raise MergeError(
            f"{exp.name}: {len(bad)} of {exp.grid_size} jobs not done ({summary}); "
            f"run them, or merge with --allow-missing to leave them NaN"
        )
    done = {s.index for s in st if s.state == "done"}
    if not done:
        raise MergeError(f"{exp.name}: no completed job to merge")

    loaded: dict[int, xr.Dataset] = {i: results.load(found_result(exp, i, root)) for i in sorted(done)}
    # a swept size (hidden = [30, 100]) changes the length of dims without coordinates: index
    # those dims, so that jobs of different sizes align (NaN-padded) instead of refusing to combine
    sizes: dict[str, set[int]] = {}
    for ds in loaded.values():
        for d, n in ds.sizes.items():
            if d not in ds.indexes:
                sizes.setdefault(d, set()).add(n)
    ragged = [d for d, ns in sizes.items() if len(ns) > 1]
    if ragged:
        loaded = {i: ds.assign_coords({d: np.arange(ds.sizes[d]) for d in ragged if d in ds.dims})
                  for i, ds in loaded.items()}  # fmt: skip
    template = _nan_like(next(iter(loaded.values())))
    keys = exp.keys
    swept = exp.swept

    # full product of the (union) values; a point in no block, or not done, gets the NaN template
    index_at: dict[tuple, int] = {tuple(exp.settings(i).values()): i for i in range(exp.grid_size)}
    shape = tuple(len(swept[k]) for k in keys)

    def piece(point: tuple) -> xr.Dataset:
        i = index_at.get(point, -1)
        ds = loaded[i] if i in loaded else template
        ds = ds.drop_vars([k for k in keys if k in ds.variables])
        ds = ds.assign(job_index=((), np.int64(i)))
        ds.attrs = {}
        return ds.expand_dims({k: [v] for k, v in zip(keys, point)})

    def nest(prefix: tuple, depth: int) -> xr.Dataset | list:
        if depth == len(keys):
            return piece(prefix)
        return [nest(prefix + (v,), depth + 1) for v in swept[keys[depth]]]

    if keys:
        merged = xr.combine_nested(
            nest((), 0),
            concat_dim=list(keys),
            join="outer",
            combine_attrs="drop",
            data_vars="all",
            coords="different",
            compat="equals",
        )
    else:
        merged = piece(())
    assert tuple(merged.sizes[k] for k in keys) == shape
    for var in merged.variables.values():
        var.encoding = {}  # the job files' int encodings cannot hold the NaN of a hole
    merged["job_index"].attrs = {"long_name": "grid index of the job (-1: not in the grid)"}
    for k in keys:
        attrs = {"long_name": f"swept setting {k}"}
        if k in UNITS:
            attrs["units"] = UNITS[k]
        merged[k].attrs = attrs

    first = next(iter(loaded.values()))
    attrs = {
        k: v
        for k, v in first.attrs.items()
        if k not in _PER_JOB_ATTRS and not any(k == f"config_{key}" for key in keys)
    }
    missing = sorted(s.index for s in st if s.state in ("missing", "failed", "corrupt"))
    stale = sorted(s.index for s in st if s.state == "stale")
    attrs.update(
        {
            "experiment": exp.name,
            "experiment_toml": exp.source,
            "swept": json.dumps(list(keys)),
            "fixed": json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in exp.fixed.items()}),
            "n_jobs": exp.grid_size,
            "missing": json.dumps(missing),
            "stale": json.dumps(stale),
            "snnsim_version": results.library_versions()["snnsim"],
            "complete": 1,
        }
    )
    merged.attrs = attrs
    if write:
        results.write(merged, merged_path(exp, root), overwrite=True)  # a merge replaces the previous one
    return merged


def _nan_like(ds: xr.Dataset) -> xr.Dataset:
    """Every numeric data variable as float NaN (coordinates kept)."""
    out = ds.copy()
    for name, var in ds.data_vars.items():
        if np.issubdtype(var.dtype, np.number) or var.dtype == bool:
            out[name] = var.astype(float) * np.nan
    return out
