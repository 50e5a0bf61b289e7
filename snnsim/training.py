"""The epoch loop every gradient-trained study shares: progress, validation, early stopping,
divergence checks, per-epoch hooks and checkpoints that resume.

A study supplies a :class:`Trainer` (one epoch of mini-batches over M models, and optionally a
validation score per model); :func:`fit_epochs` runs the epochs.

- **Divergence.** After every epoch the loss, weights and optimiser moments of every model are
  checked: a model with any of them NaN or infinite stops the training with a
  :class:`~snnsim.errors.DivergedError` naming it and the epoch. So does, after the first epoch,
  a model none of whose weights changed although Adam's steps were taken (each below float32's
  resolution of its weight: ``--lr`` too small).
- **Early stopping.** With validation, each model keeps its best weights: after ``patience``
  epochs without a new best, a model stops being tracked (its best weights are frozen, the
  other models go on), training ends when no model is tracked, and every model's best weights
  are restored. Models are independent, so a model's numbers are those of training it alone.
- **Hooks** (:class:`EpochHook`) see each epoch's record (:class:`EpochRecord`): TensorBoard,
  pruning of a tuning trial. A fit resumed from a checkpoint gives them the checkpoint's epoch
  again first: a stop may have cut short their writing of it.
- **Optimisation** shared by the studies: Adam with the config's weight decay
  (:func:`make_optimiser`), a learning rate per epoch (:func:`lr_at`, :func:`epoch_lr`) and
  gradient clipping per model (:func:`clip_gradients`).
- **Weight average.** With ``average`` > 0 the loop keeps an exponential moving average of the
  weights over mini-batches (:class:`WeightAverage`); validation, early stopping and the weights
  a fit ends with are those of the average, not of the last step.
- **Checkpoints.** With ``options.checkpoint``, the whole state (weights, the trainer's
  optimiser and random generators, every per-epoch record, the early-stopping state) is
  written atomically after every epoch; a fit given the same checkpoint path and the same
  models starts again after the last saved epoch and ends with exactly the numbers of a fit
  that was never interrupted.
"""

from __future__ import annotations

import io
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .atomic_write import WriteFailed
from .backends import _native
from .errors import DivergedError

if TYPE_CHECKING:
    from .config import RunConfig


class Trainer(Protocol):
    n_batches: int  # mini-batches per epoch

    def epoch(self, on_batch: Callable[[], None]) -> np.ndarray:
        """Train one epoch; ``on_batch()`` after each mini-batch. Returns the mean loss per model (M,)."""

    def validate(self) -> np.ndarray | None:
        """Validation score per model (M,), higher is better; None: no validation, no early stopping."""

    def hidden_rate_hz(self) -> np.ndarray | None:
        """Mean hidden firing rate per model (M,) over the last epoch's samples, Hz (None: no spikes)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything besides the weights that the next epochs depend on (optimiser, generators)."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of M models produced (arrays of shape (M,))."""

    epoch: int  # 1-based
    loss: np.ndarray
    score: np.ndarray | None
    lr: float
    hidden_rate_hz: np.ndarray | None
    model: nn.Module
    tracked: np.ndarray  # (M,) bool: models still training this epoch (not stopped early before it)
    again: bool = False  # given again by a fit resumed from its checkpoint of this epoch


def make_optimiser(model: nn.Module, cfg: Any) -> torch.optim.Adam:
    """Adam over ``model``'s parameters with ``cfg.lr`` and ``cfg.weight_decay`` (L2).

    torch's single-tensor implementation (``foreach=False``, as the notebook's CPU Adam), not the
    fused one: the fused CPU kernel rounds a tensor's vectorised part and its tail differently,
    so a model whose slice of a batched parameter is not aligned to the vector width would be
    updated differently batched than alone (``tests/test_training_options.py``)."""
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=False)


