"""IPD sound localisation: decoders of Poisson IPD stimuli classify the IPD into 12 bins.

Follows the notebook: per repeat, a fresh training set (n_train_batches * batch_size samples)
and test set (n_test_batches * batch_size), Adam, NLL of log-softmax of the readout, shuffled
mini-batches with the last partial batch dropped; accuracy and mean absolute error (deg) on
training and test sets. Each repeat's data and initialisation come from its own random
streams, so a model's numbers do not depend on what it is batched with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from .. import seeding
from ..backends import make_backend
from ..config import RunConfig
from ..costs import Costs, cost_variables
from ..costs import of_decoder as decoder_costs
from ..encoders.ipd import CHUNK, IPDStimulus, generate
from ..functional.lif import LIFParameters
from ..metrics import Classification, classification_metrics, continuise, discretise
from ..network import WEIGHT_UNITS, Architecture, Decoder, NetworkOutput, PartOutput, weight_dims, weight_values
from ..readouts import get_readout, sum_over_time
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

if TYPE_CHECKING:
    from ..backends.sparse_input import SpikeRows


@dataclass
class Stimuli:
    """One seed's training or test set: IPDs (N,) rad and spike trains (N, T, C) bool."""

    ipd: torch.Tensor
    spikes: torch.Tensor
    _rows: object = field(default=None, repr=False)

    def sparse(self) -> SpikeRows | None:
        """The spikes as lists of active inputs (:class:`~snnsim.backends.sparse_input.SpikeRows`),
        built once, or None where the compiled CPU kernels cannot use them (also more steps than
        the lists hold: the dense spikes then)."""
        from ..backends import sparse_input

        if self._rows is None and sparse_input.holds(self.spikes.shape) and sparse_input.available(self.spikes.device):
            self._rows = sparse_input.SpikeRows(self.spikes)
        return self._rows


@dataclass(frozen=True)
class IPDData:
    """One seed's data sets (``val``: None without a validation set)."""

    train: Stimuli
    test: Stimuli
    val: Stimuli | None = None


@dataclass(frozen=True)
class IPDRepeat:
    """What one repeat produced: per-epoch curves, metrics, trained weights and costs."""

    loss: np.ndarray  # (epochs,)
    train: Classification
    test: Classification
    weights: dict[str, np.ndarray]  # w1 (inputs, hidden), w2 (hidden, classes), ... (network.weight_dims)
    costs: Costs
    val: Classification | None = None
    val_curve: np.ndarray | None = None  # (epochs,) validation accuracy, %
    best_epoch: int = 0
    lr: np.ndarray | None = None  # (epochs,)
    hidden_rate: np.ndarray | None = None  # (epochs,) Hz


LONG_NAMES = {"w1": "trained input-to-hidden weights", "w2": "trained hidden-to-output weights"}

#: Test samples whose records give the cost metrics (a model's network run on them in full).
COST_SAMPLES = 512


def make_stimuli(cfg: RunConfig, seed: int, device: torch.device, split: str, epoch: int = 0) -> Stimuli:
    """The ``split`` ("train", "val" or "test") set of seed ``seed``: its own random stream, so it
    depends only on the seed and the stimulus settings, not on readout, tau or batching. With
    ``epoch`` > 0 (``fresh_data``), the new training set of that epoch (0-based), from its own stream."""
    stim = IPDStimulus.from_config(cfg)
    batches = {"train": cfg.n_train_batches, "test": cfg.n_test_batches, "val": cfg.n_val_batches}[split]
    n = cfg.batch_size * batches
    stream = f"ipd-{split}-epoch-{epoch}" if epoch else f"ipd-{split}"
    return Stimuli(*generate(n, stim, seeding.generator(seed, stream, device)))


def per_model_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-model data x (M, N, ...) and per-model rows index (M, B) -> x[m, index[m]] (M, B, ...)."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], index]


