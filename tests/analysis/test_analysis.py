"""Every analysis script on bad input: one line on stderr and exit code 2, never a traceback; the
table scripts on merged experiments with a job missing (``merge --allow-missing``): medians of the
seeds present, the gap shown, never NaN."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from in_process import run_here

from snnsim import results
from snnsim.costs import Costs
from snnsim.metrics import Classification
from snnsim.network import Architecture, weight_dims
from snnsim.studies import Outcome, ipd
from snnsim.studies.ipd import IPDRepeat
from snnsim.sweep.experiment import loads
from snnsim.sweep.jobs import result_path
from snnsim.sweep.merge import merge

ROOT = Path(__file__).resolve().parents[2]
ANALYSIS = ROOT / "analysis"
REFIT = ANALYSIS / "bmi_readout_refit.py"

READOUTS = """
name = "ipd_readouts"
[fixed]
study = "ipd"
epochs = 2
n_classes = 4
hidden = 4
phase = "per-dataset"
eval = "sum"
[sweep]
readout = ["mean", "max"]
tau = ["20ms", "2ms"]
seed = [0, 1, 2]
"""

#: the same grid with the corrected stimulus (a phase per sample), as ipd_readouts_corrected
CORRECTED = READOUTS.replace('phase = "per-dataset"\n', "").replace("ipd_readouts", "ipd_readouts_corrected")

MODEL_SPACE = """
name = "ipd_model_space"
[fixed]
study = "ipd"
neuron = "standard"
epochs = 2
n_classes = 4
hidden = 4
n_val_batches = 1
[sweep]
tau_syn = ["0", "5ms"]
recurrent = [false, true]
seed = [0, 1, 2]
"""


def fake_ipd_job(exp, index: int, root: Path, value: float | None = None, seconds: float = 0.5) -> None:
    """A job file shaped like a real IPD result: train accuracy = index, test accuracy = 50 +
    index, validation accuracy = 20 + index, test error 2 deg, 0.5 s of training (``value``
    for index in these, ``seconds`` for 0.5 where given)."""
    cfg = exp.config(index)
    value = float(index) if value is None else value
    conf = np.zeros((cfg.n_classes, cfg.n_classes), dtype=int)
    shapes = {"input_unit": 2 * cfg.anf_per_ear, "hidden_unit": cfg.hidden, "output_unit": cfg.n_classes}
    dims = weight_dims(Architecture.from_config(cfg))
    weights = {name: np.zeros([shapes.get(d, 1) for d in names]) for name, names in dims.items()}
    repeat = IPDRepeat(
        np.zeros(cfg.epochs),
        Classification(value, 1.0, conf),
        Classification(50.0 + value, 2.0, conf),
        weights,
        Costs(*(0.0 for _ in Costs._fields)),
        val=Classification(20.0 + value, 3.0, conf) if cfg.n_val_batches else None,
        val_curve=np.zeros(cfg.epochs) if cfg.n_val_batches else None,
    )
    outcomes = {0: Outcome(repeat, seconds)}
    results.write(ipd.STUDY.to_dataset(cfg, outcomes, None, "cpu"), result_path(exp, index, root))


def merged_with_holes(text: str, root: Path, missing: set[int]) -> Path:
    """``text``'s experiment merged with ``--allow-missing`` from fake jobs, ``missing`` left out."""
    exp = loads(text)
    for i in range(exp.grid_size):
        if i not in missing:
            fake_ipd_job(exp, i, root)
    merge(exp, root, allow_missing=True)
    return root / f"{exp.name}.h5"


def bmi_run(path: Path, model: str, test: list[float]) -> Path:
    """A BMI run file of ``model`` whose FVAFs per repeat are ``test``."""
    v = ("repeat", "output"), np.array(test)[:, None]
    ds = xr.Dataset(
        {"test_fvaf": v, "val_fvaf": v, "train_fvaf": v, "test_rmse": v, "train_seconds": ("repeat", [1.0] * len(test))},
        attrs={"study": "bmi", "config_study": "bmi", "config_model": model, "config_readout": "weighted",
               "config_data": "synthetic:weak:1", "complete": 1},
    )  # fmt: skip
    return results.write(ds, path)


