"""Training options shared by the studies (weight decay, learning-rate schedule, per-model gradient
clipping, the weight average, BMI input noise): golden values, a plain reference for the clipping, and the standards
that hold for every run: same config and seed give the same numbers, and a batched model's
numbers equal its models trained alone."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnsim import runner
from snnsim.config import RunConfig
from snnsim.errors import ConfigError
from snnsim.training import WeightAverage, clip_gradients, epoch_lr, make_optimiser


def test_cosine_schedule_golden_values():
    cfg = RunConfig(lr=0.01, epochs=4, lr_schedule="cosine")
    # lr * (1 + cos(pi * e / 4)) / 2 for e = 0..3, by hand
    assert [epoch_lr(cfg, e) for e in range(4)] == pytest.approx([0.01, 0.0085355339, 0.005, 0.0014644661])
    assert [epoch_lr(cfg.replace(lr_schedule="constant"), e) for e in range(4)] == [0.01] * 4


@settings(max_examples=25, deadline=None)
@given(
    max_norm=st.floats(0.01, 10.0),
    scales=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=4),
)
def test_clipping_equals_torch_per_model(max_norm, scales):
    """Each model's slice is clipped as ``torch.nn.utils.clip_grad_norm_`` clips that model alone."""
    m = len(scales)
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Module()
    model.a = torch.nn.Parameter(torch.zeros(m, 3, 4))
    model.b = torch.nn.Parameter(torch.zeros(m, 1, 2))
    model.a.grad = torch.randn(m, 3, 4, generator=g) * torch.tensor(scales)[:, None, None]
    model.b.grad = torch.randn(m, 1, 2, generator=g)
    expected = []
    for k in range(m):
        a, b = model.a.grad[k].clone().requires_grad_(), model.b.grad[k].clone().requires_grad_()
        a.grad, b.grad = a.detach().clone(), b.detach().clone()
        torch.nn.utils.clip_grad_norm_([a, b], max_norm)
        expected.append((a.grad, b.grad))
    clip_gradients(model, m, max_norm)
    for k, (a, b) in enumerate(expected):
        torch.testing.assert_close(model.a.grad[k], a, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(model.b.grad[k], b, rtol=1e-5, atol=1e-7)
        norm = math.sqrt(model.a.grad[k].pow(2).sum() + model.b.grad[k].pow(2).sum())
        assert norm <= max_norm * (1 + 1e-5)


@pytest.mark.parametrize("n", [1, 23, 30, 69, 360])
def test_optimiser_updates_a_model_alike_batched_and_alone(n):
    """The middle model of a batched parameter gets the update it gets alone, whatever the size of
    its slice (torch's fused CPU Adam did not: its vector part and tail round differently)."""
    g = torch.Generator().manual_seed(n)
    w0 = torch.rand(n, generator=g) * 0.1
    batched = torch.nn.Linear(1, 1)
    batched.w = torch.nn.Parameter(torch.stack([w0 + 1, w0, 2 * w0]))
    alone = torch.nn.Linear(1, 1)
    alone.w = torch.nn.Parameter(w0.clone()[None])
    cfg = RunConfig(lr=0.003, weight_decay=1e-3)
    opt_b, opt_a = make_optimiser(batched, cfg), make_optimiser(alone, cfg)
    for _ in range(100):
        grad = torch.randn(n, generator=g) * 10.0 ** torch.randint(-3, 2, (1,), generator=g).item()
        batched.w.grad, alone.w.grad = torch.stack([3 * grad, grad, 2 * grad]), grad.clone()[None]
        opt_b.step()
        opt_a.step()
    assert torch.equal(batched.w[1], alone.w[0])


def test_weight_decay_is_adams_l2_term_golden():
    """``--weight-decay`` adds wd * w to the gradient before Adam's moments (L2, as the notebook's
    Adam): weights 1, -2 with gradients 0, 0.1 and wd 0.1 give gradients 0.1, -0.1, and Adam's first
    step is lr * g / (|g| + eps) = -/+ 0.01 (by hand): 0.99, -1.99. Without the decay they are 1,
    -2.01; with AdamW's decoupled decay (w * (1 - lr * wd), then Adam's step) 0.999, -2.008."""
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.tensor([[1.0, -2.0]]))
    optimiser = make_optimiser(model, RunConfig(lr=0.01, weight_decay=0.1))
    model.w.grad = torch.tensor([[0.0, 0.1]])
    optimiser.step()
    torch.testing.assert_close(model.w.detach(), torch.tensor([[0.99, -1.99]]), rtol=0, atol=1e-6)


