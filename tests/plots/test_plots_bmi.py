"""BMI figures: gaps as NaN breaks, window, curves per split and model equal to the dataset."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from snnsim import plots
from snnsim.plots.common import SelectionError


def labelled(ax):
    return {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}


def test_gap_breaks_inserts_nan_after_each_gap():
    t = np.array([0, 0.05, 0.1, 3.0, 3.05, 9.0])
    x, y = plots.gap_breaks(t, t * 2)
    assert np.isnan(x).sum() == 2 and np.isnan(y).sum() == 2
    np.testing.assert_array_equal(np.flatnonzero(np.isnan(x)), [3, 6])
    np.testing.assert_array_equal(x[np.isfinite(x)], t)


def test_a_short_gap_is_a_gap_beside_a_long_one():
    """A gap is a step over 1.5 times the median step (0.1 s): the 0.2 s step is one, though
    the 5 s gap raises the mean step to 0.95 s."""
    t = np.array([0, 0.1, 0.2, 0.3, 0.5, 0.6, 5.6])
    (x,) = plots.gap_breaks(t)
    np.testing.assert_array_equal(np.flatnonzero(np.isnan(x)), [4, 7])


def test_prediction_trace_of_a_run_shows_gaps_as_gaps(bmi_ds):
    t = bmi_ds.time.values
    window = (float(t[0]), float(t[0]) + 12)
    fig = plots.prediction_trace(bmi_ds, window=window)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Time (s)"
    assert ax.get_ylabel() == "Shoulder velocity (rad/s)"
    assert ax.get_xlim() == pytest.approx(window)
    lines = labelled(ax)
    assert list(lines) == ["True", "Predicted"]
    inside = (t >= window[0]) & (t <= window[1])
    gaps = int((np.diff(t[inside]) > 0.075).sum())
    assert gaps >= 1
    true_y = lines["True"].get_ydata()
    assert np.isnan(true_y).sum() == gaps
    np.testing.assert_allclose(true_y[np.isfinite(true_y)], bmi_ds.y_true.sel(output="shoulder").values[inside])
    pred = lines["Predicted"].get_ydata()
    np.testing.assert_allclose(
        pred[np.isfinite(pred)], bmi_ds.y_pred.isel(repeat=0).sel(output="shoulder").values[inside]
    )
    x = lines["True"].get_xdata()
    assert np.array_equal(np.isnan(x), np.isnan(true_y))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["True", "Predicted"]


def legend_boxes(fig):
    """(the figure's legends' boxes, its visible axes' boxes) in display units, drawn as
    save_figure draws them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    axes = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    return [lg.get_window_extent(renderer) for lg in legends], axes


def test_prediction_trace_legend_stays_off_the_traces(bmi_grid):
    """Figure 1's legend sat in the upper right corner of the axes, over the traces wherever the
    velocity peaked there (a real 4-fold run: the true peak ran through "Predicted (snn)"); it
    goes beside the axes, inside the figure."""
    fig = plots.prediction_trace(bmi_grid, window_length=8, sel={"rotation": 16})
    legends, axes = legend_boxes(fig)
    assert len(legends) == 1 and len(fig.axes[0].get_legend().get_texts()) == 4  # True + 3 models
    assert not any(box.overlaps(ax) for box in legends for ax in axes), "the legend covers the traces"
    whole = fig.bbox
    assert all(whole.x0 <= b.x0 and b.x1 <= whole.x1 and whole.y0 <= b.y0 and b.y1 <= whole.y1 for b in legends)


def test_prediction_trace_of_a_grid_draws_one_prediction_per_model(bmi_grid):
    fig = plots.prediction_trace(bmi_grid, window_length=8, sel={"rotation": 16})
    ax = fig.axes[0]
    lines = labelled(ax)
    assert list(lines) == ["True", "Predicted (snn)", "Predicted (ann)", "Predicted (linear)"]
    point = bmi_grid.sel(rotation=16, n_train_folds=8)  # largest training set by default
    t = point.time.isel(model=0).values
    inside = np.isfinite(t) & (t <= np.nanmin(t) + 8)
    for model in ("snn", "ann", "linear"):
        y = lines[f"Predicted ({model})"].get_ydata()
        expected = point.y_pred.sel(model=model).isel(repeat=0).sel(output="shoulder").values[inside]
        np.testing.assert_allclose(y[np.isfinite(y)], expected)
    assert "rotation 16" in ax.get_title() and "8 training folds" in ax.get_title()


def test_prediction_trace_of_a_grid_with_a_hole_uses_the_jobs_that_ran(bmi_grid):
    """A merge with holes (--allow-missing): the first model's job at the point is missing (all
    NaN); the truth and time come from a job that ran, and the missing model has no curve."""
    ds = bmi_grid.copy(deep=True)
    for name in ("time", "y_true", "y_pred"):
        ds[name].loc[dict(model="snn", rotation=16, n_train_folds=8)] = np.nan
    fig = plots.prediction_trace(ds, window_length=8, sel={"rotation": 16})
    lines = labelled(fig.axes[0])
    assert list(lines) == ["True", "Predicted (ann)", "Predicted (linear)"]
    point = bmi_grid.sel(rotation=16, n_train_folds=8)
    t = point.time.isel(model=0).values
    inside = np.isfinite(t) & (t <= np.nanmin(t) + 8)
    true_y = lines["True"].get_ydata()
    np.testing.assert_allclose(true_y[np.isfinite(true_y)], point.y_true.sel(model="ann", output="shoulder")[inside])
    y = lines["Predicted (linear)"].get_ydata()
    expected = point.y_pred.sel(model="linear").isel(repeat=0).sel(output="shoulder").values[inside]
    np.testing.assert_allclose(y[np.isfinite(y)], expected)


def test_prediction_trace_of_elbow(bmi_ds):
    fig = plots.prediction_trace(bmi_ds, output="elbow")
    assert fig.axes[0].get_ylabel() == "Elbow velocity (rad/s)"


@pytest.mark.parametrize("metric", ["fvaf", "rmse"])
def test_training_size_figure_has_three_curves_per_model(bmi_grid, metric):
    ds = bmi_grid.copy(deep=True)
    ds[f"val_{metric}"].loc[dict(model="ann", n_train_folds=2, rotation=15)] = np.nan  # a missing task
    fig = getattr(plots, f"{metric}_figure")(ds)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["snn", "ann", "linear"]
    if metric == "fvaf":
        assert axes[0].get_ylabel() == "FVAF of shoulder velocity"
    else:
        assert axes[0].get_ylabel() == "RMSE of shoulder velocity (rad/s)"
    for ax, model in zip(axes, ("snn", "ann", "linear")):
        assert ax.get_xlabel() == "Number of training folds"
        lines = labelled(ax)
        assert list(lines) == ["Training", "Validation", "Test"]
        assert len(ax.collections) == 3  # spread bands
        for split, label in zip(("train", "val", "test"), lines):
            da = ds[f"{split}_{metric}"].sel(model=model, output="shoulder").transpose("n_train_folds", ...)
            v = da.values.reshape(da.sizes["n_train_folds"], -1)
            np.testing.assert_array_equal(lines[label].get_xdata(), ds.n_train_folds.values)
            np.testing.assert_allclose(lines[label].get_ydata(), np.nanmedian(v, axis=1))
    assert [t.get_text() for t in axes[-1].get_legend().get_texts()] == ["Training", "Validation", "Test"]


@pytest.mark.parametrize("metric", ["fvaf", "rmse"])
def test_training_size_figure_legend_stays_off_the_panels(bmi_grid, metric):
    """Figures 2a/2b kept their legend inside the first panel at loc="best", where a curve or
    its band could run under it; it goes beside the last panel, inside the figure."""
    for ds in (bmi_grid, bmi_grid.sel(model=["snn"])):
        fig = getattr(plots, f"{metric}_figure")(ds)
        legends, axes = legend_boxes(fig)
        assert len(legends) == 1
        assert not any(box.overlaps(ax) for box in legends for ax in axes), "the legend covers a panel"
        whole = fig.bbox
        assert all(whole.x0 <= b.x0 and b.x1 <= whole.x1 and whole.y0 <= b.y0 and b.y1 <= whole.y1 for b in legends)


def test_training_size_figure_needs_folds(bmi_ds):
    fig = plots.fvaf_figure(bmi_ds)  # a single run: one point per split, from config_n_train_folds
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [18])
    with pytest.raises(ValueError, match="fvaf"):
        plots.fvaf_figure(bmi_ds.drop_vars(["train_fvaf", "val_fvaf", "test_fvaf"]))


