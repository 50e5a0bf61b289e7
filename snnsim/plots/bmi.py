"""Figures of the BMI decoding study (the assignment's Figures 1, 2a and 2b).

- :func:`prediction_trace` (Figure 1): true and predicted shoulder velocity against time on the
  test fold, zoomed to a window; gaps in the recording are drawn as gaps (NaN breaks);
- :func:`fvaf_figure`, :func:`rmse_figure` (Figures 2a, 2b): FVAF / RMSE against the number of
  training folds, one curve each for training, validation and test, one panel per model, the
  median over rotations and repeats with the inter-quartile range shaded;
- :func:`learning_curves`: per-epoch training / validation curves per model;
- :func:`input_weight_profiles`: the spiking decoder's input weights of a few hidden neurons,
  over the recorded neurons (and the 50 ms bins of the window encoding).

Expected variables (the BMI result schema): ``<split>_fvaf``, ``<split>_rmse`` over
(repeat, output) for split in train/val/test; ``time`` (sample), ``y_true`` (sample, output),
``y_pred`` (repeat, sample, output); per-epoch curves over (repeat, epoch). A merged experiment
adds dims such as ``model``, ``n_train_folds``, ``rotation`` (NaN-padded where missing).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..errors import ResultError
from .common import (
    DIMENSIONLESS,
    SPLIT_COLOURS,
    SPLIT_LABELS,
    SelectionError,
    checked_by,
    checked_count,
    checked_repeat,
    checked_sel,
    colours,
    curve_label,
    curve_summary,
    format_setting,
    kind_of,
    merge_holes,
    new_figure,
    sample_dims,
    styled,
    symmetric_norm,
    with_settings,
    with_units,
    wrapped,
)
from .ipd import model_drawn, weights_of

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

SPLITS = ("train", "val", "test")
#: The assignment's Figure 1 uses fold rotation 5; taken by default when a grid has it.
FIGURE1_ROTATION = 5
TARGET_NAMES = {
    "theta": ("angle", "rad"),
    "dtheta": ("velocity", "rad/s"),
    "ddtheta": ("acceleration", "rad/s²"),
    "torque": ("torque", "N m"),
}
JOINT_NAMES = ("shoulder", "elbow")


def target_label(ds: xr.Dataset, output: int | str = 0) -> tuple[str, str]:
    """(``"Shoulder velocity"``, ``"rad/s"``) for the run's target and output column (a
    predictions file of ``snnsim.predict`` has the model's settings in its ``config`` only). Of a
    sweep over ``target``, the target of ``ds`` (a point: a scalar coordinate), or the swept ones
    ("Shoulder angle / velocity", no units): the merged ``y_true`` has every job's units ("rad | rad/s")."""
    if "target" in ds.coords:
        targets = [str(t) for t in dict.fromkeys(np.atleast_1d(ds["target"].values).tolist())]
        quantity = " / ".join(TARGET_NAMES.get(t, (t, ""))[0] for t in targets)
        units = TARGET_NAMES.get(targets[0], ("", ""))[1] if len(targets) == 1 else ""
    else:
        target = str(ds.attrs.get("config_target") or run_setting(ds, "target") or "dtheta")
        quantity, units = TARGET_NAMES.get(target, (target, ""))
        if "y_true" in ds and ds["y_true"].attrs.get("units"):
            units = str(ds["y_true"].attrs["units"]).replace("^2", "²")  # as a sweep's label gives it
    joint = output
    if "output" in ds.coords:
        values = ds["output"].values.tolist()
        joint = values[output] if isinstance(output, int) and output < len(values) else output
    if isinstance(joint, (int, np.integer)):
        dims = ds.attrs.get("config_dims") or run_setting(ds, "dims")
        try:
            joint = _joints_of(dims)[int(joint)]
        except Exception:
            joint = JOINT_NAMES[int(joint)] if 0 <= int(joint) < 2 else f"output {joint}"
    return f"{str(joint).capitalize()} {quantity}", units