def test_weight_average_golden_values():
    """Decay 0.5 over weights 1, 3, 7: sums 0.5, 0.25 + 1.5 = 1.75, 0.875 + 3.5 = 4.375, divided
    by 1 - 0.5^n = 0.5, 0.75, 0.875: averages 1, 7/3, 5 (by hand). Outside the block the model
    holds its own weights."""
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.25)
    average = WeightAverage(model, 0.5)
    with average.applied():
        assert model.weight.item() == 0.25  # no update yet: the model's own weights
    expected = []
    for w in (1.0, 3.0, 7.0):
        with torch.no_grad():
            model.weight.fill_(w)
        average.update()
        with average.applied():
            expected.append(model.weight.item())
        assert model.weight.item() == w
    assert expected == pytest.approx([1.0, 7 / 3, 5.0], rel=1e-7)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 70), decay=st.floats(0.5, 0.999))
def test_weight_average_of_a_model_alike_batched_and_alone(n, decay):
    """The average of a model's slice of a batched parameter equals its average alone, bit for
    bit, whatever the slice's size and place (no vectorised fused arithmetic), and equals a plain
    float64 reference of the formula to rounding."""
    g = torch.Generator().manual_seed(n)
    batched, alone = torch.nn.Module(), torch.nn.Module()
    batched.w = torch.nn.Parameter(torch.zeros(3, n))
    alone.w = torch.nn.Parameter(torch.zeros(1, n))
    avg_b, avg_a = WeightAverage(batched, decay), WeightAverage(alone, decay)
    history = []
    for _ in range(30):
        w = torch.randn(n, generator=g)
        history.append(w.double())
        with torch.no_grad():
            batched.w.copy_(torch.stack([2 * w, w, w - 1]))
            alone.w.copy_(w[None])
        avg_b.update()
        avg_a.update()
    with avg_b.applied(), avg_a.applied():
        assert torch.equal(batched.w[1], alone.w[0])
        k = len(history)
        reference = sum((1 - decay) * decay ** (k - 1 - i) * w for i, w in enumerate(history)) / (1 - decay**k)
        torch.testing.assert_close(alone.w[0].double(), reference, rtol=1e-6, atol=1e-6)


def test_weight_average_is_summed_in_float64():
    """The average is kept in float64: after 300 updates of weights near 1e4 at decay 0.99, the
    float32 weights it gives are the float64 formula's value rounded to float32 (within an ulp,
    2**-23 relative). Sums kept in float32 drift by several ulps."""
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(1, 64))
    average = WeightAverage(model, 0.99)
    history = []
    for _ in range(300):
        w = 1e4 + 100 * torch.randn(64, generator=g)
        history.append(w.double())
        with torch.no_grad():
            model.w.copy_(w[None])
        average.update()
    k = len(history)
    reference = sum((1 - 0.99) * 0.99 ** (k - 1 - i) * w for i, w in enumerate(history)) / (1 - 0.99**k)
    with average.applied():
        torch.testing.assert_close(model.w[0].double(), reference, rtol=2**-23, atol=0)


