"""A BMI data set from a second, independent generator, for a held-out check of the BMI recipe.

snnsim's synthetic family (``snnsim.datasets.bmi_synthetic``) varies one generator; the BMI
recipe was chosen on members of that family. This script writes a data set in the course's
format (``--data FILE.pkl``) from a generator written apart from the family, which no choice in
docs/recipes.md has seen. It differs from the family in every part:

- **Arm**: no point-to-point reaches; each joint is a damped spring driven by smooth noise
  (resonance 0.3-0.5 Hz), switched on and off in bouts (movement 1-4 s, rest 0.3-1.5 s).
- **Neurons**: 36 of 48 tuned, with rectified-linear (not exponential) cosine tuning to joint
  velocity, a speed term (|velocity|, which no linear map of the counts can follow exactly) and
  a position term; 12 untuned. Lags from 100 ms behind to 250 ms ahead of the arm.
- **Spikes**: a gamma renewal process of order 2 (more regular than Poisson: Fano factor about
  0.5) at a 2 ms resolution, by time rescaling of the rate.
- **Session**: a shared slow gain (sd 0.2 in log, 5 s) and a per-fold drift of baselines;
  folds of 1,000-1,600 samples in 3-7 blocks.

Deterministic in ``--seed``. Calibrated on ridge alone (seed 0, shoulder velocity, 18 folds,
rotations 5, 10, 15), never on a spiking decoder: the first version's ridge test FVAF was 0.82;
the slow private noise and a tuning depth of 0.1-0.5 instead of 0.2-0.8 brought it to 0.35-0.44,
near the issue's held-out data (0.19-0.40) and the course's real data (about 0.55).

Beside the data file, ``OUT.json`` records what made it: the seed, the generator's settings,
the SHA-256 of this script and of the data file, and the versions (python, snnsim, numpy); the
pickle itself holds the course's keys only.

python analysis/bmi_heldout_data.py results/bmi_heldout0.pkl --seed 0
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
from _common import parser

from snnsim import results
from snnsim.atomic_write import PathTaken, write_bytes
from snnsim.cli import guarded, index, user_path
from snnsim.errors import ResultError

N_FOLDS, N_NEURONS, N_BINS = 20, 48, 20
N_TUNED = 36
LAGS = (-50, 125)  # steps of 2 ms: from 100 ms behind (follows) to 250 ms ahead of the arm (leads)
BIN = 0.05  # s
SUB = 25  # steps of 2 ms per bin
DT = BIN / SUB
PRIVATE = 0.5  # sd of each neuron's slow log-rate noise (300 ms)
MID = np.array([0.4, 1.4])  # rad, the springs' rest posture (shoulder, elbow)
FOLD_SAMPLES = (1000, 1600)  # samples per fold (inclusive range)


def lowpass(x: np.ndarray, tau: float) -> np.ndarray:
    """First-order low-pass y[t] = a y[t-1] + (1 - a) x[t] (from y = 0) of ``x`` (n, k) along time,
    a = exp(-DT / tau), as one FFT convolution with the whole kernel (1 - a) a**j."""
    n = len(x)
    a = np.exp(-DT / tau)
    size = 1 << (2 * n - 1).bit_length()
    kernel = (1 - a) * a ** np.arange(n)
    y = np.fft.irfft(np.fft.rfft(x, size, axis=0) * np.fft.rfft(kernel, size)[:, None], size, axis=0)
    return y[:n]


def _smooth_noise(n: int, rng: np.random.Generator, tau: float) -> np.ndarray:
    """White noise (n, 2) low-passed twice with time constant ``tau`` (s), unit standard deviation."""
    x = lowpass(lowpass(rng.standard_normal((n, 2)), tau), tau)
    return x / x.std(0)


def _slow(white: np.ndarray, tau: float) -> np.ndarray:
    """White noise (n, k) low-passed with time constant ``tau`` (s), scaled to unit standard deviation."""
    a = np.exp(-DT / tau)
    return lowpass(white, tau) * np.sqrt((1 + a) / (1 - a))


def _bouts(n: int, rng: np.random.Generator) -> np.ndarray:
    """1 while moving, 0 at rest, alternating bouts (n,)."""
    on, i, moving = np.zeros(n), 0, True
    while i < n:
        k = int(rng.uniform(1.0, 4.0) / DT) if moving else int(rng.uniform(0.3, 1.5) / DT)
        on[i : i + k] = float(moving)
        i, moving = i + k, not moving
    return lowpass(on[:, None], 0.1)[:, 0]  # 100 ms on/off ramps


def arm(n: int, rng: np.random.Generator, start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint angles, velocities, accelerations (n, 2) of two noise-driven damped springs."""
    f = rng.uniform(0.3, 0.5, 2)  # Hz
    k, c = (2 * np.pi * f) ** 2, 2 * 0.6 * 2 * np.pi * f
    drive = _smooth_noise(n, rng, 0.08) * _bouts(n, rng)[:, None] * np.array([3.0, 3.6])
    th, dth, ddth = np.empty((n, 2)), np.empty((n, 2)), np.empty((n, 2))
    p, v = start - MID, np.zeros(2)
    for t in range(n):  # semi-implicit Euler, 2 ms
        acc = drive[t] - k * p - c * v
        v = v + DT * acc
        p = p + DT * v
        th[t], dth[t], ddth[t] = p + MID, v, acc
    return th, dth, ddth


