"""Each library backend's model-space layer equals the reference equations
(:func:`snnsim.functional.cell.cell_sequence`): spikes, membranes and the gradients of the
inputs, the learned decays and the recurrent weights (float64); and a whole model-space
:class:`~snnsim.network.Decoder` equals the same network composed from the references, with
a batched model equal to its models alone."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnsim import runner
from snnsim.backends import MODEL_SPACE, make_backend
from snnsim.config import RunConfig
from snnsim.functional.cell import CellOptions, cell_sequence
from snnsim.functional.delay import delay
from snnsim.functional.lif import LIFParameters, li_sequence, lif_sequence
from snnsim.network import Architecture, Decoder
from snnsim.readouts import get_readout

P = LIFParameters(alpha=0.6, v_th=1.0, slope=5.0, neuron="standard")
M, B, T, N = 2, 3, 25, 6

CASES = list(itertools.product([False, True], repeat=4))  # (synaptic, adaptive, recurrent, learned decays)


def _case_id(case):
    names = ("syn", "adapt", "rec", "learn")
    return "+".join(n for n, on in zip(names, case) if on) or "lif"


@pytest.mark.parametrize("backend", ["snntorch", "norse", "fused"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_backend_cell_matches_the_reference(backend, case):
    syn, adapt, rec, learn = case
    if adapt and backend not in MODEL_SPACE["tau_adapt"]:
        with pytest.raises(ValueError, match="norse"):
            make_backend(backend).cell(torch.zeros(1, 1, 2, 1), P, CellOptions(0.0, 0.9, 0.3))
        return
    if backend == "fused" and (syn or rec or learn):  # the kernels carry the adaptive threshold only
        opts = CellOptions(0.7 if syn else 0.0, 0.0, 0.0)
        alpha = torch.full((1, 1, 1), 0.5) if learn else None
        recurrent = torch.zeros(1, 1, 1) if rec else None
        with pytest.raises(ValueError, match="adaptive threshold"):
            make_backend(backend).cell(torch.zeros(1, 1, 2, 1), P, opts, alpha, recurrent)
        assert not any(backend in MODEL_SPACE[name] for name in ("tau_syn", "recurrent", "learn_tau"))
        return
    g = torch.Generator().manual_seed(sum(case) + 10 * learn)
    scale = 0.4 if syn else 1.3  # a synaptic current sums about 1/(1 - 0.7) steps of input
    h = (torch.rand(M, B, T, N, generator=g, dtype=torch.float64) * scale).requires_grad_()
    opts = CellOptions(0.7 if syn else 0.0, 0.9 if adapt else 0.0, 0.3 if adapt else 0.0)
    v_rec = (torch.rand(M, N, N, generator=g, dtype=torch.float64) - 0.5).requires_grad_() if rec else None
    alpha = (torch.rand(M, 1, N, generator=g, dtype=torch.float64) * 0.9).requires_grad_() if learn else None
    weights = torch.rand(M, B, T, N, generator=g, dtype=torch.float64)
    leaves = [t for t in (h, v_rec, alpha) if t is not None]

    def run(fn):
        s, v = fn(h, P, opts, alpha, v_rec)
        return s, v, torch.autograd.grad((s * weights).sum() + (v * v * weights).sum(), leaves)

    s_ref, v_ref, g_ref = run(cell_sequence)
    s, v, grads = run(make_backend(backend).cell)
    assert 0 < s_ref.sum() < s_ref.numel() / 2, "the case must exercise spikes and silence"
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref, rtol=1e-10, atol=1e-12)
    for got, want in zip(grads, g_ref):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("backend", ["snntorch", "norse", "fused"])
@settings(max_examples=10, deadline=None)
@given(
    v_th=st.floats(0.05, 4.0),
    slope=st.floats(0.5, 20.0),
    alpha=st.floats(0.05, 0.99),
    neuron=st.sampled_from(["notebook", "standard"]),
    options=st.tuples(st.sampled_from([0.0, 0.6]), st.booleans(), st.booleans(), st.booleans()),
    seed=st.integers(0, 2**16),
)
def test_every_layer_equals_the_reference_at_any_threshold_and_slope(backend, v_th, slope, alpha, neuron, options,
                                                                     seed):  # fmt: skip
    """``--threshold`` and ``--surrogate-slope`` other than 1 and 5: each backend's LIF layer, leaky
    integrator and model-space layer (synaptic current, adaptive threshold, recurrence, learned
    decays: those it carries) equal the references (float64): spikes, membranes and the gradients
    of the inputs, recurrent weights and decays (a threshold or slope rounded to float32 shifts them)."""
    syn, adapt, rec, learn = options
    p = LIFParameters(alpha=alpha, v_th=v_th, slope=slope, neuron=neuron)
    g = torch.Generator().manual_seed(seed)
    h = (torch.rand(2, 2, 16, 5, generator=g, dtype=torch.float64) * 0.8 * v_th * (1 - alpha)
         + torch.rand(2, 2, 1, 5, generator=g, dtype=torch.float64) * 0.6 * v_th).requires_grad_()  # fmt: skip
    gs, gv = (torch.randn(h.shape, generator=g, dtype=torch.float64) for _ in range(2))
    v_rec = ((torch.rand(2, 5, 5, generator=g, dtype=torch.float64) - 0.5) * v_th).requires_grad_() if rec else None
    decays = (torch.rand(2, 1, 5, generator=g, dtype=torch.float64) * 0.95).requires_grad_() if learn else None
    layer = make_backend(backend)
    cases = [(layer.lif, lif_sequence, [h]), (lambda x, q: (x.new_zeros(()), layer.li(x, q)),
                                              lambda x, q: (x.new_zeros(()), li_sequence(x, q)), [h])]  # fmt: skip
    opts = CellOptions(syn, 0.9 if adapt else 0.0, 0.4 * v_th if adapt else 0.0)
    carried = all(backend in MODEL_SPACE[name] for name, on in
                  (("tau_syn", syn), ("tau_adapt", adapt), ("recurrent", rec), ("learn_tau", learn)) if on)  # fmt: skip
    if neuron == "standard" and carried:
        cases.append((lambda x, q: layer.cell(x, q, opts, decays, v_rec),
                      lambda x, q: cell_sequence(x, q, opts, decays, v_rec),
                      [t for t in (h, v_rec, decays) if t is not None]))  # fmt: skip
    for run, reference, leaves in cases:
        s, v = run(h, p)
        s_ref, v_ref = reference(h, p)
        grads, grads_ref = (torch.autograd.grad((a * gs).sum() + (b * gv).sum(), leaves)
                            for a, b in ((s, v), (s_ref, v_ref)))  # fmt: skip
        assert torch.equal(s, s_ref)
        torch.testing.assert_close(v, v_ref, rtol=1e-10, atol=1e-12)
        for got, want in zip(grads, grads_ref):  # recurrent gradients can grow to 1e6 and cancel: to their scale
            torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10 * (1 + want.abs().max().item()))


def _arch():
    return Architecture((7, 5), CellOptions(0.5, 0.0, 0.0), recurrent=True, learn_tau=True, delays="learned",
                        max_delay=4)  # fmt: skip


def _decoder(backend, n_models, seed0=0):
    gens = [torch.Generator().manual_seed(seed0 + m) for m in range(n_models)]
    return Decoder(10, 7, 4, make_backend(backend), get_readout("mean"), P, "notebook", gens, _arch()).double()


def _reference(model, x, layers=None, spiking=False):
    """The same network from the plain references: delays, the cells, the hidden-to-hidden
    product, the LI output (``spiking``: a LIF output) and the mean readout (each hidden layer's
    spikes appended to ``layers``, when given); the options the model does not have are left out."""
    arch = model.arch
    if model.delays is not None:
        x = delay(x, model.delays, arch.max_delay)
    h, s = torch.matmul(x, model.w1.unsqueeze(1)), None
    for k in range(len(arch.hidden)):
        if k:
            h = torch.matmul(s, model.hidden_weights[k - 1].unsqueeze(1))
        alpha = model.decays[k].clamp(0, 0.999) if arch.learn_tau else None
        s, _ = cell_sequence(h, P, arch.cell, alpha, model.recurrent_weights[k] if arch.recurrent else None)
        if layers is not None:
            layers.append(s)
    h2 = torch.matmul(s, model.w2.unsqueeze(1))
    return (lif_sequence(h2, P)[0] if spiking else li_sequence(h2, P)).mean(-2)


@pytest.mark.parametrize("backend", ["snntorch", "norse"])
def test_model_space_decoder_matches_the_composed_reference_and_batches(backend):
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(2, 4, 30, 10, generator=g, dtype=torch.float64) < 0.5).double()
    model = _decoder(backend, 2)
    with torch.no_grad():
        model.w1.mul_(3.0)
    out = model(x)
    assert out.hidden_spikes.shape == (2, 4, 30, 12) and out.hidden_spikes.sum() > 0
    logits = model.read(out)
    ref = _reference(model, x)
    torch.testing.assert_close(logits, ref, rtol=1e-10, atol=1e-12)
    grads = torch.autograd.grad(logits.pow(2).sum(), [model.delays, model.decays[0], model.recurrent_weights[1]])
    grads_ref = torch.autograd.grad(ref.pow(2).sum(), [model.delays, model.decays[0], model.recurrent_weights[1]])
    for got, want in zip(grads, grads_ref):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)
    alone = _decoder(backend, 1, seed0=1)  # model 1 alone: the same initial parameters, the same numbers
    with torch.no_grad():
        alone.w1.mul_(3.0)
    for a, b in zip(alone.parameters(), model.parameters()):
        assert torch.equal(a[0], b[1])
    assert torch.equal(alone.read(alone(x[1:])), logits[1:].detach())


@pytest.mark.parametrize(
    "backend,arch,readout",
    [
        ("snntorch", Architecture((7, 5), CellOptions(0.5, 0.0, 0.0), learn_tau=True, delays="fixed", max_delay=3),
         "fr"),
        ("norse", Architecture((7, 5), CellOptions(0.5, 0.9, 0.3), recurrent=True, delays="fixed", max_delay=3), "fr"),
        ("norse", Architecture((7,), CellOptions(0.0, 0.9, 0.3), learn_tau=True, delays="learned", max_delay=2),
         "mean"),
        ("fused", Architecture((7, 5)), "fr"),
        ("fused", Architecture((7, 5)), "mean"),
    ],
    ids=["snntorch-fixed-delays-fr", "norse-adaptive-layers-fr", "norse-adaptive-learned", "fused-layers-fr",
         "fused-layers-mean"],
)  # fmt: skip
def test_decoder_options_match_the_composed_reference(backend, arch, readout):
    """Combinations the test above leaves out, each as the CLI runs it: fixed delays, the adaptive
    threshold in a model-space network (Norse), several plain layers (fused), a spiking output
    (``fr``) after the model-space layers: logits and the gradients of every trained tensor (float64)."""
    gens = [torch.Generator().manual_seed(m) for m in range(2)]
    model = Decoder(10, 7, 4, make_backend(backend), get_readout(readout), P, "notebook", gens, arch).double()
    x = (torch.rand(2, 4, 30, 10, generator=torch.Generator().manual_seed(6), dtype=torch.float64) < 0.5).double()
    with torch.no_grad():
        model.w1.mul_(3.0)
        model.w2.mul_(4.0)
        for w in model.hidden_weights:
            w.mul_(3.0)
    logits = model.read(model(x))
    layers = []
    ref = _reference(model, x, layers, spiking=readout == "fr")
    for s in layers:
        assert 0 < s.sum() < s.numel() / 2, "every layer must spike and stay silent in places"
    assert ref.abs().sum() > 0
    torch.testing.assert_close(logits, ref, rtol=1e-10, atol=1e-12)
    leaves = list(model.parameters())
    grads = torch.autograd.grad(logits.pow(2).sum(), leaves)
    for got, want in zip(grads, torch.autograd.grad(ref.pow(2).sum(), leaves)):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def test_fused_several_hidden_layers_match_the_composed_reference():
    """The fused backend's several hidden layers (compiled adaptive layers, torch's products
    between them) equal the reference network, values and gradients (float64)."""
    arch = Architecture((7, 5), CellOptions(0.0, 0.9, 0.3))
    gens = [torch.Generator().manual_seed(m) for m in range(2)]
    model = Decoder(10, 7, 4, make_backend("fused"), get_readout("mean"), P, "notebook", gens, arch).double()
    x = (torch.rand(2, 4, 30, 10, generator=torch.Generator().manual_seed(5), dtype=torch.float64) < 0.5).double()
    with torch.no_grad():
        model.w1.mul_(3.0)
        model.hidden_weights[0].mul_(3.0)
    logits = model.read(model(x))
    layers = []
    ref = _reference(model, x, layers)
    for s in layers:
        assert 0 < s.sum() < s.numel() / 2, "every layer must spike and stay silent in places"
    torch.testing.assert_close(logits, ref, rtol=1e-10, atol=1e-12)
    leaves = [model.w1, model.hidden_weights[0], model.w2]
    grads = torch.autograd.grad(logits.pow(2).sum(), leaves)
    for got, want in zip(grads, torch.autograd.grad(ref.pow(2).sum(), leaves)):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


def test_fused_several_hidden_layers_ipd_run_equals_norse():
    """A short IPD training with two adaptive hidden layers: the fused backend (sparse input
    sums, compiled layers) and Norse's LSNN steps give the same loss curve (float32: to rounding)."""
    cfg = RunConfig(neuron="standard", backend="fused", tau="2ms", tau_adapt="20ms", epochs=2, n_train_batches=3,
                    n_test_batches=1, batch_size=16, hidden="12,8")  # fmt: skip
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(backend="norse"), progress=False)
    one = runner.run(cfg.replace(hidden=12), progress=False)
    np.testing.assert_allclose(a["loss"].values, b["loss"].values, rtol=1e-4)
    assert a["w_hidden1"].shape == (1, 12, 8) and a["w2"].shape == (1, 8, 12)
    np.testing.assert_allclose(a["w_hidden1"].values, b["w_hidden1"].values, rtol=1e-3, atol=1e-5)
    assert not np.allclose(a["loss"].values, one["loss"].values, rtol=1e-3), "the second layer must change the run"


