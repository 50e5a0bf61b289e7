"""The compiled Bernoulli draws are torch's: the same bits and the same generator state after."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnsim.backends import _native
from snnsim.config import RunConfig
from snnsim.encoders import bernoulli
from snnsim.encoders.ipd import IPDStimulus, generate

# Skipped only where the kernels cannot be built: the tests below run the compiled Draws
# themselves, not through draws(), whose check at first use turns draws that disagree with
# torch's into the torch ops (a wrong Draws had then skipped its own tests).
pytestmark = pytest.mark.skipif(_native.library() is None, reason="needs the compiled kernels")


def _draws(generator: torch.Generator) -> bernoulli.Draws:
    return bernoulli.Draws(generator, _native.library())


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**63 - 1),
    before=st.sampled_from([0, 1, 623, 624, 625, 1247, 1248]) | st.integers(0, 3000),
    sizes=st.lists(st.sampled_from([0, 1, 623, 624, 625, 1248]) | st.integers(0, 2000), min_size=1, max_size=4),
)
def test_draws_equal_torch_rand_lt(seed, before, sizes):
    """From any position in the state (after seeding: left = 1; at and across the 624-word
    twists), several calls in a row: the bytes of torch.rand(n) < p and torch's final state."""
    g, ref = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    torch.rand(before, generator=g)
    torch.rand(before, generator=ref)
    probs = [torch.rand(n, generator=torch.Generator().manual_seed(n)) for n in sizes]
    d = _draws(g)
    got = []
    for p in probs:
        out = torch.empty(p.shape, dtype=torch.bool)
        d(p, out)
        got.append(out)
    d.close()
    for p, out in zip(probs, got):
        assert torch.equal(out, torch.rand(p.shape, generator=ref) < p)
    assert torch.equal(g.get_state(), ref.get_state())
    assert torch.equal(torch.rand(700, generator=g), torch.rand(700, generator=ref))  # and it goes on alike


def test_bad_buffers_are_refused():
    d = _draws(torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="contiguous float32"):
        d(torch.rand(4, dtype=torch.float64), torch.empty(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="elements"):
        d(torch.rand(4), torch.empty(5, dtype=torch.bool))


@pytest.mark.parametrize("phase", ["per-sample", "per-dataset"])
def test_stimuli_equal_the_torch_ops(phase, monkeypatch):
    """generate() with the compiled draws gives the spikes, IPDs and generator state of the torch ops."""
    stim = IPDStimulus.from_config(RunConfig(phase=phase))
    g = torch.Generator().manual_seed(7)
    ipd, spikes = generate(100, stim, g)
    monkeypatch.setattr(bernoulli, "draws", lambda generator: None)
    ref = torch.Generator().manual_seed(7)
    ipd_ref, spikes_ref = generate(100, stim, ref)
    assert torch.equal(spikes, spikes_ref) and torch.equal(ipd, ipd_ref)
    assert torch.equal(g.get_state(), ref.get_state())
    assert 0.05 < spikes.float().mean() < 0.5
