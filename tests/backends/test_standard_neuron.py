"""The standard LIF (spike from the updated membrane, reset to 0 in the same step: NIR's LIF)
on every backend that carries it equals a plain loop of its equations, in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snnsim.backends import make_backend
from snnsim.config import RunConfig
from snnsim.functional.lif import LIFParameters, li_sequence, lif_sequence


def plain(h: torch.Tensor, alpha: float, v_th: float, spiking: bool):
    """u = alpha v + h_t; s = u > v_th; v = u (1 - s), the state after each input."""
    v = torch.zeros_like(h[:, 0])
    spikes, membrane = [], []
    for t in range(h.shape[1]):
        u = alpha * v + h[:, t]
        s = (u > v_th).to(h.dtype) if spiking else torch.zeros_like(u)
        v = u * (1 - s)
        spikes.append(s)
        membrane.append(v)
    return torch.stack(spikes, 1), torch.stack(membrane, 1)


@pytest.mark.parametrize("backend", ["snntorch", "norse", "fused"])
@pytest.mark.parametrize("tau", [0.002, 0.02])
def test_backend_equals_the_plain_equations(backend, tau):
    p = LIFParameters(alpha=math.exp(-1e-3 / tau), v_th=1.0, slope=5.0, neuron="standard")
    g = torch.Generator().manual_seed(1)
    h = (torch.randn(3, 40, 7, generator=g, dtype=torch.float64) * 0.9 + 0.4).requires_grad_()
    s, v = make_backend(backend).lif(h, p)
    s_ref, v_ref = plain(h.detach(), p.alpha, p.v_th, True)
    assert s_ref.sum() > 0 and torch.equal(s, s_ref)
    torch.testing.assert_close(v, v_ref, rtol=1e-10, atol=1e-10)
    li = make_backend(backend).li(h, p)
    torch.testing.assert_close(li, plain(h.detach(), p.alpha, math.inf, False)[1], rtol=1e-10, atol=1e-10)
    # gradients: the backend's equal the functional reference's (the same surrogate and reset)
    gs, gv = torch.randn_like(s), torch.randn_like(v)
    (grad,) = torch.autograd.grad((s * gs).sum() + (v * gv).sum() + li.sum(), h)
    h2 = h.detach().requires_grad_()
    s2, v2 = lif_sequence(h2, p)
    (ref,) = torch.autograd.grad((s2 * gs).sum() + (v2 * gv).sum() + li_sequence(h2, p).sum(), h2)
    torch.testing.assert_close(grad, ref, rtol=1e-8, atol=1e-10)


def test_fused_standard_kernels_equal_the_reference_in_float32_whatever_the_batching():
    """The compiled standard-neuron loops: forward bit for bit the reference steps in float32,
    the same numbers for a row alone as in a batch, and the adjoint equal to autograd's."""
    p = LIFParameters(alpha=math.exp(-0.5), v_th=1.0, slope=5.0, neuron="standard")
    g = torch.Generator().manual_seed(3)
    h = (torch.randn(6, 50, 33, generator=g) * 0.9 + 0.4).requires_grad_()
    fused = make_backend("fused")
    s, v = fused.lif(h, p)
    s_ref, v_ref = lif_sequence(h.detach(), p)
    assert s.sum() > 0 and torch.equal(s, s_ref) and torch.equal(v, v_ref)
    assert torch.equal(fused.li(h, p), li_sequence(h.detach(), p))
    s1, v1 = fused.lif(h[2:3].detach(), p)
    assert torch.equal(s1, s[2:3]) and torch.equal(v1, v[2:3])
    gs, gv = torch.randn_like(s), torch.randn_like(v)
    (grad,) = torch.autograd.grad((s * gs).sum() + (v * gv).sum() + fused.li(h, p).sum(), h)
    h2 = h.detach().requires_grad_()
    s2, v2 = lif_sequence(h2, p)
    (ref,) = torch.autograd.grad((s2 * gs).sum() + (v2 * gv).sum() + li_sequence(h2, p).sum(), h2)
    torch.testing.assert_close(grad, ref, rtol=1e-4, atol=1e-5)


def test_fused_standard_ipd_run_equals_the_library_backend():
    """A short IPD training with the standard neuron: the fused backend's whole-network op and
    snnTorch's neurons give the same loss curve (float32: to rounding)."""
    from snnsim import runner

    cfg = RunConfig(neuron="standard", backend="fused", tau="2ms", epochs=2, n_train_batches=3, n_test_batches=1,
                    batch_size=16, hidden=8)  # fmt: skip
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(backend="snntorch"), progress=False)
    np.testing.assert_allclose(a["loss"].values, b["loss"].values, rtol=1e-4)
    assert RunConfig(backend="norse", neuron="standard").neuron == "standard"


def test_fused_adaptive_kernels_equal_the_reference_in_float32_whatever_the_batching():
    """The compiled adaptive-threshold loops: forward bit for bit the reference cell in float32
    (spikes, membranes), a row alone equal to it in a batch, the adjoint equal to autograd's
    through the reference (which also carries the gradient through the threshold)."""
    from snnsim.functional.cell import CellOptions, cell_sequence

    p = LIFParameters(alpha=math.exp(-0.5), v_th=1.0, slope=5.0, neuron="standard")
    opts = CellOptions(0.0, math.exp(-1 / 20), 0.5)
    g = torch.Generator().manual_seed(4)
    h = (torch.randn(6, 60, 33, generator=g) * 0.9 + 0.6).requires_grad_()
    fused = make_backend("fused")
    s, v = fused.cell(h, p, opts)
    s_ref, v_ref = cell_sequence(h.detach(), p, opts)
    plain_s, _ = lif_sequence(h.detach(), p)
    assert s.sum() > 0 and torch.equal(s, s_ref) and torch.equal(v, v_ref)
    assert s.sum() < plain_s.sum(), "the adaptation must suppress spikes"
    s1, v1 = fused.cell(h[2:3].detach(), p, opts)
    assert torch.equal(s1, s[2:3]) and torch.equal(v1, v[2:3])
    gs, gv = torch.randn_like(s), torch.randn_like(v)
    (grad,) = torch.autograd.grad((s * gs).sum() + (v * gv).sum(), h)
    h2 = h.detach().requires_grad_()
    s2, v2 = cell_sequence(h2, p, opts)
    (ref,) = torch.autograd.grad((s2 * gs).sum() + (v2 * gv).sum(), h2)
    torch.testing.assert_close(grad, ref, rtol=1e-4, atol=1e-5)


def test_fused_adaptive_ipd_run_equals_norse():
    """A short IPD training with the adaptive threshold: the fused whole-network op (sparse
    inputs, compiled adaptive layer) and Norse's LSNN steps give the same loss curve (float32:
    to rounding)."""
    from snnsim import runner

    cfg = RunConfig(neuron="standard", backend="fused", tau="2ms", tau_adapt="20ms", epochs=2, n_train_batches=3,
                    n_test_batches=1, batch_size=16, hidden=8)  # fmt: skip
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(backend="norse"), progress=False)
    c = runner.run(cfg.replace(tau_adapt=0.0), progress=False)
    np.testing.assert_allclose(a["loss"].values, b["loss"].values, rtol=1e-4)
    assert not np.allclose(a["loss"].values, c["loss"].values, rtol=1e-3), "the adaptation must change the run"
