"""Task-aware defaults (:mod:`snnsim.recipes`): ``--study bmi`` alone runs the BMI recipe, which is
exactly the shipped ``experiments/bmi_best.toml``; a config file wins over the recipe and flags
win over both; IPD and the BMI baselines keep RunConfig's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from snnsim import recipes
from snnsim.config import RunConfig
from snnsim.run import build_parser, config_file, config_from_args, recipe_note

ROOT = Path(__file__).resolve().parents[1]


def cfg_of(*args: str) -> RunConfig:
    return config_from_args(build_parser().parse_args(list(args)))


def test_every_recipe_is_its_shipped_file():
    for (study, model), path in recipes.RECIPE_FILES.items():
        shipped = RunConfig.from_dict(config_file(ROOT / path))
        assert shipped == cfg_of("--study", study, "--model", model) == cfg_of("--task", study)
        assert shipped == RunConfig.from_dict({"study": study, "model": model, **recipes.defaults(study, model)})
        assert shipped != RunConfig(study=study, model=model)  # the recipe does change RunConfig's defaults


def test_flags_over_config_file_over_recipe(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text('study = "bmi"\nreadout = "last"\nhidden = 12\n')
    cfg = cfg_of("--config", str(toml), "--hidden", "7")
    recipe = recipes.defaults("bmi", "snn")
    assert (cfg.readout, cfg.hidden, cfg.readout_units) == ("last", 7, 1)  # units go with the weighted readout
    assert cfg.epochs == recipe["epochs"] and cfg.backend == recipe["backend"]  # what neither names
    note = recipe_note(build_parser().parse_args(["--config", str(toml), "--hidden", "7"]))
    assert note.startswith("snnsim.run: bmi recipe defaults") and "--readout" not in note and "--hidden" not in note


def test_ipd_and_baselines_keep_runconfig_defaults():
    assert cfg_of() == RunConfig()
    assert recipe_note(build_parser().parse_args([])) is None
    for model in ("ann", "linear"):
        assert cfg_of("--study", "bmi", "--model", model) == RunConfig(study="bmi", model=model)


def test_ipd_recipe_file_is_a_valid_config():
    cfg = RunConfig.from_dict(config_file(ROOT / "experiments" / "ipd_best.toml"))
    assert cfg.study == "ipd" and cfg.fresh_data and cfg.n_val_batches > 0  # chosen and stopped on validation


def test_input_delays_drop_the_recipes_window_encoding():
    assert cfg_of("--study", "bmi").encoding == "window"
    cfg = cfg_of("--study", "bmi", "--backend", "norse", "--neuron", "standard", "--delays", "fixed")
    assert cfg.encoding == "bins" and cfg.lr == recipes.defaults("bmi", "snn")["lr"]


def test_a_model_space_option_the_recipes_backend_lacks_drops_that_backend():
    """``--recurrent`` (snnTorch and Norse only) with the BMI recipe runs on RunConfig's default
    backend instead of being refused for the recipe's ``fused``; the rest of the recipe holds."""
    recipe = recipes.defaults("bmi", "snn")
    off_then_on = ["--tau-syn", "0ms", "--recurrent"]  # one option off, a later one on
    for option in (["--recurrent"], ["--tau-syn", "5ms"], ["--learn-tau"], ["--delays", "fixed"], off_then_on):
        cfg = cfg_of("--study", "bmi", "--neuron", "standard", *option)
        assert cfg.backend == RunConfig.backend != recipe["backend"], option
        assert (cfg.lr, cfg.input_rank, cfg.readout) == (recipe["lr"], recipe["input_rank"], recipe["readout"])
    for kept in (["--tau-syn", "0ms"], ["--no-recurrent"], ["--tau-adapt", "50ms"], ["--hidden", "8,8"]):
        assert cfg_of("--study", "bmi", "--neuron", "standard", *kept).backend == recipe["backend"], kept
    assert cfg_of("--study", "bmi", "--neuron", "standard", "--recurrent", "--backend", "norse").backend == "norse"


