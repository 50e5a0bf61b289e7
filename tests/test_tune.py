"""``python -m snnsim.tune``: spec checks, a local search with two workers, reproducing the best
trial, merging, pruning with the real :class:`~snnsim.tune.PruneHook`, and workers on SLURM.

Everything goes through the real command line (``[sys.executable, "-m", "snnsim.tune", ...]``)
with results in ``tmp_path``, except the pruning tests, which drive :func:`snnsim.tune.run_trial`
and :func:`snnsim.tune.work` in this process (a trial costs ~0.4 s once torch is warm).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from in_process import run_here
from lost_stop import StopInFinalizer
from signalled_write import signal_in_write
from small_disk import fill, mounted_tmpfs
from sweep.test_slurm_e2e import cluster, squeue_states, wait_for  # noqa: F401 - the cluster fixture
from terminal import on_a_terminal

from snnsim import results, tune
from snnsim.atomic_write import temporary_name
from snnsim.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]

# A search that trains in well under a second per trial (plus ~4 s of start-up per worker).
TINY = """
name = "tiny"
trials = {trials}
sampler = "random"
pruner = "{pruner}"
seed = 0

[fixed]
study = "ipd"
backend = "fused"
epochs = 2
n_train_batches = 2
n_test_batches = 1
n_val_batches = 1
batch_size = 16

[search]
lr = {{ low = 1e-3, high = 3e-2, log = true }}
hidden = {{ low = 4, high = 12, step = 4 }}
tau = {{ low = "5ms", high = "20ms" }}  # a range: best --out must keep it exact
"""

# Learns within an epoch at lr 1e-2 (validation accuracy ~20 %), not at all at lr 1e-6 (~11 %).
LEARNS = """
name = "{name}"
trials = {trials}
sampler = "random"
pruner = "median"

[fixed]
study = "ipd"
backend = "fused"
tau = "5ms"
epochs = 2
n_train_batches = 6
n_test_batches = 1
n_val_batches = 2
batch_size = 32
hidden = 16

[search]
lr = { low = 1e-7, high = 1e-1, log = true }
"""


def env_for(results_dir: Path) -> dict[str, str]:
    env = dict(os.environ, SNNSIM_RESULTS=str(results_dir), SNNSIM_PYTHON=sys.executable)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env.pop("SLURM_ARRAY_TASK_ID", None)
    return env


def cli(*args, env, cwd, module="snnsim.tune", timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """A refused command: exit code 2, one line on stderr, no traceback, nothing on stdout."""
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert re.match(r"snnsim\.tune( \w+)?: error: ", lines[0]), lines[0]  # argparse names the subcommand
    assert proc.stdout == ""
    return lines[0]


def here(*args, env, cwd) -> subprocess.CompletedProcess:
    """``python -m snnsim.tune ARGS`` run in this process (in_process.run_here): for the cases of a
    command that need no process of their own (the first case of each is a real one, ``cli``)."""
    return run_here(tune.main, *args, env=env, cwd=cwd)


def status(spec: Path, env, cwd) -> dict:
    """``tune status SPEC --json`` run in this process (in_process.run_here), read."""
    return json.loads(ok(run_here(tune.main, "status", spec, "--json", env=env, cwd=cwd)).stdout)


# -- malformed specs -------------------------------------------------------------------------------
GOOD = TINY.format(trials=4, pruner="median")
BAD = {
    "no name": (GOOD.replace('name = "tiny"\n', ""),
                "spec.toml: no 'name'; give the study one at the top, such as name = \"spec\""),
    # an empty file (a spec cut to 0 bytes) was told "no 'name'", whereas run --config says what it is
    "an empty file": ("", "spec.toml is an empty file, not a tuning spec (TOML)"),
    "a description not text": (GOOD.replace('name = "tiny"\n', 'name = "tiny"\ndescription = 3\n'),
                               "spec.toml: 'description' must be a string"),
    # an experiment file (experiments/ holds both) was told "unknown key 'sweep'; expected name, ..."
    "an experiment file": ((ROOT / "experiments" / "smoke.toml").read_text(),
                           "spec.toml: an experiment file (it has [sweep]), not a tuning spec: give it to "
                           "python -m snnsim.sweep"),
    # a run's config (experiments/ipd_best.toml) was told "unknown key 'study'; expected name, ..."
    "a run's config file": ((ROOT / "experiments" / "ipd_best.toml").read_text(),
                            "spec.toml: unknown key 'study'; expected name, description, trials, sampler, pruner, "
                            "seed, fixed, search (settings go under [fixed] or [search]; a run's config file, "
                            "settings alone, is for python -m snnsim.run --config)"),
    "objective on the test set": (GOOD.replace('seed = 0\n', 'seed = 0\nobjective = "test_acc"\n', 1),
                                  "unknown key 'objective'"),
    "low above high": (GOOD.replace("low = 1e-3, high = 3e-2", "low = 3e-2, high = 1e-3"),
                       "search.lr: low must be below high, got low = 0.03, high = 0.001"),
    "a range of one point": (GOOD.replace('low = "5ms", high = "20ms"', 'low = "5ms", high = 0.005'),
                             "search.tau: low must be below high, got low = '5ms', high = 0.005"),
    "unknown sampler": (GOOD.replace('"random"', '"grid"'), "sampler must be one of tpe, random, got 'grid'"),
    "unknown pruner": (GOOD.replace('pruner = "median"', 'pruner = "hyperband"'), "pruner must be one of"),
    # with the settings it may mean, as an experiment file's and a run's config file's (it named none)
    "search key not a setting": (GOOD.replace("lr = {", "learning_rate = {"),
                                 "spec.toml: unknown setting search.learning_rate; did you mean lr, lr_schedule, "
                                 "learn_tau?"),
    "fixed key not a setting": (GOOD.replace("epochs = 2", "epoch = 2"),
                                "spec.toml: unknown setting fixed.epoch; did you mean epochs?"),
    "fixed key far from any setting": (GOOD.replace("epochs = 2", "epochs = 2\nzzz = 1"),
                                       "spec.toml: unknown setting fixed.zzz; known: adapt_jump, anf_per_ear, "),
    "fixed value invalid": (GOOD.replace('backend = "fused"', 'backend = "gpu"'), "fixed.backend"),
    "searched value invalid": (GOOD.replace('"5ms"', '"5"'), "search.tau"),
    "no validation data (IPD)": (GOOD.replace("n_val_batches = 1\n", ""), "n_val_batches must be at least 1"),
    "fixed and searched": (GOOD.replace("epochs = 2", "epochs = 2\nhidden = 8"), "'hidden' is both fixed and searched"),
    "log scale from zero": (GOOD.replace("[search]\n", "[search]\nweight_decay = { low = 0.0, high = 1e-2, log = true }\n"),
                            "search.weight_decay: a log-scale range needs low > 0, got 0.0"),
    "log scale with a step": (GOOD.replace("log = true", "log = true, step = 1e-3"), "log-scale range takes no step"),
    "misspelt range key": (GOOD.replace("log = true", "lgo = true"), "unknown or conflicting key 'lgo'"),
    "empty search": (GOOD.split("[search]")[0], "[search] names no setting"),
    "trials not positive": (GOOD.replace("trials = 4", "trials = 0"), "trials must be a positive integer"),
    "not TOML": ("name = \n", "not valid TOML"),
    "step zero": (GOOD.replace("step = 4", "step = 0"), "search.hidden: step must be an integer > 0, got 0"),
    "negative step": (GOOD.replace("step = 4", "step = -4"), "search.hidden: step must be an integer > 0"),
    "fractional step of an integer": (GOOD.replace("step = 4", "step = 2.5"), "step must be an integer > 0"),
    "step not dividing the range": (GOOD.replace("step = 4", "step = 5"), "high - low (8) must be a multiple of step (5)"),
    "log not a boolean": (GOOD.replace("log = true", 'log = "yes"'), "search.lr: log must be true or false"),
    "empty choices": (GOOD.replace('tau = {{ low = "5ms", high = "20ms" }}'.replace("{{", "{").replace("}}", "}"),
                                   "tau = { choices = [] }"), "search.tau: choices must be a non-empty list"),
    "a list as a choice": (GOOD.replace("[search]", '[search]\nreadout = { choices = [["mean"]] }'),
                           "search.readout: expected one of"),
    "fixed not a table": ("fixed = 5\n" + GOOD.split("[fixed]")[0] + "[search]" + GOOD.split("[search]")[1],
                          "fixed must be a table [fixed]"),
    "search a list": ("search = [1, 2]\n" + GOOD.split("[search]")[0], "search must be a table [search]"),
    "seed past numpy's": (GOOD.replace("seed = 0", "seed = 5000000000"), "seed must be an integer in 0..2147483647"),
    # a trial trains one model: a spec's repeats were silently replaced by 1 (its result file said repeats 1)
    "repeats fixed": (GOOD.replace("epochs = 2", "epochs = 2\nrepeats = 2"),
                      "fixed.repeats: a trial trains one model (repeats = 1); give the seeds to a sweep of the best "
                      "config, or run it with --repeats"),
    "repeats searched": (GOOD.replace("[search]", "[search]\nrepeats = { choices = [1, 2] }"),
                         "search.repeats: a trial trains one model (repeats = 1)"),
    "study searched": (GOOD.replace('study = "ipd"\n', "").replace("[search]", '[search]\nstudy = { choices = '
                       '["bmi", "ipd"] }'), "search.study: cannot be searched (the objective follows from it)"),
    "task searched": (GOOD.replace('study = "ipd"\n', "").replace("[search]", '[search]\ntask = { choices = '
                      '["ipd"] }'), "search.study: cannot be searched"),
    "one choice": (GOOD.replace("[search]", '[search]\nreadout = { choices = ["fr"] }'),
                   "search.readout: one choice ('fr') is no search; give readout in [fixed], or two choices or more"),
    "a choice twice": (GOOD.replace("[search]", '[search]\nreadout = { choices = ["mean", "fr", "mean"] }'),
                       "search.readout: choices list a value twice"),
    "a duration twice": (GOOD.replace('tau = { low = "5ms", high = "20ms" }', 'tau = { choices = ["2ms", 0.002] }'),
                         "search.tau: choices list a value twice (after conversion): ['2ms', 0.002]"),
    "task and study": (GOOD.replace('study = "ipd"', 'study = "ipd"\ntask = "bmi"'),
                       "[fixed]: task and study are the same setting (task is its old name); give one"),
    "a range of names": (GOOD.replace("[search]", '[search]\nreadout = { low = "fr", high = "mean" }'),
                         "search.readout: a range needs numbers (one layer for hidden); give readout = { choices"),
    "a range of layer lists": (GOOD.replace("low = 4, high = 12, step = 4", "low = [4, 4], high = [8, 8]"),
                               "search.hidden: a range needs numbers"),
    "a range of booleans": (GOOD.replace("[search]", "[search]\nrecurrent = { low = false, high = true }"),
                            "search.recurrent: a range needs numbers"),
    "a stepped duration without a step": (GOOD.replace("[search]", '[search]\nduration = { low = "50ms", high = "100ms" }'),
                                          "search.duration: runs as a whole number of steps of dt: give a step"),
    "a step past float's range": (GOOD.replace("step = 4", "step = 1" + "0" * 400), "step must be an integer > 0"),
    # every trial would fail at its config: refused here, not trial by trial
    "a duration step that is no multiple of dt": (
        GOOD.replace("[search]", '[search]\nduration = { low = "50ms", high = "60ms", step = "0.5ms" }'),
        "search.duration: duration step 0.0005 s is no whole number of steps of dt=0.001 s"),
    "a duration choice that is no multiple of dt": (
        GOOD.replace("[search]", '[search]\nduration = { choices = ["50ms", "55.5ms", "60ms"] }'),
        "search.duration: duration choice 0.0555 s is no whole number of steps of dt=0.001 s"),
    "a range of dt (IPD: the duration)": (GOOD.replace("[search]", '[search]\ndt = { low = "0.5ms", high = "1ms" }'),
                                          "search.dt: a range of dt gives durations (duration)"),
    "a dt choice that does not divide the duration": (
        GOOD.replace("[search]", '[search]\ndt = { choices = ["0.5ms", "0.3ms", "1ms"] }'),
        "search.dt: duration 0.1 s is no whole number of steps of dt=0.0003 s"),
    # a combination that only some trials draw: every choice with every end of the other settings
    "a middle choice that the fixed settings refuse": (
        GOOD.replace('backend = "fused"', 'neuron = "standard"\nrecurrent = true').replace(
            "[search]", '[search]\nbackend = { choices = ["snntorch", "fused", "norse"] }'),
        'fixed.recurrent: runs on backend = "snntorch" or "norse" only; the fused backend does not carry it (a trial '
        "with backend=fused lr=0.001 hidden=4 tau=5ms)"),
    "two choices that refuse each other, not at the ends": (
        GOOD.replace('backend = "fused"', 'neuron = "standard"').replace(
            "[search]", '[search]\nbackend = { choices = ["fused", "snntorch"] }\nrecurrent = { choices = [false, true] }'),
        'search.recurrent: runs on backend = "snntorch" or "norse" only; the fused backend does not carry it (a trial '
        "with backend=fused recurrent=True"),
    "the high end of a range with the first choice of another": (
        GOOD.replace("[search]", '[search]\ndt = { choices = ["1ms", "0.5ms"] }\ntone_hz = { low = 20, high = 600 }'),
        "search.tone_hz: must be below half the step rate (1 / (2 dt) = 500 Hz), or the sampled tone aliases; got 600 Hz "
        "(a trial with dt=1ms tone_hz=600"),
    # a stepped range of dt: its every point is a trial's dt, the high end (1.5 ms) included
    "a dt range whose high end does not divide the duration": (
        GOOD.replace("[search]", '[search]\ndt = { low = "0.5ms", high = "1.5ms", step = "0.5ms" }'),
        "search.dt: duration 0.1 s is no whole number of steps of dt=0.0015 s"),
    # a spec's settings are named as its keys, as an experiment file's are: the error named the flag
    # (--dim), which the spec does not have
    "a fixed setting of the other study": (GOOD.replace('backend = "fused"', 'backend = "fused"\ndims = 1'),
                                           "spec.toml: fixed.dims: a setting of the bmi study; the ipd study does not "
                                           "use it (a trial with "),
    "a fixed option the backend lacks": (GOOD.replace('backend = "fused"', 'backend = "fused"\nlearn_tau = true'),
                                         'spec.toml: fixed.learn_tau: runs on backend = "snntorch" or "norse" only'),
    # and so are the other settings such a refusal asks for (it said "add --neuron standard")
    "a fixed option of the standard neuron": (
        GOOD.replace('backend = "fused"', 'backend = "norse"\ntau_syn = "30ms"'),
        "spec.toml: fixed.tau_syn: the model-space neurons step as the libraries' neurons do (spike from the updated "
        'membrane); add neuron = "standard" (a trial with '),
    "a fixed rate above one spike per searched step": (
        GOOD.replace("[search]", '[search]\ndt = { choices = ["0.5ms", "1ms"] }').replace("epochs = 2", "epochs = 2\nrate_max_hz = 2000"),
        "spec.toml: fixed.rate_max_hz: at most one spike per step of dt=0.001 s: must be <= 1000 Hz (or a smaller "
        "dt), got 2000 Hz"),
    # only the first corner was checked: the trials that drew 0 failed one by one (KeyError: val_acc_curve)
    "a searched choice of no validation data (IPD)": (
        GOOD.replace("n_val_batches = 1\n", "").replace("[search]", "[search]\nn_val_batches = { choices = [1, 0] }"),
        "search.n_val_batches must be at least 1: trials are scored on validation data (a trial with "
        "n_val_batches=0"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_malformed_spec_is_one_line_and_exit_2(tmp_path, case):
    """The first case in a process of its own, the others in this one."""
    text, message = BAD[case]
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    env = env_for(tmp_path / "results")
    if case == next(iter(BAD)):
        proc = cli("status", spec, env=env, cwd=tmp_path)
    else:
        proc = run_here(tune.main, "status", spec, env=env, cwd=tmp_path)
    line = one_line_error(proc)
    assert message in line
    assert not (tmp_path / "results").exists(), "a refused spec must not create its study"


def test_a_stepped_duration_takes_a_step_with_a_unit(tmp_path):
    """``duration = { low = "50ms", high = "100ms", step = "10ms" }``: every point the sampler
    can draw is a whole number of steps (the config refuses any other)."""
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD.replace("[search]", '[search]\nduration = { low = "50ms", high = "100ms", step = "10ms" }'))
    param = next(p for p in tune.load(spec).search if p.name == "duration")
    assert (param.low, param.high, param.step) == (0.05, 0.1, 0.01)
    points = [param.low + k * param.step for k in range(6)]  # as Optuna's stepped float range draws them
    assert [RunConfig(duration=d).steps for d in points] == [50, 60, 70, 80, 90, 100]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    drawn = {RunConfig(duration=param.suggest(study.ask())).steps for _ in range(40)}  # refuses a part step
    assert drawn == {50, 60, 70, 80, 90, 100}


def test_a_stepped_integer_range_draws_only_its_steps(tmp_path):
    """``hidden = { low = 4, high = 12, step = 4 }``: the trials draw 4, 8 and 12 only, each of them."""
    import optuna

    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD)
    param = next(p for p in tune.load(spec).search if p.name == "hidden")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    drawn = {param.suggest(study.ask()) for _ in range(40)}
    assert drawn == {4, 8, 12}


def test_dt_searched_as_divisors_of_the_duration_is_accepted(tmp_path):
    """dt as choices (or a stepped range) that divide the duration: every trial's config is valid."""
    spec = tmp_path / "spec.toml"
    for search in (
        'dt = { choices = ["0.5ms", "1ms", "2ms"] }',
        'dt = { low = "0.5ms", high = "1ms", step = "0.5ms" }',
    ):
        spec.write_text(
            GOOD.replace("[search]", f"[search]\n{search}").replace("epochs = 2", "epochs = 2\nrate_max_hz = 400")
        )
        dt = next(p for p in tune.load(spec).search if p.name == "dt")
        for value in dt.choices or (dt.low, dt.high):
            assert tune.load(spec).config({"dt": value, "lr": 1e-3, "hidden": 8, "tau": 0.005}).steps == round(
                0.1 / value
            )