@pytest.mark.parametrize("study", ["ipd", "bmi"])
def test_fused_rate_regularisation_run_equals_snntorch(study, bmi_path):
    """--rate-reg on the fused backend (the hidden spikes' records with their gradient) gives the
    snntorch backend's training to rounding, and a training other than without the penalty."""
    common = dict(backend="fused", tau="2ms", epochs=2, batch_size=16, rate_reg=2.0, rate_target=40.0)
    if study == "ipd":
        cfg = RunConfig(n_train_batches=3, n_test_batches=1, hidden=12, **common)
    else:
        cfg = RunConfig(study="bmi", data=bmi_path, n_train_folds=2, hidden=12, readout="last", **common)
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(backend="snntorch"), progress=False)
    plain = runner.run(cfg.replace(rate_reg=0.0, rate_target=10.0), progress=False)
    np.testing.assert_allclose(a["loss"].values, b["loss"].values, rtol=1e-4)
    np.testing.assert_allclose(a["w1"].values, b["w1"].values, rtol=1e-3, atol=1e-5)
    assert not np.allclose(a["w1"].values, plain["w1"].values, rtol=1e-3), "the penalty must change the training"


@pytest.mark.parametrize("backend", ["reference", "snntorch", "norse"])
def test_recurrent_layer_gradients_of_a_model_batched_equal_alone(backend):
    """Float32, 7 samples x 5 neurons: model 1's slices of the batched tensors start at addresses
    that are not aligned, and its numbers (forward and every gradient) are still those it has alone."""
    layer = cell_sequence if backend == "reference" else make_backend(backend).cell
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a run (snnsim.threads)
    try:
        for seed in range(3):
            g = torch.Generator().manual_seed(seed)
            h0 = torch.randn(2, 7, 9, 5, generator=g) * 1.5
            r0 = torch.randn(2, 5, 5, generator=g) * 0.5
            w = torch.randn(2, 7, 9, 5, generator=g)
            h, r = h0.clone().requires_grad_(True), r0.clone().requires_grad_(True)
            s, v = layer(h, P, CellOptions(), None, r)
            gh, gr = torch.autograd.grad((s * w).sum() + v.sum(), (h, r))
            assert s.sum() > 0 and gr.abs().sum() > 0
            h1, r1 = h0[1:].clone().requires_grad_(True), r0[1:].clone().requires_grad_(True)
            s1, v1 = layer(h1, P, CellOptions(), None, r1)
            gh1, gr1 = torch.autograd.grad((s1 * w[1:]).sum() + v1.sum(), (h1, r1))
            assert torch.equal(s1, s[1:].detach()) and torch.equal(v1, v[1:].detach())
            assert torch.equal(gh1, gh[1:]) and torch.equal(gr1, gr[1:]), seed
    finally:
        torch.set_num_threads(before)
