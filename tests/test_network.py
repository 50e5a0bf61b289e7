"""Decoder.forward_held: an input held for T steps, its product computed once, equals the
decoder run on the input repeated T times (values and gradients, every backend); and
Decoder.forward_currents gives the same records for time-major and sample-major currents."""

import math

import numpy as np
import pytest
import torch

from snnsim.backends import make_backend
from snnsim.functional.lif import LIFParameters
from snnsim.network import Decoder
from snnsim.readouts import get_readout


@pytest.mark.parametrize("backend", ["fused", "snntorch", "norse"])
def test_held_input_equals_the_repeated_input(backend):
    g = torch.Generator().manual_seed(3)
    gens = [torch.Generator().manual_seed(10 + m) for m in range(2)]
    params = LIFParameters(alpha=math.exp(-1 / 2), v_th=1.0, slope=5.0)
    model = Decoder(30, 9, 4, make_backend(backend), get_readout("mean"), params, "fan-in", gens).double()
    x = torch.randn(2, 6, 1, 30, generator=g, dtype=torch.float64) * 2
    steps = 7

    def run(held: bool):
        model.zero_grad()
        out = model.forward_held(x, steps) if held else model(x.expand(2, 6, steps, 30).contiguous())
        y = model.read(out)
        y.pow(2).sum().backward()
        return out, y, model.w1.grad.clone(), model.w2.grad.clone()

    (a, ya, g1a, g2a), (b, yb, g1b, g2b) = run(True), run(False)
    assert a.hidden_spikes.shape == (2, 6, steps, 9) and a.hidden_spikes.sum() > 0  # the hidden layer fires
    torch.testing.assert_close(a.hidden_spikes, b.hidden_spikes, rtol=0, atol=0)
    torch.testing.assert_close(ya, yb, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g1a, g1b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g2a, g2b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["fused", "norse"])
@pytest.mark.parametrize("hidden", [(9,), (9, 5)])
def test_time_major_currents_give_the_sample_major_records_for_the_model_space(backend, hidden):
    """forward_currents(time_major=True) takes (M, T, B, hidden) currents and returns the same
    (M, B, T, ...) records as the sample-major call, for the model-space layers too (an adaptive
    threshold; several hidden layers), whose steps run sample-major."""
    from snnsim.functional.cell import CellOptions
    from snnsim.network import Architecture

    g = torch.Generator().manual_seed(4)
    params = LIFParameters(alpha=math.exp(-1 / 2), v_th=1.0, slope=5.0, neuron="standard")
    arch = Architecture(hidden, CellOptions(0.0, math.exp(-1 / 50), 0.5))
    model = Decoder(30, 9, 4, make_backend(backend), get_readout("mean"), params, "fan-in",
                    [torch.Generator().manual_seed(1)], arch).double()  # fmt: skip
    h = torch.rand(1, 6, 11, 9, generator=g, dtype=torch.float64) * 2  # (M, B, T, hidden): 6 samples, 11 steps
    a = model.forward_currents(h)
    b = model.forward_currents(h.transpose(1, 2).contiguous(), time_major=True)
    assert a.hidden_spikes.sum() > 0
    assert b.trace.shape == a.trace.shape == (1, 6, 11, 4)
    torch.testing.assert_close(b.hidden_spikes, a.hidden_spikes, rtol=0, atol=0)
    torch.testing.assert_close(b.trace, a.trace, rtol=0, atol=0)


