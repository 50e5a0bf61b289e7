"""Batched repeats (one model with a leading model dimension, one Adam over stacked weights)
give the same results as training the repeats one by one with the same seeds."""

import numpy as np
import pytest

from snnsim import runner
from snnsim.config import RunConfig
from snnsim.studies import ipd

TINY = dict(study="ipd", epochs=2, n_train_batches=3, n_test_batches=1, batch_size=8, hidden=8, repeats=3, seed=4)


@pytest.mark.parametrize(
    "backend,readout,tau",
    [
        ("fused", "mean", 0.02),
        ("fused", "fr", 0.002),
        ("fused", "max", 0.002),
        ("snntorch", "fr", 0.02),
    ],
)
def test_batched_equals_one_by_one(backend, readout, tau):
    cfg = RunConfig(backend=backend, readout=readout, tau=tau, **TINY)
    batched = runner.run(cfg.replace(batch_repeats=True), progress=False)
    single = runner.run(cfg.replace(batch_repeats=False), progress=False)
    # every repeat draws from its own seed streams and every per-model computation is
    # independent of the batch of models, so the numbers agree to float rounding (in practice
    # bit for bit; spikes identical, hence accuracies and confusions exactly equal)
    np.testing.assert_allclose(batched["loss"].values, single["loss"].values, rtol=1e-6, atol=1e-7)
    for name in ("train_acc", "test_acc", "train_err_deg", "test_err_deg", "confusion"):
        np.testing.assert_array_equal(batched[name].values, single[name].values, err_msg=name)
    # the repeats differ from each other (distinct seeds), so the comparison is not vacuous
    assert not np.allclose(batched["loss"].values[0], batched["loss"].values[1])


@pytest.mark.parametrize("backend,cap", [("fused", 100), ("snntorch", 100), ("norse", 100), ("fused", 5)])
def test_readouts_and_taus_train_as_one_batched_model(backend, cap, monkeypatch):
    """Configs that differ by readout, tau and seed train as one model (one set of weight
    tensors, one Adam), each model with its own readout and time constant, or as several of at
    most ``CPU_MODELS_PER_BATCH`` models; every config gets exactly the numbers of running it alone."""
    monkeypatch.setattr(runner, "CPU_MODELS_PER_BATCH", cap)
    base = RunConfig(backend=backend, **{**TINY, "repeats": 1})
    cfgs = [
        base.replace(readout=r, tau=t, seed=s) for r in ("fr", "mean", "max") for t in (0.02, 0.002) for s in (4, 5)
    ]
    trained = []
    real_fit = ipd.STUDY.fit
    monkeypatch.setattr(ipd.STUDY, "fit", lambda model, *a, **k: trained.append(model) or real_fit(model, *a, **k))
    together = runner.run_configs(cfgs, progress=False)
    assert [m.n_models for m in trained] == ([12] if cap == 100 else [5, 5, 2])
    parts = [(p.readout.name, p.models.stop - p.models.start) for m in trained for p in m.parts]
    expected = [(r, 2) for r in ("fr", "fr", "max", "max", "mean", "mean")]  # grouped, 2 seeds each
    assert parts == (
        expected if cap == 100 else [("fr", 2), ("fr", 2), ("max", 1), ("max", 1), ("max", 2), ("mean", 2), ("mean", 2)]
    )
    with pytest.raises(ValueError, match="differ by readout"):
        _ = trained[0].readout
    for cfg, ds in zip(cfgs, together):
        alone = runner.run(cfg, progress=False)
        assert ds.attrs["config_readout"] == cfg.readout and ds.attrs["config_tau"] == cfg.tau
        for name in ("loss", "train_acc", "test_acc", "confusion", "w1", "w2"):
            np.testing.assert_array_equal(
                ds[name].values, alone[name].values, err_msg=f"{cfg.readout} {cfg.tau} {name}"
            )
    # the settings matter, so the comparison is not vacuous
    assert not np.array_equal(together[0]["w2"].values, together[2]["w2"].values)


def test_threads_give_the_same_training():
    """A batched fused training with the kernels split over threads equals the one-thread run."""
    import torch

    cfg = RunConfig(backend="fused", readout="fr", tau=0.002, **{**TINY, "repeats": 3})
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = runner.run(cfg, progress=False)
        torch.set_num_threads(3)
        three = runner.run(cfg, progress=False)
    finally:
        torch.set_num_threads(before)
    for name in ("loss", "train_acc", "test_acc", "confusion", "w1", "w2"):
        np.testing.assert_array_equal(one[name].values, three[name].values, err_msg=name)


def test_repeats_that_stop_at_different_epochs_are_stored_the_same_batched_or_not():
    """Early stopping ends the repeats at different epochs. Every variable of a repeat, its
    ``lr_curve`` included (NaN after its own stop, not after the last repeat's), is the same
    batched or trained alone."""
    cfg = RunConfig(backend="fused", epochs=6, n_train_batches=2, n_test_batches=1, hidden=8, n_val_batches=1,
                    patience=1, repeats=2, seed=0)  # fmt: skip
    batched = runner.run(cfg.replace(batch_repeats=True), progress=False)
    single = runner.run(cfg.replace(batch_repeats=False), progress=False)
    epochs = np.isfinite(batched["loss"].values).sum(1)
    assert epochs[0] != epochs[1], epochs  # the repeats stop apart, so the comparison is not vacuous
    np.testing.assert_array_equal(np.isfinite(batched["lr_curve"].values).sum(1), epochs)
    for name in sorted(set(batched.data_vars) - {"train_seconds"}):
        np.testing.assert_array_equal(batched[name].values, single[name].values, err_msg=name)


@pytest.mark.parametrize(
    "settings",
    [
        # the dense input product (BMI bins; IPD with delays) with 7 hidden neurons and an odd
        # number of steps, and the ANN with 13 hidden units: one batched product gave a model
        # other last bits than its own product, for these sizes, from the first update on (so two
        # training folds of the BMI data show it as well as the default 18, in a ninth of the time)
        dict(study="bmi", encoding="bins", readout="last", hidden=7, batch_size=77, n_train_folds=2),
        dict(backend="norse", neuron="standard", delays="fixed", hidden=7, duration=0.101, batch_size=37,
             n_train_batches=2, n_test_batches=1),
        dict(study="bmi", model="ann", hidden=13, batch_size=77, n_train_folds=2),
    ],
)  # fmt: skip
def test_a_repeat_is_bit_for_bit_its_own_run_for_any_size(settings):
    """Every stored array of repeat r of a batched training equals the run of seed + r alone."""
    cfg = RunConfig.from_dict({"epochs": 2, "repeats": 2, "seed": 3, **settings})
    batched = runner.run(cfg, progress=False)
    alone = runner.run(cfg.replace(seed=4, repeats=1), progress=False)
    compared = 0
    for name, var in batched.data_vars.items():
        if "repeat" in var.dims and name != "train_seconds":
            np.testing.assert_array_equal(var.isel(repeat=1).values, alone[name].isel(repeat=0).values, err_msg=name)
            compared += 1
    assert compared >= 8 and ("w1" in batched.data_vars or "ann_w1" in batched.data_vars)
