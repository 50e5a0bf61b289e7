"""BMI decoding: arm state from 48 motor-cortex neurons' binned spike counts.

Data: :func:`snnsim.datasets.bmi.load` (``--data``, default the synthetic data set), folds of
the course (:func:`~snnsim.datasets.bmi.fold_split`), target ``--target`` columns ``--dim``.
Targets are z-scored with the training folds' statistics for training; metrics (FVAF, RMSE per
output, population variance) are computed in the original units on the training, validation
and test folds.

Models (``--model``):

- ``snn`` (default): the shared :class:`~snnsim.network.Decoder` (hidden LIF layer of the
  chosen backend, output layer read by the readout registry) on the ``bmi`` encoder's input
  currents (20 bins = 20 steps, + 3 flush steps), followed by a per-output affine head
  ``y = a * readout + b`` (the network has no biases; the head only rescales). ``mean``,
  ``max`` and ``last`` read the non-spiking leaky-integrator output. ``fr`` makes the output
  layer spike, as for IPD, with **two** output neurons per dimension in push-pull:
  ``y = a * (rate+ - rate-) + b``; a single firing rate in [0, 1] could not represent a signed
  velocity without a large baseline rate.
- ``ann``: the assignment's shallow dense network: 960 z-scored inputs -> ``--hidden`` ELU
  units -> linear outputs, with biases.
- ``linear``: ridge regression (Wiener filter over the 20 bins) on the 960 z-scored inputs
  plus a bias, closed form; the ridge strength is picked on the validation fold from a
  log-spaced grid (1e-1 .. 1e5). It is deterministic: all repeats give the same numbers.

Training (snn, ann): Adam (``--lr``), mean squared error on the z-scored targets, shuffled
mini-batches of ``--batch-size`` (last partial batch dropped), at most ``--epochs`` epochs,
early stopping on the mean validation FVAF with ``--patience`` (:mod:`snnsim.training`).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from torch import nn
from torch.nn.utils import parametrize

from .. import seeding
from ..backends import make_backend
from ..config import RunConfig
from ..costs import Costs, cost_variables
from ..datasets import bmi as bmi_data
from ..datasets.bmi import BIN_SECONDS, Folds, Splits
from ..encoders.bmi import PAD, Normaliser, encode, encode_window
from ..errors import DataError
from ..functional.cell import per_model
from ..functional.lif import LIFParameters
from ..metrics import fvaf, rmse
from ..network import WEIGHT_UNITS, Architecture, Decoder, NetworkOutput, per_model_matmul
from ..network import weight_dims as decoder_weight_dims
from ..network import weight_values as decoder_weight_values
from ..readouts import get_readout
from ..results import PENALTY, provenance_attrs
from ..training import (
    FitOptions,
    Training,
    checkpoint_key,
    clip_gradients,
    epoch_variables,
    fit_epochs,
    lr_at,
    make_optimiser,
    rate_penalty,
)
from . import Outcome, cell

RIDGE_GRID = tuple(10.0**k for k in np.arange(-1, 5.5, 0.5))
EVAL_CHUNK = 4096
#: The order of the 960 inputs of the ANN and ridge (``feature``): not the data file's MI columns.
FEATURE_ORDER = "feature = bin * 48 + neuron (bin 0 first, whatever --mi-order)"
SPLITS = Splits._fields
UNITS = {"theta": "rad", "dtheta": "rad/s", "ddtheta": "rad/s^2", "torque": "N m"}


# -- data ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BMIData:
    """The folds of one config, normalised with the training folds' statistics only.

    x: model inputs per split: currents (n, 23, 48) for ``snn``, z-scored counts (n, 960) otherwise.
    y: z-scored targets per split (n, D). y_mean, y_std: the targets' normalisation (D,).
    x_mean, x_std: the inputs' normalisation: per neuron (48,) for ``snn``, per column (960,) otherwise.
    """

    folds: Splits[Folds]
    x: Splits[torch.Tensor]
    y: Splits[torch.Tensor]
    y_mean: np.ndarray
    y_std: np.ndarray
    x_mean: np.ndarray
    x_std: np.ndarray


def prepare(cfg: RunConfig, device: torch.device | str = "cpu") -> BMIData:
    """Load, split and normalise the data of ``cfg`` (inputs and targets on ``device``)."""
    raw = bmi_data.load(cfg.data)
    from ..cli import announcing

    if cfg.model == "linear" and announcing() and sys.stderr is not None and sys.stderr.isatty():  # a log gets no line
        from tqdm import tqdm  # seconds without a bar: the ridge has no epochs

        tqdm.write(f"snnsim: splitting and normalising the BMI data, then fitting the ridge regression "
                   f"({len(RIDGE_GRID)} strengths, chosen on the validation fold)", file=sys.stderr)  # fmt: skip
        sys.stderr.flush()
    folds = bmi_data.extract(raw, cfg.rotation, cfg.n_train_folds, cfg.target, cfg.dims, cfg.mi_order)
    check_targets(cfg, folds)
    y_mean, y_std = folds.train.y.mean(0), folds.train.y.std(0)
    y_std = np.where(y_std > 0, y_std, 1.0)
    if cfg.model == "snn":
        norm = Normaliser.fit(folds.train.counts)
        mu, sd = norm.mean, norm.std
    else:
        flat = folds.train.counts.reshape(len(folds.train.counts), -1)
        mu, sd = flat.mean(0), flat.std(0)
        sd = np.where(sd > 0, sd, 1.0)
    x = Splits(*(checked_inputs(cfg, f.counts, mu, sd, f"{split} fold(s)", f.folds) for split, f in zip(SPLITS, folds)))
    y = Splits(*(torch.from_numpy(((f.y - y_mean) / y_std).astype(np.float32)) for f in folds))
    if cfg.model != "linear":
        x, y = Splits(*(v.to(device) for v in x)), Splits(*(v.to(device) for v in y))
    return BMIData(folds, x, y, y_mean, y_std, mu, sd)


def model_inputs(cfg: RunConfig, counts: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """Counts (n, 20, 48) -> the model's inputs with the training folds' normalisation."""
    if cfg.model == "snn":
        return (encode_window if cfg.encoding == "window" else encode)(counts, Normaliser(mean, std))
    flat = counts.reshape(len(counts), -1)
    return torch.from_numpy(((flat - mean) / std).astype(np.float32))


def checked_inputs(
    cfg: RunConfig, counts: np.ndarray, mean: np.ndarray, std: np.ndarray, where: str, folds: Sequence[int]
) -> torch.Tensor:
    """:func:`model_inputs`, refusing counts beyond float32's range once normalised (they would be inf)."""
    with np.errstate(over="ignore"):  # refused below, in one line
        inputs = model_inputs(cfg, counts, mean, std)
    if not torch.isfinite(inputs).all():
        raise DataError(
            f"--data: the spike counts of the {where} {','.join(map(str, folds))} are too large for "
            f"float32 once normalised (largest {np.abs(counts).max():.3g})"
        )
    return inputs


