"""Figures of the IPD readout study (the readout notebook's figures, from result datasets).

- :func:`accuracy_boxplot`, :func:`error_boxplot`: training and test accuracy / absolute error
  per readout x tau, means marked (the notebook's two boxplots);
- :func:`training_curves`: training loss per epoch, median and spread over repeats;
- :func:`confusion_figure`: true-vs-estimated IPD histogram and confusion matrix;
- :func:`input_raster`: spike rasters of a few IPD stimuli (the notebook's 2x4 panel);
- :func:`weight_matrices`, :func:`hidden_weight_profiles`: hidden-layer weights re-ordered
  by their weighted mean input index, as in the notebook.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from ..cli import plural
from ..errors import ResultError
from ..results import PENALTY
from .common import (
    DIMENSIONLESS,
    SPLIT_COLOURS,
    SPLIT_LABELS,
    checked_by,
    checked_count,
    checked_repeat,
    checked_sel,
    colours,
    curve_label,
    curve_summary,
    described,
    finite,
    format_key,
    format_setting,
    group_keys,
    grouping_dims,
    is_bmi,
    kind_of,
    merge_holes,
    new_figure,
    pooled_settings,
    refuse_pooled_settings,
    require,
    sample_dims,
    stack_samples,
    styled,
    symmetric_norm,
    widen_for_legend,
    with_settings,
    with_units,
    wrapped,
)
from .costs import LEGEND_ROWS

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..encoders.ipd import IPDStimulus

#: A legend beside the axes (at loc="best" inside them it could lie over a box or a curve).
BESIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "frameon": False}

#: The notebook's comparison: one box pair per readout x tau.
READOUT_GROUPS = ("readout", "tau")

#: horizontal boxes: ``orientation`` from matplotlib 3.10 (``vert`` is deprecated there), ``vert`` before
HORIZONTAL = (
    {"orientation": "horizontal"}
    if tuple(int(x) for x in matplotlib.__version__.split(".")[:2]) >= (3, 10)
    else {"vert": False}
)


# ---------------------------------------------------------------------------------------------
# readout comparison boxplots


def metric_samples(ds: xr.Dataset, metric: str, by: str | Sequence[str] = READOUT_GROUPS) -> dict:
    """``{group key: {"train": values, "test": values}}`` for ``<split>_<metric>``.

    ``metric`` is ``acc`` or ``err_deg``. Groups are the combinations of the ``by`` dims (a
    single run's ``config_readout`` / ``config_tau`` count as length-1 dims) and of every other
    swept setting that varies (``recurrent``, ``tau_syn`` ...: :func:`pooled_settings`); only
    replicates (repeat, seed) are pooled; NaN (missing grid points) is dropped. Groups without
    any value are left out. A ``by`` name that is no dim, coordinate or setting (``"tua"``) is
    refused in one line with the names it may mean (:func:`~snnsim.plots.common.checked_by`).
    """
    by = checked_by(ds, by)
    require(ds, (f"train_{metric}", f"test_{metric}"))
    ds = with_settings(ds, by)
    dims = grouping_dims(ds, by)
    dims += pooled_settings(ds[f"test_{metric}"], dims)
    out = {}
    for key in group_keys(ds, dims):
        sub = ds.sel(key) if key else ds
        values = {split: finite(stack_samples(sub[f"{split}_{metric}"], ()).values) for split in ("train", "test")}
        if any(v.size for v in values.values()):
            out[tuple(key.items())] = values
    return out


@styled
def metric_boxplot(
    ds: xr.Dataset,
    metric: str,
    by: str | Sequence[str] = READOUT_GROUPS,
    ylabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """Boxplot of ``train_<metric>`` and ``test_<metric>`` per group, means marked (white dots).

    Boxes are drawn in group order, training then test within a group; ``fig.snnsim_boxes``
    records ``(group label, split, values)`` of each box in drawing order, and the box patch,
    median line and mean marker of group ``g`` carry the gids ``box:<split>:<g>``,
    ``median:<split>:<g>`` and ``mean:<split>:<g>``.
    """
    by = checked_by(ds, by)  # one name as text: that name
    groups = metric_samples(ds, metric, by)
    if not groups:
        raise ValueError(f"no values of train_{metric}/test_{metric} to plot")
    labelled = with_settings(ds, by)
    labels = [format_key(described(labelled, dict(k)), "\n") for k in groups]
    fig = new_figure(max(4.5, 1.1 * len(groups) + 1.5) + 1.2, 3.8)  # + the legend beside the axes
    ax = fig.subplots()
    boxes = []
    for g, values in enumerate(groups.values()):
        label = labels[g]
        for s, split in enumerate(("train", "test")):
            v = values[split]
            if not v.size:
                continue
            pos = g + (s - 0.5) * 0.38
            art = ax.boxplot(
                [v],
                positions=[pos],
                widths=0.32,
                patch_artist=True,
                showmeans=True,
                meanprops=dict(marker="o", markerfacecolor="white", markeredgecolor="black", markersize=5),
                medianprops=dict(color="black"),
                flierprops=dict(marker=".", markersize=4, markeredgecolor=SPLIT_COLOURS[split]),
            )
            for patch in art["boxes"]:
                patch.set_facecolor(SPLIT_COLOURS[split])
                patch.set_alpha(0.55)
                patch.set_gid(f"box:{split}:{g}")
            art["medians"][0].set_gid(f"median:{split}:{g}")
            art["means"][0].set_gid(f"mean:{split}:{g}")
            boxes.append((label, split, v))
    ax.set_xticks(range(len(groups)), labels)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_xlabel(group_label([name for name, _ in next(iter(groups))]))
    ax.set_ylabel(ylabel or metric)
    n = max(len(v) for vals in groups.values() for v in vals.values())
    ax.set_title(wrapped(title or metric, fig, 10))
    handles = [Patch(facecolor=SPLIT_COLOURS[s], alpha=0.55, label=SPLIT_LABELS[s]) for s in ("train", "test")]
    handles.append(
        Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="black", label="mean")
    )
    ax.legend(handles=handles, **BESIDE)
    note = f"boxes: median, quartiles, 1.5 IQR whiskers; up to {plural(n, 'training')} per box"
    if holes := merge_holes(ds):
        note += f"\n{holes}"
    fig.supxlabel(note, x=0.01, ha="left", fontsize=7, color="0.4")  # laid out below the axes
    _widen_for_labels(fig, ax, len(groups))
    fig.snnsim_boxes = boxes
    return fig


def _widen_for_labels(fig: Figure, ax: matplotlib.axes.Axes, n: int) -> None:
    """Widen ``fig`` where its ``n`` box labels need more room than their share of the axis (1.1
    inches a box pair): lines such as "envelope_power = 3.5" ran into the next box's label."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        fig.draw_without_rendering()
    widest = max(t.get_window_extent().width for t in ax.get_xticklabels()) / fig.dpi
    short = n * (widest + 0.15) - ax.get_window_extent().width / fig.dpi
    if short > 0:
        fig.set_size_inches(fig.get_figwidth() + short, fig.get_figheight())


AXIS_NAMES = {"readout": "readout", "tau": "membrane time constant"}


def group_label(dims: Sequence[str]) -> str:
    """Axis label of boxes grouped by ``dims``: 'Readout, membrane time constant, recurrent'."""
    text = ", ".join(AXIS_NAMES.get(d, d) for d in dims) or "run"
    return text[0].upper() + text[1:]


@styled
def accuracy_boxplot(ds: xr.Dataset, by: str | Sequence[str] = READOUT_GROUPS) -> Figure:
    """Training and test accuracy (%) per readout x tau, with the chance level (100/classes; each
    box pair its own in a grid over ``n_classes``)."""
    by = checked_by(ds, by)  # one name as text: that name
    fig = metric_boxplot(ds, "acc", by, ylabel="Accuracy (%)", title="IPD classification accuracy")
    ax = fig.axes[0]
    n_classes = ds.sizes.get("true_class") or ds.attrs.get("config_n_classes")
    labelled = with_settings(ds, by)
    per_box = [described(labelled, dict(k)).get("n_classes") for k in metric_samples(ds, "acc", by)]
    if per_box and None not in per_box and len(set(per_box)) > 1:  # a grid over n_classes: each point's chance
        y = [100 / float(n) for n in per_box]
        g = np.arange(len(per_box))
        ax.hlines(y, g - 0.5, g + 0.5, color="0.5", linestyle=":", linewidth=1, label="chance", zorder=0)
        handles = ax.get_legend().legend_handles + [ax.collections[-1]]
        ax.legend(handles=handles, **BESIDE)
    elif n_classes:
        ax.axhline(100 / float(per_box[0] if per_box and per_box[0] else n_classes), color="0.5", linestyle=":",
                   linewidth=1, label="chance", zorder=0)  # fmt: skip
        handles = ax.get_legend().legend_handles + [ax.lines[-1]]
        ax.legend(handles=handles, **BESIDE)
    return fig


def error_boxplot(ds: xr.Dataset, by: str | Sequence[str] = READOUT_GROUPS) -> Figure:
    """Training and test mean absolute IPD error (deg) per readout x tau."""
    return metric_boxplot(ds, "err_deg", by, ylabel="Mean absolute IPD error (deg)", title="IPD absolute error")


# ---------------------------------------------------------------------------------------------
# training curves


@styled
def training_curves(
    ds: xr.Dataset,
    variable: str = "loss",
    by: str | Sequence[str] | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    q: tuple[float, float] = (25, 75),
) -> Figure:
    """``variable`` (default the training loss) per epoch: one median line per group, the
    ``q`` percentile band over repeats (and every other pooled dim) shaded.

    ``by`` defaults to the swept settings present (readout, tau, model, recurrent ...); a ``by``
    that leaves another varying setting to pool is refused (ValueError), as is a misspelled
    name (``"tua"``, :func:`~snnsim.plots.common.checked_by`). ``ax.lines[i]``
    is group ``i``'s median curve; ``fig.snnsim_groups`` lists the group keys in that order. A
    group with no data (its jobs missing from a merge) is left out.
    """
    if variable not in ds:
        raise ValueError(f"no variable {variable!r} in the dataset")
    by = checked_by(ds, by)
    ds = with_settings(ds, READOUT_GROUPS if by is None and "true_class" in ds.dims else (by or ()))
    dims = grouping_dims(ds, by)
    if by is None:
        dims += pooled_settings(ds[variable], dims)
    fig = new_figure(6.0, 3.8)
    ax = fig.subplots()
    keys = group_keys(ds, dims)
    palette = colours(len(keys))
    n_max, drawn = 0, []
    for i, key in enumerate(keys):
        da = ds[variable].sel(key) if key else ds[variable]
        s = curve_summary(da, ("epoch",), q)
        if np.isnan(s["median"]).all():  # every job of the group is a hole of the merge: no line, no legend entry
            continue
        drawn.append(key)
        n_max = max(n_max, s["n"])
        epochs = ds["epoch"].values
        ax.plot(
            epochs,
            s["median"],
            color=palette[i],
            marker="o",
            markersize=3,
            label=format_key(described(ds, key)) or "median",
        )
        ax.fill_between(epochs, s["low"], s["high"], color=palette[i], alpha=0.2, linewidth=0)
    ax.set_xlabel("Epoch")
    if ylabel is None and variable == "loss" and "confusion" in ds:
        ylabel = "Mean training loss (NLL" + _penalty_note(ds) + ")"
    elif ylabel is None and " | " in str(ds[variable].attrs.get("long_name", "")):  # jobs' long names differ
        units = ds[variable].attrs.get("units")
        kind = kind_of(ds[variable], ds) if str(units or "") in DIMENSIONLESS else ""
        ylabel = with_units(curve_label(variable) + (f" ({kind})" if kind else ""), units)
    ax.set_ylabel(ylabel or _variable_label(ds[variable]))
    holes = merge_holes(ds)  # a group left out above: say so, as the boxplots' footnote
    ax.set_title(
        wrapped(title or f"Training curves: median, {q[0]:g}–{q[1]:g}th percentile shaded (n ≤ {n_max})", fig, 10)
        + (f"\n{holes}" if holes else "")
    )
    if len(ds["epoch"]) <= 20:
        ax.set_xticks(ds["epoch"].values)
    ncol = math.ceil(len(drawn) / LEGEND_ROWS)  # beside the axes (inside, at loc="best", it could hide a curve),
    fig.set_size_inches(6.0 + 2.2 * ncol, 3.8)  # on a figure widened for it, after the title was wrapped
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=ncol, frameon=False)
    widen_for_legend(fig, legend, 6.0)  # long labels: more than 2.2 inches a column
    fig.snnsim_groups = drawn
    return fig


