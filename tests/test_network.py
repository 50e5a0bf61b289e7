"""Decoder.forward_held: an input held for T steps, its product computed once, equals the
decoder run on the input repeated T times (values and gradients, every backend); and
Decoder.forward_currents gives the same records for time-major and sample-major currents."""

import math

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
