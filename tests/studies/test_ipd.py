import numpy as np
import pytest

from snnsim.config import RunConfig
from snnsim.runner import run


@pytest.mark.parametrize("backend", ["snntorch", "norse", "fused"])
def test_each_backend_trains_through_the_task(backend, tiny_ipd):
    ds = run(RunConfig(**{**tiny_ipd, "backend": backend, "readout": "fr", "epochs": 1}), progress=False)
    assert np.isfinite(ds.loss.values).all()
    assert ds.attrs["config_backend"] == backend


def test_sum_evaluation_differs_only_for_max(tiny_ipd):
    """Quirk 4: argmax of the sum over time equals argmax of the mean, but not of the max."""
    for readout in ("mean", "fr"):
        a = run(RunConfig(**tiny_ipd, readout=readout, eval="readout"), progress=False)
        b = run(RunConfig(**tiny_ipd, readout=readout, eval="sum"), progress=False)
        np.testing.assert_array_equal(a.test_acc.values, b.test_acc.values)


def test_learns_well_above_chance():
    """A short real training at tau = 2 ms: far above the 8.3 % chance level."""
    cfg = RunConfig(backend="fused", readout="mean", tau=0.002, epochs=3, n_train_batches=24, n_test_batches=4)
    ds = run(cfg, progress=False)
    assert ds.test_acc.item() > 40
    assert ds.test_err_deg.item() < 20
    assert ds.loss.values[0, -1] < ds.loss.values[0, 0]
