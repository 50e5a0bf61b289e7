"""Fixtures: hand-made result datasets (see fake_results.py) and one tiny real IPD run."""

from __future__ import annotations

import os
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fake_results import bmi_merged, bmi_run, ipd_merged, ipd_run  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def ipd_ds(rng):
    return ipd_run(rng)


@pytest.fixture
def ipd_grid(rng):
    return ipd_merged(rng)


@pytest.fixture
def bmi_ds(rng):
    return bmi_run(rng)


@pytest.fixture
def bmi_grid(rng):
    return bmi_merged(rng)


@pytest.fixture(scope="session")
def real_ipd_run():
    from snnsim.config import RunConfig
    from snnsim.run import execute

    cfg = RunConfig(
        study="ipd",
        backend="snntorch",
        readout="fr",
        tau=0.002,
        epochs=2,
        n_train_batches=2,
        n_test_batches=1,
        batch_size=16,
        hidden=8,
        repeats=2,
    )
    return execute(cfg, progress=False)
