"""Shared plumbing of the figure library: figure creation, saving, and the reshaping that lets
every plot accept a single run file and a merged experiment alike.

Figures are plain :class:`matplotlib.figure.Figure` objects (not managed by pyplot), so the
library works under any backend (Agg in the CLI, inline in notebooks) and never leaks figures.

Dimensions of a result dataset fall into three kinds:

- *grouping* dims: settings that get their own box / curve / panel (``readout``, ``tau``,
  ``model``, ``n_train_folds`` ...). A setting that a single run file holds only as the
  attribute ``config_<name>`` is promoted to a length-1 dim by :func:`with_settings`, so the
  same code serves a run and a merged grid;
- *per-sample* dims: axes of one value (``epoch``, ``true_class``, ``output``, ``sample`` ...);
- every other dim (``repeat``, ``seed``, ``rotation`` ...) is a *sample* axis: stacked into one
  dim ``sample`` by :func:`stack_samples` and summarised (median, spread).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import numpy as np

from ..atomic_write import WriteFailed, replace_together
from ..errors import ResultError, SnnsimError
from ..results import PENALTY

if TYPE_CHECKING:  # xarray and matplotlib load where a figure is drawn, not for --help or a refusal
    import xarray as xr
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Settings that may be swept in an experiment; each becomes a grouping dim when present.
SETTINGS = (
    "task",
    "backend",
    "readout",
    "tau",
    "model",
    "n_train_folds",
    "hidden",
    "lr",
    "dt",
    "phase",
    "eval",
    "init",
    "epochs",
    "batch_size",
    "target",
    "dims",
    "data",
)
#: Settings whose text values name the setting themselves ("snn", "fused", "dtheta"): labelled
#: by value alone; any other (``delays = none``, ``eval = readout``) with its name.
SELF_NAMED = ("task", "study", "backend", "readout", "model", "target", "data")
#: Dims that index the values of one run, never samples.
PER_SAMPLE_DIMS = (
    "epoch",
    "true_class",
    "pred_class",
    "output",
    "sample",
    "time",
    "input_unit",
    "recorded_neuron",
    "neuron",  # BMI files before 0.3 named the recorded neurons so
    "hidden_unit",
    "output_unit",
    "unit",
    "class",
)
SAMPLE = "sample"
#: Dims that replicate one configuration (seeds, repeats, BMI fold rotations): the only dims a
#: box or curve pools. Any other pooled dim is a swept setting (see :func:`pooled_settings`).
REPLICATE_DIMS = ("repeat", "seed", "rotation")

#: Train / validation / test colours, used by every figure.
SPLIT_COLOURS = {"train": "#1f77b4", "val": "#2ca02c", "test": "#d62728"}
SPLIT_LABELS = {"train": "Training", "val": "Validation", "test": "Test"}
FORMATS = ("png", "svg")

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "snnsim",
    "svg.fonttype": "path",
}


def new_figure(width: float = 6.4, height: float = 4.0, **kwargs: Any) -> Figure:
    """A Figure (constrained layout) outside pyplot, with the library's style."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained", **kwargs)
    return fig


def wrapped(text: str, fig: Figure, fontsize: float = 11.0, width: float | None = None) -> str:
    """``text`` broken into lines that fit the width of ``fig`` (or ``width``, inches) at ``fontsize``
    pt (a title), at spaces outside any parenthesised group that fits on a line: "(n ≤ 2)" is never
    split."""
    chars = max(int((fig.get_figwidth() if width is None else width) * 72 / (0.55 * fontsize)), 20)
    return "\n".join(_fill(line, chars) for line in text.split("\n"))


def _fill(line: str, width: int) -> str:
    """:func:`textwrap.fill` of ``line`` at ``width``, the spaces of each bracketed group of at
    most ``width`` characters held (a longer group breaks at its spaces, as any text)."""
    import textwrap

    glue = "\x1f"  # no space to textwrap, and in no title
    chars, opened = list(line), []
    for i, c in enumerate(line):
        if c == "(":
            opened.append(i)
        elif c == ")" and opened:
            start = opened.pop()
            if i - start < width:
                chars[start:i] = [glue if ch == " " else ch for ch in chars[start:i]]
    return textwrap.fill("".join(chars), width).replace(glue, " ")


