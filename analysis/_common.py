"""What the analysis scripts share: a one-line error and an exit code instead of a traceback
(:func:`snnsim.cli.guarded`), result files checked to be of the kind a script reads, and
medians that skip the NaN of jobs missing from a merged experiment (``merge --allow-missing``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn

import numpy as np
import xarray as xr

from snnsim import results
from snnsim.cli import OneLineParser, description_of, guarded
from snnsim.errors import DataError, ResultError


class WrongResultError(ResultError):
    """A readable result file of another kind than the script reads (another study, a single run
    where a merged experiment is needed or the reverse, variables or dimensions missing)."""


def parser(prog: str, doc: str) -> OneLineParser:
    """The script's parser: a usage error is one line and exit code 2."""
    return OneLineParser(prog=prog, description=description_of(doc))


def run(prog: str, main: Callable[[], object]) -> NoReturn:
    """Exit with ``main``'s code (0 for None); an :class:`~snnsim.errors.SnnsimError` is one
    line ``PROG: error: ...`` on stderr and its exit code."""
    sys.exit(guarded(prog, lambda: main() or 0))


def describe(ds: xr.Dataset) -> str:
    """What a result file holds, for an error: "a merged 'ipd_readouts' experiment (study ipd)"."""
    study = ds.attrs.get("study") or ds.attrs.get("config_study") or "unknown"
    if is_predictions(ds):
        return f"a predictions file (python -m snnsim.predict) of the model in {ds.attrs['model']}"
    if is_tuning(ds):
        return f"a merged '{ds.attrs.get('name')}' tuning (study {study})"
    if "experiment" in ds.attrs:
        return f"a merged '{ds.attrs['experiment']}' experiment (study {study})"
    return f"a single run (study {study})"


def is_predictions(ds: xr.Dataset) -> bool:
    """A ``python -m snnsim.predict`` file: its model's config, but no run of its own (attribute
    ``model``, the model file it read)."""
    return "model" in ds.attrs


def instead(ds: xr.Dataset, merged: bool) -> str:
    """What to give in place of predictions file ``ds``: ``; give MODEL.h5`` (its model's run
    file) to a script that reads runs, the merge of an experiment to one that reads those."""
    if not is_predictions(ds):
        return ""
    return "; give the file of python -m snnsim.sweep merge" if merged else f"; give {ds.attrs['model']}"


def is_tuning(ds: xr.Dataset) -> bool:
    """A ``python -m snnsim.tune merge`` file (dim ``trial``; a trial's own file has no such dim)."""
    return "tune_spec" in ds.attrs and "trial" in ds.dims


def load(path: str | os.PathLike, what: str, *, study: str, merged: bool, dims: Iterable[str] = (),
         variables: Iterable[str] = (), attrs: Iterable[str] = ()) -> xr.Dataset:  # fmt: skip
    """The result file ``path``, refused with :class:`WrongResultError` unless it is of
    ``study``, merged or a single run as ``merged`` says, and holds ``dims``, ``variables`` and
    ``attrs``; ``what`` names the kind in the message ("an IPD readout x tau sweep")."""
    ds = results.load(path)
    kind = ds.attrs.get("study") or ds.attrs.get("config_study")
    if kind != study or is_tuning(ds) or ("experiment" in ds.attrs) != merged:
        raise WrongResultError(f"{path} is {describe(ds)}, not {what}{instead(ds, merged)}")
    lacks = (
        [d for d in dims if d not in ds.dims]
        + [v for v in variables if v not in ds]
        + [a for a in attrs if a not in ds.attrs]
    )
    if lacks:
        raise WrongResultError(f"{path} is {describe(ds)} without {', '.join(lacks)}; not {what}")
    return ds


