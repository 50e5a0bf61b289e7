"""``python -m snnsim.plots``: which figures a file gets, files written, one-line errors."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
from fake_results import bmi_merged, bmi_run, ipd_merged
from in_process import run_here
from small_disk import fill, mounted_tmpfs

from snnsim import plots, results
from snnsim.plots import __main__ as plot


def test_ipd_grid_gets_boxplots_curves_confusions_and_raster(tmp_path, capsys):
    results.write(ipd_merged(np.random.default_rng(1)), tmp_path / "ipd_readouts.h5")
    assert plot.main([str(tmp_path / "ipd_readouts"), "--out", str(tmp_path / "figs"), "--format", "png"]) == 0
    names = sorted(p.stem for p in (tmp_path / "figs").iterdir())
    assert names == sorted(
        ["ipd_readouts_accuracy", "ipd_readouts_error", "ipd_readouts_training_curves", "ipd_readouts_input_raster"]
        + ["ipd_readouts_costs"]
        + [f"ipd_readouts_confusion_{r}_{t}" for r in ("mean", "max", "fr") for t in ("20ms", "2ms")]
    )
    printed = capsys.readouterr().out.split()
    assert len(printed) == 11 and all(p.endswith(".png") for p in printed)
    assert (tmp_path / "figs" / "ipd_readouts_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_model_space_grid_gets_the_costs_figure(tmp_path, capsys):
    """A grid that sweeps model-space settings only (recurrent x tau_syn, seeds: as
    ipd_model_space) is a grid with costs: recurrence and synaptic currents change the synaptic
    operations. Its costs figure was not drawn: the CLI offered it only for the settings of
    plots.common.SETTINGS (readout, tau, model ...), though cost_figure draws this grid."""
    rows = []
    for _ in (False, True):
        ds = ipd_merged(np.random.default_rng(3), readouts=("mean", "fr"), taus=(0.002,)).isel(tau=0, drop=True)
        rows.append(ds.rename(readout="tau_syn").assign_coords(tau_syn=[0.0, 0.005]))
    grid = xr.concat(rows, dim="recurrent").assign_coords(recurrent=[False, True])
    grid.attrs.update({"complete": 1, "study": "ipd", "experiment": "ipd_model_space"})
    results.write(grid, tmp_path / "ipd_model_space.h5")
    out = tmp_path / "figs"
    assert plot.main([str(tmp_path / "ipd_model_space"), "--out", str(out), "--format", "png", "--only", "costs"]) == 0
    assert capsys.readouterr().out.split() == [str(out / "ipd_model_space_costs.png")]
    fig = plot.figures_for(results.load(tmp_path / "ipd_model_space"))["costs"]()
    assert len(fig.snnsim_points) == 4
    assert fig.axes[0].get_legend().get_title().get_text() == "recurrent, tau_syn"


def test_a_merge_with_holes_is_named_on_stderr_and_under_the_boxes(tmp_path, capsys):
    """A merge with --allow-missing: the jobs left out are named (a grid of 18 with 1 job run
    drew one box pair as if it were the whole experiment)."""
    ds = ipd_merged(np.random.default_rng(1))
    for name in ("train_acc", "test_acc"):
        ds[name].loc[dict(readout="fr", tau=0.002)] = np.nan  # jobs 15-17 not run
    ds["test_acc"].loc[dict(readout="mean", tau=0.02, seed=0)] = np.nan  # job 0: damaged since (stale)
    ds.attrs.update({"missing": "[15, 16, 17]", "stale": "[0]", "n_jobs": 18})
    results.write(ds, tmp_path / "ipd_readouts.h5")
    out = tmp_path / "figs"
    assert plot.main([str(tmp_path / "ipd_readouts"), "--out", str(out), "--format", "png", "--only", "accuracy"]) == 0
    err = capsys.readouterr().err
    assert err == (
        f"snnsim.plots: note: {tmp_path / 'ipd_readouts'}: 4 of 18 jobs missing from the merge (0,15-17), "
        "left out of every figure\n"
    )
    fig = plots.accuracy_boxplot(results.load(tmp_path / "ipd_readouts"))
    assert fig._supxlabel.get_text().splitlines()[-1] == "4 of 18 jobs missing from the merge (0,15-17), left out"
    results.write(ipd_merged(np.random.default_rng(1)), tmp_path / "whole.h5")
    assert plot.main([str(tmp_path / "whole.h5"), "--out", str(out), "--format", "png", "--only", "accuracy"]) == 0
    assert capsys.readouterr().err == ""
    assert "missing" not in plots.accuracy_boxplot(results.load(tmp_path / "whole.h5"))._supxlabel.get_text()


def test_a_merge_with_holes_is_named_in_the_curves_and_costs_figures_too():
    """A group whose jobs are all missing is left out of the training curves and the cost
    figure (no line, no marker, no legend entry): the figure alone read as the whole grid.
    Their titles name the holes, as the boxplots' footnote does."""
    ds = ipd_merged(np.random.default_rng(1))
    for name in ("loss", "test_acc", "synops_eff_acs"):
        ds[name].loc[dict(readout="fr", tau=0.002)] = np.nan  # jobs 15-17 not run
    ds.attrs.update({"missing": "[15, 16, 17]", "n_jobs": 18})
    holes = "3 of 18 jobs missing from the merge (15-17), left out"
    for figure in (plots.training_curves, plots.cost_figure):
        fig = figure(ds)
        assert fig.axes[0].get_title().splitlines()[-1] == holes, figure.__name__
        assert holes not in figure(ipd_merged(np.random.default_rng(1))).axes[0].get_title()


