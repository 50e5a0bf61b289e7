"""IPD figures: labels, number of boxes / curves, and the plotted data equal to the dataset's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from snnsim import plots
from snnsim.plots.ipd import weights_of


def by_gid(ax, prefix):
    arts = [a for a in ax.get_children() if (a.get_gid() or "").startswith(prefix)]
    return sorted(arts, key=lambda a: int(a.get_gid().rsplit(":", 1)[1]))


def test_accuracy_boxplot_of_a_grid_has_one_box_pair_per_readout_and_tau(ipd_grid):
    ds = ipd_grid.copy(deep=True)
    ds["test_acc"].loc[dict(readout="max", tau=0.002, seed=0)] = np.nan  # a missing grid point
    fig = plots.accuracy_boxplot(ds)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Accuracy (%)"
    assert ax.get_xlabel() == "Readout, membrane time constant"
    assert ax.get_title() == "IPD classification accuracy"
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "mean (oc)\nτ = 20 ms",
        "mean (oc)\nτ = 2 ms",
        "max\nτ = 20 ms",
        "max\nτ = 2 ms",
        "fr\nτ = 20 ms",
        "fr\nτ = 2 ms",
    ]
    assert len(by_gid(ax, "box:")) == 12
    groups = [(r, t) for r in ("mean", "max", "fr") for t in (0.02, 0.002)]
    for split in ("train", "test"):
        medians, means = by_gid(ax, f"median:{split}:"), by_gid(ax, f"mean:{split}:")
        assert len(medians) == len(means) == 6
        for (r, t), med, mean in zip(groups, medians, means):
            values = ds[f"{split}_acc"].sel(readout=r, tau=t).values.ravel()
            values = values[np.isfinite(values)]
            assert values.size == (2 if (split, r, t) == ("test", "max", 0.002) else 3)
            np.testing.assert_allclose(med.get_ydata(), np.median(values))
            np.testing.assert_allclose(mean.get_ydata(), np.mean(values))
    # each group's training box left of its tick, its test box right (as the legend lists them)
    for split, side in (("train", -0.19), ("test", 0.19)):
        np.testing.assert_allclose([m.get_xdata().mean() for m in by_gid(ax, f"median:{split}:")], np.arange(6) + side)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["Training", "Test", "mean", "chance"]
    chance = [line for line in ax.lines if line.get_label() == "chance"]
    np.testing.assert_allclose(chance[0].get_ydata(), 100 / 12)


def test_accuracy_chance_level_of_a_grid_over_n_classes_is_each_points(rng):
    """A grid over ``n_classes = [6, 12]`` drew one chance line at 100/12 % (the merge's padded
    ``true_class``) across every box, below the 6-class points' chance of 16.7 %; each box pair
    gets its own point's chance level now, in the legend once."""
    from fake_results import ipd_merged

    ds = ipd_merged(rng, readouts=("fr",), taus=(0.002,))
    ds = xr.concat([ds, ds], dim="n_classes").assign_coords(n_classes=[6, 12])
    ax = plots.accuracy_boxplot(ds).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "fr\nτ = 2 ms\nn_classes = 6",
        "fr\nτ = 2 ms\nn_classes = 12",
    ]
    chance = [c for c in ax.collections + ax.lines if c.get_label() == "chance"]
    assert len(chance) == 1
    segments = chance[0].get_segments()
    assert [(x0, x1) for (x0, _), (x1, _) in segments] == [(-0.5, 0.5), (0.5, 1.5)]
    np.testing.assert_allclose([y for (_, y), _ in segments], [100 / 6, 100 / 12])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Training", "Test", "mean", "chance"]


def test_error_boxplot_of_a_single_run_shows_its_repeats(ipd_ds):
    fig = plots.error_boxplot(ipd_ds)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Mean absolute IPD error (deg)"
    assert len(by_gid(ax, "box:")) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fr\nτ = 2 ms"]
    np.testing.assert_allclose(by_gid(ax, "median:test:")[0].get_ydata(), np.median(ipd_ds.test_err_deg.values))
    np.testing.assert_allclose(by_gid(ax, "mean:train:")[0].get_ydata(), np.mean(ipd_ds.train_err_deg.values))
    assert fig.snnsim_boxes[1][1] == "test"
    np.testing.assert_array_equal(fig.snnsim_boxes[1][2], ipd_ds.test_err_deg.values)


def test_figures_accept_a_real_run(real_ipd_run, tmp_path):
    for make in (plots.accuracy_boxplot, plots.error_boxplot, plots.training_curves, plots.confusion_figure):
        paths = plots.save_figure(make(real_ipd_run), tmp_path / make.__name__)
        assert [p.suffix for p in paths] == [".png", ".svg"]
    fig = plots.training_curves(real_ipd_run)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), np.median(real_ipd_run.loss.values, axis=0))


def test_training_curves_of_a_sweep_of_rate_reg_say_where_the_loss_holds_the_penalty(ipd_grid):
    """A merge keeps the first job's ``long_name``: the label is made from ``rate_reg``."""
    ds = ipd_grid.isel(readout=[0], tau=[0]).expand_dims(rate_reg=[0.0, 1.0])
    label = "Mean training loss (NLL + firing-rate penalty where rate_reg > 0)"
    assert plots.training_curves(ds).axes[0].get_ylabel() == label
    assert plots.training_curves(ds.sel(rate_reg=[1.0])).axes[0].get_ylabel() == label.replace(
        " where rate_reg > 0", ""
    )


def test_training_curves_of_a_bmi_rate_reg_grid_name_its_losss_kind_not_the_joined_long_names(bmi_grid):
    """A merged BMI sweep ``rate_reg = [0, 0.1]``: the loss's long name is both jobs' joined by
    " | ", and the y label was that whole text ("Mean training loss (MSE, z-scored targets); NaN
    after early stop | mean training loss (MSE, ... + firing-rate penalty); ..."), long and not
    saying which part applies. It names the kind of the points drawn, as ``learning_curves`` does."""
    ds = xr.concat([bmi_grid, bmi_grid], "rate_reg", data_vars="all").assign_coords(rate_reg=[0.0, 0.1])
    ds["loss"].attrs["long_name"] = (
        "mean training loss (MSE, z-scored targets); NaN after early stop | "
        "mean training loss (MSE, z-scored targets + firing-rate penalty); NaN after early stop"
    )
    kind = "MSE, z-scored targets + firing-rate penalty"
    assert plots.training_curves(ds, "loss").axes[0].get_ylabel() == f"Training loss ({kind} where rate_reg > 0)"
    assert plots.training_curves(ds.sel(rate_reg=[0.1]), "loss").axes[0].get_ylabel() == f"Training loss ({kind})"
    assert plots.training_curves(ds.sel(rate_reg=[0.0]), "loss").axes[0].get_ylabel() == (
        "Training loss (MSE, z-scored targets)"
    )


def test_curves_of_a_rate_reg_grid_draw_without_torch(ipd_grid, bmi_grid, tmp_path):
    """The curves of a ``rate_reg`` sweep name the firing-rate penalty, a label that was imported
    from :mod:`snnsim.training`, and so torch (seconds of a plot command); they are drawn where
    torch cannot be imported."""
    ipd = ipd_grid.isel(readout=[0], tau=[0]).expand_dims(rate_reg=[0.0, 1.0])
    bmi = xr.concat([bmi_grid, bmi_grid], "rate_reg", data_vars="all").assign_coords(rate_reg=[0.0, 0.1])
    bmi["loss"].attrs["long_name"] = (
        "mean training loss (MSE, z-scored targets); NaN after early stop | "
        "mean training loss (MSE, z-scored targets + firing-rate penalty); NaN after early stop"
    )
    ipd.to_netcdf(tmp_path / "ipd.nc", engine="h5netcdf")
    bmi.to_netcdf(tmp_path / "bmi.nc", engine="h5netcdf")
    code = (
        "import sys; sys.modules['torch'] = None; import xarray as xr; from snnsim import plots; "
        f"ipd = xr.load_dataset({str(tmp_path / 'ipd.nc')!r}, engine='h5netcdf'); "
        f"bmi = xr.load_dataset({str(tmp_path / 'bmi.nc')!r}, engine='h5netcdf'); "
        "print(plots.training_curves(ipd).axes[0].get_ylabel()); "
        "print(plots.learning_curves(bmi, variables=['loss'], sel={'rate_reg': 0.1, 'n_train_folds': 8})"
        ".axes[0].get_ylabel().replace(chr(10), ' '))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "Mean training loss (NLL + firing-rate penalty where rate_reg > 0)",
        "Training loss (MSE, z-scored targets + firing-rate penalty)",
    ]


