import numpy as np
import pytest
import torch

from snnsim.config import RunConfig
from snnsim.costs import of_decoder
from snnsim.runner import run
from snnsim.studies import ipd


@pytest.mark.parametrize("backend", ["snntorch", "norse", "fused"])
def test_each_backend_trains_through_the_task(backend, tiny_ipd):
    ds = run(RunConfig(**{**tiny_ipd, "backend": backend, "readout": "fr", "epochs": 1}), progress=False)
    assert np.isfinite(ds.loss.values).all()
    assert ds.attrs["config_backend"] == backend


def test_sum_evaluation_differs_only_for_max(tiny_ipd):
    """Quirk 4: argmax of the sum over time equals argmax of the mean, but not of the max."""
    for readout in ("mean", "fr"):
        a = run(RunConfig(**tiny_ipd, readout=readout, eval="readout"), progress=False)
        b = run(RunConfig(**tiny_ipd, readout=readout, eval="sum"), progress=False)
        np.testing.assert_array_equal(a.test_acc.values, b.test_acc.values)


@torch.no_grad()
def test_sum_evaluation_scores_the_argmax_of_the_summed_trace():
    """Quirk 4 for ``max``: ``--eval sum`` predicts the argmax of the output membrane summed over
    time, ``--eval readout`` that of its maximum, computed here from the dense network's records
    (float64). The runs above check only that the sum leaves ``mean`` and ``fr`` alone: a ``--eval
    sum`` that scored with the readout passed them."""
    cfg = RunConfig(backend="fused", readout="max", hidden=8, batch_size=16, n_test_batches=4)
    sets = [ipd.make_stimuli(cfg, s, torch.device("cpu"), "test") for s in (0, 1)]
    model = ipd.IPDStudy().make_model([cfg, cfg], [0, 1], torch.device("cpu")).double()
    membrane = model(torch.stack([s.spikes for s in sets]).double()).out_membrane  # (M, N, T, classes)
    by_sum, by_max = membrane.sum(-2).argmax(-1), membrane.amax(-2).argmax(-1)
    assert (by_sum != by_max).any(), "the case must tell the two evaluations apart"
    assert torch.equal(ipd.predict(model, cfg.replace(eval="sum"), sets), by_sum)
    assert torch.equal(ipd.predict(model, cfg.replace(eval="readout"), sets), by_max)


def test_the_loss_of_a_rate_regularised_run_is_named_with_its_penalty(tiny_ipd):
    """``loss`` is the loss trained on: with --rate-reg it holds the firing-rate penalty too, and
    its name (the figures' axis label) says so; it said "NLL" alone."""
    from snnsim import plots

    cfgs = [RunConfig(**tiny_ipd, repeats=1), RunConfig(**tiny_ipd, repeats=1, rate_reg=1.0, rate_target=100.0)]
    plain, regularised = (run(c, progress=False) for c in cfgs)
    assert plain.loss.attrs["long_name"] == "mean training loss (NLL)"
    assert regularised.loss.attrs["long_name"] == "mean training loss (NLL + firing-rate penalty)"
    assert (regularised.loss.values > plain.loss.values).all()  # same data and initial weights, plus the penalty
    assert plots.training_curves(plain).axes[0].get_ylabel() == "Mean training loss (NLL)"
    label = plots.training_curves(regularised).axes[0].get_ylabel()
    assert label == "Mean training loss (NLL + firing-rate penalty)"


def test_learns_well_above_chance():
    """A short real training at tau = 2 ms: far above the 8.3 % chance level."""
    cfg = RunConfig(backend="fused", readout="mean", tau=0.002, epochs=3, n_train_batches=24, n_test_batches=4)
    ds = run(cfg, progress=False)
    assert ds.test_acc.item() > 40
    assert ds.test_err_deg.item() < 20
    assert ds.loss.values[0, -1] < ds.loss.values[0, 0]