def is_bmi(ds: xr.Dataset) -> bool:
    """Whether ``ds`` is a BMI result (a run or a merged experiment)."""
    return ds.attrs.get("study") == "bmi" or "y_pred" in ds


def symmetric_norm(m: np.ndarray) -> Normalize:
    """A colour ``Normalize`` centred on 0 that holds every value of ``m`` (weights)."""
    from matplotlib.colors import Normalize

    lim = float(np.nanmax(np.abs(m))) if np.size(m) else 1.0
    return Normalize(-(lim or 1.0), lim or 1.0)


def styled(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run ``fn`` (which creates artists) under the library's rcParams."""
    import functools

    import matplotlib as mpl

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with mpl.rc_context(RC):
            return fn(*args, **kwargs)

    return wrapper


def widen_for_legend(fig: Figure, legend: Any, axes_width: float) -> None:
    """Widen ``fig`` to ``axes_width`` inches (the axes with their labels) plus the width of its
    ``legend`` beside them, where that is wider than it is: a legend of long labels (a grid over
    several settings, each named) ran off the figure or squeezed the axes to a sliver."""
    import warnings

    with warnings.catch_warnings():  # the layout of the narrow figure, drawn only to measure the legend
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        fig.draw_without_rendering()
    need = axes_width + legend.get_window_extent().width / fig.dpi + 0.2
    if need > fig.get_figwidth():
        fig.set_size_inches(need, fig.get_figheight())


def figure_source(path: str | os.PathLike) -> str:
    """What a figure drawn from result file ``path`` names as its source (``save_figure``'s
    ``source``): the file by its full path and checksum (``data_sha256``, which covers its config,
    seed and versions), and the snnsim that drew it."""
    import h5py

    from .. import __version__
    from ..results import resolve

    path = resolve(path).resolve()
    with h5py.File(path, "r") as f:
        digest = f.attrs.get("data_sha256", "none")
    digest = digest.decode() if isinstance(digest, bytes) else str(digest)
    return f"drawn by snnsim {__version__} from {path} (data_sha256 {digest})"


def save_figure(
    fig: Figure,
    path_stem: str | os.PathLike,
    formats: Sequence[str] = FORMATS,
    dpi: int = 120,
    source: str | None = None,
) -> list[Path]:
    """Write ``fig`` to ``<path_stem>.png`` and ``<path_stem>.svg`` (or ``formats``); return the paths.

    ``source``: what the figure was drawn from (``python -m snnsim.plots``: the result file and its
    ``data_sha256``), kept in each file's metadata: PNG and SVG ``Source``, PDF ``Subject``.

    A suffix on ``path_stem`` that is one of the formats is dropped (``fig.png`` -> ``fig``); a
    format listed twice is written once.
    Folders are created. Every format is deterministic: the same figure gives the same bytes (SVG: fixed hash
    salt; SVG and PDF: no date). The files are
    put in place together (:func:`~snnsim.atomic_write.replace_together`): a figure that cannot be
    written (full disk) leaves the previous one, if any, in every format, and no partial file.
    """
    import matplotlib as mpl

    formats = tuple(dict.fromkeys(formats))  # a format given twice is written once
    stem = Path(path_stem)
    if stem.suffix.lstrip(".") in formats:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    images = []
    with mpl.rc_context(RC):
        for fmt in formats:
            metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "Software": None}}.get(
                fmt, {"Software": None}
            )
            if source is not None:
                metadata["Subject" if fmt == "pdf" else "Source"] = source
            image = io.BytesIO()
            fig.savefig(image, format=fmt, dpi=dpi, metadata=metadata)
            images.append((stem.with_name(f"{stem.name}.{fmt}"), image.getbuffer()))
    try:  # every format or none: a full disk leaves the previous figure, not half of the new one
        return replace_together(images)
    except WriteFailed as exc:  # the path and reason, as any other write error of the command
        raise OSError(exc.errno_, exc.reason, str(exc.path)) from None


