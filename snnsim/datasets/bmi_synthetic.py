"""A synthetic BMI data set in the exact format of the course's private ``bmi_dataset.pkl``.

So that ``--task bmi`` runs out of the box, :func:`generate` builds a dict with keys ``MI``,
``theta``, ``dtheta``, ``ddtheta``, ``torque`` and ``time``, each a list of 20 fold arrays:

- **Arm.** A planar two-joint arm (0 = shoulder, 1 = elbow) makes minimum-jerk point-to-point
  movements (0.4-1.2 s) to random postures (shoulder -0.3..1.2 rad, elbow 0.4..2.2 rad) with
  random pauses (0-0.6 s), simulated at 10 ms. ``theta``, ``dtheta``, ``ddtheta`` are exact;
  ``torque`` follows two-link rigid-body dynamics (inertia, Coriolis/centripetal, viscous
  damping; no gravity: a horizontal-plane arm).
- **Neurons.** 48 motor-cortex-like neurons with log-linear (exponential) tuning: the log
  rate is a baseline plus a cosine tuning to the joint-velocity vector (preferred direction,
  gain), a weaker position and acceleration term, and a private slow noise (Ornstein-Uhlenbeck,
  0.5 s) plus a shared slow gain fluctuation; the rate saturates softly at 80 Hz
  (``r / (1 + r / 80 Hz)``), so no bin holds an implausible burst. Each neuron leads the movement by its own lag
  (0-200 ms). Spikes are Poisson; counts are summed into 50 ms bins.
- **Samples.** One sample every 50 ms. ``MI`` holds 960 columns, **neuron-major**
  (column = neuron * 20 + bin), bin 19 the most recent 50 ms before the sample time and bin 0
  the oldest (950-1000 ms before), matching the ``--mi-order neuron-major`` default.
- **Folds.** 20 folds in time order, each ~1,300 samples in 4-6 contiguous blocks separated by
  gaps of 1-6 s (the ``time`` column jumps); folds follow one another in time.
- **Drift.** The tuning drifts slowly over the session (random walk per fold in baselines,
  gains and preferred directions), so adding distant training folds helps less than near ones.

Calibration: the parameters below were chosen so that the closed-form linear decoder of
:mod:`snnsim.studies.bmi` reaches test FVAF of shoulder velocity about 0.4 with 1 training fold
and about 0.55 with 18 (rotation 5), the figures of the real data (docs/bmi.md).

**A family of generators.** The settings above are one member (``standard``) of
:data:`FAMILY`: named :class:`Generator` records that change one aspect each (firing rates,
tuning strength, noise, drift, lags, number of blocks per fold), so that a recipe can be chosen
on several generators and seeds instead of fitting one (``--data synthetic:NAME:SEED``, see
:func:`parse_source`; docs/recipes.md lists them, "The generator family").

The data set is deterministic in its generator and seed and cached after first use under
``$SNNSIM_CACHE`` (default ``~/.cache/snnsim/``) as ``bmi_synthetic_v{VERSION}_seed{seed}.pkl``
(``..._{member}_seed{seed}.pkl`` for the other members), written atomically. Bump
:data:`VERSION` whenever the generator changes.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic_write import write_bytes
from ..config import MAX_SEED

VERSION = 2
N_FOLDS = 20
N_NEURONS = 48
N_BINS = 20
BIN = 0.05  # s, one sample and one MI bin
SUB = 5  # simulation sub-steps per bin (10 ms)
DATA_SEED = 0  # the seed of the default synthetic data set

# calibration (see module docstring)
SAMPLES_PER_FOLD = 1300
BASE_RATE_HZ = (1.5, 12.0)  # log-uniform range of baseline rates
VEL_GAIN = (0.2, 0.8)  # log-rate change per unit of normalised joint speed along the preferred direction
POS_GAIN = 0.15
ACC_GAIN = 0.1
PRIVATE_NOISE = 0.7  # sd of the private slow log-rate noise
SHARED_NOISE = 0.3  # sd of the shared slow gain fluctuation
NOISE_TAU = 0.5  # s
MAX_RATE_HZ = 80.0  # soft saturation of the rate
DRIFT = 0.03  # per-fold random-walk step of baselines / gains / directions
MAX_LAG = 20  # sub-steps (200 ms): the largest lead of a neuron over the movement
BLOCKS = (4, 6)  # contiguous blocks per fold (inclusive range)


@dataclass(frozen=True)
class Generator:
    """The settings of one member of the generator family (see the module docstring)."""

    base_rate_hz: tuple[float, float] = BASE_RATE_HZ
    vel_gain: tuple[float, float] = VEL_GAIN
    pos_gain: float = POS_GAIN
    acc_gain: float = ACC_GAIN
    private_noise: float = PRIVATE_NOISE
    shared_noise: float = SHARED_NOISE
    noise_tau: float = NOISE_TAU
    max_rate_hz: float = MAX_RATE_HZ
    drift: float = DRIFT
    max_lag: int = MAX_LAG
    blocks: tuple[int, int] = BLOCKS


STANDARD = Generator()
#: The generator family: ``standard`` (the default data set) and one change of it per member.
FAMILY: dict[str, Generator] = {
    "standard": STANDARD,
    "sparse": dataclasses.replace(STANDARD, base_rate_hz=(0.5, 5.0)),  # low firing rates
    "weak": dataclasses.replace(STANDARD, vel_gain=(0.1, 0.4)),  # broad, weak velocity tuning
    "noisy": dataclasses.replace(STANDARD, private_noise=1.0, shared_noise=0.5),
    "drifting": dataclasses.replace(STANDARD, drift=0.08),  # tuning changes faster across folds
    "lagged": dataclasses.replace(STANDARD, max_lag=60),  # neurons lead by up to 600 ms
    "fragmented": dataclasses.replace(STANDARD, blocks=(8, 12)),  # many short blocks per fold
}
SOURCE_PREFIX = "synthetic"


def parse_source(text: str) -> tuple[str, int] | None:
    """``synthetic``, ``synthetic:NAME`` or ``synthetic:NAME:SEED`` -> (member, seed); None for
    anything else (a file path). Raises ValueError (one line, naming the family and the forms) for
    any other text that starts with ``synthetic:``: an empty or unknown member, a bad seed, more
    parts. :func:`snnsim.config.coerce` checks every ``--data`` value with it."""
    parts = text.split(":")
    if parts[0] != SOURCE_PREFIX:
        return None
    forms = (f"give synthetic, synthetic:NAME or synthetic:NAME:SEED, NAME one of {', '.join(FAMILY)} and SEED "
             f"an integer in 0..{MAX_SEED}")  # fmt: skip
    if os.path.isfile(text):  # a data file whose name starts with "synthetic:"
        forms += f"; a file of that name is here: give ./{text} to read it"
    if len(parts) > 3:
        raise ValueError(f"{text!r} is no synthetic data set; {forms}")
    if len(parts) == 1:
        return "standard", DATA_SEED
    member = parts[1]
    if not member:
        raise ValueError(f"{text!r} names no synthetic generator; {forms}")
    if member not in FAMILY:
        raise ValueError(f"unknown synthetic generator {member!r} in {text!r}; {forms}")
    if len(parts) < 3:
        return member, DATA_SEED
    digits = parts[2]  # ASCII digits only: " 3" or another script's digits would name the same data otherwise
    if not (digits.isascii() and digits.isdigit()) or int(digits) > MAX_SEED:
        raise ValueError(f"the seed of {text!r} must be an integer in 0..{MAX_SEED}; {forms}")
    return member, int(digits)


def source_file(data: str | None) -> str | Path | None:
    """The file a BMI ``--data`` value reads: the cache file of a synthetic member (None: the
    default one), else ``data`` itself (a path, or a value :func:`parse_source` refuses)."""
    try:
        source = ("standard", DATA_SEED) if data is None else parse_source(data)
    except ValueError:
        return data
    return data if source is None else cache_path(source[1], source[0])


def cache_dir() -> Path:
    return Path(os.environ.get("SNNSIM_CACHE") or Path.home() / ".cache" / "snnsim")


def cache_path(seed: int = DATA_SEED, member: str = "standard") -> Path:
    name = "" if member == "standard" else f"_{member}"
    return cache_dir() / f"bmi_synthetic_v{VERSION}{name}_seed{seed}.pkl"


def _min_jerk(
    n_steps: int, dt: float, rng: np.random.Generator, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint angle, velocity and acceleration (n_steps, 2) of random minimum-jerk reaches."""
    lo, hi = np.array([-0.3, 0.4]), np.array([1.2, 2.2])
    theta = np.empty((n_steps, 2))
    dtheta = np.zeros((n_steps, 2))
    ddtheta = np.zeros((n_steps, 2))
    i, pos = 0, start.copy()
    while i < n_steps:
        pause = int(rng.uniform(0.0, 0.6) / dt)
        stop = min(n_steps, i + pause)
        theta[i:stop] = pos
        i = stop
        if i >= n_steps:
            break
        duration = rng.uniform(0.4, 1.2)
        target = rng.uniform(lo, hi)
        k = int(round(duration / dt))
        s = np.arange(1, k + 1) / k
        shape = 10 * s**3 - 15 * s**4 + 6 * s**5
        dshape = (30 * s**2 - 60 * s**3 + 30 * s**4) / duration
        ddshape = (60 * s - 180 * s**2 + 120 * s**3) / duration**2
        stop = min(n_steps, i + k)
        m = stop - i
        delta = target - pos
        theta[i:stop] = pos + shape[:m, None] * delta
        dtheta[i:stop] = dshape[:m, None] * delta
        ddtheta[i:stop] = ddshape[:m, None] * delta
        pos = theta[stop - 1].copy()
        i = stop
    return theta, dtheta, ddtheta


