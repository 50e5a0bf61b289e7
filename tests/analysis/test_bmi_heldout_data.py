"""analysis/bmi_heldout_data.py: a second BMI generator in the course's format."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pickle
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from small_disk import fill, mounted_tmpfs

from snnsim.datasets import bmi
from snnsim.datasets.bmi import N_FOLDS, validate

SCRIPT = Path(__file__).resolve().parents[2] / "analysis" / "bmi_heldout_data.py"


@pytest.fixture(scope="module")
def heldout():
    spec = importlib.util.spec_from_file_location("bmi_heldout_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data(heldout):
    return heldout.generate(0)


@pytest.mark.xdist_group("heldout-data")  # one generated data set, on one xdist worker
def test_the_data_set_has_the_course_format(data):
    folds = validate(data, "heldout")
    assert all(len(folds[k]) == N_FOLDS for k in folds)
    sizes = [len(f) for f in folds["MI"]]
    assert min(sizes) >= 1000 and max(sizes) <= 1600
    rates = np.concatenate(folds["MI"]).reshape(-1, 48, 20).mean((0, 2)) / 0.05  # Hz per neuron
    assert 1.0 < rates.min() and rates.max() < 80.0


@pytest.mark.xdist_group("heldout-data")  # one generated data set, on one xdist worker
def test_a_sample_sees_the_twenty_bins_before_it(data):
    """Consecutive samples of a block are one bin apart: sample j+1's bins 0..18 are sample j's 1..19."""
    mi = data["MI"][0].reshape(-1, 48, 20)
    time = data["time"][0]
    same_block = np.isclose(np.diff(time), 0.05)
    assert same_block.mean() > 0.99
    first = np.flatnonzero(same_block)[:200]
    np.testing.assert_array_equal(mi[first + 1, :, :19], mi[first, :, 1:])


@pytest.mark.xdist_group("heldout-data")  # one generated data set, on one xdist worker
def test_the_arm_stays_in_a_plausible_range(data):
    theta = np.concatenate(data["theta"])
    lo, hi = np.percentile(theta, [1, 99], axis=0)
    assert np.all(lo > [-1.0, 0.3]) and np.all(hi < [1.8, 2.6])
    np.testing.assert_allclose(np.concatenate(data["dtheta"]).std(0), [0.5, 0.6], rtol=0.3)


def test_renewal_spikes_are_more_regular_than_poisson(heldout):
    """Gamma(2) renewal at a constant rate: the mean count follows the rate, the Fano factor of
    long windows is about 1/2 (1 for Poisson)."""
    rng = np.random.default_rng(1)
    steps = int(2000 / heldout.DT)
    counts = heldout.renewal_counts(np.full((steps, 3), 20.0), rng)
    per_second = counts.reshape(2000, -1, 3).sum(1)
    np.testing.assert_allclose(per_second.mean(0), 20.0, rtol=0.03)
    fano = per_second.var(0) / per_second.mean(0)
    assert np.all((fano > 0.4) & (fano < 0.65)), fano


def test_the_seed_decides_the_data(heldout):
    small = (200, 300)  # samples per fold
    first, again, other = (heldout.generate(seed, small) for seed in (5, 5, 6))
    assert all(200 <= len(f) <= 300 for f in first["MI"])
    for key in first:
        for a, b in zip(first[key], again[key]):
            np.testing.assert_array_equal(a, b)
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(first["MI"], other["MI"]))


def test_the_script_refuses_to_overwrite(heldout, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(heldout, "generate", lambda seed: {"seed": seed})  # the writing, not the data
    out = tmp_path / "results" / "heldout.pkl"  # the folder is made
    assert heldout.main([str(out), "--seed", "3"]) == 0
    assert pickle.loads(out.read_bytes()) == {"seed": 3}
    assert heldout.main([str(out), "--seed", "4"]) == 2
    assert "exists" in capsys.readouterr().err
    assert pickle.loads(out.read_bytes()) == {"seed": 3}


def test_a_full_disk_leaves_no_partial_file(tmp_path):
    """A write refused by the kernel (a per-file size limit of 1 MB, RLIMIT_FSIZE) is one line
    naming the file, exit 5, and leaves nothing: the same command works once there is room."""
    out = tmp_path / "heldout.pkl"
    code = (f"import importlib.util, sys, numpy as np; spec = importlib.util.spec_from_file_location('h', {str(SCRIPT)!r}); "
            "h = importlib.util.module_from_spec(spec); spec.loader.exec_module(h); "
            "h.generate = lambda seed: {'MI': np.zeros(500_000)}; sys.exit(h.main(sys.argv[1:]))")  # fmt: skip

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, preexec_fn=limit,
                          cwd=SCRIPT.parent)  # fmt: skip
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.count("\n") == 1 and str(out) in proc.stderr and "File too large" in proc.stderr
    assert list(tmp_path.iterdir()) == []
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, cwd=SCRIPT.parent)
    assert proc.returncode == 0, proc.stderr
    assert pickle.loads(out.read_bytes())["MI"].shape == (500_000,)


def test_the_file_has_a_record_of_what_made_it(heldout, tmp_path, capsys, monkeypatch):
    """Beside the data file, ``OUT.json`` names what made it: the seed, the generator's settings,
    the script's and the file's SHA-256 and the versions; the data regenerated from it are the
    file's. The pickle stays the course's format (the loader reads it as before)."""
    monkeypatch.setattr(heldout, "FOLD_SAMPLES", (200, 300))  # a small set, recorded as used
    out = tmp_path / "heldout.pkl"
    assert heldout.main([str(out), "--seed", "3"]) == 0
    record = Path(f"{out}.json")
    assert str(record) in capsys.readouterr().out
    made = json.loads(record.read_text())
    assert made["seed"] == 3 and made["fold_samples"] == [200, 300]
    assert made["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert made["script_sha256"] == hashlib.sha256(SCRIPT.read_bytes()).hexdigest()
    assert made["versions"]["numpy"] == np.__version__
    assert made["command"] == ["analysis/bmi_heldout_data.py", str(out), "--seed", "3"]
    data = pickle.loads(out.read_bytes())
    assert sorted(data) == sorted(bmi.KEYS)
    again = heldout.generate(made["seed"], tuple(made["fold_samples"]))
    for key in bmi.KEYS:
        for a, b in zip(data[key], again[key], strict=True):
            np.testing.assert_array_equal(a, b)
    assert len(bmi.load(out)["MI"]) == N_FOLDS
    assert heldout.main([str(tmp_path / "other.pkl"), "--seed", "3"]) == 0  # same seed, same bytes
    assert (tmp_path / "other.pkl").read_bytes() == out.read_bytes()
    out.unlink()  # a record left without its file is not overwritten either
    assert heldout.main([str(out), "--seed", "4"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{record} exists; give a new path")
    assert json.loads(record.read_text())["seed"] == 3


def test_a_disk_full_for_the_record_leaves_neither_file(heldout, tmp_path, capsys, monkeypatch):
    """The data file fits on a real small file system but its record does not: one line naming
    the record, exit 5, and no data file without its record; with room, both are written."""
    monkeypatch.setattr(heldout, "generate", lambda seed: {"seed": seed})
    with mounted_tmpfs(tmp_path / "disk", "256k") as disk:
        out = disk / "heldout.pkl"
        fill(disk, room=4096)  # one page: the pickle's
        assert heldout.main([str(out), "--seed", "3"]) == 5
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{out}.json" in err and "No space left" in err
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
        (disk / "filler").unlink()
        assert heldout.main([str(out), "--seed", "3"]) == 0
        assert pickle.loads(out.read_bytes()) == {"seed": 3}
        assert json.loads(Path(f"{out}.json").read_text())["seed"] == 3


def test_lowpass_is_the_first_order_recursion(heldout):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 2))
    a = np.exp(-heldout.DT / 0.01)
    want, y = np.empty_like(x), np.zeros(2)
    for t in range(len(x)):  # the plain recursion
        y = a * y + (1 - a) * x[t]
        want[t] = y
    np.testing.assert_allclose(heldout.lowpass(x, 0.01), want, atol=1e-12)


def test_the_out_path_may_begin_with_a_tilde(heldout, tmp_path, monkeypatch):
    """``"~/r/heldout.pkl"`` (quoted, so the shell leaves the ``~``) is in the home folder, as for
    every snnsim command, not in a folder named ``~`` here."""
    monkeypatch.setattr(heldout, "generate", lambda seed: {"seed": seed})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert heldout.main(["~/r/heldout.pkl"]) == 0
    assert pickle.loads((tmp_path / "home" / "r" / "heldout.pkl").read_bytes()) == {"seed": 0}
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize(("name", "kind"), [("x.h5", "an HDF5"), ("x.HDF5", "an HDF5"), ("x.csv", "a CSV"),
                                            ("x.npz", "a NumPy .npz"), ("x.json", "a JSON")])  # fmt: skip
def test_a_name_of_another_format_is_refused(heldout, name, kind, tmp_path, capsys, monkeypatch):
    """``bmi_heldout_data.py x.h5`` wrote a pickle named as HDF5 (the loader reads it by its bytes;
    h5py, a result reader or a user are misled): one line, exit 2, nothing written."""
    monkeypatch.setattr(heldout, "generate", lambda seed: {"seed": seed})  # the writing, not the data
    out = tmp_path / name
    assert heldout.main([str(out)]) == 2
    assert capsys.readouterr().err == (
        f"{heldout.PROG}: error: OUT: {out} names {kind} file, but this script writes a pickle; give a name such as "
        f"{out.with_suffix('.pkl')} (.pkl or .pickle)\n"
    )
    assert list(tmp_path.iterdir()) == []
    for good in ("x.pkl", "x.pickle", "x"):  # a name without an extension is taken as it is
        assert heldout.main([str(tmp_path / good)]) == 0, capsys.readouterr().err
        assert pickle.loads((tmp_path / good).read_bytes()) == {"seed": 0}