def test_training_curves_plot_the_median_over_seeds_per_group(ipd_grid):
    fig = plots.training_curves(ipd_grid)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Epoch"
    assert ax.get_ylabel() == "Mean training loss (NLL)"
    assert len(ax.lines) == 6 and len(ax.collections) == 6  # one median line and one band per group
    for line, key in zip(ax.lines, fig.snnsim_groups):
        loss = ipd_grid.loss.sel(key).transpose(..., "epoch").values.reshape(-1, ipd_grid.sizes["epoch"])
        np.testing.assert_array_equal(line.get_xdata(), ipd_grid.epoch.values)
        np.testing.assert_allclose(line.get_ydata(), np.median(loss, axis=0))
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "fr (τ = 2 ms)".replace(" (", ", ").replace(
        ")", ""
    )


def test_training_curves_leave_out_a_group_whose_jobs_are_missing(ipd_grid):
    """Every job of fr, 2 ms missing from the merge (NaN): no line and no legend entry for it."""
    ds = ipd_grid.copy(deep=True)
    ds["loss"].loc[dict(readout="fr", tau=0.002)] = np.nan
    fig = plots.training_curves(ds)
    ax = fig.axes[0]
    assert len(ax.lines) == 5 and len(fig.snnsim_groups) == 5
    assert {"readout": "fr", "tau": 0.002} not in [dict(k) for k in fig.snnsim_groups]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == 5 and "fr, τ = 2 ms" not in texts and "fr, τ = 20 ms" in texts


def test_boxplot_legends_stay_off_the_boxes(ipd_grid):
    """The boxplots' legend (Training, Test, mean, chance) sat inside the axes at loc="best",
    where a box or whisker could run under it; it goes beside the axes, inside the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for make, entries in ((plots.accuracy_boxplot, 4), (plots.error_boxplot, 3)):
        for ds in (ipd_grid, ipd_grid.isel(readout=[0], tau=[0])):  # 6 groups and 1
            fig = make(ds)
            canvas = FigureCanvasAgg(fig)  # as save_figure draws it
            canvas.draw()
            renderer = canvas.get_renderer()
            legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
            assert len(legends) == 1 and len(legends[0].get_texts()) == entries
            box, axes, whole = legends[0].get_window_extent(renderer), fig.axes[0].get_window_extent(renderer), fig.bbox
            assert not box.overlaps(axes), f"{make.__name__}: the legend lies over the boxes"
            assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
            assert axes.width > 0.4 * whole.width


def test_training_curves_legend_stays_off_the_curves(ipd_grid):
    """The training curves' legend sat inside the axes at loc="best", where it could hide a
    curve or a band; it goes beside the axes, inside the figure, as every other figure's."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for ds in (ipd_grid, ipd_grid.expand_dims(recurrent=[False, True])):  # 6 and 12 groups
        fig = plots.training_curves(ds)
        canvas = FigureCanvasAgg(fig)  # as save_figure draws it
        canvas.draw()
        renderer = canvas.get_renderer()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert len(legends) == 1 and len(legends[0].get_texts()) == len(fig.snnsim_groups)
        box, axes, whole = legends[0].get_window_extent(renderer), fig.axes[0].get_window_extent(renderer), fig.bbox
        assert not box.overlaps(axes), "the legend lies over the curves"
        assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
        assert axes.width > 0.4 * whole.width


def test_confusion_histogram_legend_stays_off_the_bars(ipd_grid):
    """The histogram's legend (True, Estimated) sat inside its axes at loc="best", where it
    could lie over a bar; it goes beside the axes, inside the figure, as every other figure's."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for ds in (ipd_grid.sel(readout="fr", tau=0.002), ipd_grid.isel(readout=0, tau=0, seed=0)):
        fig = plots.confusion_figure(ds)
        canvas = FigureCanvasAgg(fig)  # as save_figure draws it
        canvas.draw()
        renderer = canvas.get_renderer()
        ax_h, ax_c = fig.axes[:2]
        legend = ax_h.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["True", "Estimated"]
        box, whole = legend.get_window_extent(renderer), fig.bbox
        for ax in (ax_h, ax_c):
            assert not box.overlaps(ax.get_window_extent(renderer)), "the legend lies over the bars or the matrix"
        assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
        assert ax_h.get_window_extent(renderer).width > 0.25 * whole.width


def test_confusion_figure_plots_normalised_counts_and_histograms(ipd_grid):
    sel = {"readout": "fr", "tau": 0.002}
    fig = plots.confusion_figure(ipd_grid, sel=sel)
    ax_h, ax_c = fig.axes[:2]
    counts = ipd_grid.confusion.sel(sel).sum(("seed", "repeat")).values.astype(float)
    np.testing.assert_allclose(ax_c.images[0].get_array(), counts.T / counts.sum(axis=1)[None, :])
    np.testing.assert_allclose(ax_c.images[0].get_array().sum(axis=0), 1)
    assert (ax_c.get_xlabel(), ax_c.get_ylabel()) == ("True IPD (deg)", "Estimated IPD (deg)")
    assert ax_c.images[0].get_extent() == [-90, 90, -90, 90]
    bars = ax_h.patches
    assert len(bars) == 24
    np.testing.assert_allclose([b.get_height() for b in bars[:12]], counts.sum(axis=1))
    np.testing.assert_allclose([b.get_height() for b in bars[12:]], counts.sum(axis=0))
    np.testing.assert_allclose([b.get_x() + b.get_width() / 2 for b in bars[:12]], ipd_grid.class_ipd_deg.values)
    assert [t.get_text() for t in ax_h.get_legend().get_texts()] == ["True", "Estimated"]
    assert ax_h.get_xlabel() == "IPD (deg)"
    assert "accuracy" in fig.get_suptitle()


def test_confusion_histogram_of_a_file_without_class_midpoints_centres_each_bar_on_its_class(ipd_grid):
    """A file without ``class_ipd_deg`` (an older snnsim's): the 12 bars stand at the classes'
    midpoints -82.5, -67.5 ... 82.5 deg (15 deg wide), not at their left edges."""
    fig = plots.confusion_figure(ipd_grid.drop_vars("class_ipd_deg"), sel={"readout": "fr", "tau": 0.002})
    bars = fig.axes[0].patches
    np.testing.assert_allclose([b.get_x() + b.get_width() / 2 for b in bars[:12]], np.arange(-82.5, 90, 15))
    np.testing.assert_allclose([b.get_width() for b in bars[:12]], 15)


def test_confusion_figure_of_a_grid_over_n_classes_draws_each_points_classes():
    """A grid over ``n_classes = [6, 12]`` merges ``class_ipd_deg`` per point and pads the 6-class
    counts with NaN to 12: ``python -m snnsim.plots`` stopped with a matplotlib traceback
    ("only 0-dimensional arrays can be converted") at the first confusion figure."""
    from snnsim import runner
    from snnsim.config import RunConfig
    from snnsim.sweep.merge import stack

    tiny = dict(study="ipd", backend="fused", epochs=1, hidden=8, n_train_batches=1, n_test_batches=1, batch_size=8)
    runs = [runner.run(RunConfig(n_classes=n, **tiny), progress=False) for n in (6, 12)]
    ragged = ("true_class", "pred_class", "output_unit")  # as the merge indexes them
    pieces = [r.assign_coords({d: np.arange(r.sizes[d]) for d in ragged}) for r in runs]
    ds = stack(pieces, {"n_classes": (6, 12), "seed": (0,)})
    assert ds["class_ipd_deg"].dims == ("n_classes", "seed", "true_class")  # as the merge gives it
    for n, run in zip((6, 12), runs):
        fig = plots.confusion_figure(ds, sel={"n_classes": n})
        assert len(fig.axes[0].patches) == 2 * n  # true and estimated, one bar per class of the point
        bars = fig.axes[0].patches[:n]
        assert [round(b.get_x() + b.get_width() / 2, 6) for b in bars] == list(run["class_ipd_deg"].values.round(6))
        assert fig.axes[1].images[0].get_array().shape == (n, n)


def test_confusion_histogram_counts_in_whole_samples(ipd_ds):
    """A small test set (one sample per class, two of one): the histogram's y axis counts test
    samples, so its ticks are whole numbers (they were 0, 0.25, 0.5 ...)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ds = ipd_ds.isel(repeat=[0]).copy(deep=True)
    counts = np.eye(ds.sizes["true_class"], dtype=int)
    counts[3, 3] = 2
    ds["confusion"].values[0] = counts
    fig = plots.confusion_figure(ds)
    FigureCanvasAgg(fig).draw()
    ax_h = fig.axes[0]
    assert ax_h.get_ylabel() == "Test samples" and max(p.get_height() for p in ax_h.patches) == 2
    low, high = ax_h.get_ylim()
    ticks = [t for t in ax_h.get_yticks() if low <= t <= high]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_confusion_of_one_repeat(ipd_ds):
    fig = plots.confusion_figure(ipd_ds, repeat=1)
    counts = ipd_ds.confusion.isel(repeat=1).values.astype(float)
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), counts.T / counts.sum(axis=1))