class InputCurrents:
    """The network's records for mini-batches of M models' data sets. On the CPU (with the
    compiled kernels) the input currents are sums of the weight rows of active inputs
    (:mod:`~snnsim.backends.sparse_input`), and with the fused backend the whole network is one
    compiled operation per part (:mod:`~snnsim.backends.fused_network`; only the output trace is
    kept); otherwise the :class:`~snnsim.network.Decoder` runs on the dense spikes."""

    def __init__(self, cfg: RunConfig, sets: Sequence[Stimuli], records: bool = False) -> None:
        """``records``: keep every layer's records (never the one-operation network)."""
        rows = [s.sparse() for s in sets] if cfg.delays == "none" else [None]  # delays act on the dense inputs
        self.sparse = rows if all(r is not None for r in rows) else None
        self.fused = cfg.backend == "fused" and not records
        self.sets = sets

    def network(self, model: Decoder, index: torch.Tensor) -> NetworkOutput:
        """The network's records for samples ``index`` (M, B) of each model's data set."""
        if self.sparse is None:
            return model(torch.stack([s.spikes[i] for s, i in zip(self.sets, index)]).float())
        from ..backends import fused_network, sparse_input

        if not self.fused or len(model.arch.hidden) > 1:  # the one-operation network has one hidden layer
            return model.forward_currents(sparse_input.project(model.w1, self.sparse, index))
        parts = []
        for part in model.parts:
            m = part.models
            trace, counts = fused_network.network(
                model.w1[m], model.w2[m], self.sparse[m], index[m], part.params, part.readout.spiking_output,
                model.arch.cell,
            )  # fmt: skip
            parts.append(PartOutput(None, None, None, trace, counts))
        return NetworkOutput(tuple(parts))


class IPDTrainer:
    """Adam on the NLL of the readout's log-softmax; one shuffled pass over the data per epoch;
    the validation accuracy (%) when the data have a validation set."""

    def __init__(self, model: Decoder, cfg: RunConfig, sets: Sequence[Stimuli], seeds: Sequence[int],
                 val: Sequence[Stimuli] | None = None) -> None:  # fmt: skip
        self.model, self.cfg, self.val, self.seeds = model, cfg, val, list(seeds)
        self.device = sets[0].spikes.device
        self._use(sets)
        self.epochs_done = 0
        self.optimiser = make_optimiser(model, cfg)
        self.orders = [seeding.generator(s, "order") for s in seeds]
        self.n_models, self.n_samples = self.labels.shape
        self.n_batches = self.n_samples // cfg.batch_size
        self._spikes = torch.zeros(self.n_models, dtype=torch.float64)

    def _use(self, sets: Sequence[Stimuli]) -> None:
        """Train on ``sets`` (one training set per model) from now on."""
        if sets[0].sparse() is not None:
            for s in sets:
                s.sparse().csc()
        self.labels = torch.stack([discretise(s.ipd, self.cfg.n_classes) for s in sets])
        # the rate penalty needs the hidden spikes' records (the one-operation network keeps counts)
        self.inputs = InputCurrents(self.cfg, sets, records=self.cfg.rate_reg > 0)

    def epoch(self, on_batch: Callable[[], None]) -> np.ndarray:
        if self.cfg.fresh_data and self.epochs_done > 0:
            self._use([make_stimuli(self.cfg, s, self.device, "train", self.epochs_done) for s in self.seeds])
        self.epochs_done += 1
        size = self.cfg.batch_size
        perm = torch.stack([torch.randperm(self.n_samples, generator=g) for g in self.orders]).to(self.device)
        epoch_loss = torch.zeros(self.n_models, dtype=torch.float64, device=self.device)
        self._spikes.zero_()
        for b in range(self.n_batches):
            index = perm[:, b * size : (b + 1) * size]
            out = self.inputs.network(self.model, index)
            logits = self.model.read(out)  # (M, B, C)
            y = per_model_rows(self.labels, index)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(self.n_models, -1).mean(1)
            if self.cfg.rate_reg:
                loss = loss + rate_penalty(out.hidden_spikes, self.cfg, self.cfg.dt)
            self.optimiser.zero_grad()
            loss.sum().backward()  # each model's slice gets exactly its own gradient
            clip_gradients(self.model, self.n_models, self.cfg.grad_clip)
            self.optimiser.step()
            epoch_loss += loss.detach().double()
            self._spikes += out.hidden_spike_count().cpu()
            on_batch()
        return (epoch_loss / self.n_batches).cpu().numpy()

    def validate(self) -> np.ndarray | None:
        if self.val is None:
            return None
        predicted = predict(self.model, self.cfg, self.val)
        return np.array([classification_metrics(s.ipd, predicted[m], self.cfg.n_classes).acc
                         for m, s in enumerate(self.val)])  # fmt: skip

    def hidden_rate_hz(self) -> np.ndarray:
        cfg = self.cfg
        neuron_seconds = self.n_batches * cfg.batch_size * sum(cfg.hidden_sizes) * cfg.steps * cfg.dt
        return (self._spikes / neuron_seconds).numpy()

    def state_dict(self) -> dict:
        return {"optimiser": self.optimiser.state_dict(), "orders": [g.get_state() for g in self.orders],
                "epochs_done": self.epochs_done}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self.optimiser.load_state_dict(state["optimiser"])
        for g, saved in zip(self.orders, state["orders"]):
            g.set_state(saved)
        self.epochs_done = state.get("epochs_done", 0)