@torch.no_grad()
def test_costs_come_from_the_records_the_predictions_use():
    """cost_of runs the network on the sparse input sums, as training and predictions do: in
    float64 its costs equal those of the dense layer-by-layer run; in float32 its hidden spikes
    are those the compiled one-operation network (the predictions' path) counts."""
    cfgs = [RunConfig(backend="fused", readout=r, tau=t, hidden=8, batch_size=16, n_test_batches=4)
            for r, t in (("fr", 0.002), ("mean", 0.02), ("max", 0.002))]  # fmt: skip
    seeds = [0, 1, 2]
    sets = [ipd.make_stimuli(cfgs[0], s, torch.device("cpu"), "test") for s in seeds]
    spikes = torch.stack([s.spikes[: ipd.COST_SAMPLES] for s in sets])
    index = torch.arange(spikes.shape[1]).expand(len(sets), -1)

    model = ipd.IPDStudy().make_model(cfgs, seeds, torch.device("cpu")).double()
    got, out = ipd.cost_of(model, cfgs, sets), model(spikes.double())
    for m, cfg in enumerate(cfgs):
        o = out.parts[m]  # one part per readout
        want = of_decoder(model, m, spikes[m], o.hidden_spikes[0], None if o.out_spikes is None else o.out_spikes[0],
                          cfg.dt)  # fmt: skip
        assert got[m] == want
        assert want.hidden_rate_hz > 0 and want.synops_eff_acs > 0

    model = ipd.IPDStudy().make_model(cfgs, seeds, torch.device("cpu"))
    got = ipd.cost_of(model, cfgs, sets)
    counts = ipd.InputCurrents(cfgs[0], sets).network(model, index).hidden_spike_count()
    seconds = spikes.shape[1] * spikes.shape[2] * cfgs[0].dt * cfgs[0].hidden
    np.testing.assert_allclose([c.hidden_rate_hz for c in got], counts.numpy() / seconds, rtol=1e-12)


@pytest.mark.parametrize("hidden, neurons, neuron", [(8, 8, "notebook"), ("8,6", 14, "standard")])
def test_the_training_hidden_rate_is_spikes_per_neuron_second_of_the_epoch(hidden, neurons, neuron):
    """The hidden rate of an epoch (``hidden_rate_curve``, Hz): the hidden spikes over all its
    training samples / (samples x neurons x steps x dt), at dt = 2 ms; the neurons of every
    hidden layer (8 + 6 with ``--hidden 8,6``, of the standard neuron). The weights stay as they
    are (steps of lr 1e-30 round away in float64), so the spikes are those of the dense network
    run on the training set.
    It had been compared only with itself (the TensorBoard events, the result file)."""
    cfg = RunConfig(backend="fused", hidden=hidden, neuron=neuron, batch_size=16, n_train_batches=3, lr=1e-30,
                    dt="2ms", rate_max_hz=400.0)  # fmt: skip
    seeds = [0, 1]
    sets = [ipd.make_stimuli(cfg, s, torch.device("cpu"), "train") for s in seeds]
    model = ipd.IPDStudy().make_model([cfg, cfg], seeds, torch.device("cpu")).double()
    trainer = ipd.IPDTrainer(model, cfg, sets, seeds)
    before = model.w1.detach().clone()
    trainer.epoch(lambda: None)
    assert torch.equal(model.w1, before)
    with torch.no_grad():
        spikes = model(torch.stack([s.spikes for s in sets]).double()).hidden_spikes.sum((1, 2, 3))
    assert spikes.min() > 0
    expected = spikes.numpy() / (48 * neurons * 50 * 2e-3)  # samples x neurons x steps x seconds per step
    np.testing.assert_allclose(trainer.hidden_rate_hz(), expected, rtol=1e-12)