class _Steps:
    """A trainer whose mini-batches set the weights of its 2 models to given values (model 1:
    twice model 0's) and whose validation score is the weight the model holds then."""

    n_batches = 2

    def __init__(self, model, values, validate):
        self.model, self.values, self.scores = model, iter(values), validate

    def epoch(self, on_batch):
        for _ in range(self.n_batches):
            with torch.no_grad():
                self.model.w.copy_(torch.tensor([[1.0], [2.0]]) * next(self.values))
            on_batch()
        return np.zeros(2)

    def validate(self):
        return self.model.w[:, 0].detach().numpy().copy() if self.scores else None

    def hidden_rate_hz(self):
        return None


@pytest.mark.parametrize("validate", [True, False])
def test_fit_validates_and_keeps_the_averaged_weights(validate):
    """Weights 1, 3 (epoch 1) then 7, 15 (epoch 2) at decay 0.5: the averages after the epochs
    are 7/3 and 9.6875 / 0.9375 = 31/3 (by hand). Validation sees them, not the last weights, and
    the fit ends with the average (the best epoch's with validation: the second here)."""
    from snnsim.training import FitOptions, fit_epochs

    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2, 1))
    trainer = _Steps(model, [1.0, 3.0, 7.0, 15.0], validate)
    training = fit_epochs(model, trainer, 2, 2, 5, "", FitOptions(progress=False), average=0.5)
    np.testing.assert_allclose(model.w[:, 0].detach().numpy(), [31 / 3, 62 / 3], rtol=1e-6)
    if validate:
        np.testing.assert_allclose(training.val_curve, [[7 / 3, 31 / 3], [14 / 3, 62 / 3]], rtol=1e-6)
        assert list(training.best_epoch) == [2, 2]
    else:
        assert training.val_curve is None


class _Scripted:
    """A trainer of 2 models whose epoch k (1-based) sets both models' weight to k, with training
    loss 10 - k, and whose validation scores are given per epoch."""

    n_batches = 1

    def __init__(self, model, scores):
        self.model, self.scores, self.epochs = model, iter(scores), 0

    def epoch(self, on_batch):
        self.epochs += 1
        with torch.no_grad():
            self.model.w.fill_(float(self.epochs))
        on_batch()
        return np.full(2, 10.0 - self.epochs)

    def validate(self):
        return np.array(next(self.scores), dtype=float)

    def hidden_rate_hz(self):
        return None


def test_early_stopping_keeps_each_models_best_epoch_and_stops_after_patience_epochs():
    """Patience 2, by hand. Model 0 scores 1, 3, 3, 2: epoch 2 is its best (a tie is no new best),
    and after epochs 3 and 4 without a new best it stops, its curves NaN from epoch 5; model 1
    improves every epoch and trains on. Each ends with its best epoch's weights. When no model
    improves for 2 epochs the fit ends there."""
    from snnsim.training import FitOptions, fit_epochs

    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2, 1))
    trainer = _Scripted(model, [(1, 1), (3, 2), (3, 3), (2, 4), (9, 5), (9, 6)])
    training = fit_epochs(model, trainer, 2, 6, 2, "", FitOptions(progress=False))
    nan = np.nan
    assert trainer.epochs == 6 and list(training.best_epoch) == [2, 6]
    np.testing.assert_array_equal(training.val_curve, [[1, 3, 3, 2, nan, nan], [1, 2, 3, 4, 5, 6]])
    np.testing.assert_array_equal(training.loss, [[9, 8, 7, 6, nan, nan], [9, 8, 7, 6, 5, 4]])
    np.testing.assert_array_equal(model.w[:, 0].detach().numpy(), [2, 6])

    model.w.data.zero_()
    trainer = _Scripted(model, [(1, 1), (3, 2), (2, 2), (3, 1), (9, 9), (9, 9)])
    training = fit_epochs(model, trainer, 2, 6, 2, "", FitOptions(progress=False))
    assert trainer.epochs == 4 and list(training.best_epoch) == [2, 2]
    np.testing.assert_array_equal(training.val_curve[:, 4:], np.full((2, 2), nan))
    np.testing.assert_array_equal(model.w[:, 0].detach().numpy(), [2, 2])