def epoch_lr(cfg: Any, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based): ``cfg.lr``, or with ``lr_schedule =
    "cosine"`` ``lr * (1 + cos(pi * epoch / epochs)) / 2`` (lr in the first epoch, towards 0)."""
    if cfg.lr_schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))
    return cfg.lr


def lr_at(cfg: Any) -> Callable[[int], float] | None:
    """The learning rate per epoch of ``cfg`` for :func:`fit_epochs` (None: constant)."""
    return None if cfg.lr_schedule == "constant" else lambda epoch: epoch_lr(cfg, epoch)


def rate_penalty(hidden_spikes: torch.Tensor, cfg: RunConfig, step_seconds: float) -> torch.Tensor:
    """Firing-rate regularisation per model (M,): ``rate_reg`` times the mean over hidden neurons
    of ((r - r*) / r*)^2, with r a neuron's rate (Hz) over the mini-batch's samples and steps
    (``hidden_spikes`` (M, B, T, N), steps of ``step_seconds``) and r* = ``rate_target``."""
    rate = hidden_spikes.mean((1, 2)) / step_seconds
    return cfg.rate_reg * ((rate - cfg.rate_target) / cfg.rate_target).pow(2).mean(-1)


@torch.no_grad()
def clip_gradients(model: nn.Module, n_models: int, max_norm: float) -> None:
    """Scale each model's gradient (every parameter has a leading model dimension) so that its
    norm over all parameters is at most ``max_norm``, as ``clip_grad_norm_`` does for one model;
    0 turns clipping off. Models are clipped independently."""
    if not max_norm:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    norm = torch.stack([g.reshape(n_models, -1).double().pow(2).sum(1) for g in grads]).sum(0).sqrt()
    factor = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(factor.to(g.dtype).view(-1, *([1] * (g.dim() - 1))))


class WeightAverage:
    """Exponential moving average of a model's parameters over mini-batches, bias-corrected as
    Adam's moments are: after n updates with weights w_1..w_n and decay d,
    ``sum_k (1 - d) d^(n-k) w_k / (1 - d^n)``. Kept in float64 with plain elementwise products
    and sums (no fused multiply-add), so a model's average is the same batched and alone."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.params = list(model.parameters())
        self.decay, self.updates = decay, 0
        self.sums = [torch.zeros_like(p, dtype=torch.float64) for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        """Add the parameters as they are now (after an optimiser step)."""
        self.updates += 1
        for total, p in zip(self.sums, self.params):
            total.mul_(self.decay).add_(p.double() * (1 - self.decay))

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Within the block the model holds the averaged weights; after it, its own again."""
        with torch.no_grad():
            own = [p.detach().clone() for p in self.params]
        self.apply()
        try:
            yield
        finally:
            with torch.no_grad():
                for saved, p in zip(own, self.params):
                    p.copy_(saved)

    @torch.no_grad()
    def apply(self) -> None:
        """Set the model's parameters to the average (no update yet: leave them)."""
        if self.updates:
            scale = 1 - self.decay**self.updates
            for total, p in zip(self.sums, self.params):
                p.copy_(total / scale)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "sums": [t.clone() for t in self.sums]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = state["updates"]
        for total, saved in zip(self.sums, state["sums"]):
            total.copy_(saved)


class EpochHook(Protocol):
    def __call__(self, record: EpochRecord) -> None: ...


@dataclass(frozen=True)
class FitOptions:
    """How a fit runs besides its configs: progress bar, hooks, checkpoint file, where messages go.
    ``owned(path)`` is told the checkpoint file once it holds this fit's state (resumed from, or
    written): until then the file there may be another run's, of other settings. ``notes``: the
    study's one-line notes on its settings go to ``log`` too (``snnsim.run --quiet``: not)."""

    progress: bool = True
    hooks: Sequence[EpochHook] = ()
    checkpoint: Path | None = None
    log: Callable[[str], None] = field(default=lambda message: None)
    owned: Callable[[Path], None] = field(default=lambda path: None)
    notes: bool = True


@dataclass(frozen=True)
class Training:
    """What the epochs of M models produced.

    loss: (M, epochs) mean training loss per epoch, NaN after a model stopped.
    val_curve: (M, epochs) validation score per epoch (NaN after a stop), or None.
    best_epoch: (M,) 1-based epoch whose weights were kept, or None.
    lr: (epochs,) learning rate of each epoch the fit ran (:meth:`lr_of`: one model's).
    hidden_rate: (M, epochs) Hz, or None.
    resumed_from: the epoch a checkpoint resumed after (0: from the start).
    resumed_seconds: wall time (s) the fit had spent up to that checkpoint, in the stopped run.
    parts: per earlier process whose epochs the checkpoint held, in order: ``{"epochs": [first,
    last], **hardware}`` (:func:`snnsim.results.hardware` of that process; none for checkpoints
    of snnsim versions before 0.3.0).
    """

    loss: np.ndarray
    val_curve: np.ndarray | None = None
    best_epoch: np.ndarray | None = None
    lr: np.ndarray | None = None
    hidden_rate: np.ndarray | None = None
    resumed_from: int = 0
    resumed_seconds: float = 0.0
    parts: tuple[dict[str, Any], ...] = ()

    def lr_of(self, m: int) -> np.ndarray | None:
        """(epochs,) the learning rate of each epoch model ``m`` trained, NaN after it stopped:
        the same whichever models it was trained with."""
        return None if self.lr is None else np.where(np.isnan(self.loss[m]), np.nan, self.lr)


def epoch_variables(rows: Sequence) -> dict:
    """The learning rate and hidden firing rate per epoch of per-repeat records (``lr``,
    ``hidden_rate``), as result variables over (repeat, epoch)."""
    out = {}
    if all(r.lr is not None for r in rows):
        out["lr_curve"] = (
            ("repeat", "epoch"),
            np.stack([r.lr for r in rows]),
            {"long_name": "learning rate per epoch"},
        )
    if all(r.hidden_rate is not None for r in rows):
        out["hidden_rate_curve"] = (("repeat", "epoch"), np.stack([r.hidden_rate for r in rows]),
                                    {"units": "Hz", "long_name": "hidden firing rate per epoch (training)"})  # fmt: skip
    return out


class _State:
    """The loop's own state (saved in checkpoints)."""

    def __init__(self, model: nn.Module, n_models: int, epochs: int, average: WeightAverage | None) -> None:
        self.losses = np.full((n_models, epochs), np.nan)
        self.val_curve = np.full((n_models, epochs), np.nan)
        self.rates = np.full((n_models, epochs), np.nan)
        self.lr = np.full(epochs, np.nan)
        self.best_val = np.full(n_models, -np.inf)
        self.best_epoch = np.zeros(n_models, dtype=int)
        self.active = np.ones(n_models, dtype=bool)
        self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.validated = False
        self.epoch = 0  # epochs done
        self.seconds = 0.0  # wall time of the fit up to the end of epoch ``epoch``, all runs together
        self.parts: list[dict[str, Any]] = []  # who trained which epochs (:attr:`Training.parts`)
        self.average = average

    ARRAYS = ("losses", "val_curve", "rates", "lr", "best_val", "best_epoch", "active")

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k).copy() for k in self.ARRAYS}
        out.update(best_state=self.best_state, validated=self.validated, epoch=self.epoch, seconds=self.seconds,
                   parts=[{**part, "epochs": list(part["epochs"])} for part in self.parts])  # fmt: skip
        if self.average is not None:
            out["average"] = self.average.state_dict()
        return out

    def load(self, d: dict[str, Any]) -> None:
        for k in self.ARRAYS:
            setattr(self, k, d[k].copy())
        self.best_state, self.validated, self.epoch = d["best_state"], d["validated"], d["epoch"]
        self.seconds = d.get("seconds", 0.0)  # not in checkpoints of older versions
        self.parts = d.get("parts", [])  # nor this
        if self.average is not None:
            self.average.load_state_dict(d["average"])


