"""``python -m snnsim.predict MODEL``: a trained model's predictions on new data reproduce what the
result file holds for the same data (IPD test sets; BMI folds), fresh stimuli are deterministic,
and bad input gets one line on stderr, exit code 2 and no file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from in_process import run_here
from signalled_write import signal_in_write, signal_once_written
from terminal import on_a_terminal

from snnsim import predict, results
from snnsim import run as run_cli
from snnsim.backends import _native
from snnsim.metrics import discretise
from snnsim.studies.ipd import make_stimuli

ROOT = Path(__file__).resolve().parents[1]
IPD = ["--backend", "fused", "--epochs", "2", "--n-train-batches", "3", "--n-test-batches", "2", "--batch-size", "32",
       "--hidden", "16", "--repeats", "2", "--quiet"]  # fmt: skip


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnsim.predict", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def in_process(*args: str) -> int:
    return predict.main([str(a) for a in args])


def in_a_log(*args: object) -> subprocess.CompletedProcess:
    """:func:`cli` with stderr a log (a StringIO, not a terminal), in this process
    (in_process.run_here): the bar tests' terminal runs beside it are processes on a pseudo-terminal."""
    return run_here(predict.main, *args, cwd=ROOT)


def _bmi_linear(folder: Path, bmi_path: str, *extra: str) -> Path:
    out = folder / "b.h5"
    assert run_cli.main(["--study", "bmi", "--model", "linear", "--data", str(bmi_path), "--n-train-folds", "2",
                         *extra, "--quiet", "--out", str(out)]) == 0  # fmt: skip
    return out


@pytest.fixture(scope="module")
def bmi_linear(tmp_path_factory, bmi_path) -> Path:
    """A ridge model of :func:`bmi_path` (2 training folds) trained by the command's main() in
    this process, once for the tests that only read it."""
    return _bmi_linear(tmp_path_factory.mktemp("bmi-linear"), bmi_path)


@pytest.fixture(scope="module")
def bmi_linear_dim0(tmp_path_factory, bmi_path) -> Path:
    """:func:`bmi_linear` of the first output only (``--dim 0``)."""
    return _bmi_linear(tmp_path_factory.mktemp("bmi-linear-dim0"), bmi_path, "--dim", "0")


@pytest.fixture(scope="module")
def ipd_model(tmp_path_factory) -> Path:
    """A tiny IPD model (2 repeats) trained by the command's main() in this process."""
    out = tmp_path_factory.mktemp("ipd") / "r.h5"
    assert run_cli.main([*IPD, "--out", str(out)]) == 0
    return out


def scored_test_set(ipd_model: Path, folder: Path, repeat: int) -> Path:
    """The test set repeat ``repeat`` of the model was scored on, as an .npz."""
    ds = results.load(ipd_model)
    cfg = results.config_of(ds)
    stim = make_stimuli(cfg, int(ds["seed"].sel(repeat=repeat)), torch.device("cpu"), "test")
    path = folder / f"test{repeat}.npz"
    np.savez(path, spikes=stim.spikes.numpy(), ipd=stim.ipd.numpy())
    return path


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_ipd_predictions_reproduce_the_result_files_test_scores(ipd_model, tmp_path):
    """Each repeat was tested on its own test set (seed + repeat): predicting that set gives its
    accuracy, error and confusion matrix exactly. The first by a separate process."""
    ds = results.load(ipd_model)
    n_classes = results.config_of(ds).n_classes
    for r in (0, 1):
        data, out = scored_test_set(ipd_model, tmp_path, r), tmp_path / f"p{r}.h5"
        if r == 0:
            proc = cli(str(ipd_model), "--data", str(data), "--out", str(out))
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.startswith(f"{out}: 64 samples x 2 repeats; accuracy ")
        else:
            assert in_process(ipd_model, "--data", data, "--out", out) == 0
        p = results.load(out)
        assert list(p["repeat"].values) == [0, 1] and p.sizes["sample"] == 64
        assert float(p["accuracy"].sel(repeat=r)) == float(ds["test_acc"].sel(repeat=r))
        assert float(p["error_deg"].sel(repeat=r)) == float(ds["test_err_deg"].sel(repeat=r))
        predicted = p["predicted_class"].sel(repeat=r).values
        ipd = torch.from_numpy(np.load(data)["ipd"])
        np.testing.assert_array_equal(p["ipd_deg"].values, np.degrees(ipd.double().numpy()))
        true = discretise(ipd, n_classes).numpy()
        confusion = np.zeros((n_classes, n_classes), dtype=int)
        np.add.at(confusion, (true, predicted), 1)
        np.testing.assert_array_equal(confusion, ds["confusion"].sel(repeat=r).values)
        np.testing.assert_array_equal(
            p["predicted_ipd_deg"].sel(repeat=r).values, ds["class_ipd_deg"].values[predicted]
        )


def test_predictions_of_a_model_scored_by_the_sum_over_time_reproduce_its_test_scores(tmp_path):
    """A ``--readout max --eval sum`` model (seed quirk 4) is scored by the argmax of its summed
    output: its predictions give the file's confusion matrix, and the same weights scored by their
    readout (``eval`` set to ``readout`` in a copy) another one. Only ``--eval readout`` models had
    been predicted: predictions that ignored ``--eval sum`` passed."""
    out = tmp_path / "r.h5"
    flags = [*IPD[: IPD.index("--repeats")], "--quiet", "--readout", "max", "--eval", "sum"]
    assert run_cli.main([*flags, "--out", str(out)]) == 0
    ds = results.load(out)
    readout = tmp_path / "readout.h5"
    copy = ds.copy()
    copy.attrs["config"] = json.dumps({**json.loads(ds.attrs["config"]), "eval": "readout"})
    results.write(copy, readout)
    data = scored_test_set(out, tmp_path, 0)
    true = discretise(torch.from_numpy(np.load(data)["ipd"]), results.config_of(ds).n_classes).numpy()
    confusions = []
    for model in (out, readout):
        assert in_process(model, "--data", data, "--out", tmp_path / f"p-{model.stem}.h5") == 0
        confusion = np.zeros_like(ds["confusion"].values[0])
        np.add.at(confusion, (true, results.load(tmp_path / f"p-{model.stem}.h5")["predicted_class"].values[0]), 1)
        confusions.append(confusion)
    np.testing.assert_array_equal(confusions[0], ds["confusion"].sel(repeat=0).values)
    assert not np.array_equal(confusions[1], confusions[0]), "the case must tell the two evaluations apart"


