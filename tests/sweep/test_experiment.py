"""Experiment files: grid order (last key fastest), count, show, errors."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snnsim.config import RunConfig
from snnsim.errors import SnnsimError
from snnsim.run import config_file
from snnsim.sweep import cli, experiment
from snnsim.sweep.experiment import ExperimentError, loads
from snnsim.sweep.jobs import array_spec, parse_array_spec

ROOT = Path(__file__).resolve().parents[2]

GRID = """
name = "g"
[fixed]
study = "ipd"
epochs = 2
[sweep]
readout = ["mean", "max", "fr"]
tau = ["20ms", "2ms"]
seed = [0, 1, 2, 3]
"""


def test_grid_size_and_last_key_fastest():
    exp = loads(GRID)
    assert exp.grid_size == 24
    assert exp.keys == ("readout", "tau", "seed")
    expected = [
        dict(readout=r, tau=t, seed=s)
        for r, t, s in itertools.product(["mean", "max", "fr"], [0.02, 0.002], [0, 1, 2, 3])
    ]
    assert exp.all_settings() == expected
    assert exp.settings(1) == {"readout": "mean", "tau": 0.02, "seed": 1}
    assert exp.settings(4) == {"readout": "mean", "tau": 0.002, "seed": 0}
    assert exp.settings(8) == {"readout": "max", "tau": 0.02, "seed": 0}
    assert all(exp.index_of(**exp.settings(i)) == i for i in range(exp.grid_size))


def test_config_merges_fixed_and_swept():
    exp = loads(GRID)
    cfg = exp.config(23)
    assert (cfg.readout, cfg.tau, cfg.seed, cfg.epochs, cfg.repeats) == ("fr", 0.002, 3, 2, 1)
    assert exp.config(0).tau == pytest.approx(0.02)


def test_union_of_blocks_numbers_blocks_in_order():
    exp = experiment.load(ROOT / "experiments" / "bmi_training_size.toml")
    assert exp.grid_size == 30
    assert exp.settings(0) == {"model": "snn", "rotation": 15, "n_train_folds": 1}
    assert exp.settings(8) == {"model": "snn", "rotation": 15, "n_train_folds": 18}
    assert exp.settings(9) == {"model": "ann", "rotation": 15, "n_train_folds": 1}
    assert exp.settings(27) == {"model": "snn", "rotation": 5, "n_train_folds": 18}
    assert exp.swept["rotation"] == (15, 5)
    assert exp.swept["n_train_folds"] == (1, 2, 3, 4, 6, 8, 11, 14, 18)
    assert exp.coordinates == {} and exp.dims == exp.keys  # no setting follows from another
    assert loads(GRID).coordinates == {}


def test_a_setting_of_one_value_in_a_union_is_a_dimension_not_a_coordinate():
    """tau and seed take one value in every block: each follows readout trivially, but a merged
    file keeps them as length-1 dimensions (``ds.sel(tau=0.02)`` works as in a single grid)."""
    exp = loads(
        'name = "one"\n[fixed]\nstudy = "ipd"\n'
        '[[sweep]]\nreadout = ["mean"]\ntau = ["20ms"]\nseed = [0]\n'
        '[[sweep]]\nreadout = ["max", "fr"]\ntau = ["20ms"]\nseed = [0]\n'
    )
    assert exp.coordinates == {}
    assert exp.dims == ("readout", "tau", "seed")


def test_shipped_experiments():
    ipd = experiment.load("ipd_readouts")
    assert ipd.grid_size == 60 and ipd.keys == ("readout", "tau", "seed")
    assert ipd.swept["tau"] == (0.02, 0.002)
    assert {ipd.config(i).repeats for i in range(60)} == {1}
    assert len({ipd.config(i) for i in range(60)}) == 60
    smoke = experiment.load(ROOT / "experiments" / "smoke.toml")
    assert 2 <= smoke.grid_size <= 6


def test_learning_curve_runs_the_bmi_recipe():
    """The spiking decoder of the 540-job learning curve is the shipped recipe at every point
    (only the swept rotation and training folds, and the curve's target, differ); the ANN and
    ridge share its data settings without the spiking decoder's own input_rank."""
    exp = experiment.load("bmi_learning_curve")
    assert exp.grid_size == 540 and exp.keys == ("model", "input_rank", "rotation", "n_train_folds")
    recipe = RunConfig.from_dict(config_file(ROOT / "experiments" / "bmi_best.toml")).to_dict()
    own = {"rotation", "n_train_folds", "target", "dims", "repeats", "seed"}
    for i in (0, 100, 179):
        cfg = exp.config(i).to_dict()
        assert cfg["model"] == "snn" and {k: v for k, v in cfg.items() if k not in own} == {
            k: v for k, v in recipe.items() if k not in own
        }
    assert [exp.settings(i)["model"] for i in (179, 180, 359, 360)] == ["snn", "ann", "ann", "linear"]
    assert exp.coordinates == {"input_rank": "model"}  # merged: a coordinate along model
    assert exp.dims == ("model", "rotation", "n_train_folds")
    assert {exp.config(i).input_rank for i in range(180, 540)} == {0}


def test_heldout_curve_runs_the_bmi_recipe_on_the_heldout_data():
    """The held-out generator's learning curve: the recipe's spiking decoder and ridge, on the file
    that analysis/bmi_heldout_data.py writes, from 8 training folds up."""
    exp = experiment.load("bmi_heldout_curve")
    assert exp.grid_size == 160 and exp.swept["n_train_folds"] == (8, 11, 14, 18)
    recipe = RunConfig.from_dict(config_file(ROOT / "experiments" / "bmi_best.toml")).to_dict()
    own = {"rotation", "n_train_folds", "target", "dims", "repeats", "seed", "data"}
    for i in (0, 79):
        cfg = exp.config(i).to_dict()
        assert cfg["data"] == "results/bmi_heldout0.pkl"
        assert cfg["model"] == "snn" and {k: v for k, v in cfg.items() if k not in own} == {
            k: v for k, v in recipe.items() if k not in own
        }
    assert {exp.config(i).model for i in range(80, 160)} == {"linear"}


def test_count_and_show_cli(capsys):
    assert cli.main(["count", "ipd_readouts"]) == 0
    assert capsys.readouterr().out.strip() == "60"
    assert cli.main(["show", "ipd_readouts", "20"]) == 0
    assert capsys.readouterr().out.strip() == "20\treadout=max tau=20ms seed=0"
    assert cli.main(["show", "ipd_readouts", "59", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"readout": "fr"' in out and '"tau": 0.002' in out and '"seed": 9' in out


def test_show_gives_list_settings_as_the_merge_labels_them(tmp_path, capsys):
    """``show`` printed a swept list setting as a Python tuple (``hidden=(8, 8)``, ``dims=(0,)``), which
    is neither how the file, the flags (``--hidden 8,8``) nor the merged coordinates (``ds.sel(hidden="8,8")``)
    write it; it gives their text now, as the merge does."""
    path = tmp_path / "lists.toml"
    path.write_text('name = "lists"\n[fixed]\nstudy = "ipd"\nneuron = "standard"\nbackend = "fused"\n'
                    '[sweep]\nhidden = [8, "8,8"]\n')  # fmt: skip
    assert cli.main(["show", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["0\thidden=8", "1\thidden=8,8"]
    path.write_text('name = "lists"\n[fixed]\nstudy = "bmi"\n[sweep]\ndims = [[0], [0, 1]]\n')
    assert cli.main(["show", str(path), "1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["1\tdims=0,1"]


def test_a_grid_past_the_most_jobs_is_refused_at_once():
    """A grid of 10^7 jobs (seven lists of ten) was checked job by job for minutes by every
    command (count included) before it said anything; refused in one line from its size."""
    import time

    lists = "".join(f"{key} = {list(range(1, 11))}\n" for key in
                    ("seed", "hidden", "epochs", "batch_size", "n_train_batches", "n_test_batches", "n_val_batches"))  # fmt: skip
    start = time.monotonic()
    with pytest.raises(ExperimentError, match=r"10,000,000 jobs; an experiment holds at most 100,000 \(split"):
        loads(f'name = "huge"\n[fixed]\nstudy = "ipd"\n[sweep]\n{lists}')
    assert time.monotonic() - start < 5
    assert experiment.MAX_JOBS == 100_000


def test_one_job_past_the_most_is_refused():
    """The limit is MAX_JOBS jobs: 100,001 (11 x 9,091) are refused, as the message says."""
    seeds = list(range(9091))
    with pytest.raises(ExperimentError, match=r"100,001 jobs; an experiment holds at most 100,000 \(split"):
        loads(f'name = "huge"\n[fixed]\nstudy = "ipd"\n[sweep]\nseed = {seeds}\nepochs = {list(range(1, 12))}\n')


def test_a_tensorboard_folder_under_home_is_the_home_folder(monkeypatch, tmp_path):
    """``tensorboard = "~/runs"`` is the home folder's ``runs`` (as the module says), not a folder
    named ``~`` in the current folder: TOML leaves the ``~`` as it is."""
    monkeypatch.setenv("HOME", str(tmp_path))
    exp = loads('name = "x"\ntensorboard = "~/runs"\n[sweep]\nseed = [0]\n')
    assert exp.tensorboard == str(tmp_path / "runs")


def test_durations_given_as_bare_numbers_are_noted(tmp_path, capsys):
    """``tau = 2`` is 2 s: as ``snnsim.run --config`` does, the sweep's commands name the bare
    durations of [fixed] and [sweep] in one note on stderr (stdout, a count, is unchanged);
    durations with units, and the other numbers, are not named."""
    path = tmp_path / "bare.toml"
    path.write_text('name = "bare"\n[fixed]\nstudy = "ipd"\nneuron = "standard"\ntau = 0.02\nepochs = 2\n'
                    '[sweep]\ntau_syn = [0.005, "10ms"]\nseed = [0, 1]\n')  # fmt: skip
    assert cli.main(["count", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "4"
    assert err.strip() == (f"snnsim.sweep: note: {path} gives fixed.tau = 0.02, sweep.tau_syn = [0.005, '10ms'] "
                           'without a unit: read as seconds (e.g. "20ms" for milliseconds)')  # fmt: skip
    path.write_text(GRID)
    assert cli.main(["count", str(path)]) == 0
    assert capsys.readouterr().err == ""
    # a union of [[sweep]] blocks: each block's bare durations, in the file's order
    path.write_text('name = "bare"\n[fixed]\nstudy = "ipd"\n[[sweep]]\ntau = ["20ms"]\nseed = [0]\n'
                    '[[sweep]]\ntau = [0.002]\nseed = [1]\n')  # fmt: skip
    assert cli.main(["count", str(path)]) == 0
    assert capsys.readouterr().err.strip() == (f"snnsim.sweep: note: {path} gives sweep.tau = [0.002] without a unit: "
                                               'read as seconds (e.g. "20ms" for milliseconds)')  # fmt: skip


def test_jobs_apart_only_by_a_setting_their_decoder_does_not_read_are_noted(tmp_path, capsys):
    """A product of ``model = ["snn", "linear"]`` and ``hidden = [8, 16]``: ridge reads no hidden
    size, so its two jobs train the same thing twice, and the merge holds two equal cells. The
    commands said nothing (``snnsim.run --model linear --hidden 16`` notes it has no effect). The
    note names the decoder as the file gives it (it said ``--model linear``, a flag the file has not)."""
    path = tmp_path / "unread.toml"
    path.write_text('name = "unread"\n[fixed]\nstudy = "bmi"\n[sweep]\nmodel = ["snn", "linear", "ann"]\n'
                    'hidden = [8, 16]\ntau = ["2ms", "20ms"]\n')  # fmt: skip
    assert cli.main(["count", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "12"
    assert err.splitlines() == [
        f'snnsim.sweep: note: {path}: jobs 5-7 (model = "linear") repeat the training of job 4: they differ '
        'from it only by hidden, tau, which model = "linear" does not read',
        f'snnsim.sweep: note: {path}: jobs 9,11 (model = "ann") repeat the training of jobs 8,10: they differ '
        'from them only by tau, which model = "ann" does not read',
    ]
    path.write_text(
        'name = "read"\n[fixed]\nstudy = "bmi"\n[sweep]\nmodel = ["snn", "linear"]\nn_train_folds = [2, 4]\n'
    )
    assert cli.main(["count", str(path)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "key, hint",
    [
        ("learning_rate", "did you mean lr, lr_schedule, learn_tau?"),
        ("num_epochs", "did you mean epochs?"),
        ("tua", "did you mean tau?"),
        ("n_hidden", "did you mean hidden?"),
    ],
)
def test_a_misspelled_setting_is_told_the_settings_it_may_mean(key, hint):
    """``learning_rate`` was asked "did you mean learn_tau?" (whether to learn the time constants),
    not ``lr``; ``num_epochs``, ``tua`` or ``n_hidden`` got the list of every setting."""
    with pytest.raises(ExperimentError) as info:
        loads(f'name = "x"\n[sweep]\n{key} = [1, 2]\n')
    assert str(info.value) == f"experiment: unknown setting sweep.{key}; {hint}"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('name = "x"\n[sweep]\nreadot = ["mean"]\n', "unknown setting sweep.readot"),
        ('name = "x"\n[fixed]\nfoo = 1\n[sweep]\nseed = [0]\n', "unknown setting fixed.foo"),
        ('name = "x"\n[sweep]\nreadout = ["mean", "nope"]\n', "readout"),
        ('name = "x"\n[sweep]\ntau = ["2"]\n', "tau"),
        ('name = "x"\n[sweep]\nseed = []\n', "non-empty list"),
        ('name = "x"\n[sweep]\nseed = [0, 0]\n', "twice"),
        ('name = "x"\n[fixed]\nseed = 1\n[sweep]\nseed = [0]\n', "both fixed and swept"),
        ("[sweep]\nseed = [0]\n", "experiment: no 'name'; give the experiment one at the top, such as name = \"my_sweep\""),
        ('name = "x"\nsweeps = 1\n', "unknown top-level key"),
        # a tuning spec (experiments/ holds both) was told "unknown top-level key 'trials'; ... (settings
        # go under [fixed] or [sweep])", as if moving `trials` would make it a sweep
        ('name = "x"\ntrials = 4\n[fixed]\nstudy = "ipd"\n[search]\nlr = { low = 1e-3, high = 1e-2 }\n',
         "experiment: a tuning spec (it has trials, [search]), not an experiment file: give it to python -m snnsim.tune"),
        ('name = "x"\n[sweep]\nseed = [[0, 1]]\n', "seed: expected an integer"),
        ('name = "x"\n[[sweep]]\nseed = [0]\n[[sweep]]\nreadout = ["fr"]\n', "same keys"),
        # the same keys in another order: block 2 had been numbered in its own order
        ('name = "x"\n[[sweep]]\nseed = [0]\nreadout = ["fr"]\n[[sweep]]\nreadout = ["max"]\nseed = [1]\n',
         "every [[sweep]] block must sweep the same keys in the same order (seed, readout); block 2 sweeps readout, seed"),
        ('name = "x"\n[[sweep]]\nseed = [0]\n[[sweep]]\nseed = [0]\n', "same point"),
        ('name = "x"\n[sweep\n', "not valid TOML"),
        ('name = "x"\n[fixed]\nrepeats = 3\n[sweep]\nreadout = ["fr", "max"]\nseed = [0, 10, 12]\n',
         "jobs 1 and 2 both train seed 12 with the same settings (repeat r trains with seed + r): with repeats = 3, "
         "space the swept seeds 3 apart"),
        ('name = "x"\n[[sweep]]\nrepeats = [2]\nseed = [0]\n[[sweep]]\nrepeats = [1]\nseed = [1]\n',
         "jobs 0 and 1 both train seed 1"),
        ('name = "x"\n[sweep]\nrepeats = [1, 5]\n',  # no seed swept: no swept seeds to space
         "jobs 0 and 1 both train seed 0 with the same settings (repeat r trains with seed + r): each job with "
         "repeats = 5 trains seeds seed..seed + 4; sweep seed too, its values 5 apart"),
        ('name = "x"\n[sweep]\nrepeats = [5, 1]\n',  # the job of more repeats first: its count is the one to give
         "each job with repeats = 5 trains seeds seed..seed + 4; sweep seed too, its values 5 apart"),
        ('name = "x"\n[fixed]\ntask = "ipd"\nstudy = "bmi"\n[sweep]\nseed = [0]\n',
         "[fixed]: task and study are the same setting (task is its old name); give one"),
        ('name = "x"\n[sweep]\nstudy = ["ipd"]\ntask = ["bmi"]\n', "[sweep]: task and study are the same setting"),
        ('name = "x"\n[[sweep]]\nseed = [0]\n[[sweep]]\n', "[[sweep]] block 2 is empty"),
        ('name = "x"\n[[sweep]]\n', "[[sweep]] block 1 is empty"),
    ],
)  # fmt: skip
def test_bad_files_are_one_line_errors(text, fragment):
    with pytest.raises(ExperimentError) as info:
        loads(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, SnnsimError)


def test_swept_seeds_spaced_by_repeats_are_accepted():
    exp = loads('name = "x"\n[fixed]\nrepeats = 3\n[sweep]\nreadout = ["fr", "max"]\nseed = [0, 3, 10]\n')
    assert len(exp) == 6


def test_index_out_of_range():
    exp = loads(GRID)
    with pytest.raises(ExperimentError, match="out of range 0..23"):
        exp.settings(24)
    with pytest.raises(ExperimentError):
        exp.config(-1)


@pytest.mark.parametrize("name", ["empty.h5", "empty.toml"])
def test_an_empty_file_is_named_as_run_config_names_it(name, tmp_path, capsys):
    """An empty file given as the experiment was told "no 'name'; give the experiment one", whereas
    ``run --config`` says it "is an empty file": both say what the file is."""
    path = tmp_path / name
    path.write_bytes(b"")
    assert cli.main(["count", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"snnsim.sweep: error: {path} is an empty file, not an experiment file (TOML)"], err


def test_cli_bad_input_exit_code_2(tmp_path, capsys):
    assert cli.main(["show", "ipd_readouts", "60"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of range 0..59" in err
    assert cli.main(["count", str(tmp_path / "nope.toml")]) == 2
    assert "no experiment file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["show", "ipd_readouts", "minus-one"])
    assert info.value.code == 2
    # `run` without INDEX outside SLURM
    assert cli.main(["run", "smoke"]) == 2 or "SLURM_ARRAY_TASK_ID" in __import__("os").environ
    # the real entry point, once
    proc = subprocess.run(
        [sys.executable, "-m", "snnsim.sweep", "count", "nope"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2 and proc.stderr.startswith("snnsim.sweep: error: no experiment file")


@pytest.mark.parametrize(
    "indices, spec", [([0, 1, 2, 5, 7, 8], "0-2,5,7-8"), ([3], "3"), ([], ""), ([9, 1, 2], "1-2,9")]
)
def test_array_spec_round_trip(indices, spec):
    assert array_spec(indices) == spec
    if indices:
        assert parse_array_spec(spec + "%4") == sorted(indices)


@pytest.mark.parametrize(
    "spec, indices", [("0-9:2", [0, 2, 4, 6, 8]), ("1-7:3", [1, 4, 7]), ("2-4:5", [2]), ("0-5:2,9", [0, 2, 4, 9])]
)
def test_parse_array_spec_takes_the_step_of_a_range(spec, indices):
    """sbatch's ``A-B:S`` is every S-th index from A to B (B included only if on the step)."""
    assert parse_array_spec(spec) == indices


@pytest.mark.parametrize("spec", ["", ",", "5-3", "1,,2", "4%abc", "4%0", "0-3:0", "a", "-1", "1-", "3%"])
def test_parse_array_spec_refuses_what_sbatch_refuses(spec):
    """An empty list, an empty range or a bad throttle is refused, not read as no job (or every job)."""
    with pytest.raises(ValueError):
        parse_array_spec(spec)


@pytest.mark.parametrize("args, flag", [(["local", "--indices", "0-99999999999999999999"], "local: --indices"),
                                        (["run", "0", "--pack", "2", "--only", "1,0-99999999999999999999"], "--only")])  # fmt: skip
def test_indices_past_the_grid_are_refused_before_their_range_is_made(args, flag, tmp_path, capsys):
    """A range past the grid was made before its indices were checked: an index past C's ssize_t a
    traceback (OverflowError), one of 0-99999999999 the memory of a list of 10^11 indices. The
    refusal names the flag that gave the index, as the flag's other refusals do."""
    exp_file = tmp_path / "x.toml"
    exp_file.write_text('name = "x"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\nseed = [0, 1]\n')
    command, *rest = args
    assert cli.main(["--results-dir", str(tmp_path / "r"), command, str(exp_file), *rest]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"snnsim.sweep: error: {flag}: x: job index 99999999999999999999 out of range 0..1"], err
    assert not (tmp_path / "r" / "x").exists()


@pytest.mark.parametrize("indices", ["", "5-3", ",", "4%abc"])
def test_local_refuses_bad_indices(indices, tmp_path, capsys):
    exp_file = tmp_path / "x.toml"
    exp_file.write_text('name = "x"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\nseed = [0, 1]\n')
    assert cli.main(["--results-dir", str(tmp_path / "r"), "local", str(exp_file), "--indices", indices]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--indices: expected sbatch --array syntax" in err[0], err
    assert not (tmp_path / "r" / "x").exists()


@pytest.mark.parametrize("args", [["local", "{exp}", "-j", "2", "--indices", "0-1%1"]])
def test_a_throttle_that_would_be_ignored_is_refused(args, tmp_path, capsys):
    """docs/sweeps.md: ``--indices`` takes sbatch's ``--array`` syntax. ``local -j 2 --indices
    0-1%1`` read the ``%1`` throttle and ran both jobs at once all the same: a limit the user set,
    dropped without a word. ``-j`` is the limit of ``local``."""
    exp_file = tmp_path / "x.toml"
    exp_file.write_text('name = "x"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\nseed = [0, 1]\n')
    args = [a.format(exp=exp_file) for a in args]
    assert cli.main(["--results-dir", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "%1: a throttle, which has no effect here" in err[0] and "-j" in err[0], err
    assert not (tmp_path / "r" / "x").exists()


def test_a_throttle_of_a_packs_only_names_no_flag_that_run_lacks(tmp_path, capsys):
    """``sweep run --pack 2 --only 0-1%1`` was refused with "(-j N sets how many jobs run at once)":
    a flag ``sweep run`` does not have (``-j`` is ``local``'s). A pack trains its jobs as one
    process, together: the refusal says so."""
    exp_file = tmp_path / "x.toml"
    exp_file.write_text('name = "x"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\nseed = [0, 1]\n')
    args = ["run", str(exp_file), "0", "--pack", "2", "--only", "0-1%1"]
    assert cli.main(["--results-dir", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["snnsim.sweep: error: --only: %1: a throttle, which has no effect here (a pack runs its jobs "
                   "in one process); give the indices alone: 0-1"], err  # fmt: skip
    assert not (tmp_path / "r" / "x").exists()


def test_aliases_are_resolved_before_duplicates_are_counted():
    with pytest.raises(ExperimentError, match="twice"):
        loads('name = "x"\n[sweep]\nreadout = ["mean", "oc"]\n')


def test_the_old_key_task_is_read_as_study():
    exp = loads('name = "x"\n[fixed]\ntask = "bmi"\nmodel = "linear"\n[sweep]\nseed = [0, 1]\n')
    assert exp.config(1).study == "bmi" and exp.fixed == {"study": "bmi", "model": "linear"}


@pytest.mark.parametrize("module, what", [("snnsim.sweep", "experiment file"), ("snnsim.tune", "tuning spec")])
def test_a_folder_given_as_the_experiment_is_named_a_folder(tmp_path, monkeypatch, module, what):
    """A folder where the experiment (or tuning spec) goes was "no experiment file 'results'",
    as if it were not there; a folder whose NAME is also in experiments/ still finds that file."""
    (tmp_path / "results").mkdir()
    proc = subprocess.run([sys.executable, "-m", module, "status", "results"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"{module}: error: results is a folder; give the {what} (.toml) or its NAME"), (
        proc.stderr
    )
    (tmp_path / "ipd_readouts").mkdir()
    monkeypatch.chdir(tmp_path)
    assert experiment.find("ipd_readouts") == ROOT / "experiments" / "ipd_readouts.toml"


@pytest.mark.parametrize(
    "fixed, swept, message",
    [
        ('neuron = "standard"\nrecurrent = true', 'backend = ["snntorch", "fused"]\ntau = ["2ms", "5ms"]',
         'recurrent: runs on backend = "snntorch" or "norse" only; the fused backend does not carry it '
         "(job 2: backend=fused tau=2ms)"),
        # the other settings a refusal needs are named as the file's keys, not as the run's flags
        ('tau_syn = "5ms"', 'tau = ["2ms", "5ms"]', 'tau_syn: the model-space neurons step as the libraries\' '
         'neurons do (spike from the updated membrane); add neuron = "standard" (job 0: tau=2ms)'),
        ("rate_max_hz = 2000", 'dt = ["0.5ms", "1ms"]', "rate_max_hz: at most one spike per step of dt=0.001 s: "
         "must be <= 1000 Hz (or a smaller dt), got 2000 Hz (job 1: dt=1ms)"),
        ("", 'readout = ["mean", "weighted"]',
         "readout: weighted learns weights of its own, which only the bmi study's model carries "
         "(job 1: readout=weighted)"),
        ("", 'target = ["theta", "dtheta"]', "target: a setting of the bmi study; the ipd study does not use it "
         "(job 0: target=theta)"),
    ],
)  # fmt: skip
def test_a_grid_point_that_a_config_refuses_names_the_file_and_the_point(tmp_path, capsys, fixed, swept, message):
    """A combination refused at some grid points only: one line naming the file (not only the
    experiment's name), the setting, and the first job that has it, before anything is made."""
    path = tmp_path / "x.toml"
    path.write_text(f'name = "x"\n[fixed]\nstudy = "ipd"\n{fixed}\n[sweep]\n{swept}\n')
    for command in (["count"], ["submit", "--dry-run"], ["local"]):
        assert cli.main(["--results-dir", str(tmp_path / "r"), command[0], str(path), *command[1:]]) == 2
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [f"snnsim.sweep: error: {path}: {message}"] and captured.out == ""
    assert not (tmp_path / "r").exists()


def test_a_pipe_given_as_the_experiment_is_named_a_pipe(tmp_path):
    """A named pipe, or a shell's ``<(cat exp.toml)``, given as the experiment was "no experiment
    file '/dev/fd/63'", as if it were not there; it is named as what it is (sweeps and tunings
    read their file again, by its path, in later commands)."""
    fifo = tmp_path / "exp.toml"
    os.mkfifo(fifo)
    with pytest.raises(ExperimentError) as err:
        experiment.find(fifo)
    assert str(err.value) == (f"{fifo} is a pipe, not a file; give the experiment file (.toml) or its NAME (later "
                              "commands read it again by its path)")  # fmt: skip


def test_an_experiment_not_found_names_the_paths_looked_for(tmp_path, monkeypatch):
    """A NAME is looked for in experiments/ here and in the source tree; a path ending in .toml only
    where it is (not as experiments/NAME.toml.toml): the message names exactly what was tried."""
    monkeypatch.chdir(tmp_path)
    source = Path(experiment.__file__).resolve().parents[2] / "experiments"
    with pytest.raises(ExperimentError) as info:
        experiment.load("nope")
    assert str(info.value) == f"no experiment file 'nope' (looked for nope, experiments/nope.toml, {source}/nope.toml)"
    with pytest.raises(ExperimentError) as info:
        experiment.load("nope.toml")
    assert str(info.value) == "no experiment file 'nope.toml' (looked for nope.toml)"