def test_the_printed_table_shows_the_multiply_accumulates_of_a_graded_input():
    """With fractional input delays the first layer integrates graded values (MACs, most of the
    operations): the table showed the accumulates only, as "synops/sample"."""
    import xarray as xr

    values = {name: ("repeat", np.array([1.0, 3.0])) for name in ("test_acc", "synops_eff_acs", "train_seconds")}
    values["synops_eff_macs"] = ("repeat", np.array([20000.0, 40000.0]))
    ds = xr.Dataset(values, coords={"repeat": [0, 1]})
    ds.attrs.update(config_backend="norse", config_readout="mean", config_tau=0.002, config_phase="per-sample",
                    config_eval="readout", device="cpu")  # fmt: skip
    rows = {line[:14].strip(): line[14:].split() for line in ipd.STUDY.summarise(ds).splitlines()[2:]}
    assert rows["MACs/sample"] == ["30000.00", "20000.00", "40000.00"]
    assert rows["synops/sample"] == ["2.00", "1.00", "3.00"]
    ds["synops_eff_macs"] = ("repeat", np.zeros(2))  # spike inputs: no MACs, no row
    assert "MACs/sample" not in ipd.STUDY.summarise(ds)


def test_the_printed_table_keeps_numbers_of_a_million_and_more_apart():
    """Cells wider than their 11 columns (10_000 classes: millions of synaptic operations per
    sample) ran into each other: "12345678.9012345678.90"."""
    import xarray as xr

    values = {name: ("repeat", np.array([1.0, 3.0])) for name in ("test_acc", "train_seconds")}
    values["synops_eff_acs"] = ("repeat", np.array([123456789.0, 1.5e12]))
    ds = xr.Dataset(values, coords={"repeat": [0, 1]})
    ds.attrs.update(config_backend="fused", config_readout="mean", config_tau=0.02, config_phase="per-sample",
                    config_eval="readout", device="cpu")  # fmt: skip
    rows = {line[:14].strip(): line[14:] for line in ipd.STUDY.summarise(ds).splitlines()[2:]}
    cells = rows["synops/sample"]
    assert len(cells) == 33 and all(cells[i] == " " for i in (0, 11, 22)), cells
    v = ds["synops_eff_acs"].values
    assert [float(c) for c in cells.split()] == pytest.approx([np.median(v), v.min(), v.max()], rel=1e-3)
    assert rows["test acc %"].split() == ["2.00", "1.00", "3.00"]


def test_fresh_data_trains_each_epoch_on_a_new_set_of_its_own():
    """``fresh_data``: epoch 1 trains on the seed's training set, epoch k > 1 on the set of stream
    ``ipd-train-epoch-{k-1}`` of the model's seed, a new one each epoch (not one extra set reused).
    The runs of tests/test_training_options.py check only that later epochs differ from the first."""
    from snnsim.metrics import discretise

    cfg = RunConfig(backend="fused", hidden=8, batch_size=16, n_train_batches=2, fresh_data=True)
    seeds = [0, 1]
    cpu = torch.device("cpu")
    sets = [ipd.make_stimuli(cfg, s, cpu, "train") for s in seeds]
    trainer = ipd.IPDTrainer(ipd.IPDStudy().make_model([cfg, cfg], seeds, cpu), cfg, sets, seeds)
    seen = []
    for epoch in range(3):
        trainer.epoch(lambda: None)
        want = [s if epoch == 0 else ipd.make_stimuli(cfg, seed, cpu, "train", epoch) for seed, s in zip(seeds, sets)]
        expected = torch.stack([discretise(s.ipd, cfg.n_classes) for s in want])
        assert torch.equal(trainer.labels, expected), epoch
        seen.append(trainer.labels.clone())
    assert not torch.equal(seen[1], seen[2]) and not torch.equal(seen[0], seen[1])