def test_a_model_of_other_stimulus_settings_is_predicted_with_its_own(tmp_path):
    """A model trained on another stimulus (8 classes of 22.5 deg, a 50 Hz tone, 20 fibres per ear,
    30 ms in steps of 0.5 ms, another peak rate and envelope) is predicted with the settings its
    file holds, not the defaults: its test set gives the file's scores and confusion matrix, its
    classes are the 8 bin midpoints, and fresh stimuli have its steps and fibres. Only models of
    the default stimulus had been predicted: predictions that drew or scored with the defaults
    passed."""
    out = tmp_path / "r.h5"
    stimulus = ["--n-classes", "8", "--tone-hz", "50", "--anf-per-ear", "20", "--dt", "0.5ms", "--duration", "30ms",
                "--rate-max-hz", "900", "--envelope-power", "3"]  # fmt: skip
    assert run_cli.main([*IPD, *stimulus, "--out", str(out)]) == 0
    ds = results.load(out)
    midpoints = -90 + 22.5 * (np.arange(8) + 0.5)
    np.testing.assert_allclose(ds["class_ipd_deg"].values, midpoints)
    for r in (0, 1):
        data, p = scored_test_set(out, tmp_path, r), tmp_path / f"p{r}.h5"
        assert np.load(data)["spikes"].shape == (64, 60, 40)
        assert in_process(out, "--data", data, "--out", p) == 0
        p = results.load(p)
        assert float(p["accuracy"].sel(repeat=r)) == float(ds["test_acc"].sel(repeat=r))
        assert float(p["error_deg"].sel(repeat=r)) == float(ds["test_err_deg"].sel(repeat=r))
        ipd = np.load(data)["ipd"].astype(np.float64)
        true = np.floor((ipd + np.pi / 2) * 8 / np.pi).astype(int)
        predicted = p["predicted_class"].sel(repeat=r).values
        confusion = np.zeros((8, 8), dtype=int)
        np.add.at(confusion, (true, predicted), 1)
        np.testing.assert_array_equal(confusion, ds["confusion"].sel(repeat=r).values)
        np.testing.assert_allclose(p["predicted_ipd_deg"].sel(repeat=r).values, midpoints[predicted])
    fresh = tmp_path / "fresh.h5"
    assert in_process(out, "--stimuli", 5, "--out", fresh) == 0
    assert np.isclose(results.load(fresh)["predicted_ipd_deg"].values[..., None], midpoints).any(-1).all()
    # the fresh stimuli are the model's: those the encoder draws with its settings for that seed
    from snnsim.encoders.ipd import IPDStimulus, generate
    from snnsim.seeding import generator

    ipd, spikes = generate(5, IPDStimulus.from_config(results.config_of(ds)), generator(0, "ipd-predict"))
    assert spikes.shape == (5, 60, 40)
    np.testing.assert_array_equal(results.load(fresh)["ipd_deg"].values, np.degrees(ipd.double().numpy()))


def test_stimuli_are_held_as_spikes_not_as_a_float_copy_of_them_all(tmp_path):
    """The stimuli are kept as their 1-byte spikes and made float one batch at a time, as a run
    keeps its data: 1,000 stimuli of a model of 1,000 steps of 0.1 ms (2e8 spikes, 0.2 GB) take
    less than 2 bytes a spike above the libraries. Before, a float32 copy of them all (0.8 GB)
    came beside the spikes: 5 bytes a spike (2.7 GB at the peak for 2,000 such stimuli). Half as
    many stimuli as first measured, the margin as wide in bytes a spike: half the CPU seconds.

    The peak is glibc's: with its own mmap threshold (rising as blocks are freed) the batches' blocks
    went to a heap whose fragments depended on addresses and timing, and a loaded machine's peak
    was up to 0.6 GB above a quiet one's for the same stimuli (the test failed 2 times in 10). A
    fixed threshold of 64 KiB maps each block of tensor data of its own and unmaps it when freed:
    the peak is that of the live arrays (the same in every run) and the libraries."""
    out = tmp_path / "r.h5"
    assert run_cli.main(["--backend", "fused", "--epochs", "1", "--n-train-batches", "1", "--n-test-batches", "1",
                         "--batch-size", "16", "--hidden", "8", "--dt", "0.1ms", "--rate-max-hz", "1000", "--quiet",
                         "--out", str(out)]) == 0  # fmt: skip
    peak = ("import resource, sys; from snnsim import predict; code = predict.main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024); sys.exit(code)")  # fmt: skip

    def peak_bytes(n: int) -> int:
        proc = subprocess.run([sys.executable, "-c", peak, str(out), "--stimuli", str(n), "--out",
                               str(tmp_path / f"p{n}.h5")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(64 << 10)))  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.splitlines()[-1])

    spikes = 1000 * 1000 * 200
    assert peak_bytes(1000) - peak_bytes(16) < 2 * spikes


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_fresh_stimuli_are_deterministic(ipd_model, tmp_path):
    outs = [tmp_path / name for name in ("a.h5", "b.h5", "c.h5")]
    for out, seed in zip(outs, (3, 3, 4)):
        assert in_process(ipd_model, "--stimuli", 40, "--seed", seed, "--out", out) == 0
    a, b, c = (results.load(out) for out in outs)
    assert a.sizes["sample"] == 40 and set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert not np.array_equal(a["ipd_deg"].values, c["ipd_deg"].values)  # another seed, other stimuli
    true = discretise(torch.from_numpy(np.radians(a["ipd_deg"].values)), results.config_of(a).n_classes).numpy()
    np.testing.assert_allclose(a["accuracy"].values, 100 * (a["predicted_class"].values == true).mean(1))
    # provenance as a run's result file carries it: the model's seed, the stimuli's, library versions
    model = results.load(ipd_model)
    assert a.attrs["seed"] == model.attrs["seed"] and (a.attrs["stimuli_seed"], c.attrs["stimuli_seed"]) == (3, 4)
    assert a.attrs["versions"] == model.attrs["versions"] and a.attrs["snnsim_version"] == model.attrs["snnsim_version"]
    assert a.attrs["numerics_version"] == model.attrs["numerics_version"] and a.attrs["device"] == "cpu"
    # without --seed: seed 0, as --help says, and recorded as such
    assert in_process(ipd_model, "--stimuli", 2, "--out", tmp_path / "d.h5") == 0
    d = results.load(tmp_path / "d.h5")
    assert (d.attrs["stimuli_seed"], d.attrs["data"]) == (0, "2 fresh stimuli, seed 0")