def run_data(path: str | os.PathLike, ds: xr.Dataset, data: str | None) -> str | None:
    """The data a run's file ``path`` (dataset ``ds``) is to be run on again: ``data`` (``--data``)
    in place of the path its config records, which may be relative to another folder; refused
    with :class:`~snnsim.errors.DataError` unless it is the file the run was made from (its
    recorded ``data_file_sha256``), or, without ``data``, where the recorded file is gone or changed."""
    from snnsim.datasets.bmi import is_file_source
    from snnsim.results import data_changed, file_sha256

    recorded = ds.attrs.get("config_data") or None
    made_from = ds.attrs.get("data_file_sha256")
    if data is not None and (not is_file_source(recorded) or made_from is None):
        why = (
            "records no SHA-256 of its data file"
            if is_file_source(recorded)
            else f"was made on {recorded or 'synthetic'}"
        )
        raise DataError(f"--data: {path} {why}; no file can be told to be its data: give {path} without --data")
    if made_from is None:
        return recorded
    given = data if data is not None else recorded
    try:
        now = file_sha256(given)
    except IsADirectoryError:
        raise DataError(f"--data: {given} is a folder; give the data file {path} was made from") from None
    except OSError:
        if data is not None:
            raise DataError(f"--data: no file at {given}") from None
        where = "a path relative to the folder that run started in, " if not Path(given).is_absolute() else ""
        raise DataError(f"{path} was made from {given} ({where}{Path(given).resolve()} from here), which does not "
                        f"exist: give --data FILE, the file of SHA-256 {made_from[:12]}...") from None  # fmt: skip
    if now != made_from and data is not None:
        raise DataError(f"--data: {given} has SHA-256 {now[:12]}..., not the {made_from[:12]}... of {recorded}, the "
                        f"file {path} was made from: give that file")  # fmt: skip
    if changed := data_changed(given, made_from, "give --data FILE, the file as it was"):
        raise DataError(f"{path}: {changed}")
    return given


def missing_jobs(ds: xr.Dataset) -> list[int]:
    """The job indices a merged experiment holds as NaN (missing, failed, corrupt or stale)."""
    return sorted(json.loads(ds.attrs.get("missing", "[]")) + json.loads(ds.attrs.get("stale", "[]")))


def joints(ds: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    """A BMI run's decoded joints, each as (`` (NAME)`` to add to its row's label, or ``""`` when the
    run decodes one, the run's values of that joint only): a table pools only repeats."""
    n = ds.sizes.get("output", 1)
    if n == 1:
        return [("", ds)]
    names = ds["output"].values if "output" in ds.coords else range(n)
    return [(f" ({name})", ds.isel(output=i)) for i, name in enumerate(names)]


#: The settings that make two BMI runs' scores comparable: the folds and what is decoded.
SAME = ("data", "rotation", "n_train_folds", "target", "dims")


def data_name(ds: xr.Dataset) -> str:
    """``weak:1`` for a synthetic member, a file's name (not its folder) for a data file."""
    data = ds.attrs.get("config_data") or "synthetic:standard:0"
    return data.removeprefix("synthetic:") if data.startswith("synthetic:") else Path(data).name


def span(low: float, high: float, digits: int) -> str:
    """``0.300-0.500``, or ``-0.811 to -0.034`` when ``low`` is negative (``-0.811--0.034`` and
    ``-0.206-0.004`` would be hard to read: FVAF is negative where a decoder is worse than the mean)."""
    return f"{low:.{digits}f}{' to ' if low < 0 else '-'}{high:.{digits}f}"


def spread(values: np.ndarray, digits: int) -> str:
    """``median [min-max]`` (:func:`span`) of the finite ``values``, with ``(k of n)`` when only k
    of the n are finite (the others: jobs missing from the merge); ``- (0 of n)`` when none is."""
    values = np.asarray(values, dtype=float).ravel()
    ok = values[np.isfinite(values)]
    count = "" if ok.size == values.size else f" ({ok.size} of {values.size})"
    if not ok.size:
        return "-" + count
    return f"{np.median(ok):.{digits}f} [{span(ok.min(), ok.max(), digits)}]{count}"