def bmi_curve(path: Path) -> Path:
    """A merged BMI learning curve: test FVAF = rotation / 10 + folds / 100 (+0.05 for snn), 3
    rotations, folds 8 and 18; the snn job at rotation 1, 18 folds missing (NaN)."""
    models, rotation, folds = ["snn", "linear"], np.arange(3), np.array([8, 18])
    base = rotation[:, None] / 10 + folds[None, :] / 100
    values = np.stack([base + 0.05, base])
    values[0, 1, 1] = np.nan
    ds = xr.Dataset(
        {"test_fvaf": (("model", "rotation", "n_train_folds", "output"), values[..., None])},
        coords={"model": models, "rotation": rotation, "n_train_folds": folds},
        attrs={"study": "bmi", "config_study": "bmi", "experiment": "bmi_learning_curve", "missing": "[3]",
               "stale": "[]", "complete": 1},
    )  # fmt: skip
    return results.write(ds, path)


def tuning(run: Path, path: Path) -> Path:
    """A run file laid out as ``tune merge`` writes one: dim ``trial``, the spec and its name."""
    ds = results.load(run)
    ds = ds.expand_dims(trial=[0, 1]).assign(objective_value=("trial", [0.5, 0.6]))
    ds.attrs.update({"tune_spec": 'name = "ipd_tune"\n', "name": "ipd_tune", "n_trials": 2})
    return results.write(ds, path)