def save_checkpoint(path: Path, key: str, model: nn.Module, trainer: Trainer, state: _State, epochs: int) -> None:
    """Write the checkpoint of a fit after epoch ``state.epoch`` atomically, and a small JSON
    beside it (``PATH.json``: epoch, epochs, the digests of its configs, the versions of the
    libraries that computed it) that status commands read without torch. The caller holds the stop
    signals (:func:`fit_epochs`): a stop comes after the sidecar, not beside the previous epoch's."""
    from .atomic_write import write_bytes

    buffer = io.BytesIO()
    torch.save({"key": key, "model": model.state_dict(), "trainer": trainer.state_dict(), "loop": state.to_dict()},
               buffer)  # fmt: skip
    sidecar = Path(f"{path}.json")
    info = {"epoch": state.epoch, "epochs": epochs, "configs": key_configs(key),
            "versions": json.loads(key).get("versions", {}), "numerics_version": key_numerics(key)}  # fmt: skip
    write_bytes(path, buffer.getvalue(), overwrite=True, durable=False, result=False)  # read back with a check
    try:
        write_bytes(sidecar, json.dumps(info).encode(), overwrite=True, durable=False, result=False)
    except WriteFailed:  # the old sidecar names an epoch before the checkpoint's: no sidecar says less, not wrong
        with suppress(OSError):
            sidecar.unlink()
        raise