def test_learning_curves_one_row_per_variable_one_column_per_model(bmi_grid):
    fig = plots.learning_curves(bmi_grid)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["snn", "ann", "linear"]
    assert fig.axes[0].get_ylabel() == "Training loss" and fig.axes[3].get_ylabel() == "Validation loss"
    for ax, name in ((fig.axes[1], "loss"), (fig.axes[4], "val_loss")):
        curve = bmi_grid[name].sel(model="ann", n_train_folds=8).transpose("epoch", ...).values.reshape(6, -1)
        np.testing.assert_allclose(ax.lines[0].get_ydata(), np.median(curve, axis=1))
    assert fig.axes[4].get_xlabel() == "Epoch"


def test_learning_curves_name_the_rate_and_learning_rate_rows_and_count_whole_epochs(bmi_grid):
    """The rows of the learning rate and the hidden firing rate read as words, not variable
    names ("lr curve"); the learning rate's says which (Adam's, as the help of --lr: it read
    "Learning rate", no kind); the epoch axis has whole-number ticks (not 2.5, 7.5)."""
    ds = bmi_grid.copy()
    ds["lr_curve"] = xr.full_like(ds["loss"], 0.003)
    ds["hidden_rate_curve"] = xr.full_like(ds["loss"], 12.0).assign_attrs(units="Hz")
    fig = plots.learning_curves(ds, variables=["loss", "lr_curve", "hidden_rate_curve"])
    labels = [fig.axes[3 * r].get_ylabel() for r in range(3)]
    assert labels == ["Training loss", "Adam learning rate", "Hidden firing rate (Hz)"]
    fig.canvas.draw()
    ticks = [t for t in fig.axes[-1].get_xticks() if ds["epoch"].min() <= t <= ds["epoch"].max()]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_learning_curves_draw_the_median_over_repeats_of_the_mean_over_outputs():
    """Validation FVAF of 3 repeats and 2 outputs (shoulder, elbow): per repeat the mean of the
    outputs (epoch 0: 0.2, 0.4, 0.6; epoch 1: 0.3, 0.5, 0.5), then their median 0.4, 0.5
    (hand-computed; the shoulder's alone would be 0.3, 0.4)."""
    shoulder = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.9]]
    elbow = [[0.3, 0.4], [0.5, 0.6], [0.7, 0.1]]
    curve = xr.DataArray(np.stack([shoulder, elbow], -1), dims=("repeat", "epoch", "output"))
    ds = xr.Dataset({"val_fvaf_curve": curve}, coords={"epoch": [0, 1]}, attrs={"config_model": "snn"})
    ax = plots.learning_curves(ds).axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.4, 0.5])


