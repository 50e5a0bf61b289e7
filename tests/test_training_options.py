"""Training options shared by the studies (weight decay, learning-rate schedule, per-model gradient
clipping, BMI input noise): golden values, a plain reference for the clipping, and the standards
that hold for every run: same config and seed give the same numbers, and a batched model's
numbers equal its models trained alone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnsim import runner
from snnsim.config import RunConfig
from snnsim.errors import ConfigError
from snnsim.training import clip_gradients, epoch_lr, make_optimiser


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


def test_clipping_off_leaves_gradients():
    model = torch.nn.Linear(2, 2)
    model.weight.grad = torch.full((2, 2), 100.0)
    clip_gradients(model, 2, 0.0)
    assert (model.weight.grad == 100.0).all()


@pytest.mark.parametrize("flag", ["--weight-decay", "--grad-clip", "--input-noise"])
@pytest.mark.parametrize("value", ["-1", "nan", "x"])
def test_bad_amounts_are_one_line(flag, value, capsys):
    from snnsim.run import main

    study = ["--study", "bmi"] if flag == "--input-noise" else []
    assert main([*study, flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: {flag}: must be a finite number >= 0")


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
               lr_schedule="cosine")  # fmt: skip
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(batch_repeats=False), progress=False)
    for name in ("y_pred", "loss", "w1", "readout_weights", "test_fvaf"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    np.testing.assert_allclose(a["lr_curve"].values[0], [epoch_lr(cfg, e) for e in range(3)])
    plain = runner.run(_bmi(bmi_path, readout="weighted", lr_schedule="cosine"), progress=False)
    for option in (dict(weight_decay=1e-3), dict(grad_clip=0.01), dict(input_noise=0.3)):
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