def predictions(bmi_path: str, root: Path) -> Path:
    """A ``python -m snnsim.predict`` file of a BMI ridge decoder trained on ``bmi_path``."""
    from snnsim import predict
    from snnsim import run as run_cli

    model, out = root / "ridge_model.h5", root / "predictions.h5"
    assert run_cli.main(["--study", "bmi", "--model", "linear", "--data", bmi_path, "--n-train-folds", "2",
                         "--quiet", "--out", str(model)]) == 0  # fmt: skip
    assert predict.main([str(model), "--data", bmi_path, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory, bmi_path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    (root / "notes.txt").write_text("not a result file\n")
    readouts = merged_with_holes(READOUTS, root, {4})
    no_err = results.load(readouts).drop_vars("test_err_deg")
    return {
        "notes": root / "notes.txt",
        "readouts": readouts,
        "readouts_no_err": results.write(no_err, root / "no_err.h5"),
        "corrected": merged_with_holes(CORRECTED, root / "corrected", set()),
        "model_space": merged_with_holes(MODEL_SPACE, root / "ms", {3, 4, 5, 7}),
        "ipd_run": result_path(loads(READOUTS), 0, root),
        "snn": bmi_run(root / "snn.h5", "snn", [0.4, 0.5, 0.3]),
        "ridge": bmi_run(root / "ridge.h5", "linear", [0.45]),
        "curve": bmi_curve(root / "bmi_learning_curve.h5"),
        "tuning": tuning(result_path(loads(READOUTS), 0, root), root / "ipd_tune.h5"),
        "predictions": predictions(bmi_path, root),
    }


def run_script(name: str, *args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python analysis/NAME.py ARGS`` with this checkout's snnsim, in folder ``cwd``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(ANALYSIS / f"{name}.py"), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def run_in_here(name: str, *args: object) -> subprocess.CompletedProcess:
    """``python analysis/NAME.py ARGS`` run in this process (``run_here``), in the repository's
    folder: for the scripts' outputs, once the first case of each script in
    test_bad_input_is_one_line_and_exit_code_2 has run it in a process of its own."""
    return run_here(ANALYSIS / f"{name}.py", *args, cwd=ROOT)


# script, its arguments (names of `files` in braces), what the one line says
BAD_INPUT = [
    ("ipd_readout_table", [], "the following arguments are required"),
    ("ipd_readout_table", ["{notes}"], "notes.txt is a text file, not a result file (HDF5)"),
    ("ipd_readout_table", ["{readouts}", "table"], "invalid choice: 'table'"),
    ("ipd_readout_table", ["{curve}"], "is a merged 'bmi_learning_curve' experiment (study bmi), not an IPD readout"),
    ("ipd_readout_table", ["{ipd_run}"], "is a single run (study ipd), not an IPD readout x tau sweep"),
    ("ipd_readout_table", ["{tuning}"], "is a merged 'ipd_tune' tuning (study ipd), not an IPD readout x tau sweep"),
    ("bmi_table", ["{tuning}"], "is a merged 'ipd_tune' tuning (study ipd), not a BMI run file"),
    ("ipd_readout_table", ["{readouts_no_err}"], "without test_err_deg; not an IPD readout x tau sweep"),
    # the notebook's figures beside a study of other settings (the corrected stimulus): not comparable
    ("ipd_readout_table", ["{corrected}", "ref"], "ref: the notebook's figures are of its seed-compatible settings"),
    ("ipd_readout_table", ["{corrected}", "ref"], "ipd_readouts_corrected.h5 has phase = per-sample; leave out ref"),
    ("ipd_model_space_table", ["{readouts}/nothing.h5"], "no result file at"),
    ("ipd_model_space_table", ["{readouts}"], "'ipd_readouts' experiment (study ipd) without val_acc"),
    ("bmi_learning_curve_table", ["{readouts}"], "is a merged 'ipd_readouts' experiment (study ipd), not a BMI"),
    ("bmi_learning_curve_table", ["{snn}"], "is a single run (study bmi), not a BMI learning curve"),
    ("bmi_table", [], "the following arguments are required: RUN.h5"),
    ("bmi_table", ["{snn}", "{curve}"], "is a merged 'bmi_learning_curve' experiment (study bmi), not a BMI run"),
    ("bmi_table", ["{ipd_run}"], "is a single run (study ipd), not a BMI run file"),
    ("bmi_against_ridge", ["{snn}"], "give SNN.h5:RIDGE.h5, two run files joined by ':'"),
    ("bmi_against_ridge", ["{ridge}:{snn}"], "give SNN.h5:RIDGE.h5 (a --model snn and a --model linear run)"),
    ("bmi_against_ridge", ["{snn}:{notes}"], "notes.txt is a text file, not a result file (HDF5)"),
    ("bmi_readout_refit", [], "the following arguments are required: RUN.h5"),
    ("bmi_readout_refit", ["{curve}"], "not the result file of one run"),
    ("bmi_readout_refit", ["{ipd_run}"], "is a single run (study ipd), not a BMI --model snn run file"),
    ("bmi_ensemble", ["weak:1", "nonsense:1"], "nonsense:1: unknown synthetic generator 'nonsense'"),
    ("bmi_ensemble", ["weak:1", "--models", "0"], "--models: expected an integer >= 1, got '0'"),
    ("bmi_epoch_curves", ["weak:1", "nonsense:1"], "nonsense:1: unknown synthetic generator 'nonsense'"),
    ("bmi_epoch_curves", ["weak:1", "--models", "0"], "--models: expected an integer >= 1, got '0'"),
    ("bmi_linear_by_gradient", ["weak:1", "nonsense:1"], "nonsense:1: unknown synthetic generator 'nonsense'"),
    ("bmi_linear_by_gradient", ["weak:1", "--models", "0"], "--models: expected an integer >= 1, got '0'"),
    # a member as --data spells it was "'synthetic:synthetic:weak:1' is no synthetic data set", and a
    # run's file "unknown synthetic generator 'r.h5' in 'synthetic:r.h5'"
    (
        "bmi_ensemble",
        ["synthetic:weak:1", "synthetic:nonsense:1"],
        "synthetic:nonsense:1: unknown synthetic generator 'nonsense' in 'synthetic:nonsense:1'",
    ),
    ("bmi_epoch_curves", ["synthetic", "{snn}"], "is a file, not a member of the synthetic family; give members"),
    # a bare member's refusal quoted "synthetic:bogus", which the user never wrote
    ("bmi_ensemble", ["bogus"], "error: bogus: unknown synthetic generator 'bogus'; give synthetic,"),
    ("bmi_linear_by_gradient", ["weak:1:2:3"], "error: weak:1:2:3: 'weak:1:2:3' is no synthetic data set; give"),
    ("bmi_heldout_data", ["{notes}"], "notes.txt exists; give a new path"),
    ("bmi_heldout_data", ["{notes}/x.pkl"], "notes.txt"),
    ("bmi_heldout_data", ["{notes}.d/"], "notes.txt.d/ names a folder; give a file name such as"),
    ("bmi_heldout_data", ["out.pkl", "--seed", "-1"], "--seed: expected an integer >= 0, got '-1'"),
    ("make_notebooks", ["extra"], "unrecognized arguments: extra"),
    # a predictions file said "a single run (study unknown)"
    ("bmi_table", ["{predictions}"], "is a predictions file (python -m snnsim.predict) of the model in "),
    ("bmi_table", ["{predictions}"], "ridge_model.h5, not a BMI run file; give /"),
    ("bmi_against_ridge", ["{snn}:{predictions}"], "is a predictions file (python -m snnsim.predict)"),
    ("bmi_readout_refit", ["{predictions}"], "ridge_model.h5, not a BMI --model snn run file; give /"),
    ("bmi_learning_curve_table", ["{predictions}"], "is a predictions file (python -m snnsim.predict) of the"),
    (
        "ipd_readout_table",
        ["{predictions}"],
        "not an IPD readout x tau sweep; give the file of python -m snnsim.sweep merge",
    ),
    ("ipd_model_space_table", ["{predictions}"], "is a predictions file (python -m snnsim.predict) of the model"),
]


#: the first case of each script runs it as a user does, in a process of its own; the others in
#: this one (two seconds of CPU less each), where a traceback would be an exception that fails the test
IN_PROCESS = {i for i, (name, _, _) in enumerate(BAD_INPUT) if any(n == name for n, _, _ in BAD_INPUT[:i])}


@pytest.mark.xdist_group("analysis-files")  # the files, made once on one xdist worker
@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "name", "args", "message"),
    [(i, *c) for i, c in enumerate(BAD_INPUT)],
    ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_INPUT)],
)
def test_bad_input_is_one_line_and_exit_code_2(files, case, name, args, message):
    args = [a.format(**files) for a in args]
    if case in IN_PROCESS:
        proc = run_here(ANALYSIS / f"{name}.py", *args, cwd=ROOT)
    else:
        proc = run_script(name, *args)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"{name}: error: ") and message in proc.stderr, proc.stderr
    assert proc.stdout == ""


