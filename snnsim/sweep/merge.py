"""Merge an experiment's job files into one :class:`xarray.Dataset`.

Each job dataset gets one new length-1 dimension per swept setting (coordinate = its value),
and the jobs are combined in grid order (:func:`stack`), so the merged dataset has dimensions
``(*swept keys, *job dims)``; a swept setting that follows from another (a union of grids:
:attr:`~snnsim.sweep.experiment.Experiment.coordinates`) is a coordinate along that setting's
dimension instead. Durations (``tau``, ``dt``, ``duration``) are coordinates in seconds with
``units = "s"``.

Added: ``job_index`` (int, -1 where no job) over the swept dims. Attributes: ``experiment``
(name), ``experiment_toml`` (the experiment file's text), ``swept`` (JSON list of keys),
``fixed`` (JSON), ``n_jobs``, ``missing`` / ``stale`` (JSON lists of the indices left NaN),
``merged_with`` (JSON: the versions of the snnsim and libraries that merged), ``complete = 1``;
the job files' other attributes as :func:`carried_attrs` keeps them: ``snnsim_version`` and
``versions`` are those that made the jobs (``NAME_by_job`` where jobs differ), never the merger's.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from .. import results
from ..atomic_write import WriteFailed
from ..cli import announcing, plural, stop_if_signalled
from ..errors import ResultError
from .experiment import UNITS, Experiment, loads
from .jobs import JobLock, JobState, array_spec, check_merged_kind, found_result, merged_path, states

if TYPE_CHECKING:  # xarray loads where job files are stacked (half a second): not for a refusal
    import xarray as xr

# per-job attributes dropped from the merged dataset: each job's own (its checksum, when and
# how long it ran, its full config: the merged file has the experiment file and the coordinates)
_PER_JOB_ATTRS = ("config", "seed", "created", "data_sha256", "job_wall_seconds", "peak_rss_mb")


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
    if write and merged_path(exp, root).is_dir():
        raise ResultError(f"{merged_path(exp, root)} is a folder; move it away: the merged results are written there")
    path = merged_path(exp, root)
    if not write or not path.parent.is_dir():  # no results folder: no job to merge, nothing to make for a lock
        return _merge(exp, root, allow_missing, write)
    # two merges at once: the second reads the jobs (and the merged file it must not lose) once the first has written
    lock = JobLock(path.with_name(f".{path.name}.lock"))
    try:
        lock.acquire_waiting(f"another merge into {path}")
    except OSError as exc:  # a folder that cannot be written: the merged file could not be either
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):  # found before any work: bad input, as run --out
            raise ResultError(f"--results-dir: cannot write in {path.parent}: {exc.strerror}; nothing merged") from None
        raise WriteFailed(path, f"cannot take the lock {lock.path} ({exc.strerror or exc})", exc.errno) from None
    try:
        return _merge(exp, root, allow_missing, write)
    finally:
        lock.release()


def _merge(exp: Experiment, root: str | os.PathLike | None, allow_missing: bool, write: bool) -> xr.Dataset:
    st = states(exp, root, check_data=False, progress=f"{exp.name}: checking job files")  # loading checks the data
    loaded: dict[int, xr.Dataset] = {}
    for s in tqdm(st, desc=f"{exp.name}: reading job files", unit="file", disable=None, leave=False):
        if s.state == "done":
            try:
                loaded[s.index] = results.load(found_result(exp, s.index, root))
            except ResultError as exc:
                st[s.index] = JobState(s.index, "corrupt", str(exc))
        stop_if_signalled()  # a stop whose raise was lost (in a finalizer): the previous merged file stays
    bad = [s for s in st if s.state != "done"]
    if bad and not allow_missing:
        by_state: dict[str, list[int]] = {}
        for s in bad:
            by_state.setdefault(s.state, []).append(s.index)
        summary = "; ".join(f"{k} {array_spec(v)}" for k, v in by_state.items())
        raise MergeError(
            f"{exp.name}: {len(bad)} of {plural(exp.grid_size, 'job')} not done ({summary}); "
            f"run them, or merge with --allow-missing to leave them NaN"
        )
    if not loaded:
        raise MergeError(f"{exp.name}: no completed job to merge")
    if announcing() and sys.stderr is not None and sys.stderr.isatty():  # seconds for hundreds; a log gets no line
        into = f" and writing {merged_path(exp, root)}" if write else ""
        print(f"{exp.name}: combining {plural(len(loaded), 'job')}{into}", file=sys.stderr, flush=True)

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
    keys, dims, swept, follows = exp.keys, exp.dims, exp.swept, exp.coordinates

    # full product of the (union) values of the dims; a point in no block, or not done, gets the
    # NaN template (a key that follows another is fixed by the dims' values: not in the product)
    index_at: dict[tuple, int] = {}
    value_of: dict[str, dict] = {k: {} for k in follows}
    for i in range(exp.grid_size):
        settings = exp.settings(i)
        index_at[tuple(settings[k] for k in dims)] = i
        for k, anchor in follows.items():
            value_of[k][settings[anchor]] = settings[k]
    shape = tuple(len(swept[k]) for k in dims)

    points = list(itertools.product(*(swept[k] for k in dims)))  # grid order, last key fastest
    job_index = np.array([index_at.get(point, -1) for point in points], dtype=np.int64)
    pieces = []
    for i in job_index:
        ds = loaded[int(i)] if int(i) in loaded else template
        pieces.append(ds.drop_vars([k for k in keys if k in ds.variables]))
    merged = stack(pieces, {k: swept[k] for k in dims})
    merged["job_index"] = (dims, job_index.reshape(shape))
    assert tuple(merged.sizes[k] for k in dims) == shape
    for k, anchor in follows.items():
        merged.coords[k] = (anchor, index_values(tuple(value_of[k][v] for v in swept[anchor])))
    for var in merged.variables.values():
        var.encoding = {}  # the job files' int encodings cannot hold the NaN of a hole
    merged["job_index"].attrs = {"long_name": "grid index of the job (-1: not in the grid)"}
    for k in keys:
        attrs = {"long_name": f"swept setting {k}" + (f" (follows {follows[k]})" if k in follows else "")}
        if k in UNITS:
            attrs["units"] = UNITS[k]
        merged[k].attrs = attrs

    attrs = carried_attrs({i: ds.attrs for i, ds in loaded.items()}, keys)
    # every hole but the stale ones, a job still queued or running included: its point is NaN here too
    missing = sorted(s.index for s in st if s.state in ("missing", "queued", "running", "failed", "corrupt"))
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
            "merged_with": json.dumps(results.library_versions(), sort_keys=True),
            "complete": 1,
        }
    )
    merged.attrs = attrs
    if write:
        stop_if_signalled()
        check_merged_kind(merged_path(exp, root), "sweep")
        _check_no_loss(exp, merged_path(exp, root), set(missing + stale))
        results.write(merged, merged_path(exp, root), overwrite=True)  # a merge replaces the previous one
    return merged


def carried_attrs(
    attrs: Mapping[int, Mapping[str, Any]], varied: Iterable[str], by: str = "job", drop: Iterable[str] = ()
) -> dict[str, Any]:
    """What a merged file keeps of its pieces' attributes (``attrs`` by job or trial number),
    but the per-piece ones, the settings ``varied`` over the pieces and ``drop``: an attribute
    as it is where every piece has it alike, else ``NAME_by_job``, a JSON list of ``{"jobs":
    "0-3,7", NAME: value}`` over the pieces that have it (a BMI sweep over ``rotation``:
    ``test_fold_by_job``; ``by = "trial"``: ``NAME_by_trial``, ``{"trials": ...}``)."""
    skip = {*_PER_JOB_ATTRS, *(f"config_{key}" for key in varied), *drop}
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for a in attrs.values() for k in a if k not in skip):
        values: dict[str, tuple[Any, list[int]]] = {}
        for index, a in attrs.items():
            if key in a:
                text = json.dumps(_json_value(key, a[key]), sort_keys=True, default=str)  # in full, not str()'s
                values.setdefault(text, (a[key], []))[1].append(index)
        (value, indices), *others = values.values()
        if not others and len(indices) == len(attrs):
            out[key] = value
        else:
            out[f"{key}_by_{by}"] = json.dumps(
                [{f"{by}s": array_spec(v), key: _json_value(key, x)} for x, v in values.values()]
            )
    return out


def _json_value(key: str, value: Any) -> Any:
    """An attribute's value as JSON can hold it (``versions``, itself JSON text, as its object)."""
    if key == "versions":
        return json.loads(value)
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