def check_targets(cfg: RunConfig, folds: Splits[Folds]) -> None:
    """FVAF needs a target that varies in every split: refuse a constant one (or a one-row fold),
    and targets or training counts whose variance overflows (no finite normalisation)."""
    for split, f in zip(SPLITS, folds):
        check_target_columns(cfg, f.y, f"{split} fold(s)", f.folds, "--target, --dim, --rotation or data set")
    with np.errstate(over="ignore", invalid="ignore"):
        spread = folds.train.counts.std()
    if not np.isfinite(spread):
        raise DataError(
            f"--data: the spike counts of the training fold(s) {','.join(map(str, folds.train.folds))} are too "
            f"large to normalise (largest {np.abs(folds.train.counts).max():.3g}; their variance overflows)"
        )


def check_target_columns(cfg: RunConfig, y: np.ndarray, where: str, folds: Sequence[int], choices: str) -> None:
    """Refuse a column of ``y`` (rows, len(cfg.dims)) that is constant or shorter than 2 rows (FVAF
    undefined), or overflows."""
    for d, column in zip(cfg.dims, y.T):
        with np.errstate(over="ignore", invalid="ignore"):
            spread = np.std(column)
            scale = np.abs(column).max() if len(column) else 0.0
        if len(column) < 2:
            raise DataError(
                f"--data: the {where} {','.join(map(str, folds))} hold(s) {len(column)} row(s): FVAF needs at least 2; "
                f"choose another {choices}"
            )
        if spread == 0 or spread <= 1e-9 * scale:  # constant, or constant but for rounding
            raise DataError(
                f"--target: {cfg.target} ({bmi_data.JOINTS[d]}) is constant in the {where} "
                f"{','.join(map(str, folds))} ({len(column)} rows): FVAF is undefined there; choose another {choices}"
            )
        if not np.isfinite(spread):
            raise DataError(
                f"--data: {cfg.target} ({bmi_data.JOINTS[d]}) in the {where} {','.join(map(str, folds))} is too "
                f"large to normalise (largest magnitude {scale:.3g}; its variance overflows)"
            )
        if scale > np.finfo(np.float32).max:  # the result file's predictions are float32: they would be inf
            raise DataError(
                f"--data: {cfg.target} ({bmi_data.JOINTS[d]}) in the {where} {','.join(map(str, folds))} is too "
                f"large for float32 predictions (largest magnitude {scale:.3g}); give it in a smaller unit"
            )


