"""IPD sound localisation: train M decoders on Poisson IPD stimuli, classify into 12 bins.

Follows the notebook: per repeat, a fresh training set (n_train_batches * batch_size samples)
and test set (n_test_batches * batch_size), Adam, NLL of log-softmax of the readout, shuffled
mini-batches with the last partial batch dropped; accuracy and mean absolute error (deg) on
training and test sets. Repeats train together as one batched model (``batch_repeats``) or one
by one; both give the same numbers because every repeat draws from its own random streams.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

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


@dataclass
class Split:
    """One seed's training or test set: IPDs (N,) rad and spike trains (N, T, C) bool."""

    ipd: torch.Tensor
    spikes: torch.Tensor
    _rows: object = field(default=None, repr=False)

    def sparse(self):
        """The spikes as lists of active inputs (:class:`~snnsim.backends.sparse_input.SpikeRows`),
        built once, or None where the compiled CPU kernels cannot use them."""
        from ..backends import sparse_input

        if self._rows is None and sparse_input.available(self.spikes.device):
            self._rows = sparse_input.SpikeRows(self.spikes)
        return self._rows


def make_split(cfg: RunConfig, seed: int, device: torch.device, split: str) -> Split:
    """The ``split`` ("train" or "test") set of seed ``seed``: its own random stream, so it
    depends only on the seed and the stimulus settings, not on readout, tau or batching."""
    stim = IPDStimulus.from_config(cfg)
    n = cfg.batch_size * (cfg.n_train_batches if split == "train" else cfg.n_test_batches)
    return Split(*generate(n, stim, seeding.generator(seed, f"ipd-{split}", device)))


def make_model(cfg: RunConfig | Sequence[RunConfig], seeds: list[int], device: torch.device) -> Decoder:
    """One decoder per seed; ``cfg`` is one config for all, or one per seed (which may differ by
    readout and tau, see :func:`_group_key`)."""
    cfgs = [cfg] * len(seeds) if isinstance(cfg, RunConfig) else list(cfg)
    params = [LIFParameters(alpha=c.alpha, v_th=c.threshold, slope=c.surrogate_slope) for c in cfgs]
    generators = [seeding.generator(s, "init") for s in seeds]
    first = cfgs[0]
    model = Decoder(2 * first.anf_per_ear, first.hidden, first.n_classes, make_backend(first.backend),
                    [get_readout(c.readout) for c in cfgs], params, first.init, generators)
    return model.to(device)


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (M, N, ...) and index (M, B) -> x[m, index[m]] (M, B, ...)."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], index]


class _Inputs:
    """The input layer's currents for mini-batches of M models' data sets: from the sparse
    lists of active inputs (fused backend, CPU kernels; time-major) or from the dense spikes."""

    def __init__(self, cfg: RunConfig, data: Sequence[Split]):
        rows = [d.sparse() for d in data] if cfg.backend == "fused" else [None]
        self.sparse = rows if all(r is not None for r in rows) else None
        self.data = data

    def network(self, model: Decoder, index: torch.Tensor):
        """The network's records for samples ``index`` (M, B) of each model's data set."""
        if self.sparse is not None:
            from ..backends.sparse_input import project

            return model.forward_currents(project(model.w1, self.sparse, index, time_major=True), time_major=True)
        return model(torch.stack([d.spikes[i] for d, i in zip(self.data, index)]).float())


def _describe(model: Decoder, dt: float) -> str:
    """The models' readouts and taus, for progress bars: 'fr/tau=2ms', 'mean,fr/tau=2,20ms'."""
    readouts = dict.fromkeys(p.readout.name for p in model.parts)
    taus = dict.fromkeys(f"{-dt / math.log(p.params.alpha) * 1e3:.3g}" for p in model.parts)
    return f"{','.join(readouts)}/tau={','.join(taus)}ms"


def train(model: Decoder, cfg: RunConfig, data: Sequence[Split], seeds: list[int],
          progress: bool = True) -> np.ndarray:
    """Train model m on ``data[m]`` in place; return the mean training loss per model and epoch, (M, epochs)."""
    device = data[0].spikes.device
    labels = torch.stack([discretise(d.ipd, cfg.n_classes) for d in data])
    inputs = _Inputs(cfg, data)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    orders = [seeding.generator(s, "order") for s in seeds]
    n_models, n = labels.shape
    n_batches = n // cfg.batch_size
    losses = np.zeros((n_models, cfg.epochs))
    bar = tqdm(total=cfg.epochs * n_batches, disable=not progress, unit="batch", leave=False,
               desc=f"{cfg.backend}/{_describe(model, cfg.dt)} x{n_models}")
    for epoch in range(cfg.epochs):
        perm = torch.stack([torch.randperm(n, generator=g) for g in orders]).to(device)
        epoch_loss = torch.zeros(n_models, dtype=torch.float64, device=device)
        for b in range(n_batches):
            index = perm[:, b * cfg.batch_size:(b + 1) * cfg.batch_size]
            out = inputs.network(model, index)
            logits = model.read(out)  # (M, B, C)
            y = _gather(labels, index)
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
def predict(model: Decoder, cfg: RunConfig, data: Sequence[Split]) -> torch.Tensor:
    """Predicted class (M, N) with the training readout or the notebook's sum over time."""
    inputs = _Inputs(cfg, data)
    n = data[0].ipd.shape[0]
    device = data[0].spikes.device
    out = []
    for start in range(0, n, cfg.batch_size):
        index = torch.arange(start, min(n, start + cfg.batch_size), device=device).expand(len(data), -1)
        score = model.read(inputs.network(model, index), sum_over_time if cfg.eval == "sum" else None)
        out.append(score.argmax(-1))
    return torch.cat(out, dim=1)


