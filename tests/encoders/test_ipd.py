import math

import numpy as np
import pytest
import torch

from snnsim.config import RunConfig
from snnsim.encoders.ipd import IPDStimulus, draw_offsets, generate, spike_probability


def _numpy_probability(ipd, offset, stim):
    """The notebook's formula in float64 numpy (one offset per sample)."""
    T = np.arange(stim.steps) * stim.dt
    phi = 2 * np.pi * (stim.tone_hz * T[None, :] + offset[:, None])
    delays = np.linspace(0, np.pi / 2, stim.anf_per_ear)
    theta = np.zeros((len(ipd), stim.steps, 2 * stim.anf_per_ear))
    theta[:, :, : stim.anf_per_ear] = phi[:, :, None] + delays[None, None, :]
    theta[:, :, stim.anf_per_ear :] = phi[:, :, None] + delays[None, None, :] + ipd[:, None, None]
    return stim.rate_max_hz * stim.dt * (0.5 * (1 + np.sin(theta))) ** stim.envelope_power


#: The notebook's stimulus: 100 fibres per ear, 600 Hz peak, a 20 Hz tone, envelope power 2,
#: 100 steps of 1 ms (the defaults of IPDStimulus and of RunConfig).
NOTEBOOK = IPDStimulus(dt=1e-3, duration=0.1, tone_hz=20.0, rate_max_hz=600.0, anf_per_ear=100, envelope_power=2.0)


def test_probability_matches_notebook_formula():
    stim = IPDStimulus()
    assert stim == NOTEBOOK == IPDStimulus.from_config(RunConfig())  # the formula below reads its constants
    g = np.random.default_rng(0)
    ipd = g.uniform(-np.pi / 2, np.pi / 2, 5)
    offset = g.uniform(0, 1, 5)
    ours = spike_probability(torch.tensor(ipd, dtype=torch.float32), torch.tensor(offset, dtype=torch.float32), stim)
    np.testing.assert_allclose(ours.numpy(), _numpy_probability(ipd, offset, stim), atol=2e-6)
    assert ours.dtype == torch.float32


def test_probability_into_a_buffer_equals_a_fresh_one():
    """generate() reuses one buffer over its chunks: the values written there are the same bit for
    bit, in the buffer's first N rows."""
    stim = IPDStimulus()
    ipd, offset = torch.rand(5) * math.pi - math.pi / 2, torch.rand(5)
    buffer = torch.full((8, stim.steps, stim.n_inputs), -1.0)
    into = spike_probability(ipd, offset, stim, out=buffer)
    assert torch.equal(into, spike_probability(ipd, offset, stim))
    assert into.data_ptr() == buffer.data_ptr() and torch.all(buffer[5:] == -1.0)


def test_generate_shapes_types_and_ranges():
    stim = IPDStimulus()
    ipd, spikes = generate(300, stim, torch.Generator().manual_seed(1))
    assert ipd.shape == (300,) and spikes.shape == (300, 100, 200) and spikes.dtype == torch.bool
    assert ipd.min() >= -math.pi / 2 and ipd.max() < math.pi / 2


def test_spike_rate_matches_probability():
    """Empirical spike counts agree with the summed probabilities (Poisson-binomial, 6 sigma)."""
    stim = IPDStimulus(phase="per-dataset")
    g = torch.Generator().manual_seed(2)
    ipd, spikes = generate(400, stim, g)
    g2 = torch.Generator().manual_seed(2)
    ipd2 = torch.rand(400, generator=g2) * math.pi - math.pi / 2
    offset = draw_offsets(400, "per-dataset", g2)
    assert torch.equal(ipd, ipd2)
    p = spike_probability(ipd, offset, stim).double()
    expected, var = p.sum().item(), (p * (1 - p)).sum().item()
    assert abs(spikes.sum().item() - expected) < 6 * math.sqrt(var)
    rate_hz = spikes.double().mean().item() / stim.dt
    assert 0 < rate_hz < stim.rate_max_hz


