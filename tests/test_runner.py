"""The runner's data cache holds only the data that models still to train or report need."""

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