def run_setting(ds: xr.Dataset, name: str) -> Any:
    """Setting ``name`` of the run's full config (:func:`snnsim.results.config_of`), for a file
    that has no ``config_<name>`` (a predictions file), or None (a merged file: no config)."""
    from .. import results
    from ..errors import ResultError

    try:
        return getattr(results.config_of(ds), name)
    except ResultError:
        return None


def in_run_order(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its ``output`` labels in a run's own order, so that output 0 is the one a
    single run of the same settings calls 0: the order of its ``dims`` (``config_dims``), or for
    a merge over ``dims`` (whose union of outputs the merge sorts by name: elbow, shoulder) the
    joints by column index (shoulder, elbow). Only the order changes, never a value."""
    if "output" not in ds.dims or ds["output"].dtype.kind not in "UO":
        return ds
    labels = [str(v) for v in ds["output"].values]
    try:
        order = _joints_of(ds.attrs.get("config_dims"))
    except Exception:
        order = list(JOINT_NAMES)
    rank = {name: i for i, name in enumerate(order)}
    ordered = sorted(labels, key=lambda name: rank.get(name, len(rank)))  # stable: other labels keep their places
    return ds if ordered == labels else ds.sel(output=ordered)


def _joints_of(dims: Any) -> list[str]:
    """The joints a run's ``dims`` (a list of column indices, or its JSON text) decode, in its
    order; raises (TypeError, ValueError, IndexError ...) for anything else."""
    dims = json.loads(dims) if isinstance(dims, str) else dims
    return [JOINT_NAMES[int(d)] for d in dims]


def _pick_output(da: xr.DataArray, output: int | str) -> xr.DataArray:
    """Output ``output`` (its label, or its index) of ``da``; one that is neither is refused in
    one line (:class:`~snnsim.plots.common.SelectionError`) naming the outputs there are."""
    if "output" not in da.dims:
        return da
    labels = da["output"].values.tolist() if "output" in da.coords else list(range(da.sizes["output"]))
    if isinstance(output, (int, np.integer)) and not (da["output"].dtype.kind in "iu" and output in labels):
        if -len(labels) <= output < len(labels):
            return da.isel(output=int(output))
    elif output in labels:
        return da.sel(output=output)
    there = ", ".join(f"{i} {label}" for i, label in enumerate(labels))
    raise SelectionError(f"output: no output {output!r} here (outputs: {there})")


def _first(da: xr.DataArray, keep: Sequence[str], chosen: dict) -> xr.DataArray:
    """Take index 0 of every dim not in ``keep``, recording the chosen coordinate values."""
    for d in [d for d in da.dims if d not in keep]:
        chosen[d] = da[d].values[0].item() if d in da.coords else 0
        da = da.isel({d: 0})
    return da


def _first_with_data(da: xr.DataArray, keep: Sequence[str]) -> dict[str, int]:
    """The index, over every dim not in ``keep``, of the first point (in order) where ``da`` has
    a finite value; index 0 of each where it has none."""
    rest = [d for d in da.dims if d not in keep]
    finite = np.isfinite(da).any([d for d in da.dims if d in keep]).transpose(*rest).values
    hits = np.flatnonzero(finite.ravel())
    index = np.unravel_index(hits[0], finite.shape) if hits.size else (0,) * len(rest)
    return {d: int(i) for d, i in zip(rest, index)}


def default_point(ran: xr.DataArray, sel: dict, rotation: int | None = None) -> dict:
    """``sel`` with the defaults of a BMI figure where it leaves them: the largest
    ``n_train_folds`` and (``rotation``) that rotation, among the grid points where ``ran`` (a
    mask, True where a job's values exist) holds a value: a merge with holes (``--allow-missing``)
    holds NaN where a job was not run, and a point no job ran has nothing to draw."""
    sel = dict(sel)

    def ran_at(dim: str) -> np.ndarray:
        """The values of ``dim`` where a job ran at ``sel`` (all of them if none did)."""
        here = ran.sel({k: v for k, v in sel.items() if k in ran.dims})
        if dim not in here.dims:
            return ran[dim].values
        some = here.any([d for d in here.dims if d != dim]).values
        return ran[dim].values[some] if some.any() else ran[dim].values

    if "n_train_folds" in ran.dims and "n_train_folds" not in sel:
        sel["n_train_folds"] = ran_at("n_train_folds").max().item()  # the largest training set
    if rotation is not None and "rotation" in ran.dims and "rotation" not in sel and rotation in ran_at("rotation"):
        sel["rotation"] = rotation
    return sel


def gap_breaks(t: ArrayLike, *ys: ArrayLike, factor: float = 1.5) -> tuple[np.ndarray, ...]:
    """Insert a NaN after every gap in ``t`` (a step longer than ``factor`` x the median step),
    so a line plot shows gaps as gaps. Returns ``(t, *ys)`` with the NaN rows added."""
    t = np.asarray(t, dtype=float)
    ys = [np.asarray(y, dtype=float) for y in ys]
    if t.size < 2:
        return (t, *ys)
    step = np.diff(t)
    nominal = np.median(step[np.isfinite(step)]) if np.isfinite(step).any() else 0
    gaps = np.flatnonzero(step > factor * nominal) + 1 if nominal > 0 else np.array([], int)
    t_out = np.insert(t, gaps, np.nan)
    return (t_out, *[np.insert(y, gaps, np.nan) for y in ys])


@styled
def prediction_trace(
    ds: xr.Dataset,
    window: tuple[float, float] | None = None,
    window_length: float = 20.0,
    output: int | str = 0,
    repeat: int = 0,
    sel: dict | None = None,
    by: str = "model",
) -> Figure:
    """Figure 1: true and predicted ``output`` (default the shoulder) against time on the test
    fold, within ``window`` = (start, stop) s (default: the first ``window_length`` s).

    ``sel`` picks a grid point of a merged experiment (default: the largest ``n_train_folds``
    and rotation 5 when present, as in the assignment, among the points whose jobs ran); when the
    ``by`` dim (``model``) is left, one predicted curve is drawn per model. Any other dim left
    over (rotation, repeat ...) is taken at its first value (``repeat`` picks the model).
    Samples are joined by lines only within contiguous blocks: ``ax.lines[0]`` is the truth
    with a NaN at every gap.
    """
    for name in ("time", "y_true", "y_pred"):
        if name not in ds:
            raise ValueError(f"no variable {name!r} in the dataset: not a BMI result")
    ds = in_run_order(ds)  # output 0 of a merge over dims: the shoulder, as in a run
    checked_by(ds, (by,))
    checked_repeat(ds, repeat)
    sel = default_point(ds["time"].notnull(), checked_sel(ds, sel), FIGURE1_ROTATION)
    ds = ds.sel(sel) if sel else ds
    chosen: dict = {}
    if "repeat" in ds["y_pred"].dims:
        if ds.sizes["repeat"] > 1:  # one of several models: say which, as the weight figures do
            chosen["repeat"] = ds["repeat"].values[repeat].item() if "repeat" in ds.coords else repeat
        ds = ds.isel(repeat=repeat)
    # a merge with holes: a job that has a test fold; a sweep over dims: one that decodes ``output``
    point = _first_with_data(_pick_output(ds["y_true"], output).broadcast_like(ds["time"]), ("sample",))
    chosen.update({d: ds[d].values[i].item() if d in ds.coords else int(i) for d, i in point.items()})
    time = ds["time"].isel(point)
    truth = _first(_pick_output(ds["y_true"].isel(point, missing_dims="ignore"), output), ("sample",), chosen)
    at_truth = {d: i for d, i in point.items() if d != by}  # every model, at the truth's point
    pred = _pick_output(ds["y_pred"].isel(at_truth, missing_dims="ignore"), output)
    groups = pred[by].values.tolist() if by in pred.dims else [None]
    t = time.values.astype(float)
    ok = np.isfinite(t)
    if not ok.any():
        where = ", ".join(f"{k} {v}" for k, v in sel.items())
        raise ValueError(f"no test fold at {where or 'this point'}: no job there is in the merge")
    if window is None:
        start = float(np.nanmin(t))
        window = (start, start + window_length)
    inside = ok & (t >= window[0]) & (t <= window[1])
    if not inside.any():
        raise ValueError(f"no test samples in the window [{window[0]:g}, {window[1]:g}] s (the test fold spans "
                         f"{t[ok].min():.1f}-{t[ok].max():.1f} s of the recording)")  # fmt: skip
    order = np.argsort(t[inside], kind="stable")
    tw = t[inside][order]
    label, units = target_label(ds.isel(point, missing_dims="ignore"), output)  # the point drawn
    fig = new_figure(9.0, 3.6)
    ax = fig.subplots()
    x, y = gap_breaks(tw, truth.values[inside][order])
    ax.plot(x, y, color="black", linewidth=1.4, label="True", zorder=3)
    palette = colours(len(groups))
    undrawn = []
    for i, g in enumerate(groups):
        p = pred.sel({by: g}) if g is not None else pred
        p = _first(p, ("sample",), chosen)
        if g is not None and np.isnan(p.values[inside]).all():  # a hole of the merge: no curve, no legend entry
            undrawn.append(str(g))  # but named in the title
            continue
        x, y = gap_breaks(tw, p.values[inside][order])
        name = "Predicted" + (f" ({g})" if g is not None else "")
        ax.plot(x, y, color=palette[i] if g is not None else "#d62728", linewidth=1.0, alpha=0.9, label=name)
    ax.axhline(0, color="0.8", linewidth=0.6, zorder=0)
    low, high = max(window[0], t[ok].min()), min(window[1], t[ok].max())  # a window past the fold: the fold
    ax.set_xlim(*((low, high) if low < high else window))
    ax.set_xlabel("Time (s)")
    ax.set_ylabel(f"{label} ({units})" if units else label)
    context = {**sel, **{k: v for k, v in chosen.items() if k not in ("output", by)}}
    for name in ("rotation", "n_train_folds", "model"):
        value = ds.attrs.get(f"config_{name}")
        if name not in context and value is not None and (name != by or groups == [None]):
            context[name] = value
    if "repeat" in context:  # last, after the settings
        context["repeat"] = context.pop("repeat")
    what = ", ".join(
        format_setting(k, v) if k not in ("rotation", "repeat") else f"{k} {v}" for k, v in context.items()
    )
    ax.set_title(wrapped(f"{fold_name(ds, inside)}: true and predicted {label.lower()}" + (f" ({what})" if what else ""),
                         fig, 10) + (f"\n{_undrawn_note(ds, by, undrawn)}" if undrawn else ""))  # fmt: skip
    ax.annotate(
        "breaks in the lines are gaps in the recording",
        xy=(1, 0),
        xycoords="figure fraction",
        xytext=(-4, 3),
        textcoords="offset points",
        ha="right",
        fontsize=7,
        color="0.4",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the axes: never over a peak
    return fig


def _undrawn_note(ds: xr.Dataset, by: str, undrawn: list[str]) -> str:
    """Figure 1's line for the ``by`` values (models) without a predicted curve: 'model ann
    missing from the merge, not drawn' (a merge with holes), else 'no prediction of model ann
    here (NaN), not drawn'."""
    names = f"{by} {', '.join(undrawn)}"
    if merge_holes(ds):
        return f"{names} missing from the merge, not drawn"
    return f"no prediction of {names} here (NaN), not drawn"


def fold_name(ds: xr.Dataset, inside: np.ndarray) -> str:
    """``Test fold`` for a run or a sweep (they hold the test fold only); for a predictions file
    (``snnsim.predict``: a ``fold`` per sample, any folds, training folds too) the folds of the
    samples drawn: "Fold 3", "Folds 0, 1"."""
    if "fold" not in ds.data_vars or ds["fold"].dims != ("sample",):
        return "Test fold"
    folds = np.unique(ds["fold"].values[inside]).tolist()
    return f"Fold{'s' if len(folds) > 1 else ''} {', '.join(str(int(k)) for k in folds)}"


def pooled_over(da: xr.DataArray, keep: Sequence[str], q: tuple[float, float], n: int) -> str:
    """What a figure's curves of ``da`` along ``keep`` show: "median over rotation, repeat,
    25–75th percentile shaded (n ≤ 20)" (the pooled dims with values at more than one coordinate
    for some point of ``keep``; a setting of a union of grids, one value per point, is not
    named), or "one run" (``n`` the most values pooled at one point)."""
    keep = [d for d in keep if d in da.dims]
    dims = []
    for d in sample_dims(da, keep):
        other = [o for o in da.dims if o not in (d, *keep)]
        present = da.notnull().any(other) if other else da.notnull()
        if bool((present.sum(d) > 1).any()):
            dims.append(d)
    return f"median over {', '.join(dims)}, {q[0]:g}–{q[1]:g}th percentile shaded (n ≤ {n})" if dims else "one run"


def _by_model(ds: xr.Dataset, by: str) -> list:
    checked_by(ds, (by,))
    return ds[by].values.tolist() if by in ds.dims else [None]


@styled
def training_size_figure(
    ds: xr.Dataset,
    metric: str = "fvaf",
    output: int | str = 0,
    by: str = "model",
    q: tuple[float, float] = (25, 75),
    ylabel: str | None = None,
    rotations: Sequence[int] | None = None,
) -> Figure:
    """``metric`` (``fvaf`` or ``rmse``) against the number of training folds: one panel per
    ``by`` value (model), in each one curve per split (training, validation, test): the median
    over every pooled dim (rotation, repeat, seed ...) with the ``q`` percentile band shaded.

    ``rotations`` defaults to the rotations swept over every training-set size (a rotation
    present only at some sizes, like bmi_training_size's rotation 5 for Figure 1, would change
    the sample between points). In each panel ``ax.lines[i]`` is split ``i``'s median curve
    (splits present, in train/val/test order).
    """
    ds = in_run_order(with_settings(ds, ("n_train_folds",)))
    splits = [s for s in SPLITS if f"{s}_{metric}" in ds]
    if not splits or "n_train_folds" not in ds.dims:
        raise ValueError(f"need variables <split>_{metric} and a number of training folds")
    if rotations is None:
        rotations = complete_rotations(ds, f"{splits[-1]}_{metric}")
    else:  # rotations asked for: each one run (a rotation the merge has not was xarray's KeyError)
        checked_sel(ds, {"rotation": list(rotations)}, "rotations")
    if rotations is not None and "rotation" in ds.dims:
        ds = ds.sel(rotation=list(rotations))
    models = _by_model(ds, by)
    fig = new_figure(3.6 * len(models) + 1.6, 3.6)  # + the legend beside the last panel
    axes = np.atleast_1d(fig.subplots(1, len(models), sharey=True, squeeze=False)).ravel()
    folds = ds["n_train_folds"].values
    label, units = target_label(ds, output)
    n_max = 0
    for ax, model in zip(axes, models):
        for split in splits:
            da = _pick_output(ds[f"{split}_{metric}"], output)
            if model is not None:
                da = da.sel({by: model})
            s = curve_summary(da, ("n_train_folds",), q)
            n_max = max(n_max, s["n"])
            ax.plot(
                folds, s["median"], marker="o", markersize=3.5, color=SPLIT_COLOURS[split], label=SPLIT_LABELS[split]
            )
            ax.fill_between(folds, s["low"], s["high"], color=SPLIT_COLOURS[split], alpha=0.2, linewidth=0)
        ax.set_xlabel("Number of training folds")
        ax.set_title(f"{model}" if model is not None else str(ds.attrs.get("config_model", "")))
        ax.set_xticks(folds)
        if metric == "fvaf":
            ax.axhline(0, color="0.7", linewidth=0.6, zorder=0)
    axes[0].set_ylabel(
        ylabel
        or (
            f"FVAF of {label.lower()}"
            if metric == "fvaf"
            else f"RMSE of {label.lower()}" + (f" ({units})" if units else "")
        )
    )
    axes[-1].legend(*axes[0].get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(1.02, 1.0),
                    frameon=False)  # beside the panels: inside the first one it could hide a curve  # fmt: skip
    name = "FVAF" if metric == "fvaf" else metric.upper()
    drawn, left_out = _dims_drawn(ds, f"{splits[-1]}_{metric}", output)
    fig.suptitle(
        wrapped(
            f"{name} against training set size"
            + (f" ({format_setting('dims', ', '.join(drawn))})" if drawn else "")
            + ": "
            + pooled_over(_pick_output(ds[f"{splits[-1]}_{metric}"], output), ("n_train_folds", by), q, n_max),
            fig,
        )
        + (f"\n{wrapped(f'{left_out} without {name} of {label.lower()}, left out', fig)}" if left_out else "")
        + (f"\n{holes}" if (holes := merge_holes(ds)) else "")  # a gap in a curve, a point of fewer runs
    )
    return fig


def _dims_drawn(ds: xr.Dataset, variable: str, output: int | str) -> tuple[list[str], str]:
    """Of a merge over ``dims`` (the decoded joints): the dims values whose jobs have a value of
    ``variable`` at ``output`` (drawn: "0" alone in a merge of [0] and [1], the shoulder), and
    the jobs of the others that ran but decode no such output: "8 jobs of dims = 1" ('' if none).
    ([], '') for a run or a grid not swept over dims."""
    if "dims" not in ds.coords:
        return [], ""
    values = [str(v) for v in np.atleast_1d(ds["dims"].values).tolist()]
    if "dims" not in ds[variable].dims:
        return values, ""
    da = ds[variable]
    at = _pick_output(da, output)
    jobs = [d for d in da.dims if d not in ("dims", "repeat", "output")]  # a job: one point of the grid
    has = at.notnull().any([d for d in at.dims if d not in ("dims",)]).values
    ran = da.notnull().any([d for d in da.dims if d not in ("dims", *jobs)])
    drawn = [v for v, h in zip(values, has) if h]
    out = [(v, int(ran.isel(dims=i).sum())) for i, (v, h) in enumerate(zip(values, has)) if not h]
    out = [(v, n) for v, n in out if n]
    if not out:
        return drawn, ""
    n = sum(k for _, k in out)
    return drawn, f"{n} job{'s' if n != 1 else ''} of {' and '.join(format_setting('dims', v) for v, _ in out)}"


def complete_rotations(ds: xr.Dataset, variable: str) -> list[int] | None:
    """Rotations with a value at every ``n_train_folds`` (for some model/repeat); None if no
    ``rotation`` dim, or if no rotation is complete (then all are used)."""
    if "rotation" not in ds.dims or "n_train_folds" not in ds.dims:
        return None
    da = ds[variable]
    other = [d for d in da.dims if d not in ("rotation", "n_train_folds")]
    present = da.notnull().any(other) if other else da.notnull()
    complete = present.all("n_train_folds")
    rotations = ds["rotation"].values[complete.values].tolist()
    return rotations or None


def fvaf_figure(ds: xr.Dataset, output: int | str = 0, **kwargs: Any) -> Figure:
    """Figure 2a: FVAF against the number of training folds."""
    return training_size_figure(ds, "fvaf", output, **kwargs)


def rmse_figure(ds: xr.Dataset, output: int | str = 0, **kwargs: Any) -> Figure:
    """Figure 2b: RMSE against the number of training folds."""
    return training_size_figure(ds, "rmse", output, **kwargs)


def epoch_variables(ds: xr.Dataset) -> list[str]:
    """Per-epoch curves of a run (``loss``, ``val_fvaf_curve`` ...), training loss first."""
    names = [str(n) for n, v in ds.data_vars.items() if "epoch" in v.dims and v.dtype.kind == "f"]
    return sorted(names, key=lambda n: (not n.startswith(("loss", "train")), n))


def _empty_note(name: str, model: Any) -> str:
    """Why a learning-curve panel of per-epoch variable ``name`` and BMI ``model`` has no curve:
    no hidden firing rate without a spiking layer (ann, linear), no learning rate for the ridge
    decoder (fitted in closed form), else no values (a job missing from the merge)."""
    from ..config import SPIKING, TRAINED

    if model is not None and name == "hidden_rate_curve" and model not in SPIKING:
        return "no spiking layer"
    if model is not None and name == "lr_curve" and model not in TRAINED:
        return "no learning rate\n(ridge, fitted in closed form)"
    return "no values"


@styled
def learning_curves(
    ds: xr.Dataset,
    variables: Sequence[str] | None = None,
    by: str = "model",
    sel: dict | None = None,
    q: tuple[float, float] = (25, 75),
) -> Figure:
    """Per-epoch curves, one row per variable (training loss, validation FVAF ...), one column
    per model: median over repeats and every other pooled dim (rotation ...; the title names
    them), ``q`` percentile band shaded. ``sel`` defaults to the largest training set of a
    training-size grid that a job ran (a merge with holes). Epochs after early stopping are NaN
    and not drawn.
    """
    variables = list(variables or epoch_variables(ds))
    if not variables:
        raise ValueError("no per-epoch variables in the dataset")
    if absent := [v for v in variables if v not in ds]:
        raise ResultError(f"variables: no variable {absent[0]!r} in the dataset "
                          f"(its per-epoch ones: {', '.join(epoch_variables(ds)) or 'none'})")  # fmt: skip
    sel = default_point(ds[variables[0]].notnull(), {}) if sel is None else checked_sel(ds, sel)
    ds = ds.sel(sel) if sel else ds
    models = _by_model(ds, by)
    fig = new_figure(3.2 * len(models) + 0.6, 2.4 * len(variables) + 0.6)
    axes = fig.subplots(len(variables), len(models), sharex=True, sharey="row", squeeze=False)
    epochs = ds["epoch"].values
    n_max = 0
    for r, name in enumerate(variables):
        for c, model in enumerate(models):
            ax = axes[r, c]
            da = ds[name].sel({by: model}) if model is not None else ds[name]
            da = da.mean("output") if "output" in da.dims else da
            s = curve_summary(da, ("epoch",), q)
            n_max = max(n_max, s["n"])
            colour = SPLIT_COLOURS["val" if name.startswith("val") else "train"]
            ax.plot(epochs, s["median"], color=colour, marker="o", markersize=2.5, label="median")
            ax.fill_between(epochs, s["low"], s["high"], color=colour, alpha=0.2, linewidth=0)
            if np.isnan(s["median"]).all():  # an empty panel says why (the ANN's hidden firing rate)
                kind = model if model is not None else ds.attrs.get("config_model")
                ax.text(0.5, 0.5, _empty_note(name, kind), transform=ax.transAxes, ha="center", va="center",
                        fontsize=8, color="0.4", gid="empty")  # fmt: skip
            if r == 0:
                ax.set_title(str(model) if model is not None else str(ds.attrs.get("config_model", "")))
            if r == len(variables) - 1:
                ax.set_xlabel("Epoch")
        units = ds[name].attrs.get("units")
        label = curve_label(name)
        kind = kind_of(ds[name], ds) if str(units or "") in DIMENSIONLESS else ""
        if kind:  # the loss's kind (MSE ...), the FVAF's outputs
            label += f"\n({kind})"
        axes[r, 0].set_ylabel(with_units(label, units))
    # epochs are whole (sharex: every panel), also one alone
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    what = ", ".join(format_setting(k, v) for k, v in (sel or {}).items())
    fig.suptitle(
        wrapped(
            "Learning curves"
            + (f" ({what})" if what else "")
            + f": {pooled_over(ds[variables[0]], ('epoch', 'output', by), q, n_max)}",
            fig,
        )
        + (f"\n{holes}" if (holes := merge_holes(ds)) else "")  # a model's panel of fewer runs, or none
    )
    return fig


@styled
def input_weight_profiles(ds: xr.Dataset, *, n: int = 15, repeat: int = 0, sel: dict | None = None) -> Figure:
    """Input weights ``w1`` of the ``n`` hidden neurons of a spiking BMI decoder with the largest
    |weight|, one panel each (in neuron order). Window encoding (960 inputs, channel = bin x 48 +
    neuron): an image of recorded neuron (y) against 50 ms bin (x, bin 19 the most recent). Bins
    encoding (48 inputs, each neuron's current over the 20 bins): weight against recorded neuron.
    ``fig.snnsim_neurons`` lists the hidden neurons drawn.
    """
    from ..datasets.bmi import BIN_SECONDS, N_BINS, N_NEURONS

    checked_count(n, "n", "hidden neurons")
    a, _ = weights_of(ds, None, repeat, sel)
    if a.shape[0] not in (N_NEURONS, N_NEURONS * N_BINS):
        raise ValueError(f"{a.shape[0]} input units: expected {N_NEURONS} (bins) or {N_NEURONS * N_BINS} (window)")
    window = a.shape[0] == N_NEURONS * N_BINS
    neurons = np.sort(np.argsort(-np.max(np.abs(a), axis=0), kind="stable")[:n])
    cols = min(5, len(neurons))
    rows = int(np.ceil(len(neurons) / cols))
    fig = new_figure(2.1 * cols + (1.0 if window else 0.4), 1.9 * rows + 0.8)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    norm = symmetric_norm(a[:, neurons])
    for ax, j in zip(axes, neurons):
        if window:
            image = a[:, j].reshape(N_BINS, N_NEURONS).T
            im = ax.imshow(image, aspect="auto", origin="lower", interpolation="nearest", cmap="RdBu_r", norm=norm)
        else:
            ax.plot(np.arange(N_NEURONS), a[:, j])
        ax.set_title(f"hidden {j}", fontsize=8)
    for ax in axes[len(neurons) :]:
        ax.set_visible(False)
    bin_ms = f"{BIN_SECONDS * 1e3:g} ms"
    for i, ax in enumerate(axes[: len(neurons)]):
        if i + cols >= len(neurons):
            ax.xaxis.set_tick_params(labelbottom=True)  # above a hidden panel
    fig.supxlabel(f"Bin ({bin_ms}; {N_BINS - 1} = most recent)" if window else "Recorded neuron", fontsize=9)
    fig.supylabel("Recorded neuron" if window else "Weight", fontsize=9)
    if window:
        fig.colorbar(im, ax=list(axes[: len(neurons)]), label="Weight")
    inputs = f"{N_NEURONS} recorded neurons x {N_BINS} bins of {bin_ms}" if window else f"{N_NEURONS} recorded neurons"
    fig.suptitle(
        wrapped(
            f"Input weights $W_1$ of the {len(neurons)} hidden neurons with the largest |w| ({inputs})"
            + model_drawn(ds, repeat, sel),
            fig,
        )
    )
    fig.snnsim_neurons = neurons
    return fig
