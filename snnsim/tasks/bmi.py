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
  ``y = a * readout + b`` (the network has no biases; the head only rescales). ``mean`` and
  ``max`` read the non-spiking leaky-integrator output (backend ``li``) by the registry's
  reduce over time. ``fr`` makes the output layer spike (backend ``lif``), as for IPD, with
  **two** output neurons per dimension in push-pull: ``y = a * (rate+ - rate-) + b``, where
  the rates are the registry's ``fr`` reduce (mean spike count per step); a single firing rate
  in [0, 1] could not represent a signed velocity without a large baseline rate.
- ``ann``: the assignment's shallow dense network: 960 z-scored inputs -> ``--hidden`` ELU
  units -> linear outputs, with biases.
- ``linear``: ridge regression (Wiener filter over the 20 bins) on the 960 z-scored inputs
  plus a bias, closed form; the ridge strength is picked on the validation fold from a
  log-spaced grid (1e-1 .. 1e5). It is deterministic: all repeats give the same numbers.

Training (snn, ann): Adam (``--lr``), mean squared error on the z-scored targets, shuffled
mini-batches of ``--batch-size`` (last partial batch dropped), at most ``--epochs`` epochs.
Early stopping: after every epoch each repeat's mean validation FVAF is measured; a repeat
stops improving-tracking after ``--patience`` epochs without a new best, and its best weights
are restored at the end. Repeats train as one batched model (``--batch-repeats``); a stopped
repeat's best weights are frozen, so batched and one-by-one runs give the same numbers.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from .. import seeding
from ..backends import make_backend
from ..config import RunConfig
from ..datasets import bmi as bmi_data
from ..device import resolve_device
from ..encoders.bmi import Normaliser, encode
from ..functional.lif import LIFParameters
from ..metrics import fvaf, rmse
from ..network import Decoder
from ..readouts import get_readout
from ..results import provenance_attrs
from . import TASKS, Task

RIDGE_GRID = tuple(10.0 ** k for k in np.arange(-1, 5.5, 0.5))
EVAL_CHUNK = 4096
SPLITS = ("train", "val", "test")


