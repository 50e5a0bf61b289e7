"""The runner: its data cache holds only the data that models still to train or report need; its
warning for a network whose predictions do not depend on the input."""

import numpy as np
import xarray as xr

from snnsim import runner
from snnsim.config import RunConfig


def test_a_pack_on_different_data_holds_one_data_set_at_a_time(monkeypatch, tiny_ipd):
    live = []
    get = runner.DataCache.get

    def counting(self, study, cfg, seed, device):
        out = get(self, study, cfg, seed, device)
        live.append(len(self))
        return out

    monkeypatch.setattr(runner.DataCache, "get", counting)
    # three configs on three data sets (the test-set size is part of the data key), two repeats each
    cfgs = [RunConfig(**{**tiny_ipd, "n_test_batches": k, "repeats": 2}) for k in (1, 2, 3)]
    results = runner.run_configs(cfgs, progress=False)
    assert [r.sizes["repeat"] for r in results] == [2, 2, 2]
    assert len(live) >= 6 and max(live) == 2  # the two seeds of one config, never another config's
    alone = runner.run(cfgs[2], progress=False)  # and the numbers are those of a run alone
    assert (alone["test_acc"].values == results[2]["test_acc"].values).all()


def test_unresponsive_note_names_the_repeats_whose_predictions_are_alike():
    from snnsim.runner import unresponsive_note

    t = np.linspace(-1.0, 1.0, 50)  # target sd 0.58
    pred = np.stack([np.zeros_like(t), 0.005 * t, 0.5 * t])[..., None]  # sd 0, 0.003 (0.5 %), 0.29
    bmi = xr.Dataset({"y_pred": (("repeat", "sample", "output"), pred), "y_true": (("sample", "output"), t[:, None])})
    assert unresponsive_note(bmi).startswith(
        "warning: repeats 0, 1 of 3 predict (almost) the same value for every test sample: "
    )
    assert unresponsive_note(bmi.isel(repeat=[2])) is None
    tiny = bmi.isel(repeat=[2]) * 1e-30  # targets in a tiny unit, predictions stored as float32 as run writes them
    assert unresponsive_note(tiny.assign(y_pred=tiny["y_pred"].astype(np.float32))) is None
    confusion = np.zeros((2, 3, 3), int)
    confusion[0, :, 1] = 4  # repeat 0: class 1 for all
    confusion[1] = np.diag([4, 4, 4])
    ipd = xr.Dataset(
        {"confusion": (("repeat", "true_class", "pred_class"), confusion), "hidden_rate_hz": ("repeat", [0.0, 3.0])}
    )
    assert unresponsive_note(ipd).startswith(
        "warning: repeat 0 of 2 predicts one class for every test sample (hidden Hz: 0.00): "
    )
    assert unresponsive_note(ipd.isel(repeat=[1])) is None
    ridge = bmi.assign(hidden_rate_hz=("repeat", [np.nan] * 3))  # no spiking neurons: no spike advice
    assert unresponsive_note(ridge) == (
        "warning: repeats 0, 1 of 3 predict (almost) the same value for every test sample: the decoder does not "
        "respond to its input (do the inputs vary between samples?)"
    )
