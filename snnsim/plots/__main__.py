"""Command line: ``python -m snnsim.plots RESULTS [--out DIR]``: draw every figure that applies.

RESULTS is a result file (a run, or a merged experiment given as ``results/NAME``). Which
figures apply is decided from the variables present:

- IPD (``confusion``, ``train_acc`` ...): accuracy and error boxplots per readout x tau (and
  any other swept setting that varies: boxes pool only seeds and repeats; so do the confusion
  matrices, one per grid point, e.g. ``confusion_fr_2ms_recurrent-True``),
  training curves, the confusion matrix + IPD histogram (one per readout x tau of a grid),
  the input raster of 8 stimuli with the run's stimulus settings, and the re-ordered weight
  plots when the file holds weights (``w1``, ``w2``);
- BMI (``y_pred``, ``<split>_fvaf`` ...): Figure 1 (true and predicted velocity against time),
  Figures 2a/2b (FVAF, RMSE against training folds) when ``n_train_folds`` is swept, and the
  learning curves, and for a spiking decoder (``w1``, ``w2``) its weights and the input weights
  of its strongest hidden neurons over recorded neurons x 50 ms bins (``weight_profiles``).
- A merged grid (a swept setting such as ``readout``, ``model`` or ``recurrent`` is a dim) with cost variables
  (``synops_eff_acs`` ...): ``costs``, the test accuracy (IPD) or test FVAF (BMI) against the
  effective synaptic operations per sample, one marker per grid point (median and quartiles
  over repeats, log x axis).

Each figure is written as ``DIR/<name>_<figure>.png`` and ``.svg`` (``name``: the results
file's stem) and its path printed; a figure already there is replaced, in one step (figures
are drawn again after each merge; give result files of one name each their own ``--out``).
A figure that cannot be drawn (no test samples in ``--window``) is skipped with a line on
stderr; ``--window`` where that figure is not drawn is
noted and ignored. A missing or invalid file, an empty or reversed
``--window``, an ``--out`` that cannot be written (found before any figure is drawn), or a run
where every figure was skipped: one line on stderr, exit code 2. A figure that cannot be written
after all (a full disk): one line, exit code 5; the figures printed before it are whole, and no
part of it is left.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic_write import WriteFailed, cannot_write_in, folder_blocked, no_empty_folders
from ..cli import (
    PATH_ERRORS,
    Interrupted,
    OneLineParser,
    description_of,
    dpi,
    guarded,
    process,
    stop_on_signals,
    user_path,
)
from ..errors import SnnsimError
from .common import first_trained, merge_holes

if TYPE_CHECKING:
    import xarray as xr

PROG = "snnsim.plots"


def build_parser() -> OneLineParser:
    p = OneLineParser(prog=PROG, description=description_of(__doc__))
    p.add_argument("results", type=user_path, help="result file, or results/NAME for a merged experiment")
    p.add_argument(
        "--out",
        type=lambda text: Path(user_path(text)),
        default=Path("figures"),
        help="output folder (default: figures)",
    )
    p.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=("png", "svg", "pdf"),
        help="file format; repeat for several (default: png and svg)",
    )
    p.add_argument("--dpi", type=dpi, default=120, help="PNG resolution in dots per inch (default 120, 10 to 2400)")
    p.add_argument(
        "--window",
        type=float,
        nargs=2,
        metavar=("START", "STOP"),
        help="BMI Figure 1: time window in s of the recording (its time column; default: the first 20 s of the test fold)",
    )
    p.add_argument("--only", action="append", metavar="FIGURE", help="draw only this figure (repeatable)")
    return p


def figures_for(ds: xr.Dataset, window: Sequence[float] | None = None, path: Path | None = None) -> dict:
    """``{figure name: callable returning a Figure}`` for every figure that applies to ``ds``
    (read from the file ``path``, which a skipped figure's line may name)."""
    from .. import plots
    from .common import group_keys, grouping_dims, is_bmi, pooled_settings, with_settings
    from .costs import METRICS

    out: dict = {}
    if {"train_acc", "test_acc"} <= set(ds.data_vars):
        out["accuracy"] = lambda: plots.accuracy_boxplot(ds)
    if {"train_err_deg", "test_err_deg"} <= set(ds.data_vars):
        out["error"] = lambda: plots.error_boxplot(ds)
    if "confusion" in ds:
        if "loss" in ds and "epoch" in ds.dims:
            out["training_curves"] = lambda: plots.training_curves(ds)
        grid = with_settings(ds, ("readout", "tau"))
        dims = [d for d in ("readout", "tau") if d in ds.dims]
        dims += pooled_settings(ds["confusion"], dims)
        for key in group_keys(grid, dims):
            sub = ds.sel(key) if key else ds
            if not bool((sub["confusion"].fillna(0) > 0).any()):
                continue
            suffix = "_".join(confusion_suffix(k, v) for k, v in key.items())
            if "confusion_" + suffix in out:  # two taus alike in 6 digits: all digits, or one is lost
                suffix = "_".join(confusion_suffix(k, v, exact=True) for k, v in key.items())
            out["confusion" + ("_" + suffix if suffix else "")] = lambda k=key: plots.confusion_figure(
                ds, sel=k or None
            )
        out["input_raster"] = lambda: plots.input_raster(
            ds=ds, stimulus=plots.ipd.stimulus_of(ds, _raster_advice(ds, path))
        )
    if "confusion" in ds and any(d in ds.dims for d in plots.ipd.MODEL_SPACE_DIMS):
        out["model_space"] = lambda: plots.model_space_figure(ds)
    if {"w1", "w2"} <= set(ds.data_vars) and (sel := first_trained(ds["w1"])) is not None:
        threshold = None if is_bmi(ds) else 0.5  # the notebook's re-ordering is the IPD network's
        out["weights"] = lambda: plots.weight_matrices(ds, sel=sel or None, threshold=threshold)
        profiles = plots.input_weight_profiles if is_bmi(ds) else plots.hidden_weight_profiles
        out["weight_profiles"] = lambda: profiles(ds, sel=sel or None)
    if {"time", "y_true", "y_pred"} <= set(ds.data_vars):
        out["prediction"] = lambda: plots.prediction_trace(ds, window=tuple(window) if window else None)
    if "n_train_folds" in ds.dims:
        if any(f"{s}_fvaf" in ds for s in ("train", "val", "test")):
            out["fvaf"] = lambda: plots.fvaf_figure(ds)
        if any(f"{s}_rmse" in ds for s in ("train", "val", "test")):
            out["rmse"] = lambda: plots.rmse_figure(ds)
    if (
        {"synops_eff_acs", "synops_eff_macs"} <= set(ds.data_vars)
        and (metric := next((m for m in METRICS if m in ds), None))
        and (grouping_dims(ds) or pooled_settings(ds[metric], ()))  # or a model-space grid (recurrent ...)
    ):
        out["costs"] = lambda: plots.cost_figure(ds)
    if "confusion" not in ds and "epoch" in ds.dims and plots.bmi.epoch_variables(ds):
        out["learning_curves"] = lambda: plots.learning_curves(ds)
    return out


def _raster_advice(ds: xr.Dataset, path: Path | None) -> str:
    """What a command-line user can do where a merge sweeps the stimulus (no one stimulus is its
    own): draw the raster of one job's (a tuning's: one trial's) result file, which has one."""
    kind, file = ("trial", "trial-N.h5") if "tune_spec" in ds.attrs else ("job", "job-INDEX.h5")
    if path is None or ("experiment" not in ds.attrs and kind == "job"):
        return "draw it from one run's result file (python -m snnsim.plots RUN.h5 --only input_raster)"
    return f"draw it from one {kind}'s result file: python -m snnsim.plots {path.with_suffix('') / file} --only input_raster"


def confusion_suffix(name: str, value: object, exact: bool = False) -> str:
    """File-name part of one grid setting: ``20ms`` (tau, 6 digits; 15 with ``exact``), ``fr``
    (readout), ``recurrent-True``, ``tau_syn-5ms``, ``duration-50ms`` (a duration in ms),
    ``tone_hz-20`` (a number as the figure's title writes it)."""
    import numpy as np

    from .common import is_duration

    digits = ".15g" if exact else "g"
    ms = f"{float(value) * 1e3:{digits}}ms" if is_duration(name) else None
    if name == "tau":
        return ms
    if name == "readout":
        return str(value)
    if ms is None and isinstance(value, (float, np.floating)):
        return f"{name}-{value:{digits}}"
    return f"{name}-{ms or value}"


def check_out(out: Path) -> None:
    """Refuse (bad input, exit 2) an ``--out`` that cannot be written or made, before any figure is
    drawn (:func:`~snnsim.atomic_write.folder_blocked`: a file, below one, behind a link to a folder
    that is gone; then a probe file in it, or in the nearest folder above it that is there; nothing
    made)."""
    why, where, made_in = folder_blocked(out)
    if why == "link":  # scratch space behind a link, not mounted here or purged
        raise SnnsimError(f"--out: {where} is a symbolic link to {os.readlink(where)}, which does not exist; "
                          "give the folder the figures go to")  # fmt: skip
    if why == "file":
        raise SnnsimError(f"--out: {out} is a file; give the folder the figures go to")
    if why == "below":
        raise SnnsimError(f"--out: {out} is below the file {where}; give the folder the figures go to")
    if why := cannot_write_in(made_in):
        raise SnnsimError(f"--out: cannot write in {made_in}: {why}; nothing drawn")


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    with stop_on_signals():  # scancel in a figure's write: the previous figure stays, no temporary left beside it
        return guarded(PROG, lambda: draw(ns), memory="--dpi", out=ns.out)


def draw(ns: argparse.Namespace) -> int:
    """Draw the figures asked for by parsed arguments ``ns``; print each file's path."""
    from .. import results
    from .common import figure_source, save_figure

    if ns.out.exists() and not ns.out.is_dir():
        raise SnnsimError(f"--out: {ns.out} is a file; give the folder the figures go to")
    if ns.window and not (math.isfinite(ns.window[0]) and math.isfinite(ns.window[1]) and ns.window[0] < ns.window[1]):
        raise SnnsimError(f"--window: START must be below STOP, both finite (s), got {ns.window[0]:g} {ns.window[1]:g}")
    if Path(ns.results).suffix == ".toml" and Path(ns.results).is_file():  # the experiment, not its results
        raise SnnsimError(f"{ns.results} is a TOML file (an experiment or a tuning spec), not results: "
                          + _merge_hint(Path(ns.results)))  # fmt: skip
    ds = results.load(ns.results)
    import matplotlib  # once the file is read: a refusal before needs it not (a second)

    matplotlib.use("Agg")
    figures = figures_for(ds, ns.window, results.resolve(ns.results))
    if ns.only:
        unknown = [n for n in ns.only if n not in figures]
        if unknown:
            raise SnnsimError(
                f"--only {unknown[0]}: not a figure of this file (available: {', '.join(figures) or 'none'})"
            )
        figures = {n: f for n, f in figures.items() if n in ns.only}
    if not figures:
        if "predicted_class" in ds:  # snnsim.predict of an IPD model: classes per stimulus, no figure of them
            raise SnnsimError(f"{ns.results}: an IPD predictions file (snnsim.predict); no figure applies: "
                              "give the model's result file (python -m snnsim.run --out)")  # fmt: skip
        raise SnnsimError(f"{ns.results}: no figure applies (not an IPD or BMI result)")
    if ns.window and "prediction" not in figures:
        print(f"{PROG}: note: --window applies to BMI Figure 1 (prediction) only, not drawn here; ignored",
              file=sys.stderr)  # fmt: skip
    name = results.resolve(ns.results).stem
    if holes := merge_holes(ds):
        print(f"{PROG}: note: {ns.results}: {holes} of every figure", file=sys.stderr)
    formats = tuple(dict.fromkeys(ns.formats or ("png", "svg")))
    source = figure_source(ns.results)  # in every figure's metadata: the file it shows
    check_out(ns.out)
    drawn, written = 0, []
    # --out and the folders above it that the first figure makes: none left where no figure is written
    with no_empty_folders(ns.out / "figure"):
        try:
            for fig_name, make in figures.items():
                try:
                    fig = make()
                except ValueError as exc:
                    print(f"{PROG}: {fig_name}: skipped ({exc})", file=sys.stderr)
                    continue
                try:
                    paths = save_figure(fig, ns.out / f"{name}_{fig_name}", formats, dpi=ns.dpi, source=source)
                except OSError as exc:  # found as it was written, after the drawing: exit 5 (errors.py), not bad input
                    if exc.errno not in PATH_ERRORS:
                        raise
                    raise WriteFailed(Path(exc.filename or ns.out), exc.strerror or str(exc), exc.errno) from None
                for path in paths:
                    print(path)  # a reader gone (| head) stops the list, not the figures (guarded)
                written += paths
                drawn += 1
        except Interrupted as exc:  # the figures listed before it are written (or the one whose write it came after)
            if exc.written is None:
                exc.written = written[-1] if written else None
            raise
    if not drawn:
        raise SnnsimError(f"{ns.results}: no figure drawn (each was skipped, as said above)")
    return 0


def _merge_hint(toml: Path) -> str:
    """What to give instead of the experiment file (or tuning spec) ``toml``: its merged results."""
    import tomllib

    try:
        name = tomllib.loads(toml.read_text(encoding="utf-8-sig")).get("name")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        name = None
    name = name if isinstance(name, str) and name else "NAME"
    return (f"merge its jobs (python -m snnsim.sweep merge {toml}, or python -m snnsim.tune merge {toml}) and give "
            f"results/{name}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(process(main))
