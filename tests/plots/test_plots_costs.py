"""Accuracy / FVAF against synaptic operations: labels, one marker per grid point, and each
marker at the median of the merged data over its samples, its error bars at their quartiles."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from fake_results import bmi_merged, ipd_merged

from snnsim import plots, results
from snnsim.plots import __main__ as plot


def markers(ax):
    """The marker line of each grid point, in order (gid ``point:i``)."""
    lines = [line for line in ax.lines if (line.get_gid() or "").startswith("point:")]
    return sorted(lines, key=lambda line: int(line.get_gid().split(":")[1]))


def xy(line):
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def pooled(da, key):
    """Flat values of one grid point over the pooled dims (seed, repeat, rotation ...)."""
    return da.sel(key).values.ravel().astype(float)


def test_ipd_grid_one_point_per_readout_and_tau_at_the_medians(ipd_grid):
    ds = ipd_grid.copy(deep=True)
    ds["test_acc"].loc[dict(readout="max", tau=0.002, seed=0)] = np.nan  # a missing job
    fig = plots.cost_figure(ds)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Effective synaptic operations (ACs + MACs per sample)"
    assert ax.get_ylabel() == "Test accuracy (%)"
    assert ax.get_xscale() == "log"
    assert (
        ax.get_title().replace("\n", " ")
        == "Test accuracy against synaptic operations: median and quartiles over seed (n ≤ 3)"  # one repeat
    )
    keys = [{"readout": r, "tau": t} for r in ("mean", "max", "fr") for t in (0.02, 0.002)]
    points = markers(ax)
    assert len(points) == len(keys) == len(fig.snnsim_points) == 6
    assert [p["key"] for p in fig.snnsim_points] == keys
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"{r}, τ = {t:g} ms" for r in ("mean (oc)", "max", "fr") for t in (20, 2)]
    assert ax.get_legend().get_title().get_text() == "readout, tau"
    for key, line, point in zip(keys, points, fig.snnsim_points):
        x = pooled(ds.synops_eff_acs + ds.synops_eff_macs, key)
        y = pooled(ds.test_acc, key)
        ok = np.isfinite(y)
        assert ok.sum() == (2 if key == {"readout": "max", "tau": 0.002} else 3)
        (x_low, x_mid, x_high), (y_low, y_mid, y_high) = (np.percentile(v[ok], (25, 50, 75)) for v in (x, y))
        np.testing.assert_allclose(xy(line)[0], [x_mid])
        np.testing.assert_allclose(xy(line)[1], [y_mid])
        np.testing.assert_allclose([*point["xerr"], *point["yerr"]],
                                   [x_mid - x_low, x_high - x_mid, y_mid - y_low, y_high - y_mid])  # fmt: skip
        assert point["n"] == ok.sum()
    # the error bars drawn span the quartiles in y
    caps = [c for c in ax.collections if len(c.get_segments()) == 1]
    spans = sorted(
        (round(float(s[0][1]), 9), round(float(s[1][1]), 9))
        for c in caps
        for s in c.get_segments()
        if s[0][0] == s[1][0]
    )
    wanted = sorted((round(p["y"] - p["yerr"][0], 9), round(p["y"] + p["yerr"][1], 9)) for p in fig.snnsim_points)
    assert spans == wanted


def test_the_error_bars_stay_within_the_accuracies(ipd_grid):
    """Mean ± s.d. of a point with a failed seed (0, 0, 90 %) ran from -22 % to 82 %: below any
    accuracy there is. The quartiles lie within the values."""
    ds = ipd_grid.copy(deep=True)
    ds["test_acc"].loc[dict(readout="fr", tau=0.002)] = 0.0
    ds["test_acc"].loc[dict(readout="fr", tau=0.002, seed=ds.seed.values[-1], repeat=ds.repeat.values[-1])] = 90.0
    for point in plots.cost_figure(ds).snnsim_points:
        y = pooled(ds.test_acc, point["key"])
        assert y.min() <= point["y"] - point["yerr"][0] and point["y"] + point["yerr"][1] <= y.max()


def test_bmi_grid_fvaf_of_the_first_output_per_model_and_training_size(bmi_grid):
    fig = plots.cost_figure(bmi_grid)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Test FVAF of shoulder velocity"
    assert ax.get_xlabel() == "Effective synaptic operations (ACs + MACs per sample)"
    keys = [{"model": m, "n_train_folds": f} for m in ("snn", "ann", "linear") for f in (1, 2, 4, 8)]
    assert [p["key"] for p in fig.snnsim_points] == keys
    points = markers(ax)
    assert len(points) == 12
    ops = bmi_grid.synops_eff_acs + bmi_grid.synops_eff_macs
    for key, line in zip(keys, points):
        np.testing.assert_allclose(xy(line)[0], [np.median(pooled(ops, key))])
        np.testing.assert_allclose(xy(line)[1], [np.median(pooled(bmi_grid.test_fvaf.isel(output=0), key))])
    # the non-spiking models do no accumulates, only multiply-accumulates
    assert float(bmi_grid.synops_eff_acs.sel(model="linear").max()) == 0


def test_dense_operations_and_bad_requests(ipd_grid):
    fig = plots.cost_figure(ipd_grid, ops="dense")
    assert fig.axes[0].get_xlabel() == "Dense synaptic operations (MACs per sample)"
    line = markers(fig.axes[0])[0]
    np.testing.assert_allclose(
        xy(line)[0], [np.median(pooled(ipd_grid.synops_dense, {"readout": "mean", "tau": 0.02}))]
    )
    with pytest.raises(ValueError, match="synops_eff_acs"):
        plots.cost_figure(ipd_grid.drop_vars("synops_eff_acs"))
    with pytest.raises(ValueError, match="macs"):  # all zero for spike inputs: no log axis
        plots.cost_figure(ipd_grid, ops="macs")
    with pytest.raises(ValueError, match="ops 'flops'"):
        plots.cost_figure(ipd_grid, ops="flops")


def test_accumulates_and_multiply_accumulates_are_each_their_own(ipd_grid, bmi_grid):
    """``ops="acs"`` draws the effective accumulates alone, ``ops="macs"`` the multiply-accumulates
    alone (BMI: the snn's spiking hidden layer does accumulates, every model's real inputs MACs)."""
    fig = plots.cost_figure(ipd_grid, ops="acs")
    assert fig.axes[0].get_xlabel() == "Effective synaptic accumulates (ACs per sample)"
    for line, point in zip(markers(fig.axes[0]), fig.snnsim_points):
        np.testing.assert_allclose(xy(line)[0], [np.median(pooled(ipd_grid.synops_eff_acs, point["key"]))])
    fig = plots.cost_figure(bmi_grid, ops="macs")
    assert fig.axes[0].get_xlabel() == "Effective synaptic multiply-accumulates (MACs per sample)"
    assert len(fig.snnsim_points) == 12
    for line, point in zip(markers(fig.axes[0]), fig.snnsim_points):
        np.testing.assert_allclose(xy(line)[0], [np.median(pooled(bmi_grid.synops_eff_macs, point["key"]))])


def test_cli_draws_costs_for_a_merged_grid(tmp_path, capsys):
    results.write(ipd_merged(np.random.default_rng(7)), tmp_path / "grid.h5")
    assert (
        plot.main([str(tmp_path / "grid"), "--out", str(tmp_path / "figs"), "--only", "costs", "--format", "png"]) == 0
    )
    png = tmp_path / "figs" / "grid_costs.png"
    assert capsys.readouterr().out.split() == [str(png)]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results.write(bmi_merged(np.random.default_rng(8)), tmp_path / "bmi.h5")
    assert plot.main([str(tmp_path / "bmi"), "--out", str(tmp_path / "figs"), "--only", "costs"]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").glob("bmi_*")) == ["bmi_costs.png", "bmi_costs.svg"]


def test_a_swept_setting_off_the_default_groups_gets_its_own_points():
    """``recurrent`` swept besides readout x tau: one point per configuration, or a refusal for a
    ``by`` that would pool it."""
    import xarray as xr

    rng = np.random.default_rng(7)
    ds = xr.concat([ipd_merged(rng), ipd_merged(rng)], "recurrent").assign_coords(recurrent=[False, True])
    fig = plots.cost_figure(ds)
    assert len(markers(fig.axes[0])) == 12
    for point in fig.snnsim_points:
        assert set(point["key"]) == {"readout", "tau", "recurrent"} and point["n"] == ds.sizes["seed"]
        np.testing.assert_allclose(point["y"], np.median(pooled(ds.test_acc, point["key"])))
    with pytest.raises(ValueError, match="recurrent"):
        plots.cost_figure(ds, by=("readout", "tau"))


def test_a_rotation_run_at_one_training_size_only_is_left_out_as_in_figure_2a(bmi_grid):
    """bmi_training_size runs rotation 5 at 18 folds only (for Figure 1): Figure 2a leaves it
    out (complete_rotations), but the cost figure pooled it into its 18-fold points, so the
    same model and training size had two test FVAFs in the two figures."""
    ds = bmi_grid.copy(deep=True)
    for name in ("test_fvaf", "synops_eff_acs", "synops_eff_macs"):
        ds[name].loc[dict(rotation=16, n_train_folds=[1, 2, 4])] = np.nan  # rotation 16: 8 folds only
    fig = plots.cost_figure(ds)
    fvaf = plots.fvaf_figure(ds)
    for model, ax in zip(("snn", "ann", "linear"), fvaf.axes):
        point = next(p for p in fig.snnsim_points if p["key"] == {"model": model, "n_train_folds": 8})
        test = next(line for line in ax.lines if line.get_label() == "Test")
        np.testing.assert_allclose(point["y"], test.get_ydata()[-1])  # Figure 2a's test median at 8
        np.testing.assert_allclose(point["y"], np.median(pooled(ds.test_fvaf.isel(output=0), {"model": model,
                                   "n_train_folds": 8, "rotation": 15})))  # fmt: skip
        assert point["n"] == ds.sizes["repeat"]


def test_a_sweep_of_decoded_dims_names_the_setting_in_the_legend(rng):
    """A merged sweep over ``dims`` (its values the strings "1" and "0,1") labelled its points
    "linear, 1 training fold, 0,1": a bare "0,1" that reads as a number. A value without a
    letter gets its setting's name: "dims = 0,1"."""
    one = bmi_merged(rng, models=("linear",), folds=(1, 2), rotations=(15,), repeats=1)
    grid = xr.concat([one, one], dim="dims").assign_coords(dims=["1", "0,1"])
    fig = plots.cost_figure(grid)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"linear, {n}, dims = {d}" for n in ("1 training fold", "2 training folds") for d in ("1", "0,1")]