def _penalty_note(ds: xr.Dataset) -> str:
    """What an IPD ``loss`` holds besides the NLL: the firing-rate penalty of ``--rate-reg``
    (added to the loss it trains on), in every run or where ``rate_reg`` (swept) is above 0."""
    reg = np.atleast_1d(ds["rate_reg"].values if "rate_reg" in ds.coords else ds.attrs.get("config_rate_reg", 0.0))
    if not (reg > 0).any():
        return ""
    return PENALTY if (reg > 0).all() else f"{PENALTY} where rate_reg > 0"


LABELS = {"loss": "training loss", "val_loss": "validation loss", "train_loss": "training loss"}


def _variable_label(da: xr.DataArray) -> str:
    name = da.attrs.get("long_name") or LABELS.get(str(da.name), da.name)
    name = str(name)[0].upper() + str(name)[1:]
    return with_units(name, da.attrs.get("units"))


# ---------------------------------------------------------------------------------------------
# confusion matrix and histogram


def confusion_counts(ds: xr.Dataset, sel: dict | None = None, repeat: int | None = None) -> xr.DataArray:
    """Test confusion counts (true_class, pred_class), summed over every dim left after ``sel``
    (and ``repeat``, when given: one trained model)."""
    da = ds["confusion"]
    if sel:
        da = da.sel(sel)
    if repeat is not None:
        da = da.isel(repeat=repeat) if "repeat" in da.dims else da
    pooled = [d for d in da.dims if d not in ("true_class", "pred_class")]
    return da.sum(pooled, skipna=True) if pooled else da