def test_hooks_see_which_models_each_epoch_trained():
    """The early-stopping scores above (patience 2): model 0 stops after epoch 4, so the records of
    epochs 5 and 6 given to the hooks say it did not train them (a monitor leaves it out there)."""
    from snnsim.training import FitOptions, fit_epochs

    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2, 1))
    seen = []
    trainer = _Scripted(model, [(1, 1), (3, 2), (3, 3), (2, 4), (9, 5), (9, 6)])
    fit_epochs(model, trainer, 2, 6, 2, "", FitOptions(progress=False, hooks=[lambda r: seen.append(r.tracked)]))
    assert [list(t) for t in seen] == [[True, True]] * 4 + [[False, True]] * 2


class _Resumable(_Scripted):
    """:class:`_Scripted` that a checkpoint can hold (it has no state besides its epoch count)."""

    def state_dict(self):
        return {"epochs": self.epochs}

    def load_state_dict(self, state):
        self.epochs = state["epochs"]


def test_a_fit_resumed_after_every_model_stopped_early_trains_no_more_epochs(tmp_path):
    """Patience 1: both models score their best in epoch 1, so both stop after epoch 2 and the
    checkpoint of epoch 2 holds no tracked model. A fit resumed from it (a stop after the last
    checkpoint, before the result was written) trains no epoch more and keeps epoch 1's weights."""
    from snnsim.training import FitOptions, fit_epochs

    def fit(trainer):
        model.w.data.zero_()
        return fit_epochs(model, trainer, 2, 5, 1, "", FitOptions(progress=False, checkpoint=tmp_path / "c.pt"))

    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2, 1))
    first = fit(_Resumable(model, [(2, 2), (1, 1)]))
    again = _Resumable(model, [(9, 9)] * 3)
    resumed = fit(again)
    assert resumed.resumed_from == 2 and again.epochs == 2  # none trained after the checkpoint's
    np.testing.assert_array_equal(resumed.loss, first.loss)
    np.testing.assert_array_equal(model.w[:, 0].detach().numpy(), [1, 1])


def test_a_learning_rate_too_small_for_small_gradients_is_refused():
    """Gradients of 1e-5 are well above Adam's eps (1e-8): its steps are full steps of about the
    learning rate, 1e-12, which is below float32's resolution of a weight of 1, so no weight moves.
    That is refused after epoch 1, as for large gradients (a small gradient does not hide it)."""
    from snnsim.errors import DivergedError
    from snnsim.training import FitOptions, fit_epochs

    class Small(_Scripted):
        def __init__(self, model):
            super().__init__(model, [])
            self.optimiser = torch.optim.Adam([model.w], lr=1e-12)

        def epoch(self, on_batch):
            self.optimiser.zero_grad()
            (1e-5 * self.model.w.sum()).backward()
            self.optimiser.step()
            on_batch()
            return np.zeros(2)

        def validate(self):
            return None

    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.ones(2, 1))
    with pytest.raises(DivergedError, match="did not train in epoch 1"):
        fit_epochs(model, Small(model), 2, 2, 5, "", FitOptions(progress=False))


class _Scheduled(_Scripted):
    """:class:`_Scripted` with an optimiser whose learning rate each epoch records as it trains."""

    def __init__(self, model, scores):
        super().__init__(model, scores)
        self.optimiser = torch.optim.SGD([model.w], lr=1.0)
        self.seen = []

    def epoch(self, on_batch):
        self.seen.append(self.optimiser.param_groups[0]["lr"])
        return super().epoch(on_batch)


