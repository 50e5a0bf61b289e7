"""`sweep local` and `sweep submit` read the jobs' data files before starting anything: a missing
or malformed file is one line and exit code 2, not a failure in every job's log."""

from __future__ import annotations

import pickle

import pytest

from snnsim.datasets.bmi_synthetic import generate
from snnsim.errors import DataError
from snnsim.sweep import cli
from snnsim.sweep.experiment import ExperimentError, loads
from snnsim.sweep.jobs import check_data, job_dir


def _experiment(data: str, tmp_path):
    path = tmp_path / "d.toml"
    path.write_text(f"""
name = "d"
[fixed]
study = "bmi"
data = "{data}"
epochs = 1
n_train_folds = 2
[sweep]
model = ["linear"]
seed = [0, 1, 2]
""")
    return path


@pytest.mark.parametrize("command", [["local", "-j", "1"], ["submit", "--dry-run"]])
def test_a_missing_data_file_starts_nothing(command, tmp_path, capsys):
    """One line naming the experiment file and its key ``data`` (it said ``--data``, a flag that
    neither the file nor ``sweep`` has), before any job."""
    missing = tmp_path / "nowhere.pkl"
    path = _experiment(str(missing), tmp_path)
    results = tmp_path / "r"
    verb, *rest = command
    assert cli.main(["--results-dir", str(results), verb, str(path), *rest]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"snnsim.sweep: error: {path}: data: no file at {missing} (read by jobs 0-2); no job started"
    ]
    assert captured.out == ""
    assert not job_dir(loads(path.read_text(), path), results).exists()  # no log, no marker, no result


@pytest.mark.parametrize("command", [["local", "-j", "1"], ["submit", "--dry-run"]])
def test_a_data_file_missing_at_one_grid_point_names_the_file_and_the_job(command, tmp_path, capsys):
    """Swept data, one of them missing: the line names the experiment file, the value and its job."""
    missing = tmp_path / "nowhere.pkl"
    path = tmp_path / "s.toml"
    path.write_text(f'name = "s"\n[fixed]\nstudy = "bmi"\nmodel = "linear"\n[sweep]\n'
                    f'data = ["synthetic:standard:0", "{missing}"]\nseed = [0, 1]\n')  # fmt: skip
    verb, *rest = command
    assert cli.main(["--results-dir", str(tmp_path / "r"), verb, str(path), *rest]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"snnsim.sweep: error: {path}: data: no file at {missing} (read by jobs 2-3); no job started"
    ]
    assert not (tmp_path / "r").exists()


def test_a_malformed_file_and_an_unknown_member_are_one_line(tmp_path):
    damaged = tmp_path / "damaged.pkl"
    damaged.write_bytes(b"\x80\x04 not a pickle")  # a damaged pickle (a text file is named as one)
    with pytest.raises(DataError, match=r"^d: data: .*damaged.pkl is not a readable pickle .*; no job started$"):
        check_data(loads(_experiment(str(damaged), tmp_path).read_text()), [0, 1])
    # an unknown member: refused by the config as the file is read, before any job (tests/datasets/test_bmi_family.py)
    with pytest.raises(ExperimentError, match=r"^experiment: data: unknown synthetic generator 'nosuch'"):
        loads(_experiment("synthetic:nosuch:1", tmp_path).read_text())


def test_good_data_passes(tmp_path):
    data = tmp_path / "small.pkl"
    with open(data, "wb") as fh:
        pickle.dump(generate(seed=0, samples_per_fold=300), fh)
    for source in (str(data), "synthetic:weak:3"):
        check_data(loads(_experiment(source, tmp_path).read_text()), [0, 1, 2])  # raises nothing


def test_a_relative_data_path_missing_here_says_where_it_is_read_from(tmp_path, capsys, monkeypatch):
    """``data = "bmi.pkl"`` beside the experiment file, `sweep local` started from another folder:
    the line said "no file at bmi.pkl" alone, as if the file were not there. It says that a relative
    path is read from the current folder and names the file beside the experiment, as `snnsim.run
    --config` does for a config file's data."""
    folder, elsewhere = tmp_path / "exp", tmp_path / "elsewhere"
    folder.mkdir(), elsewhere.mkdir()
    path = _experiment("bmi.pkl", folder)
    (folder / "bmi.pkl").write_bytes(b"")  # there is a file, beside the experiment (its contents are not read)
    monkeypatch.chdir(elsewhere)
    assert cli.main(["--results-dir", str(tmp_path / "r"), "local", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"snnsim.sweep: error: {path}: data: no file at bmi.pkl (read by jobs 0-2; a relative path is read from the "
        f"current folder, {elsewhere}, not the experiment file's; {folder / 'bmi.pkl'} is there: give its full "
        "path); no job started"
    ]
    assert not (tmp_path / "r").exists() and list(elsewhere.iterdir()) == []


def test_a_relative_data_file_there_but_damaged_is_not_said_to_be_read_from_elsewhere(tmp_path, capsys, monkeypatch):
    """A damaged data file in the current folder: the line names what is wrong with it, not that a
    relative path is read from the current folder."""
    folder = tmp_path / "exp"
    folder.mkdir()
    path = _experiment("bmi.pkl", folder)
    (tmp_path / "bmi.pkl").write_bytes(b"not a pickle")  # there, in the current folder: damaged
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--results-dir", str(tmp_path / "r"), "local", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}: data: " in err[0] and "no job started" in err[0], err
    assert "a relative path is read from" not in err[0], err


def test_a_data_path_of_an_unknown_users_home_is_one_line(tmp_path, capsys, monkeypatch):
    """``data = "~nosuchuser/bmi.pkl"``: the relative-path note's Path.expanduser raised
    RuntimeError ("Could not determine home directory") and sweep ended in a traceback; the line
    names the missing file, as before that note."""
    path = _experiment("~snnsim-no-such-user/bmi.pkl", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--results-dir", str(tmp_path / "r"), "local", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data: no file at ~snnsim-no-such-user/bmi.pkl (read by jobs 0-2" in err[0], err
    assert err[0].endswith("no job started") and not (tmp_path / "r").exists()
