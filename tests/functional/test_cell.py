"""The model-space neuron and the input delays against hand-computed values and plain loops."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnsim.functional.cell import CellOptions, cell_sequence
from snnsim.functional.delay import delay
from snnsim.functional.lif import LIFParameters, standard_lif_sequence

P = LIFParameters(alpha=0.5, v_th=1.0, slope=5.0, neuron="standard")


def _run(h, opts, **kw):
    s, v = cell_sequence(torch.tensor(h, dtype=torch.float64).T[None, None], P, opts, **kw)
    return s[0, 0].T.tolist(), v[0, 0].T.tolist()


def test_synaptic_current_by_hand():
    # c = 0.5 c + h; u = 0.5 v + c: c 0.6, 0.3, 0.15, 0.875; u 0.6, 0.6, 0.45, 1.1 (spike, reset)
    s, v = _run([[0.6, 0.0, 0.0, 0.8]], CellOptions(syn_decay=0.5))
    assert s == [[0, 0, 0, 1]]
    assert torch.allclose(
        torch.tensor(v, dtype=torch.float64), torch.tensor([[0.6, 0.6, 0.45, 0.0]], dtype=torch.float64)
    )


def test_adaptive_threshold_by_hand():
    # u 1.2 > 1 (A = 1); 1.2 < 1 + 0.5 (A = 0.5); 1.8 > 1.25 (A = 1.25); 1.2 < 1.625
    s, v = _run([[1.2] * 4], CellOptions(adapt_decay=0.5, adapt_jump=1.0))
    assert s == [[1, 0, 1, 0]] and v == [[0.0, 1.2, 0.0, 1.2]]
    assert _run([[1.2] * 4], CellOptions())[0] == [[1, 1, 1, 1]]  # without adaptation it fires every step


def test_recurrent_input_by_hand():
    # neuron 0 fires at t0 and adds 0.5 to neuron 1 at t1: 0.5*0.6 + 0.6 + 0.5 = 1.4 fires
    v_rec = torch.tensor([[[0.0, 0.5], [0.0, 0.0]]], dtype=torch.float64)
    h = [[1.5, 0.0, 0.0], [0.6, 0.6, 0.0]]
    assert _run(h, CellOptions(), recurrent=v_rec)[0] == [[1, 0, 0], [0, 1, 0]]
    assert _run(h, CellOptions())[0] == [[1, 0, 0], [0, 0, 0]]  # 0.3 + 0.6 = 0.9 without it


def test_all_options_off_is_the_standard_lif_with_per_neuron_decays():
    g = torch.Generator().manual_seed(1)
    h = torch.rand(2, 3, 20, 5, generator=g, dtype=torch.float64) * 1.5
    s, v = cell_sequence(h, P, CellOptions())
    s_ref, v_ref = standard_lif_sequence(h, P)
    assert torch.equal(s, s_ref) and torch.equal(v, v_ref) and s.sum() > 0
    alpha = torch.full((2, 1, 5), 0.5, dtype=torch.float64)
    assert torch.equal(cell_sequence(h, P, CellOptions(), alpha=alpha)[1], v)


def test_cell_options_default_to_no_model_space_option():
    """``CellOptions()`` is the plain LIF layer (no synaptic current, a fixed threshold): what a
    default config's architecture holds, which therefore takes the plain network's path. snnsim
    passes every field, so a changed default had passed the other tests."""
    from snnsim.config import RunConfig
    from snnsim.network import Architecture

    assert CellOptions._field_defaults == {"syn_decay": 0.0, "adapt_decay": 0.0, "adapt_jump": 0.0}
    for cfg in (RunConfig(), RunConfig(study="bmi")):
        arch = Architecture.from_config(cfg)
        assert arch.cell == CellOptions() and not arch.general


def _delay_loop(x, d, max_steps):
    out = torch.zeros_like(x)
    for m in range(x.shape[0]):
        for c in range(x.shape[-1]):
            dd = d[m, c].clamp(0, max_steps)
            for k in range(max_steps + 1):
                w = (1 - (k - dd).abs()).clamp_min(0)
                out[m, :, k:, c] = out[m, :, k:, c] + w * x[m, :, : x.shape[2] - k, c]
    return out


def test_fractional_delay_by_hand():
    x = torch.zeros(1, 1, 6, 1, dtype=torch.float64)
    x[0, 0, 2, 0] = 1.0
    out = delay(x, torch.tensor([[1.5]], dtype=torch.float64), 3)
    assert out[0, 0, :, 0].tolist() == [0, 0, 0, 0.5, 0.5, 0]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 6), st.integers(1, 3), st.integers(0, 2**16))
def test_delay_matches_the_loop_with_gradients(max_steps, channels, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(2, 3, 9, channels, generator=g, dtype=torch.float64) < 0.4).double()
    d = (torch.rand(2, channels, generator=g, dtype=torch.float64) * (max_steps + 1) - 0.5).requires_grad_()
    out = delay(x, d, max_steps)
    weights = torch.rand(out.shape, generator=g, dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * weights).sum(), d)
    d_ref = d.detach().clone().requires_grad_()
    ref = _delay_loop(x, d_ref, max_steps)
    (grad_ref,) = torch.autograd.grad((ref * weights).sum(), d_ref)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-12)


def test_adaptation_decays_before_it_raises_the_threshold_by_hand():
    # threshold 1 + 0.5 A_{t-1}, A_t = 0.5 A_{t-1} + 0.3 s_t: u 1.2 > 1 (A 0.3); 1.2 > 1.15 (A 0.45);
    # 1.2 < 1.225 (A 0.225); 0.6 + 1.2 = 1.8 > 1.1125 (an undecayed A_{t-1} would give 1.3 at t1: no spike)
    s, v = _run([[1.2] * 4], CellOptions(adapt_decay=0.5, adapt_jump=0.3))
    assert s == [[1, 1, 0, 1]] and v == [[0.0, 0.0, 1.2, 0.0]]