def _pooled_models(ds: xr.Dataset, sel: dict | None, repeat: int | None) -> str:
    """What the counts of :func:`confusion_counts` pool: "one model", or "4 models pooled over
    seed, repeat" (trained models only: a merge's holes are not counted)."""
    da = ds["confusion"].sel(sel) if sel else ds["confusion"]
    if repeat is not None and "repeat" in da.dims:
        da = da.isel(repeat=repeat)
    pooled = [d for d in da.dims if d not in ("true_class", "pred_class") and da.sizes[d] > 1]  # one repeat: none
    models = int(da.notnull().any(("true_class", "pred_class")).sum())
    return "one model" if models == 1 else f"{models} models pooled over {', '.join(pooled)}"


@styled
def confusion_figure(
    ds: xr.Dataset, sel: dict | None = None, repeat: int | None = None, title: str | None = None
) -> Figure:
    """Left: histogram of true and estimated test IPDs (class counts at the bin midpoints).
    Right: confusion matrix, each true-IPD column normalised to 1 (the notebook's layout:
    x true IPD, y estimated IPD, origin lower, -90..90 deg).

    ``sel`` picks one grid point of a merged experiment (e.g. ``{"readout": "fr", "tau": 0.002}``);
    ``repeat`` one trained model; otherwise the counts of all remaining runs are pooled (seeds
    and repeats only: a ``sel`` that leaves a varying setting is refused, ValueError).
    """
    require(ds, ("confusion",))
    checked_repeat(ds, repeat)
    sel = checked_sel(ds, sel) or None
    refuse_pooled_settings(ds["confusion"].sel(sel) if sel else ds["confusion"], ("true_class", "pred_class"))
    counts = confusion_counts(ds, sel, repeat).transpose("true_class", "pred_class").values.astype(float)
    mids = None
    if "class_ipd_deg" in ds.coords:  # a grid over n_classes: each point's own midpoints (stacked over
        da = ds["class_ipd_deg"].sel({k: v for k, v in (sel or {}).items() if k in ds["class_ipd_deg"].dims})
        rows = da.transpose(..., "true_class").values.reshape(-1, da.sizes["true_class"])  # the swept dims)
        rows = rows[~np.isnan(rows).all(1)]
        if len(rows) and all(np.array_equal(r, rows[0], equal_nan=True) for r in rows):
            keep = ~np.isnan(rows[0])  # and its fewer classes padded with NaN to the grid's most
            mids, counts = rows[0][keep], counts[np.ix_(keep, keep)]
    n_classes = counts.shape[0]
    width = 180.0 / n_classes
    if mids is None:
        mids = -90 + width * (np.arange(n_classes) + 0.5)
    true_hist = counts.sum(axis=1)
    est_hist = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = counts.T / true_hist[None, :]  # rows: estimated class, columns: true class
    fig = new_figure(10.0, 3.8)  # + the histogram's legend beside its axes
    ax_h, ax_c = fig.subplots(1, 2)
    ax_h.bar(mids, true_hist, width=width, alpha=0.6, color="#1f77b4", label="True")
    ax_h.bar(mids, est_hist, width=width, alpha=0.6, color="#ff7f0e", label="Estimated")
    ax_h.set_xlabel("IPD (deg)")
    ax_h.set_ylabel("Test samples")
    ax_h.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no tick at 0.25 in a small test set
    ax_h.set_xlim(-90, 90)
    ax_h.legend(**BESIDE)  # at loc="best" inside the axes it could lie over a bar
    ax_h.set_title("True and estimated IPD")
    im = ax_c.imshow(
        norm,
        interpolation="nearest",
        aspect="auto",
        origin="lower",
        extent=(-90, 90, -90, 90),
        vmin=0,
        vmax=1,
        cmap="viridis",
    )
    fig.colorbar(im, ax=ax_c, label="Fraction of true-IPD samples")
    ax_c.set_xlabel("True IPD (deg)")
    ax_c.set_ylabel("Estimated IPD (deg)")
    empty = np.flatnonzero(true_hist == 0)  # no test sample of that true IPD: a NaN column, hatched
    for j in empty:
        ax_c.add_patch(Rectangle((-90 + j * width, -90), width, 180, hatch="//", fill=False, edgecolor="0.6",
                                 linewidth=0, gid="no-samples"))  # fmt: skip
    note = f"\n(hatched: {plural(len(empty), 'true IPD')} without test samples)" if len(empty) else ""
    ax_c.set_title("Confusion matrix" + note)
    n = int(counts.sum())
    what = format_key(described(ds, sel or {}))
    runs = _pooled_models(ds, sel, repeat)
    acc = 100 * np.trace(counts) / n if n else float("nan")
    fig.suptitle(
        wrapped(title or f"Test set{': ' + what if what else ''} ({runs}, {n} samples, accuracy {acc:.1f}%)", fig)
    )
    return fig


