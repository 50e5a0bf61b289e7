import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnsim.readouts import READOUTS, get_readout, sum_over_time


def test_registry_has_the_three_readouts():
    assert set(READOUTS) >= {"mean", "max", "fr", "last"}
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


def test_last_reads_the_final_step_and_weights_recent_inputs_most():
    v = torch.arange(24.0).view(2, 4, 3)
    torch.testing.assert_close(READOUTS["last"](None, v), v[:, -1, :])
    # through a leaky integrator, an input at the last integrated step counts most for `last`
    # and least for `mean` (an early input lasts through more of the averaged steps)
    from snnsim.functional.lif import LIFParameters, li_sequence

    p = LIFParameters(alpha=0.8)
    early, late = torch.zeros(1, 10, 1), torch.zeros(1, 10, 1)
    early[0, 0, 0] = late[0, 8, 0] = 1.0
    assert READOUTS["last"](None, li_sequence(late, p)) > READOUTS["last"](None, li_sequence(early, p))
    assert READOUTS["mean"](None, li_sequence(late, p)) < READOUTS["mean"](None, li_sequence(early, p))


def test_readouts_golden():
    """Each reduction over time (dim -2) of a hand trace (T = 3 steps, N = 2 units) with negative values."""
    v = torch.tensor([[-3.0, 1.0], [1.0, -2.0], [-1.0, 0.0]])
    s = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(READOUTS["mean"](s, v), torch.tensor([-1.0, -1.0 / 3]))
    torch.testing.assert_close(READOUTS["max"](s, v), torch.tensor([1.0, 1.0]))  # not |v|: 3, 2
    torch.testing.assert_close(READOUTS["last"](s, v), torch.tensor([-1.0, 0.0]))
    torch.testing.assert_close(READOUTS["fr"](s, v), torch.tensor([2.0 / 3, 1.0 / 3]))
    torch.testing.assert_close(sum_over_time(v), torch.tensor([-3.0, -1.0]))
    # ``weighted`` learns its weights over time in the BMI model; its reduction is the one it starts as, ``mean``
    torch.testing.assert_close(READOUTS["weighted"](s, v), torch.tensor([-1.0, -1.0 / 3]))