def setting_value(ds: xr.Dataset, name: str) -> Any:
    """The value of setting ``name`` of a single run (``config_<name>`` attribute), or None."""
    return ds.attrs.get(f"config_{name}")


class SelectionError(SnnsimError, ValueError):
    """A figure's ``sel`` names a setting or value that the dataset does not hold."""


def require(ds: xr.Dataset, names: Sequence[str], study: str = "ipd") -> None:
    """Refuse (:class:`~snnsim.errors.ResultError`, a ValueError: one line) a dataset without the
    variables ``names`` that a figure of ``study`` draws, not xarray's KeyError: 'no variables
    train_acc, test_acc in the dataset: not an IPD result', or with the metrics there are."""
    if all(n in ds for n in names):
        return
    if study == "ipd" and is_bmi(ds):
        why = ": not an IPD result (a BMI result)"
    else:
        metrics = sorted({str(v)[5:] for v in ds.data_vars if str(v).startswith("test_")})
        why = f" (its test metrics: {', '.join(metrics) or 'none'})"
    raise ResultError(f"no variable{'s' if len(names) > 1 else ''} {', '.join(names)} in the dataset{why}")


def checked_repeat(ds: xr.Dataset, repeat: int | None) -> None:
    """Refuse (:class:`SelectionError`, one line) a ``repeat`` (an index, as numpy's: -1 the last)
    that the dataset's ``repeat`` dim does not have, not numpy's IndexError."""
    n = ds.sizes.get("repeat", 1)
    if repeat is not None and not -n <= repeat < n:
        raise SelectionError(f"repeat: {repeat} is not a repeat here: the dataset has {n} "
                             f"({f'0-{n - 1}' if n > 1 else '0'})")  # fmt: skip


