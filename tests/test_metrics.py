"""Golden values of every metric on small cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snnsim.metrics import classification_metrics, continuise, discretise, fvaf, rmse


def test_fvaf_is_centred_on_the_target_mean():
    # column 0: y mean 2.5, population variance 1.25; one error of 1 -> MSE 0.25, FVAF 1 - 0.25/1.25 = 0.8
    # (an uncentred 1 - SSE/sum(y**2) would give 1 - 0.25/7.5 = 0.967)
    # column 1: predicting the mean -> FVAF 0; column 2: perfect -> 1
    y = np.array([[1.0, 0.0, 5.0], [2.0, 0.0, 6.0], [3.0, 1.0, 7.0], [4.0, 1.0, 8.0]])
    pred = np.array([[1.0, 0.5, 5.0], [2.0, 0.5, 6.0], [3.0, 0.5, 7.0], [5.0, 0.5, 8.0]])
    np.testing.assert_allclose(fvaf(y, pred), [0.8, 0.0, 1.0], rtol=0, atol=1e-15)
    # shifting target and prediction together changes nothing
    np.testing.assert_allclose(fvaf(y + 100, pred + 100), [0.8, 0.0, 1.0], atol=1e-12)


def test_fvaf_can_be_negative():
    y = np.array([[0.0], [1.0]])  # variance 0.25
    np.testing.assert_allclose(fvaf(y, np.array([[1.0], [0.0]])), [1 - 1.0 / 0.25])


def test_rmse_golden():
    y = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 1.0], [4.0, 1.0]])
    pred = np.array([[1.0, 0.5], [2.0, 0.5], [3.0, 0.5], [5.0, 0.5]])
    np.testing.assert_allclose(rmse(y, pred), [0.5, 0.5])
    np.testing.assert_allclose(rmse(np.array([[3.0]]), np.array([[-1.0]])), [4.0])


def test_ipd_classes_and_midpoints():
    ipd = torch.tensor([-math.pi / 2, -math.pi / 2 + math.pi / 12, 0.0, 0.1, math.pi / 2 - 1e-6, math.pi / 2])
    assert discretise(ipd, 12).tolist() == [0, 1, 6, 6, 11, 11]  # the upper edge clamps to the last class
    np.testing.assert_allclose(np.degrees(continuise(np.arange(12.0), 12)), np.arange(12) * 15 - 82.5)


def test_accuracy_error_and_confusion_golden():
    ipd = torch.tensor([-math.pi / 2, 0.0, math.pi / 2 - 1e-6, 0.1], dtype=torch.float64)
    predicted = torch.tensor([0, 6, 10, 5])
    m = classification_metrics(ipd, predicted, 12)
    assert m.acc == 50.0  # true classes 0, 6, 11, 6
    # |true - predicted bin midpoint| in deg: 7.5, 7.5, 90 - 1e-6 rad - 67.5, 5.7296 + 7.5
    errors = [7.5, 7.5, 22.5 - 1e-6 * 180 / math.pi, 0.1 * 180 / math.pi + 7.5]
    assert m.err_deg == pytest.approx(np.mean(errors), abs=1e-9)
    assert m.err_deg == pytest.approx(12.682380163, abs=1e-8)
    expected = np.zeros((12, 12), dtype=int)
    for t, p in ((0, 0), (6, 6), (11, 10), (6, 5)):
        expected[t, p] += 1
    np.testing.assert_array_equal(m.confusion, expected)


def test_perfect_classifier_has_the_floor_error():
    """Predicting every IPD's own class gives the mean distance to the bin midpoint: 3.75 deg
    for uniform IPDs in 15-degree bins."""
    ipd = torch.linspace(-math.pi / 2, math.pi / 2, 120_001, dtype=torch.float64)[:-1]
    m = classification_metrics(ipd, discretise(ipd, 12), 12)
    assert m.acc == 100.0 and m.err_deg == pytest.approx(3.75, abs=1e-3)


@pytest.mark.parametrize("n", [2, 8, 13, 36])
def test_classes_midpoints_and_floor_of_other_class_counts(n):
    """``--n-classes n``: n bins of 180/n deg from -90 deg, each IPD in the bin it falls in (away
    from the edges, where rounding decides), a class read as its midpoint, and a perfect classifier's
    error the floor 45/n deg (a quarter bin; 3.75 deg for 12). The golden cases above are all of 12
    classes: a 12 written for ``n_classes`` in the metrics passed them."""
    width = 180 / n
    lower = -90 + width * np.arange(n)
    inside = np.radians(np.stack([lower + 0.01 * width, lower + 0.5 * width, lower + 0.99 * width], 1)).ravel()
    assert discretise(torch.from_numpy(inside), n).tolist() == np.repeat(np.arange(n), 3).tolist()
    np.testing.assert_allclose(np.degrees(continuise(np.arange(n, dtype=float), n)), lower + width / 2, atol=1e-12)
    samples = 360_360  # a whole number of samples per bin for every n here, none on an edge
    ipd = -math.pi / 2 + (torch.arange(samples, dtype=torch.float64) + 0.5) * math.pi / samples
    m = classification_metrics(ipd, discretise(ipd, n), n)
    assert m.acc == 100.0 and m.err_deg == pytest.approx(45 / n, abs=1e-3)
    np.testing.assert_array_equal(m.confusion, np.diag(np.full(n, samples // n)))
    # every IPD read as the class beside its own (one bin up, the last one down): one bin's width off
    # on average ... and never scored right
    beside = discretise(ipd, n)
    beside = torch.where(beside < n - 1, beside + 1, beside - 1)
    shifted = classification_metrics(ipd, beside, n)
    assert shifted.acc == 0.0 and shifted.err_deg == pytest.approx(width, abs=1e-3)


def test_rmse_and_fvaf_are_per_column():
    # column 0: y 0, 2, 0, 2 (mean 1, variance 1), every error 0.5 -> MSE 0.25: RMSE 0.5, FVAF 0.75
    # column 1: y 0, 0, 4, 4 (mean 2, variance 4), every error 2 -> MSE 4: RMSE 2, FVAF 0
    # (one MSE over both columns, 2.125, would give RMSE 1.458 and FVAF -1.125, 0.469)
    y = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])
    pred = y + np.array([[0.5, 2.0], [-0.5, -2.0], [0.5, 2.0], [-0.5, -2.0]])
    np.testing.assert_allclose(rmse(y, pred), [0.5, 2.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(fvaf(y, pred), [0.75, 0.0], rtol=0, atol=1e-15)


def test_fvaf_of_float32_values_is_computed_in_float64():
    """A model's predictions are float32 (torch) values; FVAF converts them to float64 before it
    averages. Targets near 1e7 (whole numbers, exact in float32): column 0 y 1e7 + 0..3 (variance
    1.25), one error of 1 -> FVAF 0.8; column 1 y 1e7 + 0, 2, 4, 6 (variance 5), one error of 2 ->
    0.8. In float32 the mean 1e7 + 1.5 rounds and column 0's variance comes out 1.2: FVAF 0.833."""
    y = np.float32(1e7) + np.array([[0, 0], [1, 2], [2, 4], [3, 6]], dtype=np.float32)
    pred = y + np.array([[1, 0], [0, 2], [0, 0], [0, 0]], dtype=np.float32)
    assert y.dtype == pred.dtype == np.float32
    np.testing.assert_allclose(fvaf(y, pred), [0.8, 0.8], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fvaf(torch.from_numpy(y), torch.from_numpy(pred)), [0.8, 0.8], rtol=0, atol=1e-12)
    np.testing.assert_allclose(rmse(y, pred), [0.5, 1.0], rtol=0, atol=1e-12)
