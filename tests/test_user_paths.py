"""Paths as users give them: a ``~`` the shell left in place (``--out=~/r.h5``, a quoted
``"~/r"``, ``SNNSIM_RESULTS="~/r"``) is the home folder, as the shell makes of ``--out ~/r.h5``,
never a folder named ``~`` in the current one."""

from __future__ import annotations

from pathlib import Path

import pytest

from snnsim import export, predict
from snnsim import run as run_cli
from snnsim import tune as tune_cli
from snnsim.plots import __main__ as plots_cli
from snnsim.sweep import cli as sweep_cli
from snnsim.sweep.jobs import results_dir

TINY = ["--study", "ipd", "--backend", "fused", "--neuron", "standard", "--epochs", "1", "--n-train-batches", "2",
        "--n-test-batches", "1", "--batch-size", "8", "--hidden", "8", "--quiet"]  # fmt: skip


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """HOME is ``tmp_path/home ré``; the current folder ``tmp_path/work``, where no ``~`` may appear."""
    home = tmp_path / "home ré"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home


def no_tilde_folder() -> None:
    assert not Path("~").exists(), f"a folder named ~ in {Path.cwd()}: {sorted(p.name for p in Path('~').rglob('*'))}"


def test_run_out_config_and_tensorboard_with_a_tilde(home):
    (home / "cfg.toml").write_text("hidden = 8\n")
    assert run_cli.main([*TINY, "--config=~/cfg.toml", "--out=~/My Results/r.h5", "--tensorboard=~/tb"]) == 0
    no_tilde_folder()
    assert (home / "My Results" / "r.h5").is_file()
    assert any((home / "tb").rglob("events.out.tfevents.*"))


def test_export_predict_and_plots_with_a_tilde(home):
    assert run_cli.main([*TINY, "--out", str(home / "r.h5")]) == 0
    assert export.main(["~/r.h5", "--format", "pt", "--out=~/m.pt"]) == 0
    assert predict.main(["~/r.h5", "--stimuli", "4", "--out=~/p.h5"]) == 0
    assert plots_cli.main(["~/r.h5", "--out=~/figs", "--only", "accuracy", "--format", "png"]) == 0
    no_tilde_folder()
    assert (home / "m.pt").is_file() and (home / "p.h5").is_file()
    assert [p.name for p in (home / "figs").iterdir()] == ["r_accuracy.png"]


@pytest.mark.parametrize("parser", [sweep_cli.build_parser, tune_cli.build_parser])
def test_results_dir_flag_with_a_tilde(parser, home):
    ns = parser().parse_args(["--results-dir=~/res", "status", "smoke"])
    assert Path(ns.results_dir) == home / "res"


def test_tune_best_out_with_a_tilde(home):
    ns = tune_cli.build_parser().parse_args(["best", "smoke", "--out=~/best.toml"])
    assert Path(ns.out) == home / "best.toml"


def test_results_env_with_a_tilde(home, monkeypatch):
    monkeypatch.setenv("SNNSIM_RESULTS", "~/res")
    assert results_dir() == home / "res"
    assert results_dir("~/other") == home / "other"


SMOKE = Path(__file__).resolve().parents[1] / "experiments" / "smoke.toml"


def test_experiment_tensorboard_with_a_tilde(home, tmp_path):
    """``tensorboard = "~/tb"`` in an experiment file (TOML leaves ``~`` to the program)."""
    text = SMOKE.read_text().replace("epochs = 16", "epochs = 1")
    exp = tmp_path / "exp é" / "smoke.toml"
    exp.parent.mkdir()
    exp.write_text('tensorboard = "~/tb"\n' + text)
    assert sweep_cli.main(["--results-dir", str(tmp_path / "res"), "run", str(exp), "0"]) == 0
    no_tilde_folder()
    assert any((home / "tb").rglob("events.out.tfevents.*"))


def test_data_with_a_tilde_in_a_config_file_and_an_experiment_file(home, bmi_path, tmp_path):
    """``data = "~/bmi.pkl"`` in a run's TOML config and in an experiment file: the file in the
    home folder, as ``--data ~/bmi.pkl`` gives (it was refused: no file at ~/bmi.pkl)."""
    import shutil

    from snnsim.sweep import experiment

    shutil.copy(bmi_path, home / "bmi é.pkl")
    (home / "cfg.toml").write_text('study = "bmi"\nmodel = "linear"\nn_train_folds = 2\ndata = "~/bmi é.pkl"\n')
    assert run_cli.main(["--config", str(home / "cfg.toml"), "--quiet", "--out", str(tmp_path / "r.h5")]) == 0
    from snnsim import results

    assert results.load(tmp_path / "r.h5").attrs["data_source"] == str(home / "bmi é.pkl")
    exp = experiment.loads('name = "d"\n[fixed]\nstudy = "bmi"\ndata = "~/bmi é.pkl"\n[sweep]\nseed = [0, 1]\n')
    assert exp.config(0).data == str(home / "bmi é.pkl")
    no_tilde_folder()


def test_sweep_submit_script_with_a_tilde(home):
    ns = sweep_cli.build_parser().parse_args(["submit", "smoke", "--script=~/my array.sh"])
    assert Path(ns.script) == home / "my array.sh"


def test_a_symlinked_folder_whose_target_is_gone_is_named(home, capsys):
    """Scratch space behind a symbolic link that is not there (not mounted on this node, or
    purged): the one-line error names the link and its target, not only "File exists"."""
    Path("scratch").symlink_to(home / "gone scratch")
    assert run_cli.main([*TINY, "--out", "scratch/r é/r.h5"]) == 2
    err = capsys.readouterr().err
    assert err == (f"snnsim.run: error: --out: cannot create folder scratch/r é: scratch is a symbolic link to "
                   f"{home / 'gone scratch'}, which does not exist\n")  # fmt: skip
    assert not (home / "gone scratch").exists()