def _torque(theta: np.ndarray, dtheta: np.ndarray, ddtheta: np.ndarray) -> np.ndarray:
    """Two-link planar arm dynamics (upper arm 0.3 m 1.9 kg, forearm 0.33 m 1.7 kg), N m."""
    m1, m2, l1, r1, r2, i1, i2, b = 1.9, 1.7, 0.3, 0.16, 0.19, 0.017, 0.026, 0.05
    c2, s2 = np.cos(theta[:, 1]), np.sin(theta[:, 1])
    a = i1 + i2 + m1 * r1**2 + m2 * (l1**2 + r2**2)
    bb = m2 * l1 * r2
    d = i2 + m2 * r2**2
    h11, h12, h22 = a + 2 * bb * c2, d + bb * c2, d
    q1, q2 = dtheta[:, 0], dtheta[:, 1]
    tau1 = h11 * ddtheta[:, 0] + h12 * ddtheta[:, 1] - bb * s2 * (2 * q1 * q2 + q2**2) + b * q1
    tau2 = h12 * ddtheta[:, 0] + h22 * ddtheta[:, 1] + bb * s2 * q1**2 + b * q2
    return np.stack([tau1, tau2], axis=1)


def _ou(n_steps: int, n: int, dt: float, tau: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary Ornstein-Uhlenbeck noise (n_steps, n) with standard deviation sd."""
    a = np.exp(-dt / tau)
    w = rng.standard_normal((n_steps, n)) * sd * np.sqrt(1 - a * a)
    x = np.empty((n_steps, n))
    x[0] = rng.standard_normal(n) * sd
    for t in range(1, n_steps):
        x[t] = a * x[t - 1] + w[t]
    return x


#: Samples between a fold's ends and its first and last cut between blocks.
EDGE = 100


def generate(
    seed: int = DATA_SEED, samples_per_fold: int = SAMPLES_PER_FOLD, gen: Generator = STANDARD
) -> dict[str, list[np.ndarray]]:
    """Build the synthetic data set of generator ``gen`` (see the module docstring).
    Deterministic in ``gen`` and ``seed``. Blocks start at least ``EDGE`` samples from a fold's
    ends, so a fold holds at least 2 ``EDGE`` + blocks - 1 samples."""
    least = 2 * EDGE + gen.blocks[1] - 1
    if (
        isinstance(samples_per_fold, bool)
        or not isinstance(samples_per_fold, numbers.Integral)
        or samples_per_fold < least
    ):
        raise ValueError(f"samples_per_fold must be an integer >= {least} for this generator (up to {gen.blocks[1]} "
                         f"blocks per fold, the first and the last at least {EDGE} samples long), got "
                         f"{samples_per_fold!r}")  # fmt: skip
    from .. import seeding  # here, not at the top: configs check synthetic sources without torch

    rng = seeding.numpy_rng(seed, "bmi-synthetic")
    dt = BIN / SUB
    lead = N_BINS * SUB  # history needed before the first sample of a block (1 s)
    max_lag = gen.max_lag
    # tuning at the start of the session
    base = rng.uniform(np.log(gen.base_rate_hz[0]), np.log(gen.base_rate_hz[1]), N_NEURONS)  # log Hz
    gain = np.exp(rng.uniform(np.log(gen.vel_gain[0]), np.log(gen.vel_gain[1]), N_NEURONS))
    pd = rng.uniform(0, 2 * np.pi, N_NEURONS)
    pos_w = rng.standard_normal((N_NEURONS, 2)) * gen.pos_gain
    acc_w = rng.standard_normal((N_NEURONS, 2)) * gen.acc_gain
    lag = rng.integers(0, max_lag + 1, N_NEURONS)
    vel_scale = np.array([1.2, 1.5])  # rad/s: typical joint speeds, to normalise velocity
    acc_scale = np.array([8.0, 10.0])
    theta_mid = np.array([0.45, 1.3])

    out = {k: [] for k in ("MI", "theta", "dtheta", "ddtheta", "torque", "time")}
    clock = 0.0
    pos = theta_mid.copy()
    for fold in range(N_FOLDS):
        if fold:
            base = base + rng.standard_normal(N_NEURONS) * gen.drift
            gain = gain * np.exp(rng.standard_normal(N_NEURONS) * gen.drift)
            pd = pd + rng.standard_normal(N_NEURONS) * gen.drift
        n_blocks = int(rng.integers(gen.blocks[0], gen.blocks[1] + 1))
        cuts = np.sort(rng.choice(np.arange(EDGE, samples_per_fold - EDGE), n_blocks - 1, replace=False))
        sizes = np.diff(np.concatenate([[0], cuts, [samples_per_fold]]))
        fold_parts = {k: [] for k in out}
        for size in sizes:
            clock += rng.uniform(1.0, 6.0)  # gap before the block
            n_sub = lead + size * SUB + max_lag
            th, dth, ddth = _min_jerk(n_sub, dt, rng, pos)
            pos = th[-1]
            # log rate at sub-step t uses the kinematics at t + lag (the neuron leads)
            idx = np.minimum(np.arange(n_sub)[:, None] + lag[None, :], n_sub - 1)  # (n_sub, N)
            v = dth / vel_scale
            direction = np.stack([np.cos(pd), np.sin(pd)], axis=1)  # (N, 2)
            drive = gain * np.einsum("tnk,nk->tn", v[idx], direction)
            drive += np.einsum("tnk,nk->tn", (th - theta_mid)[idx], pos_w)
            drive += np.einsum("tnk,nk->tn", (ddth / acc_scale)[idx], acc_w)
            noise = _ou(n_sub, N_NEURONS, dt, gen.noise_tau, gen.private_noise, rng)
            noise += _ou(n_sub, 1, dt, gen.noise_tau * 4, gen.shared_noise, rng)
            rate = np.exp(base + drive + noise - 0.5 * (gen.private_noise**2 + gen.shared_noise**2))
            rate = rate / (1 + rate / gen.max_rate_hz)  # soft saturation: no 1 kHz outliers
            counts = rng.poisson(rate * dt)
            binned = counts[: (n_sub // SUB) * SUB].reshape(-1, SUB, N_NEURONS).sum(1)  # (bins, N)
            # sample j (time index lead + j*SUB sub-steps) sees the 20 bins before it
            sample_bins = N_BINS + np.arange(size)
            windows = np.stack([binned[b - N_BINS : b] for b in sample_bins])  # (size, 20 bins, N)
            mi = windows.transpose(0, 2, 1).reshape(size, N_NEURONS * N_BINS)  # neuron-major
            t_idx = lead + np.arange(size) * SUB
            fold_parts["MI"].append(mi.astype(np.float64))
            fold_parts["theta"].append(th[t_idx])
            fold_parts["dtheta"].append(dth[t_idx])
            fold_parts["ddtheta"].append(ddth[t_idx])
            fold_parts["torque"].append(_torque(th[t_idx], dth[t_idx], ddth[t_idx]))
            fold_parts["time"].append(clock + np.arange(size) * BIN)
            clock += size * BIN
        for k in out:
            out[k].append(np.concatenate(fold_parts[k]))
    for k in out:
        if k == "time":
            out[k] = [a.reshape(-1, 1) for a in out[k]]
    return out


def load_or_generate(seed: int = DATA_SEED, member: str = "standard") -> dict[str, list[np.ndarray]]:
    """The cached synthetic data set of family member ``member``, generated (and cached
    atomically) on first use."""
    path = cache_path(seed, member)
    if path.exists():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # a damaged cache is rebuilt
            pass
    from ..cli import announcing

    if (
        announcing() and sys.stderr is not None and sys.stderr.isatty()
    ):  # seconds of silence otherwise; a log gets no line; on a line of its own, not after a bar's text (status')
        from tqdm import tqdm

        tqdm.write(f"snnsim: generating the synthetic BMI data set {member} (seed {seed}), once: it is cached in {path}",
                   file=sys.stderr)  # fmt: skip
        sys.stderr.flush()
    data = generate(seed, gen=FAMILY[member])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), overwrite=True, result=False)
    except OSError:  # read-only home or full disk: run without a cache (no temporary left)
        pass
    return data
