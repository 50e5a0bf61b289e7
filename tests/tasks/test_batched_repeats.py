"""Batched repeats (one model with a leading model dimension, one Adam over stacked weights)
give the same results as training the repeats one by one with the same seeds."""

import numpy as np
import pytest

from snnsim.config import RunConfig
from snnsim.tasks import ipd

TINY = dict(task="ipd", epochs=2, n_train_batches=3, n_test_batches=1, batch_size=8, hidden=8, repeats=3, seed=4)


@pytest.mark.parametrize("backend,readout,tau", [
    ("fused", "mean", 0.02),
    ("fused", "fr", 0.002),
    ("fused", "max", 0.002),
    ("snntorch", "fr", 0.02),
])
def test_batched_equals_one_by_one(backend, readout, tau):
    cfg = RunConfig(backend=backend, readout=readout, tau=tau, **TINY)
    batched = ipd.run(cfg.replace(batch_repeats=True), progress=False)
    single = ipd.run(cfg.replace(batch_repeats=False), progress=False)
    # every repeat draws from its own seed streams and every per-model computation is
    # independent of the batch of models, so the numbers agree to float rounding (in practice
    # bit for bit; spikes identical, hence accuracies and confusions exactly equal)
    np.testing.assert_allclose(batched["loss"].values, single["loss"].values, rtol=1e-6, atol=1e-7)
    for name in ("train_acc", "test_acc", "train_err_deg", "test_err_deg", "confusion"):
        np.testing.assert_array_equal(batched[name].values, single[name].values, err_msg=name)
    # the repeats differ from each other (distinct seeds), so the comparison is not vacuous
    assert not np.allclose(batched["loss"].values[0], batched["loss"].values[1])