@pytest.mark.xdist_group("predict-ipd-model")
def test_predicting_many_stimuli_shows_a_progress_bar_on_a_terminal_not_in_a_log(ipd_model, tmp_path):
    """``--stimuli 20000`` predicted for a minute without a word (a tiny model, 2 cores); a
    terminal shows a bar of the samples predicted, cleared at the end; a log (stderr not a
    terminal) gets no bar."""
    code, out, shown = on_a_terminal([sys.executable, "-m", "snnsim.predict", str(ipd_model), "--stimuli", "640",
                                      "--out", str(tmp_path / "p.h5")], cwd=ROOT)  # fmt: skip
    assert code == 0 and out.startswith(f"{tmp_path / 'p.h5'}: 640 samples"), (out, shown)
    assert "snnsim.predict:" in shown and "/640 [" in shown, shown
    assert not shown.replace("\r\n", "\n").split("\r")[-1].strip(), shown  # the bar's line is clear
    proc = in_a_log(str(ipd_model), "--stimuli", "640", "--out", str(tmp_path / "q.h5"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.xdist_group("predict-ipd-model")
def test_drawing_many_stimuli_shows_a_progress_bar_on_a_terminal_not_in_a_log(ipd_model, tmp_path):
    """``--stimuli 20000`` drew its stimuli without a word before the bar of the samples predicted
    (2.6 s on a quiet machine, 23 s on a loaded one). A terminal shows a bar of the stimuli drawn
    first, cleared as the predicting bar is; a log gets no bar; the stimuli are the same."""
    code, out, shown = on_a_terminal([sys.executable, "-m", "snnsim.predict", str(ipd_model), "--stimuli", "640",
                                      "--out", str(tmp_path / "p.h5")], cwd=ROOT)  # fmt: skip
    assert code == 0 and out.startswith(f"{tmp_path / 'p.h5'}: 640 samples"), (out, shown)
    drawn, predicted = shown.find("\rsnnsim.predict: drawing stimuli"), shown.find("\rsnnsim.predict:  ")
    assert 0 <= drawn < predicted and "/640 [" in shown[drawn:predicted], shown  # drawn, then predicted
    assert not shown.replace("\r\n", "\n").split("\r")[-1].strip(), shown  # the bar's line is clear
    proc = in_a_log(str(ipd_model), "--stimuli", "640", "--out", str(tmp_path / "q.h5"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    a, b = results.load(tmp_path / "p.h5"), results.load(tmp_path / "q.h5")
    np.testing.assert_array_equal(a["ipd_deg"].values, b["ipd_deg"].values)


@pytest.mark.xdist_group("predict-ipd-model")
def test_reading_a_data_file_of_stimuli_says_so_on_a_terminal_not_in_a_log(ipd_model, tmp_path):
    """``--data stimuli.npz`` of 20,000 stimuli (400 MB) read and checked the file for a minute and
    a half on a loaded machine without a word before the bar of the samples predicted. A terminal
    shows one line first; a log (stderr not a terminal) gets none."""
    data = scored_test_set(ipd_model, tmp_path, 0)
    cmd = [sys.executable, "-m", "snnsim.predict", str(ipd_model), "--data", str(data), "--out", str(tmp_path / "p.h5")]
    code, out, shown = on_a_terminal(cmd, cwd=ROOT)
    assert code == 0 and out.startswith(f"{tmp_path / 'p.h5'}: 64 samples"), (out, shown)
    line = f"snnsim.predict: reading the stimuli in {data}\r\n"
    assert shown.startswith(line) and "/64 [" in shown[len(line) :], shown
    proc = in_a_log(str(ipd_model), "--data", str(data), "--out", str(tmp_path / "q.h5"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_a_model_of_other_numerics_gets_a_note(ipd_model, tmp_path, capsys):
    """A model trained by an snnsim of other numerics predicts, with a note that its stored
    scores may not be reproduced; a model of this snnsim's numerics gets none."""
    older = tmp_path / "older.h5"
    ds = results.load(ipd_model)
    ds.attrs["numerics_version"] = results.NUMERICS_VERSION - 1
    results.write(ds, older)
    capsys.readouterr()
    for model, note in ((ipd_model, False), (older, True)):
        assert in_process(model, "--stimuli", 8, "--out", tmp_path / f"{model.stem}_p.h5") == 0
        err = capsys.readouterr().err
        expected = (f"snnsim.predict: note: {model} was trained by an snnsim of numerics version "
                    f"{results.NUMERICS_VERSION - 1}, this one has {results.NUMERICS_VERSION}")  # fmt: skip
        assert (expected in err) == note, err


@pytest.mark.xdist_group("predict-ipd-model")
def test_predictions_record_what_trained_their_model(ipd_model, tmp_path):
    """A predictions file records what trained its model, as its model file says (``model_versions``,
    ``model_numerics_version``, ``model_kernels`` ...), beside what predicted (``versions``,
    ``numerics_version``): a model trained by another snnsim was otherwise named only by the note
    on stderr, lost with the terminal once the model file is gone or trained again."""
    ds = results.load(ipd_model)
    ds.attrs["numerics_version"] = results.NUMERICS_VERSION - 1
    ds.attrs["versions"] = json.dumps({**json.loads(ds.attrs["versions"]), "torch": "1.0.0"}, sort_keys=True)
    ds.attrs["kernels"] = "torch loops (SNNSIM_NO_NATIVE=1)"
    older = results.write(ds, tmp_path / "older.h5")
    assert in_process(older, "--stimuli", 8, "--out", tmp_path / "p.h5") == 0
    attrs = results.load(tmp_path / "p.h5").attrs
    assert attrs["model_numerics_version"] == results.NUMERICS_VERSION - 1
    assert json.loads(attrs["model_versions"])["torch"] == "1.0.0"
    assert attrs["model_kernels"] == "torch loops (SNNSIM_NO_NATIVE=1)" and attrs["model_cpu"] == ds.attrs["cpu"]
    assert attrs["numerics_version"] == results.NUMERICS_VERSION  # what predicted: this snnsim
    assert json.loads(attrs["versions"]) == results.library_versions()


@pytest.mark.xdist_group("predict-ipd-model")
def test_a_model_computed_otherwise_gets_a_note(ipd_model, tmp_path, capsys):
    """A model whose numbers came from the kernels' torch loops (``SNNSIM_NO_NATIVE=1``) or another
    torch predicts here with other numbers in the last bits (a BMI test fold's FVAF 2e-10 apart):
    a note names what differs, as for other numerics. Before, nothing did."""
    if _native.library() is None:  # the model's own kernels are the torch loops then: no difference
        pytest.skip("no C compiler: compiled kernels unavailable")
    ds = results.load(ipd_model)
    ds.attrs["kernels"] = "torch loops (SNNSIM_NO_NATIVE=1)"
    ds.attrs["numerics_env"] = '{"SNNSIM_NO_NATIVE": "1"}'
    loops = tmp_path / "loops.h5"
    results.write(ds, loops)
    ds = results.load(ipd_model)
    ds.attrs["versions"] = json.dumps({**json.loads(ds.attrs["versions"]), "torch": "1.0.0"}, sort_keys=True)
    older = tmp_path / "older.h5"
    results.write(ds, older)
    capsys.readouterr()
    expected = {
        ipd_model: None,
        loops: "the kernels' torch loops (SNNSIM_NO_NATIVE=1) (here compiled)",
        older: f"torch 1.0.0 (here {results.library_versions()['torch']})",
    }
    for model, what in expected.items():
        assert in_process(model, "--stimuli", 8, "--out", tmp_path / f"{model.stem}_p.h5") == 0
        notes = [n for n in capsys.readouterr().err.splitlines() if "computed with" in n]
        assert notes == ([] if what is None else [
            f"snnsim.predict: note: {model} was computed with {what}: its predictions here can differ from the "
            "scores it stored (in the last bits, or more)"])  # fmt: skip


@pytest.mark.parametrize(
    "model,extra", [("snn", []), ("snn", ["--readout-units", "3"]), ("snn", ["--readout", "last"]),
                    ("snn", ["--encoding", "bins"]), ("snn", ["--input-rank", "3"]), ("ann", []),
                    ("linear", []),
                    ("snn", ["--backend", "norse", "--neuron", "standard", "--hidden", "8,4", "--recurrent",
                             "--tau-syn", "5ms", "--tau-adapt", "50ms", "--learn-tau", "--delays", "learned"])],
)  # fmt: skip
def test_bmi_predictions_reproduce_the_result_files_folds(model, extra, bmi_path, tmp_path):
    """Trained by the command's main() (snn: the recipe's window encoding and weighted readout
    unless ``extra`` says otherwise; with ``--delays`` the recipe's encoding is dropped); ``--fold TEST`` gives the stored test predictions and FVAF bit for bit, ``--fold
    VAL`` the validation FVAF."""
    out = tmp_path / "b.h5"
    code = run_cli.main(["--study", "bmi", "--model", model, "--backend", "fused", "--epochs", "2", "--hidden", "8",
                         "--batch-size", "128", "--n-train-folds", "2", "--repeats", "2", "--data", str(bmi_path),
                         "--quiet", "--out", str(out), *extra])  # fmt: skip
    assert code == 0
    ds = results.load(out)
    test_fold, val_fold = int(ds.attrs["test_fold"]), int(ds.attrs["val_fold"])
    assert in_process(out, "--data", bmi_path, "--fold", test_fold, "--out", tmp_path / "test.h5") == 0
    p = results.load(tmp_path / "test.h5")
    for name in ("y_pred", "y_true", "time"):
        np.testing.assert_array_equal(p[name].values, ds[name].values, err_msg=name)
    np.testing.assert_array_equal(p["fvaf"].values, ds["test_fvaf"].values)
    assert (p["fold"].values == test_fold).all() and list(p["output"].values) == list(ds["output"].values)
    assert in_process(out, "--data", bmi_path, "--fold", val_fold, "--out", tmp_path / "val.h5") == 0
    np.testing.assert_array_equal(results.load(tmp_path / "val.h5")["fvaf"].values, ds["val_fvaf"].values)


def test_predicting_a_bmi_data_set_shows_a_progress_bar_on_a_terminal_not_in_a_log(bmi_path, tmp_path):
    """A spiking BMI model predicting a data file of 20 folds of 2,600 samples worked for 18 s
    (loaded machine) without a word after the data file's line, where an IPD model's predictions
    show a bar. A terminal shows a bar of the samples predicted, cleared at the end; a log gets no
    bar; the predictions are the same."""
    model = tmp_path / "b.h5"
    assert run_cli.main(["--study", "bmi", "--epochs", "1", "--hidden", "8", "--n-train-folds", "2", "--data",
                         str(bmi_path), "--quiet", "--out", str(model)]) == 0  # fmt: skip
    cmd = [sys.executable, "-m", "snnsim.predict", str(model), "--data", str(bmi_path), "--out", str(tmp_path / "p.h5")]
    code, out, shown = on_a_terminal(cmd, cwd=ROOT)
    assert code == 0 and out.startswith(f"{tmp_path / 'p.h5'}: 6000 samples"), (out, shown)
    assert "\rsnnsim.predict:" in shown and "/6000 [" in shown, shown
    assert not shown.replace("\r\n", "\n").split("\r")[-1].strip(), shown  # the bar's line is clear
    proc = in_a_log(str(model), "--data", str(bmi_path), "--out", str(tmp_path / "q.h5"))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    a, b = results.load(tmp_path / "p.h5"), results.load(tmp_path / "q.h5")
    np.testing.assert_array_equal(a["y_pred"].values, b["y_pred"].values)


@pytest.mark.parametrize("model", ["linear", "snn"])
def test_bmi_summary_names_the_folds_that_trained_the_model(model, bmi_path, tmp_path, capsys):
    """Predicting every fold of the model's own data set pools its training folds into the
    printed FVAF: the line says how many trained it and which chose its epoch (ridge: its
    strength), and names the test fold; a test fold alone, or other data, print no such clause."""
    import pickle

    from snnsim.datasets.bmi_synthetic import generate

    out = tmp_path / "m.h5"
    assert run_cli.main(["--study", "bmi", "--model", model, "--epochs", "1", "--hidden", "8", "--n-train-folds",
                         "3", "--rotation", "7", "--data", bmi_path, "--quiet", "--out", str(out)]) == 0  # fmt: skip
    chose = "its ridge strength" if model == "linear" else "its epoch"
    capsys.readouterr()
    assert in_process(out, "--data", bmi_path, "--out", tmp_path / "all.h5") == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith(f"over 20 folds, of which 3 trained the model and 1 chose {chose} (its test fold: --fold 6)")
    assert in_process(out, "--data", bmi_path, "--fold", "8", "--fold", "5", "--out", tmp_path / "two.h5") == 0
    assert capsys.readouterr().out.strip().endswith("over 2 folds, of which 1 trained the model and 1 chose "
                                                    f"{chose} (its test fold: --fold 6)")  # fmt: skip
    assert in_process(out, "--data", bmi_path, "--fold", "5", "--out", tmp_path / "val.h5") == 0  # validation alone
    assert capsys.readouterr().out.strip().endswith(f"over 1 fold, of which 1 chose {chose} (its test fold: --fold 6)")
    assert in_process(out, "--data", bmi_path, "--fold", "6", "--out", tmp_path / "test.h5") == 0
    assert capsys.readouterr().out.strip().endswith("(median over repeats and outputs)")
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps(generate(seed=1, samples_per_fold=300)))
    assert in_process(out, "--data", other, "--out", tmp_path / "other.h5") == 0
    assert capsys.readouterr().out.strip().endswith("(median over repeats and outputs)")


def _npz(folder: Path, name: str, **arrays) -> Path:
    np.savez(folder / name, **arrays)
    return folder / name


def _npy(folder: Path, name: str, array: np.ndarray) -> Path:
    np.save(folder / name, array)
    return folder / name


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _torch_file(path: Path) -> Path:
    torch.save({"w1": torch.zeros(2)}, path)  # a zip file, which np.load opens as an .npz of no arrays
    return path


def _damaged_compressed_npz(folder: Path) -> Path:
    """An ``np.savez_compressed`` file whose deflated spikes have bytes flipped: the zip's
    directory reads, its member's compressed stream does not."""
    path = folder / "c.npz"
    np.savez_compressed(path, spikes=np.random.default_rng(0).random((4, 100, 200)) < 0.05)
    data = bytearray(path.read_bytes())
    data[200:400] = bytes(b ^ 0xFF for b in data[200:400])
    return _bytes(path, bytes(data))


BAD = {
    "missing model": lambda m, d: (d / "nope.h5", ["--stimuli", "4"], "no result file"),
    "no spikes": lambda m, d: (m, ["--data", _npz(d, "x.npz", X=np.zeros(3), y=np.zeros(3))],
                               "x.npz holds arrays X, y; give an .npz with an array 'spikes' (samples, 100, 200) of 0/1 "
                               "and optionally 'ipd' (rad)$"),  # it is an .npz file: not "not an .npz file (KeyError)"
    "a torch checkpoint": lambda m, d: (m, ["--data", _torch_file(d / "model.pt")],
                                        "model.pt is a torch checkpoint (a zip file), not an .npz file of stimuli; "
                                        "give an .npz"),
    "a result file as data": lambda m, d: (m, ["--data", m], "r.h5 is an HDF5 file, not an .npz file of stimuli"),
    "wrong shape": lambda m, d: (m, ["--data", _npz(d, "s.npz", spikes=np.zeros((4, 10, 3)))], "have shape (4, 10, 3)"),
    "an .npy": lambda m, d: (m, ["--data", _npy(d, "a.npy", np.zeros((4, 100, 200)))],
                             "a.npy is an .npy file of an array, not an .npz file of stimuli; give an .npz with an "
                             "array 'spikes'"),
    "no samples": lambda m, d: (m, ["--data", _npz(d, "e.npz", spikes=np.zeros((0, 100, 200)))], "at least one"),
    "not spikes": lambda m, d: (m, ["--data", _npz(d, "h.npz", spikes=np.full((2, 100, 200), 2))], "0 or 1"),
    "half spikes": lambda m, d: (m, ["--data", _npz(d, "f.npz", spikes=np.full((2, 100, 200), 0.5))], "0 or 1"),
    "nan spikes": lambda m, d: (m, ["--data", _npz(d, "n.npz", spikes=np.full((2, 100, 200), np.nan))], "0 or 1"),
    "text spikes": lambda m, d: (m, ["--data", _npz(d, "t.npz", spikes=np.full((2, 100, 200), "1"))], "0 or 1"),
    "ipd per sample": lambda m, d: (m, ["--data", _npz(d, "i.npz", spikes=np.zeros((4, 100, 200)), ipd=np.zeros(3))],
                                    "one finite IPD (rad) per sample"),
    "ipd in degrees": lambda m, d: (m, ["--data", _npz(d, "g.npz", spikes=np.zeros((2, 100, 200)),
                                                          ipd=np.array([-45.0, 30.0]))],
                                    "ipd must lie in -pi/2..pi/2 rad (-90..90 deg), got -45..30 (degrees?)"),
    "ipd in radians, out of range": lambda m, d: (m, ["--data", _npz(d, "r.npz", spikes=np.zeros((2, 100, 200)),
                                                                       ipd=np.array([2.0, 0.0]))],
                                                  "(-90..90 deg), got 0..2$"),  # not taken for degrees
    "ipd just past 90 deg": lambda m, d: (m, ["--data", _npz(d, "q.npz", spikes=np.zeros((2, 100, 200)),
                                                               ipd=np.array([-1.0, 1.6]))],
                                          "(-90..90 deg), got -1..1.6$"),  # 91.7 deg: past the last class's edge
    "no data file": lambda m, d: (m, ["--data", str(d / "nope.npz")], f"--data: no file at {d / 'nope.npz'}$"),
    "BMI's synthetic data": lambda m, d: (m, ["--data", "synthetic:weak:1"], "--data: synthetic:weak:1 is a synthetic "
                                          "BMI data set; an IPD model takes --data FILE.npz or --stimuli N$"),
    "a folder as data": lambda m, d: (m, ["--data", str(d)], "is a folder; give the .npz file of stimuli"),
    "empty .npz": lambda m, d: (m, ["--data", _bytes(d / "z.npz", b"")], "z.npz is an empty file, not an .npz file of stimuli; give an .npz with an array 'spikes'"),
    "not a zip": lambda m, d: (m, ["--data", _bytes(d / "t.npz", b"PK\x03\x04 not a zip")],
                               "with an array 'spikes' (BadZipFile)"),
    "damaged compressed .npz": lambda m, d: (m, ["--data", _damaged_compressed_npz(d)], "with an array 'spikes'"),
    "no data": lambda m, d: (m, [], "give --data FILE.npz or --stimuli N"),
    "fold of IPD": lambda m, d: (m, ["--stimuli", "4", "--fold", "1"], "--fold is for BMI models"),
    "BMI flags only": lambda m, d: (m, ["--fold", "1"], "--fold is for BMI models"),  # not "give --data or --stimuli"
    "seed of a data file": lambda m, d: (m, ["--data", _npz(d, "k.npz", spikes=np.zeros((2, 100, 200))), "--seed",
                                              "3"], "--seed is the seed of the fresh stimuli of --stimuli"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_bad_input_is_one_line_exit_2_and_no_file(case, ipd_model, tmp_path, capsys):
    """The command's main(): an uncaught exception (a traceback) would fail the test. Nor is a
    folder of ``--out`` left (they were made by the check of ``--out`` and left behind, empty,
    as ``snnsim.run`` once left them)."""
    model, args, message = BAD[case](ipd_model, tmp_path)
    out = tmp_path / "new" / "sub" / "p.h5"
    assert in_process(model, *args, "--out", out) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnsim.predict: error: "), lines
    assert lines[0].endswith(message[:-1]) if message.endswith("$") else message in lines[0], lines
    assert not (tmp_path / "new").exists()


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_an_out_named_as_another_format_is_refused(ipd_model, tmp_path):
    """``--out preds.csv`` wrote an HDF5 file under that name without a word; refused before any work."""
    out = tmp_path / "preds.csv"
    proc = run_here(predict.main, ipd_model, "--stimuli", 4, "--out", out)
    assert proc.returncode == 2 and proc.stderr == (
        f"snnsim.predict: error: --out: {out} names a CSV file, but a predictions file is HDF5; give a name such as "
        f"{tmp_path / 'preds.h5'} (.h5, .hdf5 or .nc)\n"
    ), proc.stderr
    assert not out.exists()


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_a_seed_past_a_runs_seeds_is_refused(ipd_model, tmp_path):
    """--seed past int64 was a traceback from the write of the predictions file's attribute,
    after the predictions; it takes a run's seeds, 0..4294967295."""
    out = tmp_path / "p.h5"
    proc = run_here(predict.main, ipd_model, "--stimuli", 4, "--seed", 99999999999999999999, "--out", out)
    assert proc.returncode == 2 and proc.stderr == (
        "snnsim.predict: error: argument --seed: expected an integer in 0..4294967295, got '99999999999999999999'\n"
    ), proc.stderr
    assert not out.exists()


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_the_last_seed_of_a_run_is_taken(ipd_model, tmp_path):
    """4294967295, the largest seed a run takes, draws stimuli as any other and is recorded."""
    out = tmp_path / "p.h5"
    proc = run_here(predict.main, ipd_model, "--stimuli", 2, "--seed", 4294967295, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert results.load(out).attrs["stimuli_seed"] == 4294967295


@pytest.mark.parametrize("n", [2**62, 2**70])
@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_stimuli_past_torchs_sizes_are_out_of_memory(n, ipd_model, tmp_path):
    """--stimuli whose spikes hold more values than int64 counts was a traceback from torch
    (RuntimeError "Storage size calculation overflowed", or a TypeError past int64 itself); it is
    the one line of test_out_of_memory_names_the_option_that_sizes_it, before any draw."""
    out = tmp_path / "p.h5"
    proc = run_here(predict.main, ipd_model, "--stimuli", n, "--out", out)
    assert proc.returncode == 1 and proc.stderr == (
        "snnsim.predict: error: out of memory (MemoryError); use smaller settings (--stimuli, or a --data file "
        "of fewer samples)\n"
    ), proc.stderr
    assert not out.exists()


def test_stimuli_of_exactly_two_to_the_63_values_are_out_of_memory():
    """2**63 spike values (possible where steps x fibres is a power of two) already overflow
    torch's sizes, as more do: refused as out of memory, not left to torch."""
    from types import SimpleNamespace

    with pytest.raises(RuntimeError, match="overflow"):
        torch.empty((2**62, 2, 1), dtype=torch.bool)
    with pytest.raises(MemoryError):
        predict._check_stimuli_size(2**62, SimpleNamespace(steps=2, n_inputs=1))


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_a_predictions_file_is_no_model(ipd_model, tmp_path, capsys):
    first = tmp_path / "p.h5"
    assert in_process(ipd_model, "--stimuli", 4, "--out", first) == 0
    capsys.readouterr()
    assert in_process(first, "--stimuli", 4, "--out", tmp_path / "q.h5") == 2
    model, sha = results.load(first).attrs["model"], results.load(first).attrs["model_sha256"]
    assert model == str(Path(ipd_model).resolve())
    # named as what it is, with the model that made it and what to give instead (was "a predictions file?")
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.predict: error: {first}: a predictions file (python -m snnsim.predict) of the model in {model} "
        f"(SHA-256 {sha[:12]}...), not a trained model; give {model}"
    ]
    assert not (tmp_path / "q.h5").exists()
    # one of a snnsim that did not record its model's SHA-256 yet: named as one all the same
    ds = results.load(first)
    del ds.attrs["model_sha256"]
    older = results.write(ds, tmp_path / "older.h5")
    assert in_process(older, "--stimuli", 4, "--out", tmp_path / "q.h5") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.predict: error: {older}: a predictions file (python -m snnsim.predict) of the model in {model}, "
        f"not a trained model; give {model}"
    ]
    assert not (tmp_path / "q.h5").exists()


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_an_existing_out_is_kept_without_overwrite(ipd_model, tmp_path, capsys):
    out = tmp_path / "p.h5"
    out.write_bytes(b"keep")
    assert in_process(ipd_model, "--stimuli", 4, "--out", out) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"snnsim.predict: error: --out: {out} exists; give another name, or --overwrite to replace it"]
    assert out.read_bytes() == b"keep"
    assert in_process(ipd_model, "--stimuli", 4, "--out", out, "--overwrite") == 0
    assert results.load(out).sizes["sample"] == 4


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_predictions_stopped_or_killed_in_their_write_leave_no_temporary(ipd_model, tmp_path):
    """SIGTERM (scancel) inside the write: exit 143, one line, no temporary (it was left beside
    --out for good, with no message); SIGKILL: the next prediction removes the killed one's."""
    import signal

    out = tmp_path / "p.h5"
    args = [str(ipd_model), "--stimuli", "4", "--out", str(out)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        returncode, err = signal_in_write("snnsim.predict", args, ".p.h5.*.tmp", tmp_path, sig)
        assert not out.exists()
        if sig == signal.SIGTERM:
            assert returncode == 128 + signal.SIGTERM, err
            assert err == "snnsim.predict: stopped by SIGTERM; no result written\n"
            assert not list(tmp_path.glob(".p.h5.*.tmp"))
    assert len(list(tmp_path.glob(".p.h5.*.tmp"))) == 1  # the killed writer's
    done = run_here(predict.main, *args, cwd=ROOT)  # the next prediction, in this process: no signal in it
    assert done.returncode == 0, done.stderr
    assert f"snnsim.predict: removed 1 temporary file(s) of killed predictions beside {out}" in done.stderr
    assert not list(tmp_path.glob(".p.h5.*.tmp")) and out.is_file()


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_a_stop_once_the_predictions_are_in_place_names_them(ipd_model, tmp_path):
    """SIGTERM once the predictions file is in place (the last step of its write) said "no
    result written", exit 143, while the file was there, whole. The line names the file now."""
    import signal

    out = tmp_path / "p.h5"
    args = [str(ipd_model), "--stimuli", "4", "--out", str(out)]
    returncode, err = signal_once_written("snnsim.predict", args, out, signal.SIGTERM)
    assert returncode == 128 + signal.SIGTERM, err
    assert err == f"snnsim.predict: stopped by SIGTERM after writing {out}\n"
    assert results.load(out).sizes["sample"] == 4 and not list(tmp_path.glob(".p.h5.*.tmp"))


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_the_model_file_is_never_the_out(ipd_model, tmp_path, capsys):
    """Even with --overwrite: the predictions would replace the trained model."""
    model = tmp_path / "m.h5"
    model.write_bytes(Path(ipd_model).read_bytes())
    assert in_process(model, "--stimuli", 4, "--out", model, "--overwrite") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.predict: error: --out: {model} is the model file; write to another file"
    ]
    assert model.read_bytes() == Path(ipd_model).read_bytes()
    stem = tmp_path / "m"  # the model as results/NAME, which every reader takes for results/NAME.h5
    assert in_process(stem, "--stimuli", 4, "--out", model, "--overwrite") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.predict: error: --out: {model} is the model file; write to another file"
    ]
    assert model.read_bytes() == Path(ipd_model).read_bytes()


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_the_data_file_is_never_the_out_and_a_folder_name_is_refused(ipd_model, tmp_path, capsys):
    stimuli = tmp_path / "s.npz"
    np.savez(stimuli, spikes=np.zeros((2, 100, 200)))
    before = stimuli.read_bytes()
    assert in_process(ipd_model, "--data", stimuli, "--out", stimuli, "--overwrite") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.predict: error: --out: {stimuli} is the --data file; write to another file"
    ]
    assert stimuli.read_bytes() == before
    assert in_process(ipd_model, "--stimuli", 4, "--out", f"{tmp_path / 'new'}/") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.predict: error: --out: {tmp_path / 'new'}/ names a folder; give a file name such as "
        f"{tmp_path / 'new' / 'run.h5'}"
    ]
    assert not (tmp_path / "new").exists()


@pytest.mark.xdist_group("predict-bmi-linear")  # the models, trained once on one xdist worker
def test_a_fold_given_twice_or_past_the_last_is_refused(bmi_linear, bmi_path, tmp_path, capsys):
    out = bmi_linear  # the model is only read
    capsys.readouterr()
    assert in_process(out, "--data", bmi_path, "--fold", 0, "--fold", 0, "--out", tmp_path / "p.h5") == 2
    assert capsys.readouterr().err.splitlines() == [
        "snnsim.predict: error: --fold: fold 0 is given twice (its samples would count twice)"
    ]
    assert not (tmp_path / "p.h5").exists()
    assert in_process(out, "--data", bmi_path, "--fold", 20, "--out", tmp_path / "p.h5") == 2  # one past the last
    assert capsys.readouterr().err.splitlines() == ["snnsim.predict: error: --fold: 20 is not a fold (0..19)"]
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.xdist_group("predict-bmi-linear")  # the models, trained once on one xdist worker
def test_a_seed_for_a_bmi_model_is_refused(bmi_linear, bmi_path, tmp_path, capsys):
    """--seed draws IPD stimuli only: a BMI prediction ignored it silently (exit 0)."""
    out = bmi_linear  # the model is only read
    capsys.readouterr()
    assert in_process(out, "--data", bmi_path, "--seed", 4, "--out", tmp_path / "p.h5") == 2
    assert capsys.readouterr().err.splitlines() == [
        "snnsim.predict: error: --seed is for IPD models (the seed of --stimuli); this is a BMI model"
    ]
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.xdist_group("predict-bmi-linear")  # the models, trained once on one xdist worker
def test_ipd_flags_for_a_bmi_model_are_named(bmi_linear, bmi_path, tmp_path, capsys):
    """An IPD command on a BMI model (``--stimuli N``, no ``--data``) names the flag that does
    not fit it; it said "--data: give the bmi_dataset.pkl to predict on"."""
    out = bmi_linear  # the model is only read
    capsys.readouterr()
    assert in_process(out, "--stimuli", 4, "--out", tmp_path / "p.h5") == 2
    assert capsys.readouterr().err.splitlines() == [
        "snnsim.predict: error: --stimuli is for IPD models; this is a BMI model"
    ]
    assert not (tmp_path / "p.h5").exists()


def test_a_bmi_model_without_data_is_told_what_data_it_can_take(bmi_path, tmp_path, capsys):
    """A BMI model with no ``--data``: the message asked for "the bmi_dataset.pkl", though a model
    trained on the synthetic set (the default) predicts on ``--data synthetic``; it names both forms
    and the data the model trained on."""
    out = tmp_path / "b.h5"
    assert run_cli.main(["--study", "bmi", "--model", "linear", "--data", str(bmi_path), "--n-train-folds", "2",
                         "--quiet", "--out", str(out)]) == 0  # fmt: skip
    capsys.readouterr()
    assert in_process(out, "--fold", 0, "--out", tmp_path / "p.h5") == 2
    assert capsys.readouterr().err.splitlines() == [
        "snnsim.predict: error: --data: give the data to predict on: a bmi_dataset.pkl, or synthetic[:NAME[:SEED]] "
        f"(the model trained on {bmi_path})"
    ]
    assert not (tmp_path / "p.h5").exists()


def test_the_help_of_data_names_the_synthetic_sets(capsys):
    """``--data`` of a BMI model takes a synthetic set (``--data synthetic:weak:1``), which its help
    left out ("BMI: a bmi_dataset.pkl")."""
    with pytest.raises(SystemExit):
        predict.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "synthetic[:NAME[:SEED]]" in shown


@pytest.mark.xdist_group("predict-bmi-linear")  # the models, trained once on one xdist worker
def test_bmi_predictions_record_the_sha256_of_the_data_file_they_read(bmi_linear, bmi_path, tmp_path):
    """A predictions file names its data file by the path as given (relative to a folder it does not
    record): without the file's SHA-256, as a run's result file has it, the data its predictions and
    FVAF came from could not be told from a file changed or replaced since."""
    import hashlib
    import pickle

    from snnsim.datasets import bmi as bmi_data

    out = bmi_linear  # the model is only read
    other = tmp_path / "other.pkl"  # the same samples with one fold's counts changed: other bytes
    data = pickle.loads(Path(bmi_path).read_bytes())
    data["MI"][0] = data["MI"][0] + 1
    other.write_bytes(pickle.dumps(data))
    for path in (Path(bmi_path), other):
        p = tmp_path / f"p_{path.stem}.h5"
        assert in_process(out, "--data", path, "--fold", 0, "--out", p) == 0
        assert results.load(p).attrs["data_file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert results.load(out).attrs["data_file_sha256"] == hashlib.sha256(Path(bmi_path).read_bytes()).hexdigest()
    synthetic = tmp_path / "p_synthetic.h5"  # a synthetic member: the SHA-256 of its arrays, as a run records it
    assert in_process(out, "--data", "synthetic:weak:1", "--fold", 0, "--out", synthetic) == 0
    attrs = results.load(synthetic).attrs
    assert "data_file_sha256" not in attrs
    assert attrs["synthetic_data_sha256"] == bmi_data.arrays_sha256(bmi_data.load("synthetic:weak:1"))


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_ipd_predictions_record_the_sha256_of_the_data_file_they_read(ipd_model, tmp_path):
    """An IPD predictions file of a --data FILE.npz carries the file's SHA-256, as a BMI one does:
    two files of other bytes give other digests, each that of its own bytes; drawn stimuli have none."""
    import hashlib

    rng = np.random.default_rng(0)
    first = _npz(tmp_path, "a.npz", spikes=rng.random((3, 100, 200)) < 0.05, ipd=np.array([-1.0, 0.0, 1.0]))
    second = _npz(tmp_path, "b.npz", spikes=rng.random((3, 100, 200)) < 0.05)
    for path in (first, second):
        p = tmp_path / f"p_{path.stem}.h5"
        assert in_process(ipd_model, "--data", path, "--out", p) == 0
        assert results.load(p).attrs["data_file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert in_process(ipd_model, "--stimuli", 2, "--out", tmp_path / "fresh.h5") == 0
    assert "data_file_sha256" not in results.load(tmp_path / "fresh.h5").attrs


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_true_ipds_of_a_float64_file_are_scored_as_given(ipd_model, tmp_path):
    """A user's float64 IPDs (a 5-degree grid, on the classes' 15-degree edges too) are scored as
    the file gives them: ``ipd_deg`` is their value in degrees, and accuracy and error are the
    notebook's formulas on them in float64 (class ``floor((ipd + pi/2) * 12 / pi)``, error against
    the predicted bin midpoint). Before, they were rounded to float32 first: ``ipd_deg`` -74.99999...,
    and -75 deg in class 1 where the formula on the file's value gives 0."""
    ipd = np.radians(np.arange(-90.0, 90.0, 5.0))
    spikes = np.random.default_rng(0).random((len(ipd), 100, 200)) < 0.05
    out = tmp_path / "p.h5"
    assert in_process(ipd_model, "--data", _npz(tmp_path, "grid.npz", spikes=spikes, ipd=ipd), "--out", out) == 0
    p = results.load(out)
    np.testing.assert_array_equal(p["ipd_deg"].values, np.degrees(ipd))
    true = np.floor((ipd + np.pi / 2) * 12 / np.pi).astype(int)
    for r in (0, 1):
        predicted = p["predicted_class"].sel(repeat=r).values
        assert float(p["accuracy"].sel(repeat=r)) == 100 * np.mean(predicted == true)
        error = np.mean(np.abs(np.degrees(ipd) - p["predicted_ipd_deg"].sel(repeat=r).values))
        assert float(p["error_deg"].sel(repeat=r)) == pytest.approx(error, rel=1e-12)
    # the scores of every class the file's IPDs are in: a predictor of exactly those would score 100 %
    from snnsim.metrics import classification_metrics

    assert classification_metrics(torch.from_numpy(ipd), torch.from_numpy(true), 12).acc == 100.0


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_true_ipds_at_the_ends_widened_from_float32_are_taken(ipd_model, tmp_path):
    """+-pi/2 rad drawn in float32 (as the study draws them) and saved as float64 lie 4e-8 rad past
    pi/2: the ends of the class range, taken, not refused as past 90 deg."""
    ipd = np.array([-np.pi / 2, np.pi / 2], dtype=np.float32).astype(np.float64)
    assert np.abs(ipd).max() > np.pi / 2
    out = tmp_path / "p.h5"
    assert in_process(ipd_model, "--data", _npz(tmp_path, "e.npz", spikes=np.zeros((2, 100, 200)), ipd=ipd),
                      "--out", out) == 0  # fmt: skip
    np.testing.assert_array_equal(results.load(out)["ipd_deg"].values, np.degrees(ipd))


def test_the_printed_accuracy_is_the_median_over_repeats(tmp_path, capsys):
    """The line names the median of the repeats' accuracies, as it says: with 3 repeats, not their mean."""
    model, out = tmp_path / "m.h5", tmp_path / "p.h5"
    assert run_cli.main(["--backend", "fused", "--epochs", "1", "--n-train-batches", "1", "--n-test-batches", "1",
                         "--batch-size", "32", "--hidden", "4", "--repeats", "3", "--quiet", "--out", str(model)]) == 0  # fmt: skip
    capsys.readouterr()
    assert in_process(model, "--stimuli", 50, "--out", out) == 0
    accuracy = results.load(out)["accuracy"].values
    assert np.median(accuracy) != np.mean(accuracy)  # these repeats tell the two apart
    assert capsys.readouterr().out == (
        f"{out}: 50 samples x 3 repeats; accuracy {np.median(accuracy):.1f} % (median over repeats)\n"
    )


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_arrays_of_an_npz_that_are_not_read_are_named(ipd_model, tmp_path, capsys):
    """True IPDs saved under another name than ``ipd`` (``ipds``, ``ipd_deg``) are not read, and
    the predictions have no scores: a note names the arrays left unread; a file of ``spikes`` and
    ``ipd`` only gets none."""
    spikes = np.random.default_rng(0).random((3, 100, 200)) < 0.05
    plain = _npz(tmp_path, "plain.npz", spikes=spikes, ipd=np.array([-1, 0, 1]))  # whole radians: integers do
    other = _npz(tmp_path, "other.npz", spikes=spikes, ipd_deg=np.array([-60.0, 0.0, 60.0]))
    capsys.readouterr()
    assert in_process(ipd_model, "--data", plain, "--out", tmp_path / "plain.h5") == 0
    assert "note" not in capsys.readouterr().err
    np.testing.assert_array_equal(results.load(tmp_path / "plain.h5")["ipd_deg"].values, np.degrees([-1, 0, 1]))
    assert in_process(ipd_model, "--data", other, "--out", tmp_path / "other.h5") == 0
    err = capsys.readouterr().err
    assert f"snnsim.predict: note: --data: {other} has arrays it does not read: ipd_deg" in err, err
    assert "no true IPDs, so no scores" in err, err
    assert "accuracy" not in results.load(tmp_path / "other.h5")
    bad = _npz(tmp_path, "bad.npz", spikes=spikes, ipd=np.zeros(2), seed=np.array(3))  # refused: its one line only
    assert in_process(ipd_model, "--data", bad, "--out", tmp_path / "bad.h5") == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_out_of_memory_names_the_option_that_sizes_it(ipd_model, tmp_path):
    """Under a real 8 GB address-space limit, 10^8 stimuli (some 16 TB of spikes) cannot be made."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    proc = subprocess.run([sys.executable, "-m", "snnsim.predict", str(ipd_model), "--stimuli", "100000000", "--out",
                           str(tmp_path / "p.h5")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit)  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "out of memory" in proc.stderr and "(--stimuli, or a --data file of fewer samples)" in proc.stderr
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.parametrize("config, reason", [
    ("{not json", "its config is not one this snnsim reads ("),
    ("[1, 2]", "its config is not one this snnsim reads ("),
    ('{"study": "ipd", "new_setting": 1}', "its config is not one this snnsim reads (--new-setting: unknown setting)"),
])  # fmt: skip
@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_a_model_file_whose_config_cannot_be_read_is_one_line(config, reason, ipd_model, tmp_path, capsys):
    """An intact file (its checksum matches) of another snnsim, or edited by hand: predict and
    export name the file in one line, not a JSONDecodeError or AttributeError traceback."""
    from snnsim import export

    ds = results.load(ipd_model)
    ds.attrs["config"] = config
    model = results.write(ds, tmp_path / "m.h5")
    assert in_process(model, "--stimuli", 4, "--out", tmp_path / "p.h5") == 2
    assert export.main([str(model), "--format", "pt", "--out", str(tmp_path / "m.pt")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    for line, prog in zip(lines, ("predict", "export")):
        assert line.startswith(f"snnsim.{prog}: error: {model}: {reason}") and line.endswith(")"), line
    assert not (tmp_path / "p.h5").exists() and not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("change, name", [({"hidden": 7}, "w1"), ({"n_classes": 10}, "w2")])
@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_weights_that_do_not_fit_the_config_are_one_line(change, name, ipd_model, tmp_path, capsys):
    """A model file whose config was edited (its checksum recomputed): predict and export name
    the tensor that does not fit, not a RuntimeError from torch, and export writes no NIR file."""
    from snnsim import export

    ds = results.load(ipd_model)
    # the standard neuron, which NIR carries: export's refusal of the notebook's comes before any tensor is read
    ds.attrs["config"] = results.config_of(ds).replace(**change, neuron="standard").to_json()
    model = results.write(ds, tmp_path / "m.h5")
    assert in_process(model, "--stimuli", 4, "--out", tmp_path / "p.h5") == 2
    assert export.main([str(model), "--format", "nir", "--out", str(tmp_path / "m.nir")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    for line, prog in zip(lines, ("predict", "export")):
        assert line.startswith(f"snnsim.{prog}: error: {model}: its {name} has shape ("), line
        assert line.endswith("its weights and config do not belong together"), line
    assert not (tmp_path / "p.h5").exists() and not (tmp_path / "m.nir").exists()


@pytest.mark.xdist_group("predict-bmi-linear")  # the models, trained once on one xdist worker
def test_bmi_weights_that_do_not_fit_the_config_are_one_line(bmi_linear, bmi_path, tmp_path, capsys):
    """A BMI ridge model whose config names two outputs but whose weights hold one."""
    out = bmi_linear  # the model is only read
    ds = results.load(out)
    cfg = results.config_of(ds)
    ds.attrs["config"] = cfg.replace(dims=(0, 1) if len(cfg.dims) == 1 else (0,)).to_json()
    model = results.write(ds, tmp_path / "m.h5")
    capsys.readouterr()
    assert in_process(model, "--data", bmi_path, "--out", tmp_path / "p.h5") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"snnsim.predict: error: {model}: its ridge_w has shape (961, "), line
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.xdist_group("predict-bmi-linear")  # the models, trained once on one xdist worker
def test_a_bmi_model_without_its_predictions_is_one_line(bmi_linear, bmi_path, tmp_path, capsys):
    """A BMI model file whose y_pred is gone (the units its predictions take come from it) is
    refused in one line naming it, and no predictions file is written."""
    ds = results.load(bmi_linear)
    model = results.write(ds.drop_vars("y_pred"), tmp_path / "m.h5")
    capsys.readouterr()
    assert in_process(model, "--data", bmi_path, "--out", tmp_path / "p.h5") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.predict: error: {model}: holds no trained model (no y_pred)"
    ]
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        ("constant", "--target: {target} (shoulder) is constant in the predicted fold(s) 4 (300 rows): FVAF is "
                     "undefined there; choose another --fold or data set"),
        ("huge", "--data: the spike counts of the predicted fold(s) 4 are too large for float32 once normalised "
                 "(largest 1e+200)"),
    ],
)  # fmt: skip
@pytest.mark.xdist_group("predict-bmi-linear")  # the models, trained once on one xdist worker
def test_bmi_folds_the_run_would_refuse_are_refused(damage, message, bmi_linear_dim0, bmi_path, tmp_path, capsys):
    """A fold whose target is constant (FVAF undefined) or whose counts leave float32 once
    normalised: the run's own one-line refusals, not a scored FVAF of -inf or NaN with exit 0."""
    import pickle

    out = bmi_linear_dim0  # the model is only read
    target = results.config_of(results.load(out)).target
    data = pickle.loads(Path(bmi_path).read_bytes())
    if damage == "constant":
        data[target][4] = np.array(data[target][4], dtype=float)
        data[target][4][:, 0] = 0.25
    else:
        data["MI"][4] = np.array(data["MI"][4], dtype=float)
        data["MI"][4][0, 0] = 1e200
    damaged = _bytes(tmp_path / "damaged.pkl", pickle.dumps(data))
    capsys.readouterr()
    assert in_process(out, "--data", damaged, "--fold", 4, "--out", tmp_path / "p.h5") == 2
    assert capsys.readouterr().err.splitlines() == [f"snnsim.predict: error: {message.format(target=target)}"]
    assert not (tmp_path / "p.h5").exists()


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_an_ipd_model_space_file_without_its_tensors_is_one_line(ipd_model, tmp_path, capsys):
    """An IPD model file whose config needs recurrent weights that it does not hold (dropped from
    the file, or the config edited): one line and exit 2, not xarray's KeyError traceback."""
    trained = tmp_path / "rec.h5"
    assert run_cli.main(["--backend", "norse", "--neuron", "standard", "--recurrent", "--epochs", "1",
                         "--n-train-batches", "1", "--n-test-batches", "1", "--batch-size", "8", "--hidden", "6",
                         "--quiet", "--out", str(trained)]) == 0  # fmt: skip
    dropped = results.write(results.load(trained).drop_vars("w_recurrent0"), tmp_path / "dropped.h5")
    ds = results.load(ipd_model)
    ds.attrs["config"] = results.config_of(ds).replace(backend="norse", neuron="standard", recurrent=True).to_json()
    edited = results.write(ds, tmp_path / "edited.h5")
    capsys.readouterr()
    for model in (dropped, edited):
        assert in_process(model, "--stimuli", 4, "--out", tmp_path / "p.h5") == 2
        assert capsys.readouterr().err.splitlines() == [
            f"snnsim.predict: error: {model}: holds no trained model (no w_recurrent0)"
        ]
        assert not (tmp_path / "p.h5").exists()


@pytest.mark.xdist_group("predict-ipd-model")  # the model, trained once on one xdist worker
def test_predictions_name_the_bytes_of_their_model_file(ipd_model, tmp_path):
    """A predictions file names its model by path and by the SHA-256 of the file it read: a model
    file trained again under the same name (``--overwrite``) is not taken for the one that
    predicted."""
    import hashlib

    out = tmp_path / "p.h5"
    assert in_process(ipd_model, "--stimuli", 8, "--out", out) == 0
    attrs = results.load(out).attrs
    assert attrs["model"] == str(Path(ipd_model).resolve())
    assert attrs["model_sha256"] == hashlib.sha256(Path(ipd_model).read_bytes()).hexdigest()


@pytest.mark.parametrize("argv", [["--help"], ["no-such-model.h5", "--out", "p.h5"]])
def test_help_and_a_missing_model_need_neither_torch_nor_xarray(argv, tmp_path):
    """``python -m snnsim.predict --help`` imported xarray (0.4 s of a 0.8 s answer here), and so
    did the refusal of a model file that is not there: both answer before either loads."""
    code = (
        "import runpy, sys; sys.modules['torch'] = None; sys.modules['xarray'] = None; "
        f"sys.argv = ['snnsim.predict', *{argv!r}]; runpy.run_module('snnsim.predict', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    if argv == ["--help"]:
        assert proc.returncode == 0 and proc.stdout.startswith("usage: snnsim.predict"), proc.stderr
    else:
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == "snnsim.predict: error: no result file at no-such-model.h5\n"
    assert os.listdir(tmp_path) == []
