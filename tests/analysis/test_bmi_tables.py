"""analysis/bmi_against_ridge.py and analysis/bmi_learning_curve_table.py on small hand-made
datasets, against values computed by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ANALYSIS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(model: str, val: list[float], test: list[float], seconds: list[float], **config) -> xr.Dataset:
    attrs = {"config_model": model, "config_data": "results/held/out0.pkl", "config_rotation": 5,
             "config_n_train_folds": 18, "config_target": "dtheta", "config_dims": "[0]"}  # fmt: skip
    attrs.update({f"config_{k}": v for k, v in config.items()})
    return xr.Dataset(
        {
            "val_fvaf": (("repeat", "output"), np.array(val)[:, None]),
            "test_fvaf": (("repeat", "output"), np.array(test)[:, None]),
            "train_seconds": ("repeat", np.array(seconds)),
        },
        attrs=attrs,
    )


def test_against_ridge_row():
    against = _script("bmi_against_ridge")
    snn = _run("snn", [0.40, 0.44, 0.42], [0.30, 0.36, 0.33], [10.0, 12.0, 30.0])
    ridge = _run("linear", [0.41], [0.32], [0.1])
    # medians: val 0.42, test 0.33 (min 0.30, max 0.36), seconds 12; 0.33 - 0.32 = +0.01
    assert against.rows(snn, ridge) == ["| out0.pkl | 0.420 | 0.330 [0.300-0.360] | 0.410 | 0.320 | +0.010 | 12.0 |"]
    member = _run("snn", [0.5], [0.5], [1.0], data="synthetic:weak:3")
    assert against.rows(member, _run("linear", [0.5], [0.6], [1.0], data="synthetic:weak:3"))[0].startswith(
        "| weak:3 | 0.500 | 0.500 [0.500-0.500] | 0.500 | 0.600 | -0.100 |"
    )


def test_against_ridge_pairs_may_begin_with_a_tilde(monkeypatch, tmp_path):
    """``~/snn.h5:~/ridge.h5``: the shell expands the first ``~`` only (and none where quoted);
    both are the home folder, as every snnsim path option has it, also where a name holds ':'."""
    against = _script("bmi_against_ridge")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("snn:1.h5", "ridge.h5"):
        (tmp_path / name).write_bytes(b"")
    assert against.split_pair("~/snn.h5:~/ridge.h5") == (str(tmp_path / "snn.h5"), str(tmp_path / "ridge.h5"))
    assert against.split_pair("~/snn:1.h5:~/ridge.h5") == (str(tmp_path / "snn:1.h5"), str(tmp_path / "ridge.h5"))
    assert against.split_pair("snn.h5:ridge.h5") == ("snn.h5", "ridge.h5")  # relative paths as they were


def test_a_range_of_negative_fvaf_reads_unambiguously():
    """A spiking decoder worse than the mean (1 training fold) had "[-0.811--0.034]" and
    "[-0.206-0.004]" (is the upper end 0.004 or -0.004?)."""
    against, table = _script("bmi_against_ridge"), _script("bmi_table")
    snn = _run("snn", [-0.2, 0.1, -0.3], [-0.811, -0.5, -0.034], [1.0, 1.0, 1.0])
    row = against.rows(snn, _run("linear", [0.41], [0.32], [0.1]))[0]
    assert row == "| out0.pkl | -0.200 | -0.500 [-0.811 to -0.034] | 0.410 | 0.320 | -0.820 | 1.0 |"
    assert table.spread(np.array([-0.206, 0.004, -0.1]), 3) == "-0.100 [-0.206 to 0.004]"  # bmi_table's cells
    assert table.spread(np.array([0.3, 0.5, np.nan]), 3) == "0.400 [0.300-0.500] (2 of 3)"  # as before


def _both_joints(model: str, val: list[list[float]], test: list[list[float]]) -> xr.Dataset:
    """A run of both joints (``--dim all``): ``val``/``test`` per repeat, [shoulder, elbow]."""
    ds = _run(model, [0.0] * len(val), [0.0] * len(val), [1.0] * len(val), dims="[0, 1]")
    values = {"val_fvaf": np.array(val), "test_fvaf": np.array(test)}
    return ds.assign({k: (("repeat", "output"), v) for k, v in values.items()}).assign_coords(
        output=["shoulder", "elbow"]
    )


def test_against_ridge_compares_each_joint_with_its_own():
    # the spiking run's joints were pooled into one median and compared with ridge's shoulder
    against = _script("bmi_against_ridge")
    snn = _both_joints("snn", [[0.40, 0.20], [0.44, 0.24]], [[0.30, 0.10], [0.36, 0.16]])
    ridge = _both_joints("linear", [[0.41, 0.21]], [[0.32, 0.12]])
    # shoulder: test median (0.30 + 0.36) / 2 = 0.33, 0.33 - 0.32 = +0.01; elbow: 0.13 - 0.12
    assert against.rows(snn, ridge) == [
        "| out0.pkl (shoulder) | 0.420 | 0.330 [0.300-0.360] | 0.410 | 0.320 | +0.010 | 1.0 |",
        "| out0.pkl (elbow) | 0.220 | 0.130 [0.100-0.160] | 0.210 | 0.120 | +0.010 | 1.0 |",
    ]


def test_bmi_table_gives_each_joint_its_row():
    """Each joint's row, each column of its own variable: test FVAF, test RMSE (10 x test FVAF),
    val FVAF, train FVAF (val + 0.5), all different (val and train FVAF were equal here, and the
    table with those two columns swapped passed)."""
    table = _script("bmi_table")
    ds = _both_joints("ann", [[0.40, 0.20], [0.44, 0.24], [0.42, 0.22]], [[0.30, 0.10], [0.36, 0.16], [0.33, 0.13]])
    ds = ds.assign(train_fvaf=ds.val_fvaf + 0.5, test_rmse=ds.test_fvaf * 10)
    assert table.rows(ds) == [
        "| ann (shoulder) | - | 0.330 [0.300-0.360] | 3.300 [3.000-3.600] | 0.420 [0.400-0.440] | 0.920 [0.900-0.940] | 1.0 |",
        "| ann (elbow) | - | 0.130 [0.100-0.160] | 1.300 [1.000-1.600] | 0.220 [0.200-0.240] | 0.720 [0.700-0.740] | 1.0 |",
    ]
    header = table.table([ds])[0].split(" | ")
    assert header[2:6] == ["test FVAF", "test RMSE (rad/s)", "val FVAF", "train FVAF"]


def test_bmi_table_names_the_data_set_of_each_row_where_they_differ():
    """Runs on other data sets (or folds) in one table: a column says which row is which."""
    table = _script("bmi_table")

    def run(model, **config):
        ds = _run(model, [0.4], [0.3], [1.0], **config)
        return ds.assign(train_fvaf=ds.val_fvaf, test_rmse=ds.test_fvaf * 10)

    same = table.table([run("snn"), run("linear")])
    assert same[0].startswith("| model | readout |") and same[1] == "|---" * 7 + "|"
    lines = table.table([run("snn"), run("snn", data="synthetic:weak:1", rotation=10), run("linear")])
    assert lines[0].startswith("| data | rotation | model | readout | test FVAF |") and lines[1] == "|---" * 9 + "|"
    assert [line.split(" | ")[:3] for line in lines[2:]] == [
        ["| out0.pkl", "5", "snn"], ["| weak:1", "10", "snn"], ["| out0.pkl", "5", "linear"]
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("ridge", "message"),
    [
        (_run("ann", [0.4], [0.3], [1.0]), "give SNN.h5:RIDGE.h5"),
        (_run("linear", [0.4], [0.3], [1.0], rotation=10), "differ in rotation"),
        (
            _run("linear", [0.4], [0.3], [1.0], data="synthetic:weak:1", n_train_folds=8),
            "differ in data, n_train_folds",
        ),
    ],
)
def test_against_ridge_refuses_pairs_that_do_not_compare(ridge, message):
    against = _script("bmi_against_ridge")
    with pytest.raises(ValueError, match=message):
        against.rows(_run("snn", [0.4], [0.3], [1.0]), ridge)


def _curve(models: list[str]) -> xr.Dataset:
    """test FVAF = rotation / 10 + n_train_folds / 100, plus 0.05 for snn at rotations 0 and 1
    and 0.02 for ann: 3 rotations, training folds 8 and 18."""
    rotation, folds = np.arange(3), np.array([8, 18])
    base = rotation[:, None] / 10 + folds[None, :] / 100
    extra = {"snn": np.array([0.05, 0.05, -0.01])[:, None], "ann": 0.02, "linear": 0.0}
    values = np.stack([base + extra[m] for m in models])[..., None]
    return xr.Dataset(
        {"test_fvaf": (("model", "rotation", "n_train_folds", "output"), values)},
        coords={"model": models, "rotation": rotation, "n_train_folds": folds},
    )


def test_learning_curve_table_with_and_without_the_ann():
    curve = _script("bmi_learning_curve_table")
    # medians over rotations 0, 1, 2: linear 0.1 + k/100; snn +0.05 (0.15 + k/100); ann +0.02
    assert curve.table(_curve(["snn", "ann", "linear"])).splitlines() == [
        "| training folds | snn | ann | ridge | snn - ridge | ann - ridge | snn >= ridge (of 3 rotations) |",
        "|---|---|---|---|---|---|---|",
        "| 8 | 0.230 | 0.200 | 0.180 | +0.050 | +0.020 | 2 |",
        "| 18 | 0.330 | 0.300 | 0.280 | +0.050 | +0.020 | 2 |",
    ]
    assert curve.table(_curve(["snn", "linear"])).splitlines() == [
        "| training folds | snn | ridge | snn - ridge | snn >= ridge (of 3 rotations) |",
        "|---|---|---|---|---|",
        "| 8 | 0.230 | 0.180 | +0.050 | 2 |",
        "| 18 | 0.330 | 0.280 | +0.050 | 2 |",
    ]
    with pytest.raises(ValueError, match="needs the models snn and linear, has snn, ann"):
        curve.table(_curve(["snn", "ann"]))


def test_a_pair_of_files_whose_names_hold_colons_is_split_where_both_exist(tmp_path):
    """``snn_weak:1.h5:ridge_weak:1.h5`` (files named after ``--data synthetic:weak:1``) was refused."""
    against = _script("bmi_against_ridge")
    snn, ridge = tmp_path / "snn_weak:1.h5", tmp_path / "ridge_weak:1.h5"
    assert against.split_pair(f"{snn}:{ridge}") is None  # neither file exists: no split is known
    snn.touch(), ridge.touch()
    assert against.split_pair(f"{snn}:{ridge}") == (str(snn), str(ridge))
    (tmp_path / "snn_weak").touch()  # one side of another split exists: that split is still not the pair
    assert against.split_pair(f"{snn}:{ridge}") == (str(snn), str(ridge))
    assert against.split_pair("a.h5:b.h5") == ("a.h5", "b.h5")  # one colon: the files' checks come later
    assert against.split_pair("a.h5") is None


def test_learning_curve_table_says_why_a_cell_holds_fewer_rotations_with_no_job_missing():
    """A grid of two [[sweep]] blocks (bmi_training_size: rotation 5 at the largest training set
    only) leaves NaN where no job was planned, and the merge names no job missing: the cells
    said "(2 of 3)" with nothing to say what that meant, or that no job had failed."""
    curve = _script("bmi_learning_curve_table")
    ds = _curve(["snn", "linear"])
    ds["test_fvaf"].loc[{"rotation": 2, "n_train_folds": 8}] = np.nan  # rotation 2 at 18 folds only
    assert curve.table(ds).splitlines() == [
        "| training folds | snn | ridge | snn - ridge | snn >= ridge (of 3 rotations) |",
        "|---|---|---|---|---|",
        "| 8 | 0.180 (2 of 3) | 0.130 (2 of 3) | +0.050 (2 of 3) | 2 of 2 |",
        "| 18 | 0.330 | 0.280 | +0.050 | 2 |",
        "",
        "(k of n) marks a median of k rotations instead of n: no job is missing from the merge; the "
        "experiment's grid runs the others at other training-set sizes only",
    ]


def test_learning_curve_table_differences_are_over_the_rotations_both_decoders_hold():
    """A rotation missing for the spiking decoder (a hole of ``merge --allow-missing``) is left
    out of ridge's side of "snn - ridge" too: the difference is of the rotations both hold, as the
    cell's "(2 of 3)" says. Here snn is ridge + 0.05 at each of them; the column said +0.000
    (snn's median over rotations 0 and 2 against ridge's over all three)."""
    curve = _script("bmi_learning_curve_table")
    ridge = np.array([0.2, 0.5, 0.3])
    snn = np.array([0.25, np.nan, 0.35])
    values = np.stack([snn, ridge])[:, :, None, None]  # (model, rotation, n_train_folds, output)
    ds = xr.Dataset(
        {"test_fvaf": (("model", "rotation", "n_train_folds", "output"), values)},
        coords={"model": ["snn", "linear"], "rotation": np.arange(3), "n_train_folds": [18]},
    )
    assert curve.table(ds).splitlines()[2] == "| 18 | 0.300 (2 of 3) | 0.300 | +0.050 (2 of 3) | 2 of 2 |"