def evaluate(model: Decoder, cfg: RunConfig, data: Sequence[Split]) -> list[dict]:
    predicted = predict(model, cfg, data)
    return [classification_metrics(d.ipd, predicted[m], cfg.n_classes) for m, d in enumerate(data)]


# -- running configs: one, or a pack of sweep tasks sharing data ---------------------------------

# On the CPU a batched model holds at most this many models; a larger group trains as several
# batched models, one after the other. `python benchmarks/profile_ipd.py --models M` (one
# thread, fr, tau 2 ms): 3.41 / 3.63 / 6.19 ms per model and batch for 10 / 30 / 60 models,
# with 0 / 4,383 / 40,491 minor page faults per batch (the records of more models exceed
# glibc's 32 MB mmap threshold and are faulted in anew each batch); the 60-training grid as
# one model took 223 s against 159-173 s as six models of 10 (benchmarks/README.md). On CUDA
# there is no limit.
CPU_MODELS_PER_BATCH = 10


def _group_key(cfg: RunConfig) -> RunConfig:
    """Configs with equal keys train as one batched model: those that differ only by seed,
    repeats, readout or tau (each model keeps its own readout and time constant)."""
    return cfg.replace(seed=0, repeats=1, readout="mean", tau=0.02)


def _data_key(cfg: RunConfig) -> tuple:
    """What a seed's data sets depend on besides the seed."""
    return (IPDStimulus.from_config(cfg), cfg.batch_size, cfg.n_train_batches, cfg.n_test_batches)


def run_many(cfgs: Sequence[RunConfig], progress: bool = True,
             on_result: Callable[[int, xr.Dataset], None] | None = None) -> list[xr.Dataset]:
    """Run several configs in one process and return their result datasets, in order.

    Every (config, repeat) is one model with seed ``cfg.seed + repeat``. Models whose configs
    differ only by seed, repeats, readout or tau train together as one batched model, each with
    its own readout and time constant (unless a config says ``batch_repeats = false``: then
    each of its repeats trains alone); configs that differ otherwise train one after the other.
    Each seed's data sets are generated once and shared by every model of that seed. Every
    model's numbers are those of running its config alone (batching is exact, see
    :mod:`snnsim.network`). ``on_result(i, dataset)`` is called as soon as config ``i`` is
    complete, so a caller can write results while later groups train.
    """
    groups: dict[object, list[tuple[int, int]]] = {}  # key -> [(config index, repeat)]
    for i, cfg in enumerate(cfgs):
        for r in range(cfg.repeats):
            groups.setdefault(_group_key(cfg) if cfg.batch_repeats else (i, r), []).append((i, r))
    batches = []
    for members in groups.values():  # models with the same readout and tau side by side
        members.sort(key=lambda m: (cfgs[m[0]].readout, cfgs[m[0]].tau))
        size = CPU_MODELS_PER_BATCH if resolve_device(cfgs[members[0][0]].device).type == "cpu" else len(members)
        batches += [members[k:k + size] for k in range(0, len(members), size)]
    cache: dict[tuple, Split] = {}

    def split(cfg: RunConfig, seed: int, name: str) -> Split:
        key = (_data_key(cfg), resolve_device(cfg.device), seed, name)
        if key not in cache:
            cache[key] = make_split(cfg, seed, key[1], name)
        return cache[key]

    rows: list[dict[int, dict]] = [{} for _ in cfgs]
    results: list[xr.Dataset | None] = [None] * len(cfgs)
    for members in batches:
        cfg = cfgs[members[0][0]]
        device = resolve_device(cfg.device)
        seeds = [cfgs[i].seed + r for i, r in members]
        train_data = [split(cfg, s, "train") for s in seeds]
        test_data = [split(cfg, s, "test") for s in seeds]
        model = make_model([cfgs[i] for i, _ in members], seeds, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        losses = train(model, cfg, train_data, seeds, progress)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - start) / len(seeds)
        train_metrics = evaluate(model, cfg, train_data)
        test_metrics = evaluate(model, cfg, test_data)
        for m, (i, r) in enumerate(members):
            rows[i][r] = {"loss": losses[m], "train": train_metrics[m], "test": test_metrics[m], "seconds": seconds,
                          "w1": model.w1[m].detach().cpu().numpy(), "w2": model.w2[m].detach().cpu().numpy()}
            if len(rows[i]) == cfgs[i].repeats:
                results[i] = to_dataset(cfgs[i], rows[i], device)
                if on_result is not None:
                    on_result(i, results[i])
    return results


def run(cfg: RunConfig, progress: bool = True) -> xr.Dataset:
    """Train ``cfg.repeats`` decoders and return the result dataset (see :mod:`snnsim.results`)."""
    return run_many([cfg], progress)[0]


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


TASKS["ipd"] = Task(run, summarise, run_many)