def test_learning_curves_of_one_epoch_have_a_whole_epoch_tick(rng):
    """A run of one epoch (``--epochs 1``, as a quick sweep) labelled its epoch axis 0.945,
    0.960 ... 1.065: the whole-number locator wants two ticks and gave up. Its one tick is 1."""
    from fake_results import bmi_run

    fig = plots.learning_curves(bmi_run(rng, epochs=1))
    fig.canvas.draw()
    low, high = fig.axes[-1].get_xlim()
    assert [t for t in fig.axes[-1].get_xticks() if low <= t <= high] == [1]


def test_learning_curves_say_what_the_loss_and_the_fvaf_are_of(bmi_grid):
    """The training loss row read "Training loss": no unit, no kind; a BMI run's loss is the
    MSE of z-scored targets (plus the firing-rate penalty with --rate-reg) and its validation
    FVAF the mean over outputs, as the variables' long names say. The rows name them."""
    ds = bmi_grid.copy()
    ds["loss"].attrs["long_name"] = "mean training loss (MSE, z-scored targets); NaN after early stop"
    ds["val_fvaf_curve"] = (ds["loss"] * 0 + 0.5).assign_attrs(
        long_name="validation FVAF (mean over outputs) per epoch; NaN after early stop; linear: epoch 1 only"
    )
    fig = plots.learning_curves(ds, variables=["loss", "val_fvaf_curve"])
    labels = [fig.axes[3 * r].get_ylabel() for r in range(2)]
    assert labels == ["Training loss\n(MSE, z-scored targets)", "Validation FVAF\n(mean over outputs)"]
    ds["loss"].attrs["long_name"] = "mean training loss (MSE, z-scored targets + firing-rate penalty); NaN after"
    fig = plots.learning_curves(ds, variables=["loss"])
    assert fig.axes[0].get_ylabel() == "Training loss\n(MSE, z-scored targets + firing-rate penalty)"


def test_learning_curves_of_a_point_of_a_rate_reg_grid_say_whether_its_loss_has_the_penalty(bmi_grid):
    """A merged sweep ``rate_reg = [0, 0.1]``: the loss's long name is both jobs' ("... (MSE,
    z-scored targets); ... | ... (MSE, z-scored targets + firing-rate penalty); ..."), and the
    curves of the point rate_reg = 0.1 said "(MSE, z-scored targets)", the first job's kind, as
    if its loss had no penalty. Each point's kind is named now, and both where a figure pools them."""
    import xarray as xr

    ds = xr.concat([bmi_grid, bmi_grid], "rate_reg", data_vars="all").assign_coords(rate_reg=[0.0, 0.1])
    ds["loss"].attrs["long_name"] = (
        "mean training loss (MSE, z-scored targets); NaN after early stop | "
        "mean training loss (MSE, z-scored targets + firing-rate penalty); NaN after early stop"
    )
    for reg, kind in ((0.0, "MSE, z-scored targets"), (0.1, "MSE, z-scored targets + firing-rate penalty")):
        fig = plots.learning_curves(ds, variables=["loss"], sel={"rate_reg": reg, "n_train_folds": 8})
        assert fig.axes[0].get_ylabel() == f"Training loss\n({kind})"
    assert plots.common.kind_of(ds["loss"], ds) == "MSE, z-scored targets + firing-rate penalty where rate_reg > 0"


def test_rotation_swept_at_one_size_only_is_left_out_of_figure_2(bmi_grid):
    ds = bmi_grid.copy(deep=True)
    for name in ("train_fvaf", "val_fvaf", "test_fvaf"):
        ds[name].loc[dict(rotation=16, n_train_folds=[1, 2, 4])] = np.nan  # like rotation 5: 18 folds only
    fig = plots.fvaf_figure(ds)
    expected = ds.test_fvaf.sel(model="snn", output="shoulder", rotation=15).median("repeat").values
    np.testing.assert_allclose(fig.axes[0].lines[2].get_ydata(), expected)
    assert plots.bmi.complete_rotations(ds, "test_fvaf") == [15]


def test_a_setting_of_one_model_only_pools_nothing_twice(bmi_grid):
    """A union of grids (bmi_learning_curve: input_rank 32 for snn, 0 for ann and linear) leaves
    a dimension with one value per point; the figure draws the same curves, and its n counts values."""
    plain = plots.fvaf_figure(bmi_grid)
    is_snn = bmi_grid.model == "snn"
    union = xr.concat(
        [bmi_grid.where(is_snn).expand_dims(input_rank=[32]), bmi_grid.where(~is_snn).expand_dims(input_rank=[0])],
        "input_rank",
    )
    fig = plots.fvaf_figure(union)
    for a, b in zip(plain.axes, fig.axes):
        for la, lb in zip(a.lines, b.lines):
            np.testing.assert_allclose(la.get_ydata(), lb.get_ydata())
    n = bmi_grid.sizes["rotation"] * bmi_grid.sizes["repeat"]
    assert fig._suptitle.get_text().endswith(f"(n ≤ {n})") and plain._suptitle.get_text() == fig._suptitle.get_text()


def with_weights(ds, n_inputs, hidden=6, seed=0):
    """``ds`` with spiking-decoder weights ``w1`` (repeat, input_unit, hidden_unit) and ``w2``."""
    rng = np.random.default_rng(seed)
    repeats = ds.sizes["repeat"]
    return ds.assign(
        w1=(("repeat", "input_unit", "hidden_unit"), rng.normal(size=(repeats, n_inputs, hidden))),
        w2=(("repeat", "hidden_unit", "output_unit"), rng.normal(size=(repeats, hidden, 2))),
    )


