"""IPD sound localisation: train M decoders on Poisson IPD stimuli, classify into 12 bins.

Follows the notebook: per repeat, a fresh training set (n_train_batches * batch_size samples)
and test set (n_test_batches * batch_size), Adam, NLL of log-softmax of the readout, shuffled
mini-batches with the last partial batch dropped; accuracy and mean absolute error (deg) on
training and test sets. Repeats train together as one batched model (``batch_repeats``) or one
by one; both give the same numbers because every repeat draws from its own random streams.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from tqdm.auto import tqdm

from .. import seeding
from ..backends import make_backend
from ..config import RunConfig
from ..device import resolve_device
from ..encoders.ipd import IPDStimulus, generate
from ..functional.lif import LIFParameters
from ..metrics import classification_metrics, continuise, discretise
from ..network import Decoder
from ..readouts import get_readout, sum_over_time
from ..results import provenance_attrs
from . import TASKS, Task


def make_data(cfg: RunConfig, seeds: list[int], device: torch.device, split: str):
    """Per-model data sets: ipd (M, N) and spikes (M, N, T, C) bool."""
    stim = IPDStimulus.from_config(cfg)
    n = cfg.batch_size * (cfg.n_train_batches if split == "train" else cfg.n_test_batches)
    pairs = [generate(n, stim, seeding.generator(s, f"ipd-{split}", device)) for s in seeds]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def make_model(cfg: RunConfig, seeds: list[int], device: torch.device) -> Decoder:
    params = LIFParameters(alpha=cfg.alpha, v_th=cfg.threshold, slope=cfg.surrogate_slope)
    generators = [seeding.generator(s, "init") for s in seeds]
    model = Decoder(2 * cfg.anf_per_ear, cfg.hidden, cfg.n_classes, make_backend(cfg.backend),
                    get_readout(cfg.readout), params, cfg.init, generators)
    return model.to(device)


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (M, N, ...) and index (M, B) -> x[m, index[m]] (M, B, ...)."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], index]


def _sparse_inputs(cfg: RunConfig, spikes: torch.Tensor):
    """The training spikes as lists of active inputs when the fused backend's compiled CPU
    kernels can compute the input currents from them (see :mod:`snnsim.backends.sparse_input`)."""
    if cfg.backend != "fused":
        return None
    from ..backends import sparse_input

    return sparse_input.SpikeRows(spikes) if sparse_input.available(spikes.device) else None


def train(model: Decoder, cfg: RunConfig, ipd: torch.Tensor, spikes: torch.Tensor, seeds: list[int],
          progress: bool = True) -> np.ndarray:
    """Train in place; return the mean training loss per model and epoch, (M, epochs)."""
    device = spikes.device
    labels = discretise(ipd, cfg.n_classes)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    orders = [seeding.generator(s, "order") for s in seeds]
    n_models, n = labels.shape
    n_batches = n // cfg.batch_size
    losses = np.zeros((n_models, cfg.epochs))
    sparse = _sparse_inputs(cfg, spikes)
    if sparse is not None:
        from ..backends.sparse_input import project
    bar = tqdm(total=cfg.epochs * n_batches, disable=not progress, unit="batch", leave=False,
               desc=f"{cfg.backend}/{cfg.readout}/tau={cfg.tau * 1e3:g}ms x{n_models}")
    for epoch in range(cfg.epochs):
        perm = torch.stack([torch.randperm(n, generator=g) for g in orders]).to(device)
        epoch_loss = torch.zeros(n_models, dtype=torch.float64, device=device)
        for b in range(n_batches):
            index = perm[:, b * cfg.batch_size:(b + 1) * cfg.batch_size]
            y = _gather(labels, index)
            if sparse is not None:
                logits = model.logits_from_currents(project(model.w1, sparse, index))
            else:
                logits = model.logits(_gather(spikes, index).float())  # (M, B, C)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(n_models, -1).mean(1)
            optimiser.zero_grad()
            loss.sum().backward()  # each model's slice gets exactly its own gradient
            optimiser.step()
            epoch_loss += loss.detach().double()
            bar.update()
        losses[:, epoch] = (epoch_loss / n_batches).cpu().numpy()
        bar.set_postfix(loss=f"{losses[:, epoch].mean():.3f}")
    bar.close()
    return losses


@torch.no_grad()
def predict(model: Decoder, cfg: RunConfig, spikes: torch.Tensor) -> torch.Tensor:
    """Predicted class (M, N) with the training readout or the notebook's sum over time."""
    readout = model.readout
    out = []
    for start in range(0, spikes.shape[1], cfg.batch_size):
        net = model(spikes[:, start:start + cfg.batch_size].float())
        trace = readout.trace(net.out_spikes, net.out_membrane)
        score = sum_over_time(trace) if cfg.eval == "sum" else readout.reduce(trace)
        out.append(score.argmax(-1))
    return torch.cat(out, dim=1)


