"""Generate the analysis notebooks from this file (so they are reviewable as Python):

    python analysis/make_notebooks.py          # writes analysis/ipd_readouts.ipynb, bmi_training_size.ipynb

Each notebook loads a merged experiment with :func:`snnsim.results.load` from
``$SNNSIM_RESULTS`` (default ``results``) and draws the figures with :mod:`snnsim.plots`; the
experiment name can be overridden with ``$SNNSIM_IPD_EXPERIMENT`` / ``$SNNSIM_BMI_EXPERIMENT``.
``tests/analysis/test_notebooks.py`` executes both on smoke-sized grids in CI. Outputs are not
stored (the committed notebooks are clean; run them to see the figures).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from _common import parser, run
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from snnsim.atomic_write import write_bytes

HERE = Path(__file__).resolve().parent

SETUP = '''%matplotlib inline
import os
from pathlib import Path

from snnsim import plots, results
from snnsim.errors import ResultError
from snnsim.plots.common import merge_holes

# Jupyter runs a notebook in its own folder (analysis/); relative paths are the repository
# root's, where the sweeps write results/
ROOT = Path.cwd().parent if Path.cwd().name == "analysis" else Path.cwd()
RESULTS = ROOT / (os.environ.get("SNNSIM_RESULTS") or "results")
FIGURES = os.environ.get("SNNSIM_FIGURES")  # set to a folder to also save PNG + SVG files


def load(experiment, study):
    """RESULTS/experiment (a merged experiment, or a run's file) if it holds results of study;
    else a one-line ResultError (an experiment of the other study failed deep in a figure)."""
    if not results.resolve(RESULTS / experiment).exists():
        raise ResultError(f"no result file at {RESULTS / experiment}(.h5): make it with python -m snnsim.sweep local "
                          f"{experiment}, then python -m snnsim.sweep merge {experiment} (docs/sweeps.md), or set "
                          "$SNNSIM_RESULTS to the folder that holds it")
    ds = results.load(RESULTS / experiment)
    if "model" in ds.attrs:  # python -m snnsim.predict's file: its model's run file, no run of its own
        raise ResultError(f"{RESULTS / experiment} is a predictions file (python -m snnsim.predict) of the model in "
                          f"{ds.attrs['model']}, not an experiment's results: give the run's file "
                          f"({ds.attrs['model']}) or the experiment it belongs to")
    found = ds.attrs.get("study") or ds.attrs.get("config_study") or "no study's"
    if found != study:
        raise ResultError(f"{RESULTS / experiment} holds {found} results, not {study}: this notebook draws "
                          f"{study.upper()} figures; name {'an' if study == 'ipd' else 'a'} {study.upper()} experiment in "
                          f"$SNNSIM_{study.upper()}_EXPERIMENT")
    return ds


def show(fig, figure):
    """Save the figure when SNNSIM_FIGURES is set, as STEM_FIGURE, STEM the file's name without
    its folder and .h5 (the name that python -m snnsim.plots gives it), naming the file it shows in
    its metadata as python -m snnsim.plots does; return it for display."""
    if FIGURES:
        plots.save_figure(fig, ROOT / FIGURES / f"{results.resolve(RESULTS / EXPERIMENT).stem}_{figure}",
                          source=plots.figure_source(RESULTS / EXPERIMENT))  # the file it shows, as snnsim.plots
    return fig


def name_holes(ds):
    """A merge with holes (sweep merge --allow-missing): say which jobs are left out of every
    figure and table below, as python -m snnsim.plots does."""
    if holes := merge_holes(ds):
        print(f"{EXPERIMENT}: {holes}")'''


def setup_cell(study: str, experiment: str) -> nbformat.NotebookNode:
    """The first code cell: :data:`SETUP`, then the merged results of ``experiment`` (or of the
    experiment that ``$SNNSIM_<STUDY>_EXPERIMENT`` names) as ``ds``, with its holes named."""
    return new_code_cell(
        SETUP
        + f"""

EXPERIMENT = os.environ.get("SNNSIM_{study.upper()}_EXPERIMENT", "{experiment}")
ds = load(EXPERIMENT, "{study}")
name_holes(ds)
ds"""
    )


IPD = [
    new_markdown_cell("""# IPD readouts: mean, max and firing-rate readouts at τ = 20 ms and 2 ms

The readout notebook's study, run as the `ipd_readouts` experiment
(`experiments/ipd_readouts.toml`: readout {mean, max, fr} x τ {20 ms, 2 ms} x 10 seeds), merged
with `python -m snnsim.sweep merge ipd_readouts`. This notebook only loads the merged results
and calls `snnsim.plots`; the same figures come from
`python -m snnsim.plot results/ipd_readouts --out docs/figures`.

Readouts: **mean** (the notebook's *oc*: mean membrane potential of non-spiking output
neurons over time), **max** (maximum over time) and **fr** (spiking output neurons, firing
rate per step)."""),
    setup_cell("ipd", "ipd_readouts"),
    new_markdown_cell("""## Input stimuli

The experiment's IPD classes and input fibres (each value of a setting it sweeps), which the
figures below take from the results:"""),
    new_code_cell("""def setting(name, default):
    # the values of setting name: swept (a coordinate of ds), else the run's or the experiment's own
    if name in ds.coords:
        return sorted(set(ds[name].values.tolist()))
    return [int(ds.attrs.get(f"config_{name}", default))]


n_classes = setting("n_classes", ds.sizes.get("true_class"))
anf_per_ear = setting("anf_per_ear", ds.sizes.get("input_unit", 0) // 2)
print("IPD classes:", ", ".join(f"{n} (chance {100 / n:.1f}%, each class {180 / n:g} deg wide)" for n in n_classes))
print("fibres per ear:", ", ".join(f"{n} (0-{n - 1} one ear, {n}-{2 * n - 1} the other)" for n in anf_per_ear))"""),
    new_markdown_cell("""Spike rasters of eight stimuli (the first half of the fibres one ear, the second half the
other, as the title numbers them; each fibre has its own phase delay, and the IPD shifts the
second ear's pattern). Drawn fresh with the experiment's stimulus settings."""),
    new_code_cell('show(plots.input_raster(ds=ds, seed=0), "input_raster")'),
    new_markdown_cell("""## Accuracy and error per readout and time constant

One pair of boxes (training, test) per readout x τ over the independent trainings (seeds);
white dots are means, the dotted line is chance (one over the number of classes, as printed
above). The second figure is the mean absolute IPD error in degrees (the class midpoint
against the true IPD)."""),
    new_code_cell('show(plots.accuracy_boxplot(ds), "accuracy")'),
    new_code_cell('show(plots.error_boxplot(ds), "error")'),
    new_code_cell("""# median over seeds and repeats of the test accuracy (%), per readout x tau (in ms)
test = ds["test_acc"]
if "tau" in test.dims:
    test = test.assign_coords(tau=[f"{tau * 1e3:g} ms" for tau in test["tau"].values])
pooled = [d for d in test.dims if d not in ("readout", "tau")]
if merge_holes(ds):  # jobs missing from the merge: how many trainings each median is of
    print("trainings per median (the others missing from the merge):", test.notnull().sum(pooled).to_pandas(), "", sep="\\n")
test.median(pooled).to_pandas()"""),
    new_markdown_cell("""## Training curves

Mean training loss (NLL) per epoch: median over seeds, inter-quartile range shaded."""),
    new_code_cell('show(plots.training_curves(ds), "training_curves")'),
    new_markdown_cell("""## Confusion matrices

For each readout x τ: left, the histogram of true and estimated test IPDs; right, the
confusion matrix with each true-IPD column normalised to 1 (pooled over seeds). A sharp
diagonal is good; mass off the diagonal near it means errors of one class (its width as
printed above)."""),
    new_code_cell("""# one per grid point that was run (readout x tau, and any other swept setting), as python -m
# snnsim.plots draws and names them; a single run's file: its one matrix
from snnsim.plots.__main__ import figures_for

for name, draw in figures_for(ds).items():
    if name.startswith("confusion"):
        display(show(draw(), name))"""),
    new_markdown_cell("""## Hidden-layer weights

IPD result files carry the trained weights as `w1` (repeat, input_unit, hidden_unit) and `w2`
(repeat, hidden_unit, output_unit); the notebook's re-ordered weight plots draw one trained model:
the first grid point that was run (a merge with `--allow-missing` holds NaN where a job was not).
`plots.weight_matrices(w1, w2)` and `plots.hidden_weight_profiles(w1, w2)` also take numpy
arrays directly."""),
    new_code_cell("""from snnsim.plots.common import first_trained

key = first_trained(ds["w1"]) if "w1" in ds and "w2" in ds else None
if key is not None:
    print("weights of", key or "the run")
    display(show(plots.weight_matrices(ds, sel=key or None), "weights"))
    display(show(plots.hidden_weight_profiles(ds, sel=key or None), "weight_profiles"))
else:
    print("no trained weights in this result file")"""),
]

BMI = [
    new_markdown_cell("""# BMI decoding against training-set size

The assignment's Figures 1, 2a and 2b from the `bmi_training_size` experiment
(`experiments/bmi_training_size.toml`: models snn, ann, linear x training folds
1..18 at rotation 15, plus rotation 5 with 18 folds for Figure 1), merged with
`python -m snnsim.sweep merge bmi_training_size`. The same figures come from
`python -m snnsim.plot results/bmi_training_size --out docs/figures`."""),
    setup_cell("bmi", "bmi_training_size"),
    new_markdown_cell("""## Figure 1: true and predicted shoulder velocity on the test fold

A 20 s window of the test fold (rotation 5 and the largest training set when present), one
predicted curve per model. The recording has gaps between contiguous blocks; lines are broken
there rather than joined across the gap."""),
    new_code_cell('show(plots.prediction_trace(ds, window_length=20.0), "prediction")'),
    new_markdown_cell("""## Figures 2a and 2b: FVAF and RMSE against the number of training folds

One panel per model, one curve each for the training, validation and test folds: median over
rotations and repeats, inter-quartile range shaded. Expect training FVAF to fall and
validation/test FVAF to rise as the training set grows (less over-fitting), converging."""),
    new_code_cell('show(plots.fvaf_figure(ds), "fvaf")'),
    new_code_cell('show(plots.rmse_figure(ds), "rmse")'),
    new_code_cell("""# test FVAF (shoulder), median over repeats and the rotations of Figure 2a (those run at every
# training-set size, not rotation 5 at 18 folds only): rows model, columns training folds; output 0
# in a run's order, as the figures take it (a merge over dims sorts its outputs: elbow, shoulder)
from snnsim.plots.bmi import complete_rotations, in_run_order

test = in_run_order(ds)["test_fvaf"].isel(output=0)
rotations = complete_rotations(ds, "test_fvaf")
if rotations is not None:
    test = test.sel(rotation=rotations)
pooled = [d for d in test.dims if d not in ("model", "n_train_folds")]
if merge_holes(ds):  # jobs missing from the merge: how many trainings each median is of
    print("trainings per median (the others missing from the merge):", test.notnull().sum(pooled).to_pandas(), "", sep="\\n")
test.median(pooled).to_pandas()"""),
    new_markdown_cell("""## Learning curves

Training loss and validation FVAF per epoch at the largest training set (early stopping
leaves later epochs empty; the linear decoder is fitted in closed form: one point)."""),
    new_code_cell('show(plots.learning_curves(ds), "learning_curves")'),
]


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


NOTEBOOKS = {"ipd_readouts.ipynb": IPD, "bmi_training_size.ipynb": BMI}


def main() -> None:
    parser("make_notebooks", __doc__).parse_args()
    for name, cells in NOTEBOOKS.items():
        nb = build(cells)
        nbformat.validate(nb)
        text = nbformat.writes(nb)  # as nbformat.write has it, but in one step: never a notebook cut off mid-cell
        write_bytes(HERE / name, (text if text.endswith("\n") else text + "\n").encode(), overwrite=True)
        print(HERE / name)


if __name__ == "__main__":
    run("make_notebooks", main)