def test_the_confusion_title_names_what_it_pools(ipd_grid, ipd_ds):
    """It said "pooled over repeats" of counts pooled over seeds too, and "one model" of one
    repeat of every seed; a dim of one value (one repeat per seed) is not pooled."""
    import xarray as xr

    sel = {"readout": "fr", "tau": 0.002}
    seeds = ipd_grid.sizes["seed"]
    two = xr.concat([ipd_grid, ipd_grid], "repeat").assign_coords(repeat=[0, 1])  # two repeats per seed
    title = plots.confusion_figure(two, sel=sel).get_suptitle().replace("\n", " ")
    assert f"({2 * seeds} models pooled over seed, repeat," in title
    title = plots.confusion_figure(two, sel=sel, repeat=0).get_suptitle().replace("\n", " ")
    assert f"({seeds} models pooled over seed," in title and "repeat" not in title
    assert "(one model," in plots.confusion_figure(ipd_ds, repeat=1).get_suptitle()
    title = plots.confusion_figure(ipd_grid.isel(repeat=[0]), sel=sel).get_suptitle().replace("\n", " ")
    assert f"({seeds} models pooled over seed," in title and "repeat" not in title  # as ipd_readouts


def test_the_confusion_title_gives_the_accuracy_of_the_counts_drawn(ipd_ds):
    """The title's accuracy is that of the test samples counted (correct / all), not the mean of
    the normalised matrix's diagonal (the balanced accuracy): a test set of 10 samples of one IPD,
    all right, and 1 of each of the 11 others, all wrong, is 10 / 21 = 47.6 % right."""
    ds = ipd_ds.isel(repeat=[0]).copy(deep=True)
    counts = np.zeros((ds.sizes["true_class"], ds.sizes["pred_class"]), dtype=int)
    counts[0, 0] = 10
    counts[np.arange(1, 12), 0] = 1
    ds["confusion"].values[0] = counts
    title = plots.confusion_figure(ds).get_suptitle().replace("\n", " ")
    assert "(one model, 21 samples, accuracy 47.6%)" in title, title


def test_input_raster_is_a_2x4_panel_of_the_given_spikes():
    ipd, spikes = plots.ipd.make_stimuli(8, seed=3)
    fig = plots.input_raster(ipd, spikes, dt=1e-3)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 8
    assert axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 4)
    for i, ax in enumerate(axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), spikes[i].T.astype(float))
        assert ax.get_title() == f"True IPD = {np.degrees(ipd[i]):.0f} deg"
    assert axes[0].get_ylabel() == "Input neuron index" and axes[4].get_ylabel() == "Input neuron index"
    assert axes[5].get_xlabel() == "Time (ms)" and axes[1].get_ylabel() == ""
    assert spikes.shape == (8, 100, 200)


def test_input_raster_draws_fresh_stimuli_with_the_runs_settings(ipd_ds):
    fig = plots.input_raster(ds=ipd_ds, n=4, seed=1)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4
    ipd, spikes = plots.ipd.make_stimuli(4, seed=1)
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), spikes[2].T.astype(float))


def test_input_raster_of_a_sweep_of_the_stimulus_is_refused(rng):
    """A merged experiment that sweeps a stimulus setting (dt) holds it as a dim, not as a
    ``config_`` attribute: the raster drew the default stimulus (dt 1 ms, 100 steps), which no
    job ran. Several values are refused; a sweep of one value is drawn with it."""
    from fake_results import ipd_merged

    from snnsim.plots.ipd import stimulus_of

    ds = ipd_merged(rng, taus=(0.02,)).isel(tau=0).expand_dims(dt=[0.0005, 0.0015])
    with pytest.raises(ValueError, match=r"sweeps the stimulus: dt \(dt = 0.5 ms, dt = 1.5 ms\)"):
        plots.input_raster(ds=ds)
    one = ds.isel(dt=[1])
    assert stimulus_of(one).dt == 0.0015 and stimulus_of(one).steps == 67
    fig = plots.input_raster(ds=one, n=2)
    assert fig.axes[0].images[0].get_array().shape == (200, 67)
    # a tuning's searched setting is a coordinate along trial
    trials = ds.isel(dt=0, drop=True).expand_dims(trial=[0, 1]).assign_coords(phase=("trial", ["per-dataset"] * 2))
    assert stimulus_of(trials).phase == "per-dataset"


def notebook_reorder(w1, w2):
    """The readout notebook's code, verbatim."""
    A = np.arange(w1.shape[0])[:, None]
    weighted_mean = np.mean((A * w1), axis=0)
    weighted_mean[np.max(np.abs(w1), axis=0) < 0.5] = np.inf
    I = np.argsort(weighted_mean)  # noqa: E741
    return w1[:, I], w2[I, :]


@pytest.fixture
def weights():
    rng = np.random.default_rng(5)
    w1 = rng.normal(0, 0.3, (200, 30))
    w1[:, ::3] *= 0.2  # some weak neurons (max |w| < 0.5) that go last
    return w1, rng.normal(0, 0.3, (30, 12))


def test_training_curves_shade_the_quartiles_of_the_seeds():
    """Five seeds of losses 0, 10, 20, 30, 40 (epoch 0) and 1, 2, 3, 4, 100 (epoch 1): the line is
    their median (20, 3), the band their 25th to 75th percentiles (10-30, 2-4), hand-computed;
    with ``q = (10, 90)`` 4-36 and 1.4-61.6."""
    loss = xr.DataArray([[0.0, 10, 20, 30, 40], [1, 2, 3, 4, 100]], dims=("epoch", "seed"))
    ds = xr.Dataset({"loss": loss}, coords={"epoch": [0, 1], "seed": np.arange(5)})
    for q, low, high in (((25, 75), [10, 2], [30, 4]), ((10, 90), [4, 1.4], [36, 61.6])):
        ax = plots.training_curves(ds, q=q).axes[0]
        np.testing.assert_allclose(ax.lines[0].get_ydata(), [20, 3])
        band = ax.collections[0].get_paths()[0].vertices
        for e in (0, 1):
            at = band[np.isclose(band[:, 0], e), 1]
            np.testing.assert_allclose([at.min(), at.max()], [low[e], high[e]])


def test_reorder_hidden_matches_the_notebook(weights):
    w1, w2 = weights
    a, b, order = plots.reorder_hidden(w1, w2)
    ref_a, ref_b = notebook_reorder(w1, w2)
    np.testing.assert_array_equal(a, ref_a)
    np.testing.assert_array_equal(b, ref_b)
    np.testing.assert_array_equal(a, w1[:, order])


def test_reorder_hidden_keeps_a_neuron_at_the_threshold_among_the_strong():
    """Weak means a largest |weight| below the threshold (the notebook's ``< 0.5``): neuron 2,
    whose largest is 0.5 exactly (weighted mean 2 * 0.5 / 3), goes before the weak neuron 1
    (0.4), after neuron 0 (weighted mean 0)."""
    w1 = np.array([[0.9, 0.0, 0.0], [0.0, 0.4, 0.0], [0.0, 0.0, 0.5]])
    _, _, order = plots.reorder_hidden(w1, np.eye(3))
    assert order.tolist() == [0, 2, 1]


def test_weight_matrices_from_arrays_and_from_a_dataset(weights, ipd_ds):
    w1, w2 = weights
    a, b = notebook_reorder(w1, w2)
    fig = plots.weight_matrices(w1, w2)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3
    for image, expected in zip(images, (a, b, a @ b)):
        np.testing.assert_allclose(image.get_array(), expected)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["$W_1$", "$W_2$", "$W_1W_2$"]
    assert fig.axes[0].get_ylabel() == "Input neuron index"
    ds = ipd_ds.assign(
        w1=(("repeat", "input_unit", "hidden_unit"), np.stack([w1 * 0, w1, w1 * 2])),
        w2=(("repeat", "hidden_unit", "output_unit"), np.stack([w2, w2, w2])),
    )
    fig = plots.weight_matrices(ds, repeat=1)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), a)