def checkpoint_key(cfgs: Sequence[RunConfig], seeds: Sequence[int], data_sha256: str | None = None) -> str:
    """What a checkpoint must have been made by to be resumed: the models' configs and seeds,
    the SHA-256 of the data file they train on (a config names only its path), and the numerics
    version of snnsim (:data:`snnsim.results.NUMERICS_VERSION`: epochs trained by an snnsim whose
    numbers differ are not continued under this one's)."""
    from . import results

    key = [[c.to_json(), s] for c, s in zip(cfgs, seeds)] + ([data_sha256] if data_sha256 else [])
    return json.dumps([*key, {"numerics_version": results.NUMERICS_VERSION}])


def key_configs(key: str) -> list[str]:
    """The :func:`~snnsim.config.config_digest` of every config among a checkpoint key's models (a study's
    :func:`checkpoint_key`: ``[[config, seed], ...]``), for a checkpoint's sidecar: `sweep status`
    tells from them, without torch, whether a job's config now is one the checkpoint was made by."""
    try:
        from .config import config_digest

        models = json.loads(json.loads(key)["models"])
        return sorted({config_digest(m[0]) for m in models if isinstance(m, list) and isinstance(m[0], str)})
    except (TypeError, ValueError, KeyError, IndexError):
        return []


def key_numerics(key: str) -> int | None:
    """The numerics version among a checkpoint key's models (a study's :func:`checkpoint_key` ends
    with ``{"numerics_version": N}``), for a checkpoint's sidecar; None where the key has none."""
    try:
        models = json.loads(json.loads(key)["models"])
        return next((m["numerics_version"] for m in models if isinstance(m, dict) and "numerics_version" in m), None)
    except (TypeError, ValueError, KeyError):
        return None


def _read_checkpoint(options: FitOptions) -> dict[str, Any] | None:
    """The checkpoint of ``options``, or None when there is none or it does not read back."""
    if options.checkpoint is None or not options.checkpoint.exists():
        return None
    try:  # a GPU node's checkpoint on a CPU-only node reads into memory, for the key to refuse it
        saved = torch.load(options.checkpoint, weights_only=False,
                           map_location=None if torch.cuda.is_available() else "cpu")  # fmt: skip
    except Exception as exc:  # noqa: BLE001  (torn by a power cut, or not a checkpoint at all)
        options.log(f"{options.checkpoint} is unreadable ({type(exc).__name__}); starting from epoch 1")
        return None
    if not (isinstance(saved, dict) and CHECKPOINT_ENTRIES <= saved.keys()):  # a file torch reads, of something else
        options.log(f"{options.checkpoint} is unreadable (not a checkpoint); starting from epoch 1")
        return None
    return saved


#: What :func:`save_checkpoint` writes, and a checkpoint read back must hold.
CHECKPOINT_ENTRIES = {"key", "model", "trainer", "loop"}