@pytest.mark.xdist_group("analysis-files")  # the files, made once on one xdist worker
def test_readout_table_skips_the_missing_seed_and_says_so(files):
    proc = run_in_here("ipd_readout_table", files["readouts"], "ref")
    assert proc.returncode == 0, proc.stderr
    assert "nan" not in proc.stdout.lower()
    lines = proc.stdout.splitlines()
    # job 4 is (mean, 2 ms, seed 1): its cell holds jobs 3 and 5 (test accuracy 53, 55)
    assert (
        "| mean | 20 ms | 51.0 [50.0-52.0] | 47.5 [25.0-75.1] | 2.0 [2.0-2.0] | 10.5 [5.3-30.9] | 1.0 [0.0-2.0] |"
        in lines
    )
    assert (
        "| mean | 2 ms | 54.0 [53.0-55.0] (2 of 3) | 84.7 [82.7-86.4] | 2.0 [2.0-2.0] (2 of 3) | 4.3 [4.1-4.5] "
        "| 4.0 [3.0-5.0] (2 of 3) |"
    ) in lines
    assert "median training time per job: 0.5 s" in lines
    assert lines[-1] == "left out, missing from the merge: job(s) 4; (k of n) marks a cell of k seeds instead of n"


def test_readout_table_times_a_job_of_several_repeats_by_all_of_them(tmp_path):
    """A job of 2 repeats trained for 0.5 s + 0.7 s (``train_seconds`` is per repeat): the table's
    "training time per job" is 1.2 s, not the 0.6 s median of single repeats."""
    exp = loads(READOUTS.replace("hidden = 4", "hidden = 4\nrepeats = 2").replace("[0, 1, 2]", "[0, 2]"))
    for i in range(exp.grid_size):
        cfg = exp.config(i)
        conf = np.zeros((cfg.n_classes, cfg.n_classes), dtype=int)
        dims = weight_dims(Architecture.from_config(cfg))
        shapes = {"input_unit": 2 * cfg.anf_per_ear, "hidden_unit": cfg.hidden, "output_unit": cfg.n_classes}
        weights = {name: np.zeros([shapes.get(d, 1) for d in names]) for name, names in dims.items()}
        row = IPDRepeat(np.zeros(cfg.epochs), Classification(1.0, 1.0, conf), Classification(50.0, 2.0, conf),
                        weights, Costs(*(0.0 for _ in Costs._fields)))  # fmt: skip
        outcomes = {0: Outcome(row, 0.5), 1: Outcome(row, 0.7)}
        results.write(ipd.STUDY.to_dataset(cfg, outcomes, None, "cpu"), result_path(exp, i, tmp_path))
    merge(exp, tmp_path)
    proc = run_in_here("ipd_readout_table", tmp_path / f"{exp.name}.h5")
    assert proc.returncode == 0, proc.stderr
    assert "median training time per job: 1.2 s" in proc.stdout.splitlines()


