"""The epoch loop every gradient-trained study shares: progress, validation and early stopping.

A study supplies a :class:`Trainer` (one epoch of mini-batches over M models, and optionally a
validation score per model); :func:`fit_epochs` runs the epochs. After every epoch the loss and
weights of every model are checked: a model whose loss or weights are NaN or infinite stops the
training with a :class:`~snnsim.errors.DivergedError` naming it and the epoch. With validation, each model
keeps its best weights: after ``patience`` epochs without a new best, a model stops being
tracked (its best weights are frozen, the other models go on), training ends when no model is
tracked, and every model's best weights are restored. Models are independent, so a model's
numbers are those of training it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .errors import DivergedError


class Trainer(Protocol):
    n_batches: int  # mini-batches per epoch

    def epoch(self, on_batch: Callable[[], None]) -> np.ndarray:
        """Train one epoch; ``on_batch()`` after each mini-batch. Returns the mean loss per model (M,)."""

    def validate(self) -> np.ndarray | None:
        """Validation score per model (M,), higher is better; None: no validation, no early stopping."""


@dataclass(frozen=True)
class Training:
    """What the epochs of M models produced.

    loss: (M, epochs) mean training loss per epoch, NaN after a model stopped.
    val_curve: (M, epochs) validation score per epoch (NaN after a stop), or None.
    best_epoch: (M,) 1-based epoch whose weights were kept, or None.
    """

    loss: np.ndarray
    val_curve: np.ndarray | None = None
    best_epoch: np.ndarray | None = None


def fit_epochs(
    model: nn.Module, trainer: Trainer, n_models: int, epochs: int, patience: int, progress: bool, desc: str
) -> Training:
    """Train ``model`` (M = ``n_models`` models, every state tensor with a leading model dim) for
    at most ``epochs`` epochs; see the module docstring."""
    losses = np.full((n_models, epochs), np.nan)
    val_curve = np.full((n_models, epochs), np.nan)
    best_val = np.full(n_models, -np.inf)
    best_epoch = np.zeros(n_models, dtype=int)
    active = np.ones(n_models, dtype=bool)
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    validated = False
    bar = tqdm(total=epochs * trainer.n_batches, disable=not progress, unit="batch", leave=False, desc=desc)
    for epoch in range(epochs):
        loss = trainer.epoch(bar.update)
        _check_finite(model, loss, n_models, epoch + 1)
        score = trainer.validate()
        if score is None:
            losses[:, epoch] = loss
            bar.set_postfix(loss=f"{loss.mean():.3f}")
            continue
        validated = True
        for m in np.flatnonzero(active):
            losses[m, epoch] = loss[m]
            val_curve[m, epoch] = score[m]
            if score[m] > best_val[m]:
                best_val[m], best_epoch[m] = score[m], epoch + 1
                for k, v in model.state_dict().items():
                    best_state[k][m] = v[m].detach()
            elif epoch + 1 - best_epoch[m] >= patience:
                active[m] = False
        bar.set_postfix(loss=f"{np.nanmean(losses[:, epoch]):.3f}", val=f"{np.nanmean(val_curve[:, epoch]):.3f}")
        if not active.any():
            break
    bar.close()
    if not validated:
        return Training(losses)
    model.load_state_dict(best_state)
    return Training(losses, val_curve, best_epoch)


def _check_finite(model: nn.Module, loss: np.ndarray, n_models: int, epoch: int) -> None:
    """Raise :class:`DivergedError` for the first model whose loss or weights are not finite."""
    finite = np.isfinite(loss)
    with torch.no_grad():
        for p in model.parameters():
            finite &= p.reshape(n_models, -1).isfinite().all(1).cpu().numpy()
    if not finite.all():
        m = int(np.flatnonzero(~finite)[0])
        what = f"the training loss is {loss[m]}" if not np.isfinite(loss[m]) else "its weights are not finite"
        raise DivergedError(f"diverged in epoch {epoch}: {what}", model=m, epoch=epoch)