def _computing_versions() -> dict[str, str]:
    from .results import COMPUTING, library_versions

    versions = library_versions()
    return {name: versions[name] for name in COMPUTING}


def _other(saved: Any, key: str) -> str:
    """Why a checkpoint whose key is ``saved`` is not resumed by a fit whose key is ``key``."""
    try:
        was, now = json.loads(saved), json.loads(key)
        if was["models"] == now["models"] and was["device"] != now["device"]:
            return f"was made on a {was['device']} device, this run is on {now['device']}"
        old, new = was.get("versions") or {}, now["versions"]
        if was["models"] == now["models"] and (changed := [k for k in new if old.get(k) != new[k]]):
            made_with = ", ".join(f"{k} {old.get(k, '?')}" for k in changed)
            return f"was made with {made_with}, this run has {', '.join(f'{k} {new[k]}' for k in changed)}"
        if why := _other_models(json.loads(was["models"]), json.loads(now["models"])):
            return why
    except (TypeError, ValueError, KeyError):  # no key, or one of an earlier snnsim version
        pass
    return "holds other models"


def _other_models(was: Any, now: Any) -> str | None:
    """Why the models of a study's checkpoint key ``was`` are not those of ``now`` (both lists:
    each model's [config, seed], the data's SHA-256, ``{"numerics_version": N}``:
    :func:`checkpoint_key`) where the configs and seeds are the same: other data under the same
    name, or other numerics; None otherwise."""
    if not (isinstance(was, list) and isinstance(now, list) and len(was) == len(now)):
        return None
    differ = [(a, b) for a, b in zip(was, now) if a != b]
    if not differ:
        return None
    if all(isinstance(a, str) and isinstance(b, str) for a, b in differ):  # the data's SHA-256
        a, b = differ[0]
        return f"was made from other data under the same name (SHA-256 {a[:12]}..., now {b[:12]}...)"
    if all(isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() == {"numerics_version"}
           for a, b in differ):  # fmt: skip
        a, b = differ[0]
        return (f"was made by an snnsim of numerics version {a['numerics_version']}, this run has "
                f"{b['numerics_version']}")  # fmt: skip
    return _other_settings(differ)


def _other_settings(differ: list[tuple[Any, Any]]) -> str | None:
    """The settings (and seed) in which the first of the ``differ`` models' ``[config, seed]``
    pairs differ ("was made with epochs=40, this run has epochs=50", durations with their unit);
    None where they are not such pairs."""
    from .sweep.experiment import format_settings

    try:
        (was, seed_was), (now, seed_now) = differ[0]
        was, now = json.loads(was), json.loads(now)
    except (TypeError, ValueError):
        return None
    if not (isinstance(was, dict) and isinstance(now, dict)):
        return None
    names = [k for k in now if k in was and was[k] != now[k]]
    old = {k: was[k] for k in names} | ({"seed": seed_was} if seed_was != seed_now else {})
    new = {k: now[k] for k in names} | ({"seed": seed_now} if seed_was != seed_now else {})
    if not old or set(was) != set(now):  # other fields: the config of another snnsim
        return None
    for k in names:  # a duration that differs past the 6 digits shown: in full, in seconds
        if format_settings({k: old[k]}) == format_settings({k: new[k]}) and isinstance(old[k], float):
            old[k], new[k] = f"{old[k]!r}s", f"{new[k]!r}s"
    return f"was made with {format_settings(old)}, this run has {format_settings(new)}"


def remove_checkpoint(path: Path) -> None:
    for p in (path, Path(f"{path}.json")):
        p.unlink(missing_ok=True)