def renewal_counts(rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Spike counts per step (n, N) of gamma(2) renewal processes with rates ``rate`` (Hz)."""
    n, m = rate.shape
    cum = np.cumsum(rate * DT, axis=0)  # the rescaled time at each step's end
    counts = np.zeros((n, m), dtype=np.int64)
    for j in range(m):
        total = cum[-1, j]
        intervals = rng.gamma(2.0, 0.5, int(total * 1.5) + 50)  # mean 1 in rescaled time
        times = np.cumsum(intervals)
        times = times[times < total]
        steps = np.searchsorted(cum[:, j], times)
        np.add.at(counts[:, j], steps, 1)
    return counts


def generate(seed: int = 0, fold_samples: tuple[int, int] | None = None) -> dict[str, list[np.ndarray]]:
    """The data set of ``seed`` in the course's format (see the module docstring); each fold
    holds ``fold_samples`` samples (inclusive range; at least 200; None: :data:`FOLD_SAMPLES`)."""
    fold_samples = FOLD_SAMPLES if fold_samples is None else fold_samples
    rng = np.random.default_rng([seed, 2718])
    base = np.exp(rng.uniform(np.log(3.0), np.log(30.0), N_NEURONS))  # Hz
    tuned = np.arange(N_NEURONS) < N_TUNED
    depth = np.where(tuned, rng.uniform(0.1, 0.5, N_NEURONS), 0.0)
    pd = rng.uniform(0, 2 * np.pi, N_NEURONS)
    speed_w = np.where(tuned, rng.uniform(-0.3, 0.5, N_NEURONS), 0.0)
    pos_w = rng.standard_normal((N_NEURONS, 2)) * 0.2 * tuned[:, None]
    lag = rng.integers(LAGS[0], LAGS[1] + 1, N_NEURONS)
    vel_scale = np.array([1.0, 1.2])  # rad/s
    out = {k: [] for k in ("MI", "theta", "dtheta", "ddtheta", "torque", "time")}
    clock, pos = 0.0, MID.copy()
    for fold in range(N_FOLDS):
        if fold:
            base = base * np.exp(rng.standard_normal(N_NEURONS) * 0.05)
        size_total = int(rng.integers(fold_samples[0], fold_samples[1] + 1))
        n_blocks = int(rng.integers(3, 8))
        cuts = np.sort(rng.choice(np.arange(80, size_total - 80), n_blocks - 1, replace=False))
        parts = {k: [] for k in out}
        for size in np.diff(np.concatenate([[0], cuts, [size_total]])):
            clock += rng.uniform(0.5, 4.0)
            lead = N_BINS * SUB - LAGS[0]  # the first sample's window, and the arm before it
            n = lead + size * SUB + LAGS[1] + 1
            th, dth, ddth = arm(n, rng, pos)
            pos = th[-1]
            idx = np.clip(np.arange(n)[:, None] + lag[None, :], 0, n - 1)  # (n, N): the arm at t + lag
            v = dth / vel_scale
            along = v[idx, 0] * np.cos(pd) + v[idx, 1] * np.sin(pd)
            speed = np.hypot(v[idx, 0], v[idx, 1])
            posture = (th[idx, 0] - MID[0]) * pos_w[:, 0] + (th[idx, 1] - MID[1]) * pos_w[:, 1]
            gain = np.exp(
                0.2 * _slow(rng.standard_normal((n, 1)), 5.0)
                + PRIVATE * _slow(rng.standard_normal((n, N_NEURONS)), 0.3)
            )
            rate = base * gain * np.maximum(1 + depth * along + speed_w * speed + posture, 0.05)
            counts = renewal_counts(rate, rng)
            binned = counts[: (n // SUB) * SUB].reshape(-1, SUB, N_NEURONS).sum(1)
            t_idx = lead + np.arange(size) * SUB  # sample j: the 20 bins before step t_idx[j]
            first_bin = (t_idx // SUB) - N_BINS
            windows = np.stack([binned[b : b + N_BINS] for b in first_bin])  # (size, 20, N)
            parts["MI"].append(windows.transpose(0, 2, 1).reshape(size, -1).astype(np.float64))
            parts["theta"].append(th[t_idx])
            parts["dtheta"].append(dth[t_idx])
            parts["ddtheta"].append(ddth[t_idx])
            parts["torque"].append(0.08 * ddth[t_idx] + 0.05 * dth[t_idx])  # a light arm, viscous
            parts["time"].append(clock + np.arange(size) * BIN)
            clock += size * BIN
        for k in out:
            out[k].append(np.concatenate(parts[k]))
    return out


PROG = "bmi_heldout_data"


def record(argv: list[str], seed: int, raw: bytes) -> dict:
    """What made data file ``raw`` (the pickle's bytes), for ``OUT.json``."""
    versions = results.library_versions()
    settings = {"n_tuned": N_TUNED, "lags_steps": list(LAGS), "step_s": DT, "bin_s": BIN, "private_noise_sd": PRIVATE}
    return {"made_by": f"analysis/{Path(__file__).name}", "command": [f"analysis/{Path(__file__).name}", *argv],
            "seed": seed, "fold_samples": list(FOLD_SAMPLES), "settings": settings,
            "script_sha256": results.file_sha256(__file__), "sha256": hashlib.sha256(raw).hexdigest(),
            "versions": {k: versions[k] for k in ("python", "snnsim", "numpy")}}  # fmt: skip


def write(argv: list[str] | None = None) -> int:
    """The script's body: ResultError when ``out`` or its record ``out.json`` exists."""
    argv = sys.argv[1:] if argv is None else argv
    p = parser(PROG, __doc__)
    p.add_argument(
        "out",
        type=user_path,
        help="the .pkl file to write (must not exist; its folder is made); what made it goes to OUT.json",
    )
    p.add_argument(
        "--seed", type=index, default=0, help="the generator's seed; the same seed writes the same data (default 0)"
    )
    args = p.parse_args(argv)
    made = Path(f"{args.out}.json")
    for path in (args.out, made):
        if os.path.lexists(path):  # refused before generating (a broken link too)
            raise ResultError(f"{path} exists; give a new path")
    results.check_writable(args.out, flag="OUT", example="heldout.pkl")  # a folder name, an empty name, read-only
    results.check_format_name(args.out, "this script writes a pickle", (".pkl", ".pickle"), flag="OUT")
    raw = pickle.dumps(generate(args.seed), protocol=pickle.HIGHEST_PROTOCOL)
    try:  # each in one step: a full disk leaves no partial file that would block the next try
        write_bytes(args.out, raw)
    except PathTaken:
        raise ResultError(f"{args.out} exists; give a new path") from None
    try:  # the data file is not left without its record (a full disk, Ctrl-C)
        write_bytes(made, (json.dumps(record(argv, args.seed, raw), indent=1) + "\n").encode())
    except BaseException as exc:
        os.unlink(args.out)
        if isinstance(exc, PathTaken):
            raise ResultError(f"{made} exists; give a new path") from None
        raise
    print(f"wrote {args.out} (seed {args.seed}) and what made it, {made}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Exit code of the script; bad input is one line on stderr and exit code 2."""
    return guarded(PROG, lambda: write(argv))


if __name__ == "__main__":
    sys.exit(main())
