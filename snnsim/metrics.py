"""Metrics: IPD classification (accuracy, absolute error in degrees, confusion) and regression
(FVAF, RMSE per output dimension, population variance)."""

from __future__ import annotations

import math
from typing import NamedTuple, TypeVar

import numpy as np
import torch

_Index = TypeVar("_Index", torch.Tensor, np.ndarray)


class Classification(NamedTuple):
    """Accuracy (%), mean absolute IPD error (deg) and confusion counts [true_class, pred_class]."""

    acc: float
    err_deg: float
    confusion: np.ndarray


def discretise(ipd: torch.Tensor, n_classes: int) -> torch.Tensor:
    """IPD in rad, in [-pi/2, pi/2) -> class index ``floor((ipd + pi/2) * n / pi)``."""
    return ((ipd + math.pi / 2) * n_classes / math.pi).long().clamp_(0, n_classes - 1)


def continuise(index: _Index, n_classes: int) -> _Index:
    """Class index -> IPD in rad at the bin midpoint."""
    return (index + 0.5) / n_classes * math.pi - math.pi / 2


def classification_metrics(ipd: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> Classification:
    """Accuracy (%), mean absolute error (deg) between the true IPD and the predicted bin
    midpoint, and the confusion counts indexed [true_class, pred_class]. ``ipd``: (N,) true IPDs
    in rad; ``predicted``: (N,) class indices."""
    true_class = discretise(ipd, n_classes)
    accuracy = 100.0 * (true_class == predicted).double().mean().item()
    error_deg = (ipd.double() - continuise(predicted.double(), n_classes)).abs().mean().item() * 180 / math.pi
    confusion = torch.zeros(n_classes * n_classes, dtype=torch.int64, device=ipd.device)
    confusion.index_add_(0, true_class * n_classes + predicted, torch.ones_like(predicted))
    return Classification(accuracy, error_deg, confusion.view(n_classes, n_classes).cpu().numpy())


def fvaf(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Fraction of variance accounted for, per column: 1 - MSE / VAR (population variance);
    dimensionless (``y_true``, ``y_pred``: (N, D))."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    mse = np.mean((y_true - y_pred) ** 2, axis=0)
    return 1.0 - mse / np.var(y_true, axis=0)


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Root mean squared error per column, in the targets' units (``y_true``, ``y_pred``: (N, D))."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return np.sqrt(np.mean((y_true - y_pred) ** 2, axis=0))
