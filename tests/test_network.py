"""Decoder.forward_held: an input held for T steps, its product computed once, equals the
decoder run on the input repeated T times (values and gradients, every backend)."""

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
