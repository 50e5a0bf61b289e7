"""The BMI encoders: bins (20 steps of 48 currents) and window (one step of 960 currents)."""

import numpy as np
import torch

from snnsim.encoders.bmi import PAD, Normaliser, encode, encode_window


def _counts(seed=0, n=5):
    return np.random.default_rng(seed).poisson(1.5, size=(n, 20, 48))


def test_bins_are_z_scored_counts_with_trailing_zero_steps():
    counts = _counts()
    norm = Normaliser.fit(counts)
    x = encode(counts, norm).double().numpy()
    assert x.shape == (5, 20 + PAD, 48)
    # hand-computed: sample 2, bin 7, neuron 11
    c = counts[..., 11].ravel()
    assert np.isclose(x[2, 7, 11], (counts[2, 7, 11] - c.mean()) / c.std(), atol=1e-6)
    assert (x[:, 20:] == 0).all()


def test_window_holds_every_bin_of_every_neuron_as_its_own_channel():
    counts = _counts(1)
    norm = Normaliser.fit(counts)
    x = encode_window(counts, norm)
    assert x.shape == (5, 1, 960) and x.dtype == torch.float32
    bins = encode(counts, norm, pad=0)
    for b, n in ((0, 0), (7, 11), (19, 47)):  # channel = bin * 48 + neuron
        assert torch.equal(x[:, 0, b * 48 + n], bins[:, b, n])