def test_missing_spec_and_usage_errors(tmp_path):
    """The first refusal in a process of its own, the others in this one."""
    env = env_for(tmp_path / "results")
    assert "no tuning spec" in one_line_error(cli("status", tmp_path / "none.toml", env=env, cwd=tmp_path))
    line = one_line_error(here("status", "no_such_spec", env=env, cwd=tmp_path))
    assert "no tuning spec 'no_such_spec'" in line and "experiments/no_such_spec.toml" in line
    # a NAME is a shipped spec, as for sweeps: experiments/NAME.toml of the source tree
    assert status("ipd_tune", env, tmp_path) == status(ROOT / "experiments" / "ipd_tune.toml", env, tmp_path)
    assert status("ipd_tune", env, tmp_path)["name"] == "ipd_tune"
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD)
    assert "--out" in one_line_error(here("best", spec, env=env, cwd=tmp_path))  # --out is required
    assert "-j" in one_line_error(here("run", spec, "-j", "0", env=env, cwd=tmp_path))
    # a good spec before any trial: status says so (and makes no study), best refuses
    assert status(spec, env, tmp_path)["complete"] == []
    assert not (tmp_path / "results").exists()
    assert "no completed trial" in one_line_error(here("best", spec, "--out", "b.toml", env=env, cwd=tmp_path))
    assert not (tmp_path / "b.toml").exists()
    # a worker number that is none
    for task in ("abc", "", "-5"):
        env_task = {**env, "SLURM_ARRAY_TASK_ID": task}
        line = one_line_error(here("worker", spec, env=env_task, cwd=tmp_path))
        assert line == f"snnsim.tune: error: worker: $SLURM_ARRAY_TASK_ID={task!r} is not a worker number " \
                       "(0..2147483647)"  # fmt: skip
    # results folders in the way
    (tmp_path / "file").write_text("")
    line = one_line_error(here("--results-dir", tmp_path / "file", "status", spec, env=env, cwd=tmp_path))
    assert line == f"snnsim.tune: error: --results-dir: {tmp_path / 'file'} is a file; give a folder"
    (tmp_path / "r2").mkdir()
    (tmp_path / "r2" / "tiny").write_text("")
    line = one_line_error(here("--results-dir", tmp_path / "r2", "run", spec, env=env, cwd=tmp_path))
    assert line == f"snnsim.tune: error: {tmp_path / 'r2' / 'tiny'}: exists and is not a folder"


@pytest.mark.parametrize("name", ["ipd_tune", "bmi_tune"])
def test_shipped_specs_load(tmp_path, name):
    path = ROOT / "experiments" / f"{name}.toml"
    spec = tune.load(path)
    assert spec.name == name and spec.objective == {"ipd_tune": "val_acc", "bmi_tune": "val_fvaf"}[name]
    assert {"lr", "hidden", "tau"} <= {p.name for p in spec.search}
    assert spec.config({}).backend == "fused"
    command = cli if name == "ipd_tune" else here  # the first in a process of its own
    dry = ok(command("submit", path, "--workers", "3", "--dry-run", env=env_for(tmp_path / "r"), cwd=tmp_path))
    assert dry.stdout.split()[:3] == ["sbatch", "--parsable", "--array=0-2"]
    assert dry.stdout.split()[-2:] == [str(ROOT / "slurm" / "tune.sh"), str(path)]


# -- a local search with two workers ---------------------------------------------------------------
@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """`tune run SPEC -j 2` of 4 tiny trials; (spec, results dir, env, cwd, status)."""
    cwd = tmp_path_factory.mktemp("tune")
    spec = cwd / "tiny.toml"
    spec.write_text(TINY.format(trials=4, pruner="median"))
    env = env_for(cwd / "results")
    run = ok(here("run", spec, "-j", "2", env=env, cwd=cwd))
    assert run.stdout.startswith("tiny: budget 4;")
    return spec, cwd / "results", env, cwd, status(spec, env, cwd)


@pytest.mark.slow
@pytest.mark.xdist_group("tune-searched")  # one search, on one xdist worker
def test_run_status_counts_and_trial_files(searched):
    spec, root, env, cwd, st = searched
    ended = st["complete"] + st["pruned"] + st["failed"]
    assert sorted(ended) == [0, 1, 2, 3] and st["running"] == [] and st["budget"] == 4
    assert st["failed"] == [], st
    assert len(st["complete"]) >= 3  # the median pruner starts pruning after 3 completed trials
    values = {}
    for n in range(4):
        path = root / "tiny" / f"trial-{n}.h5"
        assert path.exists() == (n in st["complete"]), n  # pruned trials leave no result file
        if n not in st["complete"]:
            continue
        ds = results.load(path)
        params = json.loads(ds.attrs["trial_params"])
        config = json.loads(ds.attrs["config"])
        assert int(ds.attrs["trial_number"]) == n and ds.attrs["objective"] == "val_acc"
        assert set(params) == {"lr", "hidden", "tau"}
        assert {k: config[k] for k in params} == params
        assert 1e-3 <= params["lr"] <= 3e-2 and params["hidden"] in (4, 8, 12) and 0.005 <= params["tau"] <= 0.02
        assert float(ds.attrs["objective_value"]) == np.nanmax(ds.val_acc_curve.values)
        values[n] = (float(ds.attrs["objective_value"]), params)
    best = st["best"]
    top = max(v for v, _ in values.values())
    assert best["value"] == top and values[best["number"]] == (top, best["params"])
    # the workers shared the budget: 4 trials in all, over-budget asks not listed
    logs = sorted((root / "tiny" / "logs").glob("worker-*.log"))
    assert len(logs) == 2
    assert all("budget of 4 trials used" in log.read_text() for log in logs)


@pytest.mark.slow
@pytest.mark.xdist_group("tune-searched")  # one search, on one xdist worker
def test_trial_lines_and_the_best_give_durations_with_their_unit(searched):
    """The workers' trial lines and `status`'s best printed the searched settings as a Python dict
    of seconds ("{'lr': 0.0023, 'hidden': 8, 'tau': 0.0131}"), a tau with no unit, which
    `snnsim.run --tau` refuses; they print them as a sweep's settings, durations with their unit."""
    spec, root, env, cwd, st = searched
    setting = r"lr=[0-9.e-]+ hidden=\d+ tau=[0-9.]+(s|ms|us)"
    lines = [line for log in (root / "tiny" / "logs").glob("worker-*.log") for line in log.read_text().splitlines()
             if re.match(r"snnsim\.tune: trial \d+: val_acc = ", line)]  # fmt: skip
    assert lines and all(re.search(rf"= [0-9.]+ \({setting}\)$", line) for line in lines), lines
    best = ok(here("status", spec, env=env, cwd=cwd)).stdout.splitlines()[-1]
    assert re.fullmatch(rf"  best: trial {st['best']['number']}, val_acc = [0-9.]+ \({setting}\)", best), best


@pytest.mark.slow
@pytest.mark.xdist_group("tune-searched")  # one search, on one xdist worker
def test_best_reproduces_the_trial(searched):
    spec, root, env, cwd, st = searched
    out = cwd / "best.toml"
    made = ok(here("best", spec, "--out", out, env=env, cwd=cwd))
    assert made.stdout.startswith(f"{out}: trial {st['best']['number']}")
    text = out.read_text()
    ok(cli("--config", out, "--out", cwd / "r.h5", "--quiet", module="snnsim.run", env=env, cwd=cwd))
    again = results.load(cwd / "r.h5")
    trial = results.load(root / "tiny" / f"trial-{st['best']['number']}.h5")
    assert json.loads(again.attrs["config"]) == json.loads(trial.attrs["config"])  # every setting, exactly
    for name in ("val_acc_curve", "test_acc", "train_acc", "loss", "confusion", "w1", "w2"):
        np.testing.assert_array_equal(again[name].values, trial[name].values, err_msg=name)
    assert np.nanmax(again.val_acc_curve.values) == st["best"]["value"]
    # an existing --out is not replaced without --overwrite
    out.write_text("# mine\n")
    assert "exists" in one_line_error(here("best", spec, "--out", out, env=env, cwd=cwd))
    assert out.read_text() == "# mine\n"
    ok(here("best", spec, "--out", out, "--overwrite", env=env, cwd=cwd))
    assert out.read_text() == text


@pytest.mark.slow
@pytest.mark.xdist_group("tune-searched")  # one search, on one xdist worker
def test_merge_stacks_trials(searched):
    spec, root, env, cwd, st = searched
    ok(here("merge", spec, env=env, cwd=cwd))
    merged = results.load(root / "tiny.h5")
    assert merged.sizes["trial"] == len(st["complete"])
    assert merged.trial.values.tolist() == sorted(st["complete"])
    assert merged.test_acc.dims == ("trial", "repeat")
    for n in st["complete"]:
        trial = results.load(root / "tiny" / f"trial-{n}.h5")
        point = merged.sel(trial=n)
        params = json.loads(trial.attrs["trial_params"])
        assert {k: point[k].item() for k in params} == params
        assert point.objective_value.item() == trial.attrs["objective_value"]
        np.testing.assert_array_equal(point.val_acc_curve.values, trial.val_acc_curve.values)
        hidden = params["hidden"]  # trials of other sizes: the hidden units past this one's are padding
        np.testing.assert_array_equal(point.w1.isel(hidden_unit=slice(0, hidden)).values, trial.w1.values)
        assert np.isnan(point.w1.isel(hidden_unit=slice(hidden, None)).values).all()
    # provenance: the versions, and the settings every trial shares but none the search set
    trial = results.load(root / "tiny" / f"trial-{st['complete'][0]}.h5")
    assert merged.attrs["versions"] == trial.attrs["versions"]
    assert merged.attrs["snnsim_version"] == trial.attrs["snnsim_version"]
    assert merged.attrs["numerics_version"] == trial.attrs["numerics_version"]
    assert merged.attrs["optuna_version"] == __import__("optuna").__version__
    shared = {k for k in trial.attrs if k.startswith("config_") and k[7:] not in params}
    assert shared and all(merged.attrs[k] == trial.attrs[k] for k in shared)
    assert not any(f"config_{k}" in merged.attrs for k in params)
    assert "trial_params" not in merged.attrs and "seed" not in merged.attrs


def test_a_changed_spec_of_the_same_name_is_refused(tmp_path):
    """The study remembers [fixed] and [search]; the budget, sampler, pruner and seed may change."""
    path = tmp_path / "learns.toml"
    text = LEARNS.replace("{name}", "learns").replace("{trials}", "4")
    path.write_text(text)
    root = tmp_path / "results"
    tune.study(tune.load(path), root)
    path.write_text(text.replace("trials = 4", "trials = 8").replace('"random"', '"tpe"'))
    tune.study(tune.load(path), root)
    for changed, what in [(text.replace("hidden = 16", "hidden = 32"), "fixed"),
                          (text.replace("high = 1e-1", "high = 1e-2"), "search"),
                          (text.replace("hidden = 16\n", "").replace("[search]\n", "[search]\nhidden = { choices = "
                                                                       "[16, 32] }\n"), "fixed and search")]:  # fmt: skip
        path.write_text(changed)
        with pytest.raises(tune.SpecError, match=f"made by a spec named 'learns' with other {what} settings; its "
                                                 "trials would mix"):  # fmt: skip
            tune.study(tune.load(path), root)
    # the same space written otherwise: another order, 0 for 0.0
    two = LEARNS.replace("{name}", "two").replace("{trials}", "4") + "weight_decay = { low = 0.0, high = 1e-3 }\n"
    path.write_text(two)
    tune.study(tune.load(path), root)
    lines = two.splitlines()
    path.write_text("\n".join([*lines[:-2], lines[-1].replace("0.0", "0"), lines[-2]]) + "\n")
    assert tune.load(path).search[0].name == "weight_decay"
    tune.study(tune.load(path), root)
    # the same fixed settings written otherwise: a default given (seed = 0): its trials are the same
    path.write_text(text.replace("hidden = 16\n", 'hidden = 16\nseed = 0\nreadout = "mean"\n'))
    s = tune.study(tune.load(path), root)
    # ... by this snnsim: another's defaults may have been others
    s.set_user_attr("made_with", json.dumps({**json.loads(s.user_attrs["made_with"]), "snnsim": "0.0.1"}))
    with pytest.raises(tune.SpecError, match="with other fixed settings; its trials would mix"):
        tune.study(tune.load(path), root)


def test_stopped_trials_leave_the_budget_and_missing_files_stop_a_merge(tmp_path):
    """A trial stopped by a signal (its worker cancelled, or at its time limit) does not count against the
    budget; a merge refuses a completed trial whose file is gone, unless told to leave it out."""
    from optuna.trial import TrialState

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2").replace("epochs = 2", "epochs = 1"))
    spec = tune.load(path)
    root = tmp_path / "results"
    s = tune.study(spec, root)
    stopped = s.ask()  # what work() records when SIGTERM arrives mid-trial
    stopped.set_user_attr("stopped", "SIGTERM")
    s.tell(stopped, state=TrialState.FAIL)
    messages = []
    assert tune.work(spec, root, 0, messages.append) == 0
    info = tune.summary(spec, root)
    assert info["stopped"] == [0] and info["complete"] == [1, 2] and info["failed"] == [], info
    assert messages[-1].endswith("budget of 2 trials used; worker 0 stops")
    tune.trial_path(spec, 1, root).unlink()
    # status named no gone file: "complete 2" (and trial 1 best), then merge refused trial 1
    shown = ok(here("status", path, env=env_for(root), cwd=tmp_path)).stdout
    assert f"trial 1 gone: {tune.trial_path(spec, 1, root)} (merge --allow-missing leaves it out)" in shown, shown
    assert tune.summary(spec, root)["gone"] == [1]
    with pytest.raises(tune.SnnsimError, match=r"completed trial 1 has no result file in .* leave it out$"):
        tune.merge(spec, root)
    assert not (root / "learns.h5").exists()
    merged = results.load(tune.merge(spec, root, allow_missing=True))
    assert merged.trial.values.tolist() == [2] and json.loads(merged.attrs["missing"]) == [1]


@pytest.mark.parametrize("journal", ["removed", "emptied"])
def test_a_study_whose_journal_is_gone_does_not_write_over_its_trial_files(tmp_path, journal):
    """A study folder with trial files and no study in its journal (removed, or emptied): ``tune run``
    started a new study, whose trials 0, 1, ... replaced the old trials' files without a word."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    spec, root = tune.load(path), tmp_path / "results"
    assert tune.work(spec, root, 0, lambda message: None) == 0
    trial = tune.trial_path(spec, 0, root)
    before = trial.read_bytes()
    if journal == "removed":
        tune.journal_path(spec, root).unlink()
    else:
        tune.journal_path(spec, root).write_bytes(b"")
    proc = here("run", path, env=env_for(root), cwd=tmp_path)
    assert one_line_error(proc) == (
        f"snnsim.tune: error: {tune.folder(spec, root)} holds the result files of trials (trial-0.h5) but its "
        f"journal {tune.journal_path(spec, root).name} holds no study (removed or emptied?): a new study would "
        "write over them; move them away, or give this spec another name"
    )
    assert trial.read_bytes() == before
    # status said "not started: no study in ...; start it with: python -m snnsim.tune run" (or nothing)
    shown = ok(here("status", path, env=env_for(root), cwd=tmp_path)).stdout
    assert shown.splitlines()[1] == (
        f"  no study in {tune.journal_path(spec, root)} (removed or emptied?), but the result files of trials "
        "(trial-0.h5): tune run refuses to write over them"
    ), shown


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_resumed_worker_asks_new_points(tmp_path, sampler):
    """A worker started again (resumed after a signal, resubmitted) had the same sampler seed and
    asked the points of its first run again: half a budget spent on repeats."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "8").replace('"random"', f'"{sampler}"'))
    spec, root = tune.load(path), tmp_path / "results"

    def asks(n: int) -> list[float]:
        s, lrs = tune.study(spec, root, worker=0), []
        for _ in range(n):
            trial = s.ask()
            lrs.append(trial.suggest_float("lr", 1e-7, 1e-1, log=True))
            s.tell(trial, 0.5)
        return lrs

    first, again = asks(2), asks(2)
    assert not set(first) & set(again), (first, again)
    # a fresh study of the same spec asks what the first did: the seed still fixes the sequence
    path.write_text(path.read_text().replace('name = "learns"', 'name = "fresh"'))
    spec = tune.load(path)
    assert asks(2) == first


@pytest.mark.parametrize(("sampler", "trials", "stop"), [("random", 4, 2), ("tpe", 12, 10)])
def test_a_stopped_and_resumed_worker_asks_what_an_uninterrupted_one_asks(tmp_path, monkeypatch, sampler, trials, stop):
    """A worker stopped by a real SIGTERM mid-trial (scancel, Ctrl-C) and started again sampled
    with a new seed: its trials differed from those of the same spec run without a stop, so a
    search could not be reproduced. It goes on with the sampler its first run had (the stopped
    trial's point again, then the uninterrupted run's; for TPE past its random start-up trials too)."""
    import signal

    def spec_of(name: str) -> tune.Spec:
        text = LEARNS.replace("{name}", name).replace("{trials}", str(trials)).replace("epochs = 2", "epochs = 1")
        (tmp_path / f"{name}.toml").write_text(text.replace('"random"', f'"{sampler}"').replace("hidden = 16\n", "")
                                               + "hidden = { low = 4, high = 12, step = 4 }\n")  # fmt: skip
        return tune.load(tmp_path / f"{name}.toml")

    def points(spec: tune.Spec) -> list[dict]:
        s = tune.study(spec, root, create=False)
        return [t.params for t in s.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]

    root = tmp_path / "results"
    plain, stopped = spec_of("plain"), spec_of("stopped")
    assert tune.work(plain, root, 0, log=lambda message: None) == 0
    hook = tune.PruneHook.__call__

    def signalled(self, record):
        os.kill(os.getpid(), signal.SIGTERM)
        return hook(self, record)

    with monkeypatch.context() as patched:
        patched.setattr(tune.PruneHook, "__call__", lambda self, record: (signalled if self.trial.number == stop
                                                                          else hook)(self, record))  # fmt: skip
        assert tune.work(stopped, root, 0, log=lambda message: None) == 128 + signal.SIGTERM
    assert tune.summary(stopped, root)["stopped"] == [stop]
    assert tune.work(stopped, root, 0, log=lambda message: None) == 0
    assert points(stopped) == points(plain), (points(stopped), points(plain))