def test_a_merge_with_holes_is_named_in_the_bmi_and_model_space_figures_too():
    """BMI Figures 2a/2b drew a missing job as a gap in a curve, the learning curves and the
    model-space figure left its seeds or rotations out, each titled as the whole grid (a
    `sweep merge --allow-missing` of bmi_training_size without job 1: "FVAF against training
    set size: median over repeat"). Their titles name the holes, as the other figures' do."""
    from test_plots_bmi import holes
    from test_plots_ipd import _model_space_grid

    bmi = holes(bmi_merged(np.random.default_rng(1)), model="snn", n_train_folds=2)
    bmi.attrs.update({"missing": "[1, 5]", "n_jobs": 24})
    note = "2 of 24 jobs missing from the merge (1,5), left out"
    for figure in (plots.fvaf_figure, plots.rmse_figure, plots.learning_curves):
        assert figure(bmi).get_suptitle().splitlines()[-1] == note, figure.__name__
        assert "missing" not in figure(bmi_merged(np.random.default_rng(1))).get_suptitle()
    grid = _model_space_grid(np.random.default_rng(1))
    whole = plots.model_space_figure(grid).axes[0].get_title()
    grid["val_acc"].loc[dict(tau_syn=0.0, recurrent=False, hidden=30, seed=2)] = np.nan
    grid.attrs.update({"missing": "[2]", "n_jobs": 24})
    assert (
        plots.model_space_figure(grid).axes[0].get_title()
        == f"{whole}\n1 of 24 jobs missing from the merge (2), left out"
    )
    assert "missing" not in whole


def test_bmi_grid_and_run(tmp_path):
    results.write(bmi_merged(np.random.default_rng(2)), tmp_path / "bmi_training_size.h5")
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    assert (
        plot.main(
            [
                str(tmp_path / "bmi_training_size"),
                "--out",
                str(tmp_path),
                "--only",
                "fvaf",
                "--only",
                "prediction",
                "--window",
                "100",
                "105",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in tmp_path.glob("bmi_training_size_*")) == [
        "bmi_training_size_fvaf.png",
        "bmi_training_size_fvaf.svg",
        "bmi_training_size_prediction.png",
        "bmi_training_size_prediction.svg",
    ]
    assert "<svg" in (tmp_path / "bmi_training_size_fvaf.svg").read_text()
    assert plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "one"), "--format", "png"]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["one_learning_curves.png", "one_prediction.png"]


