"""The runner: its data cache holds only the data that models still to train or report need; its
memory estimate is above the measured peak of a small run; its warning for a network whose
predictions do not depend on the input."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from lost_stop import StopInFinalizer

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


@pytest.mark.parametrize("kind", ["ipd", "bmi ann"])
def test_memory_estimate_is_above_the_measured_peak_of_a_small_run(kind, tiny_ipd, bmi_path, tmp_path):
    """benchmarks/memory_peak.py runs a small run in a child process: its peak resident memory
    (VmHWM: getrusage's would be pytest's own, carried over at the spawn) above that at the memory
    check is below the estimate the check used (which was a fifteenth of it for a tiny IPD run,
    with no allowance for the first training)."""
    if kind == "ipd":
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in tiny_ipd.items()]
    else:
        flags = ["--study=bmi", "--model=ann", f"--data={bmi_path}", "--epochs=1"]
    script = Path(__file__).parents[1] / "benchmarks" / "memory_peak.py"
    proc = subprocess.run([sys.executable, str(script), "snnsim.run", *flags, "--out", str(tmp_path / "r.h5")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r"increment (-?\d+) MB; estimate (\d+) MB", proc.stderr)
    assert found, proc.stderr[-2000:]
    increment, estimate = map(int, found.groups())
    assert 0 < increment < estimate, (increment, estimate)


def test_memory_estimate_of_a_pack_counts_two_data_sets_at_a_time():
    """A pack of BMI jobs on different data holds the data of the batched model that trains and
    of the one before (and the models of both), not every job's data."""
    from snnsim.studies.bmi import STUDY
    from snnsim.studies.ipd import STUDY as IPD

    cfgs = [RunConfig(study="bmi", model="ann", n_train_folds=k) for k in (1, 2, 4, 8, 18)]
    data, model = STUDY.memory_bytes(cfgs[0])
    assert [STUDY.memory_bytes(c) for c in cfgs] == [(data, model)] * 5
    assert runner.estimate_memory(cfgs, runner.plan(cfgs)) == 2 * (data + model) + runner.FIRST_TRAINING_BYTES
    assert runner.estimate_memory(cfgs[:1], runner.plan(cfgs[:1])) == data + model + runner.FIRST_TRAINING_BYTES
    # one config's repeats on different data (IPD: a data set per seed), two per batched model
    ipd = [RunConfig(repeats=3, batch_repeats=False)]
    data, model = IPD.memory_bytes(ipd[0])
    # the first seed's data stay for the result while the third repeat trains: three data sets
    assert runner.estimate_memory(ipd, runner.plan(ipd)) == 3 * data + 2 * model + runner.FIRST_TRAINING_BYTES


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


def test_a_ridge_run_does_not_import_what_only_training_by_gradient_needs(bmi_path, tmp_path):
    """torch's optimisers import ``torch._dynamo`` (about a second of CPU) at their first use; the
    runner loads it up front only for decoders trained by gradient, never for ridge."""
    # one new process runs ridge, then the decoder trained by gradient: what ridge imported is in
    # sys.modules before the second run starts, as in a process of its own
    code = (
        "import sys; from snnsim import run\n"
        "for model in ('linear', 'ann'):\n"
        f"    code = run.main(['--study', 'bmi', '--model', model, '--data', {str(bmi_path)!r}, '--epochs', '1', "
        "'--n-train-folds', '2', '--quiet', '--out', sys.argv[1] + f'/{model}.h5'])\n"
        "    print('dynamo after', model, code, 'torch._dynamo' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    found = [line.split()[2:] for line in proc.stdout.splitlines() if line.startswith("dynamo after ")]
    assert found == [["linear", "0", "False"], ["ann", "0", "True"]], proc.stdout + proc.stderr


def test_a_stop_whose_raise_a_finalizer_swallowed_between_batched_models_stops_the_run(bmi_path, monkeypatch):
    """SIGTERM handled while a finalizer (``__del__``) runs once a batched model's result is made
    (here: as it is handed on): Python drops the raised stop, and every later stop signal is
    ignored. Ridge decoders train without batches, so no batch looked for the stop: a pack's next
    batched model trained and was written too. The runner looks for it before each batched model."""
    import signal

    from snnsim.cli import Interrupted, stop_on_signals

    def on_result(i, ds) -> None:
        done.append(i)
        StopInFinalizer()  # made and finalized here: the stop is raised inside __del__

    cfgs = [RunConfig(study="bmi", model="linear", data=bmi_path, n_train_folds=folds) for folds in (2, 3)]
    assert len(runner.plan(cfgs)) == 2  # two batched models
    done, lost = [], []
    monkeypatch.setattr(sys, "unraisablehook", lost.append)
    with pytest.raises(Interrupted) as stopped, stop_on_signals():
        runner.run_configs(cfgs, progress=False, on_result=on_result)
    assert [type(u.exc_value) for u in lost] == [Interrupted]  # the raise was lost where it landed
    assert stopped.value.signum == signal.SIGTERM and done == [0]


def test_a_checkpoint_that_cannot_be_removed_after_the_result_is_written_is_a_warning(tiny_ipd, tmp_path):
    """A folder where the checkpoint's sidecar goes (or any leftover that cannot be deleted): the
    result file was written, then the run ended with exit 2 and ``error: .r.h5.r0-0.ckpt.json: Is a
    directory``, which did not say the result was saved. It ends with exit 0 and a warning that
    names the leftover to delete."""
    from in_process import run_here

    from snnsim import results
    from snnsim import run as run_cli

    (tmp_path / ".r.h5.r0-0.ckpt.json").mkdir()
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in tiny_ipd.items()]
    proc = run_here(run_cli.main, *flags, "--quiet", "--out", "r.h5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert results.load(tmp_path / "r.h5").sizes["repeat"] == 1
    warned = [line for line in proc.stderr.splitlines() if "checkpoint" in line and "warning" in line]
    assert warned == [
        "snnsim.run: warning: the result is written, but its checkpoint .r.h5.r0-0.ckpt.json could not be "
        "removed (Is a directory): delete it"
    ], proc.stderr


def test_unresponsive_note_needs_every_output_alike():
    """A decoder of two outputs that follows one of them (elbow) and not the other (shoulder) does
    respond to its input: no warning. Both alike: the warning."""
    from snnsim.runner import unresponsive_note

    t = np.linspace(-1.0, 1.0, 50)
    y_true = np.stack([t, -t], axis=-1)
    one = np.stack([np.zeros_like(t), -0.5 * t], axis=-1)[None]  # (repeat, sample, output)
    ds = xr.Dataset({"y_pred": (("repeat", "sample", "output"), one), "y_true": (("sample", "output"), y_true)})
    assert unresponsive_note(ds) is None
    assert unresponsive_note(ds.assign(y_pred=ds["y_pred"] * 0)).startswith("warning: repeat 0 of 1 predicts")