def test_a_kept_sampler_runs_no_code_of_whoever_wrote_the_journal(tmp_path):
    """The sampler a worker keeps in the study for a worker started again is unpickled with only
    Optuna's samplers and numpy's random state allowed: a journal that another user can write to
    (a shared results folder) must not run their code in the next worker; it samples with a seed of
    its own then."""
    import base64
    import pickle
    import zlib

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'ran'}",)

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    spec, root = tune.load(path), tmp_path / "results"
    assert tune.work(spec, root, 0, log=lambda message: None) == 0
    s = tune.study(spec, root, create=False)
    kept = json.loads(s.user_attrs["sampler_of_worker_0"])
    kept["asking"] = base64.b64encode(zlib.compress(pickle.dumps(Payload()))).decode("ascii")
    s.set_user_attr("sampler_of_worker_0", json.dumps(kept))
    path.write_text(path.read_text().replace("trials = 1", "trials = 2"))
    assert tune.work(tune.load(path), root, 0, log=lambda message: None) == 0
    assert not (tmp_path / "ran").exists()
    assert tune.summary(spec, root)["complete"] == [0, 2]  # trial 1: the first run's ask past its budget


def test_a_kept_sampler_that_unpacks_to_hundreds_of_megabytes_is_not_unpacked():
    """A kept sampler is some kilobytes once unpacked. One in the journal of a fifth of a megabyte
    that unpacks to 200 MB (a zlib bomb: others may write to a shared folder) was unpacked whole by
    the worker started again: a journal record of some megabytes had its memory, and under a job's
    memory limit the worker was killed. It is unpacked up to a bound, then left (a seed of its own)."""
    import base64
    import tracemalloc
    import zlib
    from types import SimpleNamespace

    bomb = base64.b64encode(zlib.compress(bytes(200_000_000), 9)).decode("ascii")
    tracemalloc.start()
    try:
        assert tune._thawed(SimpleNamespace(sampler="random"), bomb) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, f"{peak / 1e6:.0f} MB"


def test_a_kept_sampler_record_nested_past_pythons_depth_lets_the_worker_run(tmp_path):
    """A kept sampler's record in the journal that is JSON nested too deep for Python's reader (a
    damaged or hostile journal: others may write to a shared folder) stopped the worker started
    again with a traceback (RecursionError), where any other record that is not one samples with
    a seed of its own."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    spec, root = tune.load(path), tmp_path / "results"
    assert tune.work(spec, root, 0, log=lambda message: None) == 0
    tune.study(spec, root, create=False).set_user_attr("sampler_of_worker_0", "[" * 100_000)
    path.write_text(path.read_text().replace("trials = 1", "trials = 2"))
    assert tune.work(tune.load(path), root, 0, log=lambda message: None) == 0
    assert tune.summary(spec, root)["complete"] == [0, 2]  # trial 1: the first run's ask past its budget


def test_the_worker_that_asks_trial_0_samples_with_the_seed_plus_its_number(tmp_path):
    """As the spec's ``seed`` says: the worker that asks a new study's trial 0 samples with seed +
    its number, so worker 1 of seed 0 asks what worker 0 of seed 1 asks, and not what worker 0 of
    seed 0 asks (every worker number, and so every array task, had sampled with the seed alone)."""
    root = tmp_path / "results"

    def first_point(name: str, seed: int, worker: int) -> dict:
        path = tmp_path / f"{name}.toml"
        text = LEARNS.replace("{name}", name).replace("{trials}", "1").replace("epochs = 2", "epochs = 1")
        path.write_text(text.replace('pruner = "median"\n', f'pruner = "median"\nseed = {seed}\n'))
        spec = tune.load(path)
        assert tune.work(spec, root, worker, log=lambda message: None) == 0
        trials = tune.study(spec, root, create=False).get_trials(deepcopy=False)
        (trial,) = [t for t in trials if t.state.name == "COMPLETE"]  # the others: asks past the budget
        return trial.params

    one = first_point("worker1", 0, 1)
    assert one == first_point("seed1", 1, 0)
    assert one != first_point("seed0", 0, 0)


def test_two_workers_of_one_number_started_at_once_ask_other_points(tmp_path, monkeypatch):
    """Two workers of the same number (two ``tune run`` at once on one folder, or two ``tune
    submit`` arrays whose task 0 start together) that load the study before either asked a trial
    had the same sampler seed, and trained the same points twice: half the budget spent on
    repeats. Here worker 0 of a second run loads the study, then the first run's worker 0 trains
    trial 0, then the second trains a trial."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2"))
    spec, root = tune.load(path), tmp_path / "results"
    loaded = tune.study(spec, root, worker=0)  # the second run's worker, as it starts
    first = tune.load(path.write_text(path.read_text().replace("trials = 2", "trials = 1")) and path)
    assert tune.work(first, root, 0, log=lambda message: None) == 0  # the first run's worker: trial 0
    monkeypatch.setattr(tune, "study", lambda *args, **kwargs: loaded)
    assert tune.work(spec, root, 0, log=lambda message: None) == 0  # its first trial, then the budget is used
    trials = [t for t in loaded.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    assert len(trials) == 2 and trials[0].params != trials[1].params, [t.params for t in trials]


@pytest.mark.parametrize("change", ["edited", "removed"])
def test_a_spec_file_changed_while_a_worker_runs(tmp_path, change):
    """The spec file edited (for the next study) or removed while a worker runs: each trial file
    recorded the spec as it was on disk when the trial ended, not the one the trial ran (the
    edited text), or the trial failed after training, unwritten (removed: FileNotFoundError), and so
    did every trial after it. A trial records the spec its worker read."""
    path = tmp_path / "learns.toml"
    text = LEARNS.replace("{name}", "learns").replace("{trials}", "1")
    path.write_text(text)
    spec, root = tune.load(path), tmp_path / "results"
    if change == "edited":
        path.write_text(text.replace("low = 1e-7", "low = 1e-3"))
    else:
        path.unlink()
    assert tune.work(spec, root, 0, lambda message: None) == 0
    assert results.load(tune.trial_path(spec, 0, root)).attrs["tune_spec"] == text


def test_a_worker_whose_every_trial_failed_exits_1(tmp_path):
    """Every trial diverges (lr 1e29..1e30): recorded failed, with the reason, and the worker's exit
    code says so (a SLURM array shows the task failed)."""
    path = tmp_path / "diverges.toml"
    path.write_text(LEARNS.replace("{name}", "diverges").replace("{trials}", "2").replace("1e-7", "1e29")
                    .replace("high = 1e-1", "high = 1e30"))  # fmt: skip
    spec = tune.load(path)
    messages = []
    assert tune.work(spec, tmp_path, 0, messages.append) == 1
    assert messages[-1] == "every trial of worker 0 failed (2); their errors are above"
    assert sum("failed: DivergedError" in m for m in messages) == 2, messages
    assert tune.summary(spec, tmp_path)["failed"] == [0, 1]


def test_a_failed_trials_reason_names_the_specs_keys_not_the_runs_flags(tmp_path):
    """A trial that fails as it runs (every step of its lr below float32's resolution) was recorded
    and logged as "... each step of --lr 3.5e-30 ...; give a larger --lr", a flag that neither the
    spec nor ``tune`` has (``sweep run`` names an experiment's keys, as here). The reason names the
    spec's key, in the worker's log and in what ``merge`` lists of the trial."""
    path = tmp_path / "stuck.toml"
    path.write_text(LEARNS.replace("{name}", "stuck").replace("{trials}", "1").replace("1e-7", "1e-30")
                    .replace("high = 1e-1", "high = 1e-29"))  # fmt: skip
    spec = tune.load(path)
    messages = []
    assert tune.work(spec, tmp_path, 0, messages.append) == 1
    failed = [m for m in messages if m.startswith("trial 0: failed: DivergedError: ")]
    error = tune.study(spec, tmp_path, create=False).trials[0].user_attrs["error"]
    assert len(failed) == 1 and failed[0] == f"trial 0: failed: {error}", messages
    assert re.search(r"\(each step of lr [0-9.e-]+ is below float32's resolution of its weight\); give a larger lr;",
                     error), error  # fmt: skip
    assert "--" not in error, error


def test_trials_that_cannot_run_here_are_refused_before_any_trial(tmp_path, bmi_path):
    env = env_for(tmp_path / "results")
    spec = tmp_path / "b.toml"
    text = 'name = "b"\n[fixed]\nstudy = "bmi"\nmodel = "ann"\ndata = "{data}"\n[search]\nlr = { low = 1e-3, high = 1e-2 }\n'
    spec.write_text(text.replace("{data}", str(tmp_path / "none.pkl")))
    assert one_line_error(cli("run", spec, env=env, cwd=tmp_path)).endswith(
        f"fixed.data: no file at {tmp_path / 'none.pkl'}"
    )
    assert not (tmp_path / "results").exists()
    spec.write_text(text.replace("{data}", bmi_path).replace('model = "ann"', 'model = "ann"\ndevice = "cuda"'))
    import torch

    if not torch.cuda.is_available():  # a GPU machine would run them
        line = one_line_error(here("run", spec, env=env, cwd=tmp_path))
        assert line.endswith("the trials run on cuda, and this machine has no CUDA device; submit them to a GPU "
                             'partition, or set device = "auto"')  # fmt: skip
        assert not (tmp_path / "results").exists()
        assert ok(here("submit", spec, "--dry-run", env=env, cwd=tmp_path)).stdout.startswith("sbatch ")


def test_every_data_file_of_the_choices_is_read_before_any_trial(tmp_path, bmi_path):
    """A data file that only some trials read (the middle of three choices) is refused before any trial,
    named as the spec's key (``search.data``; it said ``--data``, a flag the spec does not have)."""
    env = env_for(tmp_path / "results")
    spec = tmp_path / "b.toml"
    missing = tmp_path / "none.pkl"
    spec.write_text(f'name = "b"\ntrials = 1\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[search]\n'
                    f'data = {{ choices = ["{bmi_path}", "{missing}", "synthetic:standard:0"] }}\n')  # fmt: skip
    assert (
        one_line_error(cli("run", spec, env=env, cwd=tmp_path))
        == f"snnsim.tune: error: {spec}: search.data: no file at {missing}"
    )
    assert not (tmp_path / "results").exists()


# -- pruning ---------------------------------------------------------------------------------------
def test_prune_hook_prunes_a_worse_trial(tmp_path):
    """A real in-memory study with a median pruner: the trial that cannot learn (lr 1e-6) is
    pruned by the real PruneHook inside training; the same trial as the earlier ones is not."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "4"))
    spec = tune.load(path)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))  # fmt: skip
    for lr in (1e-2, 1e-2, 1e-6, 1e-2):
        study.enqueue_trial({"lr": lr})
    for _ in range(4):
        trial = study.ask()
        try:
            study.tell(trial, tune.run_trial(spec, trial, tmp_path))
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED, TrialState.COMPLETE]
    pruned = trials[2]
    assert pruned.params == {"lr": 1e-6} and not tune.trial_path(spec, 2, tmp_path).exists()
    assert list(pruned.intermediate_values) == [1]  # stopped after its first epoch, not trained to the end
    assert pruned.intermediate_values[1] < np.median([t.intermediate_values[1] for t in trials[:2]])
    for t in (trials[0], trials[1], trials[3]):  # every epoch reported, the numbers of the result file
        curve = results.load(tune.trial_path(spec, t.number, tmp_path)).val_acc_curve.values[0]
        assert t.intermediate_values == {e + 1: v for e, v in enumerate(curve)}
        assert t.value == np.nanmax(curve)


def test_the_best_trial_is_the_first_of_the_highest_completed(tmp_path):
    """A study's best: the highest value of the completed trials (a pruned trial's higher epoch
    value and an ask past the budget left out), the first of equals as Optuna's own best_trial."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD)
    spec = tune.load(spec)
    study = optuna.create_study(direction="maximize")
    for value, state in ((0.2, TrialState.COMPLETE), (0.5, TrialState.COMPLETE), (0.9, TrialState.PRUNED),
                         (0.5, TrialState.COMPLETE), (None, TrialState.FAIL), (0.95, TrialState.COMPLETE)):  # fmt: skip
        trial = study.ask()
        trial.report(value or 0.0, 1)
        if value == 0.95:
            trial.set_user_attr("over_budget", True)
        study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
    info = tune._summary_of(spec, study, tmp_path)
    assert (info["complete"], info["pruned"], info["failed"]) == ([0, 1, 3], [2], [4])
    assert (info["best"]["number"], info["best"]["value"]) == (1, 0.5)


def test_worker_records_pruned_trials(tmp_path):
    """tune.work on the study's journal with the spec's median pruner (3 startup trials): the
    trial that cannot learn is recorded pruned, `status` counts it, and the budget holds."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "5"))
    spec = tune.load(path)
    root = tmp_path / "results"
    for lr in (1e-2, 1e-2, 1e-2, 1e-6, 1e-2):
        tune.study(spec, root).enqueue_trial({"lr": lr})
    messages = []
    assert tune.work(spec, root, 0, messages.append) == 0
    assert "trial 3: pruned" in messages and messages[-1].endswith("budget of 5 trials used; worker 0 stops")
    st = status(path, env_for(root), tmp_path)
    assert st["complete"] == [0, 1, 2, 4] and st["pruned"] == [3] and st["failed"] == st["running"] == []
    assert sorted(p.name for p in (root / "learns").glob("trial-*.h5")) == [f"trial-{n}.h5" for n in (0, 1, 2, 4)]


# -- SLURM -----------------------------------------------------------------------------------------
@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_workers(cluster, tmp_path):  # noqa: F811 - the imported fixture
    """`tune submit --workers 2`: an array job of two workers shares a budget of 3 trials."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.format(trials=3, pruner="none"))
    env = env_for(tmp_path / "results")
    sub = ok(cli("submit", spec, "--workers", "2", env=env, cwd=tmp_path, timeout=30))
    m = re.search(r"submitted 2 workers as SLURM array job (\d+)", sub.stdout)
    assert m, sub.stdout
    job = m.group(1)
    try:
        wait_for(lambda: not squeue_states(job), 180, f"job {job} to finish", interval=0.5)
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    for k in (0, 1):
        out = (tmp_path / "logs" / f"snnsim-tune_{job}_{k}.out").read_text()
        err = (tmp_path / "logs" / f"snnsim-tune_{job}_{k}.err").read_text()
        assert "worker exit code 0" in out and f"budget of 3 trials used; worker {k} stops" in err, out + err
    st = status(spec, env, tmp_path)
    assert st["complete"] == [0, 1, 2] and st["pruned"] == st["failed"] == st["running"] == [], st
    for n in range(3):
        ds = results.load(tmp_path / "results" / "tiny" / f"trial-{n}.h5")
        assert int(ds.attrs["trial_number"]) == n
    # each trial names the SLURM job of its worker (an array task's own id), for _ended_slurm_jobs
    named = {t.user_attrs["slurm_job"] for t in tune.study(tune.load(spec), tmp_path / "results", create=False).trials}
    assert 1 <= len(named) <= 2 and all(n.isdigit() and int(n) >= int(job) for n in named), (named, job)


@pytest.mark.slurm
def test_a_trial_of_a_worker_whose_slurm_job_on_another_host_ended_is_recorded_failed(cluster, tmp_path):  # noqa: F811
    """A worker killed on another node (the out-of-memory killer) left its trial running for good:
    this host cannot see that node's processes, so `status` and `merge` never said its worker had
    ended and no worker recorded it, while it counted against the budget. Its trial names its
    SLURM job: once that job has left the queue, it is ended, and the next worker, on any host,
    records it failed; a trial whose job still runs is left to it."""
    from types import SimpleNamespace

    path = tmp_path / "t.toml"
    path.write_text(TINY.format(trials=3, pruner="none").replace("epochs = 2", "epochs = 1"))
    spec, root = tune.load(path), tmp_path / "results"
    env = env_for(root)
    ended = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"], capture_output=True,
                           text=True, check=True, timeout=30).stdout.strip()  # fmt: skip
    live = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 600"], capture_output=True,
                          text=True, check=True, timeout=30).stdout.strip()  # fmt: skip
    try:
        wait_for(lambda: not squeue_states(ended), 120, f"job {ended} to end", interval=0.5)
        wait_for(lambda: squeue_states(live).get(live) == "RUNNING", 120, f"job {live} to run", interval=0.5)
        s = tune.study(spec, root, 0)
        for job in (ended, live):
            t = s.ask()
            t.set_user_attr("worker", f"node07.cluster pid {4198 + t.number}")
            t.set_user_attr("slurm_job", job)
        said = ok(run_here(tune.main, "status", path, env=env, cwd=tmp_path)).stdout
        assert "trial 0 running: its worker (node07.cluster pid 4198) has ended (killed?); the next worker " \
            "(tune run, tune worker) records it failed" in said, said  # fmt: skip
        assert "trial 1 running: its worker" not in said, said
        logged = []
        assert tune.work(spec, root, 0, logged.append) == 0
    finally:
        subprocess.run(["scancel", live], capture_output=True, timeout=30)
    info = tune.summary(spec, root)
    assert info["failed"] == [0] and info["running"] == [1] and info["complete"] == [2], info
    assert logged[0] == "trial 0: recorded failed: its worker (node07.cluster pid 4198) ended while it ran " \
        "(killed: SIGKILL, out of memory?)", logged  # fmt: skip
    # one job asked for, gone from the controller's memory: squeue exits 1, "Invalid job id specified"
    gone = SimpleNamespace(user_attrs={"worker": "node07.cluster pid 1", "slurm_job": "999999999"})
    assert tune._ended_slurm_jobs([gone]) == {"999999999"}


