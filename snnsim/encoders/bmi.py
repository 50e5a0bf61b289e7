"""BMI encoder: 20 bins of 48 neurons' spike counts -> input currents of the spiking decoder.

Two encodings (``--encoding``): ``bins`` (:func:`encode`, the default) and ``window``
(:func:`encode_window`).

**bins**: 20 time steps of 48 input currents.
Each sample's MI row becomes a sequence: bin ``k`` of the 20 is time step ``k`` of the spiking
network (one step of ``dt`` per bin, so ``tau`` is measured in bins of ``dt``: with the defaults
``dt`` = 1 ms and ``tau`` = 20 ms, the membrane forgets with ``alpha = exp(-1/20)`` per bin, a memory
about as long as the 20-bin window). Inputs are **currents**, not spikes: the counts, z-scored
per neuron with the mean and standard deviation of the *training folds only* (over samples and
bins), multiply the input weights directly. Counts are small integers (mostly 0-3), so
turning them into spike trains would need several sub-steps per bin (longer simulation) and
add Bernoulli noise on top of the Poisson noise already in the data; currents keep all the
information, keep T = 20 and let the first layer of LIF neurons do the spiking.

The notebook's neurons integrate an input one step after it arrives and the spike record lags
the membrane by one more step (:mod:`snnsim.functional.lif`): input step k reaches the hidden
spikes at step k+2 and the output membrane at k+3. :data:`PAD` = 3 zero steps are therefore
appended, so that the most recent bin (bin 19) still reaches the readout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PAD = 3  # trailing zero steps so every bin reaches the output layer


@dataclass(frozen=True)
class Normaliser:
    """Per-neuron mean and standard deviation of the training counts."""

    mean: np.ndarray  # (48,)
    std: np.ndarray  # (48,)

    @classmethod
    def fit(cls, counts: np.ndarray) -> Normaliser:
        """``counts`` (n, bins, neurons) of the training folds."""
        flat = counts.reshape(-1, counts.shape[-1]).astype(np.float64)
        std = flat.std(0)
        return cls(flat.mean(0), np.where(std > 0, std, 1.0))


def encode(counts: np.ndarray, norm: Normaliser, pad: int = PAD) -> torch.Tensor:
    """Counts (n, 20, 48) -> input currents (n, 20 + pad, 48), float32."""
    x = (np.asarray(counts, dtype=np.float64) - norm.mean) / norm.std
    if pad:
        x = np.concatenate([x, np.zeros((x.shape[0], pad, x.shape[2]))], axis=1)
    return torch.from_numpy(x.astype(np.float32))


def encode_window(counts: np.ndarray, norm: Normaliser) -> torch.Tensor:
    """Counts (n, 20, 48) -> one step of 960 input currents (n, 1, 960), float32: the whole window.

    **window**: every (bin, neuron) value is an input channel of its own, z-scored as in
    :func:`encode`, in bin-major order (channel = bin * 48 + neuron). The decoder holds these
    currents for ``window_steps`` steps (``SNNRegressor`` expands the one step), so its first
    layer can weight each bin of each neuron separately, as the ridge and ANN decoders do, and the
    hidden neurons turn the held current into a spike rate."""
    x = encode(counts, norm, pad=0)
    return x.reshape(x.shape[0], 1, -1)