# ---------------------------------------------------------------------------------------------
# input raster


def stimulus_of(ds: xr.Dataset | None, advice: str = "pass stimulus=IPDStimulus(...) to draw one") -> IPDStimulus:
    """The :class:`~snnsim.encoders.ipd.IPDStimulus` of a run (defaults when unknown). A merged
    experiment's stimulus settings are its fixed ones (``config_<name>``) and those it sweeps
    with a single value; one swept with several values (``dt``, ``phase`` ...) is refused
    (ValueError, ending with ``advice``): no single stimulus is the experiment's."""
    from ..encoders.ipd import IPDStimulus

    if ds is None:
        return IPDStimulus()
    try:
        from ..config import RunConfig

        return IPDStimulus.from_config(RunConfig.from_json(ds.attrs["config"]))
    except Exception:  # a merged experiment may carry no single config
        names = ("dt", "duration", "tone_hz", "rate_max_hz", "anf_per_ear", "envelope_power", "phase")
        kwargs, varying = {}, []
        for n in names:
            if n in ds.coords:  # swept: a dim, or a coordinate along another (a tuning's trial)
                values = np.unique(ds[n].values)
                if values.size > 1:
                    varying.append(f"{n} ({', '.join(format_setting(n, v) for v in values.tolist())})")
                elif values.size:
                    kwargs[n] = values[0].item()
            elif f"config_{n}" in ds.attrs:
                kwargs[n] = ds.attrs[f"config_{n}"]
        if varying:
            raise ValueError(f"the experiment sweeps the stimulus: {'; '.join(varying)}; {advice}") from None
        return IPDStimulus(**kwargs)


