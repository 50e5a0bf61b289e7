"""Every backend reproduces the notebook oracle: identical spikes, membranes and gradients to
float tolerance (float64, so that rounding cannot flip a spike)."""

import notebook_reference as nb
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snnsim.backends import BACKENDS, make_backend
from snnsim.functional.lif import LIFParameters
from snnsim.network import Decoder
from snnsim.readouts import get_readout

BATCH, STEPS, N_IN, N_HID, N_OUT = 6, 40, 50, 16, 12


def _inputs(seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(BATCH, STEPS, N_IN, generator=g, dtype=torch.float64) < 0.2).double()
    w1 = nb.snn_init((N_IN, N_HID), generator=g)
    w2 = nb.snn_init((N_HID, N_OUT), generator=g)
    # scale up so the hidden layer spikes a lot and the output layer spikes too (fr)
    with torch.no_grad():
        w1.mul_(4.0)
        w2.mul_(3.0)
    y = torch.randint(0, N_OUT, (BATCH,), generator=g)
    return x, w1, w2, y


def _decoder(backend, readout, tau, w1, w2):
    params = LIFParameters(alpha=float(np.exp(-nb.dt / tau)), v_th=1.0, slope=5.0)
    model = Decoder(
        N_IN,
        N_HID,
        N_OUT,
        make_backend(backend),
        get_readout(readout),
        params,
        "notebook",
        [torch.Generator().manual_seed(0)],
    )
    model = model.double()
    with torch.no_grad():
        model.w1.copy_(w1.detach()[None])
        model.w2.copy_(w2.detach()[None])
    return model


def test_lif_parameters_default_to_the_notebooks_neuron_and_the_configs():
    """``LIFParameters(alpha)`` is the notebook's neuron (threshold 1, sigmoid surrogate of slope
    beta = 5, spike from the membrane before the update): its spikes, membranes and gradients are
    the oracle's; its defaults are the config's (``--threshold``, ``--surrogate-slope``,
    ``--neuron``), and its threshold is that of the libraries' LIF neurons (snnTorch's ``Leaky``,
    Norse's ``LIFParameters``). snnsim passes every field, so a changed default had passed the
    other tests."""
    import inspect

    import snntorch

    make_backend("norse")  # imports Norse without its deprecation warning
    from norse.torch.functional.lif import LIFParameters as NorseLIFParameters

    from snnsim.config import RunConfig
    from snnsim.functional.lif import lif_sequence

    p = LIFParameters(alpha=float(np.exp(-nb.dt / 20e-3)))
    assert LIFParameters._field_defaults == {"v_th": 1.0, "slope": float(nb.beta), "neuron": "notebook"}
    cfg = RunConfig()
    assert (p.v_th, p.slope, p.neuron) == (cfg.threshold, cfg.surrogate_slope, cfg.neuron)
    assert inspect.signature(snntorch.Leaky).parameters["threshold"].default == p.v_th
    assert float(NorseLIFParameters().v_th) == p.v_th

    x, w1, _, _ = _inputs(seed=3)
    weights = torch.randn(BATCH, STEPS, N_HID, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    s_ref, v_ref = nb.layer(x, w1, tau=20e-3)
    (g_ref,) = torch.autograd.grad((s_ref * weights).sum(), w1)
    s, v = lif_sequence(torch.einsum("abc,cd->abd", x, w1), p)
    (g,) = torch.autograd.grad((s * weights).sum(), w1)
    assert s_ref.sum() > 0 and torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref, rtol=0, atol=1e-10)
    torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-8)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("readout", ["mean", "max", "fr"])
@pytest.mark.parametrize("tau", [2e-3, 20e-3])
def test_backend_matches_notebook(backend, readout, tau):
    x, w1, w2, y = _inputs(seed=int(tau * 1e4) + len(readout))
    s1_ref, out_ref, v2_ref = nb.network(x, w1, w2, tau, fr=(readout == "fr"))
    logits_ref = nb.readout_logits(out_ref, readout)
    loss_ref = F.nll_loss(F.log_softmax(logits_ref, dim=1), y)
    g1_ref, g2_ref = torch.autograd.grad(loss_ref, (w1, w2))

    model = _decoder(backend, readout, tau, w1, w2)
    net = model(x[None])
    logits = model.readout(net.out_spikes, net.out_membrane)[0]
    loss = F.cross_entropy(logits, y)
    g1, g2 = torch.autograd.grad(loss, (model.w1, model.w2))

    assert s1_ref.sum() > 0, "the test must exercise spikes"
    assert torch.equal(net.hidden_spikes[0], s1_ref)
    if readout == "fr":
        assert out_ref.sum() > 0
        assert torch.equal(net.out_spikes[0], out_ref)
    torch.testing.assert_close(net.out_membrane[0], v2_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(logits, logits_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-10, atol=1e-12)
    assert g1.abs().sum() > 0
    torch.testing.assert_close(g1[0], g1_ref, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(g2[0], g2_ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backend_float32_close_to_float64(backend):
    """In float32 (training precision) the membranes stay close to the float64 oracle."""
    x, w1, w2, _ = _inputs(seed=7)
    _, _, v2_ref = nb.network(x, w1, w2, 20e-3, fr=False)
    model = _decoder(backend, "mean", 20e-3, w1, w2).float()
    net = model(x.float()[None])
    s1_ref, _ = nb.layer(x, w1, tau=20e-3)
    mismatch = (net.hidden_spikes[0].double() != s1_ref).double().mean().item()
    assert mismatch < 1e-3
    if mismatch == 0:
        torch.testing.assert_close(net.out_membrane[0].double(), v2_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backend_handles_leading_dims_and_batch_permutation(backend):
    """Records keep (..., T, N) shapes, and permuting the batch permutes the outputs."""
    b = make_backend(backend)
    p = LIFParameters(alpha=0.9)
    g = torch.Generator().manual_seed(3)
    h = torch.rand(2, 5, STEPS, 7, generator=g, dtype=torch.float64) * 0.8
    s, v = b.lif(h, p)
    assert s.shape == h.shape and v.shape == h.shape
    perm = torch.randperm(5, generator=g)
    s_p, v_p = b.lif(h[:, perm], p)
    assert torch.equal(s_p, s[:, perm])
    torch.testing.assert_close(v_p, v[:, perm])
    assert torch.all(s[..., 0, :] == 0) and torch.all(v[..., 0, :] == 0)
    li = b.li(h, p)
    assert li.shape == h.shape