def test_the_evaluation_after_training_shows_a_bar_on_a_terminal_not_in_a_log(tmp_path):
    """After the training bar, the scoring of the training and test sets (3 s of a default run on
    a loaded machine) passed without a word. A terminal shows a bar of the batches evaluated,
    after the training bar and cleared as it is; ``--quiet`` and a log (stderr not a terminal) get
    no bar."""
    import sys
    from pathlib import Path

    from in_process import run_here
    from terminal import on_a_terminal

    from snnsim import run as run_module

    root = Path(__file__).resolve().parents[2]
    run_cli = [sys.executable, "-m", "snnsim.run", "--backend", "fused", "--epochs", "1", "--n-train-batches", "3",
               "--n-test-batches", "2", "--batch-size", "16", "--hidden", "8"]  # fmt: skip
    code, out, shown = on_a_terminal([*run_cli, "--out", str(tmp_path / "a.h5")], cwd=root)
    assert code == 0, (out, shown)
    trained, evaluated = shown.find("fused mean/tau=20ms x1:"), shown.find("\rfused mean/tau=20ms x1 evaluating:")
    assert 0 <= trained < evaluated and "/6 [" in shown[evaluated:], shown  # 3 + 2 batches scored, then the costs
    assert not shown.replace("\r\n", "\n").split("\r")[-1].strip(), shown  # the bar's line is clear
    code, out, shown = on_a_terminal([*run_cli, "--quiet", "--out", str(tmp_path / "b.h5")], cwd=root)
    assert code == 0 and "evaluating" not in shown, shown
    # a log: in this process (in_process.run_here), its stderr not a terminal; the terminal's runs are processes
    proc = run_here(run_module.main, *run_cli[3:], "--out", tmp_path / "c.h5", cwd=root)
    assert proc.returncode == 0 and "evaluating" not in proc.stderr, proc.stderr


def test_runs_that_differ_only_in_their_validation_set_each_validate_on_their_own(tiny_ipd):
    """The data cache keeps one seed's sets per stimulus and set sizes: runs of one seed with 0, 1
    and 2 validation batches, run together (a pack, a sweep over ``n_val_batches``), each validate
    on a set of their own size, as when run alone (sharing one cached set had validated the runs
    of 2 batches on 1, and those of 1 on none)."""
    from snnsim import runner

    cfgs = [RunConfig(**tiny_ipd, n_val_batches=n) for n in (0, 1, 2)]
    together = {}
    runner.run_configs(cfgs, progress=False, on_result=together.__setitem__)
    assert "val_acc" not in together[0]
    for i in (1, 2):
        alone = run(cfgs[i], progress=False)
        np.testing.assert_array_equal(together[i].val_acc_curve.values, alone.val_acc_curve.values)
        np.testing.assert_array_equal(together[i].val_acc.values, alone.val_acc.values)


def test_the_training_validation_and_test_sets_of_a_seed_are_drawn_apart():
    """Each split of a seed has its own stream: no two splits of one seed share their IPDs (a
    validation set drawn as the test set would pick the early-stopping epoch on the test set),
    and a split is the same when drawn again."""
    cfg = RunConfig(study="ipd", batch_size=16, n_train_batches=1, n_test_batches=1, n_val_batches=1)
    cpu = torch.device("cpu")
    sets = {split: ipd.make_stimuli(cfg, 0, cpu, split) for split in ("train", "val", "test")}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not torch.equal(sets[a].ipd, sets[b].ipd), (a, b)
    for split, drawn in sets.items():
        again = ipd.make_stimuli(cfg, 0, cpu, split)
        assert torch.equal(again.ipd, drawn.ipd) and torch.equal(again.spikes, drawn.spikes)
        assert not torch.equal(ipd.make_stimuli(cfg, 1, cpu, split).ipd, drawn.ipd)