def test_the_users_squeue_defaults_do_not_end_the_trials_of_live_workers(tmp_path, monkeypatch):
    """The user's own ``$SQUEUE_STATES`` (here ``PENDING``, to watch what waits) hid the running
    jobs of live workers on other hosts from ``squeue``: their trials were taken for those of ended
    workers, told ended by ``status`` and recorded failed by the next worker while they trained.
    (An ``squeue`` first on PATH that lists the jobs asked for as running, filtered by
    ``$SQUEUE_STATES`` as SLURM's is, and only with ``--all``, as SLURM's lists jobs of a hidden
    partition; tests above ask a real one.)"""
    from types import SimpleNamespace

    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "squeue"
    # the jobs run in a hidden partition: listed with --all only, as SLURM's squeue lists them
    fake.write_text('#!/bin/sh\ncase "${SQUEUE_STATES:-RUNNING}" in *R*) ;; *) exit 0;; esac\n'
                    'case " $* " in *" --all "*) ;; *) exit 0;; esac\n'
                    'jobs=$(echo " $* " | sed "s/.* -j \\([^ ]*\\) .*/\\1/")\n'
                    'for job in $(echo "$jobs" | tr , " "); do echo "$job|RUNNING"; done\n')  # fmt: skip
    os.chmod(fake, 0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    live = [SimpleNamespace(user_attrs={"worker": f"node07.cluster pid {n}", "slurm_job": str(4000 + n)})
            for n in range(2)]  # fmt: skip
    assert tune._ended_slurm_jobs(live) == set()
    monkeypatch.setenv("SQUEUE_STATES", "PENDING")
    assert tune._ended_slurm_jobs(live) == set()


def test_a_trial_of_a_worker_whose_slurm_job_was_requeued_elsewhere_is_recorded_failed(tmp_path, monkeypatch):
    """A node failure requeues the worker's SLURM job (JobRequeue), and SLURM starts it again with
    the same job id on another node: ``squeue`` says that job runs, so the trial its first attempt
    left running on the failed node was taken for a live worker's, by the restarted worker too,
    and left running for good, counted against the budget. The restarted worker (its
    ``$SLURM_RESTART_COUNT`` past the trial's) knows it is of an earlier attempt and records it
    failed. (An ``squeue`` first on PATH says the job runs, as SLURM's does once it restarted.)"""
    path = tmp_path / "t.toml"
    path.write_text(TINY.format(trials=2, pruner="none").replace("epochs = 2", "epochs = 1"))
    spec, root = tune.load(path), tmp_path / "results"
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "squeue"
    fake.write_text('#!/bin/sh\njobs=$(echo " $* " | sed "s/.* -j \\([^ ]*\\) .*/\\1/")\n'
                    'for job in $(echo "$jobs" | tr , " "); do echo "$job|RUNNING"; done\n')  # fmt: skip
    os.chmod(fake, 0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4000")
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    s = tune.study(spec, root, 0)
    t = s.ask()  # the first attempt's trial, on the node that failed
    t.set_user_attr("worker", "node07.cluster pid 4198")
    t.set_user_attr("slurm_job", "4000")
    assert tune._ended_worker(s.trials[0], tune._ended_slurm_jobs(s.trials)) is None  # a worker of its job: alive
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # the job, requeued, runs again here
    logged = []
    assert tune.work(spec, root, 0, logged.append) == 0
    info = tune.summary(spec, root)
    assert info["failed"] == [0] and info["complete"] == [1] and info["running"] == [], info
    assert logged[0] == "trial 0: recorded failed: its worker (node07.cluster pid 4198) ended while it ran " \
        "(killed: SIGKILL, out of memory?)", logged  # fmt: skip
    # a trial this attempt asked is its own, alive while the job runs
    mine = tune.study(spec, root, create=False).trials[1]
    assert mine.user_attrs["slurm_restart"] == 1 and tune._ended_worker(mine) is None


@pytest.mark.slurm
def test_status_while_submitted_workers_wait_says_so(cluster, tmp_path):  # noqa: F811 - the imported fixture
    """``tune status`` while the workers of ``tune submit`` wait in the queue (no study yet) said
    "not started ... start it with: python -m snnsim.tune run": as if nothing were submitted."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.format(trials=3, pruner="none"))
    env = env_for(tmp_path / "results")
    sub = ok(cli("submit", spec, "--workers", "2", "--sbatch-args=--hold", env=env, cwd=tmp_path, timeout=30))
    job = re.search(r"submitted 2 workers as SLURM array job (\d+)", sub.stdout).group(1)
    try:
        out = ok(cli("status", spec, env=env, cwd=tmp_path, timeout=60)).stdout.splitlines()
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    assert out[1:] == [f"  not started: its workers wait in SLURM (array job {job}: 2 PENDING (JobHeldUser))"], out
    wait_for(lambda: not squeue_states(job), 60, f"job {job} to leave the queue", interval=0.5)
    out = ok(cli("status", spec, env=env, cwd=tmp_path, timeout=60)).stdout.splitlines()
    assert out[1].startswith(f"  not started: the workers of SLURM array job {job} left the queue "), out


@pytest.mark.slurm
def test_status_after_submitted_workers_were_refused_says_so(cluster, tmp_path, bmi_path):  # noqa: F811
    """Workers of ``tune submit`` that each ended without starting the study (its data file removed
    since): ``status`` said "start it with: python -m snnsim.tune run", not that they had ended."""
    import shutil

    data = tmp_path / "data.pkl"
    shutil.copyfile(bmi_path, data)
    spec = tmp_path / "b.toml"
    spec.write_text(f'name = "b"\n[fixed]\nstudy = "bmi"\nmodel = "ann"\ndata = "{data}"\n'
                    "[search]\nlr = { low = 1e-3, high = 1e-2 }\n")  # fmt: skip
    env = env_for(tmp_path / "results")
    sub = ok(cli("submit", spec, "--workers", "2", "--sbatch-args=--hold", env=env, cwd=tmp_path, timeout=30))
    job = re.search(r"as SLURM array job (\d+)", sub.stdout).group(1)
    data.unlink()
    try:
        subprocess.run(["scontrol", "release", job], capture_output=True, timeout=30)
        wait_for(lambda: not squeue_states(job), 120, f"job {job} to leave the queue", interval=0.5)
    finally:
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    assert "no file at" in (tmp_path / "logs" / f"snnsim-tune_{job}_0.err").read_text()
    out = ok(cli("status", spec, env=env, cwd=tmp_path, timeout=60)).stdout.splitlines()
    assert out[1:] == [f"  not started: the workers of SLURM array job {job} left the queue without starting it "
                       f"(cancelled, or refused: logs/snnsim-tune_{job}_K.err where they were submitted says why)"], out  # fmt: skip


def test_merge_of_choices_that_are_lists(tmp_path):
    """``hidden = { choices = [8, [8, 4]] }``: merged, each trial's hidden is a text coordinate as
    a sweep's (``"8"``, ``"8,4"``), and its first layer's weights are the trial's."""
    spec = tmp_path / "layers.toml"
    spec.write_text(TINY.format(trials=3, pruner="none").replace("seed = 0", "seed = 2")
                    .replace("hidden = { low = 4, high = 12, step = 4 }", "hidden = { choices = [8, [8, 4]] }")
                    .replace("batch_size = 16", 'batch_size = 16\nneuron = "standard"'))  # fmt: skip
    env, root = env_for(tmp_path / "results"), tmp_path / "results"
    ok(here("run", spec, env=env, cwd=tmp_path))
    ok(here("merge", spec, env=env, cwd=tmp_path))
    merged = results.load(root / "tiny.h5")
    texts = []
    for n in merged.trial.values:
        trial = results.load(root / "tiny" / f"trial-{n}.h5")
        hidden = json.loads(trial.attrs["trial_params"])["hidden"]
        texts.append(",".join(map(str, hidden)) if isinstance(hidden, list) else str(hidden))
        np.testing.assert_array_equal(merged.sel(trial=n).w1.isel(hidden_unit=slice(0, 8)).values, trial.w1.values)
    assert merged.hidden.values.tolist() == texts and set(texts) == {"8", "8,4"}


def test_a_merge_gives_the_searched_settings_their_units(tmp_path):
    """Merged, a searched duration (``tau``) is a coordinate in seconds with ``units = "s"``, as a
    sweep's merge gives it (and ``lr`` ``"1"``), as xarray opens the file; it had no units."""
    spec = tmp_path / "units.toml"
    spec.write_text(TINY.format(trials=2, pruner="none").replace("hidden = { low = 4, high = 12, step = 4 }\n", ""))
    env, root = env_for(tmp_path / "results"), tmp_path / "results"
    ok(here("run", spec, env=env, cwd=tmp_path))
    ok(here("merge", spec, env=env, cwd=tmp_path))
    with xr.open_dataset(root / "tiny.h5", engine="h5netcdf") as merged:
        assert (merged.tau.values >= 0.005).all() and (merged.tau.values <= 0.02).all()
        assert {k: merged[k].attrs.get("units") for k in ("tau", "lr")} == {"tau": "s", "lr": "1"}


def test_sigterm_to_run_with_workers_stops_them(tmp_path):
    """``tune run -j 2`` stopped by SIGTERM (scancel, kill) passes it on: both workers mark
    their trials stopped (not counted) and exit; nothing keeps training as an orphan."""
    import signal
    import time

    spec = tmp_path / "long.toml"
    spec.write_text(TINY.format(trials=4, pruner="none").replace("epochs = 2", "epochs = 5000"))
    env, root = env_for(tmp_path / "results"), tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "snnsim.tune", "run", "-j", "2", str(spec)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    loaded = tune.load(spec)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            assert proc.poll() is None, proc.communicate()
            if (root / "tiny").is_dir() and len(tune.summary(loaded, root)["running"]) == 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the two workers did not start their trials")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "tiny: stopped by SIGTERM; the workers were stopped too" in err
    info = tune.summary(loaded, root)
    assert info["running"] == [] and len(info["stopped"]) == 2, info


def test_run_with_workers_stopped_by_a_signal_whose_raise_a_finalizer_swallowed(tmp_path, monkeypatch):
    """``tune run -j 2`` waiting on its workers, whose SIGTERM is handled while a finalizer
    (``__del__``) runs (here: once worker 0 has ended): Python prints the raised stop as
    "Exception ignored" and drops it, and every later stop signal is ignored. The run waited for
    every worker to end; it stops now as after any SIGTERM: worker 1 (which waits 30 s as its
    interpreter starts, a sitecustomize on its PYTHONPATH) is stopped too, and the run exits 143."""
    import signal
    import time

    from snnsim.cli import Interrupted

    wait, lost = subprocess.Popen.wait, []

    def waited(self, timeout=None):
        code = wait(self, timeout)
        if code == 0 and not lost:  # worker 0 ended: the stop is raised inside __del__
            StopInFinalizer()
        return code

    monkeypatch.setattr(subprocess.Popen, "wait", waited)
    monkeypatch.setattr(sys, "unraisablehook", lost.append)
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.format(trials=2, pruner="none").replace("epochs = 2", "epochs = 1"))
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys, time\n"  # python -m snnsim.tune worker SPEC: argv is ['-m', 'worker', SPEC]
        "if sys.argv[:2] == ['-m', 'worker']:\n"
        "    time.sleep(30) if os.environ['SLURM_ARRAY_TASK_ID'] == '1' else os._exit(0)\n"
    )
    env = env_for(tmp_path / "results")
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    start = time.monotonic()
    proc = here("run", "-j", "2", spec, env=env, cwd=tmp_path)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stdout + proc.stderr
    assert [type(u.exc_value) for u in lost] == [Interrupted]  # the raise was lost where it landed
    assert "tiny: stopped by SIGTERM; the workers were stopped too" in proc.stderr, proc.stderr
    assert time.monotonic() - start < 25  # worker 1 did not wait out its 30 s


def test_run_of_several_workers_shows_the_trials_done_on_a_terminal(tmp_path):
    """``tune run -j 2``: the workers log to their files, and the terminal showed nothing until
    the end (40 trials of minutes each: an hour without a word), where ``-j 1`` says a line per
    trial. A bar counts the trials done on a terminal and is cleared before the status line;
    a log (stderr not a terminal) gets no bar."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.format(trials=3, pruner="none"))
    env = env_for(tmp_path / "results")
    cmd = [sys.executable, "-m", "snnsim.tune", "run", "-j", "2", str(spec)]
    code, out, shown = on_a_terminal(cmd, env=env, cwd=tmp_path)
    assert code == 0 and out.startswith("tiny: budget 3; complete 3"), (out, shown)
    assert "tiny:" in shown and "/3 [" in shown and "trial" in shown, shown
    # then a bar of the trial files checked for the status line (each verified: seconds for hundreds)
    assert shown.find("/3 [") < shown.find("tiny: checking trial files"), shown
    assert not shown.replace("\r\n", "\n").split("\r")[-1].strip(), shown  # the bar's line is clear
    spec.write_text(TINY.format(trials=5, pruner="none"))  # two more, with stderr in a log
    proc = ok(cli("run", "-j", "2", spec, env=env, cwd=tmp_path))
    assert proc.stdout.startswith("tiny: budget 5; complete 5") and proc.stderr == "", proc.stderr


def test_merge_shows_the_trial_files_read_on_a_terminal(tmp_path):
    """``tune merge`` read every trial file (a second or more each, on a loaded machine: minutes
    for hundreds) without a word, where ``sweep merge`` shows a bar of the job files read. The
    same bar now, on a terminal only, cleared before the merged file's line."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.format(trials=2, pruner="none"))
    env = env_for(tmp_path / "results")
    ok(here("run", spec, env=env, cwd=tmp_path))
    code, out, shown = on_a_terminal([sys.executable, "-m", "snnsim.tune", "merge", str(spec)], env=env, cwd=tmp_path)
    assert code == 0 and "tiny" in out, (out, shown)
    assert "tiny: reading trial files" in shown and "/2 [" in shown, shown
    bars = shown.split("tiny: combining")[0]  # the bar's line is clear before the line of the combining
    assert not bars.replace("\r\n", "\n").split("\r")[-1].strip(), shown
    assert ok(here("merge", spec, env=env, cwd=tmp_path)).stderr == ""  # a log (in this process): no bar