def figure_texts(fig):
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def test_weight_profiles_of_a_bmi_window_run_are_neuron_by_bin_images(bmi_ds):
    """The CLI's weight_profiles of a BMI result: recorded neuron x 50 ms bin, no ears or IPD."""
    from snnsim.plots.__main__ import figures_for

    ds = with_weights(bmi_ds, 960)
    fig = figures_for(ds)["weight_profiles"]()
    texts = " ".join(figure_texts(fig))
    assert not any(word in texts for word in ("Ear", "Phase", "IPD", "deg"))
    assert fig.get_supylabel() == "Recorded neuron" and "50 ms" in fig.get_supxlabel()
    assert "48 recorded neurons x 20 bins of 50 ms" in fig.get_suptitle().replace("\n", " ")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == len(fig.snnsim_neurons) == 6
    w1 = ds.w1.isel(repeat=0).values
    for ax, j in zip(panels, fig.snnsim_neurons):
        assert ax.get_title() == f"hidden {j}"
        np.testing.assert_allclose(ax.images[0].get_array(), w1[:, j].reshape(20, 48).T)  # bin-major channels


def test_weight_matrices_of_a_bmi_run_draw_the_hidden_neurons_in_index_order(bmi_ds):
    """The CLI's weights figure of a BMI result used the notebook's re-ordering of the IPD network,
    whose 0.5 lies far above a BMI decoder's weights: every neuron counted "weak", none was sorted
    (argsort of equal keys kept index order), and the title said "sorted by weighted mean input
    index (|w| < 0.5 last)". It draws the neurons in index order and says so; an IPD result keeps
    the notebook's."""
    from snnsim.plots.__main__ import figures_for

    ds = with_weights(bmi_ds, 960)
    ds = ds.assign(w1=ds.w1 * 0.08, w2=ds.w2 * 0.08)  # a BMI decoder's scale
    fig = figures_for(ds)["weights"]()
    assert fig.get_suptitle().startswith("Weights, hidden neurons in index order"), fig.get_suptitle()
    assert "|w|" not in fig.get_suptitle() and "re-ordered" not in " ".join(figure_texts(fig))
    np.testing.assert_array_equal(fig.snnsim_order, np.arange(6))
    w1, w2 = ds.w1.isel(repeat=0).values, ds.w2.isel(repeat=0).values
    panels = [ax for ax in fig.axes if ax.images]
    np.testing.assert_allclose(panels[0].images[0].get_array(), w1)
    np.testing.assert_allclose(panels[1].images[0].get_array(), w2)


def test_weight_profiles_of_a_bmi_bins_run_are_weights_per_recorded_neuron(bmi_ds):
    ds = with_weights(bmi_ds, 48)
    fig = plots.input_weight_profiles(ds, n=4)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4 and fig.get_supxlabel() == "Recorded neuron" and fig.get_supylabel() == "Weight"
    w1 = ds.w1.isel(repeat=0).values
    assert set(fig.snnsim_neurons) == set(np.argsort(-np.abs(w1).max(axis=0))[:4])
    for ax, j in zip(axes, fig.snnsim_neurons):
        np.testing.assert_allclose(ax.lines[0].get_ydata(), w1[:, j])
    with pytest.raises(ValueError, match="BMI"):
        plots.hidden_weight_profiles(ds)
    with pytest.raises(SelectionError, match=r"^n: 0 is not a number of hidden neurons to draw \(give 1 or more\)$"):
        plots.input_weight_profiles(ds, n=0)  # matplotlib's "Number of rows must be a positive integer" before


