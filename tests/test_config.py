import json
import pickle

import pytest

from snnsim.config import RunConfig
from snnsim.errors import ConfigError


def test_defaults_are_the_notebook_setting():
    cfg = RunConfig()
    assert (cfg.hidden, cfg.epochs, cfg.batch_size, cfg.lr, cfg.n_train_batches, cfg.n_test_batches) == (30, 10, 64, 0.01, 64, 32)
    assert cfg.steps == 100 and 2 * cfg.anf_per_ear == 200 and cfg.n_classes == 12
    assert cfg.alpha == pytest.approx(0.951229424500714)


def test_oc_is_an_alias_of_mean():
    assert RunConfig(readout="oc").readout == "mean"


@pytest.mark.parametrize("field, value, flag", [
    ("readout", "median", "--readout"), ("backend", "brian", "--backend"), ("tau", -0.002, "--tau"),
    ("tau", 0.0, "--tau"), ("hidden", 0, "--hidden"), ("batch_size", 2.5, "--batch-size"),
    ("phase", "random", "--phase"), ("eval", "mean", "--eval"), ("seed", -1, "--seed"),
])
def test_invalid_settings_name_the_flag(field, value, flag):
    with pytest.raises(ConfigError) as info:
        RunConfig(**{field: value})
    assert str(info.value).startswith(flag)


def test_unknown_readout_lists_accepted_values():
    with pytest.raises(ConfigError, match="mean, max, fr"):
        RunConfig(readout="median")


def test_json_and_pickle_round_trip():
    cfg = RunConfig(readout="fr", tau=0.002, dims=(0, 1), repeats=3)
    assert RunConfig.from_json(cfg.to_json()) == cfg
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert json.loads(cfg.to_json())["tau"] == 0.002


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown setting"):
        RunConfig.from_dict({"taus": 1})


def test_config_is_frozen():
    with pytest.raises(Exception):
        RunConfig().tau = 1.0