def test_commands_that_check_every_trial_file_show_a_bar_on_a_terminal(tmp_path):
    """``tune status``, ``best`` and ``merge`` read (``status`` and ``best``: verify) every trial
    file before a word, as ``sweep status`` its job files, and ``merge`` combined the trials and
    wrote the merged file after its bar without one. A terminal shows a bar of the trial files
    checked (cleared, before ``merge``'s bar of those read) and ``merge`` one line for the
    combining and the write; a log (stderr not a terminal) gets none of them."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.format(trials=2, pruner="none"))
    env = env_for(tmp_path / "results")
    ok(here("run", spec, env=env, cwd=tmp_path))
    merged = tmp_path / "results" / "tiny.h5"
    for args in (["status"], ["best", "--out", str(tmp_path / "best.toml")], ["merge"]):
        cmd = [sys.executable, "-m", "snnsim.tune", args[0], str(spec), *args[1:]]
        code, out, shown = on_a_terminal(cmd, env=env, cwd=tmp_path)
        assert code == 0, (args, out, shown)
        checked = shown.find("tiny: checking trial files")
        assert checked >= 0 and "/2 [" in shown[checked:], (args, shown)
        bars = shown.split("tiny: combining")[0]  # merge: the bars' line is clear before its line
        assert not bars.replace("\r\n", "\n").split("\r")[-1].strip(), (args, shown)
    read = shown.find("tiny: reading trial files")
    line = shown.find(f"tiny: combining 2 trials and writing {merged}\r\n")
    assert 0 <= checked < read < line and shown.endswith("\r\n"), shown
    for args in (["status"], ["merge"]):  # a log (in this process): no bar, no line
        assert ok(here(*args, spec, env=env, cwd=tmp_path)).stderr == "", args


def test_a_stop_while_a_finished_trial_is_recorded_waits_for_the_record(tmp_path, monkeypatch):
    """A real SIGTERM sent at the moment the worker tells Optuna a finished trial's value (its
    file written): the trial is recorded complete, not left running for good, then the worker stops."""
    import signal

    import optuna

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2"))
    spec, root = tune.load(path), tmp_path / "results"
    tell = optuna.study.Study.tell

    def signalled_tell(self, trial, values=None, state=None, skip_if_finished=False):
        if values is not None:
            os.kill(os.getpid(), signal.SIGTERM)
        return tell(self, trial, values, state, skip_if_finished)

    monkeypatch.setattr(optuna.study.Study, "tell", signalled_tell)
    messages = []
    assert tune.work(spec, root, 0, messages.append) == 128 + signal.SIGTERM
    assert messages[-1].startswith("trial 0: val_acc = ") and messages[-1].endswith("recorded; then stopped by SIGTERM")
    info = tune.summary(spec, root)
    assert info["complete"] == [0] and info["running"] == [], info
    assert tune.trial_path(spec, 0, root).exists()


def test_a_stop_once_the_trial_file_is_in_place_records_the_trial_complete(tmp_path, monkeypatch):
    """A real SIGTERM (scancel, or SLURM's USR1 at the time limit) that arrives once a trial's file
    is in place, before its value is told (here: while the file's folder is synced): the trial
    was recorded ``stopped``, not counted, though its file was written, and a later worker ran
    another trial in its place; its file was merged by none. It is recorded complete now, then
    the worker stops."""
    import signal

    from snnsim import atomic_write

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2"))
    spec, root = tune.load(path), tmp_path / "results"
    sync = atomic_write._sync_folder

    def signalled_sync(folder):
        if tune.trial_path(spec, 0, root).exists():
            os.kill(os.getpid(), signal.SIGTERM)
        return sync(folder)

    monkeypatch.setattr(atomic_write, "_sync_folder", signalled_sync)
    messages = []
    assert tune.work(spec, root, 0, messages.append) == 128 + signal.SIGTERM
    assert messages[-1].startswith("trial 0: val_acc = ") and messages[-1].endswith("recorded; then stopped by SIGTERM")
    info = tune.summary(spec, root)
    assert info["complete"] == [0] and info["stopped"] == [] and info["running"] == [], info


def test_a_stop_whose_raise_a_finalizer_swallowed_between_trials_stops_the_worker(tmp_path, monkeypatch):
    """SIGTERM handled while a finalizer (``__del__``) runs between two trials (here: as the
    finished trial is logged): Python prints the raised stop as "Exception ignored" and drops it,
    and every later stop signal is ignored. The worker asked the next trial and trained it; it
    stops before asking one now (exit 143), the finished trial recorded complete."""
    import signal

    from snnsim.cli import Interrupted

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "3"))
    spec, root = tune.load(path), tmp_path / "results"
    messages, lost = [], []

    def log(message: str) -> None:
        messages.append(message)
        if message.startswith("trial 0: "):
            StopInFinalizer()  # made and finalized here: the stop is raised inside __del__

    monkeypatch.setattr(sys, "unraisablehook", lost.append)
    assert tune.work(spec, root, 0, log) == 128 + signal.SIGTERM, messages
    assert [type(u.exc_value) for u in lost] == [Interrupted]  # the raise was lost where it landed
    assert messages[-1] == "worker 0: stopped by SIGTERM before its next trial", messages
    info = tune.summary(spec, root)
    assert info["complete"] == [0] and info["running"] == [] and info["stopped"] == [], info
    assert not tune.trial_path(spec, 1, root).exists()


def test_durations_given_as_bare_numbers_are_noted(tmp_path, capsys):
    """A spec's bare durations (seconds) in [fixed] and in a [search] range or choices are named
    in one note, as ``snnsim.run --config`` names a run's; the spec's own (with units) are not."""
    path = tmp_path / "tiny.toml"
    text = TINY.format(trials=2, pruner="none").replace('high = "20ms"', "high = 0.02")
    text = text.replace("[search]", 'neuron = "standard"\nduration = 0.1\n\n[search]')
    path.write_text(text + 'tau_adapt = { choices = ["50ms", 0.1] }\n')
    assert tune.main(["--results-dir", str(tmp_path / "r"), "status", str(path)]) == 0
    err = capsys.readouterr().err.strip()
    assert err == (f"snnsim.tune: note: {path} gives fixed.duration = 0.1, search.tau = {{'low': '5ms', 'high': 0.02}}, "
                   "search.tau_adapt = {'choices': ['50ms', 0.1]} without a unit: read as seconds (e.g. \"20ms\" for "
                   "milliseconds)")  # fmt: skip
    path.write_text(TINY.format(trials=2, pruner="none"))
    assert tune.main(["--results-dir", str(tmp_path / "r2"), "status", str(path)]) == 0
    assert "note" not in capsys.readouterr().err


def test_best_never_writes_over_the_spec_or_the_study(tmp_path, capsys):
    """``best --out`` with ``--overwrite`` refuses the spec itself, the study's own files and a
    folder, in one line (exit 2), and leaves them as they were."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1"))
    spec, root = tune.load(path), tmp_path / "results"
    assert tune.work(spec, root, 0, lambda message: None) == 0
    trial = tune.trial_path(spec, 0, root)
    merged = tune.merge(spec, root)  # RESULTS/learns.h5, beside the study's folder: it was replaced with TOML
    before = {p: p.read_bytes() for p in (path, trial, merged)}
    (tmp_path / "folder").mkdir()
    for out, reason in [(path, f"--out: {path} is the tuning spec; write to another file"),
                        (trial, f"--out: {trial} is in the study's folder {tune.folder(spec, root).resolve()}"),
                        (merged, f"--out: {merged} is a result file (HDF5); best writes a TOML config: give "
                                 "another name, such as best.toml"),
                        (tmp_path / "folder", "is a folder; give a file name such as")]:  # fmt: skip
        code = tune.main(["--results-dir", str(root), "best", str(path), "--out", str(out), "--overwrite"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and reason in err[0], (code, err)
    assert {p: p.read_bytes() for p in before} == before
    assert tune.main(["--results-dir", str(root), "best", str(path), "--out", str(tmp_path / "best.toml")]) == 0


def test_best_refuses_an_out_named_as_another_format(tmp_path, capsys):
    """``best --out best.h5`` wrote TOML under an HDF5 name, which ``snnsim.run --config`` then
    refused as "a TOML file, not a result file (HDF5)"; ``best.json`` the same. Refused in one line
    (exit 2) before anything is written, naming a ``.toml`` name to give."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1"))
    spec, root = tune.load(path), tmp_path / "results"
    assert tune.work(spec, root, 0, lambda message: None) == 0
    capsys.readouterr()
    for name, kind in (("best.h5", "an HDF5"), ("best.json", "a JSON")):
        code = tune.main(["--results-dir", str(root), "best", str(path), "--out", str(tmp_path / name)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and err == [f"snnsim.tune: error: --out: {tmp_path / name} names {kind} file, but best "
                                     f"writes a TOML config; give a name such as {tmp_path / 'best.toml'}"], err  # fmt: skip
        assert not (tmp_path / name).exists()


def test_best_files_name_the_trial_file_versions_and_data_that_made_it(tmp_path, bmi_path):
    """``tune best`` wrote the config and the score alone: a best.toml passed on named neither the
    trial's result file, nor the snnsim (numerics), libraries and Optuna that made it, nor the
    SHA-256 of the data it was scored on, so a rerun on other versions or a changed data file
    could not be told from the trial. Its header names them now, from the trial's file."""
    import shutil

    shutil.copyfile(bmi_path, tmp_path / "data.pkl")
    path = tmp_path / "b.toml"
    path.write_text('name = "b"\ntrials = 1\nsampler = "random"\npruner = "none"\n[fixed]\nstudy = "bmi"\n'
                    'model = "ann"\nepochs = 1\nhidden = 4\nn_train_folds = 1\ndata = "data.pkl"\n'
                    "[search]\nlr = { low = 1e-3, high = 1e-2 }\n")  # fmt: skip
    env, root = env_for(tmp_path / "results"), tmp_path / "results"
    ok(here("run", path, env=env, cwd=tmp_path))
    ok(here("best", path, "--out", tmp_path / "best.toml", env=env, cwd=tmp_path))
    attrs = results.load(tune.trial_path(tune.load(path), 0, root)).attrs
    header = [line for line in (tmp_path / "best.toml").read_text().splitlines() if line.startswith("#")]
    versions = json.loads(attrs["versions"])
    assert header[1] == f"# its result file: {tune.trial_path(tune.load(path), 0, root).resolve()}"
    assert header[2] == (f"# made with snnsim {versions['snnsim']} (numerics version {results.NUMERICS_VERSION}), "
                         f"torch {versions['torch']}, snntorch {versions['snntorch']}, norse {versions['norse']}, "
                         f"numpy {versions['numpy']}, optuna {attrs['optuna_version']}")  # fmt: skip
    assert header[3] == f"# data_file_sha256 = {attrs['data_file_sha256']}"
    assert header[-1] == f"# run it: python -m snnsim.run --config {tmp_path / 'best.toml'}"


def test_the_median_pruner_never_prunes_a_first_epoch(tmp_path):
    """Epochs are reported from 1: after 3 complete trials, a trial below their median is pruned
    from its second epoch, not in its first (Optuna's warm-up counts steps)."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(trials=8, pruner="median"))
    s = tune.study(tune.load(path), tmp_path / "results")
    for _ in range(3):
        done = s.ask()
        for epoch in (1, 2):
            done.report(50.0, epoch)
        s.tell(done, 50.0)
    trial = s.ask()
    trial.report(1.0, 1)
    assert not trial.should_prune()
    trial.report(1.0, 2)
    assert trial.should_prune()


def test_best_files_give_every_duration_with_a_unit(tmp_path):
    """``tune best`` writes durations and spans (``tau_syn``, ``tau_adapt``; 0: off) with units, so
    ``snnsim.run --config`` reads them back exactly and has no bare number to note."""
    from snnsim.config import RunConfig
    from snnsim.run import build_parser, config_file, unit_note

    cfg = RunConfig(backend="norse", neuron="standard", tau=0.002, tau_syn=0.005, tau_adapt=0.05, delays="fixed",
                    max_delay=0.011)  # fmt: skip
    text = tune.to_toml(cfg, "best trial")
    assert 'tau_syn = "5ms"' in text and 'tau_adapt = "50ms"' in text and 'tau = "2ms"' in text
    assert "recurrent = false" in text and "# best trial" in text
    path = tmp_path / "best.toml"
    path.write_text(text)
    settings = config_file(path)
    assert RunConfig.from_dict(settings) == cfg
    assert unit_note(settings, build_parser().parse_args(["--config", str(path)])) is None


def _one_trial_study(tmp_path):
    """A study of one completed trial: (spec path, spec, results root, env, its journal)."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    spec, root = tune.load(path), tmp_path / "results"
    assert tune.work(spec, root, 0, lambda message: None) == 0
    return path, spec, root, env_for(root), tune.folder(spec, root) / "optuna.journal"


def test_one_trial_is_counted_in_the_singular(tmp_path):
    """A study of one trial said "budget of 1 trials used" (the worker's log) and "merged 1 trials"."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    spec, root, messages = tune.load(path), tmp_path / "results", []
    assert tune.work(spec, root, 0, messages.append) == 0
    assert messages[-1].endswith(": budget of 1 trial used; worker 0 stops"), messages
    out = ok(here("merge", path, env=env_for(root), cwd=tmp_path)).stdout
    assert out == f"learns: merged 1 trial into {root / 'learns.h5'}\n", out


def test_a_journal_cut_short_or_damaged(tmp_path):
    """A journal whose last record was cut short (a worker killed, or a full disk, while it wrote):
    the next worker appended to the unfinished line and left the whole journal unreadable (every
    command a traceback). It is cut back to its last whole record, and the study goes on. A
    journal that is no journal is refused in one line (exit 2) and left as it was."""
    path, spec, root, env, journal = _one_trial_study(tmp_path)
    whole = journal.read_bytes()
    journal.write_bytes(whole + whole.splitlines(keepends=True)[-1][:40])  # a record cut short
    path.write_text(path.read_text().replace("trials = 1", "trials = 2"))
    run = ok(here("run", path, env=env, cwd=tmp_path))
    assert f"snnsim.tune: note: {journal}: dropped an unfinished last record (40 bytes" in run.stderr
    st = status(path, env, tmp_path)
    assert st["complete"] == [0, 2] and st["running"] == st["failed"] == [], st  # 1: the ask past the budget
    assert journal.read_bytes().startswith(whole)
    for damage in (b"hello\n", b"\xff\xfe not a record"):
        journal.write_bytes(whole + damage)
        for command in ("run", "status"):
            first = damage == b"hello\n" and command == "run"  # in a process of its own; the others in this one
            line = one_line_error((cli if first else here)(command, path, env=env, cwd=tmp_path))
            assert line.startswith(f"snnsim.tune: error: {journal}: damaged, not an Optuna journal"), line
            assert journal.read_bytes() == whole + damage


@pytest.mark.parametrize("values", ['"x",10.9', "1.0,2.0", '"x"'])
def test_a_journal_whose_trial_values_are_of_another_type_is_damaged(tmp_path, values):
    """A journal damaged into valid JSON whose trial value is no number (or two numbers, as a
    multi-objective study's): ``status`` ended on Optuna's traceback ("This attribute is not
    available during multi-objective optimization"). It is refused as a damaged journal, in one
    line, and left as it was."""
    path, spec, root, env, journal = _one_trial_study(tmp_path)
    damaged = re.sub(rb'"values":\[[^\]]+\]', b'"values":[' + values.encode() + b"]", journal.read_bytes(), count=1)
    assert damaged != journal.read_bytes()
    journal.write_bytes(damaged)
    for command in ("status", "merge", "run"):  # the first case in processes of their own, the others in this one
        line = one_line_error((cli if values == '"x",10.9' else here)(command, path, env=env, cwd=tmp_path))
        assert line.startswith(f"snnsim.tune: error: {journal}: damaged, not an Optuna journal"), line
        assert "trial 0" in line, line
        assert journal.read_bytes() == damaged


def test_status_best_and_merge_only_read_the_journal(tmp_path):
    """``status``, ``best`` and ``merge`` read the study: each appended a record to its journal
    (Optuna's create_study), so they needed its lock (30 s of waiting and lock warnings after a
    worker was killed holding it) and write access to the study's folder."""
    path, spec, root, env, journal = _one_trial_study(tmp_path)
    before = journal.read_bytes()
    lock = Path(f"{journal}.lock")
    lock.write_text("")  # a worker killed (-9) while it held the lock
    assert status(path, env, tmp_path)["complete"] == [0]
    for args in (("best", path, "--out", tmp_path / "best.toml"), ("merge", path)):  # in this process: timed here
        started = time.monotonic()
        ok(here(*args, env=env, cwd=tmp_path))
        assert time.monotonic() - started < 20, f"{args[0]} waited for the lock"
    assert journal.read_bytes() == before


def test_merge_lists_the_trials_that_wrote_no_file(tmp_path):
    """A pruned trial (and any failed or stopped one) left no trace in the merged file: its
    parameters and scores were only in the journal. They are listed in ``unmerged_trials``."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "5"))
    spec, root = tune.load(path), tmp_path / "results"
    for lr in (1e-2, 1e-2, 1e-2, 1e-6, 1e-2):
        tune.study(spec, root).enqueue_trial({"lr": lr})
    assert tune.work(spec, root, 0, lambda message: None) == 0
    merged = results.load(tune.merge(spec, root))
    assert merged.trial.values.tolist() == [0, 1, 2, 4]
    pruned = tune.study(spec, root, create=False).trials[3]
    assert json.loads(merged.attrs["unmerged_trials"]) == [
        {"number": 3, "state": "pruned", "params": {"lr": 1e-6},
         "epoch_values": {str(k): v for k, v in pruned.intermediate_values.items()}}
    ]  # fmt: skip
    assert pruned.intermediate_values  # it reported an epoch before it was pruned


@pytest.mark.parametrize("moment", ["ask", "pruned"])
def test_a_stop_while_a_trial_is_asked_or_recorded_pruned_leaves_none_running(tmp_path, monkeypatch, moment):
    """A real SIGTERM at the moment a worker checks a new trial against the budget, or records a
    pruned trial: the trial was left "running" for good (counted against the budget, listed as
    running by status) and the worker ended on an uncaught stop. Now it is stopped or pruned."""
    import signal

    import optuna

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "5"))
    spec, root = tune.load(path), tmp_path / "results"
    if moment == "ask":
        used = tune._used

        def signalled_used(*args):
            os.kill(os.getpid(), signal.SIGTERM)
            return used(*args)

        monkeypatch.setattr(tune, "_used", signalled_used)
    else:
        for lr in (1e-2, 1e-2, 1e-2, 1e-6):
            tune.study(spec, root).enqueue_trial({"lr": lr})
        tell = optuna.study.Study.tell

        def signalled_tell(self, trial, values=None, state=None, skip_if_finished=False):
            if state == optuna.trial.TrialState.PRUNED:
                os.kill(os.getpid(), signal.SIGTERM)
            return tell(self, trial, values, state, skip_if_finished)

        monkeypatch.setattr(optuna.study.Study, "tell", signalled_tell)
    assert tune.work(spec, root, 0, lambda message: None) == 128 + signal.SIGTERM
    info = tune.summary(spec, root)
    assert info["running"] == [], info
    assert (info["stopped"], info["pruned"]) == (([0], []) if moment == "ask" else ([], [3])), info


def test_run_with_a_worker_killed_does_not_exit_0(tmp_path):
    """``tune run -j 2`` whose worker is killed by SIGKILL (the out-of-memory killer, kill -9):
    Popen's return code -9 ranked below 0 in max(), so the run exited 0 as if all went well."""
    import signal
    import time

    if not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        pytest.skip("finds the workers through Linux's /proc/PID/task/PID/children")
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.format(trials=2, pruner="none").replace("epochs = 2", "epochs = 1"))
    env = env_for(tmp_path / "results")
    proc = subprocess.Popen([sys.executable, "-m", "snnsim.tune", "run", "-j", "2", str(spec)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        children, end = [], time.monotonic() + 60
        while len(children) < 2 and time.monotonic() < end:
            time.sleep(0.05)
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 2, "the two workers did not start"
        os.kill(int(children[0]), signal.SIGKILL)
    finally:
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 128 + signal.SIGKILL, (proc.returncode, out, err)
    assert f"tiny: worker 0 was killed by SIGKILL (its log: {tmp_path / 'results' / 'tiny' / 'logs' / 'worker-0.log'})" \
        in err, err  # fmt: skip


def test_a_data_file_changed_between_workers_is_refused(tmp_path, bmi_path):
    """A study whose BMI data file was replaced between two runs of its workers went on: its
    trials trained on two data sets, the pruner and ``best`` compared them. The study remembers
    the file's SHA-256, and a worker that finds it changed is refused in one line."""
    import shutil

    data = tmp_path / "data.pkl"
    shutil.copyfile(bmi_path, data)
    path = tmp_path / "b.toml"
    text = ('name = "b"\ntrials = {trials}\nsampler = "random"\npruner = "none"\n[fixed]\nstudy = "bmi"\nmodel = "ann"\n'
            'epochs = 1\nhidden = 4\nn_train_folds = 1\ndata = "data.pkl"\n[search]\nlr = { low = 1e-3, high = 1e-2 }\n')  # fmt: skip
    path.write_text(text.replace("{trials}", "1"))
    env = env_for(tmp_path / "results")
    ok(here("run", path, env=env, cwd=tmp_path))
    path.write_text(text.replace("{trials}", "2"))
    data.write_bytes(data.read_bytes() + b"\n")  # another file: a different data set would do the same
    journal = tmp_path / "results" / "b" / "optuna.journal"
    before = journal.read_bytes()
    line = one_line_error(cli("run", path, env=env, cwd=tmp_path))
    assert "data file data.pkl changed since (SHA-256" in line and "restore that file" in line, line
    assert journal.read_bytes() == before
    # with workers: each was refused in its log, and `run` printed the status and exit 2 without a word of why
    assert one_line_error(here("run", path, "-j", "2", env=env, cwd=tmp_path)) == line
    assert journal.read_bytes() == before
    st = status(path, env, tmp_path)  # status still reads it: its trial is stale, as a sweep's job would be
    assert st["complete"] == [] and st["stale"] == [0] and "data file data.pkl changed since" in st["reasons"]["0"]
    shutil.copyfile(bmi_path, data)  # the file restored: the study goes on
    ok(here("run", path, env=env, cwd=tmp_path))
    assert status(path, env, tmp_path)["complete"] == [0, 2]  # 1: the ask past the first budget


def test_a_trial_file_names_the_optuna_that_chose_its_settings(tmp_path):
    """A trial's result file carries, beside snnsim's and the computing libraries' versions, the
    version of Optuna whose sampler chose its settings (and whose pruner let it finish)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    spec = tune.load(path)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    trial = study.ask()
    tune.run_trial(spec, trial, tmp_path)
    attrs = results.load(tune.trial_path(spec, trial.number, tmp_path)).attrs
    assert attrs["optuna_version"] == optuna.__version__
    assert json.loads(attrs["versions"])["torch"] and int(attrs["seed"]) == json.loads(attrs["config"])["seed"]


def test_a_tune_merge_keeps_the_versions_that_made_the_trials(tmp_path):
    """The merged file's ``snnsim_version`` and ``optuna_version`` are those that made the trials,
    by trial where they differ, never the merger's (which is in ``merged_with``)."""
    import optuna

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2").replace("epochs = 2", "epochs = 1"))
    spec = tune.load(path)
    root = tmp_path / "results"
    assert tune.work(spec, root, 0, lambda message: None) == 0
    for n, (snnsim, made_with) in enumerate([("0.3.0.dev1", "4.1.0"), ("0.3.0.dev1", "4.2.0")]):
        ds = results.load(tune.trial_path(spec, n, root))
        ds.attrs.update({"snnsim_version": snnsim, "optuna_version": made_with})
        results.write(ds, tune.trial_path(spec, n, root), overwrite=True)
    merged = results.load(tune.merge(spec, root))
    assert merged.attrs["snnsim_version"] == "0.3.0.dev1" and "optuna_version" not in merged.attrs
    by_trial = {e["trials"]: e["optuna_version"] for e in json.loads(merged.attrs["optuna_version_by_trial"])}
    assert by_trial == {"0": "4.1.0", "1": "4.2.0"}
    assert json.loads(merged.attrs["merged_with"]) == {**results.library_versions(), "optuna": optuna.__version__}


def test_a_study_records_the_versions_of_its_trials_result_files(tmp_path):
    """The journal's ``made_with``, a trial file's ``optuna_version`` and a merge's
    ``merged_with`` come from one function (:func:`tune.versions`), whose libraries are those
    of a run's result file (``versions``), with Optuna's beside them."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    spec = tune.load(path)
    root = tmp_path / "results"
    assert tune.work(spec, root, 0, lambda message: None) == 0
    trial = results.load(tune.trial_path(spec, 0, root)).attrs
    made_with = json.loads(tune.study(spec, root, create=False).user_attrs["made_with"])
    merged_with = json.loads(results.load(tune.merge(spec, root)).attrs["merged_with"])
    recorded = {**json.loads(trial["versions"]), "optuna": trial["optuna_version"]}
    assert made_with == {**recorded, "numerics_version": int(trial["numerics_version"])}
    assert merged_with == recorded == tune.versions()
    assert set(recorded) == {"python", "snnsim", "torch", "snntorch", "norse", "numpy", "xarray", "h5py", "h5netcdf",
                             "optuna"}  # fmt: skip


def test_the_journal_names_the_versions_and_seed_of_the_study(tmp_path):
    """The study's attributes in its journal hold, beside the space (``[fixed]`` and ``[search]``),
    the sampler's seed and the versions of snnsim (and its numerics), the libraries and Optuna of
    the worker that made it: the journal alone says what ran the search."""
    import optuna

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("pruner", "seed = 5\npruner"))
    spec = tune.load(path)
    root = tmp_path / "results"
    tune.study(spec, root)
    attrs = tune.study(spec, root, create=False).user_attrs  # read back from the journal
    assert attrs["seed"] == 5
    assert json.loads(attrs["made_with"]) == {**results.library_versions(), "optuna": optuna.__version__,
                                              "numerics_version": results.NUMERICS_VERSION}  # fmt: skip


@pytest.mark.parametrize("damage", ["not a trial file", "another trial's file"])
def test_merge_refuses_a_trial_file_that_is_not_the_trial(tmp_path, damage):
    """A trial's file replaced by a run's result file (no trial attributes) made ``merge`` a
    KeyError traceback; by another trial's file, a ValueError from inside the stacking. Each is
    now one line naming the file, and the merged file already there is left as it was."""
    path, spec, root, env, _ = _one_trial_study(tmp_path)
    merged = ok(here("merge", path, env=env, cwd=tmp_path)) and root / "learns.h5"
    before = merged.read_bytes()
    trial = tune.trial_path(spec, 0, root)
    ds = results.load(trial)
    if damage == "not a trial file":
        for key in ("trial_number", "trial_params", "objective", "objective_value", "tune_spec"):
            del ds.attrs[key]
    else:
        ds.attrs["trial_number"] = 1
    results.write(ds, trial, overwrite=True)
    proc = (cli if damage == "not a trial file" else here)("merge", path, env=env, cwd=tmp_path)  # the first: a process
    line = one_line_error(proc)
    expected = "is not a trial file of learns" if damage == "not a trial file" else "holds trial 1, not trial 0"
    assert line.startswith(f"snnsim.tune: error: {trial}: "), line
    assert expected in line, line
    assert merged.read_bytes() == before


def test_status_names_a_damaged_trial_file(tmp_path):
    """A completed trial whose file was cut short, or whose arrays changed after writing, was
    counted complete by ``status``, which ``merge`` then refused as not a readable result file.
    ``status`` says it is damaged and why, as a sweep's corrupt job."""
    import h5py

    path, spec, root, env, _ = _one_trial_study(tmp_path)
    trial = tune.trial_path(spec, 0, root)
    whole = trial.read_bytes()
    trial.write_bytes(whole[:3000])
    st = status(path, env, tmp_path)
    assert st["complete"] == [] and st["damaged"] == [0] and st["stale"] == [], st
    assert st["damage"]["0"].startswith(f"{trial}: cut short (3,000 of its "), st  # as load says it
    text = ok(here("status", path, env=env, cwd=tmp_path)).stdout
    assert "complete 0  running 0  pruned 0  failed 0  stopped 0  damaged 1\n" in text, text
    assert f"\n  trial 0 damaged: {trial}: cut short (3,000 of its " in text, text
    line = one_line_error(here("merge", path, "--allow-missing", env=env, cwd=tmp_path))
    assert line.endswith("learns: no completed trial to merge (the file of trial 0 is gone or damaged)"), line
    trial.write_bytes(whole)
    with h5py.File(trial, "r+") as f:
        f["loss"][...] = f["loss"][...] + 1
    st = status(path, env, tmp_path)
    assert st["damaged"] == [0] and st["damage"]["0"] == f"{trial}: data damaged after writing (checksum mismatch)"
    trial.unlink()
    trial.write_bytes(whole)
    assert status(path, env, tmp_path)["complete"] == [0]


def test_merge_into_a_read_only_results_folder_is_bad_input_as_for_sweep_merge(tmp_path):
    """A results folder that cannot be written: ``merge`` read and merged every trial, then exited
    5 (a result lost at writing time), where ``sweep merge`` into it exits 2 before reading any
    job. It is checked before the trials are read now: one line naming --results-dir, exit 2."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    spec = tune.load(path)
    with mounted_tmpfs(tmp_path / "results", "1m") as root:
        assert tune.work(spec, root, 0, lambda message: None) == 0
        subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        line = one_line_error(here("merge", path, env=env_for(root), cwd=tmp_path))
        assert line == f"snnsim.tune: error: --results-dir: cannot write in {root}: Read-only file system", line
        assert sorted(os.listdir(root)) == ["learns"]


def test_merge_with_allow_missing_leaves_out_a_damaged_trial_file(tmp_path):
    """A trial's file cut short (a disk restored from a broken copy): ``merge`` refused it in one
    line, and so did ``merge --allow-missing``, which leaves out a sweep's corrupt jobs: no merge of
    the other trials could be made while the file was there. The refusal now says that
    ``--allow-missing`` leaves the trial out, and that merge lists it in ``missing``."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2"))
    spec, root = tune.load(path), tmp_path / "results"
    assert tune.work(spec, root, 0, lambda message: None) == 0
    env = env_for(root)
    trial = tune.trial_path(spec, 1, root)
    trial.write_bytes(trial.read_bytes()[:3000])
    line = one_line_error(cli("merge", path, env=env, cwd=tmp_path))
    assert line.startswith(f"snnsim.tune: error: {trial} is not a readable result file"), line
    assert line.endswith("merge with --allow-missing to leave trial 1 out"), line
    assert not (root / "learns.h5").exists()
    out = ok(run_here(tune.main, "merge", path, "--allow-missing", env=env, cwd=tmp_path)).stdout
    assert out.startswith(f"learns: merged 1 trial into {root / 'learns.h5'}"), out
    merged = results.load(root / "learns.h5")
    assert merged.trial.values.tolist() == [0] and json.loads(merged.attrs["missing"]) == [1]


def test_a_worker_whose_log_cannot_be_written_runs_the_budget(tmp_path):
    """A worker whose stderr goes to a full file system (SLURM's ``logs/`` over a home quota, the
    results elsewhere): its first log line, after its first trial, raised, and the worker ended
    with exit 1, leaving the rest of its budget unrun. The log lines are dropped now."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2").replace("epochs = 2", "epochs = 1"))
    root = tmp_path / "results"
    with mounted_tmpfs(tmp_path / "logs") as logs:
        with open(logs / "worker.err", "wb") as err:
            fill(logs)  # every block taken
            proc = subprocess.run([sys.executable, "-m", "snnsim.tune", "worker", str(path)], env=env_for(root),
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=err, timeout=180)  # fmt: skip
    assert proc.returncode == 0
    assert len(status(path, env_for(root), tmp_path)["complete"]) == 2


@pytest.mark.parametrize("loss", ["gone", "damaged"])
def test_merge_with_allow_missing_keeps_a_merged_trial_whose_file_is_lost(tmp_path, loss):
    """A study merged whole, then a trial's file removed or damaged: ``merge --allow-missing``
    replaced the merged file with one without that trial, and its numbers, kept nowhere else,
    were lost. It is refused now in one line (as a sweep's merge refuses it), the merged file
    left as it was."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2"))
    spec, root = tune.load(path), tmp_path / "results"
    assert tune.work(spec, root, 0, lambda message: None) == 0
    env = env_for(root)
    ok(run_here(tune.main, "merge", path, env=env, cwd=tmp_path))
    merged = root / "learns.h5"
    before = merged.read_bytes()
    trial = tune.trial_path(spec, 1, root)
    if loss == "gone":
        trial.unlink()
    else:
        trial.write_bytes(trial.read_bytes()[:3000])
    proc = run_here(tune.main, "merge", path, "--allow-missing", env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [f"snnsim.tune: error: {merged} holds trial 1, whose file is gone, damaged or "
                                        "stale now; merging would lose its numbers: move that file away first"]  # fmt: skip
    assert merged.read_bytes() == before


def test_the_temporaries_of_killed_merges_and_trials_are_removed(tmp_path):
    """A ``tune merge`` killed (SIGKILL) in its write, or a worker killed in a trial file's write,
    leaves its temporary beside the file: nothing in ``tune`` ever removed one (a trial file's
    size each, for good), as ``sweep`` merges and jobs remove theirs. The next merge removes the
    merges' and says so; the next worker those of trial files."""
    import signal

    path, spec, root, env, _ = _one_trial_study(tmp_path)
    argv = ["--results-dir", str(root), "merge", str(path)]
    returncode, err = signal_in_write("snnsim.tune", argv, ".learns.h5.*.tmp", root, signal.SIGKILL)
    assert returncode == -signal.SIGKILL, err
    assert len(list(root.glob(".learns.h5.*.tmp"))) == 1
    proc = ok(run_here(tune.main, *argv, env=env, cwd=tmp_path))
    assert f"snnsim.tune: removed 1 temporary file(s) of killed merges beside {root / 'learns.h5'}" in proc.stderr
    assert not list(root.glob(".learns.h5.*.tmp"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    trial = tune.trial_path(spec, 0, root)
    parts = temporary_name(trial).name.rsplit(".", 3)  # .trial-0.h5.HOST, PID, TOKEN, tmp: a writer gone
    left = trial.with_name(".".join([parts[0], dead.stdout.strip(), *parts[2:]]))
    left.write_bytes(b"half a trial file")
    path.write_text(path.read_text().replace("trials = 1", "trials = 2"))
    assert tune.work(tune.load(path), root, 0, lambda message: None) == 0
    assert not left.exists()


def test_a_merge_stopped_by_sigterm_keeps_the_merged_file_and_leaves_no_temporary(tmp_path):
    """SIGTERM (scancel, Ctrl-C's SIGINT alike) in a ``tune merge``'s write killed it outright:
    its temporary stayed beside the merged file, as a SIGKILL's does. It stops as ``sweep merge``
    does now: exit 143, one line, the previous merged file byte for byte, no temporary."""
    import signal

    path, _, root, env, _ = _one_trial_study(tmp_path)
    argv = ["--results-dir", str(root), "merge", str(path)]
    ok(run_here(tune.main, *argv, env=env, cwd=tmp_path))
    merged = root / "learns.h5"
    before = merged.read_bytes()
    returncode, err = signal_in_write("snnsim.tune", argv, ".learns.h5.*.tmp", root, signal.SIGTERM)
    assert returncode == 128 + signal.SIGTERM, err
    assert "snnsim.tune: stopped by SIGTERM; no result written" in err, err
    assert merged.read_bytes() == before
    assert not list(root.glob(".learns.h5.*.tmp"))


def test_best_stopped_by_sigterm_keeps_the_previous_config_and_leaves_no_temporary(tmp_path):
    """SIGTERM in the write of ``best --out FILE --overwrite`` killed it outright, its temporary
    left beside FILE. It stops as ``merge`` does: exit 143, FILE as before, no temporary."""
    import signal

    path, _, root, env, _ = _one_trial_study(tmp_path)
    out = tmp_path / "best.toml"
    out.write_text("# the previous best\n")
    argv = ["--results-dir", str(root), "best", str(path), "--out", str(out), "--overwrite"]
    returncode, err = signal_in_write("snnsim.tune", argv, ".best.toml.*.tmp", tmp_path, signal.SIGTERM)
    assert returncode == 128 + signal.SIGTERM, err
    assert "snnsim.tune: stopped by SIGTERM; no result written" in err, err
    assert out.read_text() == "# the previous best\n"
    assert not list(tmp_path.glob(".best.toml.*.tmp"))


def test_a_full_disk_under_the_journal_names_the_results_folder(tmp_path):
    """``tune run`` with its results folder on a full disk: Optuna's journal write failed with an
    error that names no file, and the one line said only "snnsim.tune: error: No space left on
    device". It names the results folder (exit 5), and once there is room the study runs."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1"))
    with mounted_tmpfs(tmp_path / "small") as small:
        fill(small)  # every block taken
        proc = cli("--results-dir", small / "results", "run", path, env=env_for(tmp_path), cwd=tmp_path)
        assert proc.returncode == 5, proc.stderr
        assert proc.stderr.splitlines() == [f"snnsim.tune: error: {small / 'results'}: No space left on device"]
        (small / "filler").unlink()
        ok(here("--results-dir", small / "results", "run", path, env=env_for(tmp_path), cwd=tmp_path))
        assert tune.trial_path(tune.load(path), 0, small / "results").exists()


def test_a_trial_whose_file_cannot_be_written_stops_the_worker_and_is_not_counted(tmp_path):
    """A full disk under the trial files (the journal still has room): each trial trained, its
    file was not written, it was recorded failed against the budget and the worker asked the
    next; ``tune run -j 2`` used the whole budget so and exited 0, the reason only in the workers'
    logs. The worker now stops at the first such trial (exit 5), which does not count: once
    there is room the same command runs the whole budget."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2").replace("epochs = 2", "epochs = 1"))
    with mounted_tmpfs(tmp_path / "small", "256k") as small:
        spec, root = tune.load(path), small / "results"
        tune.study(spec, root)  # the journal is made; then another job takes all but 40 kB
        fill(small, room=40_000)
        proc = here("--results-dir", root, "run", path, "-j", "2", env=env_for(tmp_path), cwd=tmp_path)
        assert proc.returncode == 5, f"{proc.stdout}\n{proc.stderr}"
        assert "could not write a trial's result file" in proc.stderr and "Traceback" not in proc.stderr
        st = status(path, env_for(root), tmp_path)
        assert st["complete"] == [] and st["failed"] == [] and st["stopped"], st
        logs = "".join(p.read_text() for p in (root / "learns" / "logs").iterdir())
        assert "No space left on device" in logs and "not counted against the budget" in logs, logs
        (small / "filler").unlink()
        ok(here("--results-dir", root, "run", path, env=env_for(tmp_path), cwd=tmp_path))
        st = status(path, env_for(root), tmp_path)
        assert len(st["complete"]) == 2 and st["failed"] == [], st
        assert all(tune.trial_path(spec, n, root).exists() for n in st["complete"])


def _as_if_made_by_numerics(spec, root, version):
    """Set the study's recorded ``made_with`` numerics version to ``version``, as an snnsim of
    those numerics would have left it (the first worker records it)."""
    s = tune.study(spec, root, create=False)
    made_with = json.loads(s.user_attrs["made_with"])
    s.set_user_attr("made_with", json.dumps({**made_with, "numerics_version": version}, sort_keys=True))


def test_a_worker_of_other_numerics_does_not_join_the_study(tmp_path):
    """A worker of an snnsim with other numerics (``NUMERICS_VERSION``) joined a study made by
    another and added trials to it: the pruner and ``best`` compared trials whose numbers the
    two would not give alike. It is refused in one line (exit 2), and the journal is left as it
    was; ``status`` still reads the study."""
    path, spec, root, env, journal = _one_trial_study(tmp_path)
    _as_if_made_by_numerics(spec, root, results.NUMERICS_VERSION - 1)
    path.write_text(path.read_text().replace("trials = 1", "trials = 2"))
    before = journal.read_bytes()
    for command in ("run", "worker"):  # run in a process of its own, worker in this one
        line = one_line_error((cli if command == "run" else here)(command, path, env=env, cwd=tmp_path))
        assert f"made by snnsim {results.library_versions()['snnsim']} with numerics version " in line, line
        assert f"{results.NUMERICS_VERSION - 1}, and this snnsim has {results.NUMERICS_VERSION}" in line, line
        assert journal.read_bytes() == before
    assert status(path, env, tmp_path)["complete"] == [0]


def _rewrite_trial(spec, root, number, **attrs):
    """Trial ``number``'s result file as another snnsim or another data set would have left it."""
    ds = results.load(tune.trial_path(spec, number, root))
    ds.attrs.update(attrs)
    results.write(ds, tune.trial_path(spec, number, root), overwrite=True)


def test_trials_of_other_numerics_are_stale_in_status_best_and_merge(tmp_path):
    """A trial file made with other numerics (an snnsim whose ``NUMERICS_VERSION`` differs) was
    taken as any other: ``best`` chose it against the others, ``status`` counted it complete and
    ``merge`` stacked it (``numerics_version_by_trial``). As a sweep's job of other numerics, it
    is stale: named by ``status``, left out of ``best`` (with a note), refused by ``merge``
    unless ``--allow-missing``, which leaves it out and lists it in ``stale``."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2").replace("epochs = 2", "epochs = 1"))
    spec, root = tune.load(path), tmp_path / "results"
    env = env_for(root)
    assert tune.work(spec, root, 0, lambda message: None) == 0
    first = status(path, env, tmp_path)
    best = first["best"]["number"]
    other = 1 - best
    old = results.NUMERICS_VERSION - 1
    _rewrite_trial(spec, root, best, numerics_version=old)
    st = status(path, env, tmp_path)
    assert st["complete"] == [other] and st["stale"] == [best], st
    assert st["reasons"][str(best)].startswith(f"numerics version {old} (snnsim "), st
    assert st["best"]["number"] == other
    text = ok(here("status", path, env=env, cwd=tmp_path)).stdout
    assert "stale 1" in text and f"trial {best} stale: numerics version {old}" in text, text
    proc = ok(here("best", path, "--out", tmp_path / "best.toml", env=env, cwd=tmp_path))
    assert f"trial {other}," in proc.stdout and f"left out stale trial {best} (trial {best}: " in proc.stderr
    assert tune.best_config(spec, root) == spec.config(tune.study(spec, root, create=False).trials[other].params)
    line = one_line_error(here("merge", path, env=env, cwd=tmp_path))
    assert f"learns: stale trial {best} (trial {best}: numerics version {old}" in line, line
    assert line.endswith("its numbers are not this snnsim's; merge with --allow-missing to leave it out"), line
    assert not (root / "learns.h5").exists()
    out = ok(here("merge", path, "--allow-missing", env=env, cwd=tmp_path)).stdout
    merged = results.load(root / "learns.h5")
    assert merged.trial.values.tolist() == [other] and json.loads(merged.attrs["stale"]) == [best]
    # a stale trial does not count against the budget: a worker runs a new one in its place
    assert merged.attrs["trials_to_go"] == 1
    assert "partial: the study is not finished (1 of the budget of 2 not started)" in out, out
    assert (
        merged.attrs["numerics_version"] == results.NUMERICS_VERSION and "numerics_version_by_trial" not in merged.attrs
    )
    _rewrite_trial(spec, root, other, numerics_version=old)  # no trial left of this snnsim's numerics
    line = one_line_error(here("best", path, "--out", tmp_path / "best2.toml", env=env, cwd=tmp_path))
    assert "learns: no completed trial of this snnsim's numerics and data; stale trials 0-1 (trial 0: " in line


@pytest.mark.parametrize("data", ["data file", "synthetic"])
def test_trials_of_other_data_are_stale_in_status_best_and_merge(tmp_path, bmi_path, data):
    """A BMI trial file made on other data than the study's now (a data file's SHA-256, or a
    synthetic set's, that differs) was merged beside the others (``data_file_sha256_by_trial``)
    and compared by ``best``. It is stale, as a sweep's job on a changed data file: named by
    ``status`` and left out of ``best`` and ``merge``."""
    import shutil

    fixed = 'study = "bmi"\nmodel = "ann"\nepochs = 1\nhidden = 4\nn_train_folds = 1\n'
    if data == "data file":
        shutil.copyfile(bmi_path, tmp_path / "data.pkl")
        fixed += 'data = "data.pkl"\n'
    path = tmp_path / "b.toml"
    path.write_text(f'name = "b"\ntrials = 2\nsampler = "random"\npruner = "none"\n[fixed]\n{fixed}'
                    "[search]\nlr = { low = 1e-3, high = 1e-2 }\n")  # fmt: skip
    env, root = env_for(tmp_path / "results"), tmp_path / "results"
    ok(here("run", path, env=env, cwd=tmp_path))
    spec = tune.load(path)
    best = status(path, env, tmp_path)["best"]["number"]
    key = "data_file_sha256" if data == "data file" else "synthetic_data_sha256"
    assert key in results.load(tune.trial_path(spec, best, root)).attrs
    _rewrite_trial(spec, root, best, **{key: "0" * 64})
    st = status(path, env, tmp_path)
    assert st["stale"] == [best] and st["complete"] == [1 - best] and st["best"]["number"] == 1 - best, st
    expected = "data file data.pkl changed since" if data == "data file" else "synthetic data synthetic with SHA-256"
    assert st["reasons"][str(best)].startswith(expected), st
    line = one_line_error(here("merge", path, env=env, cwd=tmp_path))
    assert f"b: stale trial {best} (trial {best}: {expected}" in line, line
    ok(here("merge", path, "--allow-missing", env=env, cwd=tmp_path))
    merged = results.load(root / "b.h5")
    assert merged.trial.values.tolist() == [1 - best] and f"{key}_by_trial" not in merged.attrs


def test_a_synthetic_set_changed_between_workers_is_refused(tmp_path, bmi_path):
    """A study on a synthetic BMI set went on when the set a worker loads had changed since (its
    cache replaced, or another generator): its trials mixed two data sets, as with a changed data
    file. The study remembers the set's SHA-256, and such a worker is refused in one line."""
    import shutil

    from snnsim.datasets import bmi_synthetic

    path = tmp_path / "s.toml"
    text = ('name = "s"\ntrials = {trials}\nsampler = "random"\npruner = "none"\n[fixed]\nstudy = "bmi"\n'
            'model = "ann"\nepochs = 1\nhidden = 4\nn_train_folds = 1\ndata = "synthetic:standard:5"\n'
            "[search]\nlr = { low = 1e-3, high = 1e-2 }\n")  # fmt: skip
    path.write_text(text.replace("{trials}", "1"))
    env = {**env_for(tmp_path / "results"), "SNNSIM_CACHE": str(tmp_path / "cache")}
    ok(here("run", path, env=env, cwd=tmp_path))
    cache = tmp_path / "cache" / bmi_synthetic.cache_path(5).name
    kept = cache.read_bytes()
    shutil.copyfile(bmi_path, cache)  # another set where the study's was
    path.write_text(text.replace("{trials}", "2"))
    journal = tmp_path / "results" / "s" / "optuna.journal"
    before = journal.read_bytes()
    line = one_line_error(here("run", path, env=env, cwd=tmp_path))
    assert "its trials trained on synthetic data synthetic:standard:5 with SHA-256" in line, line
    assert "this snnsim's generator or its cache gives" in line, line
    assert journal.read_bytes() == before
    st = status(path, env, tmp_path)
    assert st["stale"] == [0] and st["reasons"]["0"].startswith("synthetic data synthetic:standard:5"), st
    cache.write_bytes(kept)  # the set restored: the study goes on
    ok(here("run", path, env=env, cwd=tmp_path))
    assert status(path, env, tmp_path)["complete"] == [0, 2]  # 1: the ask past the first budget


def test_a_merge_of_a_study_still_worked_on_says_it_is_partial(tmp_path, capsys, monkeypatch):
    """`tune merge` while workers run: it said only "merged into NAME.h5", and the file (complete = 1,
    n_trials = what was done) looked like the study's merge; the trials not yet asked were nowhere.
    Now the file carries the budget, the running trials and how many are still to run, and the
    command says the merge is partial; a finished study's merge says nothing of the kind. The
    study's summary (every trial file's attributes read) is made once per merge: made again for
    the partial line, it took 1.7-2.9 s more of a 200-trial merge's 12-17 s."""
    from optuna.trial import TrialState

    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2"))
    root = tmp_path / "results"
    s = tune.study(tune.load(path), root)
    running = s.ask()  # trial 0: what a live worker's trial is in the journal
    assert tune.work(tune.load(path), root, 0, lambda message: None) == 0  # trial 1; the budget of 2 is used
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "4"))  # a bigger budget: 2 to go
    argv = ["--results-dir", str(root), "merge", str(path)]
    summaries, summary_of = [], tune._summary_of
    monkeypatch.setattr(tune, "_summary_of", lambda *args, **kw: summaries.append(args) or summary_of(*args, **kw))
    assert tune.main(argv) == 0
    assert len(summaries) == 1
    out = capsys.readouterr().out
    assert "learns: merged 1 trial into" in out, out
    assert "partial: the study is not finished (trial 0 running, 2 of the budget of 4 not started)" in out, out
    merged = results.load(root / "learns.h5")
    assert (merged.attrs["budget"], json.loads(merged.attrs["running_trials"]), merged.attrs["trials_to_go"]) == (
        4,
        [0],
        2,
    )
    s.tell(running, state=TrialState.FAIL)
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2"))
    assert tune.main(argv) == 0
    out = capsys.readouterr().out
    assert "merged 1 trial into" in out and "partial" not in out, out
    merged = results.load(root / "learns.h5")
    assert (json.loads(merged.attrs["running_trials"]), merged.attrs["trials_to_go"]) == ([], 0)


def test_a_space_past_max_corners_still_checks_every_value(tmp_path):
    """Past MAX_CORNERS points the corners are each value with the others at their first ends and
    at their last: a middle choice that the fixed settings refuse is still found."""
    spec = tmp_path / "spec.toml"
    many = "\n".join(f"{k} = {{ choices = {list(range(1, 21))} }}" for k in ("seed", "patience", "anf_per_ear"))
    spec.write_text(GOOD.replace('backend = "fused"', 'neuron = "standard"\nrecurrent = true').replace(
        "[search]", f'[search]\n{many}\nbackend = {{ choices = ["snntorch", "fused", "norse"] }}'))  # fmt: skip
    with pytest.raises(tune.SpecError, match=r"the fused backend does not carry it \(a trial with seed=1 patience=1 "):
        tune.load(spec)
    spec.write_text(spec.read_text().replace('"fused", ', ""))
    loaded = tune.load(spec)
    corners = loaded.corners()
    # lr, hidden, tau: two ends each; 20 choices of three settings; two backends
    assert 2**3 * 20**3 * 2 > tune.MAX_CORNERS and len(corners) == 2 * (3 * 2 + 3 * 20 + 2)
    assert {c["anf_per_ear"] for c in corners} == set(range(1, 21)) and {c["backend"] for c in corners} == {
        "snntorch",
        "norse",
    }
    assert all(loaded.config(c).recurrent for c in corners)


def test_stale_trials_do_not_count_against_the_budget(tmp_path):
    """After the data of a study's trials changed (here the cache of the synthetic sets it
    searches over, edited), every trial was stale, and still counted against ``trials = N``: a
    worker ran nothing new, and the study had no trial ``best`` could take. Stale trials are
    left out of the budget, as stopped ones: the worker runs new trials until N count."""
    import pickle

    from snnsim.datasets import bmi_synthetic

    path = tmp_path / "d.toml"
    path.write_text('name = "d"\ntrials = 2\nsampler = "random"\npruner = "none"\n[fixed]\nstudy = "bmi"\n'
                    'model = "ann"\nepochs = 1\nhidden = 4\nn_train_folds = 1\n[search]\n'
                    'data = { choices = ["synthetic:weak:3", "synthetic:weak:4"] }\n')  # fmt: skip
    env = {**env_for(tmp_path / "results"), "SNNSIM_CACHE": str(tmp_path / "cache")}
    ok(here("run", path, env=env, cwd=tmp_path))
    assert status(path, env, tmp_path)["complete"] == [0, 1]
    for seed in (3, 4):  # one spike count more in each set: every trial's data differ now
        cache = tmp_path / "cache" / bmi_synthetic.cache_path(seed, "weak").name
        data = pickle.loads(cache.read_bytes())
        data["MI"][0][0, 0] += 1
        cache.write_bytes(pickle.dumps(data))
    st = status(path, env, tmp_path)
    assert st["stale"] == [0, 1] and st["complete"] == [] and "best" not in st, st
    proc = ok(here("run", path, env=env, cwd=tmp_path))
    st = status(path, env, tmp_path)
    # trial 2: the first run's ask past the budget (left out); 3 and 4 run in the places of 0 and 1
    assert st["stale"] == [0, 1] and st["complete"] == [3, 4] and st["best"]["number"] in (3, 4), (st, proc.stdout)
    ok(here("run", path, env=env, cwd=tmp_path))  # the budget used: nothing more
    assert status(path, env, tmp_path)["complete"] == [3, 4]


def test_a_journal_lock_left_by_a_killed_worker_is_taken_at_once_and_a_live_ones_waited_for(tmp_path):
    """A worker killed (SIGKILL) while it appended to the journal left Optuna's lock file, and the
    next worker waited Optuna's 30 s grace period before it broke the lock. The holder of the
    lock is known to be dead now (it held a ``flock`` on the lock file, which the kernel let go):
    the next worker takes the lock at once; one held by a live worker is waited for (here 12 s;
    Optuna's 30 s grace still applies to it)."""
    import signal
    import time

    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(trials=1, pruner="none"))
    spec, root = tune.load(path), tmp_path / "results"
    tune.study(spec, root)  # the study, made
    lock = root / "tiny" / "optuna.journal.lock"
    hold = ("import sys, time\nfrom snnsim import tune\ns = tune.study(tune.load(sys.argv[1]), sys.argv[2])\n"
            "s._storage._backend._lock.acquire()\nprint('held', flush=True)\ntime.sleep(300)\n")  # fmt: skip
    env = env_for(root)
    holder = subprocess.Popen([sys.executable, "-c", hold, str(path), str(root)], env=env, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n" and lock.exists()
        append = ("import sys\nfrom snnsim import tune\ntune.study(tune.load(sys.argv[1]), sys.argv[2])"
                  ".set_user_attr('note', 1)\nprint('appended')\n")  # fmt: skip
        with pytest.raises(subprocess.TimeoutExpired):  # a live holder: the lock is not taken from it
            subprocess.run([sys.executable, "-c", append, str(path), str(root)], env=env, timeout=12,
                           capture_output=True)  # fmt: skip
        assert lock.exists() and holder.poll() is None
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    assert lock.exists()  # what the killed worker left
    started = time.monotonic()
    tune.study(spec, root).set_user_attr("note", 2)  # appends: takes the lock
    assert time.monotonic() - started < 10, "waited for the lock of a dead worker"
    assert not lock.exists() and tune.study(spec, root, create=False).user_attrs["note"] == 2


def test_a_free_journal_lock_of_another_host_or_a_live_process_is_not_taken_over(tmp_path):
    """A free ``flock`` alone does not make a holder dead: on NFS with ``local_lock=flock`` a holder
    on another host holds it where this host cannot see it. Only a process of this host that has
    ended is taken over at once; the others are left to Optuna's 30 s rule."""
    import socket

    journal = tmp_path / "optuna.journal"
    journal.write_bytes(b"")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    here = socket.gethostname()
    for holder, taken in [(f"{here}-other pid {dead.stdout.strip()}", False), (f"{here} pid {os.getpid()}", False),
                          (f"{here} pid {dead.stdout.strip()}", True)]:  # fmt: skip
        Path(f"{journal}.lock").write_text(holder + "\n")  # nobody holds its flock
        lock = tune.JournalLock(journal)
        assert lock._take_over() is taken, holder
        if taken:
            lock.release()


def test_a_broken_journal_lock_is_not_released_by_its_old_holder(tmp_path):
    """A worker whose journal lock was broken (held 30 s, as Optuna breaks it) and taken by
    another removed that other worker's lock file when it released its own, as Optuna's lock
    does: a third could then take the lock beside the second. It leaves it, and says so."""
    journal = tmp_path / "optuna.journal"
    journal.write_bytes(b"")
    first, second = tune.JournalLock(journal), tune.JournalLock(journal)
    assert first.acquire()
    os.rename(f"{journal}.lock", tmp_path / "broken")  # what breaking it does (renamed, then removed)
    assert second.acquire()
    with pytest.raises(RuntimeError, match="did not possess lock"):
        first.release()
    assert (tmp_path / "optuna.journal.lock").exists()  # the second's, left
    second.release()
    assert not (tmp_path / "optuna.journal.lock").exists()


def test_submit_sbatch_args_with_an_unbalanced_quote_is_one_line(tmp_path, monkeypatch, capsys):
    """``--sbatch-args "--time='1:00"``: one line and exit code 2, as `sweep submit` says it (a
    traceback of shlex's ValueError before)."""
    monkeypatch.chdir(tmp_path)
    spec = str(ROOT / "experiments" / "ipd_tune.toml")
    code = tune.main(
        ["--results-dir", str(tmp_path / "r"), "submit", spec, "--sbatch-args", "--time='1:00", "--dry-run"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err == 'snnsim.tune: error: submit: --sbatch-args "--time=\'1:00": No closing quotation\n'


def test_submit_sbatch_args_that_set_the_array_are_refused(tmp_path, monkeypatch, capsys):
    """``--sbatch-args -a0-7`` replaced the array of ``--workers`` (sbatch takes the last)."""
    monkeypatch.chdir(tmp_path)
    spec = str(ROOT / "experiments" / "ipd_tune.toml")
    code = tune.main(["--results-dir", str(tmp_path / "r"), "submit", spec, "--sbatch-args", "-a0-7", "--dry-run"])
    assert code == 2
    assert capsys.readouterr().err == ("snnsim.tune: error: submit: --sbatch-args: -a0-7 would replace the array "
                                       "that submit sets; --workers sets it\n")  # fmt: skip


def test_submit_starts_no_more_workers_than_trials(tmp_path, monkeypatch, capsys):
    """``--workers 9`` on a spec of 2 trials: an array of 2 (as ``run -j``); 7 would load torch
    on a node each only to find the budget used."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(trials=2, pruner="none"))
    assert tune.main(["--results-dir", str(tmp_path / "r"), "submit", str(path), "--workers", "9", "--dry-run"]) == 0
    assert " --array=0-1 " in capsys.readouterr().out
    assert tune.main(["--results-dir", str(tmp_path / "r"), "submit", str(path), "--workers", "1", "--dry-run"]) == 0
    assert " --array=0-0 " in capsys.readouterr().out


def test_submit_of_a_study_whose_budget_is_used_sends_no_worker(tmp_path, monkeypatch, capsys):
    """``tune submit`` of a finished study sent its workers all the same: each waited in the
    queue and loaded torch on a node only to find the budget used. It submits nothing, as
    ``sweep submit`` of a finished grid."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(trials=2, pruner="none"))
    root = ["--results-dir", str(tmp_path / "r")]
    assert tune.main([*root, "run", str(path)]) == 0
    capsys.readouterr()
    assert tune.main([*root, "submit", str(path), "--workers", "2", "--dry-run"]) == 0
    assert capsys.readouterr().out == "tiny: nothing to submit (the budget of 2 trials is used)\n"
    path.write_text(TINY.format(trials=3, pruner="none"))  # one trial to go: one worker
    assert tune.main([*root, "submit", str(path), "--workers", "2", "--dry-run"]) == 0
    assert " --array=0-0 " in capsys.readouterr().out


def test_a_dry_run_prints_the_results_folder_its_workers_would_write_to(tmp_path, monkeypatch, capsys):
    """``--results-dir R submit --dry-run`` printed a bare ``sbatch ...``: the real submit passes
    ``SNNSIM_RESULTS=R`` to sbatch, so the printed line, run by hand, wrote to ./results."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SNNSIM_RESULTS", raising=False)
    spec = str(ROOT / "experiments" / "ipd_tune.toml")
    assert tune.main(["--results-dir", "my r", "submit", spec, "--dry-run"]) == 0
    env, cmd, *_ = shlex.split(capsys.readouterr().out)
    assert (env, cmd) == (f"SNNSIM_RESULTS={tmp_path / 'my r'}", "sbatch")
    assert tune.main(["submit", spec, "--dry-run"]) == 0  # no folder given: the line is sbatch's alone
    assert capsys.readouterr().out.startswith("sbatch ")


def test_local_workers_keep_a_thread_count_that_is_set(tmp_path):
    """``tune run -j N`` set each worker's ``SNNSIM_THREADS`` to the machine's CPUs / N even where
    the user had set it (and past the CPUs this process may use, under SLURM or taskset), unlike
    ``sweep local -j N``. Each worker records the value it got (a ``sitecustomize``)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\nif 'worker' in sys.argv:\n"
        f"    open(os.path.join({str(tmp_path)!r}, f'threads-{{os.getpid()}}'), 'w').write(os.environ['SNNSIM_THREADS'])\n"
    )
    path = tmp_path / "tiny.toml"
    path.write_text(
        TINY.format(trials=2, pruner="none").replace("epochs = 2", "epochs = 1")
    )  # two workers: no more than trials run
    env = env_for(tmp_path / "r")
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    ok(here("run", path, "-j", "2", env={**env, "SNNSIM_THREADS": "3"}, cwd=tmp_path))
    got = [p.read_text() for p in tmp_path.glob("threads-*")]
    assert got == ["3", "3"]


def test_run_starts_no_more_workers_than_trials(tmp_path):
    """``tune run -j N`` started N worker processes whatever the budget: each past it loaded torch
    only to find the budget used, and ``-j 99999999999999999999`` started processes until stopped
    (376 in two minutes). A budget of one trial runs one worker, in this process, as ``-j 1``."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(trials=1, pruner="none"))
    env = env_for(tmp_path / "r")
    ok(run_here(tune.main, "run", path, "-j", "3", env=env, cwd=tmp_path))
    assert not (tmp_path / "r" / "tiny" / "logs").exists()  # no worker process, no worker log
    assert len(status(path, env, tmp_path)["complete"]) == 1


def test_shared_threads_keep_a_set_count_and_follow_the_affinity(monkeypatch):
    from snnsim import threads

    assert threads.share({"SNNSIM_THREADS": "3"}, 2) == {"SNNSIM_THREADS": "3"}
    assert threads.share({}, 1) == {}
    monkeypatch.delenv("SNNSIM_THREADS", raising=False)
    assert threads.share({}, 2) == {"SNNSIM_THREADS": str(max(1, len(os.sched_getaffinity(0)) // 2))}


def _workers_of(spec: Path) -> list[int]:
    """The process ids of the ``tune worker`` processes of spec file ``spec`` on this host."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if b"snnsim.tune" in args and b"worker" in args and str(spec).encode() in args:
            pids.append(int(cmdline.parent.name))
    return pids


def test_run_whose_second_worker_log_cannot_be_made_starts_no_worker(tmp_path):
    """``tune run -j 2`` whose logs folder has room for one more file only (an inode quota, a full
    file system): the first worker started, opening the second's log failed, and ``run`` exited 5
    leaving the first worker running on alone, unwaited for, its trials going on after the error.
    Every log is opened before any worker starts now: nothing runs, and the study is as it was."""
    import time

    if not Path("/proc/self/cmdline").exists():
        pytest.skip("finds the workers through Linux's /proc")
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "2"))
    spec, root = tune.load(path), tmp_path / "results"
    tune.study(spec, root)
    with mounted_tmpfs(root / "learns" / "logs", "64k,nr_inodes=2") as logs:  # the folder and one file
        proc = cli("--results-dir", root, "run", "-j", "2", path, env=env_for(root), cwd=tmp_path)
        left = _workers_of(path)
        for pid in left:  # ended, so that the tmpfs can be unmounted
            os.kill(pid, 9)
            while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
                time.sleep(0.05)
        assert proc.returncode == 5, f"{proc.stdout}\n{proc.stderr}"
        assert proc.stderr.splitlines() == [f"snnsim.tune: error: {logs / 'worker-1.log'}: No space left on device"]
        assert left == [], "a worker was left running"
    assert status(path, env_for(root), tmp_path)["running"] == []


