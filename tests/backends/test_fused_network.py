"""The whole network as one compiled operation equals the layer-by-layer Decoder."""

from __future__ import annotations

import math

import pytest
import torch

from snnsim.backends import _native, fused_network, make_backend, sparse_input
from snnsim.functional.lif import LIFParameters
from snnsim.network import Decoder
from snnsim.readouts import get_readout

NATIVE = _native.library() is not None
pytestmark = pytest.mark.skipif(not NATIVE, reason="no C compiler")


def _case(readout: str, tau: float, dtype: torch.dtype, models: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n_in, n_hidden, n_out, steps, samples, batch = 20, 9, 4, 30, 12, 5
    spikes = torch.rand(models, samples, steps, n_in, generator=g) < 0.3
    data = [sparse_input.SpikeRows(spikes[m]) for m in range(models)]
    index = torch.stack([torch.randperm(samples, generator=g)[:batch] for _ in range(models)])
    params = LIFParameters(alpha=math.exp(-1e-3 / tau), v_th=1.0, slope=5.0)
    gens = [torch.Generator().manual_seed(seed + 10 + m) for m in range(models)]
    model = Decoder(n_in, n_hidden, n_out, make_backend("fused"), get_readout(readout), params, "fan-in", gens)
    with torch.no_grad():  # larger weights than the init, so that the hidden layer spikes
        model.w1.mul_(6.0)
    model = model.to(dtype)
    dense = torch.stack([spikes[m][index[m]] for m in range(models)]).to(dtype)
    upstream = torch.randn(models, batch, steps, n_out, generator=g, dtype=torch.float64).to(dtype)
    return model, data, index, dense, params, upstream


@pytest.mark.parametrize("readout", ["mean", "fr"])
@pytest.mark.parametrize("tau", [0.02, 0.002])
def test_forward_and_gradients_equal_the_decoder_float64(readout, tau):
    model, data, index, dense, params, upstream = _case(readout, tau, torch.float64)
    spiking = get_readout(readout).spiking_output
    fast, counts = fused_network.network(model.w1, model.w2, data, index, params, spiking)
    (fast * upstream).sum().backward()
    g1, g2 = model.w1.grad.clone(), model.w2.grad.clone()
    model.zero_grad()
    records = model(dense)
    slow = records.trace
    torch.testing.assert_close(counts, records.hidden_spike_count())
    (slow * upstream).sum().backward()
    assert fast.shape == slow.shape
    if spiking:
        assert torch.equal(fast, slow)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g1, model.w1.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g2, model.w2.grad, rtol=1e-10, atol=1e-12)
    assert g1.abs().sum() > 0 and g2.abs().sum() > 0  # the case is not vacuous


def test_float32_close_to_the_decoder():
    model, data, index, dense, params, upstream = _case("mean", 0.02, torch.float32)
    fast = fused_network.network(model.w1, model.w2, data, index, params, False)[0]
    (fast * upstream).sum().backward()
    g1 = model.w1.grad.clone()
    model.zero_grad()
    slow = model(dense).trace
    (slow * upstream).sum().backward()
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g1, model.w1.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("threads", ["2", "3"])
def test_the_thread_count_does_not_change_the_numbers(threads, monkeypatch):
    monkeypatch.setattr(_native, "MIN_PARALLEL", 1)  # split even this small case
    results = []
    for t in ("1", threads):
        monkeypatch.setenv("SNNSIM_THREADS", t)
        for models in (1, 3):
            model, data, index, dense, params, upstream = _case("fr", 0.002, torch.float32, models)
            out = fused_network.network(model.w1, model.w2, data, index, params, True)[0]
            (out * upstream).sum().backward()
            results.append((out, model.w1.grad, model.w2.grad))
    for a, b in zip(results[:2], results[2:]):
        for x, y in zip(a, b):
            assert torch.equal(x, y)