def make_stimuli(n: int = 8, stimulus: IPDStimulus | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` IPD stimuli: (ipd rad (n,), spikes bool (n, T, inputs)) as numpy arrays."""
    import torch

    from ..encoders.ipd import IPDStimulus, generate

    stimulus = stimulus or IPDStimulus()
    g = torch.Generator().manual_seed(seed)
    ipd, spikes = generate(n, stimulus, g)
    return ipd.numpy(), spikes.numpy()


@styled
def input_raster(
    ipd: ArrayLike | None = None,
    spikes: ArrayLike | None = None,
    *,
    ds: xr.Dataset | None = None,
    n: int = 8,
    seed: int = 0,
    stimulus: IPDStimulus | None = None,
    dt: float | None = None,
    ncols: int = 4,
) -> Figure:
    """Spike rasters of ``n`` IPD stimuli in a grid (2x4 for 8), titled with the true IPD.

    Pass arrays (``ipd`` rad (n,), ``spikes`` (n, T, inputs)), or nothing to draw ``n`` fresh
    stimuli with the stimulus settings of ``ds`` (or the defaults) and ``seed``.
    ``ax.images[0].get_array()`` of panel ``i`` is ``spikes[i].T``.
    """
    checked_count(ncols, "ncols", "columns")
    if spikes is None:
        checked_count(n, "n", "stimuli")
        if ds is not None and is_bmi(ds):
            raise ResultError("input_raster: a BMI result has no IPD stimuli (its input is recorded spike counts: "
                              "plots.input_weight_profiles draws what the decoder reads of them)")  # fmt: skip
        stimulus = stimulus or stimulus_of(ds)
        ipd, spikes = make_stimuli(n, stimulus, seed)
        dt = dt or stimulus.dt
    spikes = np.asarray(spikes)
    ipd = np.asarray(ipd, dtype=float)
    n = len(spikes)
    rows = int(np.ceil(n / ncols))
    fig = new_figure(2.5 * min(n, ncols) + 0.5, 2.2 * rows + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, min(n, ncols), sharex=True, sharey=True, squeeze=False)).ravel()
    steps, inputs = spikes.shape[1], spikes.shape[2]
    extent = (-0.5, steps - 0.5, -0.5, inputs - 0.5) if dt is None else (0, steps * dt * 1e3, -0.5, inputs - 0.5)
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_visible(False)
            continue
        ax.imshow(
            spikes[i].T.astype(float),
            aspect="auto",
            interpolation="nearest",
            cmap="gray_r",
            origin="lower",
            extent=extent,
        )
        ax.set_title(f"True IPD = {np.degrees(ipd[i]):.0f} deg")
        if i // ncols == rows - 1 or i + ncols >= n:
            ax.set_xlabel("Time (steps)" if dt is None else "Time (ms)")
        if i % ncols == 0:
            ax.set_ylabel("Input neuron index")
    what = "1 IPD stimulus" if n == 1 else f"{n} IPD stimuli"
    fig.suptitle(
        wrapped(f"Input spikes of {what} (fibres 0–{inputs // 2 - 1}: ear 1, {inputs // 2}–{inputs - 1}: ear 2)", fig)
    )
    return fig


# ---------------------------------------------------------------------------------------------
# hidden-layer weights


def reorder_hidden(w1: ArrayLike, w2: ArrayLike, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notebook's re-ordering: hidden neurons sorted by the mean over inputs of
    ``input index * weight``; neurons whose largest |weight| is below ``threshold`` go last.

    Returns ``(w1[:, order], w2[order, :], order)``.
    """
    w1 = np.asarray(w1, dtype=float)
    w2 = np.asarray(w2, dtype=float)
    index = np.arange(w1.shape[0])[:, None]
    weighted_mean = np.mean(index * w1, axis=0)
    weighted_mean[np.max(np.abs(w1), axis=0) < threshold] = np.inf
    order = np.argsort(weighted_mean)  # default kind, as the notebook (ties among weak neurons)
    return w1[:, order], w2[order, :], order


def weights_of(
    source: xr.Dataset | ArrayLike, w2: ArrayLike | None = None, repeat: int = 0, sel: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(w1 (input, hidden), w2 (hidden, output)) from arrays or a dataset with ``w1``/``w2``."""
    if isinstance(source, xr.Dataset):
        if "w1" not in source or "w2" not in source:
            raise ValueError("the dataset has no weights (variables w1 and w2)")
        sel = checked_sel(source, sel)
        checked_repeat(source, repeat)
        ds = source.sel(sel) if sel else source
        pick = lambda da: da.isel(repeat=repeat) if "repeat" in da.dims else da  # noqa: E731
        a, b = pick(ds["w1"]), pick(ds["w2"])
        if "hidden_unit_1" in b.dims and "w_hidden1" in ds and not bool(pick(ds["w_hidden1"]).notnull().any()):
            # one hidden layer in a merge with deeper networks: its w2 repeated along their hidden_unit_1
            b = b.isel(hidden_unit_1=0, drop=True)
        extra = [d for d in a.dims if d not in ("input_unit", "hidden_unit")] + [
            d for d in b.dims if d not in ("hidden_unit", "output_unit")
        ]
        if grid := sorted(set(extra) - {"hidden_unit_1"}):  # several models (a grid over depths, too): one first
            raise ValueError(f"select one model first (sel=...): dims {grid} left")
        if extra:
            raise ValueError("the figure draws one hidden layer's weights; this network has several")
        if not bool(a.notnull().any()):
            where = f" at {format_key(sel)}" if sel else ""
            raise ValueError(f"no trained weights{where} (its job is missing from the merge: NaN); "
                             "plots.common.first_trained(ds['w1']) names a point that was run")  # fmt: skip
        w1, w2 = a.transpose("input_unit", "hidden_unit").values, b.transpose("hidden_unit", "output_unit").values
        # a grid over sizes (hidden = [8, 16], encoding) pads a smaller model with NaN to the largest
        # (trained weights are never NaN): the point's own weights only
        inputs, hidden = ~np.isnan(w1).all(1), ~np.isnan(w1).all(0)
        return w1[inputs][:, hidden], w2[hidden][:, ~np.isnan(w2[hidden]).all(0)]
    if w2 is None:
        raise ValueError("pass w1 and w2, or a dataset with variables w1 and w2")
    return np.asarray(source, dtype=float), np.asarray(w2, dtype=float)


def model_drawn(source: xr.Dataset | ArrayLike, repeat: int = 0, sel: dict | None = None) -> str:
    """The line a weight figure gets naming the model it draws: "Model: mean (oc), τ = 2 ms,
    seed = 0, repeat 0" (the grid point ``sel`` and, with several repeats, the repeat); '' for
    numpy arrays and a run of one repeat."""
    if not isinstance(source, xr.Dataset):
        return ""
    parts = [format_key(sel)] if sel else []
    if source.sizes.get("repeat", 1) > 1:
        parts.append(f"repeat {source['repeat'].values[repeat].item() if 'repeat' in source.coords else repeat}")
    return "\nModel: " + ", ".join(parts) if parts else ""


@styled
def weight_matrices(
    w1: xr.Dataset | ArrayLike,
    w2: ArrayLike | None = None,
    *,
    threshold: float | None = 0.5,
    repeat: int = 0,
    sel: dict | None = None,
) -> Figure:
    """The notebook's three panels of re-ordered weights: W1 (input x hidden), W2 (hidden x
    output) and W1 W2 (input x output), each with a colour bar.

    ``w1``/``w2`` are numpy arrays, or ``w1`` is a dataset with variables ``w1`` (repeat,
    input, hidden) and ``w2`` (repeat, hidden, output). ``threshold``: the notebook's re-ordering
    (:func:`reorder_hidden`, whose 0.5 fits the IPD network's weights); None draws the hidden
    neurons in index order (a BMI decoder: its weights lie far below 0.5).
    """
    a, b = weights_of(w1, w2, repeat, sel)
    if threshold is None:
        order = np.arange(a.shape[1])
        how = "Weights, hidden neurons in index order"
    else:
        a, b, order = reorder_hidden(a, b, threshold)
        how = f"Weights, hidden neurons sorted by weighted mean input index (|w| < {threshold:g} last)"
    fig = new_figure(10.0, 3.2)
    axes = fig.subplots(1, 3)
    hidden = "Hidden neuron" if threshold is None else "Hidden neuron (re-ordered)"
    panels = (
        (a, "$W_1$", hidden, "Input neuron index"),
        (b, "$W_2$", "Output neuron index", hidden),
        (a @ b, "$W_1W_2$", "Output neuron index", "Input neuron index"),
    )
    for ax, (m, title, xlabel, ylabel) in zip(axes, panels):
        im = ax.imshow(m, interpolation="nearest", aspect="auto", origin="lower", cmap="RdBu_r", norm=symmetric_norm(m))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        for axis in (ax.xaxis, ax.yaxis):  # neuron indices: no tick at 0.5 (one or two outputs)
            axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        fig.colorbar(im, ax=ax, label="Weight")
    fig.suptitle(
        wrapped(
            how + model_drawn(w1, repeat, sel),
            fig,
        )
    )
    fig.snnsim_order = order
    return fig


@styled
def hidden_weight_profiles(
    w1: xr.Dataset | ArrayLike,
    w2: ArrayLike | None = None,
    *,
    n: int = 15,
    threshold: float = 0.5,
    repeat: int = 0,
    sel: dict | None = None,
) -> Figure:
    """Input weights of up to ``n`` re-ordered hidden neurons against the fibre's phase delay,
    one curve per ear (the notebook's "Individual W1 weights"). Neurons whose largest |weight|
    reaches ``threshold`` are shown; when none does, the ``n`` with the largest |weight|. IPD
    only: a BMI dataset is refused (see :func:`snnsim.plots.bmi.input_weight_profiles`).
    """
    checked_count(n, "n", "hidden neurons")
    if isinstance(w1, xr.Dataset) and is_bmi(w1):
        raise ValueError("a BMI result has no ears or phase delays: draw plots.bmi.input_weight_profiles")
    if w2 is None and not isinstance(w1, xr.Dataset):
        w2 = np.zeros((np.asarray(w1).shape[1], 1))
    a, b = weights_of(w1, w2, repeat, sel)
    a, _, _ = reorder_hidden(a, b, threshold)
    strong = np.flatnonzero(np.max(np.abs(a), axis=0) >= threshold)
    note = f"|w| ≥ {threshold:g}"
    if strong.size == 0:
        strong = np.sort(np.argsort(-np.max(np.abs(a), axis=0), kind="stable")[:n])
        note = f"none with |w| ≥ {threshold:g}: largest |w| shown"
    strong = strong[:n]
    half = a.shape[0] // 2
    delays = np.linspace(0, 90, half)
    cols = min(5, max(1, len(strong)))
    rows = int(np.ceil(len(strong) / cols))
    # at least two panels wide: one panel's width wraps the title into a column that the ears'
    # legend, outside at the upper right, lies over
    fig = new_figure(2.1 * max(cols, 2) + 0.4, 1.8 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    for ax, j in zip(axes, strong):
        ax.plot(delays, a[:half, j], label="Ear 1")
        ax.plot(delays, a[half : 2 * half, j], label="Ear 2")
        ax.set_title(f"hidden {j}", fontsize=8)
    for ax in axes[len(strong) :]:
        ax.set_visible(False)
    for i, ax in enumerate(axes[: len(strong)]):
        if i + cols >= len(strong):  # no panel below it (the last row, or above a hidden panel)
            ax.set_xlabel("Phase delay (deg)")
            ax.xaxis.set_tick_params(labelbottom=True)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("Weight")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", frameon=False)  # off the curves
    fig.suptitle(
        # centred, clear of the legend (about 0.8 in) at the upper right: narrower by twice its width
        wrapped(
            f"Individual $W_1$ weights (re-ordered hidden neurons, {note})" + model_drawn(w1, repeat, sel),
            fig,
            width=fig.get_figwidth() - 1.6,
        )
    )
    fig.snnsim_neurons = strong
    return fig


# ---------------------------------------------------------------------------------------------
# the model space

#: Swept settings that make a model-space figure (issue 13's study a).
MODEL_SPACE_DIMS = ("tau_syn", "tau_adapt", "recurrent", "learn_tau", "delays", "hidden")


def model_space_label(key: dict) -> str:
    """Short text of one model-space setting: 'syn 5 ms, adapt 50 ms, rec, delays learned, 100 hidden'."""
    parts = []
    for name, value in key.items():
        if name in ("tau_syn", "tau_adapt"):
            word = "syn" if name == "tau_syn" else "adapt"
            parts.append(f"{word} {float(value) * 1e3:g} ms" if float(value) else f"no {word}")
        elif name in ("recurrent", "learn_tau"):
            parts.append(("rec" if name == "recurrent" else "learned tau") if value else
                         ("ff" if name == "recurrent" else "fixed tau"))  # fmt: skip
        elif name == "delays":
            parts.append("no delays" if value == "none" else f"delays {value}")
        elif name == "hidden":
            parts.append(f"{value} hidden")
        else:
            parts.append(format_setting(name, value))
    return ", ".join(parts)


@styled
def model_space_figure(ds: xr.Dataset, metric: str = "acc") -> Figure:
    """Validation and test ``metric`` (``acc`` or ``err_deg``) of every model-space setting,
    one row per setting sorted by the median validation score (best on top; test read after;
    by the test score, as the axis says, for runs without validation data),
    seeds pooled (and repeats: the title then counts trainings, not seeds; any other varying
    setting, such as ``readout``, is part of the row): boxes of the seeds and their median,
    validation above test, every seed a dot in its split's colour.
    ``fig.snnsim_rows`` records ``(label, val values, test values)`` from top to bottom."""
    dims = [d for d in MODEL_SPACE_DIMS if d in ds.dims]
    if not dims:
        raise ValueError("no model-space dimension (tau_syn, tau_adapt, recurrent, learn_tau, delays, hidden) to plot")
    splits = [s for s in ("val", "test") if f"{s}_{metric}" in ds]
    if not splits:
        require(ds, (f"val_{metric}", f"test_{metric}"))
    dims += pooled_settings(ds[f"{splits[0]}_{metric}"], dims)
    rows = []
    for key in group_keys(ds, dims):
        sub = ds.sel(key)
        values = {s: finite(stack_samples(sub[f"{s}_{metric}"], ()).values) for s in splits}
        if values[splits[0]].size:
            rows.append((model_space_label(described(ds, key)), values))
    better = max if metric == "acc" else min
    rows.sort(key=lambda r: np.median(r[1][splits[0]]), reverse=better is max)
    fig = new_figure(9.0, 0.32 * len(rows) + 1.6)
    ax = fig.subplots()
    n = len(rows)
    for i, (_, values) in enumerate(rows):
        y = n - 1 - i
        for j, split in enumerate(splits):  # validation above test, as in the legend
            v, at = values[split], y + (0.5 - j) * 0.36
            art = ax.boxplot([v], positions=[at], widths=0.3, **HORIZONTAL, patch_artist=True,
                             medianprops=dict(color="black"), flierprops=dict(marker="none"))  # fmt: skip
            for patch in art["boxes"]:
                patch.set_facecolor(SPLIT_COLOURS[split])
                patch.set_alpha(0.55)
            # every seed as a dot in its split's colour: a row of one seed (a merge with holes) has no box
            ax.plot(v, np.full(v.size, at), linestyle="none", marker="o", markersize=3, color=SPLIT_COLOURS[split],
                    zorder=3)  # fmt: skip
    ax.set_yticks(range(n), [r[0] for r in reversed(rows)], fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    label = {"acc": "Accuracy (%)", "err_deg": "Mean absolute IPD error (deg)"}[metric]
    ax.set_xlabel(label)
    ax.set_ylabel(f"Setting (best {SPLIT_LABELS[splits[0]].lower()} on top)")  # test where no validation
    seeds = max(v.size for _, vals in rows for v in vals.values())
    pooled = [d for d in sample_dims(ds[f"{splits[0]}_{metric}"], dims) if ds.sizes[d] > 1]
    unit = "seed" if set(pooled) <= {"seed"} else "training"  # seeds x repeats: trainings, as the boxplots
    ax.set_title(
        wrapped(f"IPD model space: {label.split(' (')[0].lower()} per setting, {plural(seeds, unit)}", fig, 10)
        + (f"\n{holes}" if (holes := merge_holes(ds)) else "")  # a row of fewer seeds, or none
    )
    handles = [Patch(facecolor=SPLIT_COLOURS[s], alpha=0.55, label=SPLIT_LABELS[s]) for s in splits]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    fig.snnsim_rows = [(label, vals.get("val"), vals.get("test")) for label, vals in rows]
    return fig
