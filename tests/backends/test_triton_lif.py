"""The Triton LIF kernels (the fused backend's CUDA path) equal the notebook equations, run on
the CPU through Triton's interpreter: identical spikes, membranes and gradients to float32
tolerance, over shapes, taus, thresholds and slopes, directly and through the fused backend."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnsim.backends import _native, fused
from snnsim.functional.lif import LIFParameters, lif_sequence

pytest.importorskip("triton")
# the interpreter's numpy exp overflows to inf for far-off membranes; the sigmoid is then 0, as meant
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")

shapes = st.tuples(
    st.lists(st.integers(1, 3), min_size=0, max_size=2),  # leading dims (rows)
    st.integers(2, 24),  # T
    st.integers(1, 300),  # N: one or several blocks of neurons, partial last block
)
params = st.builds(LIFParameters, alpha=st.floats(0.05, 0.999), v_th=st.floats(0.2, 2.0), slope=st.floats(0.5, 10.0))


@pytest.fixture(scope="module")
def kernels():
    from snnsim.backends import triton_lif

    if not (triton_lif.INTERPRETED or torch.cuda.is_available()):
        pytest.fail(
            "no GPU and Triton not interpreted: tests/conftest.py sets TRITON_INTERPRET=1 before Triton is imported"
        )
    return triton_lif


DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _case(shape, seed):
    lead, steps, n = shape
    g = torch.Generator().manual_seed(seed)
    h = (torch.randn(*lead, steps, n, generator=g) * 1.5 + 0.3).requires_grad_()
    return h, torch.randn(*lead, steps, n, generator=g), torch.randn(*lead, steps, n, generator=g)


def _reference(h, p, gs, gv):
    s, v = lif_sequence(h, p)
    total = sum((o * u).sum() for o, u in zip((s, v), (gs, gv)) if u is not None)
    (grad,) = torch.autograd.grad(total, h, materialize_grads=True) if total.requires_grad else (torch.zeros_like(h),)
    return s.detach(), v.detach(), grad


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shapes, p=params, seed=st.integers(0, 2**31 - 1), which=st.sampled_from(["both", "spikes", "membrane"]))
def test_kernels_match_reference(kernels, shape, p, seed, which):
    h, gs, gv = _case(shape, seed)
    gs, gv = (gs if which != "membrane" else None), (gv if which != "spikes" else None)
    s_ref, v_ref, g_ref = _reference(h, p, gs, gv)
    on = lambda x: None if x is None else x.detach().to(DEVICE)  # noqa: E731
    s, v = kernels.lif_forward(on(h), p.alpha, p.v_th)
    assert torch.equal(s.cpu(), s_ref)
    torch.testing.assert_close(v.cpu(), v_ref, rtol=1e-6, atol=1e-6)
    g = kernels.lif_backward(on(h), s, v, on(gs), on(gv), p.alpha, p.v_th, p.slope)
    torch.testing.assert_close(g.cpu(), g_ref, rtol=1e-4, atol=1e-5)


def test_fused_backend_dispatches_to_triton(kernels, monkeypatch):
    """A float32 tensor the kernels take goes through them, not through the torch loops, and
    the autograd results equal the reference. (Off a GPU, the CPU tensor stands in for a CUDA
    one: the compiled C loops are switched off and the kernels told to take it.)"""
    if DEVICE == "cpu":
        monkeypatch.setattr(_native, "supported", lambda *t: False)
        monkeypatch.setattr(kernels, "supported", lambda h: h.dtype == torch.float32)
    monkeypatch.setattr(fused, "_TRITON", None)

    def no_loops(*args):
        raise AssertionError("the torch loops ran instead of the Triton kernels")

    monkeypatch.setattr(fused, "_lif_forward_torch", no_loops)
    monkeypatch.setattr(fused, "_lif_backward_torch", no_loops)
    p = LIFParameters(alpha=0.8, v_th=0.7, slope=4.0)
    h, gs, gv = _case(([2], 30, 150), 7)
    s_ref, v_ref, g_ref = _reference(h, p, gs, gv)
    hd = h.detach().to(DEVICE).requires_grad_()
    s, v = fused.lif(hd, p)
    (g,) = torch.autograd.grad((s * gs.to(DEVICE)).sum() + (v * gv.to(DEVICE)).sum(), hd)
    assert torch.equal(s.cpu(), s_ref)
    torch.testing.assert_close(v.cpu(), v_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g.cpu(), g_ref, rtol=1e-4, atol=1e-5)
    # float64 is not theirs: it takes the torch loops
    assert fused._triton_kernels(hd.double()) is None