def test_weight_matrices_name_the_repeat_drawn_by_its_coordinate(weights, ipd_ds):
    """Of repeats 1 and 2 kept (``ds.isel(repeat=[1, 2])``), ``repeat=1`` draws repeat 2's weights,
    and the title names repeat 2, not the position 1."""
    w1, w2 = weights
    a, _ = notebook_reorder(w1 * 2, w2)
    ds = ipd_ds.assign(
        w1=(("repeat", "input_unit", "hidden_unit"), np.stack([w1 * 0, w1, w1 * 2])),
        w2=(("repeat", "hidden_unit", "output_unit"), np.stack([w2, w2, w2])),
    ).assign_coords(repeat=[0, 1, 2])
    fig = plots.weight_matrices(ds.isel(repeat=[1, 2]), repeat=1)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), a)
    assert fig._suptitle.get_text().endswith("Model: repeat 2")


@pytest.mark.parametrize("outputs", [1, 2, 12])
def test_weight_matrices_tick_only_whole_neuron_indices(weights, outputs):
    """Every axis of the three panels counts neurons: no tick at -0.5, 0.5 ... (a BMI decoder of
    one or two outputs gave its W2 and W1 W2 panels x ticks -0.5, 0.0, 0.5, 1.0, 1.5)."""
    w1, w2 = weights
    fig = plots.weight_matrices(w1, w2[:, :outputs])
    fig.canvas.draw()
    for ax in fig.axes[:6]:
        if not ax.images:  # a colour bar
            continue
        for axis, (low, high) in ((ax.xaxis, sorted(ax.get_xlim())), (ax.yaxis, sorted(ax.get_ylim()))):
            ticks = [t for t in axis.get_majorticklocs() if low <= t <= high]
            assert ticks and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)


def test_hidden_weight_profiles_show_strong_neurons_per_ear(weights):
    w1, w2 = weights
    a, _ = notebook_reorder(w1, w2)
    fig = plots.hidden_weight_profiles(w1, w2)
    strong = np.flatnonzero(np.abs(a).max(axis=0) > 0.5)[:15]
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == len(strong) == 15
    for ax, j in zip(axes, strong):
        np.testing.assert_allclose(ax.lines[0].get_ydata(), a[:100, j])
        np.testing.assert_allclose(ax.lines[1].get_ydata(), a[100:, j])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Ear 1", "Ear 2"]
    assert axes[-1].get_xlabel() == "Phase delay (deg)"
    # 12 panels in rows of 5: the three above the empty slots also get tick labels and the axis label
    fig = plots.hidden_weight_profiles(w1, w2, n=12)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    below = [i + 5 >= 12 for i in range(12)]
    assert [ax.get_xlabel() == "Phase delay (deg)" for ax in axes] == below
    assert [any(t.get_visible() and t.get_text() for t in ax.get_xticklabels()) for ax in axes] == below


@pytest.mark.parametrize("draw", [lambda w1, w2, n: plots.input_raster(n=n),
                                  lambda w1, w2, n: plots.input_raster(n=2, ncols=n),
                                  lambda w1, w2, n: plots.hidden_weight_profiles(w1, w2, n=n)])  # fmt: skip
def test_a_number_of_panels_below_one_is_refused_in_one_line(weights, draw):
    """``n=0`` went to matplotlib ("Number of rows must be a positive integer, not 0"), ``ncols=0``
    divided by zero, and ``n=-1`` drew every strong neuron but the last (a slice ``[:-1]``)."""
    from snnsim.plots.common import SelectionError

    for n in (0, -1):
        with pytest.raises(
            SelectionError, match=rf"^(n|ncols): {n} is not a number of [a-z ]+ to draw \(give 1 or more\)$"
        ):
            draw(*weights, n)


def test_hidden_weight_profiles_legend_covers_no_panel(weights):
    """The ears' legend sat inside the first panel, over its curves; it goes outside every panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    w1, w2 = weights
    fig = plots.hidden_weight_profiles(w1, w2)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert len(legends) == 1 and [t.get_text() for t in legends[0].get_texts()] == ["Ear 1", "Ear 2"]
    box = legends[0].get_window_extent(renderer)
    panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 15 and not any(box.overlaps(p) for p in panels), "the legend covers a panel"


@pytest.mark.parametrize("strong", [1, 2, 6])
def test_hidden_weight_profiles_legend_covers_no_title(strong):
    """With one strong neuron the figure was one panel (2.5 in) wide: its title wrapped into a
    narrow column under the ears' legend, which lay over it; the legend covers neither the title
    nor a panel whatever the number of panels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rng = np.random.default_rng(7)
    w1 = rng.normal(0, 0.1, (200, 8))
    w1[:, :strong] *= 8  # these neurons reach |w| >= 0.5, the others stay below
    fig = plots.hidden_weight_profiles(w1, rng.normal(0, 0.3, (8, 12)))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    assert len(panels) == strong
    box = fig.legends[0].get_window_extent(renderer)
    assert not box.overlaps(fig._suptitle.get_window_extent(renderer)), "the legend covers the title"
    assert not any(box.overlaps(p) for p in panels), "the legend covers a panel"