def fit_epochs(model: nn.Module, trainer: Trainer, n_models: int, epochs: int, patience: int, desc: str,
               options: FitOptions, key: str = "", lr_at: Callable[[int], float] | None = None,
               average: float = 0.0) -> Training:  # fmt: skip
    """Train ``model`` (M = ``n_models`` models, every state tensor with a leading model dim) for
    at most ``epochs`` epochs; see the module docstring. ``key`` identifies the models in a
    checkpoint (their configs and seeds): a checkpoint with another key, made on another kind
    of device (``--device auto`` may pick a GPU on the node a requeued job lands on) or with other
    versions of the libraries that compute (:data:`snnsim.results.COMPUTING`), is not resumed.
    ``lr_at(epoch)`` (0-based) sets the learning rate of ``trainer.optimiser`` before each epoch.
    ``average``: the decay per mini-batch of the weight average (:class:`WeightAverage`; 0: none)."""
    start, built = time.perf_counter(), _native.build_seconds  # the kernels' build is no training time
    weights = WeightAverage(model, average) if average else None
    state = _State(model, n_models, epochs, weights)
    resumed, before, earlier = 0, 0.0, ()  # the epochs, seconds and parts of a stopped run this fit resumes
    checkpoint = options.checkpoint
    key = json.dumps({"models": key, "device": next(model.parameters()).device.type, "versions": _computing_versions()})
    saved = _read_checkpoint(options)
    if saved is not None:
        if saved.get("key") == key:
            model.load_state_dict(saved["model"])
            trainer.load_state_dict(saved["trainer"])
            state.load(saved["loop"])
            resumed, before, earlier = state.epoch, state.seconds, tuple(state.parts)
            options.log(f"resuming from the checkpoint after epoch {resumed} of {epochs} ({options.checkpoint})")
            options.owned(options.checkpoint)
            if resumed:  # a stop while the hooks wrote that epoch would leave it out of their logs
                _call_hooks(options.hooks, state, model, weights, resumed, again=True)
        else:
            options.log(f"{options.checkpoint} {_other(saved.get('key'), key)}; starting from epoch 1")
    from .cli import signals_held, stop_if_signalled

    finished, bar = bool(state.epoch and not state.active.any()), None

    def step() -> None:  # after each batch
        if weights is not None:
            weights.update()
        bar.update()
        stop_if_signalled()  # a stop whose raise was lost (in a finalizer) stops here

    own = None  # this process's entry of state.parts, opened by its first epoch
    try:
        with signals_held():  # a stop as the bar is drawn comes once it can be closed (below)
            bar = tqdm(total=epochs * trainer.n_batches, initial=resumed * trainer.n_batches,
                       disable=not options.progress, unit="batch", leave=False, desc=desc, **_bar_pace())  # fmt: skip
        for epoch in range(state.epoch, epochs):
            if finished:
                break
            if lr_at is not None:
                for group in trainer.optimiser.param_groups:
                    group["lr"] = lr_at(epoch)
            loss = trainer.epoch(step)
            _check_finite(model, loss, n_models, epoch + 1, getattr(trainer, "optimiser", None), state.active)
            if epoch == 0:  # a fit from the start: state.best_state still holds the initial weights
                _check_moved(model, state.best_state, n_models, getattr(trainer, "optimiser", None))
            rate = trainer.hidden_rate_hz()
            state.lr[epoch] = _lr(trainer)
            with nullcontext() if weights is None else weights.applied():
                score = trainer.validate()
                if score is not None:
                    finished = _track_best(model, state, epoch, loss, score, rate, patience)
            if score is None:
                state.losses[:, epoch] = loss
                if rate is not None:
                    state.rates[:, epoch] = rate
                bar.set_postfix(loss=f"{loss.mean():.3f}")
            else:
                bar.set_postfix(loss=f"{np.nanmean(state.losses[:, epoch]):.3f}",
                                val=f"{np.nanmean(state.val_curve[:, epoch]):.3f}")  # fmt: skip
            state.epoch = epoch + 1
            state.seconds = before + time.perf_counter() - start - (_native.build_seconds - built)
            own = _count_part(state, own, model, epoch + 1)
            if checkpoint is not None:  # before the hooks: a hook that stops the fit keeps this epoch
                try:
                    with signals_held():  # a stop comes once the checkpoint, its sidecar and the run agree
                        save_checkpoint(checkpoint, key, model, trainer, state, epochs)
                        options.owned(checkpoint)
                except WriteFailed as exc:  # a full disk or quota: the training itself goes on
                    if Path(exc.path) != checkpoint:  # the checkpoint is in place, its sidecar is not
                        options.owned(checkpoint)
                    options.log(f"checkpoint: cannot write {exc.path} ({exc.reason}); training goes on without them")
                    checkpoint = None
            _call_hooks(options.hooks, state, model, weights, epoch + 1)
            # a stop held while a checkpoint write failed: after this epoch's hooks (a run's stop line counts the
            # epoch as trained, its checkpoint not written); after the last epoch no batch looks
            stop_if_signalled()
    finally:  # a stop or an error too: its message then starts a line, not the bar's
        if bar is not None:
            bar.close()
    rates = state.rates if np.isfinite(state.rates).any() else None
    if not state.validated:
        if weights is not None:
            weights.apply()
        return Training(state.losses, lr=state.lr, hidden_rate=rates, resumed_from=resumed, resumed_seconds=before,
                        parts=earlier)  # fmt: skip
    model.load_state_dict(state.best_state)
    return Training(state.losses, state.val_curve, state.best_epoch, state.lr, rates, resumed, before, earlier)