def evaluate(model, cfg, ipd, spikes) -> list[dict]:
    predicted = predict(model, cfg, spikes)
    return [classification_metrics(ipd[m], predicted[m], cfg.n_classes) for m in range(ipd.shape[0])]


def run(cfg: RunConfig, progress: bool = True) -> xr.Dataset:
    """Train ``cfg.repeats`` decoders and return the result dataset (see :mod:`snnsim.results`)."""
    device = resolve_device(cfg.device)
    repeats = list(range(cfg.repeats))
    groups = [repeats] if cfg.batch_repeats else [[r] for r in repeats]
    rows: dict[int, dict] = {}
    for group in groups:
        seeds = [cfg.seed + r for r in group]
        train_ipd, train_spikes = make_data(cfg, seeds, device, "train")
        test_ipd, test_spikes = make_data(cfg, seeds, device, "test")
        model = make_model(cfg, seeds, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        losses = train(model, cfg, train_ipd, train_spikes, seeds, progress)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / len(group)
        train_metrics = evaluate(model, cfg, train_ipd, train_spikes)
        test_metrics = evaluate(model, cfg, test_ipd, test_spikes)
        for i, r in enumerate(group):
            rows[r] = {"loss": losses[i], "train": train_metrics[i], "test": test_metrics[i], "seconds": seconds,
                       "w1": model.w1[i].detach().cpu().numpy(), "w2": model.w2[i].detach().cpu().numpy()}
        del train_spikes, test_spikes
    return to_dataset(cfg, rows, device)


def to_dataset(cfg: RunConfig, rows: dict[int, dict], device) -> xr.Dataset:
    repeats = sorted(rows)
    col = lambda split, key: np.array([rows[r][split][key] for r in repeats])  # noqa: E731
    classes = np.arange(cfg.n_classes)
    midpoints = np.degrees(continuise(classes.astype(float), cfg.n_classes))
    ds = xr.Dataset(
        {
            "train_acc": ("repeat", col("train", "acc"), {"units": "%", "long_name": "training accuracy"}),
            "test_acc": ("repeat", col("test", "acc"), {"units": "%", "long_name": "test accuracy"}),
            "train_err_deg": ("repeat", col("train", "err_deg"), {"units": "deg", "long_name": "training mean absolute IPD error"}),
            "test_err_deg": ("repeat", col("test", "err_deg"), {"units": "deg", "long_name": "test mean absolute IPD error"}),
            "train_seconds": ("repeat", np.array([rows[r]["seconds"] for r in repeats]), {"units": "s", "long_name": "training wall time"}),
            "loss": (("repeat", "epoch"), np.stack([rows[r]["loss"] for r in repeats]), {"long_name": "mean training loss (NLL)"}),
            "confusion": (("repeat", "true_class", "pred_class"), np.stack([rows[r]["test"]["confusion"] for r in repeats]),
                          {"long_name": "test confusion counts"}),
        },
        coords={
            "repeat": repeats,
            "epoch": np.arange(1, cfg.epochs + 1),
            "true_class": classes,
            "pred_class": classes,
            "class_ipd_deg": ("true_class", midpoints, {"units": "deg", "long_name": "bin midpoint IPD"}),
            "seed": ("repeat", np.array([cfg.seed + r for r in repeats])),
        },
    )
    if all("w1" in rows[r] for r in repeats):  # trained weights, for the notebook's weight plots
        ds["w1"] = (("repeat", "input_unit", "hidden_unit"), np.stack([rows[r]["w1"] for r in repeats]),
                    {"long_name": "trained input-to-hidden weights"})
        ds["w2"] = (("repeat", "hidden_unit", "output_unit"), np.stack([rows[r]["w2"] for r in repeats]),
                    {"long_name": "trained hidden-to-output weights"})
    ds.attrs.update(provenance_attrs(cfg, device))
    return ds


def summarise(ds: xr.Dataset) -> str:
    """A short table: median [min-max] over repeats of accuracy, error and training time."""
    cfg = ds.attrs
    lines = [f"IPD  backend={cfg['config_backend']}  readout={cfg['config_readout']}  "
             f"tau={cfg['config_tau'] * 1e3:g} ms  phase={cfg['config_phase']}  eval={cfg['config_eval']}  "
             f"repeats={ds.sizes['repeat']}  device={cfg['device']}",
             f"{'':14}{'median':>9}{'min':>9}{'max':>9}"]
    for name, label in (("train_acc", "train acc %"), ("test_acc", "test acc %"),
                        ("train_err_deg", "train err deg"), ("test_err_deg", "test err deg"),
                        ("train_seconds", "train s")):
        v = ds[name].values
        lines.append(f"{label:14}{np.median(v):9.2f}{v.min():9.2f}{v.max():9.2f}")
    return "\n".join(lines)


TASKS["ipd"] = Task(run, summarise)