def _same_grid(a: Experiment, b: Experiment) -> bool:
    """Whether ``a`` and ``b`` run the same jobs at the same points (comments, layout, description
    and how a setting is written aside: a default given or left out, ``"2ms"`` or ``0.002``)."""
    return len(a) == len(b) and all(
        a.settings(i) == b.settings(i) and a.config(i) == b.config(i) for i in range(len(a))
    )


def _check_no_loss(exp: Experiment, path: Path, holes: set[int]) -> None:
    """Refuse to replace the merged file ``path`` of this very experiment file with one that has
    holes (``--allow-missing``) at jobs it holds: their job files are gone, corrupt or stale
    since, and their numbers would be lost."""
    if not holes or not path.is_file():
        return
    try:
        attrs = results.file_attrs(path)
        if attrs.get("experiment") != exp.name or not _same_grid(loads(attrs["experiment_toml"]), exp):
            return  # another grid: replaced, as every merge replaces the previous one
        had = holes - set(json.loads(attrs["missing"])) - set(json.loads(attrs["stale"]))
    except Exception:  # noqa: BLE001 - a damaged merged file holds nothing to keep
        return
    if had:
        from .jobs import array_spec

        one = len(had) == 1
        raise MergeError(f"{path} holds job{'' if one else 's'} {array_spec(sorted(had))}, which "
                         f"{'is' if one else 'are'} not done now; merging would replace {'its' if one else 'their'} "
                         f"numbers with NaN: rerun {'it' if one else 'them'}, or move that file away first")  # fmt: skip