def test_a_config_file_naming_study_twice_is_refused(tmp_path, capsys):
    """``task`` is the old name of ``study``: a file with both would run whichever came last."""
    from snnsim.run import main

    toml = tmp_path / "both.toml"
    toml.write_text('study = "ipd"\ntask = "bmi"\n')
    assert main(["--config", str(toml), "--quiet", "--out", str(tmp_path / "r.h5")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.run: error: --config: {toml}: task and study are the same setting (task is its old name); give one"
    ]
    toml.write_text('task = "bmi"\nmodel = "linear"\n')  # the old name alone still reads
    assert cfg_of("--config", str(toml)).study == "bmi"
    assert cfg_of("--config", str(toml), "--study", "ipd", "--model", "snn").study == "ipd"  # a flag wins


def test_study_and_task_flags_together_are_refused(capsys):
    """``--task`` is the old name of ``--study``: with both the last one would silently win."""
    from snnsim.run import main

    assert main(["--task", "bmi", "--study", "ipd", "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "snnsim.run: error: --study: give --study or --task (its old name), not both"
    ]
    assert cfg_of("--task", "bmi").study == "bmi"


def test_a_study_or_model_that_is_no_name_is_one_line(tmp_path, capsys):
    """The recipe is looked up by study and model: a list or table there is a bad value, not a key.
    A bad value of a config file is named with the file and its key."""
    from snnsim.run import main

    toml = tmp_path / "c.toml"
    for text, line in [('model = ["snn"]\n', 'model: ["snn"] is a list of values; a run takes one'),
                       ('study = "bmi"\nmodel = {a = 1}\n', "model: expected one of snn, ann, linear, got {'a': 1}"),
                       ('study = ["bmi"]\n', "study: "), ("seed = 1e3\n", "seed: expected an integer, got 1000.0"),
                       ('tau = "abc"\n', "tau: expected a duration")]:  # fmt: skip
        toml.write_text(text)
        assert main(["--config", str(toml), "--quiet", "--out", str(tmp_path / "r.h5")]) == 2
        err = capsys.readouterr().err.splitlines()
        # named with its file, not as a flag the user never gave
        assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: --config: {toml}: {line}"), err
    assert not (tmp_path / "r.h5").exists()


def test_a_config_file_key_that_is_no_setting_is_named_as_a_key(tmp_path, capsys):
    """Not as a flag (``--fixed: unknown setting``): it is a key of the file."""
    from snnsim.run import main

    toml = tmp_path / "c.toml"
    for text, why in [('out = "r.h5"\n', "'out' is a command-line option, not a setting: give --out on the command line"),
                      ('[fixed]\nstudy = "bmi"\n', "'fixed' is not a setting: a run's config file is one table of "
                                                   "settings; [fixed], [sweep] and [search] belong in experiment"),
                      ("colour = 3\n", "'colour' is not a setting; known settings: study, ")]:  # fmt: skip
        toml.write_text(text)
        assert main(["--config", str(toml), "--quiet"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: --config: {toml}: {why}"), err


def test_a_misspelled_key_of_a_config_file_gets_the_settings_it_may_mean(tmp_path, capsys):
    """A misspelled key of a run's config file (``hiden``, ``batch-size`` as the flag spells it,
    ``learning_rate``) was answered with the list of all 55 settings; an experiment file's gets the
    settings it may mean. So does a run's config file now; ``batch-size``, a setting but for its
    dash, is told that one alone, as ``--batch_size`` on the command line is."""
    from snnsim.run import main

    toml = tmp_path / "c.toml"
    for key, meant in [("hiden", "hidden"), ("batch-size", "batch_size"),
                       ("learning_rate", "lr, lr_schedule, learn_tau"), ("num_epochs", "epochs")]:  # fmt: skip
        toml.write_text(f"{key} = 3\n")
        assert main(["--config", str(toml), "--quiet"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err == [f"snnsim.run: error: --config: {toml}: {key!r} is not a setting; did you mean {meant}?"], err


def test_a_table_of_settings_in_a_config_file_is_named_as_a_table(tmp_path, capsys):
    """A run's config file grouped under ``[training]`` was refused as "'training' is not a setting;
    known settings: ..." (55 names), as if a key were misspelled. It names the table and the
    settings in it, which go at the top of the file without it."""
    from snnsim.run import main

    toml = tmp_path / "c.toml"
    for text, why in [('study = "ipd"\n[training]\nepochs = 3\nlr = 0.01\n',
                       "[training] is a table; a run's config file is one table of settings, without [sections]: "
                       "give epochs, lr at the top of the file"),
                      ('[training.optimiser]\nlr = 0.01\n',
                       "[training] is a table; a run's config file is one table of settings, without [sections]")]:  # fmt: skip
        toml.write_text(text)
        assert main(["--config", str(toml), "--quiet"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: --config: {toml}: {why}"), err
        assert "known settings" not in err[0], err


def test_a_byte_order_mark_is_no_setting(tmp_path):
    """Some editors start a UTF-8 file with one; TOML readers refuse it."""
    from snnsim import tune
    from snnsim.sweep.experiment import load

    toml = tmp_path / "c.toml"
    toml.write_bytes(b'\xef\xbb\xbfstudy = "bmi"\nmodel = "linear"\n')
    assert cfg_of("--config", str(toml)).model == "linear"
    toml.write_bytes(b'\xef\xbb\xbfname = "e"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\nseed = [0, 1]\n')
    assert load(toml).grid_size == 2
    toml.write_bytes(b'\xef\xbb\xbfname = "t"\n[fixed]\nstudy = "ipd"\nn_val_batches = 1\n'
                     b"[search]\nlr = { low = 1e-3, high = 1e-2 }\n")  # fmt: skip
    assert tune.load(toml).name == "t"


def test_a_second_config_file_is_refused_not_silently_dropped(tmp_path, capsys):
    """``--config a.toml --config b.toml`` used only b.toml (argparse's last-wins): a user who
    meant to layer two files lost a's settings without a word. One file per run, said in one line."""
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("hidden = 7\n")
    b.write_text("epochs = 1\n")
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--config", str(a), "--config", str(b)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --config: give one config file (got {a} and {b}); "
                   "put the settings of both in one file, or give the other as flags"], err  # fmt: skip
    assert cfg_of("--config", str(a)).hidden == 7


def test_an_empty_config_name_is_refused_not_ignored(capsys):
    """``--config ""`` (an unset ``$CONFIG`` in a job script) ran RunConfig's defaults without a
    word, as if no ``--config`` had been given. One line, exit 2."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--config", "", "--epochs", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["snnsim.run: error: --config: empty; give a TOML file of settings or a run's result file (.h5)"]


def test_the_bmi_recipe_runs_with_the_patience_its_documentation_names():
    """docs/recipes.md's "Current BMI recipe" names its early stopping's patience, which the
    shipped file leaves to RunConfig's default: a change of that default changed the recipe
    (and every number documented for it) with no test failing."""
    import re

    text = (ROOT / "docs" / "recipes.md").read_text()
    paragraph = text[text.index("Current BMI recipe") :].split("\n\n")[0]
    (patience,) = re.findall(r"patience (\d+)", paragraph)
    recipe = RunConfig.from_dict(config_file(ROOT / recipes.RECIPE_FILES["bmi", "snn"]))
    assert recipe.patience == int(patience) and cfg_of("--study", "bmi").patience == int(patience)