def test_weight_profiles_of_a_bmi_run_draw_without_torch(bmi_ds, tmp_path):
    """A BMI decoder's weight profiles are drawn where torch cannot be imported: they imported the
    BMI study (torch, the network, the backends: seconds of a plot command) for the width of a
    bin, a constant of the data set (``snnsim.datasets.bmi.BIN_SECONDS``)."""
    for n_inputs in (960, 48):
        with_weights(bmi_ds, n_inputs).to_netcdf(tmp_path / f"w{n_inputs}.nc", engine="h5netcdf")
    code = (
        "import sys; sys.modules['torch'] = None; import xarray as xr; from snnsim import plots; "
        f"[plots.input_weight_profiles(xr.load_dataset({str(tmp_path)!r} + f'/w{{n}}.nc', engine='h5netcdf'), n=3) "
        "for n in (960, 48)]"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_figure_2_refuses_to_pool_a_swept_hidden_size(bmi_grid):
    """A sweep of ``hidden`` besides model x training folds: the curves would mix network sizes."""
    ds = xr.concat([bmi_grid, bmi_grid + 0.1], "hidden").assign_coords(hidden=[30, 100])
    with pytest.raises(ValueError, match="would pool different settings \\(hidden: 30, 100\\)"):
        plots.fvaf_figure(ds)
    with pytest.raises(ValueError, match="hidden"):
        plots.learning_curves(ds)
    fig = plots.fvaf_figure(ds.sel(hidden=100))
    assert len(fig.axes) == 3


@pytest.mark.parametrize("make", ["fvaf", "learning_curves"])
def test_suptitles_of_a_one_model_grid_fit_the_figure(bmi_grid, make):
    """One model makes a narrow figure: the title is wrapped, not cut at the edges."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ds = bmi_grid.sel(model=["snn"])
    fig = plots.fvaf_figure(ds) if make == "fvaf" else plots.learning_curves(ds)
    FigureCanvasAgg(fig).draw()
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert "\n" in fig.get_suptitle()


def test_figure_1_names_the_repeat_it_draws(bmi_ds, bmi_grid):
    """Figure 1 draws one repeat's prediction; of a run or grid of several repeats it said not
    which (the weight figures say "repeat 0"), as if it were the only model or their median."""
    fig = plots.prediction_trace(bmi_ds, repeat=1)
    ax = fig.axes[0]
    assert ax.get_title().endswith(", repeat 1)")
    pred = labelled(ax)["Predicted"].get_ydata()
    t = bmi_ds.time.values
    inside = t <= t[0] + 20
    np.testing.assert_allclose(pred[np.isfinite(pred)], bmi_ds.y_pred.isel(repeat=1).sel(output="shoulder")[inside])
    assert plots.prediction_trace(bmi_grid).axes[0].get_title().endswith(", repeat 0)")
    assert "repeat" not in plots.prediction_trace(bmi_ds.isel(repeat=[0])).axes[0].get_title()


def test_a_window_with_negative_times_is_printed_unambiguously(bmi_ds):
    with pytest.raises(ValueError, match=r"^no test samples in the window \[-5, -1\] s \(the test fold "):
        plots.prediction_trace(bmi_ds, window=(-5, -1))


def test_a_window_without_test_samples_names_the_test_folds_times(bmi_ds):
    """``--window`` takes times of the recording (the ``time`` column), not of the test fold from
    its start: ``--window 5 10`` on a test fold at 325-404 s drew nothing and said only that the
    window held no test sample, leaving the user to guess which times it takes."""
    t = bmi_ds.time.values
    span = rf"\(the test fold spans {np.nanmin(t):.1f}-{np.nanmax(t):.1f} s of the recording\)$"
    with pytest.raises(ValueError, match=span):
        plots.prediction_trace(bmi_ds, window=(float(np.nanmax(t)) + 1, float(np.nanmax(t)) + 2))


def test_a_window_past_the_test_fold_is_drawn_over_the_fold(bmi_ds):
    """``--window 0 1e9`` (every test sample) drew the test fold as a vertical line at the left of
    an axis a billion seconds long, and ``--window 0 1e308`` printed numpy's overflow warnings
    from the axis ticks as well. The axis spans the test samples in the window now."""
    import io
    import warnings

    t = bmi_ds.time.values
    for stop in (1e9, 1e308):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig = plots.prediction_trace(bmi_ds, window=(0.0, stop))
            fig.savefig(io.BytesIO(), format="png")
        assert fig.axes[0].get_xlim() == pytest.approx((np.nanmin(t), np.nanmax(t)))


def holes(ds, **point):
    """``ds`` as ``sweep merge --allow-missing`` leaves it when the jobs at ``point`` did not run."""
    ds = ds.copy(deep=True)
    for name, da in ds.data_vars.items():
        if set(point) <= set(da.dims) and da.dtype.kind == "f":
            ds[name].loc[point] = np.nan
    return ds


def test_figure_1_of_a_merge_without_rotation_5_draws_a_rotation_that_ran(rng):
    """bmi_training_size's rotation-5 jobs missing from the merge: Figure 1 was skipped ("no test
    samples in the window [nan, nan] s"); it draws the largest training set of a rotation that ran."""
    from fake_results import bmi_merged

    grid = bmi_merged(rng, rotations=(5, 15))
    fig = plots.prediction_trace(holes(grid, rotation=5), window_length=8)
    ax = fig.axes[0]
    assert "rotation 15" in ax.get_title() and "8 training folds" in ax.get_title()
    point = grid.sel(rotation=15, n_train_folds=8)
    t = point.time.isel(model=0).values
    inside = np.isfinite(t) & (t <= np.nanmin(t) + 8)
    true_y = labelled(ax)["True"].get_ydata()
    np.testing.assert_allclose(true_y[np.isfinite(true_y)], point.y_true.isel(model=0).sel(output="shoulder")[inside])
    # the assignment's rotation 5 is still the default where it ran
    assert "rotation 5" in plots.prediction_trace(grid, window_length=8).axes[0].get_title()
    with pytest.raises(ValueError, match="^no test fold at rotation 5, n_train_folds 8: no job there is in the merge$"):
        plots.prediction_trace(holes(grid, rotation=5), sel={"rotation": 5})


def test_learning_curves_of_a_merge_without_the_largest_training_set_draw_one_that_ran(bmi_grid):
    """Every job of the largest training set missing: the figure was empty panels titled with it."""
    fig = plots.learning_curves(holes(bmi_grid, n_train_folds=8))
    assert "(4 training folds)" in fig.get_suptitle()
    curve = bmi_grid["loss"].sel(model="ann", n_train_folds=4).transpose("epoch", ...).values.reshape(6, -1)
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), np.median(curve, axis=1))


def test_the_titles_name_what_the_curves_pool(bmi_grid):
    """The learning curves said "median over repeats" of curves pooled over rotations too (20
    rotations of one repeat in bmi_learning_curve), and Figure 2 "median over rotations and
    repeats" of one run per point (bmi_training_size)."""
    n = bmi_grid.sizes["rotation"] * bmi_grid.sizes["repeat"]
    title = plots.learning_curves(bmi_grid).get_suptitle().replace("\n", " ")
    assert title.endswith(f": median over rotation, repeat, 25–75th percentile shaded (n ≤ {n})")
    one_repeat = bmi_grid.isel(repeat=[0])
    title = plots.learning_curves(one_repeat).get_suptitle().replace("\n", " ")
    assert title.endswith(f": median over rotation, 25–75th percentile shaded (n ≤ {bmi_grid.sizes['rotation']})")
    one_run = one_repeat.isel(rotation=[0])
    for fig in (plots.learning_curves(one_run), plots.fvaf_figure(one_run)):
        assert fig.get_suptitle().replace("\n", " ").endswith(": one run")
    title = plots.rmse_figure(bmi_grid).get_suptitle().replace("\n", " ")
    assert title.endswith(f": median over rotation, repeat, 25–75th percentile shaded (n ≤ {n})")