def _count_part(state: _State, own: dict[str, Any] | None, model: nn.Module, epoch: int) -> dict[str, Any]:
    """Count epoch ``epoch`` (1-based, done) to this process's entry of ``state.parts``, opened at
    its first epoch with the hardware that computed it (:func:`snnsim.results.hardware`: the
    kernels are known once an epoch has used them): a resumed fit's file can say which epochs
    another process computed, on other hardware."""
    if own is None:
        from .results import hardware

        own = {"epochs": [epoch, epoch], **hardware(next(model.parameters()).device)}
        state.parts.append(own)
    own["epochs"][1] = epoch
    return own


#: Seconds between two updates of the progress bar written to a log file (stderr not a terminal).
LOG_BAR_INTERVAL_S = 60.0


def _bar_pace() -> dict:
    """tqdm's update intervals: its own on a terminal; in a log (stderr redirected, a SLURM job)
    one update a minute and one at the end of each epoch (its loss), not ten a second, which
    wrote a carriage-return line per mini-batch."""
    if sys.stderr is not None and sys.stderr.isatty():
        return {}
    return {"mininterval": LOG_BAR_INTERVAL_S, "maxinterval": LOG_BAR_INTERVAL_S}


def _call_hooks(hooks: Sequence[EpochHook], state: _State, model: nn.Module, weights: WeightAverage | None,
                epoch: int, again: bool = False) -> None:  # fmt: skip
    """Give ``hooks`` the record of epoch ``epoch`` (1-based, done) as the loop's state holds it:
    right after the epoch, and ``again`` on resuming after it."""
    if not hooks:
        return
    i = epoch - 1
    rate = None if np.isnan(state.rates[:, i]).all() else state.rates[:, i]
    score = state.val_curve[:, i] if state.validated else None
    # the models the epoch trained: a model stopped early before it has no loss recorded
    record = EpochRecord(epoch, state.losses[:, i], score, float(state.lr[i]), rate, model,
                         np.isfinite(state.losses[:, i]), again)  # fmt: skip
    with nullcontext() if weights is None else weights.applied():  # the weights validation saw
        for hook in hooks:
            hook(record)


def _track_best(model: nn.Module, state: _State, epoch: int, loss: np.ndarray, score: np.ndarray,
                rate: np.ndarray | None, patience: int) -> bool:  # fmt: skip
    """Record epoch ``epoch`` (0-based) of the models still tracked, keep each model's best
    weights (the model's as they are now), stop tracking a model after ``patience`` epochs
    without a new best. True when no model is tracked any more."""
    state.validated = True
    for m in np.flatnonzero(state.active):
        state.losses[m, epoch] = loss[m]
        state.val_curve[m, epoch] = score[m]
        if rate is not None:
            state.rates[m, epoch] = rate[m]
        if score[m] > state.best_val[m]:
            state.best_val[m], state.best_epoch[m] = score[m], epoch + 1
            for k, v in model.state_dict().items():
                state.best_state[k][m] = v[m].detach()
        elif epoch + 1 - state.best_epoch[m] >= patience:
            state.active[m] = False
    return not state.active.any()


