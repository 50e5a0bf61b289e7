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


def test_a_neuron_silent_in_training_is_centred_not_divided_by_zero():
    counts = _counts(2)
    counts[..., 5] = 0
    norm = Normaliser.fit(counts)
    assert norm.mean[5] == 0 and norm.std[5] == 1
    x = encode(counts, norm)
    assert torch.isfinite(x).all() and (x[..., 5] == 0).all()
    later = counts.copy()
    later[0, 3, 5] = 2  # a count the training folds never had: its raw value, not inf
    assert encode(later, norm)[0, 3, 5] == 2


def test_the_last_bin_reaches_the_output_membrane():
    """The notebook's neurons: input step k reaches the hidden spikes at step k + 2 and the output
    membrane at k + 3, so the padded steps let bin 19, the most recent, reach the readout's last
    step (one hidden neuron fed by input neuron 0, one output neuron fed by it, weights 1)."""
    from snnsim.functional.lif import LIFParameters, li_sequence, lif_sequence

    counts = np.zeros((1, 20, 48))
    counts[0, 19, 0] = 5  # only the most recent bin: above the threshold 1
    x = encode(counts, Normaliser(np.zeros(48), np.ones(48))).double()[..., :1]
    p = LIFParameters(alpha=0.9)
    spikes, _ = lif_sequence(x, p)
    out = li_sequence(spikes, p)
    assert out[0, -1, 0] > 0  # bin 19 reaches the last step
    assert out[0, :22, 0].abs().sum() == 0 and out[0, 22, 0] == 1  # at step 19 + 3, not before
    # ... and that step is the last: 3 padded steps, none more (a fourth would read bin 19 decayed)
    assert x.shape[1] == 23 and out[0, -1, 0] == 1


def test_the_normaliser_is_fitted_in_float64():
    """Counts that float32 cannot hold (2**24 + 1 rounds to 2**24) give their exact mean and
    standard deviation: neuron 0 counts 2**24 + 1 and 2**24 + 3 (mean 2**24 + 2, sd 1), so the
    currents are exactly -1 and 1 (fitted in float32, the counts read 2**24 and 2**24 + 4: sd 2)."""
    counts = np.zeros((2, 20, 48), dtype=np.int64)
    counts[0, :, 0], counts[1, :, 0] = 2**24 + 1, 2**24 + 3
    norm = Normaliser.fit(counts)
    assert norm.mean[0] == 2**24 + 2 and norm.std[0] == 1
    x = encode(counts, norm)
    assert (x[0, :20, 0] == -1).all() and (x[1, :20, 0] == 1).all()
