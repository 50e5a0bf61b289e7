"""The patience-1 early-stopping rule, checked on the validation curves of a run's repeats."""

from __future__ import annotations

import numpy as np


def check_patience_one(curves: np.ndarray, best_epochs: np.ndarray) -> tuple[int, list[float]]:
    """Each repeat's curve (repeat, epoch) runs until the first epoch no better than its best so
    far and is NaN after it; its best epoch (1-based) is its curve's best. Returns how many
    repeats stopped early and each repeat's best score."""
    stopped, bests = 0, []
    for r, curve in enumerate(curves):
        best = -np.inf
        for e, score in enumerate(curve):
            if score > best:
                best = score
            else:  # no better: the last epoch trained
                assert np.isnan(curve[e + 1 :]).all(), (r, curve)
                stopped += 1
                break
        assert best_epochs[r] == np.nanargmax(curve) + 1, (r, curve, best_epochs[r])
        bests.append(best)
    return stopped, bests