@torch.no_grad()
def predict(model: Decoder, cfg: RunConfig, sets: Sequence[Stimuli], step: Callable[[], None] | None = None
            ) -> torch.Tensor:  # fmt: skip
    """Predicted class (M, N) with the training readout or the notebook's sum over time; ``step``
    is called after each batch (a progress bar's update)."""
    inputs = InputCurrents(cfg, sets)
    n = sets[0].ipd.shape[0]
    device = sets[0].spikes.device
    out = []
    for start in range(0, n, cfg.batch_size):
        index = torch.arange(start, min(n, start + cfg.batch_size), device=device).expand(len(sets), -1)
        score = model.read(inputs.network(model, index), sum_over_time if cfg.eval == "sum" else None)
        out.append(score.argmax(-1))
        if step is not None:
            step()
    return torch.cat(out, dim=1)


@torch.no_grad()
def cost_of(model: Decoder, cfgs: Sequence[RunConfig], sets: Sequence[Stimuli]) -> list[Costs]:
    """Each model's cost metrics (:mod:`snnsim.costs`) from its records on its first
    :data:`COST_SAMPLES` test samples, through the layer-by-layer network (input currents as
    :class:`InputCurrents` computes them for training and predictions)."""
    n = min(COST_SAMPLES, sets[0].spikes.shape[0])
    spikes = [s.spikes[:n] for s in sets]  # bool: the costs count spikes as accumulates
    index = torch.arange(n, device=spikes[0].device).expand(len(sets), -1)
    out = InputCurrents(cfgs[0], sets, records=True).network(model, index)
    costs = []
    for m, cfg in enumerate(cfgs):
        part = model.part_of(m)
        o = out.parts[model.parts.index(part)]
        k = m - part.models.start
        costs.append(decoder_costs(model, m, spikes[m], o.hidden_spikes[k],
                                   None if o.out_spikes is None else o.out_spikes[k], cfg.dt))  # fmt: skip
    return costs


def _describe(cfgs: Sequence[RunConfig]) -> str:
    """The models' backend, readouts and taus, for progress bars: 'fused mean,fr/tau=2,20ms x4'."""
    readouts = dict.fromkeys(c.readout for c in cfgs)
    taus = dict.fromkeys(f"{c.tau * 1e3:.3g}" for c in cfgs)
    return f"{cfgs[0].backend} {','.join(readouts)}/tau={','.join(taus)}ms x{len(cfgs)}"