def test_a_sweep_over_the_target_labels_each_point_with_its_own(bmi_grid):
    """A merged sweep of ``target = ["theta", "dtheta"]`` has no ``config_target`` and ``y_true``
    units of every job ("rad | rad/s"; the first job's, "rad", up to snnsim 0.3.0): Figure 1 of
    the velocity point said "Shoulder velocity (rad)", of the angle point "Shoulder velocity",
    and the cost axis "FVAF of shoulder velocity" of points of both targets."""
    import xarray as xr

    ds = bmi_grid.copy()
    del ds.attrs["config_target"]
    ds = xr.concat([ds, ds], "target", data_vars="all").assign_coords(target=["theta", "dtheta"])
    ds["y_true"].attrs["units"] = "rad | rad/s"  # as the merge writes them
    for target, label in (("theta", "Shoulder angle (rad)"), ("dtheta", "Shoulder velocity (rad/s)")):
        ax = plots.prediction_trace(ds, window_length=8, sel={"target": target}).axes[0]
        assert ax.get_ylabel() == label
        assert f"true and predicted {label.split(' (')[0].lower()} (" in ax.get_title()
    cost = plots.cost_figure(ds, by=("target", "model", "n_train_folds"))
    assert cost.axes[0].get_ylabel() == "Test FVAF of shoulder angle / velocity"


def test_a_sweep_over_every_target_names_each_quantity_and_its_units(bmi_grid):
    """Figure 1 of each point of a sweep over the four targets names its quantity and units:
    angle (rad), velocity (rad/s), acceleration (rad/s²), torque (N m); only the angle and the
    velocity had been drawn."""
    import xarray as xr

    ds = bmi_grid.copy()
    del ds.attrs["config_target"]
    targets = ["theta", "dtheta", "ddtheta", "torque"]
    ds = xr.concat([ds] * 4, "target", data_vars="all").assign_coords(target=targets)
    ds["y_true"].attrs["units"] = "rad | rad/s | rad/s^2 | N m"  # as the merge writes them
    labels = ["Shoulder angle (rad)", "Shoulder velocity (rad/s)", "Shoulder acceleration (rad/s²)",
              "Shoulder torque (N m)"]  # fmt: skip
    for target, label in zip(targets, labels):
        ax = plots.prediction_trace(ds, window_length=8, sel={"target": target}).axes[0]
        assert ax.get_ylabel() == label
    # one run of each target (its units from the result file, "rad/s^2") gets the same label
    for target, label in zip(targets, labels):
        one = bmi_grid.copy()
        one.attrs["config_target"] = target
        one["y_true"].attrs["units"] = {"theta": "rad", "dtheta": "rad/s", "ddtheta": "rad/s^2", "torque": "N m"}[
            target
        ]
        assert plots.prediction_trace(one, window_length=8).axes[0].get_ylabel() == label


def test_figure_1_of_a_sweep_over_dims_draws_a_point_that_decodes_the_output(bmi_grid):
    """A sweep ``dims = [[1], [0]]`` merges the outputs as a union: at each point the joint it
    does not decode is NaN. Figure 1 took the first point (the elbow decoder) and its output 0
    (the shoulder): an empty figure, exit 0."""
    import xarray as xr

    elbow, shoulder = bmi_grid.copy(deep=True), bmi_grid.copy(deep=True)
    for name in ("y_true", "y_pred"):
        elbow[name].loc[dict(output="shoulder")] = np.nan
        shoulder[name].loc[dict(output="elbow")] = np.nan
    ds = xr.concat([elbow, shoulder], "dims", data_vars="all").assign_coords(dims=["1", "0"])
    for output, joint in ((0, "shoulder"), ("elbow", "elbow")):
        ax = plots.prediction_trace(ds, window_length=8, output=output).axes[0]
        truth, pred = ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
        assert np.isfinite(truth).sum() > 10 and np.isfinite(pred).sum() > 10, output
        assert ax.get_ylabel().startswith(joint.capitalize())


def test_output_0_of_a_merge_over_dims_is_the_shoulder_as_in_a_run(rng):
    """A merge of dims = [0], [1], [0, 1] orders its outputs by name (elbow, shoulder): Figure 1
    and Figure 2 drew "output 0" = the elbow (of the dims = 1 point), where a run's output 0 is
    the shoulder."""
    from fake_results import dims_merged

    ds = dims_merged(rng, models=("ann", "linear"), folds=(1, 2), rotations=(5,), repeats=1)
    assert ds["output"].values.tolist() == ["elbow", "shoulder"]
    ax = plots.prediction_trace(ds, window_length=8).axes[0]
    assert ax.get_ylabel() == "Shoulder velocity (rad/s)"
    assert ax.get_title().replace("\n", " ").endswith("shoulder velocity (2 training folds, rotation 5, dims = 0)")
    truth = ds["y_true"].sel(dims="0", model="ann", n_train_folds=2, rotation=5, output="shoulder").values
    drawn = labelled(ax)["True"].get_ydata()
    np.testing.assert_allclose(drawn[np.isfinite(drawn)], truth[np.isfinite(truth)][: np.isfinite(drawn).sum()])
    fig = plots.fvaf_figure(ds.sel(dims="0,1"))
    assert fig.axes[0].get_ylabel() == "FVAF of shoulder velocity"
    test = next(line for line in fig.axes[0].lines if line.get_label() == "Test")
    expected = ds["test_fvaf"].sel(dims="0,1", model="ann", output="shoulder").squeeze("repeat").sel(rotation=5)
    np.testing.assert_allclose(test.get_ydata(), expected.values)