def test_each_epoch_trains_at_the_learning_rate_of_its_own_index():
    """``lr_at`` is given each epoch's 0-based index before the epoch trains: lr 0.1, 0.2, 0.3
    for lr_at(e) = 0.1 * (e + 1), seen by the trainer and recorded (by hand). The cosine schedule's
    first epoch is at the full ``--lr`` only so."""
    from snnsim.training import FitOptions, fit_epochs

    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2, 1))
    trainer = _Scheduled(model, [(1, 1), (2, 2), (3, 3)])
    training = fit_epochs(model, trainer, 2, 3, 5, "", FitOptions(progress=False), lr_at=lambda e: 0.1 * (e + 1))
    assert trainer.seen == pytest.approx([0.1, 0.2, 0.3])
    np.testing.assert_allclose(training.lr, [0.1, 0.2, 0.3])


class _Firing(_Scheduled):
    """:class:`_Scheduled` whose hidden rates in epoch k are 10 k Hz (model 0) and 20 k Hz (model 1)."""

    def hidden_rate_hz(self):
        return np.array([10.0, 20.0]) * self.epochs


def test_a_model_stopped_early_has_no_rate_nor_learning_rate_after_its_stop():
    """The scores of the early-stopping test above (patience 2): model 0 stops after epoch 4, model 1
    trains 6 epochs. Model 0's hidden rate and learning rate are those of its 4 epochs, then NaN,
    as if it had been trained alone (by hand); model 1's go on."""
    from snnsim.training import FitOptions, fit_epochs

    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2, 1))
    trainer = _Firing(model, [(1, 1), (3, 2), (3, 3), (2, 4), (9, 5), (9, 6)])
    training = fit_epochs(model, trainer, 2, 6, 2, "", FitOptions(progress=False), lr_at=lambda e: 0.5)
    nan = np.nan
    np.testing.assert_array_equal(training.hidden_rate, [[10, 20, 30, 40, nan, nan], [20, 40, 60, 80, 100, 120]])
    np.testing.assert_array_equal(training.lr_of(0), [0.5, 0.5, 0.5, 0.5, nan, nan])
    np.testing.assert_array_equal(training.lr_of(1), [0.5] * 6)


def test_clipping_a_gradient_whose_square_overflows_float32():
    """The norm is summed in float64: a float32 gradient (3e20, 4e20), whose squares are past
    float32's range, has norm 5e20 and is clipped to (0.6, 0.8) at --grad-clip 1 (by hand); a norm
    summed in float32 is inf, and the step's gradient became 0. The other model is left alone."""
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2, 2))
    model.w.grad = torch.tensor([[3e20, 4e20], [0.3, 0.4]])
    clip_gradients(model, 2, 1.0)
    torch.testing.assert_close(model.w.grad, torch.tensor([[0.6, 0.8], [0.3, 0.4]]))


def test_clipping_off_leaves_gradients():
    model = torch.nn.Linear(2, 2)
    model.weight.grad = torch.full((2, 2), 100.0)
    clip_gradients(model, 2, 0.0)
    assert (model.weight.grad == 100.0).all()