class IPDStudy:
    name = "ipd"
    memory_flags = "--batch-size, --hidden, --n-train-batches, --n-test-batches, --repeats, --duration, --max-delay"

    def group_key(self, cfg: RunConfig) -> RunConfig:
        """Configs that differ only by seed, repeats, readout or tau train as one batched model
        (each model keeps its own readout and time constant)."""
        return cfg.replace(seed=0, repeats=1, readout="mean", tau=0.02)

    def data_key(self, cfg: RunConfig, seed: int) -> tuple:
        return (IPDStimulus.from_config(cfg), cfg.batch_size, cfg.n_train_batches, cfg.n_test_batches,
                cfg.n_val_batches, seed)  # fmt: skip

    def memory_bytes(self, cfg: RunConfig) -> tuple[int, int]:
        """Data: bool spikes and their lists of active inputs (about 1 + 1 byte per entry), plus a
        float32 generation chunk; training: a mini-batch's float32 records and their gradients
        (about 8 per neuron and step), weights with gradients and Adam's moments. Input delays
        (:func:`~snnsim.functional.delay.delay`) add 3 float32 copies of the inputs padded by the
        delay's steps, 4 of the delayed inputs and 6 of the delay kernel: above the measured peak
        on the CPU, by up to 2x (``tests/test_model_space.py``)."""
        inputs, steps = 2 * cfg.anf_per_ear, cfg.steps
        samples = cfg.batch_size * (cfg.n_train_batches + cfg.n_test_batches + cfg.n_val_batches)
        data = samples * steps * inputs * 2 + CHUNK * steps * inputs * 4 * 3
        hidden = sum(cfg.hidden_sizes)
        work = cfg.batch_size * steps * (inputs + 8 * (hidden + cfg.n_classes)) * 4
        weights = (inputs * hidden + hidden * (hidden + cfg.n_classes)) * 4 * 4
        if cfg.delays != "none":
            work += (cfg.batch_size * inputs * (3 * (cfg.delay_steps + steps) + 4 * steps)
                     + 6 * inputs * (cfg.delay_steps + 1)) * 4  # fmt: skip
        return data, work + weights

    def make_data(self, cfg: RunConfig, seed: int, device: torch.device) -> IPDData:
        """The seed's training and test sets; on the CPU also their lists of active inputs (part
        of preparing the data, not of training)."""
        val = make_stimuli(cfg, seed, device, "val") if cfg.n_val_batches else None
        data = IPDData(make_stimuli(cfg, seed, device, "train"), make_stimuli(cfg, seed, device, "test"), val)
        if (rows := data.train.sparse()) is not None:
            rows.csc()
            for other in (data.test, data.val):
                if other is not None:
                    other.sparse()
        return data

    def make_model(self, cfgs: Sequence[RunConfig], seeds: Sequence[int], device: torch.device) -> Decoder:
        """One decoder per seed, each with its config's readout and time constant."""
        params = [LIFParameters(c.alpha, c.threshold, c.surrogate_slope, c.neuron) for c in cfgs]
        generators = [seeding.generator(s, "init") for s in seeds]
        first = cfgs[0]
        model = Decoder(
            2 * first.anf_per_ear, first.hidden_sizes[0], first.n_classes, make_backend(first.backend),
            [get_readout(c.readout) for c in cfgs], params, first.init, generators, Architecture.from_config(first),
        )  # fmt: skip
        return model.to(device)

    def fit(self, model: Decoder, cfgs: Sequence[RunConfig], data: Sequence[IPDData], seeds: Sequence[int],
            options: FitOptions) -> Training:  # fmt: skip
        cfg = cfgs[0]
        val = [d.val for d in data] if cfg.n_val_batches else None
        trainer = IPDTrainer(model, cfg, [d.train for d in data], seeds, val)
        return fit_epochs(model, trainer, len(seeds), cfg.epochs, cfg.patience, _describe(cfgs), options,
                          checkpoint_key(cfgs, seeds), lr_at(cfg), cfg.ema)  # fmt: skip

    def evaluate(self, model: Decoder, cfgs: Sequence[RunConfig], data: Sequence[IPDData],
                 training: Training, progress: bool = False) -> list[IPDRepeat]:  # fmt: skip
        from tqdm.auto import tqdm

        cfg = cfgs[0]
        scores = {}
        splits = [split for split in ("train", "test", "val") if all(getattr(d, split) is not None for d in data)]
        batches = sum(-(-getattr(data[0], split).ipd.shape[0] // cfg.batch_size) for split in splits)
        # seconds after the training bar (a default run's sets): a bar on a terminal, then the costs; none in a log
        with tqdm(total=batches + 1, desc=f"{_describe(cfgs)} evaluating", unit="batch", leave=False,
                  disable=None if progress else True) as bar:  # fmt: skip
            for split in ("train", "test", "val"):
                sets = [getattr(d, split) for d in data]
                if split not in splits:
                    scores[split] = [None] * len(data)
                    continue
                predicted = predict(model, cfg, sets, bar.update)
                scores[split] = [classification_metrics(s.ipd, predicted[m], cfg.n_classes)
                                 for m, s in enumerate(sets)]  # fmt: skip
            costs = cost_of(model, cfgs, [d.test for d in data])
            bar.update()
        return [
            IPDRepeat(
                training.loss[m],
                scores["train"][m],
                scores["test"][m],
                weight_values(model, m),
                costs[m],
                scores["val"][m],
                None if training.val_curve is None else training.val_curve[m],
                0 if training.best_epoch is None else int(training.best_epoch[m]),
                training.lr_of(m),
                None if training.hidden_rate is None else training.hidden_rate[m],
            )  # fmt: skip
            for m in range(len(data))
        ]

    def to_dataset(
        self, cfg: RunConfig, outcomes: Mapping[int, Outcome], data: IPDData, device: torch.device
    ) -> xr.Dataset:
        repeats = sorted(outcomes)
        rows: list[IPDRepeat] = [outcomes[r].result for r in repeats]
        classes = np.arange(cfg.n_classes)
        midpoints = np.degrees(continuise(classes.astype(float), cfg.n_classes))
        per_repeat = {
            "train_acc": ([r.train.acc for r in rows], "%", "training accuracy"),
            "test_acc": ([r.test.acc for r in rows], "%", "test accuracy"),
            "train_err_deg": ([r.train.err_deg for r in rows], "deg", "training mean absolute IPD error"),
            "test_err_deg": ([r.test.err_deg for r in rows], "deg", "test mean absolute IPD error"),
            "train_seconds": ([outcomes[r].seconds for r in repeats], "s", "training wall time"),
        }
        variables = {k: ("repeat", np.array(v), {"units": u, "long_name": n}) for k, (v, u, n) in per_repeat.items()}
        variables["loss"] = (
            ("repeat", "epoch"),
            np.stack([r.loss for r in rows]),
            {"long_name": f"mean training loss (NLL{PENALTY if cfg.rate_reg else ''})"},
        )
        variables["confusion"] = (
            ("repeat", "true_class", "pred_class"), np.stack([r.test.confusion for r in rows]),
            {"long_name": "test confusion counts"},
        )  # fmt: skip
        for name, dims in weight_dims(Architecture.from_config(cfg)).items():
            variables[name] = (("repeat", *dims), np.stack([r.weights[name] for r in rows]),
                               {"long_name": LONG_NAMES.get(name, f"trained {name.replace('_', ' ')}"),
                                **({"units": WEIGHT_UNITS[name]} if name in WEIGHT_UNITS else {})})  # fmt: skip
        variables.update(epoch_variables(rows))
        if cfg.n_val_batches:
            variables["val_acc"] = ("repeat", np.array([r.val.acc for r in rows]),
                                    {"units": "%", "long_name": "validation accuracy (best weights)"})  # fmt: skip
            variables["val_acc_curve"] = (("repeat", "epoch"), np.stack([r.val_curve for r in rows]),
                                          {"units": "%", "long_name": "validation accuracy per epoch; NaN after "
                                           "early stop"})  # fmt: skip
            variables["best_epoch"] = ("repeat", np.array([r.best_epoch for r in rows]),
                                       {"long_name": "epoch whose weights were kept (early stopping)"})  # fmt: skip
        variables.update(cost_variables([r.costs for r in rows]))
        ds = xr.Dataset(
            variables,
            coords={
                "repeat": repeats,
                "epoch": np.arange(1, cfg.epochs + 1),
                "true_class": classes,
                "pred_class": classes,
                "class_ipd_deg": ("true_class", midpoints, {"units": "deg", "long_name": "bin midpoint IPD"}),
                "seed": ("repeat", np.array([cfg.seed + r for r in repeats])),
            },
        )
        ds.attrs.update(provenance_attrs(cfg, device))
        return ds

    def summarise(self, ds: xr.Dataset) -> str:
        """A short table: median [min-max] over repeats of accuracy, error, hidden rate, synaptic
        operations (accumulates, and multiply-accumulates where there are any) and training time."""
        a = ds.attrs
        lines = [
            f"IPD  backend={a['config_backend']}  readout={a['config_readout']}  tau={a['config_tau'] * 1e3:g} ms  "
            f"phase={a['config_phase']}  eval={a['config_eval']}  repeats={ds.sizes['repeat']}  device={a['device']}",
            f"{'':14}{'median':>11}{'min':>11}{'max':>11}",
        ]
        for name, label in (
            ("train_acc", "train acc %"),
            ("val_acc", "val acc %"),
            ("test_acc", "test acc %"),
            ("train_err_deg", "train err deg"),
            ("test_err_deg", "test err deg"),
            ("hidden_rate_hz", "hidden Hz"),
            ("synops_eff_acs", "synops/sample"),
            ("synops_eff_macs", "MACs/sample"),
            ("train_seconds", "train s"),
        ):
            if name not in ds or (name == "synops_eff_macs" and not (ds[name].values > 0).any()):
                continue  # MACs: only where the input a layer integrates is graded (fractional input delays)
            v = ds[name].values
            lines.append(f"{label:14}" + "".join(cell(x, 2) for x in (np.median(v), v.min(), v.max())))
        return "\n".join(lines)


STUDY = IPDStudy()