def test_a_short_legend_stays_off_the_error_bars(rng):
    """A grid of 4 points (a tiny ipd_model_space: recurrent x tau_syn) put its legend inside the
    axes at loc="best", where an error bar ran through its markers; every legend goes beside the
    axes, inside the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plots.cost_figure(ipd_merged(rng, readouts=("mean", "fr"), taus=(0.02, 0.002)))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    legend = (fig.legends or [fig.axes[0].get_legend()])[0]
    box, axes, whole = legend.get_window_extent(renderer), fig.axes[0].get_window_extent(renderer), fig.bbox
    assert len(legend.get_texts()) == 4
    assert not box.overlaps(axes), "the legend lies over the points and error bars"
    assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
    assert axes.width > 0.5 * whole.width


def test_a_long_legend_stays_off_the_points_and_inside_the_figure(rng):
    """bmi_training_size's grid (3 models x 9 training-set sizes, 27 entries): the legend neither
    covers the axes nor runs off the figure, and the axes keep a usable height."""
    grid = bmi_merged(rng, folds=(1, 2, 3, 4, 6, 8, 11, 14, 18), rotations=(15,), repeats=1)
    fig = plots.cost_figure(grid)
    assert len(fig.snnsim_points) == 27
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # as save_figure draws it
    canvas.draw()
    renderer = canvas.get_renderer()
    legend = (fig.legends or [fig.axes[0].get_legend()])[0]
    box, axes = legend.get_window_extent(renderer), fig.axes[0].get_window_extent(renderer)
    whole = fig.bbox
    assert len(legend.get_texts()) == 27
    assert not box.overlaps(axes), "the legend covers the points"
    assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
    assert axes.height > 0.4 * whole.height


def test_a_merge_over_dims_draws_the_shoulder_and_names_the_points_without_it(rng):
    """A merge of dims = [0], [1], [0, 1] orders its outputs by name (elbow, shoulder): the cost
    figure drew "output 0" = the elbow and silently dropped the dims = 0 points (no elbow FVAF).
    It draws the shoulder, as for a run, and its title names the points without a value."""
    from fake_results import dims_merged

    ds = dims_merged(rng, models=("ann", "linear"), folds=(2,), rotations=(5,), repeats=1).squeeze("n_train_folds")
    fig = plots.cost_figure(ds)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Test FVAF of shoulder velocity"
    keys = [p["key"] for p in fig.snnsim_points]
    assert keys == [{"model": m, "dims": d} for m in ("ann", "linear") for d in ("0", "0,1")]
    for point, line in zip(fig.snnsim_points, markers(ax)):
        expected = ds["test_fvaf"].sel(point["key"]).sel(output="shoulder").values.ravel()
        np.testing.assert_allclose(xy(line)[1], [np.median(expected)])
    note = "2 grid points without test FVAF of shoulder velocity, left out: ann, dims = 1; linear, dims = 1"
    assert ax.get_title().replace("\n", " ").endswith(note)
    elbow = plots.cost_figure(ds, output="elbow").axes[0]
    assert elbow.get_ylabel() == "Test FVAF of elbow velocity"
    assert (
        elbow.get_title()
        .replace("\n", " ")
        .endswith("without test FVAF of elbow velocity, left out: ann, dims = 0; linear, dims = 0")
    )
    assert "left out" not in plots.cost_figure(ds.sel(dims=["0,1"])).axes[0].get_title()


def test_an_axis_of_less_than_a_decade_labels_its_leftmost_tick(rng):
    """A merge of two tiny BMI runs over ``dims`` (the linear decoder at 960 operations, the
    spiking one at about 7,700) spans less than a decade: its x axis was ticked at 2000 ... 8000
    and left the tick at 1000, near the linear point, without a label. Every tick drawn is
    labelled, the leftmost one too, and the labels reach near both ends of the axis."""
    from fake_results import dims_merged

    ds = dims_merged(rng, dims=("0", "1"), models=("snn", "linear"), folds=(2,), rotations=(5,), repeats=2)
    ds = ds.squeeze("n_train_folds")
    snn = xr.DataArray([[7706.9, 7709.3], [7707.0, 7709.2]], dims=("dims", "repeat"))  # as the tiny runs measured
    acs = xr.where(ds["model"] == "linear", 960.0, snn).broadcast_like(ds["synops_eff_acs"])
    ds["synops_eff_acs"] = acs.transpose(*ds["synops_eff_acs"].dims).assign_attrs(ds["synops_eff_acs"].attrs)
    ds["synops_eff_macs"] = ds["synops_eff_macs"] * 0
    fig = plots.cost_figure(ds)
    ax = fig.axes[0]
    fig.canvas.draw()
    low, high = ax.get_xlim()
    assert np.log10(high / low) < 1
    drawn = []
    for axis_ticks, formatter in ((ax.xaxis.get_majorticklocs(), ax.xaxis.get_major_formatter()),
                                  (ax.xaxis.get_minorticklocs(), ax.xaxis.get_minor_formatter())):  # fmt: skip
        locs = [float(loc) for loc in axis_ticks if low <= loc <= high]
        drawn += zip(locs, formatter.format_ticks(locs))
    drawn.sort()
    assert len(drawn) >= 3
    assert all(text for _, text in drawn), f"unlabelled ticks: {[loc for loc, text in drawn if not text]}"
    share = [np.log(loc / low) / np.log(high / low) for loc, _ in drawn]  # where along the axis
    assert share[0] < 0.2 and share[-1] > 0.5, "no label near an end of the axis"
    assert [float(text.replace("−", "-")) for _, text in drawn] == [loc for loc, _ in drawn]


def test_a_merge_over_dims_0_and_1_keeps_the_dims_apart(rng):
    """A real sweep over dims [0] and [1] x model: only dims = 0 has a shoulder FVAF, so the
    check for pooled settings found nothing to mix and ``dims`` (not a setting the figures
    knew) was pooled: the title said "median and quartiles over dims, repeat", the legend only
    "snn" / "linear", and the dims = 1 jobs were dropped without a word. ``dims`` is grouped
    as every other swept setting: a point per model and dims, the points without a shoulder
    FVAF named."""
    from fake_results import dims_merged

    ds = dims_merged(rng, dims=("0", "1"), models=("snn", "linear"), folds=(2,), rotations=(5,), repeats=2)
    ds = ds.squeeze(["n_train_folds", "rotation"])
    ax = (fig := plots.cost_figure(ds)).axes[0]
    title = ax.get_title().replace("\n", " ")
    assert title.startswith("Test FVAF against synaptic operations: median and quartiles over repeat (n ≤ 2)")
    assert title.endswith(
        "2 grid points without test FVAF of shoulder velocity, left out: snn, dims = 1; linear, dims = 1"
    )
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["snn, dims = 0", "linear, dims = 0"]
    assert [p["key"] for p in fig.snnsim_points] == [{"model": "snn", "dims": "0"}, {"model": "linear", "dims": "0"}]
    mean = plots.cost_figure(ds, output=None).axes[0]  # the mean over outputs: every job has one
    assert mean.get_ylabel() == "Test FVAF of the mean over the outputs each point decodes"  # dims = 0: its one
    assert [t.get_text() for t in mean.get_legend().get_texts()] == [
        f"{m}, dims = {d}" for m in ("snn", "linear") for d in ("0", "1")
    ]


def test_dimensionless_axes_carry_no_unit_mark_in_any_figure(bmi_grid):
    """The cost figure's FVAF axis read "Test FVAF of shoulder velocity (1)" where Figure 2a's
    read "FVAF of shoulder velocity" and the learning curves' "Validation FVAF": one quantity,
    two styles. Every other dimensionless axis (fractions, weights, losses, counts) has no unit
    mark, so none has: FVAF, and a cost variable of units "1" drawn as the metric."""
    ds = bmi_grid.copy()
    ds["test_rmse"].attrs["units"] = "rad/s"
    ds["val_fvaf_curve"] = (ds["loss"] * 0 + 0.5).assign_attrs(units="1", long_name="validation FVAF per epoch")
    ds["activation_sparsity"].attrs["units"] = "1"  # as snnsim.costs writes it
    labels = {
        "cost": plots.cost_figure(ds).axes[0].get_ylabel(),
        "cost, mean": plots.cost_figure(ds, output=None).axes[0].get_ylabel(),
        "figure 2a": plots.fvaf_figure(ds).axes[0].get_ylabel(),
        "learning curves": plots.learning_curves(ds, variables=["val_fvaf_curve"]).axes[0].get_ylabel(),
        "sparsity": plots.cost_figure(ds, metric="activation_sparsity").axes[0].get_ylabel(),
    }
    assert labels == {
        "cost": "Test FVAF of shoulder velocity",
        "cost, mean": "Test FVAF of the mean over outputs",
        "figure 2a": "FVAF of shoulder velocity",
        "learning curves": "Validation FVAF",
        "sparsity": "activation_sparsity",
    }
    assert plots.cost_figure(ds, metric="test_rmse").axes[0].get_ylabel() == "test_rmse (rad/s)"  # a unit stays


def test_a_title_keeps_a_parenthesised_group_on_one_line(rng):
    """The cost title of a real merge over dims wrapped as "... over dims, repeat (n ≤" and
    "2)" alone on the next line. Titles wrap at spaces outside a parenthesised group that fits
    on a line; a longer group still wraps, and no line is longer than the width allows."""
    from snnsim.plots.common import new_figure, wrapped

    text = "Test FVAF against synaptic operations: median and quartiles over dims, repeat (n ≤ 2)"
    fig = plots.cost_figure(bmi_merged(rng, folds=(1, 2), rotations=(15,), repeats=2), title=text)
    assert fig.axes[0].get_title() == text.replace(" (n ≤ 2)", "\n(n ≤ 2)")
    width = int(6.4 * 72 / (0.55 * 10))  # the characters wrapped() fits on the cost figure's line
    long = "Test set: " + "(" + " ".join(["pooled"] * 20) + ") and (n ≤ 2) at the end of a line that is long"
    lines = wrapped(long, new_figure(6.4), 10).split("\n")
    assert len(lines) > 2 and all(len(line) <= width for line in lines)
    assert " ".join(lines) == long
    assert "(" in lines[0] and ")" not in lines[0], "a group longer than a line breaks at its spaces"
    assert sum("(n ≤ 2)" in line for line in lines) == 1


def test_a_by_that_leaves_dims_is_refused(rng):
    """``by=("model",)`` on a merge over dims [0] and [1]: the check for pooled settings read
    the metric only, where dims = 1 has no shoulder FVAF, so the figure drew "snn" / "linear"
    titled "median and quartiles over dims, repeat", the dims = 1 jobs left out unsaid. The
    operations exist at both dims: such a ``by`` is refused in one line, as any other."""
    from fake_results import dims_merged

    ds = dims_merged(rng, dims=("0", "1"), models=("snn", "linear"), folds=(2,), rotations=(5,), repeats=2)
    ds = ds.squeeze(["n_train_folds", "rotation"])
    with pytest.raises(
        ValueError,
        match=r"^would pool different settings \(dims: '0', '1'\); select one first, e.g. ds.sel\(dims='0'\)$",
    ):
        plots.cost_figure(ds, by=("model",))
    fig = plots.cost_figure(ds.sel(dims=["0"]), by=("model",))  # one dims: nothing to mix
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["snn", "linear"]


def test_a_dim_of_one_value_is_not_named_as_pooled(rng, ipd_grid):
    """The title named every pooled dim, one of a single value too: "over dims, repeat" of one
    dims (by=("model",)), "over rotation, repeat" of one rotation, "over seed, repeat" of one
    model per point. Only dims of more than one value are pooled; a setting of one is named."""
    from fake_results import dims_merged

    ds = dims_merged(rng, dims=("0", "1"), models=("snn", "linear"), folds=(2,), rotations=(5,), repeats=2)
    title = plots.cost_figure(ds.sel(dims=["0"]), by=("model",)).axes[0].get_title().replace("\n", " ")
    assert (
        title
        == "Test FVAF against synaptic operations (dims = 0, 2 training folds): median and quartiles over repeat (n ≤ 2)"
    )
    title = plots.cost_figure(ds.sel(dims=["0"])).axes[0].get_title().replace("\n", " ")
    assert (
        title == "Test FVAF against synaptic operations: median and quartiles over repeat (n ≤ 2)"
    )  # rotation 5 alone
    one = ipd_grid.isel(seed=[0], repeat=[0])
    assert (
        plots.cost_figure(one).axes[0].get_title() == "Test accuracy against synaptic operations: one model per point"
    )


def test_a_sample_without_operations_is_left_out_of_its_point(ipd_grid):
    """A seed whose cost variables are NaN (a job of an older snnsim in the merge) but whose
    accuracy exists: the point is the median of the seeds with both, n = 2."""
    ds = ipd_grid.copy(deep=True)
    key = {"readout": "fr", "tau": 0.02}
    ds["synops_eff_acs"].loc[{**key, "seed": 1}] = np.nan
    point = next(p for p in plots.cost_figure(ds).snnsim_points if p["key"] == key)
    x, y = pooled(ds.synops_eff_acs + ds.synops_eff_macs, key), pooled(ds.test_acc, key)
    ok = np.isfinite(x)
    assert point["n"] == ok.sum() == 2
    np.testing.assert_allclose([point["x"], point["y"]], [np.median(x[ok]), np.median(y[ok])])


def test_a_grid_point_that_never_ran_is_not_called_one_without_the_metric(ipd_grid):
    """A hole of the merge (no operations, no accuracy) is no 'grid point without test accuracy';
    a point that ran but has no accuracy is."""
    ds = ipd_grid.copy(deep=True)
    for name in ("test_acc", "synops_eff_acs", "synops_eff_macs"):
        ds[name].loc[dict(readout="fr", tau=0.002)] = np.nan
    fig = plots.cost_figure(ds)
    assert len(fig.snnsim_points) == 5 and "without" not in fig.axes[0].get_title()
    ds["test_acc"].loc[dict(readout="max", tau=0.02)] = np.nan
    title = plots.cost_figure(ds).axes[0].get_title().replace("\n", " ")
    assert title.endswith("1 grid point without test accuracy, left out: max, τ = 20 ms")


def test_points_share_a_marker_per_value_of_the_first_setting(ipd_grid):
    """One marker shape per readout (the first grid setting), the taus of a readout alike."""
    ax = plots.cost_figure(ipd_grid).axes[0]
    assert [line.get_marker() for line in markers(ax)] == ["o", "o", "s", "s", "^", "^"]