def _lr(trainer: Trainer) -> float:
    optimiser = getattr(trainer, "optimiser", None)
    return float(optimiser.param_groups[0]["lr"]) if optimiser is not None else float("nan")


def _check_moved(model: nn.Module, initial: dict[str, torch.Tensor], n_models: int,
                 optimiser: torch.optim.Optimizer | None) -> None:  # fmt: skip
    """After the first epoch, raise :class:`DivergedError` for the first model none of whose
    weights changed from ``initial`` although Adam took full steps (a gradient above its ``eps``):
    each step, about the learning rate, was below half a float32 ulp of its weight (``--lr
    1e-12``), and the untrained network would be the result. A model without such gradients (a
    network no spike crosses) is left to the run's warning of an unresponsive network."""
    if optimiser is None:
        return
    eps = optimiser.param_groups[0].get("eps", 0.0)
    moved = np.zeros(n_models, dtype=bool)
    pushed = np.zeros(n_models, dtype=bool)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in initial and initial[name].shape == p.shape:
                moved |= (p != initial[name]).reshape(n_models, -1).any(1).cpu().numpy()
            v = optimiser.state.get(p, {}).get("exp_avg_sq")
            if torch.is_tensor(v) and v.shape == p.shape:
                pushed |= (v > eps**2).reshape(n_models, -1).any(1).cpu().numpy()
    stuck = np.flatnonzero(pushed & ~moved)
    if len(stuck):
        lr = optimiser.param_groups[0]["lr"]
        raise DivergedError(
            f"did not train in epoch 1: none of its weights changed (each step of --lr {lr:g} is below float32's "
            "resolution of its weight); give a larger --lr", model=int(stuck[0]), epoch=1,
        )  # fmt: skip


#: What a divergence message names: the settings that make a step too large (any of the three).
DIVERGENCE_CAUSES = "a setting such as --lr, --weight-decay or --rate-reg is too large"


def _check_finite(model: nn.Module, loss: np.ndarray, n_models: int, epoch: int,
                  optimiser: torch.optim.Optimizer | None = None, active: np.ndarray | None = None) -> None:  # fmt: skip
    """Raise :class:`DivergedError` for the first model whose loss, weights or optimiser state
    are not finite (once Adam's moments overflow, every later step is 0: the weights freeze).
    ``active``: the models early stopping still tracks (None: all); a model stopped before is
    left out: its kept weights are its best epoch's, and what its slice of a batched model does
    while the others train on is no part of its result (alone, it would not have trained)."""
    loss_ok = np.isfinite(loss)
    weights_ok = np.ones(n_models, dtype=bool)
    moments_ok = np.ones(n_models, dtype=bool)
    with torch.no_grad():
        for p in model.parameters():
            weights_ok &= p.reshape(n_models, -1).isfinite().all(1).cpu().numpy()
            state = optimiser.state.get(p, {}) if optimiser is not None else {}
            for v in state.values():
                if torch.is_tensor(v) and v.shape == p.shape:
                    moments_ok &= v.reshape(n_models, -1).isfinite().all(1).cpu().numpy()
    ok = loss_ok & weights_ok & moments_ok
    if active is not None:
        ok |= ~active
    if not ok.all():
        m = int(np.flatnonzero(~ok)[0])
        if not loss_ok[m]:
            what = f"the training loss is {loss[m]}"
        elif not weights_ok[m]:
            what = "its weights are not finite"
        else:
            what = "its gradients overflowed the optimiser"
        raise DivergedError(f"diverged in epoch {epoch}: {what} ({DIVERGENCE_CAUSES})", model=m, epoch=epoch)