def test_missing_or_invalid_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert plot.main([str(tmp_path / "nothing.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("snnsim.plots: error: no result file")
    (tmp_path / "bad.h5").write_text("not hdf5")
    assert plot.main([str(tmp_path / "bad.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.h5 is a text file, not a result file (HDF5)" in err
    (tmp_path / "cut.h5").write_bytes(b"\x89HDF\r\n")  # HDF5's signature, cut
    assert plot.main([str(tmp_path / "cut.h5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable result file" in err
    (tmp_path / "runs").mkdir()
    assert plot.main([str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"snnsim.plots: error: {tmp_path / 'runs'} is a folder, not a")
    assert not (tmp_path / "figures").exists()


def test_an_experiment_file_given_for_its_results_names_the_merge_to_give(tmp_path, capsys):
    """The experiment file (or a tuning spec) given where its merged results go was "not a readable
    result file: unreadable (OSError)", as if results were damaged."""
    toml = tmp_path / "mine.toml"
    toml.write_text('name = "mine"\n[sweep]\nseed = [0, 1]\n')
    assert plot.main([str(toml), "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"snnsim.plots: error: {toml} is a TOML file (an experiment or a tuning spec), not results: merge its "
        f"jobs (python -m snnsim.sweep merge {toml}, or python -m snnsim.tune merge {toml}) and give results/mine\n"
    )
    assert not (tmp_path / "figs").exists()


def test_a_merge_that_sweeps_the_stimulus_names_the_file_to_draw_its_raster_from(tmp_path, capsys):
    """A merged grid over a stimulus setting (dt) has no one stimulus: the raster was skipped with
    "pass stimulus=IPDStimulus(...) to draw one", which a command-line user cannot do. The line
    names one job's (a tuning's: one trial's) result file instead; the API keeps its advice."""
    ds = ipd_merged(np.random.default_rng(1), taus=(0.02,)).isel(tau=0).expand_dims(dt=[0.0005, 0.001])
    with pytest.raises(ValueError, match=r"pass stimulus=IPDStimulus\(...\) to draw one"):
        plots.input_raster(ds=ds)
    for kind, attrs, file in (("job", {}, "job-INDEX.h5"), ("trial", {"tune_spec": "x"}, "trial-N.h5")):
        path = tmp_path / f"grid_{kind}.h5"
        results.write(ds.assign_attrs(attrs), path)
        argv = [str(tmp_path / f"grid_{kind}"), "--out", str(tmp_path / "figs"), "--format", "png"]
        assert plot.main([*argv, "--only", "input_raster", "--only", "accuracy"]) == 0
        err = capsys.readouterr().err
        assert err == (
            "snnsim.plots: input_raster: skipped (the experiment sweeps the stimulus: dt (dt = 0.5 ms, dt = 1 ms); "
            f"draw it from one {kind}'s result file: python -m snnsim.plots {tmp_path / f'grid_{kind}' / file} --only input_raster)\n"
        )


def test_a_dpi_past_what_a_figure_can_hold_is_refused(tmp_path, capsys):
    """Not an out-of-memory message that names training settings."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    with pytest.raises(SystemExit) as stop:  # argparse's exit
        plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "f"), "--dpi", "100000"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "snnsim.plots: error: argument --dpi: expected at most 2400 (print quality is 300 to 600), got '100000'"
    ]
    assert not (tmp_path / "f").exists()


def test_a_dpi_too_small_for_the_text_is_refused(tmp_path, capsys):
    """``--dpi 1`` to ``5`` ended in a traceback from FreeType ("FT_Set_Char_Size ... invalid ppem
    value": the text smaller than a pixel), exit 1. Refused now in one line, nothing drawn; the
    smallest accepted draws every figure of a run."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    for small in ("-3", "0", "1", "5", "9"):  # 0 and below were told ">= 1", and 1 was refused next
        with pytest.raises(SystemExit) as stop:  # argparse's exit
            plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "f"), "--dpi", small])
        assert stop.value.code == 2
        assert capsys.readouterr().err.splitlines() == [
            f"snnsim.plots: error: argument --dpi: expected at least 10 (smaller text is under a pixel), got '{small}'"
        ]
    with pytest.raises(SystemExit):
        plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "f"), "--dpi", "ten"])
    assert capsys.readouterr().err.splitlines() == [
        "snnsim.plots: error: argument --dpi: expected an integer from 10 to 2400, got 'ten'"
    ]
    assert not (tmp_path / "f").exists()
    assert plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "f"), "--dpi", "10", "--format", "png"]) == 0


def test_unknown_figure_name(tmp_path, capsys):
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    assert plot.main([str(tmp_path / "one.h5"), "--only", "accuracy"]) == 2
    assert "available: prediction" in capsys.readouterr().err


def test_ipd_grid_with_weights_gets_weight_figures(tmp_path, capsys):
    """A merged grid with trained weights (as real IPD task files carry) draws the weight
    figures of its first grid point."""
    ds = ipd_merged(np.random.default_rng(4))
    rng = np.random.default_rng(5)
    grid = [d for d in ds.test_acc.dims]  # swept dims + repeat
    shape = [ds.sizes[d] for d in grid]
    ds["w1"] = (grid + ["input_unit", "hidden_unit"], rng.normal(size=shape + [20, 6]))
    ds["w2"] = (grid + ["hidden_unit", "output_unit"], rng.normal(size=shape + [6, 12]))
    results.write(ds, tmp_path / "g.h5")
    assert (
        plot.main(
            [
                str(tmp_path / "g"),
                "--out",
                str(tmp_path / "figs"),
                "--format",
                "png",
                "--only",
                "weights",
                "--only",
                "weight_profiles",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["g_weight_profiles.png", "g_weights.png"]
    assert "skipped" not in capsys.readouterr().err


def merged_without_its_first_point():
    """A merged IPD grid with weights, whose first point (readout mean, tau 20 ms) was not run."""
    ds = ipd_merged(np.random.default_rng(4))
    grid = [d for d in ds.test_acc.dims]
    w1 = np.random.default_rng(5).normal(size=[ds.sizes[d] for d in grid] + [20, 6])
    w1[0, 0] = np.nan  # readout mean, tau 20 ms: not run
    ds["w1"] = (grid + ["input_unit", "hidden_unit"], w1)
    ds["w2"] = (grid + ["hidden_unit", "output_unit"], np.ones([ds.sizes[d] for d in grid] + [6, 12]))
    return ds


def test_weight_figures_skip_grid_points_that_were_not_run():
    """Merged with --allow-missing, the first grid point may be NaN: the figures show the first
    point that was trained, and none are offered when no point was."""
    ds = merged_without_its_first_point()
    assert plot.first_trained(ds["w1"]) == {"readout": "mean", "tau": 0.002, "seed": 0}
    fig = plot.figures_for(ds)["weights"]()
    assert np.isfinite(fig.axes[0].images[0].get_array()).all()
    ds["w1"][:] = np.nan
    assert plot.first_trained(ds["w1"]) is None and "weights" not in plot.figures_for(ds)


def test_weight_figures_of_a_grid_of_one_and_two_hidden_layers_draw_its_first_point():
    """A grid over ``hidden = [8, "8,8"]`` merges ``w2`` over both ``hidden_unit`` and
    ``hidden_unit_1`` (each job's matrix repeated along the one it lacks: docs/sweeps.md): the
    weight figures of its first point, a one-hidden-layer network, were skipped as those of a
    network with several layers; they draw that job's own weights now, and refuse the other point."""
    from snnsim import runner
    from snnsim.config import RunConfig
    from snnsim.sweep.merge import stack

    tiny = dict(study="ipd", backend="fused", neuron="standard", epochs=1, n_train_batches=1, n_test_batches=1,
                batch_size=8)  # fmt: skip
    one, two = (runner.run(RunConfig(hidden=h, **tiny), progress=False) for h in ("8", "8,8"))
    ds = stack([one, two], {"hidden": ("8", "8,8")}).assign_coords(hidden=np.array(["8", "8,8"]))  # as merged
    assert {"hidden_unit", "hidden_unit_1"} <= set(ds["w2"].dims)
    assert plot.first_trained(ds["w1"]) == {"hidden": "8"} and "weights" in plot.figures_for(ds)
    w1, w2 = plots.ipd.weights_of(ds, sel={"hidden": "8"})
    assert np.array_equal(w1, one["w1"][0].values) and np.array_equal(w2, one["w2"][0].values)
    with pytest.raises(ValueError, match="several"):
        plots.ipd.weights_of(ds, sel={"hidden": "8,8"})
    assert plot.figures_for(ds)["weights"]().axes


def test_weight_figures_of_a_grid_over_sizes_draw_the_first_points_own_weights():
    """A grid over ``hidden = [8, 16]`` merges its weights padded with NaN to the largest size
    (outer alignment): the first point's figures drew 16 hidden neurons, 8 of them empty, and a
    W1 W2 panel all NaN ("All-NaN slice"); a BMI grid over ``encoding`` drew its 48-input
    ``bins`` model as a window of 48 neurons x 20 bins, 19 of them empty. They draw the point's
    own weights now."""
    from snnsim import runner
    from snnsim.config import RunConfig
    from snnsim.sweep.merge import stack

    tiny = dict(study="ipd", backend="fused", epochs=1, n_train_batches=1, n_test_batches=1, batch_size=8)
    runs = [runner.run(RunConfig(hidden=h, **tiny), progress=False) for h in (8, 16)]
    ds = stack([r.assign_coords(hidden_unit=np.arange(r.sizes["hidden_unit"])) for r in runs], {"hidden": (8, 16)})
    assert ds["w1"].sizes["hidden_unit"] == 16  # as the merge gives it
    w1, w2 = plots.ipd.weights_of(ds, sel={"hidden": 8})
    assert np.array_equal(w1, runs[0]["w1"][0].values) and np.array_equal(w2, runs[0]["w2"][0].values)
    fig = plot.figures_for(ds)["weights"]()
    assert all(np.isfinite(ax.images[0].get_array()).all() for ax in fig.axes if ax.images)

    bmi = dict(study="bmi", model="snn", backend="fused", hidden=8, epochs=1, n_train_folds=1)
    runs = [runner.run(RunConfig(encoding=e, **bmi), progress=False) for e in ("bins", "window")]
    ds = stack(
        [r.assign_coords(input_unit=np.arange(r.sizes["input_unit"])) for r in runs], {"encoding": ("bins", "window")}
    )
    assert plots.ipd.weights_of(ds, sel={"encoding": "bins"})[0].shape == (48, 8)
    shown = " ".join(text.get_text() for text in plots.input_weight_profiles(ds, sel={"encoding": "bins"}).texts)
    assert "48 recorded neurons" in shown and "x 20 bins" not in shown


def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys):
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    (tmp_path / "taken").write_text("a file, not a folder")
    for argv, fragment in (
        ([str(tmp_path / "one.h5"), "--dpi", "0"], "--dpi"),
        ([str(tmp_path / "one.h5"), "--out", str(tmp_path / "taken")], "--out"),
    ):
        try:
            code = plot.main(argv)
        except SystemExit as exc:  # argparse's own exit for a bad argument type
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert (tmp_path / "taken").read_text() == "a file, not a folder"


def test_an_out_folder_below_a_file_names_the_file(tmp_path, capsys):
    """``--out taken/figs`` (and through a link to that file) is refused before any figure is drawn,
    one line naming the file it would be below, exit 2; nothing is made."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    (tmp_path / "link").symlink_to(taken)
    for out in (taken / "figs", tmp_path / "link" / "figs" / "more"):
        assert plot.main([str(tmp_path / "one.h5"), "--out", str(out), "--only", "prediction"]) == 2
        err = capsys.readouterr().err
        why = f"--out: {out} is below the file {taken}; give the folder the figures go to"
        assert err == f"snnsim.plots: error: {why}\n"
    assert taken.read_text() == "a file, not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "one.h5", "taken"]


def test_module_and_its_old_name(tmp_path):
    """``python -m snnsim.plots`` and the alias ``python -m snnsim.plot`` draw the same figures."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    for module in ("snnsim.plots", "snnsim.plot"):
        out = tmp_path / module
        proc = subprocess.run(
            [sys.executable, "-m", module, str(tmp_path / "one.h5"), "--out", str(out), "--format", "png"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in out.iterdir()) == ["one_learning_curves.png", "one_prediction.png"]


def test_a_bad_window_or_nothing_drawn_is_an_error(tmp_path, capsys):
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    for window in (["5", "1"], ["nan", "3"], ["2", "2"]):
        assert plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "f"), "--window", *window]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("snnsim.plots: error: --window: START must be below STOP")
    assert not (tmp_path / "f").exists()
    # a window after the recording: the only figure asked for is skipped, so nothing is drawn
    argv = [str(tmp_path / "one.h5"), "--out", str(tmp_path / "f"), "--only", "prediction", "--window", "1e6", "2e6"]
    assert plot.main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert "prediction: skipped (no test samples in the window" in err[0] and "no figure drawn" in err[1]
    # the other figures of a file are still drawn when one is skipped: exit 0
    assert plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "g"), "--window", "1e6", "2e6"]) == 0
    assert [p.stem for p in (tmp_path / "g").glob("*.png")] == ["one_learning_curves"]
    # a window where Figure 1 is not drawn: said, not ignored silently
    argv = [str(tmp_path / "one.h5"), "--out", str(tmp_path / "h"), "--only", "learning_curves", "--window", "0", "5"]
    assert plot.main(argv) == 0
    assert "note: --window applies to BMI Figure 1 (prediction) only, not drawn here" in capsys.readouterr().err


def test_a_read_only_or_full_out_folder_is_one_line(tmp_path, capsys):
    """A real read-only file system, and a real full one (tmpfs, where this process may mount
    them; else a folder without write permission, which a non-root user gets). The read-only
    one is found before any figure is drawn (bad input, exit 2); the full one as the figure is
    written (exit 5, errors.py's table)."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    for options, code, reason in [
        ("ro,size=1m", 2, "Read-only file system"),
        ("size=8k", 5, "No space left on device"),
    ]:
        folder = tmp_path / options.split(",")[0]
        folder.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                 capture_output=True).returncode == 0  # fmt: skip
        if not mounted:
            folder.chmod(0o555)
            code, reason = 2, "Permission denied"
        try:
            assert plot.main([str(tmp_path / "one.h5"), "--out", str(folder), "--format", "png"]) == code
            out, err = capsys.readouterr()
            start = f"--out: cannot write in {folder}: " if code == 2 else f"cannot write {folder}/"
            assert err.count("\n") == 1 and err.startswith(f"snnsim.plots: error: {start}") and reason in err, err
            assert out == "" and list(folder.iterdir()) == []  # no half-written figure
        finally:
            if mounted:
                subprocess.run(["umount", str(folder)], check=True)


def test_an_out_folder_behind_a_link_to_nothing_is_named(tmp_path, capsys):
    """``--out scratch`` (or ``scratch/figs``) with scratch a symbolic link to a folder that is not
    there (scratch space not mounted here, or purged) was refused as "--out: scratch is not a
    folder", where the user sees a folder of theirs; the line names the link and its target, as
    ``snnsim.run --tensorboard`` and ``--out`` do. Nothing is drawn or made."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    link = tmp_path / "scratch"
    link.symlink_to(tmp_path / "gone")
    for out in (link, link / "figs"):
        assert plot.main([str(tmp_path / "one.h5"), "--out", str(out), "--only", "prediction"]) == 2
        err = capsys.readouterr().err
        assert err == (f"snnsim.plots: error: --out: {link} is a symbolic link to {tmp_path / 'gone'}, which does not "
                       "exist; give the folder the figures go to\n")  # fmt: skip
    assert not (tmp_path / "gone").exists()


def test_a_full_disk_leaves_no_new_out_folder(tmp_path, capsys):
    """``--out new/figs`` on a full disk (a real tmpfs): exit 5, "nothing written there", and the
    folders made for the first figure stayed behind, empty. They are removed again."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    with mounted_tmpfs(tmp_path / "small", "64k") as small:
        fill(small)
        assert plot.main([str(tmp_path / "one.h5"), "--out", str(small / "new" / "figs"), "--format", "png"]) == 5
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "No space left on device" in err, err
        assert sorted(p.name for p in small.iterdir()) == ["filler"]


def test_an_out_folder_that_turns_read_only_while_drawing_is_exit_5(tmp_path, capsys, monkeypatch):
    """A write that fails after the drawing (a real tmpfs remounted read-only while the second
    figure is drawn, past the check of --out) is exit 5, as errors.py's table says (it was 2, bad
    input): the first figure stays whole, printed; no part of the second is left."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    folder = tmp_path / "figs"
    with mounted_tmpfs(folder, "1m"):
        figures_for = plot.figures_for

        def remounting(ds, window=None, path=None):  # the first two figures; read-only as the second is drawn
            (first, draw_first), (second, draw_second) = list(figures_for(ds, window, path).items())[:2]

            def draw_then_remount():
                fig = draw_second()
                subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
                return fig

            return {first: draw_first, second: draw_then_remount}

        monkeypatch.setattr(plot, "figures_for", remounting)
        assert plot.main([str(tmp_path / "one.h5"), "--out", str(folder), "--format", "png"]) == 5
        out, err = capsys.readouterr()
        first, second = (f"one_{name}.png" for name in list(figures_for(results.load(tmp_path / "one.h5")))[:2])
        assert err.count("\n") == 1, err
        assert err.startswith(f"snnsim.plots: error: cannot write {folder / second}: Read-only file system"), err
        assert out == f"{folder / first}\n" and sorted(p.name for p in folder.iterdir()) == [first]