@pytest.mark.parametrize("n", [1, 2])
def test_hidden_weight_profiles_legend_covers_no_title_where_no_neuron_is_strong(n):
    """No neuron reaches the threshold and ``n`` of 1 or 2: the longer note ("none with |w| >= 0.5:
    largest |w| shown") wrapped the title to the figure's whole width, under the ears' legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rng = np.random.default_rng(7)
    fig = plots.hidden_weight_profiles(rng.normal(0, 0.1, (200, 8)), rng.normal(0, 0.3, (8, 12)), n=n)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    assert "largest |w| shown" in fig._suptitle.get_text()
    box = fig.legends[0].get_window_extent(renderer)
    assert not box.overlaps(fig._suptitle.get_window_extent(renderer)), "the legend covers the title"


def test_weights_missing_from_a_dataset_is_a_clear_error(ipd_ds):
    with pytest.raises(ValueError, match="no weights"):
        plots.weight_matrices(ipd_ds)


def test_weights_of_a_grid_point_that_was_not_run_are_refused(rng):
    """A merge with holes (--allow-missing) has NaN weights at a job that was not run: the weight
    figures of that point are refused (they were drawn empty), and ``first_trained`` names a
    point that was run (the analysis notebook draws that one)."""
    from fake_results import ipd_merged

    from snnsim.plots.common import first_trained

    ds = ipd_merged(rng)
    grid = list(ds.test_acc.dims)
    w1 = rng.normal(size=[ds.sizes[d] for d in grid] + [20, 6])
    w1[0, 0, 0] = np.nan  # readout mean, tau 20 ms, seed 0: not run
    ds["w1"] = (grid + ["input_unit", "hidden_unit"], w1)
    ds["w2"] = (grid + ["hidden_unit", "output_unit"], np.ones([ds.sizes[d] for d in grid] + [6, 12]))
    hole = {"readout": "mean", "tau": 0.02, "seed": 0}
    for figure in (plots.weight_matrices, plots.hidden_weight_profiles):
        with pytest.raises(ValueError, match="no trained weights at mean \\(oc\\), τ = 20 ms, seed = 0"):
            figure(ds, sel=hole)
    key = first_trained(ds["w1"])
    assert key == {"readout": "mean", "tau": 0.02, "seed": 1}
    fig = plots.weight_matrices(ds, sel=key)
    assert np.isfinite(fig.axes[0].images[0].get_array()).all()


def _model_space_grid(rng):
    """A merged model-space grid: tau_syn x recurrent x hidden x seed, val and test accuracy."""
    import xarray as xr

    shape = (2, 2, 2, 3)
    val = rng.uniform(60, 90, shape)
    dims = ("tau_syn", "recurrent", "hidden", "seed")
    ds = xr.Dataset(
        {"val_acc": (dims, val, {"units": "%"}), "test_acc": (dims, val - 1, {"units": "%"}),
         "confusion": (dims + ("true_class", "pred_class"), np.ones(shape + (2, 2)))},
        coords={"tau_syn": [0.0, 0.005], "recurrent": [False, True], "hidden": [30, 100], "seed": [0, 1, 2]},
    )  # fmt: skip
    return ds


def test_model_space_figure_rows_sorted_by_validation(rng):
    ds = _model_space_grid(rng)
    fig = plots.model_space_figure(ds)
    ax = fig.axes[0]
    rows = fig.snnsim_rows
    assert len(rows) == 8 and ax.get_xlabel() == "Accuracy (%)"
    medians = [np.median(val) for _, val, _ in rows]
    assert medians == sorted(medians, reverse=True)  # best validation score on top
    label, val, test = rows[0]
    key = {"tau_syn": 0.005 if "syn 5 ms" in label else 0.0, "recurrent": "rec" in label.split(", "),
           "hidden": 100 if "100 hidden" in label else 30}  # fmt: skip
    np.testing.assert_array_equal(val, ds["val_acc"].sel(key).values)
    np.testing.assert_array_equal(test, ds["test_acc"].sel(key).values)
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == label  # top row
    # every seed a dot in its split's colour, validation above test (as in the legend)
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    val_dots, test_dots = dots[0], dots[1]  # the top row is drawn first
    np.testing.assert_array_equal(val_dots.get_xdata(), val)
    np.testing.assert_array_equal(test_dots.get_xdata(), test)
    assert val_dots.get_ydata()[0] > test_dots.get_ydata()[0]
    assert val_dots.get_color() == plots.ipd.SPLIT_COLOURS["val"] != test_dots.get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Validation", "Test"]
    assert plots.ipd.model_space_label({"tau_syn": 0.0, "tau_adapt": 0.05, "delays": "learned"}) == (
        "no syn, adapt 50 ms, delays learned"
    )


def test_weights_of_a_network_of_several_hidden_layers_are_refused_by_name():
    rng = np.random.default_rng(0)
    w1 = (("input_unit", "hidden_unit"), rng.normal(size=(4, 3)))
    one = xr.Dataset({"w1": w1, "w2": (("hidden_unit", "output_unit"), rng.normal(size=(3, 2)))})
    assert [w.shape for w in weights_of(one)] == [(4, 3), (3, 2)]
    two = xr.Dataset({"w1": w1, "w_hidden1": (("hidden_unit", "hidden_unit_1"), rng.normal(size=(3, 3))),
                      "w2": (("hidden_unit_1", "output_unit"), rng.normal(size=(3, 2)))})  # fmt: skip
    with pytest.raises(ValueError, match="^the figure draws one hidden layer's weights; this network has several$"):
        weights_of(two)


def _with_recurrent(rng):
    """``ipd_merged`` swept over ``recurrent`` too: the recurrent networks score 30 points lower."""
    from fake_results import ipd_merged

    ff = ipd_merged(rng)
    rec = ipd_merged(rng)
    for name in ("train_acc", "test_acc"):
        rec[name] = rec[name] - 30
    return xr.concat([ff, rec], "recurrent").assign_coords(recurrent=[False, True])


def test_boxplots_never_pool_a_swept_setting_off_their_axis(rng):
    """``recurrent`` is swept but not a readout x tau axis: each box holds one configuration's seeds."""
    ds = _with_recurrent(rng)
    fig = plots.accuracy_boxplot(ds)
    ax = fig.axes[0]
    assert len(by_gid(ax, "box:")) == 2 * 12
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:2] == ["mean (oc)\nτ = 20 ms\nrecurrent = False", "mean (oc)\nτ = 20 ms\nrecurrent = True"]
    assert ax.get_xlabel() == "Readout, membrane time constant, recurrent"
    keys = plots.metric_samples(ds, "acc")
    assert len(keys) == 12
    for key, values in keys.items():
        expected = ds["test_acc"].sel(dict(key)).values.ravel()
        np.testing.assert_array_equal(np.sort(values["test"]), np.sort(expected))
        assert values["test"].size == ds.sizes["seed"]
    medians = by_gid(ax, "median:test:")
    for med, key in zip(medians, keys):
        np.testing.assert_allclose(med.get_ydata(), np.median(ds["test_acc"].sel(dict(key)).values))


def test_model_space_rows_keep_other_swept_settings_apart(rng):
    ds = _model_space_grid(rng)
    ds = xr.concat([ds, ds - 20], "readout").assign_coords(readout=["mean", "max"])
    fig = plots.model_space_figure(ds)
    rows = fig.snnsim_rows
    assert len(rows) == 16 and all(r[1].size == ds.sizes["seed"] for r in rows)
    assert sum("max" in label.split(", ") for label, _, _ in rows) == 8


def test_training_curves_split_or_refuse_a_pooled_setting(rng):
    ds = _with_recurrent(rng)
    fig = plots.training_curves(ds)
    assert len(fig.axes[0].lines) == 12
    assert {tuple(k) for k in fig.snnsim_groups} == {("readout", "tau", "recurrent")}
    with pytest.raises(ValueError, match="would pool different settings \\(recurrent: False, True\\)"):
        plots.training_curves(ds, by=("readout", "tau"))


def drawn_extent(fig, text):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return text.get_window_extent(fig.canvas.get_renderer())


def test_boxplot_footnote_sits_below_the_axes_and_counts_in_the_singular(rng):
    from fake_results import ipd_run

    fig = plots.accuracy_boxplot(ipd_run(rng, repeats=1))
    ax = fig.axes[0]
    note = fig._supxlabel
    assert note.get_text().endswith("up to 1 training per box")
    box = drawn_extent(fig, note)
    assert box.y1 <= ax.xaxis.label.get_window_extent().y0  # under the x label, not on it
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1
    assert not fig.axes[0].texts
    assert fig.axes[0].get_legend().get_texts()[0].get_fontsize() == 8  # the library's style


def test_model_space_of_one_seed_says_seed(rng):
    ds = _model_space_grid(rng).isel(seed=[0])
    title = plots.model_space_figure(ds).axes[0].get_title()
    assert title.endswith("per setting, 1 seed")


def test_confusion_figures_of_taus_alike_in_six_digits_keep_both(rng):
    from fake_results import ipd_merged

    from snnsim.plots.__main__ import figures_for

    names = [n for n in figures_for(ipd_merged(rng, ("mean",), (0.02, 0.0200000001))) if n.startswith("confusion")]
    assert names == ["confusion_mean_20ms", "confusion_mean_20.0000001ms"]


def test_confusion_figures_one_per_grid_point_of_every_varying_setting(rng):
    from snnsim.plots.__main__ import figures_for

    ds = _with_recurrent(rng)
    names = [n for n in figures_for(ds) if n.startswith("confusion")]
    assert len(names) == 12 and "confusion_fr_2ms_recurrent-True" in names
    fig = figures_for(ds)["confusion_fr_2ms_recurrent-True"]()
    counts = ds.confusion.sel(readout="fr", tau=0.002, recurrent=True).sum(("seed", "repeat")).values
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), counts.T / counts.sum(axis=1)[None, :])
    with pytest.raises(ValueError, match="recurrent"):
        plots.confusion_figure(ds, sel={"readout": "fr", "tau": 0.002})


def test_confusion_figures_of_a_swept_duration_are_named_in_ms(rng):
    """A grid over tau_syn (0 and 5 ms, as ipd_model_space) named its confusion figures
    ``confusion_..._tau_syn-0.005`` (seconds), though the figure's title and the tau part of
    the name read ms (``2ms``, "tau_syn = 5 ms"); every duration is named in ms."""
    from fake_results import ipd_merged

    from snnsim.plots.__main__ import figures_for

    ds = ipd_merged(rng, readouts=("fr",), taus=(0.002,))
    ds = xr.concat([ds, ds], dim="tau_syn").assign_coords(tau_syn=[0.0, 0.005])
    names = [n for n in figures_for(ds) if n.startswith("confusion")]
    assert names == ["confusion_fr_2ms_tau_syn-0ms", "confusion_fr_2ms_tau_syn-5ms"]
    assert "tau_syn = 5 ms" in figures_for(ds)[names[1]]()._suptitle.get_text()


def test_confusion_figures_of_a_swept_stimulus_duration_are_named_in_ms(rng):
    """A grid over the stimulus ``duration`` (or ``max_delay``) named its confusion figures
    ``confusion_..._duration-0.05`` and titled them "duration = 0.05", seconds without a unit,
    where tau, dt and tau_syn read ms; every duration setting is named and titled in ms."""
    from fake_results import ipd_merged

    from snnsim.plots.__main__ import figures_for

    ds = ipd_merged(rng, readouts=("fr",), taus=(0.002,))
    for name in ("duration", "max_delay"):
        grid = xr.concat([ds, ds], dim=name).assign_coords({name: [0.05, 0.1]})
        names = [n for n in figures_for(grid) if n.startswith("confusion")]
        assert names == [f"confusion_fr_2ms_{name}-50ms", f"confusion_fr_2ms_{name}-100ms"]
        assert f"{name} = 50 ms" in figures_for(grid)[names[0]]()._suptitle.get_text()