@pytest.mark.parametrize("density", [0.0, 0.1, 0.6, 1.0])
def test_spike_product_sums_in_its_stated_order_bit_for_bit(density):
    """``spike_product`` (float32): h[m, r] = sum over active j, increasing, of w[m, j];
    gs[m, r, j] = sum over k, increasing, of gh[m, r, k] w[m, j, k]; gw[m, j] = sum over rows r,
    increasing, with s[m, r, j] active, of gh[m, r]: each equal to plain sequential sums."""
    g = torch.Generator().manual_seed(int(density * 10))
    models, rows, n_hidden, n_out = 2, 23, 9, 5
    s = (torch.rand(models, rows, n_hidden, generator=g) < density).float()
    w = torch.randn(models, n_hidden, n_out, generator=g).requires_grad_()
    gh = torch.randn(models, rows, n_out, generator=g)
    h = fused_network.spike_product(s, w)
    gw = torch.autograd.grad(h, w, gh)[0]
    s2 = s.clone().requires_grad_()
    gs = torch.autograd.grad(fused_network.spike_product(s2, w.detach()), s2, gh)[0]
    w = w.detach()
    want_h, want_gs, want_gw = torch.zeros_like(h), torch.zeros_like(s), torch.zeros_like(w)
    for m in range(models):
        for r in range(rows):
            for j in range(n_hidden):
                if s[m, r, j]:
                    want_h[m, r] = want_h[m, r] + w[m, j]
                    want_gw[m, j] = want_gw[m, j] + gh[m, r]
                for k in range(n_out):
                    want_gs[m, r, j] = want_gs[m, r, j] + gh[m, r, k] * w[m, j, k]
    assert torch.equal(h, want_h) and torch.equal(gw, want_gw) and torch.equal(gs, want_gs)


def test_adaptive_network_equals_the_composed_reference_float64_whatever_the_threads(monkeypatch):
    """The whole-network op with the adaptive threshold (standard neuron): trace and weight
    gradients equal the plain composition (input product, reference cell, output product, the
    standard leaky integrator), in float64; the same numbers with 1 and 2 kernel threads."""
    from snnsim.functional.cell import CellOptions, cell_sequence
    from snnsim.functional.lif import li_sequence

    model, data, index, dense, params, upstream = _case("mean", 0.002, torch.float64)
    params = params._replace(neuron="standard")
    opts = CellOptions(0.0, math.exp(-1 / 20), 0.5)
    monkeypatch.setattr(_native, "MIN_PARALLEL", 1)  # split even this small case
    runs = []
    for threads in ("1", "2"):
        monkeypatch.setenv("SNNSIM_THREADS", threads)
        w1, w2 = model.w1.detach().clone().requires_grad_(), model.w2.detach().clone().requires_grad_()
        trace, counts = fused_network.network(w1, w2, data, index, params, False, opts)
        (trace * upstream).sum().backward()
        runs.append((trace, counts, w1.grad, w2.grad))
    for a, b in zip(*runs):
        assert torch.equal(a, b)
    w1, w2 = model.w1.detach().clone().requires_grad_(), model.w2.detach().clone().requires_grad_()
    s, _ = cell_sequence(torch.matmul(dense, w1.unsqueeze(1)), params, opts)
    plain_s, _ = cell_sequence(torch.matmul(dense, w1.detach().unsqueeze(1)), params, CellOptions())
    ref = li_sequence(torch.matmul(s, w2.unsqueeze(1)), params)
    (ref * upstream).sum().backward()
    trace, counts, g1, g2 = runs[0]
    assert 0 < s.sum() < plain_s.sum(), "the adaptation must act"
    torch.testing.assert_close(counts, s.detach().sum((1, 2, 3)))
    torch.testing.assert_close(trace, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g1, w1.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g2, w2.grad, rtol=1e-10, atol=1e-12)
    assert g1.abs().sum() > 0


def _layers_case(n_hidden: int, batch: int, neuron: str, dtype: torch.dtype, seed: int = 3, n_out: int = 5):
    """Two models with their own data sets, weights large enough that both layers spike."""
    g = torch.Generator().manual_seed(seed)
    models, n_in, steps, samples = 2, 21, 25, batch + 7
    spikes = torch.rand(models, samples, steps, n_in, generator=g) < 0.3
    data = tuple(sparse_input.SpikeRows(spikes[m]) for m in range(models))
    index = torch.stack([torch.randperm(samples, generator=g)[:batch] for _ in range(models)])
    w1 = (torch.randn(models, n_in, n_hidden, generator=g, dtype=torch.float64) * 0.6).to(dtype)
    w2 = (torch.randn(models, n_hidden, n_out, generator=g, dtype=torch.float64) * 0.8).to(dtype)
    params = LIFParameters(alpha=math.exp(-1e-3 / 5e-3), v_th=1.0, slope=5.0, neuron=neuron)
    upstream = torch.randn(models, batch, steps, n_out, generator=g, dtype=torch.float64).to(dtype)
    return w1, w2, data, index, params, upstream


