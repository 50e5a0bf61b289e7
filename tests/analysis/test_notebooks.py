"""The analysis notebooks execute top to bottom on smoke-sized merged experiments.

Smoke grids are built with the real pipeline (``snnsim.sweep``: tiny runs, merged), named like
the real experiments so the notebooks load them unchanged from ``$SNNSIM_RESULTS``. The
kernel is the running interpreter (a temporary kernelspec on ``$JUPYTER_PATH``), so CI needs
no ``ipykernel install``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

# on one xdist worker: each worker that runs one of these builds the smoke grids (smoke_results) anew
pytestmark = pytest.mark.xdist_group("notebook-grids")

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
KERNEL = "snnsim-test-python"

IPD_SMOKE = """
name = "ipd_readouts"
[fixed]
study = "ipd"
backend = "fused"
epochs = 2
n_train_batches = 2
n_test_batches = 1
batch_size = 16
hidden = 8
repeats = 2
[sweep]
readout = ["mean", "max", "fr"]
tau = ["20ms", "2ms"]
"""

BMI_SMOKE = """
name = "bmi_training_size"
[fixed]
study = "bmi"
backend = "snntorch"
epochs = 2
hidden = 8
batch_size = 256
repeats = 1
[[sweep]]
model = ["snn", "linear"]
rotation = [15]
n_train_folds = [1, 2]
[[sweep]]
model = ["snn", "linear"]
rotation = [5]
n_train_folds = [2]
"""


def build_grid(text: str, root: Path):
    from snnsim.sweep import loads
    from snnsim.sweep.jobs import run_job
    from snnsim.sweep.merge import merge

    exp = loads(text)
    for index in range(exp.grid_size):
        assert run_job(exp, index, root=root, log=lambda *a, **k: None) == 0
    return merge(exp, root=root)


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    build_grid(IPD_SMOKE, root)
    build_grid(BMI_SMOKE, root)
    return root


@pytest.fixture
def kernel_env(tmp_path, monkeypatch, smoke_results):
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "snnsim test",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("SNNSIM_RESULTS", str(smoke_results))
    monkeypatch.setenv("SNNSIM_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return tmp_path


def execute(name: str, cwd: Path):
    nb = nbformat.read(ANALYSIS / name, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def images(nb) -> int:
    return sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )


@pytest.mark.slow
def test_ipd_readouts_notebook_names_the_jobs_missing_from_the_merge(kernel_env, smoke_results, tmp_path, monkeypatch):
    """A merge with a hole (``sweep merge --allow-missing``, job 0 = mean at 20 ms not run): the
    notebook says which jobs are left out, and its median table how many trainings each median
    is of, as ``python -m snnsim.plots`` and ``analysis/ipd_readout_table.py`` do; the table
    alone pooled the trainings present without a word. Jobs 1-5 are the job files smoke_results
    ran (the same experiment and indices: the files run_job writes), merged without job 0."""
    import shutil

    from snnsim.sweep import loads
    from snnsim.sweep.jobs import result_path
    from snnsim.sweep.merge import merge

    root = tmp_path / "holes"
    exp = loads(IPD_SMOKE)
    for index in range(1, exp.grid_size):
        result_path(exp, index, root).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(result_path(exp, index, smoke_results), result_path(exp, index, root))
    merge(exp, root=root, allow_missing=True)
    monkeypatch.setenv("SNNSIM_RESULTS", str(root))
    # no figure files: this test reads the notebook's text (the figures are still drawn, inline);
    # saving them, PNG and SVG, is test_notebook_runs_as_docs_figures_md_runs_it's
    monkeypatch.delenv("SNNSIM_FIGURES")
    nb = execute("ipd_readouts.ipynb", kernel_env)
    text = [
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "stream"
    ]
    assert any("ipd_readouts: 1 of 6 jobs missing from the merge (0), left out" in t for t in text), text
    (counts,) = [t for t in text if t.startswith("trainings per median")]
    table = {row.split()[0]: [int(v) for v in row.split()[1:]] for row in counts.splitlines()[3:6]}
    assert table == {"mean": [0, 2], "max": [2, 2], "fr": [2, 2]}, counts


@pytest.mark.slow
def test_ipd_readouts_notebook_runs_on_a_single_run(kernel_env, smoke_results, monkeypatch):
    """$SNNSIM_IPD_EXPERIMENT naming one run's file (no readout or tau dim): the notebook runs to
    the end and draws its confusion matrix under the name snnsim.plots gives it; the confusion
    cell looped over ds["readout"] and ds["tau"] and stopped with a KeyError."""
    import shutil

    from snnsim.plots.__main__ import main as plots_main

    other = kernel_env / "single"
    other.mkdir()
    shutil.copy(smoke_results / "ipd_readouts" / "job-0.h5", other / "one_run.h5")
    monkeypatch.setenv("SNNSIM_RESULTS", str(other))
    monkeypatch.setenv("SNNSIM_IPD_EXPERIMENT", "one_run")
    execute("ipd_readouts.ipynb", kernel_env)
    saved = {p.name for p in (kernel_env / "figures").glob("*.png")}
    assert "one_run_confusion.png" in saved, sorted(saved)
    assert plots_main([str(other / "one_run.h5"), "--out", str(kernel_env / "cli"), "--format", "png"]) == 0
    assert saved <= {p.name for p in (kernel_env / "cli").glob("*.png")}, sorted(saved)


@pytest.mark.parametrize("experiment", ["one_run.h5", "jobs/job-0.h5"])
def test_notebook_saves_a_run_files_figures_under_the_name_snnsim_plots_gives_them(tmp_path, monkeypatch, experiment):
    """$SNNSIM_IPD_EXPERIMENT naming a run's file with its extension, or a job's file in its
    experiment's folder: each figure is saved as snnsim.plots names it, FILE-STEM_FIGURE in
    $SNNSIM_FIGURES. They were saved as ``one_run.h5_accuracy.png``, and in a folder ``jobs/``
    below $SNNSIM_FIGURES, beside (never replacing) the figures of that name. The notebook's first
    cell runs here, in this process (no kernel), and its ``show`` saves a figure."""
    import matplotlib.pyplot as plt

    from snnsim import run as run_cli

    out = tmp_path / "results" / experiment
    args = ["--epochs", "1", "--n-train-batches", "1", "--n-test-batches", "1", "--hidden", "4", "--quiet"]
    assert run_cli.main([*args, "--out", str(out)]) == 0
    monkeypatch.setenv("SNNSIM_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SNNSIM_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("SNNSIM_IPD_EXPERIMENT", experiment)
    nb = nbformat.read(ANALYSIS / "ipd_readouts.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code").source.replace("%matplotlib inline\n", "")
    scope: dict = {}
    exec(setup, scope)
    scope["show"](plt.figure(), "accuracy")
    saved = sorted(str(p.relative_to(tmp_path / "figures")) for p in (tmp_path / "figures").rglob("*.*"))
    assert saved == [f"{Path(experiment).stem}_accuracy.png", f"{Path(experiment).stem}_accuracy.svg"], saved


def test_a_notebooks_saved_figure_names_its_result_file_as_snnsim_plots_does(tmp_path, monkeypatch):
    """A figure the notebook saves in $SNNSIM_FIGURES names the result file it was drawn from in
    its metadata, as ``python -m snnsim.plots`` does (PNG ``Source``: path and ``data_sha256``);
    the notebook's figures carried nothing of it."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from snnsim import plots, results
    from snnsim import run as run_cli

    out = tmp_path / "results" / "one_run.h5"
    args = ["--epochs", "1", "--n-train-batches", "1", "--n-test-batches", "1", "--hidden", "4", "--quiet"]
    assert run_cli.main([*args, "--out", str(out)]) == 0
    monkeypatch.setenv("SNNSIM_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SNNSIM_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("SNNSIM_IPD_EXPERIMENT", "one_run")
    nb = nbformat.read(ANALYSIS / "ipd_readouts.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code").source.replace("%matplotlib inline\n", "")
    scope: dict = {}
    exec(setup, scope)
    scope["show"](plt.figure(), "accuracy")
    source = Image.open(tmp_path / "figures" / "one_run_accuracy.png").text["Source"]
    assert source == plots.figure_source(out)
    assert str(out) in source and results.load(out).attrs["data_sha256"] in source


def test_ipd_notebook_names_the_classes_and_fibres_of_the_experiment_it_loads(tmp_path, monkeypatch, capsys):
    """$SNNSIM_IPD_EXPERIMENT naming an experiment of other settings (``--n-classes 8``,
    ``--anf-per-ear 20``): the notebook's text said "chance (1/12)", "fibres 0-99" and "errors of
    one class (15 deg)", the default experiment's numbers. Its code prints the loaded experiment's
    (each value of a swept setting), and its text states none of its own. The cells run as
    committed, in this process (no kernel)."""
    from snnsim import run as run_cli

    out = tmp_path / "results" / "other.h5"
    args = ["--epochs", "1", "--n-train-batches", "1", "--n-test-batches", "1", "--hidden", "4", "--quiet"]
    assert run_cli.main([*args, "--n-classes", "8", "--anf-per-ear", "20", "--out", str(out)]) == 0
    monkeypatch.setenv("SNNSIM_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SNNSIM_IPD_EXPERIMENT", "other")
    monkeypatch.delenv("SNNSIM_FIGURES", raising=False)
    nb = nbformat.read(ANALYSIS / "ipd_readouts.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    scope: dict = {}
    exec(code[0].replace("%matplotlib inline\n", ""), scope)
    (facts,) = [c for c in code if "n_classes" in c]
    capsys.readouterr()
    exec(facts, scope)
    assert capsys.readouterr().out.splitlines() == [
        "IPD classes: 8 (chance 12.5%, each class 22.5 deg wide)",
        "fibres per ear: 20 (0-19 one ear, 20-39 the other)",
    ]
    exec(facts, {**scope, "ds": scope["ds"].expand_dims(anf_per_ear=[10, 20])})  # a grid over it
    assert capsys.readouterr().out.splitlines()[1] == (
        "fibres per ear: 10 (0-9 one ear, 10-19 the other), 20 (0-19 one ear, 20-39 the other)"
    )
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not [n for n in ("1/12", "0-99", "100-199", "15 deg") if n in text], text


def test_notebook_names_a_predictions_file_as_one(tmp_path, monkeypatch):
    """A ``python -m snnsim.predict`` file as $SNNSIM_BMI_EXPERIMENT was refused as holding "no
    study's results", though it holds a BMI model's predictions; it is named now, with the run's
    file to give instead, as the analysis scripts name it. The notebook's first cell, here."""
    from snnsim import predict
    from snnsim import run as run_cli
    from snnsim.errors import ResultError

    model, out = tmp_path / "ridge.h5", tmp_path / "preds.h5"
    assert run_cli.main(["--study", "bmi", "--model", "linear", "--n-train-folds", "1", "--quiet", "--out",
                         str(model)]) == 0  # fmt: skip
    assert predict.main([str(model), "--data", "synthetic", "--out", str(out)]) == 0
    monkeypatch.setenv("SNNSIM_RESULTS", str(tmp_path))
    monkeypatch.setenv("SNNSIM_BMI_EXPERIMENT", "preds")
    nb = nbformat.read(ANALYSIS / "bmi_training_size.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code").source.replace("%matplotlib inline\n", "")
    with pytest.raises(ResultError) as refused:
        exec(setup, {})
    assert str(refused.value) == (
        f"{tmp_path / 'preds'} is a predictions file (python -m snnsim.predict) of the model in {model}, not an "
        f"experiment's results: give the run's file ({model}) or the experiment it belongs to"
    )


BMI_DIMS = """
name = "bmi_dims"
[fixed]
study = "bmi"
model = "linear"
rotation = 15
[sweep]
dims = [[0], [1]]
n_train_folds = [1, 2]
"""


def test_bmi_notebook_fvaf_table_is_the_shoulder_of_a_merge_over_dims(tmp_path):
    """The BMI notebook's test-FVAF table (commented "shoulder") on a merge over ``dims``, whose
    outputs the merge sorts by name (elbow, shoulder): it gives the shoulder's FVAF, as Figure 2a
    beside it draws. It took output 0 of the merged file, the elbow's. The table's cell runs as
    committed in the notebook, in this process (no kernel)."""
    from snnsim import plots
    from snnsim.plots.common import merge_holes

    ds = build_grid(BMI_DIMS, tmp_path)
    assert list(ds.output.values) == ["elbow", "shoulder"]
    nb = nbformat.read(ANALYSIS / "bmi_training_size.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and '["test_fvaf"]' in c.source]
    *body, last = cell.source.rstrip().splitlines()
    scope = {"ds": ds, "merge_holes": merge_holes}
    exec("\n".join(body), scope)
    table = eval(last, scope)
    shoulder = ds.test_fvaf.sel(output="shoulder").isel(dims=0, repeat=0).values  # the dims = [0] jobs
    assert np.isfinite(shoulder).all()
    np.testing.assert_array_equal(table.values, shoulder)
    (ax,) = plots.fvaf_figure(ds).axes
    np.testing.assert_allclose(table.values, ax.lines[2].get_ydata(), rtol=1e-12)


def test_committed_notebooks_are_generated_by_make_notebooks(tmp_path):
    """The .ipynb files are exactly what analysis/make_notebooks.py writes (no stale edits)."""
    script = (ANALYSIS / "make_notebooks.py").read_text()
    copy = tmp_path / "make_notebooks.py"
    copy.write_text(script)
    (tmp_path / "_common.py").write_text((ANALYSIS / "_common.py").read_text())
    subprocess.run([sys.executable, str(copy)], check=True, capture_output=True)
    for name in ("ipd_readouts.ipynb", "bmi_training_size.ipynb"):
        assert (tmp_path / name).read_text() == (ANALYSIS / name).read_text(), f"regenerate {name}"


def test_make_notebooks_on_a_full_disk_keeps_the_notebooks_it_had(tmp_path):
    """A disk that fills while make_notebooks.py writes: one line naming the notebook, exit 5, and
    each notebook as it was (it left the first one cut off mid-cell, which Jupyter cannot open)."""
    from small_disk import fill, mounted_tmpfs

    old = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
    with mounted_tmpfs(tmp_path / "disk", "256k") as disk:
        for name in ("make_notebooks.py", "_common.py"):
            (disk / name).write_text((ANALYSIS / name).read_text())
        for name in ("ipd_readouts.ipynb", "bmi_training_size.ipynb"):
            (disk / name).write_text(old)
        fill(disk)
        proc = subprocess.run([sys.executable, str(disk / "make_notebooks.py")], capture_output=True, text=True)
        assert proc.returncode == 5, proc.stderr
        assert proc.stderr.count("\n") == 1 and "No space left" in proc.stderr, proc.stderr
        assert "ipd_readouts.ipynb" in proc.stderr, proc.stderr
        assert [(disk / n).read_text() for n in ("ipd_readouts.ipynb", "bmi_training_size.ipynb")] == [old, old]
        assert sorted(p.name for p in disk.iterdir() if p.name.startswith(".")) == []  # no temporary left


IPD_FIGURES = [
    "input_raster", "accuracy", "error", "training_curves", "weights", "weight_profiles",  # run files hold w1, w2
    *(f"confusion_{r}_{t}" for r in ("mean", "max", "fr") for t in ("20ms", "2ms")),
]  # fmt: skip
BMI_FIGURES = ["fvaf", "learning_curves", "prediction", "rmse"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "notebook, variable, name",
    [
        ("ipd_readouts.ipynb", "SNNSIM_IPD_EXPERIMENT", "ipd_readouts"),
        ("bmi_training_size.ipynb", "SNNSIM_BMI_EXPERIMENT", "bmi_training_size"),
    ],
)
def test_notebook_runs_as_docs_figures_md_runs_it(kernel_env, smoke_results, monkeypatch, notebook, variable, name):
    """The notebook runs top to bottom and draws every figure, run as docs/figures.md runs it:
    ``SNNSIM_RESULTS=results SNNSIM_FIGURES=docs/figures jupyter nbconvert --execute
    analysis/NOTEBOOK`` from the repository root. Jupyter runs a notebook in its own folder
    (analysis/), and the relative paths are the root's (where the sweeps write results/), so the
    notebook finds the merged experiment and saves into the root's docs/figures.

    The experiment is another one than the notebook's default ($SNNSIM_*_EXPERIMENT): each figure
    is saved under the name that ``python -m snnsim.plots`` gives it for the experiment loaded,
    never under another experiment's name, where ``SNNSIM_FIGURES=docs/figures`` would replace
    that experiment's figures. (One execution checks all three: each takes half a minute.)"""
    import shutil

    from snnsim import plots, results
    from snnsim.plots.__main__ import main as plots_main

    root = kernel_env / "repo"
    (root / "analysis").mkdir(parents=True)
    (root / "results").mkdir()
    shutil.copy(ANALYSIS / notebook, root / "analysis" / notebook)
    shutil.copy(smoke_results / f"{name}.h5", root / "results" / "renamed_experiment.h5")
    monkeypatch.setenv("SNNSIM_RESULTS", "results")
    monkeypatch.setenv("SNNSIM_FIGURES", "docs/figures")
    monkeypatch.setenv(variable, "renamed_experiment")
    nb = execute(notebook, root / "analysis")
    assert not (root / "analysis" / "docs").exists()
    figures = root / "docs" / "figures"
    saved = {p.name for p in figures.glob("*.png")}
    expected = IPD_FIGURES if name.startswith("ipd") else BMI_FIGURES
    assert saved == {f"renamed_experiment_{f}.png" for f in expected}, sorted(saved)
    assert images(nb) == len(expected)
    assert (figures / f"renamed_experiment_{expected[1] if name.startswith('ipd') else expected[0]}.svg").is_file()
    assert plots_main([str(root / "results" / "renamed_experiment"), "--out", str(kernel_env / "cli"),
                       "--format", "png"]) == 0  # fmt: skip
    drawn = {p.name for p in (kernel_env / "cli").glob("*.png")}
    assert saved <= drawn, sorted(saved - drawn)
    if name.startswith("ipd"):
        # the median table's tau columns in ms, as the figures and the markdown name them (they read
        # 0.020 and 0.002: seconds, with no unit)
        (cell,) = [c for c in nb.cells if c.cell_type == "code" and 'ds["test_acc"]' in c.source]
        (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        header = out.data["text/plain"].splitlines()[0]
        assert header.split() == ["tau", "20", "ms", "2", "ms"], header
        return
    # the table of test FVAF gives Figure 2a's test curves: rotation 5, run at the largest
    # training set only, is left out of both (the table pooled it into its last column)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and '["test_fvaf"]' in c.source]
    (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    header, _, *rows = out.data["text/plain"].splitlines()
    assert header.split() == ["n_train_folds", "1", "2"]
    table = {row.split()[0]: [float(v) for v in row.split()[1:]] for row in rows}
    fig = plots.fvaf_figure(results.load(smoke_results / "bmi_training_size"))
    assert list(table) == [ax.get_title() for ax in fig.axes] == ["snn", "linear"]
    for ax in fig.axes:
        np.testing.assert_allclose(table[ax.get_title()], ax.lines[2].get_ydata(), rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "notebook, variable, other, study",
    [
        ("ipd_readouts.ipynb", "SNNSIM_IPD_EXPERIMENT", "bmi_training_size", "IPD"),
        ("bmi_training_size.ipynb", "SNNSIM_BMI_EXPERIMENT", "ipd_readouts", "BMI"),
    ],
)
def test_notebook_refuses_an_experiment_of_the_other_study(kernel_env, monkeypatch, notebook, variable, other, study):
    """$SNNSIM_*_EXPERIMENT naming a merged experiment of the other study: the loading cell stops
    with one line that names the file, its study and the variable to set, and no figure is saved.
    The IPD notebook drew and saved an IPD input raster under the BMI experiment's name, then
    stopped deep inside accuracy_boxplot with ``KeyError: "No variable named 'test_acc'"``."""
    monkeypatch.setenv(variable, other)
    with pytest.raises(nbclient.exceptions.CellExecutionError) as stopped:
        execute(notebook, kernel_env)
    assert stopped.value.ename == "ResultError", stopped.value
    assert stopped.value.evalue.endswith(
        f"{other} holds {'bmi' if study == 'IPD' else 'ipd'} results, not {study.lower()}: this notebook draws "
        f"{study} figures; name {'an' if study == 'IPD' else 'a'} {study} experiment in ${variable}"
    ), stopped.value.evalue
    assert "\n" not in stopped.value.evalue
    assert not list((kernel_env / "figures").glob("*")), sorted((kernel_env / "figures").glob("*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "notebook, name", [("ipd_readouts.ipynb", "ipd_readouts"), ("bmi_training_size.ipynb", "bmi_training_size")]
)
def test_notebook_without_its_results_says_how_to_make_them(kernel_env, tmp_path, monkeypatch, notebook, name):
    """No merged experiment in $SNNSIM_RESULTS (a student who opens a notebook before running
    the sweep): the loading cell stops with one line naming the folder looked in and the two
    commands that make the file; it said only "no result file at .../NAME"."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SNNSIM_RESULTS", str(empty))
    with pytest.raises(nbclient.exceptions.CellExecutionError) as stopped:
        execute(notebook, kernel_env)
    assert stopped.value.ename == "ResultError", stopped.value
    assert stopped.value.evalue == (
        f"no result file at {empty / name}(.h5): make it with python -m snnsim.sweep local {name}, then "
        f"python -m snnsim.sweep merge {name} (docs/sweeps.md), or set $SNNSIM_RESULTS to the folder that holds it"
    ), stopped.value.evalue
