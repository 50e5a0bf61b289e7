import pytest
import torch
from hypothesis import given, settings, strategies as st

from snnsim.readouts import READOUTS, get_readout, sum_over_time


def test_registry_has_the_three_readouts():
    assert set(READOUTS) >= {"mean", "max", "fr"}
    assert get_readout("oc") is READOUTS["mean"]
    assert READOUTS["fr"].spiking_output and not READOUTS["mean"].spiking_output


def test_unknown_readout_lists_names():
    with pytest.raises(KeyError, match="mean, max, fr"):
        get_readout("median")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 30), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_max_is_at_least_mean_and_fr_is_a_rate(batch, steps, units, seed):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(batch, steps, units, generator=g)
    s = (torch.rand(batch, steps, units, generator=g) < 0.3).float()
    assert torch.all(READOUTS["max"](None, v) >= READOUTS["mean"](None, v) - 1e-6)
    rate = READOUTS["fr"](s, v)
    assert torch.all((rate >= 0) & (rate <= 1))
    torch.testing.assert_close(sum_over_time(v), READOUTS["mean"](None, v) * steps, rtol=1e-5, atol=1e-5)