# a worker whose results folder turns read-only once its first trial's file is in place
READ_ONLY_AT_RECORD = """
import os, subprocess, sys
from snnsim import results, tune
from snnsim.cli import process

write = results.write

def write_then_read_only(ds, path, **kw):
    write(ds, path, **kw)
    subprocess.run(["mount", "-o", "remount,ro", os.environ["READ_ONLY_MOUNT"]], check=True)

results.write = write_then_read_only
sys.exit(process(tune.main))
"""


def test_a_trial_whose_record_could_not_be_written_is_recorded_by_the_next_worker(tmp_path):
    """The journal not writable at the moment a trial is recorded (its folder read-only, or full):
    the trial's file was in place, the worker ended, and the trial stayed running for good
    (counted against the budget, left out of best and merge). The next worker on this host finds
    its worker gone and records the trial complete with its file's value."""
    path = tmp_path / "learns.toml"
    path.write_text(LEARNS.replace("{name}", "learns").replace("{trials}", "1").replace("epochs = 2", "epochs = 1"))
    with mounted_tmpfs(tmp_path / "small", "1m") as small:
        spec, root = tune.load(path), small / "results"
        proc = subprocess.run([sys.executable, "-c", READ_ONLY_AT_RECORD, "--results-dir", root, "worker", path],
                              env={**env_for(root), "READ_ONLY_MOUNT": str(small)}, cwd=tmp_path, capture_output=True, text=True, timeout=180)  # fmt: skip
        assert proc.returncode != 0 and "Read-only file system" in proc.stderr, proc.stderr
        subprocess.run(["mount", "-o", "remount,rw", str(small)], check=True)
        assert tune.summary(spec, root)["running"] == [0]
        value = float(results.load(tune.trial_path(spec, 0, root)).attrs["objective_value"])
        said = []
        assert tune.work(spec, root, 0, said.append) == 0
        info = tune.summary(spec, root)
        assert info["complete"] == [0] and info["running"] == [], info
        assert info["best"]["value"] == value
        assert said[0].startswith("trial 0: recorded complete (val_acc = "), said