def test_confusion_figures_of_a_swept_number_are_named_as_titled(rng):
    """A grid over ``tone_hz`` (a float setting) named its confusion figures
    ``confusion_..._tone_hz-20.0`` where their titles read "tone_hz = 20": the file name is
    written as the title writes the value (6 digits; all digits where two would be alike)."""
    from fake_results import ipd_merged

    from snnsim.plots.__main__ import figures_for

    ds = ipd_merged(rng, readouts=("fr",), taus=(0.002,))
    grid = xr.concat([ds, ds], dim="tone_hz").assign_coords(tone_hz=[20.0, 50.5])
    names = [n for n in figures_for(grid) if n.startswith("confusion")]
    assert names == ["confusion_fr_2ms_tone_hz-20", "confusion_fr_2ms_tone_hz-50.5"]
    assert "tone_hz = 20 " in figures_for(grid)[names[0]]()._suptitle.get_text() + " "
    alike = xr.concat([ds, ds], dim="lr").assign_coords(lr=[0.01, 0.0100000001])
    names = [n for n in figures_for(alike) if n.startswith("confusion")]
    assert names == ["confusion_fr_2ms_lr-0.01", "confusion_fr_2ms_lr-0.0100000001"]


def test_a_swept_neuron_is_a_setting_not_pooled(rng):
    """A grid over ``neuron = ["notebook", "standard"]``: ``neuron`` is also the name of a BMI
    per-sample dim (recorded neurons), so the figures took the swept setting for one: each
    confusion matrix pooled both neurons' models ("pooled over neuron") under a name without
    them, and the training curves were skipped ("'y1' is not 1-dimensional")."""
    from fake_results import ipd_merged

    from snnsim.plots.__main__ import figures_for

    ds = ipd_merged(rng, readouts=("fr",), taus=(0.002,))
    ds = xr.concat([ds, ds], dim="neuron").assign_coords(neuron=np.array(["notebook", "standard"], dtype=object))
    figures = figures_for(ds)
    names = [n for n in figures if n.startswith("confusion")]
    assert names == ["confusion_fr_2ms_neuron-notebook", "confusion_fr_2ms_neuron-standard"]
    assert "pooled over neuron" not in figures[names[0]]()._suptitle.get_text()
    assert [t.get_text() for t in plots.accuracy_boxplot(ds).axes[0].get_xticklabels()] == [
        "fr\nτ = 2 ms\nneuron = notebook",
        "fr\nτ = 2 ms\nneuron = standard",
    ]
    assert len(figures["training_curves"]().axes[0].lines) == 2  # one median per neuron


def test_a_swept_setting_whose_values_do_not_name_it_is_labelled_with_its_name(rng):
    """A grid over ``eval = ["readout", "sum"]`` and ``delays = ["none", "learned"]`` (as
    ipd_model_space sweeps delays): the boxes and curves were labelled with the bare values, "fr
    τ = 2 ms readout none", where "readout" reads as the readout and "none" names nothing."""
    from fake_results import ipd_merged

    ds = ipd_merged(rng, readouts=("fr",), taus=(0.002,))
    ds = xr.concat([ds, ds], dim="eval").assign_coords(eval=np.array(["readout", "sum"], dtype=object))
    ds = xr.concat([ds, ds], dim="delays").assign_coords(delays=np.array(["none", "learned"], dtype=object))
    labels = [t.get_text() for t in plots.accuracy_boxplot(ds).axes[0].get_xticklabels()]
    assert labels[:2] == ["fr\nτ = 2 ms\ndelays = none\neval = readout", "fr\nτ = 2 ms\ndelays = none\neval = sum"]
    curves = plots.training_curves(ds.sel(eval="sum"))
    assert [t.get_text() for t in curves.axes[0].get_legend().get_texts()] == [
        "fr, τ = 2 ms, delays = none",
        "fr, τ = 2 ms, delays = learned",
    ]


def test_model_space_without_validation_says_its_rows_are_sorted_by_test(rng):
    """Runs without validation data (``n_val_batches = 0``) have test scores only: the rows
    are sorted by them, but the axis said "best validation on top"."""
    fig = plots.model_space_figure(_model_space_grid(rng).drop_vars("val_acc"))
    medians = [np.median(test) for _, _, test in fig.snnsim_rows]
    assert medians == sorted(medians, reverse=True)
    assert fig.axes[0].get_ylabel() == "Setting (best test on top)"
    assert plots.model_space_figure(_model_space_grid(rng)).axes[0].get_ylabel() == "Setting (best validation on top)"


def test_a_true_ipd_without_test_samples_is_hatched(ipd_ds):
    """A true class with no test sample is a NaN column of the confusion matrix, drawn white
    without a word; it is hatched and the title says so."""
    ds = ipd_ds.copy(deep=True)
    ds["confusion"].loc[dict(true_class=[2, 7])] = 0
    ax_c = plots.confusion_figure(ds).axes[1]
    assert np.ma.getmaskarray(ax_c.images[0].get_array())[:, [2, 7]].all()  # NaN: masked, drawn white
    width = 180 / ds.sizes["true_class"]
    hatched = [p for p in ax_c.patches if p.get_gid() == "no-samples"]
    assert [(p.get_x(), p.get_width(), p.get_y(), p.get_height()) for p in hatched] == [
        (pytest.approx(-90 + j * width), pytest.approx(width), -90, 180) for j in (2, 7)
    ]
    assert all(p.get_hatch() == "//" and not p.get_fill() for p in hatched)
    assert ax_c.get_title() == "Confusion matrix\n(hatched: 2 true IPDs without test samples)"
    ax_c = plots.confusion_figure(ipd_ds).axes[1]  # every class sampled: nothing hatched, no note
    assert not [p for p in ax_c.patches if p.get_gid() == "no-samples"] and ax_c.get_title() == "Confusion matrix"


def test_a_sel_of_a_setting_or_value_not_in_the_dataset_names_what_there_is(ipd_grid, ipd_ds):
    """``confusion_figure(ds, sel={"neuron": ...})`` on a merge that does not sweep it (or a value
    it does not hold) ended on xarray's KeyError; it is one line naming the dims there are."""
    from snnsim.errors import SnnsimError

    with pytest.raises(SnnsimError, match=r"sel: no setting .neuron. in the dataset; select among its dims: ") as info:
        plots.confusion_figure(ipd_grid, sel={"neuron": "standard"})
    named = str(info.value).split(": ")[-1].split(", ")
    assert "\n" not in str(info.value) and {"readout", "tau", "seed"} <= set(named)
    with pytest.raises(SnnsimError, match=r"sel: readout = 'last' is not in the dataset \(readout: 'mean', 'max', "):
        plots.confusion_figure(ipd_grid, sel={"readout": "last"})
    with pytest.raises(SnnsimError, match=r"sel: readout = 'max': every run here has readout = 'fr'"):
        plots.confusion_figure(ipd_ds, sel={"readout": "max"})  # a single run: its own setting
    fig = plots.confusion_figure(ipd_ds, sel={"readout": "fr"})  # which it is: the run itself
    counts = ipd_ds.confusion.sum("repeat").values.astype(float)
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), counts.T / counts.sum(axis=1))
    with pytest.raises(SnnsimError, match=r"sel: no setting 'neuron'"):
        plots.weight_matrices(ipd_ds.assign(w1=(("repeat", "input_unit", "hidden_unit"), np.ones((3, 4, 2))),
                                            w2=(("repeat", "hidden_unit", "output_unit"), np.ones((3, 2, 12)))),
                              sel={"neuron": "standard"})  # fmt: skip


def test_a_misspelled_by_is_refused_with_a_hint(ipd_grid, ipd_ds):
    """``accuracy_boxplot(ds, by=("tua",))`` drew the readout x tau boxes as if ``by`` were not
    given (``training_curves`` pooled every setting and said "would pool"): a name that is no
    setting, dim or coordinate is refused in one line with the names it may mean."""
    from snnsim.errors import SnnsimError

    for draw in (plots.accuracy_boxplot, plots.error_boxplot, plots.training_curves, plots.cost_figure):
        with pytest.raises(SnnsimError, match=r"^by: no setting 'tua' in the dataset; did you mean tau\?"):
            draw(ipd_grid, by=("tua",))
    with pytest.raises(SnnsimError, match=r"^by: no setting 'redout' .*did you mean readout\b"):
        plots.accuracy_boxplot(ipd_ds, by=("redout", "tau"))
    # a setting every run shares (not swept) is a box of its own, as before
    fig = plots.accuracy_boxplot(ipd_grid, by=("readout", "neuron"))
    assert len(fig.snnsim_boxes) == 2 * 6