# -- models ----------------------------------------------------------------------------------------
class SNNRegressor(nn.Module):
    """M spiking decoders (:class:`Decoder`) with a per-output affine head."""

    def __init__(self, cfg: RunConfig, n_out: int, generators: Sequence[torch.Generator]) -> None:
        super().__init__()
        readout = get_readout(cfg.readout)
        self.push_pull = readout.spiking_output
        params = LIFParameters(cfg.alpha, cfg.threshold, cfg.surrogate_slope, cfg.neuron)
        self.units = cfg.readout_units  # output units per dimension (summed after the weighted readout)
        n_units = 2 * n_out if self.push_pull else n_out * self.units
        self.window_steps = cfg.window_steps if cfg.encoding == "window" else 0  # steps the window is held
        n_in = bmi_data.N_NEURONS * (bmi_data.N_BINS if self.window_steps else 1)
        self.decoder = Decoder(
            n_in, cfg.hidden_sizes[0], n_units, make_backend(cfg.backend), readout, params, cfg.init,
            generators, Architecture.from_config(cfg),
        )  # fmt: skip
        m = len(generators)
        self.scale = nn.Parameter(torch.ones(m, 1, n_out))
        self.bias = nn.Parameter(torch.zeros(m, 1, n_out))
        self.readout_weights = None
        if cfg.readout == "weighted":  # the learned readout's weights over time, starting as the mean over steps
            steps = steps_of(cfg)
            self.readout_weights = nn.Parameter(torch.full((m, steps, n_units), 1 / steps))
        self.n_out = n_out
        if cfg.input_rank:
            factor_input_weights(self.decoder, cfg.input_rank, generators)
        self.hidden_spikes = torch.zeros(m, dtype=torch.float64)  # of the calls since the last reset
        self.last_hidden: torch.Tensor | None = None  # the last call's hidden spikes (rate regularisation)

    def held(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's input currents over time: the window encoding's one step held for its steps."""
        return x.expand(*x.shape[:-2], self.window_steps, x.shape[-1]) if self.window_steps else x

    def decode(self, x: torch.Tensor) -> NetworkOutput:
        """The decoder's records for x (M, B, T, 48) currents (bins), or (M, B, 1, 960) (window)."""
        return self.decoder.forward_held(x, self.window_steps) if self.window_steps else self.decoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (M, B, T, 48) currents (bins), or (M, B, 1, 960) (window) -> (M, B, n_out)."""
        out = self.decode(x)
        self.hidden_spikes += out.hidden_spike_count().cpu()
        self.last_hidden = out.hidden_spikes if self.training else None
        if self.readout_weights is None:
            z = self.decoder.read(out)
        else:
            z = weighted_readout(out.trace, self.readout_weights, self.units)
        if self.push_pull:
            z = z[..., : self.n_out] - z[..., self.n_out :]
        return self.scale * z + self.bias


class LowRank(nn.Module):
    """A parametrisation of M weight matrices (M, inputs, hidden) as products A B of factors
    (M, inputs, R) and (M, R, hidden), one product per model (:func:`per_model_matmul`)."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self._start: tuple[torch.Tensor, torch.Tensor] | None = (a, b)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return per_model_matmul(a, b)

    def right_inverse(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The factors to start from (drawn by :func:`factor_input_weights`); a low-rank matrix
        is not set from a full one afterwards: set its factors."""
        if self._start is None:
            raise ValueError("a low-rank w1 is set through its factors (parametrizations.w1.original0/1)")
        start, self._start = self._start, None
        return start


def factor_input_weights(decoder: Decoder, rank: int, generators: Sequence[torch.Generator]) -> None:
    """Make ``decoder.w1`` the product A B of trained factors of rank ``rank``, drawn from the
    models' generators after every other weight: A fan-in uniform, B uniform with variance 1/R,
    so that A B has the variance of a fan-in uniform w1."""
    _, n_in, n_hidden = decoder.w1.shape
    a = torch.stack([_uniform((n_in, rank), n_in, g) for g in generators])
    b = torch.stack([_uniform((rank, n_hidden), 1, g) * math.sqrt(3 / rank) for g in generators])
    parametrize.register_parametrization(decoder, "w1", LowRank(a, b))


def steps_of(cfg: RunConfig) -> int:
    """Time steps of the spiking decoder: 20 bins and the trailing zeros, or the window's steps."""
    return cfg.window_steps if cfg.encoding == "window" else bmi_data.N_BINS + PAD


def step_seconds(cfg: RunConfig) -> float:
    """Seconds of data per step of the spiking decoder, for its firing rates in Hz: one 50 ms bin,
    or (window encoding) the 1 s window spread over the window's steps."""
    return bmi_data.N_BINS * BIN_SECONDS / cfg.window_steps if cfg.encoding == "window" else BIN_SECONDS


def weighted_readout(trace: torch.Tensor, weights: torch.Tensor, units: int = 1) -> torch.Tensor:
    """The ``weighted`` readout: trace (M, B, T, N) weighted by ``weights`` (M, T, N) and summed over
    time, then each output's ``units`` consecutive units summed: (M, B, N / units). Model by model
    (the same calls whatever M is, as :func:`~snnsim.network.per_model_matmul`)."""

    def one(t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        z = (t * w).sum(-2)
        return z if units == 1 else z.unflatten(-1, (-1, units)).sum(-1)

    return torch.stack([one(t, w) for t, w in zip(trace.unbind(0), weights.unbind(0))])


def _uniform(shape: tuple[int, ...], fan: int, g: torch.Generator) -> torch.Tensor:
    b = 1.0 / math.sqrt(fan)
    return torch.rand(shape, generator=g, dtype=torch.float64).mul_(2 * b).sub_(b).float()


class ANNRegressor(nn.Module):
    """M shallow dense networks: inputs -> hidden ELU -> linear outputs (fan-in uniform init).
    Each model's products are separate calls on fresh copies (:func:`~snnsim.functional.cell.per_model`),
    so a model's numbers do not depend on M."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, generators: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.stack([_uniform((n_in, n_hidden), n_in, g) for g in generators]))
        self.b1 = nn.Parameter(torch.stack([_uniform((1, n_hidden), n_in, g) for g in generators]))
        self.w2 = nn.Parameter(torch.stack([_uniform((n_hidden, n_out), n_hidden, g) for g in generators]))
        self.b2 = nn.Parameter(torch.stack([_uniform((1, n_out), n_hidden, g) for g in generators]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (M, B, 960) -> (M, B, n_out)."""
        return per_model(lambda xm, w1, b1, w2, b2: torch.baddbmm(b2, F.elu(torch.baddbmm(b1, xm, w1)), w2),
                         x, self.w1, self.b1, self.w2, self.b2)  # fmt: skip


class RidgeRegressor(nn.Module):
    """M copies of one ridge regression, fitted in closed form by :func:`fit_ridge` and applied
    in float64 with numpy (:meth:`predict`)."""

    def __init__(self, n_models: int) -> None:
        super().__init__()
        self.n_models = n_models
        self.w: np.ndarray | None = None  # (961, D), the last row the bias
        self.ridge_lambda = math.nan

    def predict(self, x: torch.Tensor) -> np.ndarray:
        """x (N, 960) -> (M, N, D) float64."""
        pred = np.c_[x.double().numpy(), np.ones(x.shape[0])] @ self.w
        return np.broadcast_to(pred, (self.n_models, *pred.shape))


def fit_ridge(data: BMIData) -> tuple[np.ndarray, float, float]:
    """Ridge regression with the ridge strength chosen on the validation fold.

    Returns weights (961, D) (last row the bias), the chosen strength and its validation FVAF.
    """
    return ridge(data.x.train.double().numpy(), data.y.train.double().numpy(),
                 data.x.val.double().numpy(), data.y.val.double().numpy())  # fmt: skip


def ridge(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Ridge regression from features x (n, F) to y (n, D) with an unpenalised bias, its strength
    (:data:`RIDGE_GRID`) chosen by the mean FVAF on (x_val, y_val). Returns weights (F + 1, D)
    (last row the bias), the strength and its validation FVAF."""
    a = np.c_[x, np.ones(x.shape[0])]
    av = np.c_[x_val, np.ones(x_val.shape[0])]
    gram, rhs = a.T @ a, a.T @ y
    best = (-np.inf, None, None)
    for lam in RIDGE_GRID:
        reg = np.full(a.shape[1], lam)
        reg[-1] = 0.0  # the bias is not penalised
        w = np.linalg.solve(gram + np.diag(reg), rhs)
        score = float(fvaf(y_val, av @ w).mean())
        if score > best[0]:
            best = (score, lam, w)
    if best[2] is None:
        raise DataError("ridge: no strength gave a finite validation FVAF (NaN or overflowing features or targets)")
    return best[2], best[1], best[0]


# -- training --------------------------------------------------------------------------------------
def predictions(model: nn.Module, x: torch.Tensor, n_models: int) -> np.ndarray:
    """Predictions (M, N, n_out) in z-scored units, float64."""
    if isinstance(model, RidgeRegressor):
        return model.predict(x)
    return predict(model, x, n_models).double().cpu().numpy()


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, n_models: int, progress: Callable[[int], object] | None = None
) -> torch.Tensor:
    """Predictions (M, N, n_out) in z-scored units; ``progress(k)`` is told each chunk of ``k``
    samples predicted (a progress bar's ``update``: the same numbers)."""
    out = []
    for start in range(0, x.shape[0], EVAL_CHUNK):
        chunk = x[start : start + EVAL_CHUNK]
        out.append(model(chunk.unsqueeze(0).expand(n_models, *chunk.shape)))
        if progress is not None:
            progress(chunk.shape[0])
    return torch.cat(out, dim=1)


def _fvaf_torch(y: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Mean over outputs of FVAF per model: y (N, D), pred (M, N, D) -> (M,)."""
    mse = ((pred - y) ** 2).double().mean(1)
    return (1 - mse / y.double().var(0, unbiased=False)).mean(-1)


class BMITrainer:
    """Adam on the MSE of z-scored targets; validation: mean FVAF on the validation fold."""

    def __init__(self, model: nn.Module, cfg: RunConfig, data: BMIData, seeds: Sequence[int]) -> None:
        self.model, self.data, self.cfg = model, data, cfg
        self.n_models, self.n_samples = len(seeds), data.x.train.shape[0]
        self.batch = min(cfg.batch_size, self.n_samples)
        self.n_batches = self.n_samples // self.batch
        self.optimiser = make_optimiser(model, cfg)
        self.orders = [seeding.generator(s, "order") for s in seeds]
        self.noise = [seeding.generator(s, "input-noise") for s in seeds] if cfg.input_noise else []
        self.dropout = [seeding.generator(s, "dropout") for s in seeds] if cfg.dropout else []

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (M, B, ...) plus Gaussian noise of sd ``input_noise`` and with inverted dropout
        of probability ``dropout``, each model's draws from its own streams."""
        if self.noise:
            noise = torch.stack([torch.randn(x.shape[1:], generator=g) for g in self.noise]).to(x.device, x.dtype)
            x = x + self.cfg.input_noise * noise
        if self.dropout:
            p = self.cfg.dropout
            keep = torch.stack([torch.rand(x.shape[1:], generator=g) >= p for g in self.dropout]).to(x.device)
            x = x * keep.to(x.dtype) / (1 - p)
        return x

    def epoch(self, on_batch: Callable[[], None]) -> np.ndarray:
        x, y = self.data.x.train, self.data.y.train
        perm = torch.stack([torch.randperm(self.n_samples, generator=g) for g in self.orders]).to(x.device)
        epoch_loss = torch.zeros(self.n_models, dtype=torch.float64, device=x.device)
        if isinstance(self.model, SNNRegressor):
            self.model.hidden_spikes.zero_()
        self.model.train()
        for b in range(self.n_batches):
            index = perm[:, b * self.batch : (b + 1) * self.batch]
            loss = ((self.model(self._noisy(x[index])) - y[index]) ** 2).mean((1, 2))  # (M,)
            if self.cfg.rate_reg:
                loss = loss + rate_penalty(self.model.last_hidden, self.cfg, step_seconds(self.cfg))
            self.optimiser.zero_grad()
            loss.sum().backward()  # each model's slice gets exactly its own gradient
            clip_gradients(self.model, self.n_models, self.cfg.grad_clip)
            self.optimiser.step()
            epoch_loss += loss.detach().double()
            on_batch()
        return (epoch_loss / self.n_batches).cpu().numpy()

    def validate(self) -> np.ndarray:
        self.model.eval()
        spikes = getattr(self.model, "hidden_spikes", torch.zeros(0)).clone()  # the rate is the training's
        score = _fvaf_torch(self.data.y.val, predict(self.model, self.data.x.val, self.n_models)).cpu().numpy()
        if isinstance(self.model, SNNRegressor):
            self.model.hidden_spikes.copy_(spikes)
        return score

    def hidden_rate_hz(self) -> np.ndarray | None:
        if not isinstance(self.model, SNNRegressor):
            return None
        steps, seconds = steps_of(self.cfg), step_seconds(self.cfg)  # a sample's steps, s per step
        neuron_seconds = self.n_batches * self.batch * sum(self.cfg.hidden_sizes) * steps * seconds
        return (self.model.hidden_spikes / neuron_seconds).numpy()

    def state_dict(self) -> dict:
        return {"optimiser": self.optimiser.state_dict(), "orders": [g.get_state() for g in self.orders],
                "noise": [g.get_state() for g in self.noise], "dropout": [g.get_state() for g in self.dropout]}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.optimiser.load_state_dict(state["optimiser"])
        saved = state["orders"] + state.get("noise", []) + state.get("dropout", [])
        for g, one in zip(self.orders + self.noise + self.dropout, saved):
            g.set_state(one)


# -- results ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitScores:
    """Per-output FVAF and RMSE (D,) and predictions (N, D), in the target's units."""

    fvaf: np.ndarray
    rmse: np.ndarray
    pred: np.ndarray


@dataclass(frozen=True)
class BMIRepeat:
    """What one repeat produced."""

    loss: np.ndarray  # (epochs,) NaN after early stop; linear: epoch 1 only
    val_curve: np.ndarray  # (epochs,)
    best_epoch: int
    ridge_lambda: float  # NaN except for linear
    scores: Splits[SplitScores]
    weights: dict[str, np.ndarray]  # the trained model's tensors by name (see WEIGHT_DIMS)
    costs: Costs
    lr: np.ndarray | None = None
    hidden_rate: np.ndarray | None = None


#: The trained tensors of each model kind in a result file: name -> dims after ``repeat``.
WEIGHT_DIMS = {
    "snn": {"head_scale": ("output",), "head_bias": ("output",)},  # and the decoder's (network.weight_dims)
    "ann": {"ann_w1": ("feature", "hidden_unit"), "ann_b1": ("hidden_unit",), "ann_w2": ("hidden_unit", "output"),
            "ann_b2": ("output",)},
    "linear": {"ridge_w": ("feature_bias", "output")},
}  # fmt: skip


def weight_dims(cfg: RunConfig) -> dict[str, tuple[str, ...]]:
    """The trained tensors of ``cfg``'s model in a result file (:data:`WEIGHT_DIMS`, and the
    ``weighted`` readout's ``readout_weights`` over (step, output_unit))."""
    dims = {**decoder_weight_dims(Architecture.from_config(cfg)), **WEIGHT_DIMS["snn"]} if cfg.model == "snn" else \
        dict(WEIGHT_DIMS[cfg.model])  # fmt: skip
    if cfg.model == "snn" and cfg.readout == "weighted":
        dims["readout_weights"] = ("step", "output_unit")
    return dims


def weights_of(model: nn.Module, m: int) -> dict[str, np.ndarray]:
    """Model ``m``'s trained tensors by their result-file names."""
    if isinstance(model, RidgeRegressor):
        return {"ridge_w": np.array(model.w)}
    if isinstance(model, SNNRegressor):
        t = {"head_scale": model.scale[m, 0], "head_bias": model.bias[m, 0]}
        if model.readout_weights is not None:
            t["readout_weights"] = model.readout_weights[m]
        return {**decoder_weight_values(model.decoder, m), **{k: v.detach().cpu().numpy() for k, v in t.items()}}
    else:
        t = {"ann_w1": model.w1[m], "ann_b1": model.b1[m, 0], "ann_w2": model.w2[m], "ann_b2": model.b2[m, 0]}
    return {k: v.detach().cpu().numpy() for k, v in t.items()}


def model_costs(model: nn.Module, x: torch.Tensor, cfg: RunConfig) -> list[Costs]:
    """Each model's cost metrics (:mod:`snnsim.costs`) on the test fold's inputs ``x``."""
    from .. import costs

    if isinstance(model, RidgeRegressor):
        w = torch.from_numpy(np.array(model.w))
        one = costs.dense([w[:-1]], [w[-1]], x.double())
        return [one] * model.n_models
    if isinstance(model, ANNRegressor):
        return [costs.dense([model.w1[m], model.w2[m]], [model.b1[m], model.b2[m]], x)
                for m in range(model.w1.shape[0])]  # fmt: skip
    with torch.no_grad():
        out = model.decode(x.unsqueeze(0).expand(model.decoder.n_models, *x.shape))
    x = model.held(x)  # the inputs at every step, as the costs count them
    spiking = out.out_spikes
    extra = 2 * model.n_out + (model.readout_weights[0].numel() if model.readout_weights is not None else 0)
    if parametrize.is_parametrized(model.decoder, "w1"):  # the factors are the parameters, not their product
        a, b = model.decoder.parametrizations.w1.original0, model.decoder.parametrizations.w1.original1
        extra += a[0].numel() + b[0].numel() - a.shape[1] * b.shape[2]
    return [costs.of_decoder(model.decoder, m, x, out.hidden_spikes[m], None if spiking is None else spiking[m],
                             step_seconds(cfg), extra)
            for m in range(model.decoder.n_models)]  # fmt: skip


def _describe(cfg: RunConfig, n_models: int) -> str:
    return f"bmi {cfg.model}" + (f" {cfg.backend} {cfg.readout}" if cfg.model == "snn" else "") + f" x{n_models}"


class BMIStudy:
    name = "bmi"
    memory_flags = "--batch-size, --hidden, --repeats, --window-steps, --max-delay"

    def group_key(self, cfg: RunConfig) -> RunConfig:
        """Configs that differ only by seed and repeats train as one batched model."""
        return cfg.replace(seed=0, repeats=1)

    def data_key(self, cfg: RunConfig, seed: int) -> tuple:
        """The data depend on the data set, folds, target and the model's input kind, not on the seed."""
        kind = cfg.encoding if cfg.model == "snn" else ("cpu" if cfg.model == "linear" else "flat")
        return (cfg.data, cfg.rotation, cfg.n_train_folds, cfg.target, cfg.dims, cfg.mi_order, kind)

    def memory_bytes(self, cfg: RunConfig) -> tuple[int, int]:
        """Data: the data set in float64 (the file's size, its content's where it is compressed, or
        about 26,000 samples of 960 counts for the synthetic set) three times (loaded, split,
        normalised), five times for ``ann`` and ``linear`` (their flat inputs are normalised in float64); training (``snn``): a
        mini-batch's (at most the data's samples) float32 records and gradients over its steps, the weights with Adam's moments,
        and three float32 records of an evaluation chunk (:data:`EVAL_CHUNK` samples) over its steps
        (``ann``: its one layer; ``linear``: ridge's products, whatever ``hidden``); input delays as
        in :meth:`IPDStudy.memory_bytes <snnsim.studies.ipd.IPDStudy.memory_bytes>`."""

        # os.path.isfile: False, not an OSError, for a name too long for a path (a huge synthetic seed)
        size = bmi_data.data_bytes(cfg.data) if cfg.data and os.path.isfile(cfg.data) else 26_000 * 965 * 8
        features = bmi_data.N_NEURONS * bmi_data.N_BINS
        # a mini-batch is at most the training set (the trainer cuts a larger --batch-size down): at
        # most the file's bytes / 960 samples (a byte a count), or the synthetic set's 26,000
        batch = min(cfg.batch_size, size // features if cfg.data and os.path.isfile(cfg.data) else 26_000)
        if cfg.model == "linear":  # ridge in float64: a copy of the inputs, and 960 x 960 products per strength
            return 5 * size, size + 16 * features * features * 8
        if cfg.model == "ann":  # one ELU layer: weights, gradients, Adam's moments; a batch's activations
            weights = ((features + 1) * cfg.hidden + (cfg.hidden + 1) * len(cfg.dims)) * 4 * 4
            return 5 * size, weights + batch * (features + 3 * cfg.hidden + 2 * len(cfg.dims)) * 4 * 2
        steps = steps_of(cfg)
        hidden = sum(cfg.hidden_sizes)
        work = batch * steps * 8 * (hidden + 2 * len(cfg.dims)) * 4
        work += EVAL_CHUNK * steps * 3 * (hidden + 2 * len(cfg.dims)) * 4
        weights = (bmi_data.N_NEURONS * bmi_data.N_BINS + 2 + hidden) * hidden * 4 * 4
        if cfg.delays != "none":  # the 48 input currents of --encoding bins, padded by the delay's steps
            inputs = bmi_data.N_NEURONS
            work += (batch * inputs * (3 * (cfg.delay_steps + steps) + 4 * steps)
                     + 6 * inputs * (cfg.delay_steps + 1)) * 4  # fmt: skip
        return 3 * size, work + weights

    def make_data(self, cfg: RunConfig, seed: int, device: torch.device) -> BMIData:
        return prepare(cfg, device)

    def make_model(self, cfgs: Sequence[RunConfig], seeds: Sequence[int], device: torch.device) -> nn.Module:
        cfg = cfgs[0]
        n_out = len(cfg.dims)
        if cfg.model == "linear":
            return RidgeRegressor(len(seeds))
        generators = [seeding.generator(s, "init") for s in seeds]
        if cfg.model == "snn":
            model = SNNRegressor(cfg, n_out, generators)
        else:
            model = ANNRegressor(bmi_data.N_NEURONS * bmi_data.N_BINS, cfg.hidden, n_out, generators)
        return model.to(device)

    def fit(self, model: nn.Module, cfgs: Sequence[RunConfig], data: Sequence[BMIData], seeds: Sequence[int],
            options: FitOptions) -> Training:  # fmt: skip
        cfg, n = cfgs[0], len(seeds)
        if isinstance(model, RidgeRegressor):
            model.w, model.ridge_lambda, val = fit_ridge(data[0])
            pred = model.predict(data[0].x.train)[0]
            loss = np.full((n, cfg.epochs), np.nan)
            loss[:, 0] = float(np.mean((pred - data[0].y.train.double().numpy()) ** 2))
            curve = np.full((n, cfg.epochs), np.nan)
            curve[:, 0] = val
            return Training(loss, curve, np.ones(n, dtype=int))
        trainer = BMITrainer(model, cfg, data[0], seeds)
        if trainer.batch < cfg.batch_size and options.notes:
            options.log(f"note: --batch-size {cfg.batch_size} is more than the {trainer.n_samples} training samples: "
                        "each epoch trains on all of them in one mini-batch")  # fmt: skip
        digest = bmi_data.loaded_sha256(cfg.data) if bmi_data.is_file_source(cfg.data) else None
        return fit_epochs(model, trainer, n, cfg.epochs, cfg.patience, _describe(cfg, n), options,
                          checkpoint_key(cfgs, seeds, digest), lr_at(cfg), cfg.ema)  # fmt: skip

    def evaluate(self, model: nn.Module, cfgs: Sequence[RunConfig], data: Sequence[BMIData], training: Training,
                 progress: bool = False) -> list[BMIRepeat]:  # fmt: skip
        d, n = data[0], len(cfgs)
        model.eval()
        scores = []
        for folds, x in zip(d.folds, d.x):
            pred = predictions(model, x, n) * d.y_std + d.y_mean
            scores.append([SplitScores(fvaf(folds.y, p), rmse(folds.y, p), p) for p in pred])
        lam = getattr(model, "ridge_lambda", math.nan)
        costs = model_costs(model, d.x.test, cfgs[0])  # on the model's device (ridge's data stay on the CPU)
        return [
            BMIRepeat(training.loss[m], training.val_curve[m], int(training.best_epoch[m]), lam,
                      Splits(*(s[m] for s in scores)), weights_of(model, m), costs[m], training.lr_of(m),
                      None if training.hidden_rate is None else training.hidden_rate[m])
            for m in range(n)
        ]  # fmt: skip

    def to_dataset(
        self, cfg: RunConfig, outcomes: Mapping[int, Outcome], data: BMIData, device: torch.device
    ) -> xr.Dataset:
        repeats = sorted(outcomes)
        rows: list[BMIRepeat] = [outcomes[r].result for r in repeats]
        units = UNITS[cfg.target]
        test = data.folds.test
        variables = {}
        for split, label in zip(SPLITS, ("training", "validation", "test")):
            scores = [getattr(r.scores, split) for r in rows]
            variables[f"{split}_fvaf"] = (
                ("repeat", "output"),
                np.stack([s.fvaf for s in scores]),
                {"long_name": f"{label} FVAF (1 - MSE/VAR, population variance)"},
            )
            variables[f"{split}_rmse"] = (
                ("repeat", "output"),
                np.stack([s.rmse for s in scores]),
                {"units": units, "long_name": f"{label} RMSE"},
            )
        variables.update({
            "train_seconds": ("repeat", np.array([outcomes[r].seconds for r in repeats]),
                              {"units": "s", "long_name": "training wall time"}),
            "best_epoch": ("repeat", np.array([r.best_epoch for r in rows]),
                           {"long_name": "epoch whose weights were kept (early stopping); 1 for linear"}),
            "ridge_lambda": ("repeat", np.array([r.ridge_lambda for r in rows], dtype=float),
                             {"long_name": "ridge strength chosen on the validation fold (linear only, else NaN)"}),
            "loss": (("repeat", "epoch"), np.stack([r.loss for r in rows]),
                     {"long_name": f"mean training loss (MSE, z-scored targets{PENALTY if cfg.rate_reg else ''}); "
                                   "NaN after early stop; linear: epoch 1 only"}),
            "val_fvaf_curve": (("repeat", "epoch"), np.stack([r.val_curve for r in rows]),
                               {"long_name": "validation FVAF (mean over outputs) per epoch; NaN after early stop; "
                                             "linear: epoch 1 only"}),
            "time": ("sample", test.time, {"units": "s", "long_name": "test-fold time stamp"}),
            "y_true": (("sample", "output"), test.y, {"units": units, "long_name": f"true {cfg.target} (test fold)"}),
            "y_pred": (("repeat", "sample", "output"), np.stack([r.scores.test.pred for r in rows]).astype(np.float32),
                       {"units": units, "long_name": f"predicted {cfg.target} (test fold)"}),
        })  # fmt: skip
        for name, dims in weight_dims(cfg).items():
            rows_are = {"ridge_w": f"; rows: {FEATURE_ORDER}, then the bias", "ann_w1": f"; rows: {FEATURE_ORDER}"}
            variables[name] = (("repeat", *dims), np.stack([r.weights[name] for r in rows]),
                               {"long_name": f"trained {name.replace('_', ' ')}{rows_are.get(name, '')}",
                                **({"units": WEIGHT_UNITS[name]} if name in WEIGHT_UNITS else {})})  # fmt: skip
        # per recorded neuron (48) for the spiking decoder, whatever its encoding (with --encoding window its 960
        # input units are 48 neurons x 20 bins), else per column (960): one name for each, or a merge of a grid
        # over model and encoding broadcast x_mean over all three (23 GB for 12 jobs), and `neuron` is a setting
        features = "feature" if cfg.model != "snn" else "recorded_neuron"
        order = f"; {FEATURE_ORDER}" if features == "feature" else ""
        variables["x_mean"] = (features, data.x_mean,
                               {"long_name": f"input normalisation: mean (training folds){order}"})  # fmt: skip
        variables["x_std"] = (features, data.x_std, {"long_name": f"input normalisation: standard deviation{order}"})
        variables["y_mean"] = ("output", data.y_mean, {"units": units, "long_name": "target mean (training folds)"})
        variables["y_std"] = ("output", data.y_std, {"units": units, "long_name": "target standard deviation"})
        variables.update(epoch_variables(rows))
        variables.update(cost_variables([r.costs for r in rows]))
        ds = xr.Dataset(
            variables,
            coords={
                "repeat": repeats,
                "output": [bmi_data.JOINTS[d] for d in cfg.dims],
                "dim": ("output", np.array(cfg.dims)),
                "epoch": np.arange(1, cfg.epochs + 1),
                "sample": np.arange(len(test.time)),
                "seed": ("repeat", np.array([cfg.seed + r for r in repeats])),
            },
        )
        ds.attrs.update(provenance_attrs(cfg, device))
        ds.attrs.update({
            "train_folds": json.dumps(list(data.folds.train.folds)), "val_fold": data.folds.val.folds[0],
            "test_fold": test.folds[0], "data_source": cfg.data or "synthetic",
        })  # fmt: skip
        if bmi_data.is_file_source(cfg.data):
            ds.attrs["data_file_sha256"] = bmi_data.loaded_sha256(cfg.data)
        else:  # generated, or read from the cache: the arrays it trained on
            ds.attrs["synthetic_data_sha256"] = bmi_data.synthetic_sha256(cfg.data)
        return ds

    def summarise(self, ds: xr.Dataset) -> str:
        """FVAF and RMSE per split and output: median [min-max] over repeats."""
        a = ds.attrs
        model = a["config_model"]
        desc = model + (
            f"  backend={a['config_backend']}  readout={a['config_readout']}  tau={a['config_tau'] * 1e3:g} ms"
            if model == "snn"
            else ""
        )
        lines = [
            f"BMI  {desc}  target={a['config_target']}  rotation={a['config_rotation']}  "
            f"train folds={a['config_n_train_folds']}  repeats={ds.sizes['repeat']}  device={a['device']}",
        ]
        unit = {"fvaf": "", "rmse": f" ({UNITS.get(a['config_target'], '?')})"}  # RMSE in the target's unit
        width = max(18, *(len(f"train rmse {out}{unit['rmse']} ") for out in ds["output"].values))  # values under names
        lines.append(f"{'':{width}}{'median':>11}{'min':>11}{'max':>11}")
        for out in ds["output"].values:
            for metric in ("fvaf", "rmse"):
                for split in SPLITS:
                    v = ds[f"{split}_{metric}"].sel(output=out).values
                    lines.append(
                        f"{f'{split} {metric} {out}{unit[metric]}':{width}}"
                        + "".join(cell(x, 3) for x in (np.median(v), v.min(), v.max()))
                    )
        for name, label in (("hidden_rate_hz", "hidden Hz"), ("synops_eff_acs", "synops/sample"),
                            ("synops_eff_macs", "MACs/sample"), ("train_seconds", "train s")):  # fmt: skip
            v = ds[name].values if name in ds else np.array([np.nan])
            if np.isfinite(v).any() and (name != "synops_eff_acs" or v.max() > 0):
                lines.append(
                    f"{label:{width}}" + "".join(cell(x, 2) for x in (np.nanmedian(v), np.nanmin(v), np.nanmax(v)))
                )
        return "\n".join(lines)


STUDY = BMIStudy()