def stack(pieces: list[xr.Dataset], swept: dict[str, tuple]) -> xr.Dataset:
    """The datasets ``pieces`` (one per grid point, in grid order: the last key varies
    fastest) as one dataset with the swept keys as new leading dimensions.

    What ``xarray.combine_nested(..., join="outer", data_vars="all", coords="different",
    combine_attrs="drop")`` gives for the pieces nested by key (``tests/sweep/test_merge.py``
    checks it), without its pairwise concatenations: the pieces are aligned once (outer join:
    NaN where a piece lacks an index value), then every variable is stacked by numpy. A
    variable that some pieces lack is NaN there; a non-index coordinate equal in every piece
    stays as it is, else it is stacked too, NaN in the pieces that lack it (where xarray keeps
    the coordinate of the pieces that have it unstacked). Unlike ``combine_attrs="drop"``, each stacked
    variable keeps the first piece's attributes (``units``, ``long_name``), but a ``long_name``
    or ``units`` that differs between pieces is each distinct text joined by `` | `` (x_mean of
    a grid over ``model``: the feature order of the ridge and ANN jobs, not only the spiking
    job's text; y_true of a grid over ``target``: ``rad | rad/s``, not the first target's units).
    """
    import xarray as xr

    keys = tuple(swept)
    if not keys:
        return pieces[0]
    for ds in pieces:  # xarray would stop on the two sizes of one name deep inside (a ValueError)
        if clash := next((k for k in keys if k in ds.dims), None):
            name = next(v for v in ds.variables if clash in ds.variables[v].dims)
            raise MergeError(f"the swept setting {clash} is also the name of a dimension of {name} in the job files "
                             f"({ds.sizes[clash]} long), which one merged file cannot hold; sweep {clash} in "
                             "experiments of their own, one value each, and merge those")  # fmt: skip
    shape = tuple(len(v) for v in swept.values())
    aligned = xr.align(*pieces, join="outer", copy=False)

    def union(kind: str) -> list[str]:
        names: dict[str, None] = {}
        for ds in aligned:
            names.update(dict.fromkeys(getattr(ds, kind) if kind == "data_vars" else
                                       [c for c in ds.coords if c not in ds.indexes]))  # fmt: skip
        return list(names)

    def stacked(name: str) -> xr.Variable:
        present = [ds.variables[name] for ds in aligned if name in ds.variables]
        # a name whose dims differ between pieces (x_mean over `feature` or `input_unit`) is
        # broadcast over the union of its dims, in order of appearance, as xarray's concat does
        dims = tuple(dict.fromkeys(d for v in present for d in v.dims))
        sizes = {d: n for v in present for d, n in v.sizes.items()}
        common = tuple(sizes[d] for d in dims)
        hole = None
        arrays = []
        for ds in aligned:
            if name in ds.variables:
                arrays.append(ds.variables[name].set_dims(dims, common).values)
            else:
                if hole is None:
                    kind = present[0].dtype.kind  # NaN in the type xarray's concat fills with
                    fill = present[0].dtype if kind in "fc" else np.float64 if kind in "iu" else object
                    hole = np.full(common, np.nan, dtype=fill)
                arrays.append(hole)
        attrs = dict(present[0].attrs)
        for key in ("long_name", "units"):
            texts = dict.fromkeys(str(v.attrs[key]) for v in present if key in v.attrs)
            if len(texts) > 1:
                attrs[key] = " | ".join(texts)
        return xr.Variable(keys + dims, np.stack(arrays).reshape(shape + common), attrs=attrs)

    variables = {name: stacked(name) for name in union("data_vars")}
    coords: dict[str, xr.Variable] = {k: xr.Variable((k,), index_values(v)) for k, v in swept.items()}
    for name in aligned[0].indexes:
        coords[name] = aligned[0].variables[name]
    for name in union("coords"):
        present = [ds.variables[name] for ds in aligned if name in ds.variables]
        same = len(present) == len(aligned) and all(v.equals(present[0]) for v in present[1:])
        coords[name] = present[0] if same else stacked(name)
    return xr.Dataset(variables, coords=coords)


def index_values(values: tuple) -> np.ndarray:
    """A swept setting's values as a concatenated index holds them (text as objects). Where
    some value is a list (``hidden = [8, "8,8"]``, ``dims = ["0,1", 2]``), every value is its
    text as on the command line: ``"8"``, ``"8,8"``."""
    if any(isinstance(v, tuple) for v in values):
        return np.array([",".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in values], dtype=object)
    array = np.asarray(values)
    return array.astype(object) if array.dtype.kind == "U" else array


def _nan_like(ds: xr.Dataset) -> xr.Dataset:
    """Every numeric data variable as NaN (coordinates kept): in its own type if it is a float
    (float32 weights stay float32), else as float64."""
    out = ds.copy()
    for name, var in ds.data_vars.items():
        if np.issubdtype(var.dtype, np.number) or var.dtype == bool:
            out[name] = var.astype(var.dtype if var.dtype.kind in "fc" else np.float64) * np.nan
    return out