def test_a_legend_of_long_labels_stays_inside_the_figure(ipd_grid):
    """A grid over two settings labelled with their names (``neuron``, ``delays``) gave the
    training curves labels of some 50 characters, in a column 2.2 inches wide: the legend ran off
    the figure (the labels cut, a second column not drawn). The figure is widened to its legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    grid = ipd_grid.expand_dims(neuron=["notebook", "standard"], delays=["none", "learned"])
    for fig in (plots.training_curves(grid), plots.cost_figure(grid)):
        canvas = FigureCanvasAgg(fig)  # as save_figure draws it
        canvas.draw()
        renderer = canvas.get_renderer()
        legend = fig.axes[0].get_legend()
        assert len(legend.get_texts()) == 24 and max(len(t.get_text()) for t in legend.get_texts()) > 45
        box, axes, whole = legend.get_window_extent(renderer), fig.axes[0].get_window_extent(renderer), fig.bbox
        assert not box.overlaps(axes)
        assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
        assert axes.width > 0.3 * whole.width


def test_box_labels_of_long_setting_names_do_not_run_into_each_other(ipd_grid):
    """A box pair had 1.1 inches of the axis whatever its label: lines such as "envelope_power =
    3.5" and "rate_max_hz = 1200" of neighbouring boxes ran into each other, unreadable."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    grid = ipd_grid.expand_dims(envelope_power=[2.0, 3.5], rate_max_hz=[600.0, 1200.0])
    fig = plots.accuracy_boxplot(grid)
    canvas = FigureCanvasAgg(fig)  # as save_figure draws it
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels()]
    assert len(boxes) == 24 and "envelope_power = 3.5" in fig.axes[0].get_xticklabels()[-1].get_text()
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), "neighbouring box labels overlap"
    assert fig.bbox.x0 <= boxes[0].x0 and boxes[-1].x1 <= fig.bbox.x1


def test_a_by_of_one_name_as_text_is_that_setting(ipd_grid):
    """``by="readout"`` was read letter by letter (``"r"``, ``"e"`` ...), none a setting: the
    training curves and cost figure pooled every readout and refused ("would pool different
    settings"), the boxplots drew as if ``by`` were not given. It is the setting ``readout``."""
    grid = ipd_grid.isel(tau=[0])
    assert plots.training_curves(grid, by="readout").snnsim_groups == [{"readout": r} for r in ("mean", "max", "fr")]
    assert [p["key"] for p in plots.cost_figure(grid, by="readout").snnsim_points] == [
        {"readout": r} for r in ("mean", "max", "fr")
    ]
    fig = plots.accuracy_boxplot(grid, by="readout")
    assert fig.axes[0].get_xlabel() == "Readout" and len(fig.snnsim_boxes) == 6


def test_a_figure_of_a_dataset_without_its_variables_is_one_line(ipd_grid, bmi_ds):
    """The IPD figure functions given a BMI result, or a metric the dataset has not, ended on
    xarray's KeyError ("No variable named 'test_acc'") or an IndexError ("list index out of
    range", the model-space figure of ``metric="fvaf"``)."""
    from snnsim.errors import SnnsimError

    space = ipd_grid.expand_dims(recurrent=[False, True])
    cases = [
        (lambda: plots.metric_boxplot(ipd_grid, "accuracy"), r"no variables train_accuracy, test_accuracy"),
        (lambda: plots.accuracy_boxplot(bmi_ds), r"no variables train_acc, test_acc .*not an IPD result"),
        (lambda: plots.error_boxplot(bmi_ds), r"no variables train_err_deg, test_err_deg"),
        (lambda: plots.confusion_figure(bmi_ds), r"no variable confusion .*not an IPD result"),
        (lambda: plots.model_space_figure(space, "fvaf"), r"no variables val_fvaf, test_fvaf"),
    ]
    for draw, message in cases:
        with pytest.raises(SnnsimError, match=message) as info:
            draw()
        assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_a_repeat_out_of_range_is_one_line(ipd_ds):
    """``confusion_figure(run, repeat=3)`` of a run of 3 repeats (and the weight figures') ended on
    numpy's IndexError ("index 3 is out of bounds for axis 0 with size 3")."""
    from snnsim.errors import SnnsimError

    ds = ipd_ds.assign(w1=(("repeat", "input_unit", "hidden_unit"), np.ones((3, 4, 2))),
                       w2=(("repeat", "hidden_unit", "output_unit"), np.ones((3, 2, 12))))  # fmt: skip
    for draw in (plots.confusion_figure, plots.weight_matrices, plots.hidden_weight_profiles):
        with pytest.raises(SnnsimError, match=r"^repeat: 3 is not a repeat here: the dataset has 3 \(0-2\)$"):
            draw(ds, repeat=3)
    assert "(one model," in plots.confusion_figure(ds, repeat=-1).get_suptitle()  # the last, as numpy's


def test_input_raster_of_a_bmi_result_is_refused(bmi_ds):
    """``input_raster(ds=BMI)`` drew 8 IPD stimuli of the default settings as if they were the
    BMI run's input; a BMI result has no IPD stimuli."""
    from snnsim.errors import SnnsimError

    with pytest.raises(SnnsimError, match=r"^input_raster: a BMI result has no IPD stimuli"):
        plots.input_raster(ds=bmi_ds)


def test_weights_of_a_grid_over_depths_without_sel_ask_for_one_model():
    """``weight_matrices(ds)`` of a merge of ``hidden = [8, "8,8"]`` said "this network has several"
    hidden layers, though the grid holds a one-layer network too: it asks for one model first."""
    rng = np.random.default_rng(0)
    one = xr.Dataset({"w1": (("input_unit", "hidden_unit"), rng.normal(size=(4, 3))),
                      "w2": (("hidden_unit", "output_unit"), rng.normal(size=(3, 2)))})  # fmt: skip
    two = one.assign(w_hidden1=(("hidden_unit", "hidden_unit_1"), rng.normal(size=(3, 3))),
                     w2=(("hidden_unit_1", "output_unit"), rng.normal(size=(3, 2))))  # fmt: skip
    one = one.assign(w_hidden1=(("hidden_unit", "hidden_unit_1"), np.full((3, 3), np.nan)))
    one["w2"] = one["w2"].expand_dims(hidden_unit_1=3, axis=-1)  # as the merge repeats it (docs/sweeps.md)
    two["w2"] = two["w2"].expand_dims(hidden_unit=3)
    grid = xr.concat([one, two], "hidden").assign_coords(hidden=["3", "3,3"])
    with pytest.raises(ValueError, match=r"^select one model first \(sel=\.\.\.\): dims \['hidden'\] left$"):
        weights_of(grid)
    assert [w.shape for w in weights_of(grid, sel={"hidden": "3"})] == [(4, 3), (3, 2)]
    with pytest.raises(ValueError, match="this network has several$"):
        weights_of(grid, sel={"hidden": "3,3"})


def test_a_group_with_training_values_only_keeps_its_training_box(ipd_grid):
    """A grid point whose test values are all NaN but whose training values exist is still a group:
    its training box is drawn, its test box left out."""
    ds = ipd_grid.copy(deep=True)
    ds["test_acc"].loc[dict(readout="max", tau=0.002)] = np.nan
    groups = plots.metric_samples(ds, "acc")
    key = (("readout", "max"), ("tau", 0.002))
    assert key in groups and groups[key]["test"].size == 0
    np.testing.assert_array_equal(groups[key]["train"], ds["train_acc"].sel(readout="max", tau=0.002).values.ravel())
    ax = plots.accuracy_boxplot(ds).axes[0]
    assert len(by_gid(ax, "box:train:")) == 6 and len(by_gid(ax, "box:test:")) == 5


def test_boxplot_footnote_counts_the_fullest_box(ipd_grid):
    """'up to N trainings per box': N is the most values in a box (3 seeds), not the fewest (a
    grid point with a seed missing has 2)."""
    ds = ipd_grid.copy(deep=True)
    ds["test_acc"].loc[dict(readout="fr", tau=0.02, seed=1)] = np.nan
    note = plots.accuracy_boxplot(ds)._supxlabel.get_text()
    assert note.endswith(f"up to {ds.sizes['seed']} trainings per box")