READOUTS_EVAL = """
name = "ipd_readouts_eval"
[fixed]
study = "ipd"
epochs = 2
n_classes = 4
hidden = 4
[sweep]
readout = ["mean"]
tau = ["20ms"]
eval = ["sum", "readout"]
seed = [0, 1]
"""


def test_readout_table_gives_another_swept_setting_its_own_rows(tmp_path):
    """A sweep of eval besides readout x tau: one row per eval, not both pooled into one cell
    (jobs 0, 1 are eval sum: test accuracy 50, 51; jobs 2, 3 eval readout: 52, 53)."""
    path = merged_with_holes(READOUTS_EVAL, tmp_path, set())
    proc = run_in_here("ipd_readout_table", path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "| readout | tau | eval | test accuracy % | test abs. error deg | train accuracy % |"
    assert "| mean | 20 ms | sum | 50.5 [50.0-51.0] | 2.0 [2.0-2.0] | 0.5 [0.0-1.0] |" in lines
    assert "| mean | 20 ms | readout | 52.5 [52.0-53.0] | 2.0 [2.0-2.0] | 2.5 [2.0-3.0] |" in lines


def skewed_merge(text: str, root: Path, outlier: int) -> Path:
    """``text``'s experiment merged from fake jobs whose values are their index, but job
    ``outlier``'s 10 higher and its training 10 s (0.5 s each other job's): a median of its
    cell differs from the mean."""
    exp = loads(text)
    for i in range(exp.grid_size):
        fake_ipd_job(exp, i, root, value=i + 10.0 * (i == outlier), seconds=10.0 if i == outlier else 0.5)
    merge(exp, root)
    return root / f"{exp.name}.h5"


def test_readout_table_cells_are_medians_not_means(tmp_path):
    """Job 2 (mean, 20 ms, seed 2) an outlier (train accuracy 12, test 62, 10 s): its cell's
    median is that of 0, 1, 12 (1; the mean is 4.3), the training time the median 0.5 s (not 1.3 s)."""
    proc = run_in_here("ipd_readout_table", skewed_merge(READOUTS, tmp_path, 2))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "| mean | 20 ms | 51.0 [50.0-62.0] | 2.0 [2.0-2.0] | 1.0 [0.0-12.0] |" in lines
    assert "median training time per job: 0.5 s" in lines


def test_readout_table_times_the_jobs_that_ran_only(tmp_path):
    """Job i trained for i + 1 s, job 4 missing from the merge: the median time is that of the 11
    jobs that ran (7 s), not of 12 with the missing one counted as 0 s (6.5 s)."""
    exp = loads(READOUTS)
    for i in range(exp.grid_size):
        if i != 4:
            fake_ipd_job(exp, i, tmp_path, seconds=i + 1.0)
    merge(exp, tmp_path, allow_missing=True)
    proc = run_in_here("ipd_readout_table", tmp_path / f"{exp.name}.h5")
    assert proc.returncode == 0, proc.stderr
    assert "median training time per job: 7.0 s" in proc.stdout.splitlines()


def test_model_space_table_gives_medians_not_means(tmp_path):
    """Job 11 (syn 5 ms, rec, seed 2) an outlier (validation accuracy 41, not 31): its setting's
    median is that of 29, 30, 41 (30; the mean is 33.3), and the differences of the pairs it is
    in are 16 and 13 among 6s and 3s: medians +6 and +3 (the means +7.67 and +4.67)."""
    proc = run_in_here("ipd_model_space_table", skewed_merge(MODEL_SPACE, tmp_path, 11))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[2] == "| syn 5 ms, rec | 30.00 | 60.00 | 2.00 | 0 |"
    assert "| syn 5 ms (vs no syn) | +6.00 [+6.00 to +16.00] | +6.00 | 6 of 6 |" in lines
    assert "| rec (vs ff) | +3.00 [+3.00 to +13.00] | +3.00 | 6 of 6 |" in lines


@pytest.mark.xdist_group("analysis-files")  # the files, made once on one xdist worker
def test_model_space_table_shows_short_and_empty_settings(files):
    proc = run_in_here("ipd_model_space_table", files["model_space"])
    assert proc.returncode == 0, proc.stderr
    # jobs 3-5 are (no syn, rec): no seed; job 7 is (syn 5 ms, ff, seed 1); validation accuracy
    # is 20 + job, test accuracy 50 + job
    assert proc.stdout.splitlines() == [
        "| setting | val acc % (median of 3) | (test acc %) | (test err deg) | s per training |",
        "|---|---|---|---|---|",
        "| syn 5 ms, rec | 30.00 | 60.00 | 2.00 | 0 |",
        "| syn 5 ms, ff (2 of 3 seeds) | 27.00 | 57.00 | 2.00 | 0 |",
        "| no syn, ff | 21.00 | 51.00 | 2.00 | 0 |",
        "",
        "no seed in the merge: no syn, rec",
        "",
        "| option | val acc, with - without (median [min-max] over pairs) | (test acc) | pairs |",
        "|---|---|---|---|",
        "| syn 5 ms (vs no syn) | +6.00 [+6.00 to +6.00] | +6.00 | 2 of 6 |",  # ff, seeds 0 and 2
        "| rec (vs ff) | +3.00 [+3.00 to +3.00] | +3.00 | 2 of 6 |",  # syn 5 ms, seeds 0 and 2
        "",
        "left out, missing from the merge: job(s) 3, 4, 5, 7",
    ]


def test_model_space_table_compares_each_value_with_the_first(tmp_path):
    # tau_syn swept at three values, recurrent at one: one row per value after the first, none
    # for recurrent (it has no "with" to compare)
    text = MODEL_SPACE.replace('["0", "5ms"]', '["0", "5ms", "10ms"]').replace("[false, true]", "[false]")
    proc = run_in_here("ipd_model_space_table", merged_with_holes(text, tmp_path, set()))
    assert proc.returncode == 0, proc.stderr
    effects = proc.stdout.split("| pairs |\n|---|---|---|---|\n")[1].splitlines()
    # job = 3 * tau_syn index + seed: validation accuracy 20 + job
    assert effects == [
        "| syn 5 ms (vs no syn) | +3.00 [+3.00 to +3.00] | +3.00 | 3 of 3 |",
        "| syn 10 ms (vs no syn) | +6.00 [+6.00 to +6.00] | +6.00 | 3 of 3 |",
        "",
        "no effect for recurrent: one value swept",
    ]


@pytest.mark.xdist_group("analysis-files")  # the files, made once on one xdist worker
def test_learning_curve_table_marks_the_missing_rotation(files):
    proc = run_in_here("bmi_learning_curve_table", files["curve"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "| training folds | snn | ridge | snn - ridge | snn >= ridge (of 3 rotations) |",
        "|---|---|---|---|---|",
        "| 8 | 0.230 | 0.180 | +0.050 | 3 |",
        # snn at rotations 0 and 2: 0.23, 0.43 -> 0.33; ridge 0.18, 0.28, 0.38 -> 0.28
        "| 18 | 0.330 (2 of 3) | 0.280 | +0.050 (2 of 3) | 2 of 2 |",
        "",
        "left out, missing from the merge: job(s) 3; (k of n) marks a median of k rotations instead of n",
    ]


@pytest.mark.xdist_group("analysis-files")  # the files, made once on one xdist worker
def test_bmi_table_rows(files):
    proc = run_in_here("bmi_table", files["snn"], files["ridge"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[2:] == [
        "| snn | weighted | 0.400 [0.300-0.500] | 0.400 [0.300-0.500] | 0.400 [0.300-0.500] | 0.400 [0.300-0.500] | 1.0 |",
        "| linear | - | 0.450 [0.450-0.450] | 0.450 [0.450-0.450] | 0.450 [0.450-0.450] | 0.450 [0.450-0.450] | 1.0 |",
    ]


def test_bmi_table_names_the_files_rmse_unit(tmp_path):
    # the header said rad/s whatever the target; a --target theta run's RMSE is in rad
    ds = results.load(bmi_run(tmp_path / "a.h5", "ann", [0.4]))
    ds["test_rmse"].attrs["units"] = "rad"
    proc = run_in_here("bmi_table", results.write(ds, tmp_path / "theta.h5"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split(" | ")[3] == "test RMSE (rad)"


def test_bmi_table_reads_a_run_file_of_snnsim_0_2(tmp_path):
    # snnsim 0.2 wrote ``task``/``config_task`` for today's ``study``/``config_study``: the script
    # said "is a single run (study unknown), not a BMI run file"
    ds = results.load(bmi_run(tmp_path / "a.h5", "ann", [0.4]))
    ds.attrs["task"], ds.attrs["config_task"] = ds.attrs.pop("study"), ds.attrs.pop("config_study")
    old = results.write(ds, tmp_path / "old.h5")
    proc = run_in_here("bmi_table", old)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[2].startswith("| ann | - | 0.400 ")
    loaded = results.load(old)
    assert (loaded.attrs["study"], loaded.attrs["config_study"]) == ("bmi", "bmi") and "task" not in loaded.attrs


def train_here(folder: Path, *flags: str) -> Path:
    """A one-epoch 4-neuron BMI snn run trained in this process with ``flags`` and the paths
    relative to ``folder``, as ``python -m snnsim.run`` run in it writes it: ``folder/run.h5``."""
    import contextlib

    from snnsim import run as run_cli

    with contextlib.chdir(folder):
        assert run_cli.main(["--study", "bmi", "--model", "snn", *flags, "--epochs", "1", "--hidden", "4",
                             "--n-train-folds", "2", "--quiet", "--out", "run.h5"]) == 0  # fmt: skip
    return folder / "run.h5"


@pytest.fixture(scope="module")
def refit_run(tmp_path_factory, bmi_path) -> Path:
    """A folder with ``bmi.pkl`` and ``run.h5``, a run made there from ``--data bmi.pkl``
    (relative); tests copy the folder before they change it."""
    folder = tmp_path_factory.mktemp("refit")
    (folder / "bmi.pkl").write_bytes(Path(bmi_path).read_bytes())
    train_here(folder, "--data", "bmi.pkl")
    return folder


@pytest.mark.xdist_group("analysis-refit")  # the run, made once on one xdist worker
@pytest.mark.slow
def test_readout_refit_takes_the_runs_data_file_from_another_folder(refit_run, bmi_path, tmp_path):
    """A run made from ``--data bmi.pkl`` (relative) and read from another folder: refused in
    one line naming --data, with nothing on stdout (it printed the table's header, then ``--data:
    no file at bmi.pkl``, and had no --data); ``--data`` gives the file, checked by its SHA-256.
    The first refusal runs the script in a process of its own, the rest in this one."""
    import pickle
    import shutil

    run_dir = shutil.copytree(refit_run, tmp_path / "run")
    run = run_dir / "run.h5"
    other = tmp_path / "other.pkl"  # the same samples with one fold's counts changed: another file
    data = pickle.loads(Path(bmi_path).read_bytes())
    data["MI"][0] = data["MI"][0] + 1
    other.write_bytes(pickle.dumps(data))

    refusals = [
        ([run], "a path relative to the folder that run started in"),
        ([run, "--data", other], "--data: " + str(other) + " has SHA-256 "),
        ([run, "--data", tmp_path / "nothing.pkl"], "--data: no file at"),
    ]
    for i, (args, message) in enumerate(refusals):
        if i == 0:
            proc = run_script("bmi_readout_refit", *args)
        else:
            proc = run_here(REFIT, *args, cwd=ROOT)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
        assert proc.stdout == ""
    (run_dir / "bmi.pkl").write_bytes(Path(other).read_bytes())  # the run's own path, changed since
    proc = run_here(REFIT, "run.h5", cwd=run_dir)
    assert proc.returncode == 2 and "data file bmi.pkl changed since (SHA-256" in proc.stderr, proc.stderr
    assert "give --data FILE, the file as it was" in proc.stderr and proc.stdout == "", proc.stderr

    proc = run_here(REFIT, run, "--data", bmi_path, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()[2:]
    assert len(rows) == 1 and rows[0].startswith(f"| {run} | 0 | ")
    trained = results.load(run)["val_fvaf"].mean("output").values[0]
    assert rows[0].split(" | ")[3].split(" / ")[0] == f"{trained:.3f}"  # the run's own validation FVAF


@pytest.mark.xdist_group("analysis-refit")  # the run, made once on one xdist worker
@pytest.mark.slow
def test_readout_refit_data_and_runs_may_begin_with_a_tilde(refit_run, tmp_path):
    """``--data=~/bmi.pkl`` and a quoted ``"~/run.h5"`` (a ``~`` the shell leaves) are in the home
    folder, as for every snnsim command: the ``--data`` was refused as "no file at ~/bmi.pkl"."""
    import shutil

    home = shutil.copytree(refit_run, tmp_path / "home")
    env = {**os.environ, "HOME": str(home)}
    work = tmp_path / "work"  # where the run's relative data path is not
    work.mkdir()
    proc = run_here(REFIT, "~/run.h5", "--data=~/bmi.pkl", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()[2:]
    assert len(rows) == 1 and rows[0].startswith(f"| {home / 'run.h5'} | 0 | "), rows
    assert list(work.iterdir()) == []


def test_readout_refit_refuses_data_for_a_synthetic_run(tmp_path):
    run = train_here(tmp_path, "--data", "synthetic:weak:1")
    proc = run_here(REFIT, run, "--data", run, cwd=ROOT)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "was made on synthetic:weak:1; no file can be told to be its data" in proc.stderr
    assert proc.stdout == ""


def test_bmi_probes_help_says_what_each_option_is():
    """``--models`` of the probe scripts and ``--seed`` of bmi_heldout_data had no help line
    (``--models MODELS`` alone): what N counts and its default were in the docstring only,
    which ``--help`` does not show past its first paragraph. (In this process: each script runs
    in a process of its own in test_bad_input_is_one_line_and_exit_code_2.)"""
    for name, default in (("bmi_ensemble", 10), ("bmi_epoch_curves", 5), ("bmi_linear_by_gradient", 3)):
        proc = run_here(ANALYSIS / f"{name}.py", "--help", cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        assert f"--models N decoders trained per member, seeds 0..N-1 (default {default})" in " ".join(
            proc.stdout.split()
        ), proc.stdout
    proc = run_here(ANALYSIS / "bmi_heldout_data.py", "--help", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "--seed SEED the generator's seed; the same seed writes the same data (default 0)" in " ".join(
        proc.stdout.split()
    ), proc.stdout


def test_bmi_probes_label_the_numbers_they_print(monkeypatch, capsys):
    """The probe scripts' lines said ``weak:1 ridge 0.400 (0.300)``: no header, nothing naming
    validation FVAF and, in parentheses, test FVAF. Their training is replaced here by fixed
    scores; what is checked is what their printing says of those numbers."""
    import bmi_ensemble
    import bmi_epoch_curves

    monkeypatch.setattr(bmi_ensemble, "scores", lambda data, n: {"ridge": (0.4, 0.3), "mean of 2": (0.35, 0.25)})
    monkeypatch.setattr(sys, "argv", ["bmi_ensemble", "weak:1", "--models", "2"])
    bmi_ensemble.main()
    assert capsys.readouterr().out.splitlines() == [
        "data           decoder          val FVAF (test FVAF)",
        "weak:1         ridge            0.400 (0.300)",
        "weak:1         mean of 2        0.350 (0.250)",
    ]

    val, test = np.array([[0.1, 0.3], [0.2, 0.4]]), np.array([[0.05, 0.25], [0.15, 0.35]])
    monkeypatch.setattr(bmi_epoch_curves, "ridge_scores", lambda data: (0.4, 0.3))
    monkeypatch.setattr(bmi_epoch_curves, "curves", lambda data, n: (val, test, np.array([2, 2])))
    assert bmi_epoch_curves.report("weak:1", 2) == [
        "weak:1: ridge val FVAF 0.400 (test 0.300); recipe models, median FVAF per epoch:",
        "  epoch          1      2",
        "  val FVAF   0.150  0.350",
        "  test FVAF  0.100  0.300",
        "  best validation epochs 2 2: test FVAF 0.300 [0.250-0.350]; best median test of any epoch 0.300 "
        "(epoch 2), ridge 0.300",
    ]


# script: the units its --help names (those of the numbers it prints)
HELP_UNITS = {
    "ipd_readout_table": ["accuracy (%)", "error (degrees)"],
    "ipd_model_space_table": ["accuracy (%)", "error (degrees)", "training time (s)", "percentage points"],
    "bmi_table": ["FVAF (no unit; 1 is a perfect decoder", "RMSE (the target's unit: rad/s for a velocity"],
}


@pytest.mark.parametrize("name", sorted(HELP_UNITS))
def test_table_scripts_help_names_the_units_of_their_columns(name):
    """``--help`` of a table script says what its numbers are measured in; ipd_readout_table's
    also sent the reader to "REFERENCE.md section 1", a file the repository does not have."""
    import re

    proc = run_in_here(name, "--help")
    assert proc.returncode == 0, proc.stderr
    shown = " ".join(proc.stdout.split())
    for unit in HELP_UNITS[name]:
        assert unit in shown, shown
    for doc in re.findall(r"[\w/.-]+\.md\b", shown):
        assert (ROOT / doc).is_file(), f"--help names {doc}, which does not exist"