@pytest.mark.parametrize("backend", ["snntorch", "norse"])
def test_learned_decays_are_clamped_to_the_allowed_range_in_the_network_and_its_weights(backend):
    """Learned membrane decays outside [0, ALPHA_MAX] run (and are stored by ``weight_values``)
    as the clamped ones: the network equals the reference layer with the clamped decays
    (float64). A clamp to [0, 1] or none had passed every test: no decay had left the range."""
    from snnsim.functional.cell import ALPHA_MAX, CellOptions, cell_sequence
    from snnsim.functional.lif import li_sequence
    from snnsim.network import Architecture, weight_values

    p = LIFParameters(alpha=0.8, v_th=1.0, slope=5.0, neuron="standard")
    model = Decoder(6, 4, 3, make_backend(backend), get_readout("mean"), p, "fan-in",
                    [torch.Generator().manual_seed(2)], Architecture((4,), learn_tau=True)).double()  # fmt: skip
    learned = torch.tensor([1.2, -0.3, 0.9995, 0.7], dtype=torch.float64)
    clamped = torch.tensor([ALPHA_MAX, 0.0, ALPHA_MAX, 0.7], dtype=torch.float64)
    with torch.no_grad():
        model.decays[0].copy_(learned.view(1, 1, 4))
        model.w1.mul_(3)
    x = (torch.rand(1, 2, 20, 6, generator=torch.Generator().manual_seed(3)) < 0.4).double()
    got = model.read(model(x))
    s, _ = cell_sequence(x @ model.w1.unsqueeze(1), p, CellOptions(), clamped.view(1, 1, 4))
    want = li_sequence(s @ model.w2.unsqueeze(1), p).mean(-2)
    assert s.sum() > 0
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    # the membranes (not only the spikes) of the clamped decays: the surrogate gradients
    for a, b in zip(torch.autograd.grad(got.pow(2).sum(), model.w1), torch.autograd.grad(want.pow(2).sum(), model.w1)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(weight_values(model, 0)["alpha_hidden0"], clamped.numpy())


@pytest.mark.parametrize("backend", ["fused", "snntorch"])
def test_time_major_currents_give_the_sample_major_records(backend):
    """forward_currents(time_major=True) of the plain network (one LIF layer; two parts of other
    time constants, a spiking output) returns every record as the sample-major call does, (M, B,
    T, ...) with each sample's own steps: records read back as (M, B, T) without the transpose
    had passed the tests, which took time-major currents only through the model-space layers."""
    g = torch.Generator().manual_seed(5)
    params = [LIFParameters(alpha=math.exp(-1 / tau), v_th=1.0, slope=5.0) for tau in (2, 2, 5)]
    model = Decoder(30, 9, 4, make_backend(backend), get_readout("fr"), params, "fan-in",
                    [torch.Generator().manual_seed(m) for m in range(3)]).double()  # fmt: skip
    h = torch.rand(3, 6, 11, 9, generator=g, dtype=torch.float64) * 2  # (M, B, T, hidden): 6 samples, 11 steps
    a = model.forward_currents(h)
    b = model.forward_currents(h.transpose(1, 2).contiguous(), time_major=True)
    assert len(model.parts) == 2 and a.hidden_spikes.sum() > 0 and a.out_spikes.sum() > 0
    for name in ("hidden_spikes", "out_spikes", "out_membrane", "trace"):
        assert getattr(b, name).shape == (3, 6, 11, 9 if name == "hidden_spikes" else 4)
        torch.testing.assert_close(getattr(b, name), getattr(a, name), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["fused", "snntorch", "norse"])
def test_models_of_other_time_constants_batched_give_their_own_records(backend):
    """A decoder of models that differ by time constant and readout (parts) gives each model the
    records of a decoder of that model alone (float64). Parts merged by their readout alone,
    every model then run with the first one's time constant, passed every test but a count of
    the parts."""
    g = torch.Generator().manual_seed(6)
    taus, readouts = (2, 2, 5, 5), ("fr", "fr", "fr", "mean")
    params = [LIFParameters(alpha=math.exp(-1 / tau), v_th=1.0, slope=5.0) for tau in taus]
    x = (torch.rand(4, 3, 15, 20, generator=g) < 0.3).double()

    def decoder(models):
        return Decoder(20, 9, 4, make_backend(backend), [get_readout(readouts[m]) for m in models],
                       [params[m] for m in models], "fan-in", [torch.Generator().manual_seed(m) for m in models],
                       ).double()  # fmt: skip

    with torch.no_grad():
        together = decoder(range(4))
        together.w1.mul_(4)
        out = together(x)
        for m in range(4):
            alone = decoder([m])
            alone.w1.mul_(4)
            one = alone(x[m : m + 1])
            assert one.hidden_spikes.sum() > 0
            torch.testing.assert_close(out.hidden_spikes[m : m + 1], one.hidden_spikes, rtol=0, atol=0)
            torch.testing.assert_close(out.trace[m : m + 1], one.trace, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["notebook", "fan-in"])
def test_initial_weights_are_uniform_within_the_bound_of_their_mode(mode):
    """U(-b, b) from the generator's float64 stream: ``notebook`` b = 1/sqrt(columns) (the
    notebook's fan-in of an (in, out) matrix), ``fan-in`` b = 1/sqrt(rows). The two bounds
    swapped had passed every test here."""
    from snnsim.network import init_weight

    shape = (400, 4)  # bounds 1/2 (notebook) and 1/20 (fan-in)
    bound = 0.5 if mode == "notebook" else 0.05
    w = init_weight(shape, mode, torch.Generator().manual_seed(7))
    u = torch.rand(shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    assert w.dtype == torch.float32
    torch.testing.assert_close(w, (u * 2 * bound - bound).float(), rtol=0, atol=0)
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


def test_the_largest_delay_counts_the_nearest_whole_steps():
    """``--max-delay 0.3ms`` at ``--dt 0.1ms`` is 3 steps, though 0.3 / 0.1 is 2.9999999999999996
    in floating point (the config takes it as whole steps): truncated, the delays had lost a step
    unnoticed."""
    from snnsim.config import RunConfig
    from snnsim.network import Architecture

    cfg = RunConfig(backend="snntorch", neuron="standard", delays="learned", max_delay="0.3ms", dt="0.1ms")
    assert cfg.max_delay / cfg.dt < 3
    assert Architecture.from_config(cfg).max_delay == 3