# -- models --------------------------------------------------------------------------------------
class SNNRegressor(nn.Module):
    """M spiking decoders (:class:`Decoder`) with a per-output affine head."""

    def __init__(self, cfg: RunConfig, n_out: int, generators):
        super().__init__()
        readout = get_readout(cfg.readout)
        self.push_pull = readout.spiking_output
        params = LIFParameters(alpha=cfg.alpha, v_th=cfg.threshold, slope=cfg.surrogate_slope)
        n_units = 2 * n_out if self.push_pull else n_out
        self.decoder = Decoder(bmi_data.N_NEURONS, cfg.hidden, n_units, make_backend(cfg.backend),
                               readout, params, cfg.init, generators)
        m = len(generators)
        self.scale = nn.Parameter(torch.ones(m, 1, n_out))
        self.bias = nn.Parameter(torch.zeros(m, 1, n_out))
        self.n_out = n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (M, B, T, 48) currents -> (M, B, n_out)."""
        z = self.decoder.logits(x)
        if self.push_pull:
            z = z[..., : self.n_out] - z[..., self.n_out:]
        return self.scale * z + self.bias


class ANNRegressor(nn.Module):
    """M shallow dense networks: inputs -> hidden ELU -> linear outputs (fan-in uniform init)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, generators):
        super().__init__()

        def uniform(shape, fan, g):
            b = 1.0 / math.sqrt(fan)
            return torch.rand(shape, generator=g, dtype=torch.float64).mul_(2 * b).sub_(b).float()

        self.w1 = nn.Parameter(torch.stack([uniform((n_in, n_hidden), n_in, g) for g in generators]))
        self.b1 = nn.Parameter(torch.stack([uniform((1, n_hidden), n_in, g) for g in generators]))
        self.w2 = nn.Parameter(torch.stack([uniform((n_hidden, n_out), n_hidden, g) for g in generators]))
        self.b2 = nn.Parameter(torch.stack([uniform((1, n_out), n_hidden, g) for g in generators]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (M, B, 960) -> (M, B, n_out)."""
        return torch.baddbmm(self.b2, F.elu(torch.baddbmm(self.b1, x, self.w1)), self.w2)


# -- data ----------------------------------------------------------------------------------------
def prepare(cfg: RunConfig) -> dict:
    """Load, split and normalise (training statistics only). Returns inputs per split for the
    model, targets (original and z-scored) and the target normalisation."""
    data = bmi_data.load(cfg.data)
    splits = bmi_data.extract(data, cfg.rotation, cfg.n_train_folds, cfg.target, cfg.dims, cfg.mi_order)
    train = splits["train"]
    y_mean, y_std = train.y.mean(0), train.y.std(0)
    y_std = np.where(y_std > 0, y_std, 1.0)
    out = {"splits": splits, "y_mean": y_mean, "y_std": y_std}
    if cfg.model == "snn":
        norm = Normaliser.fit(train.counts)
        out["x"] = {k: encode(s.counts, norm) for k, s in splits.items()}
    else:
        flat = {k: s.counts.reshape(len(s.counts), -1) for k, s in splits.items()}
        mu, sd = flat["train"].mean(0), flat["train"].std(0)
        sd = np.where(sd > 0, sd, 1.0)
        out["x"] = {k: torch.from_numpy(((v - mu) / sd).astype(np.float32)) for k, v in flat.items()}
    out["y"] = {k: torch.from_numpy(((s.y - y_mean) / y_std).astype(np.float32)) for k, s in splits.items()}
    return out


# -- training ------------------------------------------------------------------------------------
def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Shared data x (N, ...) and per-model index (M, B) -> (M, B, ...)."""
    return x[index]


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, n_models: int) -> torch.Tensor:
    """Predictions (M, N, n_out) in z-scored units."""
    out = []
    for start in range(0, x.shape[0], EVAL_CHUNK):
        chunk = x[start:start + EVAL_CHUNK]
        out.append(model(chunk.unsqueeze(0).expand(n_models, *chunk.shape)))
    return torch.cat(out, dim=1)


def _fvaf_torch(y: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Mean over outputs of FVAF per model: y (N, D), pred (M, N, D) -> (M,)."""
    mse = ((pred - y) ** 2).double().mean(1)
    return (1 - mse / y.double().var(0, unbiased=False)).mean(-1)


def train(model: nn.Module, cfg: RunConfig, prep: dict, seeds: list[int], progress: bool = True):
    """Train in place with early stopping; restore each model's best weights.

    Returns loss (M, epochs) and val_fvaf (M, epochs) per epoch (NaN after a model stopped)
    and the best epoch per model (1-based).
    """
    x, y = prep["x"]["train"], prep["y"]["train"]
    xv, yv = prep["x"]["val"], prep["y"]["val"]
    device = x.device
    n_models, n = len(seeds), x.shape[0]
    batch = min(cfg.batch_size, n)
    n_batches = n // batch
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    orders = [seeding.generator(s, "order") for s in seeds]
    losses = np.full((n_models, cfg.epochs), np.nan)
    val_curve = np.full((n_models, cfg.epochs), np.nan)
    best_val = np.full(n_models, -np.inf)
    best_epoch = np.zeros(n_models, dtype=int)
    active = np.ones(n_models, dtype=bool)
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    bar = tqdm(total=cfg.epochs, disable=not progress, unit="epoch", leave=False,
               desc=f"bmi {cfg.model}/{cfg.readout if cfg.model == 'snn' else ''} x{n_models}")
    for epoch in range(cfg.epochs):
        perm = torch.stack([torch.randperm(n, generator=g) for g in orders]).to(device)
        epoch_loss = torch.zeros(n_models, dtype=torch.float64, device=device)
        model.train()
        for b in range(n_batches):
            index = perm[:, b * batch:(b + 1) * batch]
            pred = model(_gather(x, index))
            loss = ((pred - _gather(y, index)) ** 2).mean((1, 2))  # (M,)
            optimiser.zero_grad()
            loss.sum().backward()  # each model's slice gets exactly its own gradient
            optimiser.step()
            epoch_loss += loss.detach().double()
        model.eval()
        val = _fvaf_torch(yv, predict(model, xv, n_models)).cpu().numpy()
        for m in np.flatnonzero(active):
            losses[m, epoch] = epoch_loss[m].item() / n_batches
            val_curve[m, epoch] = val[m]
            if val[m] > best_val[m]:
                best_val[m], best_epoch[m] = val[m], epoch + 1
                for k, v in model.state_dict().items():
                    best_state[k][m] = v[m].detach()
            elif epoch + 1 - best_epoch[m] >= cfg.patience:
                active[m] = False
        bar.update()
        bar.set_postfix(val_fvaf=f"{np.nanmean(val_curve[:, epoch]):.3f}")
        if not active.any():
            break
    bar.close()
    model.load_state_dict(best_state)
    return losses, val_curve, best_epoch


def fit_linear(prep: dict) -> tuple[np.ndarray, float, float]:
    """Ridge regression with the ridge strength chosen on the validation fold.

    Returns weights (961, D) (last row the bias), the chosen strength and its validation FVAF.
    """
    a = np.c_[prep["x"]["train"].double().numpy(), np.ones(prep["x"]["train"].shape[0])]
    av = np.c_[prep["x"]["val"].double().numpy(), np.ones(prep["x"]["val"].shape[0])]
    y, yv = prep["y"]["train"].double().numpy(), prep["y"]["val"].double().numpy()
    gram, rhs = a.T @ a, a.T @ y
    best = (-np.inf, None, None)
    for lam in RIDGE_GRID:
        reg = np.full(a.shape[1], lam)
        reg[-1] = 0.0  # the bias is not penalised
        w = np.linalg.solve(gram + np.diag(reg), rhs)
        score = float(fvaf(yv, av @ w).mean())
        if score > best[0]:
            best = (score, lam, w)
    return best[2], best[1], best[0]


# -- run -----------------------------------------------------------------------------------------
def _metrics(prep: dict, predictions: dict[str, np.ndarray]) -> dict:
    """predictions[split] (M, N, D) z-scored -> per split (M, D) FVAF and RMSE, original units."""
    out = {}
    for split in SPLITS:
        y = prep["splits"][split].y
        pred = predictions[split] * prep["y_std"] + prep["y_mean"]
        out[f"{split}_fvaf"] = np.stack([fvaf(y, p) for p in pred])
        out[f"{split}_rmse"] = np.stack([rmse(y, p) for p in pred])
        out[f"{split}_pred"] = pred
    return out


def run(cfg: RunConfig, progress: bool = True) -> xr.Dataset:
    """Train ``cfg.repeats`` decoders of ``cfg.model`` and return the result dataset."""
    if cfg.task != "bmi":
        raise ValueError("bmi.run needs a config with task='bmi'")
    device = resolve_device(cfg.device)
    prep = prepare(cfg)
    n_out = len(cfg.dims)
    repeats = list(range(cfg.repeats))
    rows: dict[int, dict] = {}
    if cfg.model == "linear":
        start = time.perf_counter()
        w, lam, val = fit_linear(prep)
        seconds = time.perf_counter() - start
        preds = {s: (np.c_[prep["x"][s].double().numpy(), np.ones(prep["x"][s].shape[0])] @ w)[None] for s in SPLITS}
        met = _metrics(prep, preds)
        loss = np.full(cfg.epochs, np.nan)
        loss[0] = float(np.mean((preds["train"][0] - prep["y"]["train"].double().numpy()) ** 2))
        curve = np.full(cfg.epochs, np.nan)
        curve[0] = val
        for r in repeats:
            rows[r] = {"loss": loss, "val_curve": curve, "best_epoch": 1, "seconds": seconds, "lambda": lam,
                       **{k: v[0] for k, v in met.items()}}
        return to_dataset(cfg, prep, rows, device)
    for key in ("x", "y"):
        prep[key] = {k: v.to(device) for k, v in prep[key].items()}
    groups = [repeats] if cfg.batch_repeats else [[r] for r in repeats]
    for group in groups:
        seeds = [cfg.seed + r for r in group]
        generators = [seeding.generator(s, "init") for s in seeds]
        if cfg.model == "snn":
            model = SNNRegressor(cfg, n_out, generators)
        else:
            n_in = prep["x"]["train"].shape[1]
            model = ANNRegressor(n_in, cfg.hidden, n_out, generators)
        model = model.to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        losses, val_curve, best_epoch = train(model, cfg, prep, seeds, progress)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / len(group)
        model.eval()
        preds = {s: predict(model, prep["x"][s], len(group)).double().cpu().numpy() for s in SPLITS}
        met = _metrics(prep, preds)
        for i, r in enumerate(group):
            rows[r] = {"loss": losses[i], "val_curve": val_curve[i], "best_epoch": int(best_epoch[i]),
                       "seconds": seconds, "lambda": np.nan, **{k: v[i] for k, v in met.items()}}
    return to_dataset(cfg, prep, rows, device)


def to_dataset(cfg: RunConfig, prep: dict, rows: dict[int, dict], device) -> xr.Dataset:
    repeats = sorted(rows)
    stack = lambda key: np.stack([rows[r][key] for r in repeats])  # noqa: E731
    outputs = [bmi_data.JOINTS[d] for d in cfg.dims]
    units = {"theta": "rad", "dtheta": "rad/s", "ddtheta": "rad/s^2", "torque": "N m"}[cfg.target]
    test = prep["splits"]["test"]
    variables = {}
    for split, label in (("train", "training"), ("val", "validation"), ("test", "test")):
        variables[f"{split}_fvaf"] = (("repeat", "output"), stack(f"{split}_fvaf"),
                                      {"long_name": f"{label} FVAF (1 - MSE/VAR, population variance)"})
        variables[f"{split}_rmse"] = (("repeat", "output"), stack(f"{split}_rmse"),
                                      {"units": units, "long_name": f"{label} RMSE"})
    variables.update({
        "train_seconds": ("repeat", np.array([rows[r]["seconds"] for r in repeats]), {"units": "s", "long_name": "training wall time"}),
        "best_epoch": ("repeat", np.array([rows[r]["best_epoch"] for r in repeats]),
                       {"long_name": "epoch whose weights were kept (early stopping); 1 for linear"}),
        "ridge_lambda": ("repeat", np.array([rows[r]["lambda"] for r in repeats], dtype=float),
                         {"long_name": "ridge strength chosen on the validation fold (linear only, else NaN)"}),
        "loss": (("repeat", "epoch"), stack("loss"),
                 {"long_name": "mean training loss (MSE, z-scored targets); NaN after early stop; linear: epoch 1 only"}),
        "val_fvaf_curve": (("repeat", "epoch"), stack("val_curve"),
                           {"long_name": "validation FVAF (mean over outputs) per epoch; NaN after early stop; linear: epoch 1 only"}),
        "time": ("sample", test.time, {"units": "s", "long_name": "test-fold time stamp"}),
        "y_true": (("sample", "output"), test.y, {"units": units, "long_name": f"true {cfg.target} (test fold)"}),
        "y_pred": (("repeat", "sample", "output"), stack("test_pred").astype(np.float32),
                   {"units": units, "long_name": f"predicted {cfg.target} (test fold)"}),
    })
    splits = prep["splits"]
    ds = xr.Dataset(
        variables,
        coords={
            "repeat": repeats,
            "output": outputs,
            "dim": ("output", np.array(cfg.dims)),
            "epoch": np.arange(1, cfg.epochs + 1),
            "sample": np.arange(len(test.time)),
            "seed": ("repeat", np.array([cfg.seed + r for r in repeats])),
        },
    )
    ds.attrs.update(provenance_attrs(cfg, device))
    ds.attrs.update({"train_folds": json.dumps(list(splits["train"].folds)), "val_fold": splits["val"].folds[0],
                     "test_fold": splits["test"].folds[0],
                     "data_source": cfg.data or "synthetic"})
    return ds


def summarise(ds: xr.Dataset) -> str:
    """FVAF and RMSE per split and output: median [min-max] over repeats."""
    a = ds.attrs
    model = a["config_model"]
    desc = f"{model}" + (f"  backend={a['config_backend']}  readout={a['config_readout']}  tau={a['config_tau'] * 1e3:g} ms"
                         if model == "snn" else "")
    lines = [f"BMI  {desc}  target={a['config_target']}  rotation={a['config_rotation']}  "
             f"train folds={a['config_n_train_folds']}  repeats={ds.sizes['repeat']}  device={a['device']}",
             f"{'':18}{'median':>9}{'min':>9}{'max':>9}"]
    for out in ds["output"].values:
        for metric in ("fvaf", "rmse"):
            for split in SPLITS:
                v = ds[f"{split}_{metric}"].sel(output=out).values
                lines.append(f"{f'{split} {metric} {out}':18}{np.median(v):9.3f}{v.min():9.3f}{v.max():9.3f}")
    v = ds["train_seconds"].values
    lines.append(f"{'train s':18}{np.median(v):9.2f}{v.min():9.2f}{v.max():9.2f}")
    return "\n".join(lines)


TASKS["bmi"] = Task(run, summarise)