def _run(op, w1, w2, data, index, params, upstream, spiking, *extra):
    w1, w2 = w1.clone().requires_grad_(), w2.clone().requires_grad_()
    trace, counts = op.apply(w1, w2, data, index, params, spiking, *extra)
    if op is fused_network._Network:  # time-major (M, T, B, out)
        trace = trace.transpose(1, 2)
    (trace * upstream).sum().backward()
    return trace.detach(), counts, w1.grad, w2.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("neuron", ["notebook", "standard"])
@pytest.mark.parametrize("spiking", [False, True])
@pytest.mark.parametrize("n_hidden", [9, 40, 70])
def test_per_sample_kernels_equal_the_layer_kernels(n_hidden, spiking, neuron, dtype):
    """The network one sample at a time (``net_fwd`` / ``net_bwd``, several tiles of samples) gives
    the layer-by-layer kernels' trace and spike counts bit for bit, and their weight gradients to
    float rounding (only the grouping of the sums over samples differs)."""
    from snnsim.functional.cell import CellOptions

    # outputs padded to exactly one 64-byte vector: 5 in float64, 12 (IPD's) in float32
    n_out = 12 if n_hidden == 40 else 5
    case = _layers_case(n_hidden, 2 * fused_network.SAMPLES_PER_TILE + 5, neuron, dtype, n_out=n_out)
    fast = _run(fused_network._PerSample, *case, spiking, True)
    slow = _run(fused_network._Network, *case, spiking, CellOptions())
    assert torch.equal(fast[0], slow[0])
    assert torch.equal(fast[1], slow[1])
    assert 0 < fast[1].min() and fast[0].abs().sum() > 0  # both layers active: the case is not vacuous
    tol = {"rtol": 1e-11, "atol": 1e-11} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    for a, b in zip(fast[2:], slow[2:]):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, **tol)


def test_per_sample_kernels_do_not_depend_on_the_thread_count(monkeypatch):
    monkeypatch.setattr(_native, "MIN_PARALLEL", 1)  # split even this small case
    case = _layers_case(30, 3 * fused_network.SAMPLES_PER_TILE + 1, "notebook", torch.float32)
    runs = []
    for threads in ("1", "2", "3"):
        monkeypatch.setenv("SNNSIM_THREADS", threads)
        runs.append(_run(fused_network._PerSample, *case, True, True))
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert torch.equal(a, b)


def test_per_sample_kernels_without_records_refuse_a_backward_pass():
    w1, w2, data, index, params, upstream = _layers_case(9, 4, "notebook", torch.float64)
    w1.requires_grad_()
    trace, _ = fused_network._PerSample.apply(w1, w2, data, index, params, False, False)
    with pytest.raises(RuntimeError, match="without records"):
        trace.sum().backward()