def test_a_figure_already_there_is_replaced_by_the_new_results_and_nothing_else_is(tmp_path, capsys):
    """The documented behaviour (docs/figures.md): drawing again after a new merge replaces the
    figure with that of the new results, byte for byte as a fresh draw, and leaves every other
    file of the folder as it was."""
    out, fresh = tmp_path / "figs", tmp_path / "fresh"
    argv = ["--format", "png", "--only", "accuracy"]
    results.write(ipd_merged(np.random.default_rng(1)), tmp_path / "ipd_readouts.h5")
    assert plot.main([str(tmp_path / "ipd_readouts"), "--out", str(out), *argv]) == 0
    figure = out / "ipd_readouts_accuracy.png"
    old = figure.read_bytes()
    (out / "notes.txt").write_text("mine")
    results.write(ipd_merged(np.random.default_rng(2)), tmp_path / "ipd_readouts.h5", overwrite=True)
    assert plot.main([str(tmp_path / "ipd_readouts"), "--out", str(out), *argv]) == 0
    assert plot.main([str(tmp_path / "ipd_readouts"), "--out", str(fresh), *argv]) == 0
    assert figure.read_bytes() != old and figure.read_bytes() == (fresh / figure.name).read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["ipd_readouts_accuracy.png", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"
    assert capsys.readouterr().err == ""


def test_a_full_disk_keeps_the_previous_figure(tmp_path):
    """A figure redrawn onto a full file system (a real tmpfs, where this process may mount one;
    else a per-file size limit, RLIMIT_FSIZE) fails in one line with exit 5 and leaves the
    previous figure whole, and no temporary file."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(folder)], capture_output=True
    ).returncode == 0  # fmt: skip
    args = [str(tmp_path / "one.h5"), "--out", str(folder), "--format", "png", "--only", "prediction"]
    argv = [sys.executable, "-m", "snnsim.plots", *args]
    try:
        assert plot.main(args) == 0  # the previous figure, drawn in this process; the refusal in a process of its own
        figure = folder / "one_prediction.png"
        before = figure.read_bytes()
        limit, reason = None, "No space left on device"
        if mounted:
            fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)  # fill the rest of the file system
            with pytest.raises(OSError, match="No space left"):
                while True:
                    os.write(fd, b"\0" * 4096)
            os.close(fd)
        else:
            reason = "File too large"

            def limit() -> None:  # the figure at 300 dpi is larger than the one at 120
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (len(before), len(before)))

        proc = subprocess.run([*argv, "--dpi", "300"], capture_output=True, text=True, preexec_fn=limit)
        assert proc.returncode == 5, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(
            f"snnsim.plots: error: cannot write {figure}: {reason}"
        )
        assert figure.read_bytes() == before  # the previous figure, whole
        assert sorted(p.name for p in folder.iterdir()) == ["filler", "one_prediction.png"][1 - mounted :]
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_between_a_figures_formats_leaves_none_of_them(tmp_path, capsys):
    """A disk with room for a figure's PNG but not its SVG (a real tmpfs): the PNG was put in
    place, not printed, and the one-line error named the SVG alone, so the folder held half of
    a figure that the command never listed (a new PNG beside the previous SVG, where there was
    one). A figure's formats are put in place together now: none of them, exit 5, nothing left."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    args = ["--only", "prediction", "--format", "png", "--format", "svg"]
    assert plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "sizes"), *args]) == 0
    capsys.readouterr()
    png, svg = ((tmp_path / "sizes" / f"one_prediction.{fmt}").stat().st_size for fmt in ("png", "svg"))
    page = 4096
    room = -(-png // page) * page + page  # the PNG, a page to spare, and not the SVG
    assert -(-svg // page) * page > page
    folder = tmp_path / "small"
    with mounted_tmpfs(folder, "1m"):
        fill(folder, room=room)
        assert plot.main([str(tmp_path / "one.h5"), "--out", str(folder), *args]) == 5
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and "No space left on device" in err, err
        assert out == "" and sorted(p.name for p in folder.iterdir()) == ["filler"]


def test_a_figure_stopped_by_sigterm_in_its_write_keeps_the_previous_one(tmp_path):
    """SIGTERM (scancel) in a figure's write killed the command outright, its temporary left
    beside the figure. It stops as ``sweep merge`` does: exit 143, one line, the previous figure
    byte for byte, no temporary."""
    from signalled_write import signal_in_write

    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    folder = tmp_path / "figs"
    args = [str(tmp_path / "one.h5"), "--out", str(folder), "--format", "png", "--only", "prediction"]
    assert plot.main(args) == 0
    figure = folder / "one_prediction.png"
    before = figure.read_bytes()
    returncode, err = signal_in_write("snnsim.plots.__main__", args, ".one_prediction.png.*.tmp", folder,
                                      signal.SIGTERM)  # fmt: skip
    assert returncode == 128 + signal.SIGTERM, err
    assert "snnsim.plots: stopped by SIGTERM" in err and err.count("\n") == 1, err
    assert figure.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["one_prediction.png"]


def test_a_stop_after_a_figure_is_written_names_it(tmp_path, capsys, monkeypatch):
    """A stop after the first of two figures is written does not say "no result written": it
    names the figure written before it (a real SIGTERM, sent as the second figure is saved)."""
    from snnsim.plots import common

    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    save, saved = common.save_figure, []

    def second_stopped(fig, path, *args, **kwargs):
        if saved:  # not where the default action would end the tests' process
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "SIGTERM is not handled"
            os.kill(os.getpid(), signal.SIGTERM)
        saved.append(path)
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(common, "save_figure", second_stopped)
    assert plot.main([str(tmp_path / "one.h5"), "--out", str(tmp_path / "figs"), "--format", "png"]) == 143
    first = saved[0].with_suffix(".png")
    assert capsys.readouterr().err == f"snnsim.plots: stopped by SIGTERM after writing {first}\n"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [first.name]


def test_a_stop_between_a_figures_formats_leaves_it_whole(tmp_path, capsys, monkeypatch):
    """SIGTERM as a figure's PNG was in place and its SVG not yet (a real signal, sent as the SVG
    is put in place) left half of the figure and said "no result written" beside its PNG. The
    formats are put in place before the stop is taken: both there, and the line names the last."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    replace = os.replace

    def stopped_at_the_svg(src, dst, *args, **kwargs):
        if str(dst).endswith(".svg"):
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "SIGTERM is not handled"
            os.kill(os.getpid(), signal.SIGTERM)
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", stopped_at_the_svg)
    folder = tmp_path / "figs"
    args = [str(tmp_path / "one.h5"), "--out", str(folder), "--only", "prediction", "--format", "png"]
    args += ["--format", "svg"]
    assert plot.main(args) == 143
    svg = folder / "one_prediction.svg"
    assert capsys.readouterr().err == f"snnsim.plots: stopped by SIGTERM after writing {svg}\n"
    assert sorted(p.name for p in folder.iterdir()) == ["one_prediction.png", "one_prediction.svg"]


def test_a_format_given_twice_is_written_and_printed_once(tmp_path, capsys):
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    argv = [str(tmp_path / "one.h5"), "--out", str(tmp_path / "f"), "--only", "prediction"]
    assert plot.main([*argv, "--format", "png", "--format", "png", "--format", "svg"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "f" / "one_prediction.png"), str(tmp_path / "f" / "one_prediction.svg")]
    fig = plots.prediction_trace(results.load(tmp_path / "one.h5"))
    assert plots.save_figure(fig, tmp_path / "g", ("png", "png")) == [tmp_path / "g.png"]


def test_a_figure_drawn_again_later_is_the_same_bytes(tmp_path):
    """PNG, SVG and PDF: no date or other varying stamp in the files (PDF dates have 1 s steps)."""
    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    ds = results.load(tmp_path / "one.h5")
    first = plots.save_figure(plots.prediction_trace(ds), tmp_path / "a", ("png", "svg", "pdf"))
    time.sleep(1.1)
    again = plots.save_figure(plots.prediction_trace(ds), tmp_path / "b", ("png", "svg", "pdf"))
    assert [p.suffix for p in first] == [".png", ".svg", ".pdf"]
    for a, b in zip(first, again):
        assert a.read_bytes() == b.read_bytes(), a.suffix


def test_each_figure_names_the_result_file_it_was_drawn_from(tmp_path):
    """A figure carried nothing of where it came from (matplotlib's own stamps are removed for
    same bytes): a PNG in docs/figures could not be traced to its results. Each format now names
    the result file by path and checksum (``data_sha256``, which covers its config and versions)
    and the snnsim that drew it: PNG and SVG as ``Source``, PDF as ``Subject``."""
    from PIL import Image

    import snnsim

    results.write(bmi_run(np.random.default_rng(3)), tmp_path / "one.h5")
    digest = results.load(tmp_path / "one.h5").attrs["data_sha256"]
    argv = [str(tmp_path / "one.h5"), "--out", str(tmp_path / "f"), "--only", "prediction"]
    assert plot.main([*argv, "--format", "png", "--format", "svg", "--format", "pdf"]) == 0
    source = f"drawn by snnsim {snnsim.__version__} from {tmp_path / 'one.h5'} (data_sha256 {digest})"
    assert Image.open(tmp_path / "f" / "one_prediction.png").text["Source"] == source
    assert f"<dc:source>{source}</dc:source>" in (tmp_path / "f" / "one_prediction.svg").read_text()
    assert digest.encode() in (tmp_path / "f" / "one_prediction.pdf").read_bytes()


def test_a_bmi_predictions_file_names_its_folds_and_the_models_target(bmi_path, tmp_path, capsys):
    """Figure 1 of a ``snnsim.predict`` file of an elbow-angle decoder, predicted on its
    validation fold: the title said "Test fold ... elbow velocity" and the axis "Elbow velocity
    (rad)" (the target was read only from ``config_*`` attributes, which such a file lacks)."""
    from snnsim import predict
    from snnsim import run as run_cli

    model = tmp_path / "m.h5"
    (tmp_path / "m.toml").write_text(
        f'study = "bmi"\nmodel = "linear"\nepochs = 1\ntarget = "theta"\ndims = [1]\ndata = "{bmi_path}"\n'
    )
    assert run_cli.main(["--config", str(tmp_path / "m.toml"), "--quiet", "--out", str(model)]) == 0
    val = int(results.load(model).attrs["val_fold"])
    pred = tmp_path / "p.h5"
    assert predict.main([str(model), "--data", bmi_path, "--fold", str(val), "--out", str(pred)]) == 0
    fig = plots.prediction_trace(results.load(pred))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Elbow angle (rad)"
    assert ax.get_title().startswith(f"Fold {val}: true and predicted elbow angle")
    assert "Test fold" not in ax.get_title()
    run = plots.prediction_trace(results.load(model)).axes[0]
    assert run.get_title().startswith("Test fold: true and predicted elbow angle")
    capsys.readouterr()


def test_weight_figures_name_the_model_they_draw():
    """Of a merge whose first grid point was not run, the weight figures draw another point's
    model (and of several repeats, one): their titles named neither, so a reader took them for
    the first grid point's (docs/figures.md: "mean, τ = 20 ms, seed 0")."""
    ds = merged_without_its_first_point()
    figures = plot.figures_for(ds)
    for name in ("weights", "weight_profiles"):
        title = figures[name]()._suptitle.get_text()
        assert title.splitlines()[-1] == "Model: mean (oc), τ = 2 ms, seed = 0", (name, title)
    run = ds.isel(readout=0, tau=1, seed=0).drop_vars(["readout", "tau", "seed"])
    run = xr.concat([run, run], "repeat").assign_coords(repeat=[0, 1])
    title = plots.weight_matrices(run, repeat=1)._suptitle.get_text()
    assert title.splitlines()[-1] == "Model: repeat 1"
    assert "Model" not in plots.weight_matrices(ds["w1"].values[0, 1, 0, 0], np.ones((6, 12)))._suptitle.get_text()


def test_a_setting_that_follows_a_swept_one_is_named_with_it():
    """A union of grids keeps a setting that follows another as a coordinate along its dim
    (``lr`` along ``readout``; a tuning's sampled settings along ``trial``): the boxes, curves,
    cost points and confusion titles named only the readout (or "trial = 0"), so readouts
    trained at different learning rates read as a comparison of readouts alone."""
    ds = ipd_merged(np.random.default_rng(1)).assign_coords(lr=("readout", [0.01, 0.02, 0.05]))
    figures = plot.figures_for(ds)
    ticks = [t.get_text() for t in figures["accuracy"]().axes[0].get_xticklabels()]
    assert ticks[0] == "mean (oc)\nτ = 20 ms\nlr = 0.01" and ticks[-1] == "fr\nτ = 2 ms\nlr = 0.05"
    legend = [t.get_text() for t in figures["training_curves"]().axes[0].get_legend().get_texts()]
    assert legend[0] == "mean (oc), τ = 20 ms, lr = 0.01" and legend[-1] == "fr, τ = 2 ms, lr = 0.05"
    legend = [t.get_text() for t in figures["costs"]().axes[0].get_legend().get_texts()]
    assert legend[2] == "max, τ = 20 ms, lr = 0.02"
    assert "Test set: max, τ = 2 ms, lr = 0.02 (" in figures["confusion_max_2ms"]()._suptitle.get_text()


def test_an_ipd_predictions_file_is_named_as_one(tmp_path, capsys):
    """``snnsim.predict`` of an IPD model gives no figure: the error said "not an IPD or BMI
    result" of a file made from an IPD result."""
    from snnsim import predict
    from snnsim import run as run_cli

    model = tmp_path / "m.h5"
    argv = ["--backend", "fused", "--epochs", "1", "--n-train-batches", "1", "--n-test-batches", "1",
            "--batch-size", "16", "--hidden", "8", "--quiet", "--out", str(model)]  # fmt: skip
    assert run_cli.main(argv) == 0
    assert predict.main([str(model), "--stimuli", "4", "--out", str(tmp_path / "p.h5")]) == 0
    capsys.readouterr()
    # in this process: test_module_and_its_old_name runs the command in processes of its own, and
    # test_a_full_disk_keeps_the_previous_figure its first refusal
    code = run_here(plot.main, tmp_path / "p.h5", "--out", tmp_path)
    assert code.returncode == 2 and code.stdout == ""
    assert code.stderr == (f"snnsim.plots: error: {tmp_path / 'p.h5'}: an IPD predictions file (snnsim.predict); "
                           "no figure applies: give the model's result file (python -m snnsim.run --out)\n")  # fmt: skip


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_reader_that_goes_away_stops_the_list_not_the_figures(tmp_path, unbuffered):
    """``python -m snnsim.plots ... | head -1``: with stdout unbuffered (PYTHONUNBUFFERED=1, as
    job scripts often set) the first path printed after head had gone stopped the command, exit 1,
    and the figures after it were never drawn, without a word; with stdout buffered, a reader gone
    before the exit gave Python's "Exception ignored ... BrokenPipeError" and exit code 120."""
    # a grid of one readout and one tau: six figures, the first printed and five after it (the
    # whole grid of the first test draws the same kinds of figure, eleven, and takes twice as long)
    results.write(ipd_merged(np.random.default_rng(1), readouts=("mean",), taus=(0.002,)), tmp_path / "ipd_readouts.h5")
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered, "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "snnsim.plots", str(tmp_path / "ipd_readouts"), "--out", str(tmp_path / "figs"),
           "--format", "png"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if unbuffered:
        assert proc.stdout.readline().endswith(b"_accuracy.png\n")  # head -1: one line, then gone
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err
    every = sorted(f"ipd_readouts_{name}.png" for name in plot.figures_for(results.load(tmp_path / "ipd_readouts")))
    assert len(every) == 6 and sorted(p.name for p in (tmp_path / "figs").glob("*.png")) == every  # every figure


@pytest.mark.parametrize("module", ["snnsim.plots", "snnsim.plot"])
@pytest.mark.parametrize("argv", [["--help"], ["no-such.h5"]])
def test_help_and_a_missing_file_need_neither_xarray_nor_matplotlib(module, argv, tmp_path):
    """``python -m snnsim.plots --help`` (or ``snnsim.plot``) imported every figure module, with
    xarray and matplotlib (1.3 s of a 1.65 s answer here), and so did the refusal of a results
    file that is not there: both answer before either loads."""
    code = (
        "import runpy, sys; sys.modules.update(dict.fromkeys(('torch', 'xarray', 'matplotlib'))); "
        f"sys.argv = [{module!r}, *{argv!r}]; runpy.run_module({module!r}, run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    if argv == ["--help"]:
        assert proc.returncode == 0 and proc.stdout.startswith("usage: snnsim.plots"), proc.stderr
    else:
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == "snnsim.plots: error: no result file at no-such.h5\n"
    assert os.listdir(tmp_path) == []


def test_figures_are_named_after_the_whole_result_name_at_the_dpi_asked(tmp_path, capsys):
    """``results/readouts.v2`` (the file readouts.v2.h5) names its figures ``readouts.v2_...``, not
    ``readouts_...``; ``--dpi 30`` gives a PNG of 30 pixels an inch."""
    from PIL import Image

    results.write(ipd_merged(np.random.default_rng(3)), tmp_path / "readouts.v2.h5")
    argv = [str(tmp_path / "readouts.v2"), "--out", str(tmp_path / "f"), "--format", "png", "--only", "accuracy"]
    assert plot.main([*argv, "--dpi", "30"]) == 0
    png = tmp_path / "f" / "readouts.v2_accuracy.png"
    assert capsys.readouterr().out.split() == [str(png)]
    with Image.open(png) as image:
        assert image.info["dpi"] == pytest.approx((30, 30), abs=0.01)


def test_an_ipd_run_gets_training_curves_not_the_bmi_learning_curves(rng):
    from fake_results import ipd_run

    names = list(plot.figures_for(ipd_run(rng)))
    assert "training_curves" in names and "learning_curves" not in names