def test_a_stimulus_longer_than_the_input_lists_hold_runs_on_the_dense_spikes():
    """The lists of active inputs (:class:`~snnsim.backends.sparse_input.SpikeRows`) hold at most
    32767 steps (int16); the config takes up to a million (``--dt 0.01ms --duration 400ms``: 40000).
    A longer stimulus has no lists and runs on its dense spikes: the same records as the decoder on
    them. It had stopped every CPU run with a traceback ("at most 32767 inputs and steps")."""
    from snnsim.backends import make_backend
    from snnsim.functional.lif import LIFParameters
    from snnsim.network import Decoder
    from snnsim.readouts import get_readout

    steps = 32768
    spikes = torch.rand(2, steps, 6, generator=torch.Generator().manual_seed(0)) < 0.05
    assert ipd.Stimuli(torch.zeros(2), spikes[:, : steps - 1]).sparse() is not None  # the longest that fits
    long = ipd.Stimuli(torch.zeros(2), spikes)
    assert long.sparse() is None
    model = Decoder(6, 3, 2, make_backend("fused"), get_readout("mean"), LIFParameters(0.9, 0.5, 5.0), "fan-in",
                    [torch.Generator().manual_seed(1)])  # fmt: skip
    index = torch.tensor([[1, 0]])
    with torch.no_grad():
        out = ipd.InputCurrents(RunConfig(backend="fused", hidden=3), [long]).network(model, index)
        want = model(spikes[index[0]].unsqueeze(0).float())
    assert want.hidden_spikes.sum() > 0
    assert torch.equal(out.trace, want.trace)


#: Training settings the IPD study passes to the training loop, each changed from its default.
TRAINING_CHANGES = dict(lr_schedule="cosine", weight_decay=0.1, grad_clip=1e-3, ema=0.5)


def test_each_training_setting_changes_what_an_ipd_run_learns(tiny_ipd):
    """Each of --lr-schedule, --weight-decay, --grad-clip and --ema reaches the training: it changes
    the trained weights; the cosine schedule's learning rates are recorded per epoch."""
    from snnsim.training import epoch_lr

    cfg = RunConfig(**{**tiny_ipd, "epochs": 3})
    base = run(cfg, progress=False)
    for name, value in TRAINING_CHANGES.items():
        other = run(cfg.replace(**{name: value}), progress=False)
        assert not np.array_equal(base.w1.values, other.w1.values), name
    cosine = cfg.replace(lr_schedule="cosine")
    np.testing.assert_allclose(run(cosine, progress=False).lr_curve.values[0], [epoch_lr(cosine, e) for e in range(3)])


def test_an_ipd_run_stops_each_repeat_after_patience_epochs_without_a_better_validation_accuracy(tiny_ipd):
    """--patience 1: a repeat trains until the first epoch whose validation accuracy is no better
    than its best so far, and no further (its curve is NaN after it); the kept weights are the best
    epoch's, whose accuracy is the result's val_acc."""
    cfg = RunConfig(**{**tiny_ipd, "epochs": 6, "n_val_batches": 1, "patience": 1, "repeats": 4, "lr": 0.003})
    from early_stopping import check_patience_one

    ds = run(cfg, progress=False)
    stopped, bests = check_patience_one(ds.val_acc_curve.values, ds.best_epoch.values)
    assert list(ds.val_acc.values) == bests  # the kept weights are the best epoch's
    assert stopped  # at least one repeat stopped early: the rule was put to the test


def test_the_epoch_loss_is_the_mean_over_samples_whatever_the_batch_size(tiny_ipd):
    """The training loss of an epoch is the mean cross-entropy per sample: the same 128 samples in
    8 batches of 16 or 2 batches of 64, with weights that barely move (--lr 1e-9), give the same
    loss; a sum over batches, or a division by the samples, would differ by the batch size. Its
    scale is a cross-entropy's over 12 classes: near ln 12 for a network that has not learned."""
    cfg = RunConfig(**{**tiny_ipd, "epochs": 1, "lr": 1e-9, "batch_size": 16, "n_train_batches": 8})
    small = run(cfg, progress=False).loss.values
    large = run(cfg.replace(batch_size=64, n_train_batches=2), progress=False).loss.values
    np.testing.assert_allclose(small, large, rtol=1e-5)
    assert 0.5 * np.log(12) < small.item() < 3 * np.log(12), small