def test_figure_1_of_a_merge_without_a_models_job_names_the_model(bmi_grid):
    """A merge with ``--allow-missing`` where one model's job at the drawn point did not run:
    Figure 1 showed the other models' curves only, and nothing in it said a model was missing."""
    ds = holes(bmi_grid, model="snn", rotation=16, n_train_folds=8)
    ds.attrs.update(missing="[23]", n_jobs=24)  # as sweep merge --allow-missing records them
    ax = plots.prediction_trace(ds, window_length=8, sel={"rotation": 16}).axes[0]
    assert list(labelled(ax)) == ["True", "Predicted (ann)", "Predicted (linear)"]
    assert len([line for line in ax.lines if "Predicted" in line.get_label()]) == 2
    assert ax.get_title().split("\n")[-1] == "model snn missing from the merge, not drawn"
    # NaN predictions of a job that is in the merge (no holes recorded): named, not called missing
    del ds.attrs["missing"]
    ax = plots.prediction_trace(ds, window_length=8, sel={"rotation": 16}).axes[0]
    assert ax.get_title().split("\n")[-1] == "no prediction of model snn here (NaN), not drawn"
    # every model drawn: no such line
    ax = plots.prediction_trace(bmi_grid, window_length=8, sel={"rotation": 16}).axes[0]
    assert "not drawn" not in ax.get_title()


def test_learning_curves_say_why_a_panel_is_empty(bmi_grid):
    """The ANN's "Hidden firing rate" panel (and the linear decoder's, and its learning rate's)
    was empty without a word: a reader could take it for a failed run. An empty panel says
    why: no spiking layer, no learning rate (the ridge decoder), else no values."""
    ds = bmi_grid.copy()
    spiking = ds["model"] == "snn"
    ds["hidden_rate_curve"] = xr.full_like(ds["loss"], 12.0).where(spiking).assign_attrs(units="Hz")
    ds["lr_curve"] = xr.full_like(ds["loss"], 0.003).where(ds["model"] != "linear")
    ds["val_loss"] = ds["val_loss"].where(ds["model"] != "ann")  # as a job missing from the merge
    fig = plots.learning_curves(ds, variables=["hidden_rate_curve", "lr_curve", "val_loss"])

    def note(ax):
        return [t.get_text() for t in ax.texts if t.get_gid() == "empty"]

    notes = [[note(fig.axes[3 * r + c]) for c in range(3)] for r in range(3)]
    assert notes == [
        [[], ["no spiking layer"], ["no spiking layer"]],
        [[], [], ["no learning rate\n(ridge, fitted in closed form)"]],
        [[], ["no values"], []],
    ]
    for r, c in ((0, 0), (1, 1), (2, 2)):  # a panel with a curve: drawn as before
        assert np.isfinite(fig.axes[3 * r + c].lines[0].get_ydata()).any()


@pytest.mark.parametrize("make", [plots.fvaf_figure, plots.rmse_figure])
def test_figure_2_of_a_merge_over_dims_names_the_dims_drawn_and_the_jobs_left_out(rng, make):
    """Figures 2a/2b of a merge over dims [0] and [1] drew dims = 0's jobs (the shoulder)
    without saying "dims = 0", and said nothing of the dims = 1 jobs (no shoulder value) they
    left out; the title names both, as the cost figure does."""
    from fake_results import dims_merged

    ds = dims_merged(rng, dims=("0", "1"), models=("snn", "linear"), folds=(1, 2), rotations=(5, 6), repeats=2)
    name = "FVAF" if make is plots.fvaf_figure else "RMSE"
    lines = make(ds).get_suptitle().split("\n")
    assert lines[0].startswith(f"{name} against training set size (dims = 0): median over rotation, repeat")
    assert lines[-1] == f"8 jobs of dims = 1 without {name} of shoulder velocity, left out"  # 2 models x 2 sizes x 2
    lines = make(ds, output="elbow").get_suptitle().split("\n")
    assert lines[0].startswith(f"{name} against training set size (dims = 1):")
    assert lines[-1] == f"8 jobs of dims = 0 without {name} of elbow velocity, left out"
    ds["test_fvaf"].loc[dict(dims="1", model="linear")] = np.nan  # 4 of those jobs missing from the merge
    ds["test_rmse"].loc[dict(dims="1", model="linear")] = np.nan
    assert make(ds).get_suptitle().endswith(f"\n4 jobs of dims = 1 without {name} of shoulder velocity, left out")
    title = make(ds.sel(dims=["0"])).get_suptitle()
    assert "(dims = 0)" in title and "left out" not in title
    title = make(ds.sel(dims="0")).get_suptitle()  # a scalar dims coordinate: the same
    assert "(dims = 0)" in title and "left out" not in title


def test_a_sel_of_a_value_or_setting_not_in_the_merge_is_one_line(bmi_grid):
    """Figure 1 and the learning curves of ``sel={"rotation": 5}`` on a merge of rotations 15
    and 16 (or of a setting it does not sweep) ended on xarray's KeyError."""
    from snnsim.errors import SnnsimError

    with pytest.raises(SnnsimError, match=r"^sel: rotation = 5 is not in the dataset \(rotation: 15, 16\)$"):
        plots.prediction_trace(bmi_grid, sel={"rotation": 5})
    with pytest.raises(SnnsimError, match=r"^sel: no setting 'rotaton' in the dataset; select among its dims: "):
        plots.learning_curves(bmi_grid, sel={"rotaton": 16})


def test_an_output_not_decoded_is_one_line(bmi_ds, bmi_grid):
    """``output="wrist"`` (or ``output=2`` of two outputs) ended on xarray's KeyError ("not all
    values found in index 'output'") or IndexError; it names the outputs there are."""
    from snnsim.errors import SnnsimError

    cases = [
        lambda: plots.prediction_trace(bmi_ds, output="wrist"),
        lambda: plots.prediction_trace(bmi_ds, output=2),
        lambda: plots.fvaf_figure(bmi_grid, output="wrist"),
        lambda: plots.cost_figure(bmi_grid, output=5),
    ]
    for draw in cases:
        with pytest.raises(
            SnnsimError, match=r"^output: no output (2|5|'wrist') here \(outputs: 0 shoulder, 1 elbow\)$"
        ):
            draw()
    assert plots.prediction_trace(bmi_ds, output="elbow").axes[0].get_ylabel().startswith("Elbow")