@pytest.mark.parametrize("flag", ["--weight-decay", "--grad-clip", "--input-noise", "--ema"])
@pytest.mark.parametrize("value", ["-1", "nan", "x", "1e39"])
def test_bad_amounts_are_one_line(flag, value, capsys):
    """1e39: past float32, which torch's optimiser cannot multiply by (a traceback from Adam)."""
    from snnsim.run import main

    study = ["--study", "bmi"] if flag == "--input-noise" else []
    assert main([*study, flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: {flag}: must be a number in 0..3.4e+38 (0: off")


def test_integers_past_floats_range_in_a_config_file_are_one_line(tmp_path, capsys):
    from snnsim.run import main

    toml = tmp_path / "c.toml"
    for key, line in [("lr", "lr: must be a finite number > 0 and <= 3.40282e+37, got an integer of 401 digits"),
                      ("weight_decay", "weight_decay: must be a number in 0..3.4e+38"),
                      ("tau", "tau: duration must be finite, got an integer of 401 digits")]:  # fmt: skip
        toml.write_text(f"{key} = 1{'0' * 400}\n")
        assert main(["--config", str(toml), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: --config: {toml}: {line}"), err


@pytest.mark.parametrize("flag", ["--weight-decay", "--grad-clip", "--input-noise", "--ema", "--rate-reg"])
@pytest.mark.parametrize("value", ["0", "0.0"])
def test_zero_turns_an_amount_off_from_the_command_line(flag, value):
    """Every amount's help says "0: off": also when the 0 is a flag's text, not a number."""
    from snnsim.run import build_parser, config_from_args

    def config(*args: str) -> RunConfig:
        return config_from_args(build_parser().parse_args(["--study", "bmi", *args]))

    field = flag[2:].replace("-", "_")
    assert config(flag, value) == dataclasses.replace(config(), **{field: 0.0})


def test_an_average_without_a_past_is_refused(capsys):
    from snnsim.run import main

    assert main(["--ema", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "snnsim.run: error: --ema: must be below 1 (the weight of the average's past per mini-batch), got 1.0"
    ]


def test_input_noise_is_bmi_only():
    with pytest.raises(ConfigError, match="--input-noise: a setting of the bmi study"):
        RunConfig(input_noise=0.1)
    with pytest.raises(ConfigError, match="--readout-units: 2 units per output are summed after the weighted"):
        RunConfig(study="bmi", readout="last", readout_units=2)
    with pytest.raises(ConfigError, match="--readout: weighted learns weights of its own"):
        RunConfig(readout="weighted")


def _bmi(bmi_path: str, **kw) -> RunConfig:
    base = dict(study="bmi", data=bmi_path, backend="fused", hidden=30, epochs=3, batch_size=128, lr=0.003,
                n_train_folds=2, patience=3, repeats=2)  # fmt: skip
    return RunConfig(**{**base, **kw})


def test_bmi_options_reproducible_and_batched(bmi_path):
    """All options at once: the lr curve follows the schedule, the numbers repeat, and two
    repeats trained as one batched model equal them trained one by one (clipping and noise are
    per model)."""
    cfg = _bmi(bmi_path, readout="weighted", readout_units=3, weight_decay=1e-3, grad_clip=0.5, input_noise=0.3,
               lr_schedule="cosine", ema=0.9)  # fmt: skip
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(batch_repeats=False), progress=False)
    for name in ("y_pred", "loss", "w1", "readout_weights", "test_fvaf"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    np.testing.assert_allclose(a["lr_curve"].values[0], [epoch_lr(cfg, e) for e in range(3)])
    plain = runner.run(_bmi(bmi_path, readout="weighted", lr_schedule="cosine"), progress=False)
    for option in (dict(weight_decay=1e-3), dict(grad_clip=0.01), dict(input_noise=0.3), dict(ema=0.9)):
        other = runner.run(_bmi(bmi_path, readout="weighted", lr_schedule="cosine", **option), progress=False)
        assert not np.array_equal(other["w1"].values, plain["w1"].values), option


def test_ipd_fresh_data_per_epoch():
    """With ``fresh_data`` the first epoch trains on the usual training set (same loss as without),
    later epochs on new sets from the model's own streams: batched equals alone, and it differs
    from training on the same set again."""
    cfg = RunConfig(backend="fused", epochs=3, n_train_batches=3, n_test_batches=2, batch_size=32, hidden=16,
                    repeats=2, tau=0.002, fresh_data=True)  # fmt: skip
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(batch_repeats=False), progress=False)
    same = runner.run(cfg.replace(fresh_data=False), progress=False)
    for name in ("w1", "w2", "loss", "test_acc"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    np.testing.assert_array_equal(a["loss"].values[:, 0], same["loss"].values[:, 0])
    assert not np.array_equal(a["loss"].values[:, 1:], same["loss"].values[:, 1:])
    assert a.attrs["config_fresh_data"] in (1, True)