@pytest.mark.parametrize("v_th,slope", [(1.0, 5.0), (0.3, 12.0)])
@pytest.mark.parametrize("adaptive", [False, True], ids=["lif", "adaptive"])
@pytest.mark.parametrize("spiking", [False, True], ids=["li", "lif-output"])
def test_standard_network_equals_the_plain_equations_float64(spiking, adaptive, v_th, slope):
    """The whole-network op of an IPD run of the standard neuron (per-sample kernels; with
    --tau-adapt the layer kernels), leaky or spiking (``fr``) output, at the default and another
    --threshold and --surrogate-slope, against the plain loops of its equations written here:
    trace, spike counts and weight gradients (float64)."""
    from snnsim.functional.cell import CellOptions
    from snnsim.functional.surrogate import spike_fn

    model, data, index, dense, params, upstream = _case("fr" if spiking else "mean", 0.005, torch.float64)
    params = params._replace(neuron="standard", v_th=v_th, slope=slope)
    with torch.no_grad():
        model.w1.mul_(v_th)
        model.w2.mul_(v_th)
    rho, jump = (math.exp(-1 / 20), 0.5 * v_th) if adaptive else (0.0, 0.0)
    w1, w2 = model.w1.detach().clone().requires_grad_(), model.w2.detach().clone().requires_grad_()
    opts = CellOptions(0.0, rho, jump)
    trace, counts = fused_network.network(w1, w2, data, index, params, spiking, opts)
    (trace * upstream).sum().backward()

    def plain(h, fire, rho=0.0, jump=0.0):  # u = alpha v + h; s = u > 1 + rho A; A = rho A + jump s
        v = adapt = torch.zeros_like(h[..., 0, :])
        spikes, membranes = [], []
        for h_t in h.unbind(-2):
            u = params.alpha * v + h_t
            s = spike_fn(u - params.v_th - rho * adapt, params.slope) if fire else torch.zeros_like(u)
            adapt = rho * adapt + jump * s
            v = u * (1 - s)
            spikes.append(s)
            membranes.append(v)
        return torch.stack(spikes, -2), torch.stack(membranes, -2)

    r1, r2 = model.w1.detach().clone().requires_grad_(), model.w2.detach().clone().requires_grad_()
    s1, _ = plain(torch.matmul(dense, r1.unsqueeze(1)), True, rho, jump)
    s2, v2 = plain(torch.matmul(s1, r2.unsqueeze(1)), spiking)  # the output layer does not adapt
    ref = s2 if spiking else v2
    (ref * upstream).sum().backward()
    assert 0 < s1.sum() < s1.numel() / 2 and (not spiking or 0 < s2.sum() < s2.numel())
    if adaptive:
        assert s1.sum() < plain(torch.matmul(dense, r1.detach().unsqueeze(1)), True)[0].sum(), "the adaptation must act"
    torch.testing.assert_close(counts, s1.detach().sum((1, 2, 3)))
    if spiking:
        assert torch.equal(trace, ref)
    torch.testing.assert_close(trace, ref, rtol=1e-12, atol=1e-12)
    for got, want in ((w1.grad, r1.grad), (w2.grad, r2.grad)):
        assert want.abs().sum() > 0
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("neuron", ["notebook", "standard"])
def test_membranes_exactly_at_the_threshold_do_not_fire_in_the_network_op(neuron):
    """The whole-network op with a spiking output, where a hidden and an output membrane reach
    the threshold exactly (sums of powers of two): they stay silent (``v > v_th``), forward and in
    the backward pass, which computes the output spikes again from the records; trace and weight
    gradients equal the references composed by hand (float64). Random weights never hit the
    threshold exactly: a ``>=`` there had passed every test."""
    from snnsim.functional.lif import lif_sequence

    p = LIFParameters(alpha=0.5, v_th=1.0, slope=5.0, neuron=neuron)
    steps = 8
    x = torch.zeros(1, steps, 1)
    x[0, 0, 0] = 1  # one input spike at the first step
    data = [sparse_input.SpikeRows(x > 0)]
    index = torch.zeros(1, 1, dtype=torch.int64)
    # hidden currents 2 (fires) and 1 (exactly at the threshold); the firing neuron's output
    # currents 1 (exactly at the threshold) and 1.25 (fires)
    w1 = torch.tensor([[[2.0, 1.0]]], dtype=torch.float64, requires_grad=True)
    w2 = torch.tensor([[[1.0, 1.25], [3.0, 3.0]]], dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(1, 1, steps, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    trace, counts = fused_network.network(w1, w2, data, index, p, True)
    g1, g2 = torch.autograd.grad((trace * upstream).sum(), (w1, w2))
    s1, _ = lif_sequence(x.double().unsqueeze(0) @ w1.unsqueeze(1), p)
    s2, _ = lif_sequence(s1 @ w2.unsqueeze(1), p)
    r1, r2 = torch.autograd.grad((s2 * upstream).sum(), (w1, w2))
    assert s1.sum() == 1 and s2.sum() == 1 and s2[..., 1].sum() == 1  # only the ones above the threshold
    assert torch.equal(trace, s2) and counts.item() == 1
    torch.testing.assert_close(g1, r1, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g2, r2, rtol=1e-10, atol=1e-12)
    assert g2.abs().sum() > 0


def test_the_output_weights_alone_get_their_gradient():
    """Input weights without a gradient (frozen, or detached) and output weights with one: the
    op keeps its records for the backward pass and gives the output weights the decoder's
    gradient (float64). Records kept only for the input weights' gradient had passed the tests,
    which always asked for both."""
    model, data, index, dense, params, upstream = _case("fr", 0.02, torch.float64)
    fast, _ = fused_network.network(model.w1.detach(), model.w2, data, index, params, True)
    (g2,) = torch.autograd.grad((fast * upstream).sum(), model.w2)
    (want,) = torch.autograd.grad((model(dense).trace * upstream).sum(), model.w2)
    torch.testing.assert_close(g2, want, rtol=1e-10, atol=1e-12)
    assert g2.abs().sum() > 0
