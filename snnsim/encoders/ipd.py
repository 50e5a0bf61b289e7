"""Poisson interaural-phase-difference (IPD) stimuli, as in the readout notebook.

Fibre i of either ear (``anf_per_ear`` per ear) has phase delay ``linspace(0, pi/2, n)[i]``;
the second ear adds the IPD. With phase ``theta = 2*pi*(f*t + offset) + delay (+ ipd)``, a fibre
spikes in a step of dt when ``U(0,1) < rate_max*dt*(0.5*(1 + sin(theta)))**envelope_power``.
IPDs are drawn from U(-pi/2, pi/2) rad.

Phase offset modes:

- ``per-dataset``: one offset ~ U(0, 1) for the whole generated set (the notebook's
  ``input_signal``, seed quirk 1: a training set and the test set each share one phase);
- ``per-sample``: one offset per sample (corrected).

Everything is generated with torch on the requested device, in float32 and in chunks of
samples, so no (samples, steps, fibres) float64 array is ever built; on the CPU the uniform
draws and their comparison run in compiled code, the same bits as torch's (:mod:`.bernoulli`).
Spikes are returned as ``bool`` (1 byte per entry) and converted to float one batch at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from . import bernoulli

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..config import RunConfig

CHUNK = 32  # samples per generation chunk: a float32 working set of ~2.6 MB that stays in cache


@dataclass(frozen=True)
class IPDStimulus:
    """Stimulus parameters (SI units)."""

    dt: float = 1e-3  # s
    duration: float = 0.1  # s
    tone_hz: float = 20.0  # Hz
    rate_max_hz: float = 600.0  # Hz
    anf_per_ear: int = 100
    envelope_power: float = 2.0
    phase: str = "per-sample"

    @property
    def steps(self) -> int:
        return int(round(self.duration / self.dt))

    @property
    def n_inputs(self) -> int:
        return 2 * self.anf_per_ear

    @classmethod
    def from_config(cls, cfg: RunConfig) -> IPDStimulus:
        return cls(cfg.dt, cfg.duration, cfg.tone_hz, cfg.rate_max_hz, cfg.anf_per_ear, cfg.envelope_power, cfg.phase)


def spike_probability(
    ipd: torch.Tensor, offset: torch.Tensor, stim: IPDStimulus, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-step spike probability (N, T, 2*anf) for IPDs (N,) rad and phase offsets (N,) cycles,
    written into the first N rows of ``out`` (float32, at least N rows) where given."""
    device = ipd.device
    t = torch.arange(stim.steps, device=device, dtype=torch.float32) * stim.dt
    # phase of the tone in cycles, wrapped to [0, 1) before scaling to rad (keeps float32 exact enough)
    cycles = torch.remainder(stim.tone_hz * t[None, :] + offset[:, None].float(), 1.0)
    phi = 2 * math.pi * cycles  # (N, T)
    delays = torch.linspace(0, math.pi / 2, stim.anf_per_ear, device=device, dtype=torch.float32)
    n_samples, steps, anf = phi.shape[0], phi.shape[1], stim.anf_per_ear
    if out is None:
        out = torch.empty((n_samples, steps, 2 * anf), device=device, dtype=torch.float32)
    theta = out[:n_samples]
    left, right = theta[..., :anf], theta[..., anf:]
    torch.add(phi[:, :, None], delays, out=left)
    torch.add(left, ipd[:, None, None].float(), out=right)
    # rate*dt * (0.5*(1 + sin))**power, in place (the same float32 operations, one buffer)
    return theta.sin_().add_(1).mul_(0.5).pow_(stim.envelope_power).mul_(stim.rate_max_hz * stim.dt)


def draw_offsets(n: int, phase: str, generator: torch.Generator) -> torch.Tensor:
    """Phase offsets (n,) in cycles, U(0, 1): one shared by all samples or one per sample."""
    if phase == "per-dataset":
        return torch.rand(1, generator=generator, device=generator.device).expand(n)
    if phase == "per-sample":
        return torch.rand(n, generator=generator, device=generator.device)
    raise ValueError(f"unknown phase mode {phase!r}; accepted: per-sample, per-dataset")


def generate(
    n: int, stim: IPDStimulus, generator: torch.Generator, progress: Callable[[int], object] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` IPDs and their spike trains on the generator's device; ``progress(k)`` is told
    each chunk of ``k`` samples drawn (a progress bar's ``update``: the same draws).

    Returns:
        ipd: (n,) float32, rad, in [-pi/2, pi/2).
        spikes: (n, T, 2*anf_per_ear) bool.
    """
    device = generator.device
    ipd = torch.rand(n, generator=generator, device=device) * math.pi - math.pi / 2
    offset = draw_offsets(n, stim.phase, generator)
    spikes = torch.empty((n, stim.steps, stim.n_inputs), dtype=torch.bool, device=device)
    compiled = bernoulli.draws(generator)  # the same draws as the torch ops below, faster
    # one buffer for every chunk: a fresh one per chunk cost as much again in first-touch page faults
    buffer = torch.empty((min(n, CHUNK), stim.steps, stim.n_inputs), device=device, dtype=torch.float32)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        prob = spike_probability(ipd[start:stop], offset[start:stop], stim, out=buffer)
        if compiled is not None:
            compiled(prob, spikes[start:stop])
        else:
            torch.lt(torch.rand(prob.shape, generator=generator, device=device), prob, out=spikes[start:stop])
        if progress is not None:
            progress(stop - start)
    if compiled is not None:
        compiled.close()
    return ipd, spikes
