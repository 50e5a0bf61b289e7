"""Accuracy (IPD) or FVAF (BMI) against the synaptic operations a model needs per sample, one
marker per grid point of a merged sweep (the cost variables of :mod:`snnsim.costs`).

:func:`cost_figure` draws, for every combination of the swept settings (readout x tau, model x
training folds ...), the median over repeats (and every other pooled dim: seed, rotation ...) of
the operations (x, log scale) and of the metric (y), with error bars from the lower to the upper
quartile of those samples on both axes (as the boxplots; within the values, so an accuracy's bar
never runs below 0 %).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .common import (
    REPLICATE_DIMS,
    checked_by,
    colours,
    described,
    format_key,
    format_setting,
    group_keys,
    grouping_dims,
    merge_holes,
    new_figure,
    pooled_settings,
    refuse_pooled_settings,
    sample_dims,
    stack_samples,
    styled,
    widen_for_legend,
    with_settings,
    with_units,
    wrapped,
)

#: ``ops`` choices: (cost variables summed, axis label).
#: The legend goes beside the axes, in columns of LEGEND_ROWS entries: inside them it covered
#: points (a BMI grid of 3 models x 9 training-set sizes has 27) or, at loc="best", the error
#: bars of a grid of 4.
LEGEND_ROWS = 14
OPS = {
    "effective": (
        ("synops_eff_acs", "synops_eff_macs"),
        "Effective synaptic operations (ACs + MACs per sample)",
    ),
    "acs": (("synops_eff_acs",), "Effective synaptic accumulates (ACs per sample)"),
    "macs": (("synops_eff_macs",), "Effective synaptic multiply-accumulates (MACs per sample)"),
    "dense": (("synops_dense",), "Dense synaptic operations (MACs per sample)"),
}
#: Metrics drawn by default, the first present: IPD test accuracy, else BMI test FVAF.
METRICS = ("test_acc", "test_fvaf")
#: The error bars' ends and the marker: lower quartile, median, upper quartile.
QUARTILES = (25, 50, 75)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def _metric_label(ds: xr.Dataset, metric: str, output: int | str | None) -> tuple[str, str]:
    """(axis label, short name) of ``metric``."""
    split, _, kind = metric.partition("_")
    split_name = {"train": "Training", "val": "Validation", "test": "Test"}.get(split, split)
    if kind == "acc":
        return f"{split_name} accuracy ({ds[metric].attrs.get('units', '%')})", f"{split_name.lower()} accuracy"
    if kind == "fvaf":
        from .bmi import target_label

        # a merge over dims: a point of one joint is that joint's FVAF, not a mean of both
        each = "dims" in ds.dims and ds.sizes["dims"] > 1
        of = target_label(ds, output)[0].lower() if output is not None else \
            "the mean over the outputs each point decodes" if each else "the mean over outputs"  # fmt: skip
        return f"{split_name} FVAF of {of}", f"{split_name.lower()} FVAF"  # no "(1)": as Figure 2a
    return with_units(metric, ds[metric].attrs.get("units")), metric


def _valueless_note(ds: xr.Dataset, keys: list[dict], ylabel: str) -> str:
    """'2 grid points without test FVAF of shoulder velocity, left out: ann, dims = 1; linear,
    dims = 1' (points that ran but have no value of the metric drawn)."""
    what = ylabel.rsplit(" (", 1)[0]
    what = what[0].lower() + what[1:]
    where = "; ".join(format_key(described(ds, k)) for k in keys)
    return f"{len(keys)} grid point{'s' if len(keys) != 1 else ''} without {what}, left out: {where}"


def _pooled(da: xr.DataArray, dims: Sequence[str], key: dict) -> np.ndarray:
    """The values of grid point ``key`` as one flat array over the pooled dims (repeat, seed ...)."""
    da = da.sel(key) if key else da
    return stack_samples(da, dims).transpose(..., "sample").values.astype(float).ravel()


