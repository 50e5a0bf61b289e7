"""BMI task on a small synthetic data set: result file, metrics, reproducibility, learning curve."""

import pickle

import numpy as np
import pytest
import xarray as xr

from snnsim import runner
from snnsim.backends import MODEL_SPACE
from snnsim.config import RunConfig, field_names, metadata
from snnsim.datasets.bmi import fold_split
from snnsim.datasets.bmi_synthetic import generate
from snnsim.errors import ConfigError
from snnsim.run import main
from snnsim.studies.bmi import RIDGE_GRID, ridge


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("bmi") / "small.pkl"
    with open(path, "wb") as fh:
        pickle.dump(generate(seed=0, samples_per_fold=400), fh)
    return str(path)


def _cfg(data_path, **kw):
    base = dict(
        study="bmi",
        data=data_path,
        backend="fused",
        hidden=8,
        epochs=2,
        batch_size=128,
        lr=0.003,
        n_train_folds=2,
        patience=2,
    )
    base.update(kw)
    return RunConfig(**base)


def test_result_file_and_cli(data_path, tmp_path, capsys):
    out = tmp_path / "r.h5"
    rc = main(
        [
            "--task",
            "bmi",
            "--data",
            data_path,
            "--backend",
            "fused",
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--n-train-folds",
            "2",
            "--dim",
            "all",
            "--repeats",
            "2",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "test fvaf elbow " in printed and "val rmse shoulder (rad/s) " in printed  # RMSE in the target's unit
    ds = xr.open_dataset(out, engine="h5netcdf").load()
    for split in ("train", "val", "test"):
        for metric in ("fvaf", "rmse"):
            assert ds[f"{split}_{metric}"].dims == ("repeat", "output")
    assert list(ds.output.values) == ["shoulder", "elbow"]
    assert ds.y_pred.dims == ("repeat", "sample", "output") and ds.sizes["sample"] == 400
    assert ds.time.dims == ("sample",) and ds.loss.dims == ("repeat", "epoch")
    assert ds.attrs["test_fold"] == 4 and ds.attrs["config_model"] == "snn"


def test_the_printed_table_has_its_numbers_under_their_column_names():
    """``snnsim.run``'s BMI table: 9-wide numbers under 11-wide names, and labels longer than
    their 18 columns ("train fvaf shoulder"), had pushed each row's numbers off its columns."""
    from snnsim.studies.bmi import STUDY

    values = {f"{s}_{m}": (("repeat", "output"), np.array([[0.5, -0.25], [0.75, 1.5]]) + i)
              for i, (s, m) in enumerate((s, m) for s in ("train", "val", "test") for m in ("fvaf", "rmse"))}  # fmt: skip
    values["train_seconds"] = ("repeat", np.array([12.0, 14.0]))
    ds = xr.Dataset(values, coords={"repeat": [0, 1], "output": ["shoulder", "elbow"]})
    ds.attrs.update(config_model="linear", config_target="dtheta", config_rotation=5, config_n_train_folds=18,
                    device="cpu")  # fmt: skip
    header, *rows = STUDY.summarise(ds).splitlines()[1:]
    ends = [header.index(name) + len(name) for name in ("median", "min", "max")]
    assert len(rows) == 13
    for row in rows:
        label = row[: ends[0] - 11].strip()
        cells = [row[end - 11 : end] for end in ends]
        assert all(c.strip() and c[0] == " " for c in cells) and len(row) == ends[-1], row
        if label == "train s":
            assert [float(c) for c in cells] == [13.0, 12.0, 14.0]
        else:
            split, metric, out, *unit = label.split()
            assert unit == (["(rad/s)"] if metric == "rmse" else []), label  # dtheta's unit, for RMSE only
            v = ds[f"{split}_{metric}"].sel(output=out).values
            assert [float(c) for c in cells] == pytest.approx([np.median(v), v.min(), v.max()], abs=5e-4)


def test_the_printed_table_keeps_numbers_of_a_million_and_more_apart():
    """A diverging but finite run (``--model ann --lr 1``: test FVAF -699167.758) printed its
    cells run together, "-699167.758-699167.758-699167.758", which no one can read back."""
    from snnsim.studies.bmi import STUDY

    big = np.array([[-699167.758], [-1.83e22]])
    values = {f"{s}_{m}": (("repeat", "output"), big * (i + 1))
              for i, (s, m) in enumerate((s, m) for s in ("train", "val", "test") for m in ("fvaf", "rmse"))}  # fmt: skip
    values["train_seconds"] = ("repeat", np.array([1.5e9, 2.5e9]))
    ds = xr.Dataset(values, coords={"repeat": [0, 1], "output": ["shoulder"]})
    ds.attrs.update(config_model="linear", config_target="dtheta", config_rotation=5, config_n_train_folds=18,
                    device="cpu")  # fmt: skip
    header, *rows = STUDY.summarise(ds).splitlines()[1:]
    ends = [header.index(name) + len(name) for name in ("median", "min", "max")]
    for row in rows:
        cells = [row[end - 11 : end] for end in ends]
        assert all(c[0] == " " and c.strip() for c in cells) and len(row) == ends[-1], row
        name = "train_seconds" if row.startswith("train s ") else "_".join(row[: ends[0] - 11].split()[:2])
        v = ds[name].values
        assert [float(c) for c in cells] == pytest.approx([np.median(v), v.min(), v.max()], rel=1e-3)


@pytest.mark.parametrize("readout", ["mean", "max", "fr"])
def test_snn_same_seed_same_numbers_and_batched(data_path, readout):
    cfg = _cfg(data_path, readout=readout, repeats=2)
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(batch_repeats=False), progress=False)
    np.testing.assert_array_equal(a.test_fvaf.values, b.test_fvaf.values)
    np.testing.assert_array_equal(a.y_pred.values, b.y_pred.values)
    assert np.isfinite(a.test_rmse.values).all()


def test_the_loss_of_a_rate_regularised_run_is_named_with_its_penalty(data_path):
    """``loss`` is the loss trained on: with --rate-reg it holds the firing-rate penalty too, and
    its name says so (it said "MSE" alone)."""
    plain = runner.run(_cfg(data_path), progress=False)
    regularised = runner.run(_cfg(data_path, rate_reg=1.0, rate_target=100.0), progress=False)
    assert plain.loss.attrs["long_name"].startswith("mean training loss (MSE, z-scored targets);")
    assert regularised.loss.attrs["long_name"].startswith(
        "mean training loss (MSE, z-scored targets + firing-rate penalty);"
    )
    first = np.s_[:, 0]  # the same data and initial weights: the first epoch's loss differs by the penalty
    assert (regularised.loss.values[first] > plain.loss.values[first]).all()


def test_learning_curve_ends_for_every_model(data_path):
    """Test FVAF rises from 1 to 18 training folds for the spiking decoder and the baselines."""
    for model, kw in (
        ("linear", {}),
        ("ann", dict(hidden=16, epochs=4, patience=4)),
        ("snn", dict(hidden=30, epochs=8, patience=8, readout="last", tau=0.002, lr=0.005)),
    ):
        lo = runner.run(_cfg(data_path, model=model, n_train_folds=1, **kw), progress=False)
        hi = runner.run(_cfg(data_path, model=model, n_train_folds=18, **kw), progress=False)
        assert hi.test_fvaf.item() > lo.test_fvaf.item() + 0.05, model
        assert hi.test_fvaf.item() > (0.2 if model == "snn" else 0.3), model


#: Settings of the spiking network that the ANN and ridge do not read, each changed from _cfg's.
SPIKING_CHANGES = dict(backend="norse", readout="weighted", readout_units=2, tau=0.005, dt=0.002, threshold=0.5,
                       surrogate_slope=2.0, init="fan-in", neuron="standard", encoding="window", window_steps=4)  # fmt: skip
#: Settings of the training that ridge does not read (fitted in closed form), each changed.
TRAINING_CHANGES = dict(hidden=7, epochs=3, batch_size=32, lr=0.1, lr_schedule="cosine", weight_decay=0.1,
                        grad_clip=1e-3, ema=0.5, patience=1, input_noise=0.5, dropout=0.5)  # fmt: skip


def test_what_a_baseline_is_said_not_to_read_leaves_its_numbers_alone(data_path):
    """RunConfig.unread (the note of ``snnsim.run``) names exactly the settings a baseline ignores:
    changing them all leaves its predictions as they were; the other model-space settings are
    refused for it outright."""
    for model, changes in (("ann", SPIKING_CHANGES), ("linear", {**SPIKING_CHANGES, **TRAINING_CHANGES})):
        cfg = _cfg(data_path, model=model)
        assert cfg.unread([*changes, "rotation", "seed", "data"]) == list(changes), model
        refused = {*MODEL_SPACE, "adapt_jump", "max_delay", "rate_target", "input_rank"} - {"hidden"}  # all refused
        assert set(changes) == {n for n in field_names() if model not in metadata(n)["models"]} - refused
        a, b = runner.run(cfg, progress=False), runner.run(cfg.replace(**changes), progress=False)
        np.testing.assert_array_equal(a.y_pred.values, b.y_pred.values)
    for name, value in TRAINING_CHANGES.items():  # the ANN reads these: each changes its predictions
        if name in ("epochs", "patience"):  # early stopping may keep the same epoch's weights
            continue
        cfg = _cfg(data_path, model="ann")
        a, b = runner.run(cfg, progress=False), runner.run(cfg.replace(**{name: value}), progress=False)
        assert not np.array_equal(a.y_pred.values, b.y_pred.values), name
    refused = dict(tau_syn=0.005, recurrent=True, learn_tau=True, tau_adapt=0.05, adapt_jump=1.0, delays="fixed",
                   max_delay=0.01, rate_reg=0.1, rate_target=5.0, input_rank=4, hidden=(8, 8))  # fmt: skip
    assert set(refused) == set(MODEL_SPACE) | {"adapt_jump", "max_delay", "rate_target", "input_rank"}
    for model in ("ann", "linear"):
        for name, value in refused.items():
            with pytest.raises(ConfigError, match=f"not of --model {model}|which is off"):
                backend = MODEL_SPACE.get(name, ("fused",))[0]  # one that carries it
                RunConfig(study="bmi", model=model, neuron="standard", backend=backend, **{name: value})
    assert _cfg(data_path).unread(SPIKING_CHANGES) == [] and RunConfig().unread(["readout"]) == []


@pytest.mark.parametrize("model", ["linear", "snn"])
def test_the_test_fold_changes_nothing_that_is_chosen(data_path, tmp_path, model):
    """Results are chosen on the validation fold only: with the test fold replaced by other
    samples, the test scores change and nothing chosen or learned does (ridge strength,
    early stopping, weights, normalisation, training and validation scores)."""
    cfg = _cfg(data_path, model=model, epochs=3, patience=1)
    test_fold = fold_split(cfg.rotation, cfg.n_train_folds)[2]
    with open(data_path, "rb") as fh:
        data = pickle.load(fh)
    for folds in data.values():  # an unused fold's samples as the test fold
        folds[test_fold] = folds[10]
    other = tmp_path / "other_test_fold.pkl"
    other.write_bytes(pickle.dumps(data))
    a, b = runner.run(cfg, progress=False), runner.run(cfg.replace(data=str(other)), progress=False)
    assert not np.array_equal(a.test_fvaf.values, b.test_fvaf.values)
    # per recorded neuron for the spiking decoder, per column otherwise: the same name whatever the encoding
    assert (
        a.x_mean.dims == ({"snn": "recorded_neuron"}.get(model, "feature"),)
        and a.x_mean.size == (48, 960)[model != "snn"]
    )
    learned = [name for name, v in a.data_vars.items() if v.attrs.get("long_name", "").startswith("trained ")]
    chosen = ["train_fvaf", "val_fvaf", "train_rmse", "val_rmse", "best_epoch", "ridge_lambda", "loss",
              "val_fvaf_curve", "x_mean", "x_std", "y_mean", "y_std", *learned]  # fmt: skip
    assert learned
    for name in chosen:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.mark.parametrize("mi_order", ["neuron-major", "bin-major"])
def test_ridge_weights_match_the_closed_form_in_the_feature_order_the_file_names(data_path, mi_order):
    """The stored ridge weights equal the closed form (numpy's lstsq of the augmented system,
    bias unpenalised) on the data file's MI columns, taken in the order that the file's
    ``ridge_w`` and ``x_mean`` name: feature = bin * 48 + neuron, whatever ``--mi-order``. The
    order was named nowhere, and with the default neuron-major columns ``ridge_w[k]`` is not
    column k's weight (0.06 apart on the synthetic set)."""
    ds = runner.run(_cfg(data_path, model="linear", mi_order=mi_order), progress=False)
    order = "feature = bin * 48 + neuron (bin 0 first, whatever --mi-order)"
    for name in ("ridge_w", "x_mean", "x_std"):
        assert order in ds[name].attrs["long_name"], name
    with open(data_path, "rb") as fh:
        data = pickle.load(fh)
    train, val, _ = fold_split(5, 2)
    bins, neurons = np.meshgrid(np.arange(20), np.arange(48), indexing="ij")  # feature f = bin * 48 + neuron
    column = (neurons * 20 + bins if mi_order == "neuron-major" else bins * 48 + neurons).ravel()
    x = np.concatenate([data["MI"][f] for f in train])[:, column].astype(float)
    y = np.concatenate([data["dtheta"][f] for f in train])[:, :1]
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1.0
    np.testing.assert_allclose(ds.x_mean.values, mean, rtol=0, atol=1e-12)
    a = np.c_[(x - mean) / std, np.ones(len(x))]
    lam = float(ds.ridge_lambda.values[0])
    penalty = np.sqrt(lam) * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not penalised
    target = np.r_[(y - y.mean(0)) / y.std(0), np.zeros((a.shape[1], 1))]
    w = np.linalg.lstsq(np.r_[a, penalty], target, rcond=None)[0]
    np.testing.assert_allclose(ds.ridge_w.values[0], w, rtol=0, atol=1e-6)
    assert val == (5 + 18) % 20


def test_ridge_leaves_the_bias_unpenalised():
    """An offset added to the targets moves only the bias, by that offset, at every strength of
    the grid: the strength penalises the weights, not the bias."""
    rng = np.random.default_rng(0)
    x, x_val = rng.normal(size=(40, 6)), rng.normal(size=(30, 6))
    w_true = 0.1 * rng.normal(size=(6, 2))  # a weak signal in the noise: a strong strength is chosen
    y, y_val = x @ w_true + rng.normal(size=(40, 2)), x_val @ w_true + rng.normal(size=(30, 2))
    w, lam, score = ridge(x, y, x_val, y_val)
    w_shifted, lam_shifted, score_shifted = ridge(x, y + 1000.0, x_val, y_val + 1000.0)
    assert lam_shifted == lam and lam > RIDGE_GRID[0]  # a strength that would shrink a penalised bias
    np.testing.assert_allclose(w_shifted[:-1], w[:-1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(w_shifted[-1], w[-1] + 1000.0, rtol=0, atol=1e-8)
    assert score_shifted == pytest.approx(score, abs=1e-9)


def test_the_validation_score_is_the_mean_fvaf_of_the_metrics():
    """Early stopping's score (``val_fvaf_curve``) is the FVAF of snnsim.metrics, population
    variance, averaged over the outputs: by hand, FVAF 0.75 and 0 (mean 0.375) for model 0's
    errors, 1 for model 1's perfect predictions. The sample variance would give 0.8125 and 0.25."""
    import torch

    from snnsim.metrics import fvaf
    from snnsim.studies.bmi import _fvaf_torch

    y = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])
    errors = torch.tensor([[0.5, 2.0], [-0.5, -2.0], [0.5, 2.0], [-0.5, -2.0]])
    pred = torch.stack([y + errors, y])
    score = _fvaf_torch(y, pred).numpy()
    np.testing.assert_allclose(score, [0.375, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(score[0], fvaf(y.numpy(), (y + errors).numpy()).mean(), rtol=0, atol=1e-12)


def test_run_names_the_flags_a_baseline_does_not_read(data_path, capsys):
    argv = ["--study", "bmi", "--model", "linear", "--data", data_path, "--readout", "last", "--epochs", "3"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "--model linear (ridge regression, fitted in closed form) does not read --readout, --epochs;" in err
    assert main([*argv, "--quiet"]) == 0 and "does not read" not in capsys.readouterr().err  # a note, as the recipe's
    assert main(["--study", "bmi", "--model", "snn", "--data", data_path, "--readout", "last", "--epochs", "1",
                 "--quiet"]) == 0  # fmt: skip
    assert "does not read" not in capsys.readouterr().err


def test_a_ridge_fit_says_so_on_a_terminal(data_path, tmp_path, monkeypatch):
    """``--model linear`` prepared its data and fitted the ridge in silence after the data were read
    (24 s with a big data file, 7 s with the synthetic set, on a loaded machine). A line on a
    terminal says what it does; ``--quiet`` and a log (stderr not a terminal) get none."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    said = f"snnsim: splitting and normalising the BMI data, then fitting the ridge regression ({len(RIDGE_GRID)}"
    for i, (tty, hushed) in enumerate(((True, False), (True, True), (False, False))):
        err = Terminal() if tty else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        argv = ["--study", "bmi", "--model", "linear", "--data", data_path, "--out", str(tmp_path / f"{i}.h5")]
        assert main([*argv, *(["--quiet"] if hushed else [])]) == 0
        assert (said in err.getvalue()) == (tty and not hushed), (tty, hushed, err.getvalue())
        assert err.getvalue().count(said) <= 1


def test_bmi_config_validation():
    assert RunConfig(study="bmi", dt=0.1).dt == 0.1  # the IPD stimulus's checks of dt are not the BMI study's
    with pytest.raises(ConfigError, match="--rate-max-hz"):
        RunConfig(study="ipd", dt=0.002)
    with pytest.raises(ConfigError, match="n-train-folds"):
        RunConfig(study="bmi", n_train_folds=19)
    with pytest.raises(ConfigError, match="--rotation"):
        RunConfig(study="bmi", rotation=20)
    with pytest.raises(ConfigError, match="--model"):
        RunConfig(study="bmi", model="rnn")
    with pytest.raises(ConfigError, match="--target"):
        RunConfig(study="bmi", target="speed")


def test_window_encoding_trains_and_holds_its_input_for_its_steps(data_path):
    """--encoding window: 960 input channels, readout weights over the window's steps, the same
    numbers batched or not."""
    cfg = _cfg(data_path, encoding="window", window_steps=5, readout="weighted", repeats=2)
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(batch_repeats=False), progress=False)
    np.testing.assert_array_equal(a.y_pred.values, b.y_pred.values)
    assert a.sizes["step"] == 5 and a.readout_weights.dims == ("repeat", "step", "output_unit")
    assert (
        a.w1.sizes["input_unit"] == 960 and a.x_mean.dims == ("recorded_neuron",) and a.sizes["recorded_neuron"] == 48
    )
    assert np.isfinite(a.test_fvaf.values).all() and a.attrs["config_encoding"] == "window"


def test_window_encoding_refusals():
    with pytest.raises(ConfigError, match="--window-steps.*--encoding window"):
        RunConfig(study="bmi", window_steps=4)
    with pytest.raises(ConfigError, match="--delays"):
        RunConfig(study="bmi", encoding="window", neuron="standard", backend="norse", delays="fixed")
    with pytest.raises(ConfigError, match="--encoding"):
        RunConfig(study="ipd", encoding="window")


def test_window_hidden_rate_counts_every_held_step(data_path):
    """The training's hidden rate (Hz) with the window encoding: spikes over all window steps,
    each step 1 s / window_steps of data; checked against the spikes of the decoder run on the
    input repeated over the steps (the path that does not hold it)."""
    import torch

    from snnsim import seeding
    from snnsim.studies import bmi

    cfg = _cfg(data_path, encoding="window", window_steps=5, hidden=16, init="fan-in", repeats=2)
    data = bmi.prepare(cfg)
    model = bmi.SNNRegressor(cfg, 1, [seeding.generator(s, "init") for s in (0, 1)])
    with torch.no_grad():
        model.decoder.w1.mul_(8.0)  # so that the hidden layer fires
    trainer = bmi.BMITrainer(model, cfg, data, [0, 1])
    trainer.n_batches, trainer.batch = 1, 64
    x = data.x.train[:64].unsqueeze(0).expand(2, 64, 1, 960)
    model.hidden_spikes.zero_()
    with torch.no_grad():
        model(x)
        spikes = model.decoder(x.expand(2, 64, 5, 960)).hidden_spikes.double().sum((1, 2, 3))
    assert spikes.min() > 0
    expected = spikes / (64 * 16 * 5 * (1.0 / 5))  # samples x neurons x steps x seconds per step
    np.testing.assert_allclose(trainer.hidden_rate_hz(), expected.numpy(), rtol=1e-12)


def test_low_rank_input_weights(data_path):
    """--input-rank R: w1 is the product A B of trained factors (model by model), the optimiser
    sees the factors and not w1, the parameters counted are the factors', and the numbers are
    the same batched or not."""
    import torch

    from snnsim import seeding
    from snnsim.studies import bmi

    cfg = _cfg(data_path, encoding="window", readout="weighted", init="fan-in", input_rank=3, repeats=2)
    model = bmi.SNNRegressor(cfg, 1, [seeding.generator(s, "init") for s in (0, 1)])
    a, b = model.decoder.parametrizations.w1.original0, model.decoder.parametrizations.w1.original1
    assert a.shape == (2, 960, 3) and b.shape == (2, 3, 8)
    for m in range(2):
        torch.testing.assert_close(model.decoder.w1[m], a[m] @ b[m], rtol=0, atol=0)
    names = {name for name, _ in model.named_parameters()}
    assert (
        "decoder.w1" not in names
        and {"decoder.parametrizations.w1.original0", "decoder.parametrizations.w1.original1"} <= names
    )
    # the product has about the variance of a fan-in uniform w1 (1 / (3 x 960))
    assert float(model.decoder.w1.detach().var()) == pytest.approx(1 / (3 * 960), rel=0.2)
    with pytest.raises(ValueError, match="set through its factors"):
        model.decoder.w1 = torch.zeros(2, 960, 8)

    low = runner.run(cfg, progress=False)
    alone = runner.run(cfg.replace(batch_repeats=False), progress=False)
    np.testing.assert_array_equal(low.y_pred.values, alone.y_pred.values)
    full = runner.run(cfg.replace(input_rank=0), progress=False)
    # the same decoder but for w1: 960 x 8 weights replaced by 960 x 3 + 3 x 8 factors (by hand)
    assert low.n_params.values[0] == full.n_params.values[0] - 960 * 8 + 960 * 3 + 3 * 8
    assert not np.array_equal(low.w1.values, full.w1.values)


def test_low_rank_refusals():
    with pytest.raises(ConfigError, match="--input-rank: a setting of the spiking decoder"):
        RunConfig(study="bmi", model="ann", input_rank=4)
    with pytest.raises(ConfigError, match="--input-rank: at most the 48 inputs of --encoding bins, got 49"):
        RunConfig(study="bmi", input_rank=49)
    with pytest.raises(ConfigError, match="--input-rank: a setting of the bmi study"):
        RunConfig(input_rank=4)
    RunConfig(study="bmi", encoding="window", input_rank=960)


def test_the_memory_estimate_follows_the_model(monkeypatch):
    """Ridge does not read --hidden; the ANN's one layer grows with hidden, not hidden squared;
    a refusal names the BMI flags that size the run, not IPD's."""
    from snnsim.errors import SnnsimError
    from snnsim.studies.bmi import STUDY

    def need(**settings):
        return sum(STUDY.memory_bytes(RunConfig(study="bmi", **settings)))

    assert need(model="linear", hidden=100_000) == need(model="linear") < 1.5e9
    small, large = need(model="ann", hidden=15_000), need(model="ann", hidden=30_000)
    weights = ((960 + 1) * 30_000 + (30_000 + 1) * 2) * 4  # float32 parameters of the 30,000-unit ANN
    assert 4 * weights <= large <= 4 * weights + 2e9 and large / small < 2.2
    monkeypatch.setattr(runner, "available_memory", lambda: int(1e6))
    cfgs = [RunConfig(study="bmi")]
    with pytest.raises(SnnsimError, match="GB of memory") as refused:
        runner.check_memory(cfgs, runner.plan(cfgs))
    assert "--window-steps" in str(refused.value) and "--n-train-batches" not in str(refused.value)
    assert "more than 80 % of the 0.0 GB available" in str(refused.value) and "--pack" not in str(refused.value)
    # several configs at once (a sweep's pack): fewer of them is a remedy too
    pack = [RunConfig(study="bmi", seed=s) for s in range(4)]  # 4 seeds: the data once, 4 models
    one, four = runner.estimate_memory(cfgs, runner.plan(cfgs)), runner.estimate_memory(pack, runner.plan(pack))
    assert four - one == 3 * STUDY.memory_bytes(cfgs[0])[1] > 0
    monkeypatch.setattr(runner, "available_memory", lambda: int((one + four) / 2 / 0.8))
    with pytest.raises(SnnsimError, match=r"; or run fewer jobs at once \(a smaller --pack\)$"):
        runner.check_memory(pack, runner.plan(pack))
    runner.check_memory(cfgs, runner.plan(cfgs))  # one of them fits


@pytest.mark.parametrize("module, level", [("gzip", {"compresslevel": 1}), ("bz2", {"compresslevel": 1}),
                                           ("lzma", {"preset": 0})], ids=["gzip", "bz2", "lzma"])  # fmt: skip
def test_the_memory_estimate_of_a_compressed_data_file(data_path, tmp_path, module, level):
    """A compressed pickle (which the loader reads) is estimated by its content, not by its file's
    bytes: spike counts compress 40-75 times, and so did the estimate. (Each module's fastest
    level: 17-84 times here; the estimate reads the content whatever the level.)"""
    from snnsim.studies.bmi import STUDY

    suffix = {"gzip": ".gz", "bz2": ".bz2", "lzma": ".xz"}[module]
    packed = tmp_path / f"bmi.pkl{suffix}"
    packed.write_bytes(__import__(module).compress(open(data_path, "rb").read(), **level))
    assert packed.stat().st_size < open(data_path, "rb").seek(0, 2) / 5
    for model in ("snn", "ann", "linear"):
        plain, compressed = (STUDY.memory_bytes(RunConfig(study="bmi", model=model, data=str(p), batch_size=10**6))
                             for p in (data_path, packed))  # fmt: skip
        assert compressed == plain


def test_the_memory_estimate_of_a_batch_larger_than_the_data(data_path):
    """A --batch-size above the training set (the trainer cuts it down to the set) is estimated
    as the set: at most the synthetic set's 26,000 samples, or a data file's bytes / 960 (a byte
    a count); it was estimated as asked, and a full-batch run refused for memory it never uses."""
    import os

    from snnsim.studies.bmi import STUDY

    def need(**settings):
        return sum(STUDY.memory_bytes(RunConfig(study="bmi", **settings)))

    for model in ("snn", "ann"):
        assert need(model=model, batch_size=10**6) == need(model=model, batch_size=26_000) > need(model=model)
    samples = os.path.getsize(data_path) // 960
    for model in ("snn", "ann"):
        assert need(model=model, data=data_path, batch_size=10**6) == need(
            model=model, data=data_path, batch_size=samples
        )
        assert need(model=model, data=data_path, batch_size=samples) > need(
            model=model, data=data_path, batch_size=samples - 1
        )
    assert need(neuron="standard", delays="fixed", batch_size=10**6) == need(
        neuron="standard", delays="fixed", batch_size=26_000
    )


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device: runs only with a GPU")
@pytest.mark.parametrize("model", ["snn", "ann", "linear"])
def test_a_run_on_cuda_gets_its_costs_and_the_cpu_numbers(data_path, model):
    """The costs were counted from the test inputs moved to the CPU, with the model on the GPU:
    a run on cuda trained, then failed in its costs (devices mixed). Its costs equal the CPU run's."""
    cfg = _cfg(data_path, model=model, backend="snntorch" if model == "snn" else "fused")
    cpu, gpu = runner.run(cfg, progress=False), runner.run(cfg.replace(device="cuda"), progress=False)
    for name in ("synops_eff_acs", "synops_eff_macs", "n_params", "footprint_bytes"):
        np.testing.assert_allclose(gpu[name].values, cpu[name].values, rtol=1e-6, err_msg=name)


def _plain_layer(h, alpha, neuron, fire):
    """A layer over currents h (..., T, N) as plain loops, threshold 1. The notebook neuron:
    s_{t+1} = v_t > 1, v_{t+1} = (alpha v_t + h_t)(1 - s_t), records from the zero state; the
    standard one: u = alpha v + h_t, s = u > 1, v = u (1 - s). ``fire``: False for a leaky integrator."""
    import torch

    from snnsim.functional.surrogate import spike_fn

    v = s = torch.zeros_like(h[..., 0, :])
    spikes, membranes = [], []
    for t in range(h.shape[-2]):
        if neuron == "notebook":
            spikes.append(s)
            membranes.append(v)
            s_next = spike_fn(v - 1.0) if fire else torch.zeros_like(v)
            v, s = (alpha * v + h[..., t, :]) * (1 - s), s_next
        else:
            u = alpha * v + h[..., t, :]
            s = spike_fn(u - 1.0) if fire else torch.zeros_like(u)
            v = u * (1 - s)
            spikes.append(s)
            membranes.append(v)
    return torch.stack(spikes, -2), torch.stack(membranes, -2)


@pytest.mark.parametrize("neuron", ["notebook", "standard"])
@pytest.mark.parametrize("backend", ["snntorch", "norse", "fused"])
def test_weighted_readout_equals_the_plain_equations(backend, neuron):
    """The BMI recipe's network (window encoding held for its steps, the ``weighted`` readout with
    two units per output, the affine head) on each backend against plain loops of its equations
    and the readout written out: predictions and the gradients of every trained tensor (float64)."""
    import torch

    from snnsim.studies.bmi import SNNRegressor

    cfg = RunConfig(study="bmi", backend=backend, neuron=neuron, encoding="window", window_steps=6,
                    readout="weighted", readout_units=2, hidden=9, tau="5ms", init="fan-in")  # fmt: skip
    model = SNNRegressor(cfg, 2, [torch.Generator().manual_seed(m) for m in range(2)]).double()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        model.decoder.w1.mul_(40.0)  # the hidden layer spikes and stays silent in places
        model.decoder.w2.mul_(4.0)
        model.readout_weights.copy_(torch.rand(model.readout_weights.shape, generator=g, dtype=torch.float64))
        model.scale.copy_(torch.rand(model.scale.shape, generator=g, dtype=torch.float64) + 0.5)
        model.bias.normal_(generator=g)
    x = torch.rand(2, 5, 1, 960, generator=g, dtype=torch.float64)
    target = torch.randn(2, 5, 2, generator=g, dtype=torch.float64)
    names = ["decoder.w1", "decoder.w2", "scale", "bias", "readout_weights"]
    params = [dict(model.named_parameters())[name] for name in names]
    assert len(list(model.parameters())) == len(names)  # every trained tensor
    got = model(x)
    grads = torch.autograd.grad((got - target).pow(2).sum(), params)

    leaves = [p.detach().clone().requires_grad_() for p in params]
    w1, w2, scale, bias, weights = leaves
    h1 = torch.matmul(x, w1.unsqueeze(1)).expand(-1, -1, cfg.window_steps, -1)  # the window held for its steps
    s1, _ = _plain_layer(h1, cfg.alpha, neuron, True)
    _, v2 = _plain_layer(torch.matmul(s1, w2.unsqueeze(1)), cfg.alpha, neuron, False)  # the output: a leaky integrator
    z = (v2 * weights.unsqueeze(1)).sum(-2)  # (M, B, 4): a weight per step and unit, summed over steps
    want = scale * (z[..., 0::2] + z[..., 1::2]) + bias  # each output's two units summed
    want_grads = torch.autograd.grad((want - target).pow(2).sum(), leaves)
    assert 0 < s1.sum() < s1.numel() / 2, "the hidden layer must spike and stay silent in places"
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads, want_grads):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("readout", ["fr", "last"])
@pytest.mark.parametrize("backend", ["snntorch", "norse", "fused"])
def test_push_pull_and_last_readouts_equal_the_plain_equations(backend, readout):
    """The BMI decoder's other readouts on each backend against plain loops: ``fr`` (a spiking
    output layer of two units per output, read as the difference of their rates: push-pull) and
    ``last`` (the output membrane at the last step); predictions and every gradient (float64)."""
    import torch

    from snnsim.studies.bmi import SNNRegressor

    cfg = RunConfig(study="bmi", backend=backend, neuron="standard", encoding="window", window_steps=7,
                    readout=readout, hidden=9, tau="5ms", init="fan-in")  # fmt: skip
    model = SNNRegressor(cfg, 2, [torch.Generator().manual_seed(m) for m in range(2)]).double()
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        model.decoder.w1.mul_(40.0)
        model.decoder.w2.mul_(6.0)  # the output layer spikes too (fr)
        model.scale.copy_(torch.rand(model.scale.shape, generator=g, dtype=torch.float64) + 0.5)
        model.bias.normal_(generator=g)
    x = torch.rand(2, 5, 1, 960, generator=g, dtype=torch.float64)
    target = torch.randn(2, 5, 2, generator=g, dtype=torch.float64)
    names = ["decoder.w1", "decoder.w2", "scale", "bias"]
    params = [dict(model.named_parameters())[name] for name in names]
    assert len(list(model.parameters())) == len(names)
    got = model(x)
    grads = torch.autograd.grad((got - target).pow(2).sum(), params)

    leaves = [p.detach().clone().requires_grad_() for p in params]
    w1, w2, scale, bias = leaves
    s1, _ = _plain_layer(torch.matmul(x, w1.unsqueeze(1)).expand(-1, -1, 7, -1), cfg.alpha, "standard", True)
    s2, v2 = _plain_layer(torch.matmul(s1, w2.unsqueeze(1)), cfg.alpha, "standard", readout == "fr")
    if readout == "fr":
        assert 0 < s2.sum() < s2.numel(), "the output layer must spike and stay silent in places"
        rate = s2.mean(-2)  # (M, B, 4): units 0-1 push, 2-3 pull
        z = rate[..., :2] - rate[..., 2:]
    else:
        z = v2[..., -1, :]
    want = scale * z + bias
    want_grads = torch.autograd.grad((want - target).pow(2).sum(), leaves)
    assert 0 < s1.sum() < s1.numel(), "the hidden layer must spike and stay silent in places"
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads, want_grads):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("noise, dropout", [(0.3, 0.0), (0.0, 0.2), (0.3, 0.2)])
def test_input_noise_and_dropout_of_a_training_batch(data_path, noise, dropout):
    """--input-noise S adds Gaussian noise of sd S to a training batch's inputs; --dropout P zeroes
    each input with probability P and scales the others by 1 / (1 - P) (inverted dropout: the
    mean input unchanged); each model draws from its own streams (the same batched or alone)."""
    import torch

    from snnsim import seeding
    from snnsim.studies import bmi

    cfg = _cfg(data_path, input_noise=noise, dropout=dropout, repeats=2)
    data = bmi.prepare(cfg)
    model = bmi.SNNRegressor(cfg, 1, [seeding.generator(s, "init") for s in (0, 1)])
    trainer = bmi.BMITrainer(model, cfg, data, [0, 1])
    x = torch.full((2, 500, 960), 2.0, dtype=torch.float64)
    got = trainer._noisy(x).numpy()
    assert not np.array_equal(got[0], got[1])
    alone = bmi.BMITrainer(bmi.SNNRegressor(cfg, 1, [seeding.generator(1, "init")]), cfg, data, [1])
    np.testing.assert_array_equal(alone._noisy(x[1:]).numpy()[0], got[1])  # model 1's draws, batched or not
    for one in got:
        kept = one != 0
        assert abs((1 - kept.mean()) - dropout) < 0.005
        np.testing.assert_allclose(one.mean(), 2.0, atol=0.01)
        if noise:
            np.testing.assert_allclose(one[kept].std(), noise / (1 - dropout), rtol=0.01)
        else:
            np.testing.assert_array_equal(one[kept], 2.0 / (1 - dropout))


def test_runs_that_differ_only_in_their_target_or_decoded_joints_each_get_their_own(data_path):
    """The data cache keeps one split per data set, folds, target, joints and input kind: ridge
    decoders of ``dtheta`` and of ``theta`` (and of both joints), run together (a pack, a sweep
    over ``target``), each decode their own target, as when run alone."""
    cfgs = [_cfg(data_path, model="linear", target=t, dims=d) for t, d in (("dtheta", (0,)), ("theta", (0,)),
                                                                           ("theta", (0, 1)))]  # fmt: skip
    together = {}
    runner.run_configs(cfgs, progress=False, on_result=together.__setitem__)
    data = generate(seed=0, samples_per_fold=400)
    _, _, test = fold_split(cfgs[0].rotation, cfgs[0].n_train_folds)
    for i, cfg in enumerate(cfgs):
        np.testing.assert_array_equal(together[i].y_true.values, data[cfg.target][test][:, list(cfg.dims)])
        np.testing.assert_array_equal(together[i].y_pred.values, runner.run(cfg, progress=False).y_pred.values)


@pytest.mark.parametrize("target, units", [("theta", "rad"), ("dtheta", "rad/s"), ("ddtheta", "rad/s^2"),
                                           ("torque", "N m")])  # fmt: skip
def test_every_target_carries_its_units(data_path, target, units):
    """The true and predicted values and the RMSEs of each ``--target`` are in its units: angle in
    rad, velocity rad/s, acceleration rad/s^2, torque N m (only rad and rad/s had been checked)."""
    ds = runner.run(_cfg(data_path, model="linear", target=target), progress=False)
    for name in ("y_true", "y_pred", "train_rmse", "test_rmse"):
        assert ds[name].attrs["units"] == units, name


def test_predictions_are_in_the_targets_units_mean_included(data_path):
    """The ridge decoder has an unpenalised bias: its fit's training MSE plus penalty is at most
    that of predicting the training mean (w = 0), so its training FVAF in the target's own units
    is >= 0 (by hand). The joint angles have means far from 0 (0.45 and 1.3 rad): predictions
    that left out the training folds' mean the targets were z-scored with would fail this."""
    ds = runner.run(_cfg(data_path, model="linear", target="theta", dims="all"), progress=False)
    assert (ds.train_fvaf.values >= 0).all(), ds.train_fvaf.values
    assert (np.abs(ds.y_pred.mean("sample") - ds.y_true.mean("sample")) < ds.y_true.std("sample")).all()


def test_the_bmi_rate_penalty_counts_rates_per_bin_whatever_dt(data_path):
    """A BMI step is one 50 ms bin whatever --dt (durations count in steps): --dt 2ms --tau 40ms is
    the network of --dt 1ms --tau 20ms, and with --rate-reg its firing rates (Hz of the bins), its
    penalty and so its training are the same."""
    kw = dict(rate_reg=0.5, rate_target=5.0, epochs=2)
    a = runner.run(_cfg(data_path, dt="1ms", tau="20ms", **kw), progress=False)
    b = runner.run(_cfg(data_path, dt="2ms", tau="40ms", **kw), progress=False)
    np.testing.assert_allclose(a.loss.values, b.loss.values, rtol=1e-6)


def test_a_bmi_run_stops_each_repeat_after_patience_epochs_without_a_better_validation_fvaf(data_path):
    """--patience 1: a repeat trains until the first epoch whose validation FVAF is no better than
    its best so far, and no further (NaN after it); best_epoch is its best."""
    cfg = _cfg(data_path, epochs=6, patience=1, repeats=4, lr=0.05)
    from early_stopping import check_patience_one

    ds = runner.run(cfg, progress=False)
    stopped, _ = check_patience_one(ds.val_fvaf_curve.values, ds.best_epoch.values)
    assert stopped  # at least one repeat stopped early: the rule was put to the test


def test_validation_leaves_the_training_hidden_rate_alone(data_path):
    """The hidden rate of an epoch is that of its training batches: validating after it (the
    validation fold's spikes) does not change it, and it is not 0 (spikes were counted)."""
    import torch

    from snnsim.studies import bmi

    cfg = _cfg(data_path, repeats=2)
    data = bmi.STUDY.make_data(cfg, 0, torch.device("cpu"))
    model = bmi.STUDY.make_model([cfg, cfg], [0, 1], torch.device("cpu"))
    trainer = bmi.BMITrainer(model, cfg, data, [0, 1])
    trainer.epoch(lambda: None)
    trained = trainer.hidden_rate_hz().copy()
    trainer.validate()
    np.testing.assert_array_equal(trainer.hidden_rate_hz(), trained)
    assert (trained > 0).all()