def _named_running(spec: tune.Spec, root: Path) -> bool:
    """Whether a trial of the study runs and has its worker's name."""
    s = tune.study(spec, root, create=False) if tune.folder(spec, root).exists() else None
    return s is not None and any(t.state.name == "RUNNING" and "worker" in t.user_attrs for t in s.trials)


def test_a_trial_left_without_its_workers_name_is_recorded_failed_once_no_worker_can_name_it(tmp_path, monkeypatch):
    """A worker killed between asking for a trial and writing its name into it (two journal writes)
    left a running trial that no one named: ``status`` never said its worker had ended, and no
    worker recorded it, so it counted against the budget for good. Once no live worker can still
    be writing the name (``tune.UNNAMED_MINUTES``), ``status`` names it and the next worker, of any
    host, records it failed; before that, it is left to its worker."""
    import signal

    path = tmp_path / "t.toml"
    path.write_text(TINY.format(trials=2, pruner="none").replace("epochs = 2", "epochs = 1"))
    spec, root = tune.load(path), tmp_path / "results"
    env = env_for(root)
    code = (
        "import os, signal, sys; from snnsim import tune\n"
        "s = tune.study(tune.load(sys.argv[1]), sys.argv[2], 0); s.ask(); os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(path), str(root)], env=env, cwd=tmp_path)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert tune.summary(spec, root)["running"] == [0] and tune.summary(spec, root)["ended"] == {}  # just asked
    monkeypatch.setattr(tune, "UNNAMED_MINUTES", 0.0)  # as if the minutes had passed
    said = ok(run_here(tune.main, "status", path, env=env, cwd=tmp_path)).stdout
    assert f"trial 0 running: its worker ({tune.UNNAMED}) has ended (killed?); the next worker (tune" in said, said
    logged = []
    assert tune.work(spec, root, 0, logged.append) == 0
    info = tune.summary(spec, root)
    assert info["failed"] == [0] and info["complete"] == [1] and info["running"] == [], info
    assert logged[0] == f"trial 0: recorded failed: its worker ({tune.UNNAMED}) ended while it ran (killed: SIGKILL, " \
        "out of memory?)", logged  # fmt: skip


def test_a_trial_of_a_killed_worker_is_named_and_recorded_failed_by_the_next_worker(tmp_path):
    """A worker killed by SIGKILL mid-trial (kill -9, the out-of-memory killer) left its trial
    running for good, and ``status`` and ``merge`` kept saying the study is being worked on
    ("merge again once its workers are done") with no worker left. They say now that the trial's
    worker has ended; the next worker on this host records the trial failed (it still counts
    against the budget), with why."""
    import signal
    import socket
    import time

    path = tmp_path / "slow.toml"
    path.write_text(LEARNS.replace("{name}", "slow").replace("{trials}", "1").replace("epochs = 2", "epochs = 500"))
    spec, root = tune.load(path), tmp_path / "results"
    env = env_for(root)
    worker = subprocess.Popen([sys.executable, "-m", "snnsim.tune", "worker", str(path)], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        end = time.monotonic() + 120  # until its trial runs and names its worker (the next journal write)
        while time.monotonic() < end and not _named_running(spec, root):
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert tune.summary(spec, root)["running"] == [0]
    who = f"{socket.gethostname()} pid {worker.pid}"
    said = ok(run_here(tune.main, "status", path, env=env, cwd=tmp_path)).stdout
    assert f"trial 0 running: its worker ({who}) has ended (killed?)" in said, said
    proc = run_here(tune.main, "merge", path, env=env, cwd=tmp_path)
    assert proc.returncode == 2 and f"its worker ({who}) has ended (killed?)" in proc.stderr, proc.stderr
    logged = []
    assert tune.work(spec, root, 0, logged.append) == 0
    info = tune.summary(spec, root)
    assert info["failed"] == [0] and info["running"] == [], info
    error = tune.study(spec, root, create=False).trials[0].user_attrs["error"]
    assert error == f"its worker ({who}) ended while it ran (killed: SIGKILL, out of memory?)", error
    assert logged[0] == f"trial 0: recorded failed: {error}", logged


def test_status_of_a_study_never_run_says_it_is_not_started(tmp_path):
    """``tune status`` before any ``tune run``: all counts 0, exit 0, and nothing said that no study
    exists there (a wrong ``--results-dir`` looked like a study with nothing done). It names the
    folder looked in and the command that starts it; it still creates nothing."""
    spec = tmp_path / "spec.toml"
    spec.write_text(GOOD)
    env = env_for(tmp_path / "results")
    out = ok(here("status", spec, env=env, cwd=tmp_path)).stdout.splitlines()
    assert out[0].endswith("complete 0  running 0  pruned 0  failed 0  stopped 0")
    assert out[1:] == [f"  not started: no study in {tmp_path / 'results' / 'tiny'}; start it with: python -m "
                       f"snnsim.tune run {spec}"]  # fmt: skip
    assert not (tmp_path / "results").exists()


def test_the_commands_status_suggests_keep_its_results_dir(tmp_path):
    """``tune --results-dir DIR status`` suggested ``python -m snnsim.tune run SPEC``, which starts
    (or goes on with) the study in ``results/`` (or ``$SNNSIM_RESULTS``), not in DIR."""
    from optuna.trial import TrialState

    path, root = tmp_path / "spec.toml", tmp_path / "elsewhere"
    path.write_text(TINY.format(trials=2, pruner="none"))
    env = {k: v for k, v in env_for(tmp_path / "results").items() if k != "SNNSIM_RESULTS"}
    out = ok(here("--results-dir", root, "status", path, env=env, cwd=tmp_path)).stdout.splitlines()
    assert out[1:] == [f"  not started: no study in {root / 'tiny'}; start it with: python -m snnsim.tune "
                       f"--results-dir {root} run {path}"]  # fmt: skip
    s = tune.study(tune.load(path), root)
    stopped = s.ask()
    stopped.set_user_attr("stopped", "SIGTERM")
    s.tell(stopped, state=TrialState.FAIL)
    out = ok(here("--results-dir", root, "status", path, env=env, cwd=tmp_path)).stdout.splitlines()
    assert out[1] == (f"  2 of the budget of 2 trials not run (stopped trials do not count): run them with: python -m "
                      f"snnsim.tune --results-dir {root} run {path} (or on SLURM: python -m snnsim.tune --results-dir "
                      f"{root} submit {path})")  # fmt: skip


def test_status_of_a_budget_raised_after_the_study_ended_says_how_to_go_on(tmp_path):
    """``trials`` raised in the spec after the study used its budget: status said "budget 3;
    pruned 2" and nothing of the trial not run, a hint only stopped trials got. It says how the
    rest runs, as for stopped trials."""
    from optuna.trial import TrialState

    path = tmp_path / "spec.toml"
    path.write_text(TINY.format(trials=2, pruner="none"))
    spec, env = tune.load(path), env_for(tmp_path / "results")
    s = tune.study(spec, tmp_path / "results")
    for _ in range(2):
        s.tell(s.ask(), state=TrialState.PRUNED)
    assert len(ok(here("status", path, env=env, cwd=tmp_path)).stdout.splitlines()) == 1  # the budget used
    path.write_text(TINY.format(trials=3, pruner="none"))
    out = ok(here("status", path, env=env, cwd=tmp_path)).stdout.splitlines()
    assert out == ["tiny: budget 3; complete 0  running 0  pruned 2  failed 0  stopped 0",
                   f"  1 of the budget of 3 trials not run: run them with: python -m snnsim.tune run {path} (or on "
                   f"SLURM: python -m snnsim.tune submit {path})"]  # fmt: skip


def test_status_of_stopped_trials_with_budget_left_says_how_to_go_on(tmp_path):
    """Workers stopped (scancel, Ctrl-C of ``tune run``) leave their trials stopped, not counted:
    ``status`` says how the rest of the budget runs; with no budget left, or trials still
    running, it says nothing of the kind."""
    from optuna.trial import TrialState

    path = tmp_path / "spec.toml"
    path.write_text(TINY.format(trials=2, pruner="none"))
    spec, env = tune.load(path), env_for(tmp_path / "results")
    s = tune.study(spec, tmp_path / "results")
    stopped = s.ask()  # what work() records when SIGTERM arrives mid-trial
    stopped.set_user_attr("stopped", "SIGTERM")
    s.tell(stopped, state=TrialState.FAIL)
    out = ok(here("status", path, env=env, cwd=tmp_path)).stdout.splitlines()
    assert out == ["tiny: budget 2; complete 0  running 0  pruned 0  failed 0  stopped 1",
                   f"  2 of the budget of 2 trials not run (stopped trials do not count): run them with: python -m "
                   f"snnsim.tune run {path} (or on SLURM: python -m snnsim.tune submit {path})"]  # fmt: skip
    running = s.ask()  # a worker still at work runs the rest itself
    assert len(ok(here("status", path, env=env, cwd=tmp_path)).stdout.splitlines()) == 1
    s.tell(running, state=TrialState.PRUNED)
    s.tell(s.ask(), state=TrialState.PRUNED)  # the budget used
    assert len(ok(here("status", path, env=env, cwd=tmp_path)).stdout.splitlines()) == 1


def test_a_failed_trials_reason_names_a_data_path_starting_as_a_flag_as_given(tmp_path, bmi_path, monkeypatch):
    """A trial's failure is named by the spec's keys (as_keys), but the spec's own values stay as
    given: a data file named ``--data notes.pkl``, gone after the first trial, was named
    ``data notes.pkl`` in the second trial's recorded reason."""
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copyfile(bmi_path, tmp_path / "--data notes.pkl")
    path = tmp_path / "b.toml"
    path.write_text('name = "b"\ntrials = 2\nsampler = "random"\npruner = "none"\n[fixed]\nstudy = "bmi"\n'
                    'model = "ann"\nepochs = 1\nhidden = 4\nn_train_folds = 1\ndata = "--data notes.pkl"\n'
                    '[search]\nlr = { low = 1e-3, high = 1e-2 }\n')  # fmt: skip
    spec = tune.load(path)
    messages = []

    def log(message: str) -> None:
        messages.append(message)
        if message.startswith("trial 0: "):  # its file is written: the data file goes
            (tmp_path / "--data notes.pkl").unlink()

    tune.work(spec, tmp_path / "results", 0, log)
    failed = [m for m in messages if m.startswith("trial 1: failed: ")]
    assert len(failed) == 1, messages
    assert "--data notes.pkl" in failed[0], failed[0]
    error = tune.study(spec, tmp_path / "results", create=False).trials[1].user_attrs["error"]
    assert "--data notes.pkl" in error, error