@styled
def cost_figure(
    ds: xr.Dataset,
    metric: str | None = None,
    ops: str = "effective",
    by: str | Sequence[str] | None = None,
    output: int | str | None = 0,
    title: str | None = None,
) -> Figure:
    """``metric`` (default: ``test_acc``, else ``test_fvaf``) against synaptic operations per
    sample (``ops``: ``effective`` = ACs + MACs, ``acs``, ``macs`` or ``dense``; see
    :mod:`snnsim.costs`), one marker per grid point of the settings ``by`` (default: every swept
    setting present; a ``by`` that leaves another varying setting to pool is refused), at the median over repeats and every other pooled dim, with error bars from
    the lower to the upper quartile (none for a single sample). FVAF is that of output ``output``
    (None: the mean over outputs).

    A BMI grid over ``n_train_folds`` and ``rotation`` pools the rotations run at every number of
    training folds (:func:`snnsim.plots.bmi.complete_rotations`, as Figures 2a/2b).
    Samples where the operations or the metric are NaN (missing grid points) are left out; a grid
    point without any sample gets no marker. The x axis is logarithmic. ``fig.snnsim_points``
    lists the points drawn, in order: dicts with ``key``, ``x``, ``y``, ``xerr``, ``yerr``, ``n``;
    point ``i``'s marker is the line of gid ``point:i``.
    """
    from .bmi import _pick_output, complete_rotations, in_run_order

    if ops not in OPS:
        raise ValueError(f"ops {ops!r}: expected one of {', '.join(OPS)}")
    names, xlabel = OPS[ops]
    missing = [n for n in names if n not in ds]
    if missing:
        raise ValueError(f"no cost variable {missing[0]!r} in the dataset (results of an older snnsim?)")
    if metric is None:
        metric = next((m for m in METRICS if m in ds), None)
        if metric is None:
            raise ValueError(f"no metric to draw: none of {', '.join(METRICS)} in the dataset")
    elif metric not in ds:
        raise ValueError(f"no variable {metric!r} in the dataset")
    rotations = complete_rotations(ds, metric)  # as Figure 2a: a rotation run at some sizes only
    if rotations is not None:  # (bmi_training_size's rotation 5 at 18 folds) would change the sample there
        ds = ds.sel(rotation=rotations)
    by = checked_by(ds, by)
    ds = in_run_order(with_settings(ds, by or ()))  # output 0 of a merge over dims: the shoulder, as in a run
    dims = grouping_dims(ds, by)
    x_da = sum(ds[n] for n in names)
    y_da = ds[metric]
    if "output" in y_da.dims:
        y_da = y_da.mean("output") if output is None else _pick_output(y_da, output)
    x_da, y_da = xr.broadcast(x_da, y_da)
    y_da = y_da.transpose(*x_da.dims)
    if by is None:
        dims += pooled_settings(y_da, dims)
    refuse_pooled_settings(y_da, dims)
    refuse_pooled_settings(x_da, dims)  # dims [1] has operations but no shoulder FVAF: not seen in y
    ylabel, short = _metric_label(ds, metric, output)

    keys = group_keys(ds, dims)
    fig = new_figure(6.4, 4.2)
    ax = fig.subplots()
    palette = colours(len(keys))
    first = ds[dims[0]].values.tolist() if dims else []
    points: list[dict[str, Any]] = []
    valueless: list[dict] = []
    for i, key in enumerate(keys):
        x, y = _pooled(x_da, dims, key), _pooled(y_da, dims, key)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any() and np.isfinite(x).any():  # it ran, but has no value of the metric (a job of dims [1]
            valueless.append(key)  # has no shoulder FVAF): said in the title, not dropped silently
        x, y = x[ok], y[ok]
        if not x.size:
            continue
        # median and quartiles, as the boxplots: within the values (mean - s.d. ran below 0 % accuracy)
        (x_low, x_mid, x_high), (y_low, y_mid, y_high) = np.percentile(x, QUARTILES), np.percentile(y, QUARTILES)
        point = {"key": key, "x": x_mid, "y": y_mid, "xerr": (x_mid - x_low, x_high - x_mid),
                 "yerr": (y_mid - y_low, y_high - y_mid)}  # fmt: skip
        point["n"] = int(x.size)
        marker = MARKERS[first.index(key[dims[0]]) % len(MARKERS)] if dims else MARKERS[0]
        bars = ax.errorbar(
            point["x"],
            point["y"],
            xerr=np.reshape(point["xerr"], (2, 1)),
            yerr=np.reshape(point["yerr"], (2, 1)),
            fmt=marker,
            color=palette[i],
            markersize=5,
            capsize=2,
            elinewidth=0.8,
            label=format_key(described(ds, key)) if key else str(ds.attrs.get("experiment", "run")),
        )
        bars.lines[0].set_gid(f"point:{len(points)}")
        points.append(point)
    if not points:
        raise ValueError(f"no grid point with finite {metric} and operations")
    if min(p["x"] for p in points) <= 0:
        raise ValueError(f"{ops} synaptic operations are 0 at some grid point: no log axis (try ops='dense')")
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    if np.log10(high / low) < 1:  # less than a decade: plain ticks, not a crowd of minor labels
        from matplotlib import ticker

        # 1, 2, 5 x 10^k where that gives 3 ticks, else every k x 10^k, else 5 linear ones (MaxNLocator
        # alone, linear, put 2000 ... 8000 on 900-8500 and left its minor ticks, 900 and 1000, unlabelled)
        choices = (ticker.LogLocator(subs=(1.0, 2.0, 5.0)), ticker.LogLocator(subs=np.arange(1.0, 10.0)))
        fits = (c for c in choices if sum(low <= t <= high for t in c.tick_values(low, high)) >= 3)
        ax.xaxis.set_major_locator(next(fits, ticker.MaxNLocator(5)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(ticker.NullLocator())  # every tick drawn is labelled
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    n_max = max(p["n"] for p in points)
    pooled = sample_dims(x_da, dims)
    over = ", ".join(d for d in pooled if x_da.sizes[d] > 1)  # one rotation: not pooled
    summary = f"median and quartiles over {over} (n ≤ {n_max})" if over else "one model per point"
    fixed = [format_setting(d, x_da[d].values[0].item()) for d in pooled  # one dims: named, as Figure 2a
             if x_da.sizes[d] == 1 and d not in REPLICATE_DIMS and d in x_da.coords]  # fmt: skip
    at = f" ({', '.join(fixed)})" if fixed else ""
    ax.set_title(
        wrapped(
            title or f"{short[0].upper()}{short[1:]} against synaptic operations{at}: {summary}",
            fig,
            10,
        )
        + (f"\n{holes}" if (holes := merge_holes(ds)) else "")  # grid points left out: say so
        + (f"\n{wrapped(_valueless_note(ds, valueless, ylabel), fig, 10)}" if valueless else "")
    )
    ncol = math.ceil(len(points) / LEGEND_ROWS)  # beside the axes, on a figure widened for it
    fig.set_size_inches(6.4 + 2.2 * ncol, 4.2)  # after the title, wrapped to the axes' width
    legend_title = ", ".join(dims) if dims else None
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=ncol, frameon=False, title=legend_title)
    widen_for_legend(fig, legend, 6.4)  # long labels: more than 2.2 inches a column
    fig.snnsim_points = points
    return fig