def test_a_repeat_out_of_range_is_one_line(bmi_ds):
    """Figure 1 of ``repeat=5`` of a run of fewer repeats ended on numpy's IndexError."""
    from snnsim.errors import SnnsimError

    n = bmi_ds.sizes["repeat"]
    with pytest.raises(SnnsimError, match=rf"^repeat: 5 is not a repeat here: the dataset has {n} \(0-{n - 1}\)$"):
        plots.prediction_trace(bmi_ds, repeat=5)


def test_learning_curves_of_a_variable_not_there_is_one_line(bmi_grid):
    """``learning_curves(ds, variables=["loss", "val_fvf"])`` ended on xarray's KeyError."""
    from snnsim.errors import SnnsimError

    with pytest.raises(SnnsimError, match=r"^variables: no variable 'val_fvf' in the dataset \(its per-epoch ones: "):
        plots.learning_curves(bmi_grid, variables=["loss", "val_fvf"])


def test_rotations_not_in_the_merge_are_one_line(bmi_grid, bmi_ds):
    """Figures 2a/2b of ``rotations=[3]`` on a merge of rotations 15 and 16 ended on xarray's
    KeyError; on a run of rotation 15 alone the rotations were ignored without a word."""
    from snnsim.errors import SnnsimError

    with pytest.raises(SnnsimError, match=r"^rotations: rotation = 3 is not in the dataset \(rotation: 15, 16\)$"):
        plots.fvaf_figure(bmi_grid, rotations=[3])
    grid = bmi_grid.isel(rotation=0, drop=True).assign_attrs(config_rotation=15)
    with pytest.raises(SnnsimError, match=r"^rotations: rotation = 3: every run here has rotation = 15$"):
        plots.rmse_figure(grid, rotations=[3])
    assert plots.fvaf_figure(grid, rotations=[15])  # its own rotation: drawn


def test_prediction_trace_draws_samples_in_time_order(bmi_ds):
    """Samples stored out of time order (a predictions file of several folds) are drawn in time
    order: the line runs forward in time, truth and prediction at their own times."""
    order = np.random.default_rng(1).permutation(bmi_ds.sizes["sample"])
    shuffled = bmi_ds.isel(sample=order)
    fig = plots.prediction_trace(shuffled, window_length=12)
    lines = labelled(fig.axes[0])
    x = lines["True"].get_xdata()
    assert np.all(np.diff(x[np.isfinite(x)]) > 0)
    t = bmi_ds.time.values
    inside = t <= t.min() + 12
    true_y, pred = lines["True"].get_ydata(), lines["Predicted"].get_ydata()
    np.testing.assert_allclose(true_y[np.isfinite(true_y)], bmi_ds.y_true.sel(output="shoulder").values[inside])
    np.testing.assert_allclose(pred[np.isfinite(pred)], bmi_ds.y_pred.isel(repeat=0).sel(output="shoulder")[inside])


def test_learning_curves_draw_training_and_validation_rows_in_their_splits_colours(bmi_grid):
    """The training loss row in the training colour, the validation loss row in the validation
    colour, as Figure 2's curves and every legend of the splits."""
    from matplotlib.colors import to_hex

    from snnsim.plots.common import SPLIT_COLOURS

    fig = plots.learning_curves(bmi_grid)
    assert {to_hex(ax.lines[0].get_color()) for ax in fig.axes[:3]} == {SPLIT_COLOURS["train"]}
    assert {to_hex(ax.lines[0].get_color()) for ax in fig.axes[3:]} == {SPLIT_COLOURS["val"]}


def test_figure_1_draws_a_prediction_with_some_nan_where_it_has_values(bmi_grid):
    """A model whose prediction is NaN at a few samples of the window still gets its curve (NaN
    there), not dropped as a model missing from the merge."""
    ds = bmi_grid.copy(deep=True)
    point = dict(model="ann", rotation=16, n_train_folds=8)
    ds["y_pred"].loc[{**point, "sample": [2, 3]}] = np.nan
    lines = labelled(plots.prediction_trace(ds, window_length=8, sel={"rotation": 16}).axes[0])
    assert list(lines) == ["True", "Predicted (snn)", "Predicted (ann)", "Predicted (linear)"]
    t = ds.time.sel(point).values
    inside = np.isfinite(t) & (t <= np.nanmin(t) + 8)
    expected = ds.y_pred.sel(point).isel(repeat=0).sel(output="shoulder").values[inside]
    y = lines["Predicted (ann)"].get_ydata()
    np.testing.assert_allclose(y[~np.isnan(y)], expected[~np.isnan(expected)])
    assert np.isnan(y).sum() >= 2


def test_an_output_given_by_index_draws_that_output(bmi_ds, bmi_grid):
    """``output=1`` is the elbow (the second output), as ``output="elbow"``: its label and its values."""
    lines = labelled(plots.prediction_trace(bmi_ds, output=1).axes[0])
    t = bmi_ds.time.values
    inside = t <= t.min() + 20
    true_y = lines["True"].get_ydata()
    np.testing.assert_allclose(true_y[np.isfinite(true_y)], bmi_ds.y_true.sel(output="elbow").values[inside])
    ax = plots.fvaf_figure(bmi_grid, output=1).axes[0]
    assert ax.get_ylabel() == "FVAF of elbow velocity"
    da = bmi_grid.test_fvaf.sel(model="snn", output="elbow").transpose("n_train_folds", ...)
    np.testing.assert_allclose(labelled(ax)["Test"].get_ydata(), np.nanmedian(da.values.reshape(4, -1), axis=1))


def test_figure_1_of_one_training_fold_says_fold(bmi_grid):
    title = plots.prediction_trace(bmi_grid, sel={"rotation": 16, "n_train_folds": 1}).axes[0].get_title()
    assert "1 training fold," in title.replace("\n", " ")