def test_training_curves_keep_a_group_that_stopped_early(ipd_grid):
    """A group whose every seed stopped early (NaN after epoch 2) is drawn, to its last epoch."""
    ds = ipd_grid.copy(deep=True)
    ds["loss"].loc[dict(readout="max", tau=0.02, epoch=[3, 4])] = np.nan
    fig = plots.training_curves(ds)
    assert len(fig.axes[0].lines) == 6
    line = fig.axes[0].lines[[dict(k) for k in fig.snnsim_groups].index({"readout": "max", "tau": 0.02})]
    expected = np.median(ds["loss"].sel(readout="max", tau=0.02).transpose(..., "epoch").values.reshape(-1, 4), axis=0)
    np.testing.assert_allclose(line.get_ydata(), expected)  # NaN at epochs 3 and 4


def test_training_curves_title_counts_the_fullest_group(ipd_grid):
    """'n ≤ 3': the most seeds of any group, not of the group drawn last (fr, 2 ms: 2 seeds here)."""
    ds = ipd_grid.copy(deep=True)
    ds["loss"].loc[dict(readout="fr", tau=0.002, seed=0)] = np.nan
    assert "(n ≤ 3)" in plots.training_curves(ds).axes[0].get_title()


def test_hidden_weight_profiles_put_each_fibre_at_its_phase_delay(weights):
    """Fibre i of either ear has phase delay linspace(0, pi/2, fibres per ear)[i] (the encoder's), in deg."""
    w1, w2 = weights
    half = w1.shape[0] // 2
    fig = plots.hidden_weight_profiles(w1, w2, n=2)
    for line in fig.axes[0].lines:
        np.testing.assert_allclose(line.get_xdata(), np.degrees(np.linspace(0, np.pi / 2, half)))


def test_input_raster_time_axis_spans_the_stimulus_in_ms():
    ipd, spikes = plots.ipd.make_stimuli(2, seed=0)
    ax = plots.input_raster(ipd, spikes, dt=2e-3).axes[0]
    steps, inputs = spikes.shape[1:]
    np.testing.assert_allclose(ax.images[0].get_extent(), (0, steps * 2.0, -0.5, inputs - 0.5))
    assert ax.get_xlabel() == "Time (ms)"


def test_confusion_figure_of_a_grid_over_n_classes_with_a_hole_draws_the_points_classes(rng):
    """A grid over ``n_classes = [6, 12]`` x 2 seeds whose (6 classes, seed 1) job is missing from
    the merge (its ``class_ipd_deg`` all NaN): the 6-class figure still draws 6 bars at the 6
    classes' midpoints, from the seed that ran."""
    conf = np.full((2, 2, 1, 12, 12), np.nan)
    mids = np.full((2, 2, 12), np.nan)
    for i, n in enumerate((6, 12)):
        for seed in (0, 1):
            c = rng.integers(0, 5, (n, n)).astype(float)
            c[np.arange(n), np.arange(n)] += 20
            conf[i, seed, 0, :n, :n] = c
            mids[i, seed, :n] = -90 + 180 / n * (np.arange(n) + 0.5)
    conf[0, 1], mids[0, 1] = np.nan, np.nan  # the missing job
    ds = xr.Dataset(
        {"confusion": (("n_classes", "seed", "repeat", "true_class", "pred_class"), conf)},
        coords={"n_classes": [6, 12], "seed": [0, 1], "repeat": [0], "true_class": np.arange(12),
                "pred_class": np.arange(12), "class_ipd_deg": (("n_classes", "seed", "true_class"), mids)},
        attrs={"study": "ipd"},
    )  # fmt: skip
    fig = plots.confusion_figure(ds, sel={"n_classes": 6})
    bars = fig.axes[0].patches
    assert len(bars) == 12  # true and estimated, one bar per class of the point
    np.testing.assert_allclose([b.get_x() + b.get_width() / 2 for b in bars[:6]], -90 + 30 * (np.arange(6) + 0.5))
    np.testing.assert_allclose([b.get_height() for b in bars[:6]], conf[0, 0, 0, :6, :6].sum(1))


def test_input_raster_labels_the_time_axis_of_every_panel_without_one_below():
    """6 stimuli in rows of 4: the last row's panels and the two above its empty slots get "Time (ms)"."""
    ipd, spikes = plots.ipd.make_stimuli(6, seed=0)
    axes = [ax for ax in plots.input_raster(ipd, spikes, dt=1e-3).axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in axes] == ["", "", "Time (ms)", "Time (ms)", "Time (ms)", "Time (ms)"]


def test_boxplots_split_a_setting_that_varies_at_some_points_only(ipd_grid):
    """A union of grids: tau swept for readouts mean and fr but run at one value for max. Boxes by
    readout still keep fr's two taus apart (tau varies there), not one box of both."""
    ds = ipd_grid.copy(deep=True)
    for name in ("train_acc", "test_acc"):
        ds[name].loc[dict(readout="max", tau=0.002)] = np.nan
    groups = plots.metric_samples(ds, "acc", by="readout")
    assert [dict(k) for k in groups] == [
        {"readout": r, "tau": t}
        for r, t in (("mean", 0.02), ("mean", 0.002), ("max", 0.02), ("fr", 0.02), ("fr", 0.002))
    ]
    assert all(v["test"].size == ds.sizes["seed"] for v in groups.values())


def test_save_figure_drops_a_format_suffix_and_writes_each_format_once(tmp_path):
    """``fig.png`` is the stem ``fig`` (not ``fig.png.png``); a format listed twice is one file; the
    folders are made; the source is in the PNG's metadata."""
    from PIL import Image

    fig = plots.input_raster(*plots.ipd.make_stimuli(1, seed=0))
    paths = plots.save_figure(fig, tmp_path / "new" / "fig.png", ("png", "svg", "png"), dpi=20, source="from x.h5")
    assert paths == [tmp_path / "new" / "fig.png", tmp_path / "new" / "fig.svg"]
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["fig.png", "fig.svg"]
    with Image.open(paths[0]) as image:
        assert image.info["Source"] == "from x.h5"
    assert "from x.h5" in paths[1].read_text()


def test_weight_colours_are_centred_on_0_and_hold_the_most_negative_weight():
    """Each panel's colour scale runs from -max|w| to max|w|: a weight of -3 beside positive ones
    below 1 is not clipped to the colour of -1."""
    w1 = np.full((4, 3), 0.5)
    w1[1, 2] = -3.0
    w2 = np.array([[0.2], [-0.1], [0.4]])
    fig = plots.weight_matrices(w1, w2, threshold=None)
    for ax, m in zip(fig.axes[:3], (w1, w2, w1 @ w2)):
        lim = np.abs(m).max()
        assert ax.images[0].norm.vmin == pytest.approx(-lim) and ax.images[0].norm.vmax == pytest.approx(lim)


def test_model_space_of_seeds_and_repeats_counts_trainings_not_seeds(rng):
    """3 seeds x 2 repeats per setting are 6 trained models, not '6 seeds'."""
    ds = _model_space_grid(rng)
    ds = xr.concat([ds, ds + 1], "repeat").assign_coords(repeat=[0, 1])
    fig = plots.model_space_figure(ds)
    assert all(r[1].size == 6 for r in fig.snnsim_rows)
    assert fig.axes[0].get_title().endswith("per setting, 6 trainings")


def test_no_confusion_figure_for_a_grid_point_missing_from_the_merge(ipd_grid):
    """A grid point whose jobs are all missing (confusion NaN) gets no confusion figure (it would
    be an empty matrix titled '0 samples'); the others each get theirs."""
    from snnsim.plots.__main__ import figures_for

    ds = ipd_grid.copy(deep=True)
    ds["confusion"] = ds["confusion"].astype(float)
    ds["confusion"].loc[dict(readout="fr", tau=0.002)] = np.nan
    names = [n for n in figures_for(ds) if n.startswith("confusion")]
    assert names == [f"confusion_{r}_{t}ms" for r in ("mean", "max", "fr") for t in (20, 2)][:-1]


def test_boxes_of_a_grid_over_readout_at_one_tau_name_that_tau(rng):
    """A merge over readout whose tau is fixed (``config_tau``): each box is labelled with both."""
    from fake_results import ipd_merged

    ds = ipd_merged(rng, readouts=("mean", "fr"), taus=(0.002,)).isel(tau=0, drop=True)
    ds.attrs["config_tau"] = 0.002
    ax = plots.accuracy_boxplot(ds).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["mean (oc)\nτ = 2 ms", "fr\nτ = 2 ms"]
    assert ax.get_xlabel() == "Readout, membrane time constant"