@pytest.mark.parametrize("phase, offsets", [("per-dataset", 1), ("per-sample", 50)])
def test_the_stimulus_reads_the_stream_in_order_ipds_offsets_spikes(phase, offsets):
    """A seed's stimulus is the generator's stream read in this order: the n IPDs, the phase
    offsets (one for the whole set with ``per-dataset``, n with ``per-sample``), then one uniform
    draw per sample, step and fibre, compared with its probability: rebuilt here with plain torch
    ops. An offset drawn n times and used once would shift every spike draw of a seed."""
    stim = IPDStimulus(phase=phase)
    ipd, spikes = generate(50, stim, torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    want_ipd = torch.rand(50, generator=g) * math.pi - math.pi / 2
    offset = torch.rand(offsets, generator=g).expand(50)
    p = spike_probability(want_ipd, offset, stim)
    assert torch.equal(ipd, want_ipd)
    assert torch.equal(spikes, torch.rand(p.shape, generator=g) < p)


def test_phase_modes():
    g = torch.Generator().manual_seed(0)
    shared = draw_offsets(50, "per-dataset", g)
    assert torch.all(shared == shared[0])
    own = draw_offsets(50, "per-sample", g)
    assert len(torch.unique(own)) == 50
    with pytest.raises(ValueError, match="per-sample, per-dataset"):
        draw_offsets(3, "random", g)


def test_same_seed_same_stimulus_and_different_seed_differs():
    stim = IPDStimulus()
    a = generate(64, stim, torch.Generator().manual_seed(5))
    b = generate(64, stim, torch.Generator().manual_seed(5))
    c = generate(64, stim, torch.Generator().manual_seed(6))
    assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0])
    assert not torch.equal(a[1], c[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the on-device path runs only with a GPU")
def test_generate_on_cuda():
    ipd, spikes = generate(64, IPDStimulus(), torch.Generator(device="cuda").manual_seed(0))
    assert spikes.is_cuda and spikes.dtype == torch.bool and ipd.is_cuda


@pytest.mark.parametrize("chunk", [1, 7, 32, 1000])
def test_the_generation_chunk_does_not_change_the_stimulus(monkeypatch, chunk):
    """The chunk of samples generated at once is a speed setting: the random stream is read in
    the same order, so the spikes are the same bit for bit (here 70 samples: chunks that divide
    it, that do not, and one larger than the set)."""
    import snnsim.encoders.ipd as ipd

    stim = IPDStimulus()
    reference = generate(70, stim, torch.Generator().manual_seed(3))
    monkeypatch.setattr(ipd, "CHUNK", chunk)
    again = generate(70, stim, torch.Generator().manual_seed(3))
    assert torch.equal(reference[0], again[0]) and torch.equal(reference[1], again[1])


def test_probability_matches_notebook_formula_at_other_settings():
    """dt, tone, rate, fibres and envelope other than the defaults (each enters the formula once)."""
    stim = IPDStimulus(dt=0.5e-3, duration=0.05, tone_hz=30.0, rate_max_hz=400.0, anf_per_ear=7, envelope_power=3.0)
    g = np.random.default_rng(1)
    ipd = g.uniform(-np.pi / 2, np.pi / 2, 4)
    offset = g.uniform(0, 1, 4)
    ours = spike_probability(torch.tensor(ipd, dtype=torch.float32), torch.tensor(offset, dtype=torch.float32), stim)
    assert ours.shape == (4, 100, 14)
    np.testing.assert_allclose(ours.numpy(), _numpy_probability(ipd, offset, stim), atol=2e-6)


@pytest.mark.parametrize("dt", ["1ms", "0.5ms", "0.1ms"])
def test_steps_are_the_duration_in_whole_steps(dt):
    """``43ms / 1ms`` is 42.99999999999999 in floats: the steps are the nearest whole number."""
    from snnsim.units import parse_duration

    per_ms = round(1e-3 / parse_duration(dt))
    for ms in range(1, 1001):
        assert IPDStimulus(dt=parse_duration(dt), duration=parse_duration(f"{ms}ms")).steps == ms * per_ms, ms


def test_the_stimulus_of_a_config_is_every_setting_of_it():
    """``IPDStimulus.from_config`` reads every stimulus setting, the phase mode too: read without it, a
    ``--phase per-dataset`` run (the notebook's seed-compatible stimulus) would draw per-sample phases.
    Only the default config had been checked, whose phase is the dataclass' default."""
    cfg = RunConfig(dt="0.5ms", duration="30ms", tone_hz=50.0, rate_max_hz=900.0, anf_per_ear=20,
                    envelope_power=3.0, phase="per-dataset")  # fmt: skip
    want = IPDStimulus(dt=0.5e-3, duration=0.03, tone_hz=50.0, rate_max_hz=900.0, anf_per_ear=20,
                       envelope_power=3.0, phase="per-dataset")  # fmt: skip
    assert IPDStimulus.from_config(cfg) == want


@pytest.mark.parametrize("n", [1, 32, 70])
def test_progress_is_told_each_sample_once(n):
    """``progress`` (a progress bar's ``update``) is told the samples of each chunk: n in all,
    also where the last chunk is short (70 = 32 + 32 + 6), so a bar ends at n, not past it."""
    from snnsim.encoders.ipd import CHUNK

    assert CHUNK == 32
    told = []
    generate(n, IPDStimulus(duration=0.01, anf_per_ear=2), torch.Generator().manual_seed(0), told.append)
    assert told == [min(CHUNK, n - k) for k in range(0, n, CHUNK)] and sum(told) == n


@pytest.mark.parametrize("dt", ["0.3ms", "0.7ms", "3ms", "7ms"])
def test_steps_of_a_step_that_is_no_power_of_ten_are_whole(dt):
    """``3ms / 0.3ms`` is 10.000000000000002 in floats, just above the whole number (and
    ``4.001s / 1ms`` 4001.0000000000005): the steps are the nearest whole number, not one more."""
    from decimal import Decimal

    from snnsim.units import parse_duration

    step = Decimal(dt[:-2])
    for k in range(2, 1001):
        assert IPDStimulus(dt=parse_duration(dt), duration=parse_duration(f"{step * k}ms")).steps == k, k
    assert IPDStimulus(dt=1e-3, duration=parse_duration("4.001s")).steps == 4001