def checked_count(value: int, name: str, what: str) -> None:
    """Refuse (:class:`SelectionError`, one line) a number ``name`` of ``what`` to draw that is not a
    whole number of 1 or more, not matplotlib's "Number of rows must be a positive integer"."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SelectionError(f"{name}: {value!r} is not a number of {what} to draw (give 1 or more)")


def checked_sel(ds: xr.Dataset, sel: dict | None, what: str = "sel") -> dict:
    """``sel`` (a grid point: ``{setting: value}``) checked against ``ds``: a setting that is no
    dim or coordinate of ``ds``, or a value its coordinate does not hold, is refused in one line
    (:class:`SelectionError`) naming what there is, not xarray's KeyError. A setting that every
    run of ``ds`` shares (its ``config_<name>`` attribute: a single run, or a setting not swept)
    is left out where ``sel`` gives that value."""
    out = {}
    for name, value in (sel or {}).items():
        wanted = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
        if name in ds.indexes:
            held = ds.indexes[name].tolist()
            if absent := [v for v in wanted if v not in held]:
                raise SelectionError(f"{what}: {name} = {absent[0]!r} is not in the dataset "
                                     f"({name}: {', '.join(repr(v) for v in held)})")  # fmt: skip
            out[name] = value
        elif name in ds.dims or name in ds.coords:
            out[name] = value
        elif (own := setting_value(ds, name)) is not None:
            own = own.item() if isinstance(own, np.generic) else own
            if any(v != own for v in wanted):
                raise SelectionError(f"{what}: {name} = {wanted[0]!r}: every run here has {name} = {own!r}")
        else:
            dims = [d for d in sample_dims(ds, ()) if d in ds.indexes]
            raise SelectionError(f"{what}: no setting {name!r} in the dataset; select among its dims: "
                                 f"{', '.join(map(str, dims)) or 'none (a single run)'}")  # fmt: skip
    return out


def checked_by(ds: xr.Dataset, by: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``by`` as a tuple of names (one name given as text is that name: ``by="readout"`` was read
    letter by letter). A name that is no dim, coordinate or setting of ``ds`` (nor a setting of
    any run: an older file's own settings are skipped) is refused (:class:`SelectionError`, one
    line) with the names it may mean: ``by=("tua",)`` grouped as if ``by`` were not given."""
    import difflib

    from ..config import field_names

    by = (by,) if isinstance(by, str) else by
    known = {*map(str, ds.dims), *map(str, ds.coords), *field_names()}
    for name in by or ():
        if name in known or setting_value(ds, name) is not None:
            continue
        here = [str(d) for d in sample_dims(ds, ()) if d in ds.indexes]
        close = difflib.get_close_matches(str(name), [*here, *sorted(known - set(here))], n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SelectionError(f"by: no setting {name!r} in the dataset{hint} (its dims: {', '.join(here) or 'none'})")
    return None if by is None else tuple(by)


def with_settings(ds: xr.Dataset, names: Iterable[str]) -> xr.Dataset:
    """Promote settings held only as ``config_<name>`` attributes to length-1 dims.

    A name that is already a dim is kept; a name with neither a dim nor an attribute is skipped.
    """
    for name in names:
        if name in ds.dims:
            continue
        value = setting_value(ds, name)
        if value is None:
            continue
        if name in ds.coords:  # a scalar coordinate left by a .sel()
            ds = ds.expand_dims(name)
        else:
            ds = ds.expand_dims({name: [value]})
    return ds


def grouping_dims(ds: xr.Dataset, by: Sequence[str] | None = None) -> list[str]:
    """The grouping dims of ``ds``: ``by`` when given (those present: the figures refuse a name
    that is no setting first, :func:`checked_by`), else every swept setting."""
    names = SETTINGS if by is None else by
    return [n for n in names if n in ds.dims]


def sample_dims(da: xr.DataArray | xr.Dataset, keep: Iterable[str]) -> list[str]:
    """Dims of ``da`` that are neither in ``keep`` nor per-sample dims: the ones to pool. A dim
    named as a per-sample dim and as a setting, whose coordinate holds text, is that swept setting
    (``neuron = ["notebook", "standard"]``, not a BMI run's recorded neurons)."""
    from ..config import field_names

    settings = {d for d in PER_SAMPLE_DIMS if d in field_names() and d in da.coords and da[d].dtype.kind in "OUS"}
    keep = set(keep) | (set(PER_SAMPLE_DIMS) - settings)
    return [d for d in da.dims if d not in keep]


def pooled_settings(da: xr.DataArray, keep: Iterable[str]) -> list[str]:
    """Dims that pooling ``da`` over everything but ``keep`` would mix: pooled dims that are not
    replicates (:data:`REPLICATE_DIMS`) and hold values at more than one coordinate for some
    point of the kept dims (a setting of a union of grids, one value per point, is not mixed)."""
    keep = [d for d in keep if d in da.dims]
    out = []
    for d in sample_dims(da, keep):
        if d in REPLICATE_DIMS or da.sizes[d] < 2:
            continue
        other = [o for o in da.dims if o not in (d, *keep)]
        present = da.notnull().any(other) if other else da.notnull()
        if bool((present.sum(d) > 1).any()):
            out.append(d)
    return out


def refuse_pooled_settings(da: xr.DataArray, keep: Iterable[str]) -> None:
    """Raise ValueError naming the settings that pooling ``da`` outside ``keep`` would mix."""
    mixed = pooled_settings(da, keep)
    if mixed:
        values = "; ".join(f"{d}: {', '.join(repr(v) for v in da[d].values.tolist())}" for d in mixed)
        d = mixed[0]
        raise ValueError(f"would pool different settings ({values}); select one first, e.g. "
                         f"ds.sel({d}={da[d].values.tolist()[0]!r})")  # fmt: skip


def stack_samples(da: xr.DataArray, keep: Iterable[str]) -> xr.DataArray:
    """Stack every pooled dim of ``da`` into one dim ``sample`` (length 1 if there is none).

    Index coordinates of the pooled dims are dropped so the result is a plain array.
    """
    dims = sample_dims(da, keep)
    if SAMPLE in da.dims:
        raise ValueError("stack_samples: the array already has a 'sample' dim")
    if not dims:
        return da.expand_dims(SAMPLE)
    stacked = da.stack({SAMPLE: dims})
    return stacked.drop_vars([SAMPLE, *dims], errors="ignore")


def group_keys(ds: xr.Dataset, dims: Sequence[str]) -> list[dict]:
    """Every combination of the coordinate values of ``dims`` (outer product, in order)."""
    keys: list[dict] = [{}]
    for d in dims:
        keys = [{**k, d: v} for k in keys for v in ds[d].values.tolist()]
    return keys


def first_trained(w1: xr.DataArray) -> dict | None:
    """The first grid point (``{setting: value}``, empty for one run) whose weights exist: a
    merge with ``--allow-missing`` leaves NaN where a job was not run; None if none was."""
    own = [d for d in w1.dims if d in ("repeat", "input_unit", "hidden_unit")]
    trained = w1.notnull().any(own)
    points = np.argwhere(np.atleast_1d(trained.values))
    if not len(points):
        return None
    return {d: w1[d].values[i].item() for d, i in zip(trained.dims, points[0])}


def merge_holes(ds: xr.Dataset) -> str:
    """For a merge with holes (``sweep merge --allow-missing``): '3 of 12 jobs missing from the
    merge (0,10-11), left out'; '' for a complete merge or a single run."""
    import json

    from ..sweep.jobs import array_spec

    try:
        missing = sorted(set(json.loads(ds.attrs.get("missing", "[]")) + json.loads(ds.attrs.get("stale", "[]"))))
    except (TypeError, ValueError):
        return ""
    if not missing:
        return ""
    of = f" of {int(ds.attrs['n_jobs'])}" if "n_jobs" in ds.attrs else ""
    return f"{len(missing)}{of} {'job' if len(missing) == 1 and not of else 'jobs'} missing from the merge " \
           f"({array_spec(missing)}), left out"  # fmt: skip


def is_duration(name: str) -> bool:
    """Whether setting ``name`` is a duration (seconds in files, ms in names and labels):
    ``tau``, ``dt``, ``duration``, ``max_delay``, ``tau_syn`` ..."""
    from ..config import DURATION_FIELDS

    return name.startswith("tau_") or name in DURATION_FIELDS


def format_setting(name: str, value: Any) -> str:
    """Human text for one setting value: durations in ms, readout names as in the notebook."""
    if name == "tau":
        return f"τ = {float(value) * 1e3:g} ms"
    if name == "readout":
        return {"mean": "mean (oc)"}.get(str(value), str(value))
    if name == "n_train_folds":
        return f"{value} training fold{'s' if value != 1 else ''}"
    if is_duration(name):
        return f"{name} = {float(value) * 1e3:g} ms"
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return f"{name} = {value}"
    if isinstance(value, float):
        return f"{name} = {value:g}"
    if name in SELF_NAMED and any(c.isalpha() for c in str(value)):  # "snn", "fused", "dtheta": no name needed
        return str(value)
    return f"{name} = {value}"  # "0,1" (dims); "none" (delays), "readout" (eval), "notebook" (init, neuron)


def described(ds: xr.Dataset, key: dict) -> dict:
    """``key`` (a grid point: ``{dim: value}``) with the settings that follow its dims, for a
    label: a coordinate along a swept dim (``lr`` along ``readout`` in a union of grids, the
    sampled ``lr`` and ``tau`` along a tuning's ``trial``) gets its value at the point. Select
    with ``key`` itself: such a coordinate is no index."""
    out = dict(key)
    for name, coord in ds.coords.items():
        if name in ds.dims or name in out or coord.ndim != 1 or coord.dims[0] not in key:
            continue
        dim = coord.dims[0]
        out[name] = coord.sel({dim: key[dim]}).values.item()
    return out


def format_key(key: dict, sep: str = ", ") -> str:
    return sep.join(format_setting(k, v) for k, v in key.items())


def finite(values: ArrayLike) -> np.ndarray:
    """A flat float array without NaN/inf."""
    v = np.asarray(values, dtype=float).ravel()
    return v[np.isfinite(v)]


#: Units of a dimensionless quantity: no unit mark on an axis ("FVAF", "Fraction of ...", "Weight").
DIMENSIONLESS = ("", "1")


def with_units(label: str, units: Any) -> str:
    """An axis label: ``label (units)``, or ``label`` alone for a dimensionless quantity (units
    '' or '1', :data:`DIMENSIONLESS`), as every figure draws FVAF, fractions, weights and losses."""
    units = "" if units is None else str(units)
    return label if units in DIMENSIONLESS else f"{label} ({units})"


def units_of(da: xr.DataArray, default: str = "") -> str:
    return str(da.attrs.get("units", default))


CURVE_LABELS = {
    "loss": "Training loss",
    "val_loss": "Validation loss",
    "val_fvaf_curve": "Validation FVAF",
    "train_loss": "Training loss",
    "hidden_rate_curve": "Hidden firing rate",
}


def curve_label(name: str) -> str:
    """The row label of per-epoch variable ``name``: :data:`CURVE_LABELS`, the learning rate's
    from the config's help of ``--lr`` (whose optimiser it is: "Adam learning rate"), else the
    name in words."""
    if name == "lr_curve":
        from ..config import metadata

        help_text = metadata("lr")["help"]
        return help_text[0].upper() + help_text[1:]
    return CURVE_LABELS.get(name, name.replace("_", " "))


def kind_of(da: xr.DataArray, ds: xr.Dataset | None = None) -> str:
    """What the long name of a per-epoch curve says in brackets before its first ';':
    "MSE, z-scored targets" of "mean training loss (MSE, z-scored targets); NaN after ...". Of a
    merge whose jobs' long names differ (joined by " | "), each kind, joined the same way; the
    loss of jobs with and without ``--rate-reg`` as ``ds``'s ``rate_reg`` says: the penalty in
    every point drawn, in none, or "where rate_reg > 0"."""
    kinds: dict[str, None] = {}
    for text in str(da.attrs.get("long_name", "")).split(" | "):
        head = text.split(";")[0]
        start, end = head.find("("), head.rfind(")")
        kinds[head[start + 1 : end] if 0 <= start < end else ""] = None
    bases = {kind.removesuffix(PENALTY) for kind in kinds}
    if len(kinds) > 1 and len(bases) == 1 and ds is not None and "rate_reg" in ds.coords:
        reg = np.atleast_1d(ds["rate_reg"].values)
        penalty = "" if not (reg > 0).any() else PENALTY if (reg > 0).all() else f"{PENALTY} where rate_reg > 0"
        return bases.pop() + penalty
    return " | ".join(kind for kind in kinds if kind)


def curve_summary(da: xr.DataArray, keep: Sequence[str], q: tuple[float, float] = (25, 75)) -> dict:
    """Median and percentile band over the pooled dims of ``da`` along the kept dims; ``n``: the
    most values (not NaN) pooled at one point. Pooling different settings is refused (ValueError)."""
    refuse_pooled_settings(da, keep)
    stacked = stack_samples(da, keep).transpose(..., "sample")
    v = stacked.values.astype(float)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {
                "median": np.nanmedian(v, axis=-1),
                "low": np.nanpercentile(v, q[0], axis=-1),
                "high": np.nanpercentile(v, q[1], axis=-1),
                "n": int(np.isfinite(v).sum(-1).max(initial=0)),
            }


def colours(n: int) -> list:
    """``n`` distinct colours (tab10, or tab20 beyond 10)."""
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
