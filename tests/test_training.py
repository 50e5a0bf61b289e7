"""Checkpoints that resume: a run stopped by SIGTERM mid-training and started again with the same
command ends with the numbers of a run that was never stopped, bit for bit (the training time
aside); the checkpoint is removed once the result file is written, unless kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from in_process import run_here
from lost_stop import StopInFinalizer

from snnsim import results, runner, training
from snnsim.config import RunConfig, config_digest
from snnsim.run import checkpoint_path

ROOT = Path(__file__).resolve().parents[1]
IPD = ["--backend", "fused", "--epochs", "12", "--n-train-batches", "12", "--n-test-batches", "2", "--batch-size", "64",
       "--hidden", "32", "--n-val-batches", "2", "--patience", "3", "--quiet"]  # fmt: skip
TIMING = {"train_seconds"}
VARYING_ATTRS = {"created", "resumed_from_epoch", "data_sha256"}  # the checksum covers train_seconds


def same_numbers(a, b) -> None:
    """Every variable and attribute of two result datasets equal, bit for bit (timings aside)."""
    assert set(a.data_vars) == set(b.data_vars)
    for name in sorted(set(a.data_vars) - TIMING):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert {k: v for k, v in a.attrs.items() if k not in VARYING_ATTRS} == {
        k: v for k, v in b.attrs.items() if k not in VARYING_ATTRS
    }


def sidecar(folder: Path) -> dict | None:
    found = sorted(folder.glob(".*.ckpt.json"))
    if not found:
        return None
    try:
        return json.loads(found[0].read_text())
    except ValueError:  # replaced between glob and read
        return None


def stop_after_checkpoint(cmd: list[str], folder: Path, at_least: int, timeout: float = 120) -> tuple[int, str]:
    """Start ``cmd``, send SIGTERM once a checkpoint in ``folder`` has ``at_least`` epochs; the
    exit code and stderr."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        info = sidecar(folder)
        if info and info["epoch"] >= at_least:
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m snnsim.run ARGS`` run in this process (a second or two of CPU less than a process
    of its own): for the runs that start, resume or refuse a checkpoint; the runs that are stopped,
    killed or raced are processes of their own."""
    from snnsim import run as run_cli

    return run_here(run_cli.main, *args, cwd=cwd)


def test_a_checkpoint_key_reads_back_its_configs_and_numerics():
    """The key a study's checkpoint is made under (``training.checkpoint_key``: each model's config
    and seed, the data's SHA-256, the numerics version), as ``fit_epochs`` wraps it, gives its
    sidecar the configs' digests and the numerics version, which ``sweep status`` reads."""
    cfgs = [RunConfig(study="bmi", seed=3), RunConfig(study="bmi", seed=3, tau=0.01)]
    key = training.checkpoint_key(cfgs, [3, 4], "ab" * 32)
    assert json.loads(key)[2] == "ab" * 32
    full = json.dumps({"models": key, "device": "cpu", "versions": {}})
    assert training.key_configs(full) == sorted(config_digest(c.to_json()) for c in cfgs)
    assert training.key_numerics(full) == results.NUMERICS_VERSION
    assert training.key_numerics(json.dumps({"models": training.checkpoint_key(cfgs[:1], [3])})) == (
        results.NUMERICS_VERSION
    )


def test_sigterm_then_the_same_command_resumes_and_ends_bit_for_bit(tmp_path):
    whole, resumed = tmp_path / "whole" / "r.h5", tmp_path / "resumed" / "r.h5"
    whole.parent.mkdir()
    resumed.parent.mkdir()
    assert run(*IPD, "--out", str(whole)).returncode == 0
    assert not list(whole.parent.glob(".*ckpt*"))  # removed once the result was written

    cmd = [sys.executable, "-m", "snnsim.run", *IPD, "--out", str(resumed)]
    code, err = stop_after_checkpoint(cmd, resumed.parent, at_least=2)
    assert code == 128 + signal.SIGTERM, err
    assert not resumed.exists()
    stopped_at = sidecar(resumed.parent)["epoch"]
    assert 2 <= stopped_at < 12
    assert err.strip().splitlines()[-1] == (  # the stop names what a rerun resumes from
        f"snnsim.run: stopped by SIGTERM; no result written; the checkpoint of epoch {stopped_at} of 12 stays "
        f"({resumed.parent / '.r.h5.r0-0.ckpt'}): the same command resumes from it"
    )

    again = run(*IPD, "--out", str(resumed))
    assert again.returncode == 0, again.stderr
    lines = [line for line in again.stderr.splitlines() if "resuming" in line]
    assert len(lines) == 1 and f"resuming from the checkpoint after epoch {stopped_at} of 12" in lines[0], again.stderr
    a, b = results.load(whole), results.load(resumed)
    same_numbers(a, b)
    assert b.attrs["resumed_from_epoch"] == stopped_at and "resumed_from_epoch" not in a.attrs
    assert not list(resumed.parent.glob(".*ckpt*"))


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    out = tmp_path / "r.h5"
    code, _ = stop_after_checkpoint([sys.executable, "-m", "snnsim.run", *IPD, "--out", str(out)], tmp_path, 1)
    assert code == 128 + signal.SIGTERM
    other = run(*[a if a != "12" else "2" for a in IPD], "--out", str(out))  # other settings: 2 epochs
    assert other.returncode == 0, other.stderr
    # it names the settings that differ (it said "holds other models" of the same model trained longer)
    assert (
        "was made with epochs=12 n_train_batches=12, this run has epochs=2 n_train_batches=2; starting from epoch 1"
    ) in other.stderr, other.stderr
    assert "resuming" not in other.stderr
    assert results.load(out).attrs.get("resumed_from_epoch") is None


def test_a_stop_before_the_first_checkpoint_does_not_name_another_runs_checkpoint(tmp_path):
    """A run of other settings into the same --out, stopped before its first epoch ended, said "the
    checkpoint of epoch 1 of 12 stays (.r.h5.r0-0.ckpt): the same command resumes from it" of the
    checkpoint of the killed run before it, which it does not resume: the same command started from
    epoch 1. That checkpoint stays, for its own command."""
    out = tmp_path / "r.h5"
    code, _ = stop_after_checkpoint([sys.executable, "-m", "snnsim.run", *IPD, "--out", str(out)], tmp_path, 1)
    assert code == 128 + signal.SIGTERM
    held = sidecar(tmp_path)["epoch"]
    # other settings, a long first epoch (about 2.5 s here): 64 times the hidden neurons, not more batches, whose
    # data were made before the line it waits for
    other = [*[a if a != "32" else "2048" for a in IPD], "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "snnsim.run", *other], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert "was made with hidden=32, this run has hidden=2048; starting from epoch 1" in proc.stderr.readline()
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert sidecar(tmp_path)["epoch"] == held  # its first epoch did not end: the checkpoint is the earlier run's
    assert err.strip().splitlines()[-1] == "snnsim.run: stopped by SIGTERM; no result written", err
    again = run(*IPD, "--out", str(out))  # the earlier run's command still resumes from its checkpoint
    assert again.returncode == 0 and f"resuming from the checkpoint after epoch {held} of 12" in again.stderr


STOPPED_BEFORE_THE_SIDECAR = """
import os, signal, sys
from snnsim import atomic_write, run
real, sidecars = atomic_write.write_bytes, []
def write_bytes(path, data, overwrite=False, durable=True, **kw):
    if str(path).endswith(".ckpt.json"):
        sidecars.append(path)
        if len(sidecars) == 2:  # the checkpoint of epoch 2 is in place, its sidecar not yet
            os.kill(os.getpid(), signal.SIGTERM)
    return real(path, data, overwrite, durable, **kw)
atomic_write.write_bytes = write_bytes
sys.exit(run.main(sys.argv[1:]))
"""


def test_a_stop_between_a_checkpoint_and_its_sidecar_names_the_epoch_it_holds(tmp_path):
    """SIGTERM after the checkpoint of epoch 2 was put in place and before its sidecar: the sidecar
    of epoch 1 stayed, the stop said "the checkpoint of epoch 1 of 3 stays" and the same command
    then resumed "after epoch 2" (``sweep status`` showed epoch 1 too)."""
    import torch

    out = tmp_path / "r.h5"
    args = [*[a if a != "12" else "3" for a in IPD], "--out", str(out)]  # 3 epochs
    proc = subprocess.run([sys.executable, "-c", STOPPED_BEFORE_THE_SIDECAR, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    held = torch.load(tmp_path / ".r.h5.r0-0.ckpt", weights_only=False)["loop"]["epoch"]
    assert held == 2 and sidecar(tmp_path)["epoch"] == held
    assert proc.stderr.strip().splitlines()[-1] == (
        f"snnsim.run: stopped by SIGTERM; no result written; the checkpoint of epoch 2 of 3 stays "
        f"({tmp_path / '.r.h5.r0-0.ckpt'}): the same command resumes from it"
    )
    again = run(*args)
    assert again.returncode == 0 and "resuming from the checkpoint after epoch 2 of 3" in again.stderr, again.stderr


def test_a_checkpoint_of_other_repeats_is_not_left_for_good_nor_named(tmp_path, monkeypatch):
    """A run killed with --repeats 2 (checkpoint .r0-1), then run again with --repeats 3 (.r0-2): the
    .r0-1 checkpoint stayed for good after the result was written, and a result not saved was
    said to leave "the checkpoint of epoch E of 12 stays (.r.h5.r0-1.ckpt ...)", another run's.
    The killed run is a process of its own, the others run in this one."""
    from snnsim.atomic_write import WriteFailed

    out = tmp_path / "r.h5"
    killed = [sys.executable, "-m", "snnsim.run", *IPD, "--repeats", "2", "--out", str(out)]
    code, _ = stop_after_checkpoint(killed, tmp_path, 1)
    assert code == 128 + signal.SIGTERM and (tmp_path / ".r.h5.r0-1.ckpt").exists()
    short = [*[a if a != "12" else "2" for a in IPD], "--repeats", "3", "--out", str(out)]
    with monkeypatch.context() as patched:  # the disk fills up at the write of the result

        def write(ds, path, overwrite=False):
            raise WriteFailed(Path(path), "No space left on device", 28)

        patched.setattr(results, "write", write)
        lost = run(*short)
    assert lost.returncode == 5, lost.stderr
    assert f"the checkpoint of its last epoch stays ({tmp_path / '.r.h5.r0-2.ckpt'})" in lost.stderr
    assert "r0-1" not in lost.stderr
    done = run(*short)
    assert done.returncode == 0, done.stderr
    assert f"removed the checkpoint(s) of an earlier run of {out} with other settings: .r.h5.r0-1.ckpt" in done.stderr
    assert not list(tmp_path.glob(".*ckpt*")) and results.load(out).sizes["repeat"] == 3


def test_a_checkpoint_made_on_other_data_under_the_same_path_is_not_resumed(tmp_path, bmi_path):
    """A config names the data file by path only; the checkpoint's key holds the file's SHA-256."""
    import pickle

    from snnsim.datasets.bmi_synthetic import generate

    data, out = tmp_path / "d.pkl", tmp_path / "r.h5"
    data.write_bytes(Path(bmi_path).read_bytes())
    args = ["--study", "bmi", "--model", "snn", "--epochs", "2", "--n-train-folds", "1", "--hidden", "8",
            "--data", str(data), "--out", str(out), "--keep-checkpoints", "--quiet"]  # fmt: skip
    assert run(*args).returncode == 0
    out.unlink()  # the checkpoint of the last epoch stays
    same = run(*args)
    assert same.returncode == 0 and "resuming from the checkpoint after epoch 2 of 2" in same.stderr, same.stderr
    out.unlink()
    data.write_bytes(pickle.dumps(generate(seed=1, samples_per_fold=300)))  # other data, same path
    other = run(*args)
    assert other.returncode == 0, other.stderr
    # it says why: the same settings and seed, other data (it said "holds other models")
    assert "was made from other data under the same name (SHA-256 " in other.stderr, other.stderr
    assert "; starting from epoch 1" in other.stderr and "resuming" not in other.stderr


def test_a_checkpoint_made_with_other_numerics_is_not_resumed(tmp_path, monkeypatch):
    """An snnsim whose numbers differ (another ``NUMERICS_VERSION``: a requeued job after an update)
    resumed the old one's checkpoint and wrote a file that claims its own numerics for epochs
    the other trained."""
    out = tmp_path / "r.h5"
    args = [*[a if a != "12" else "2" for a in IPD], "--out", str(out), "--keep-checkpoints"]  # 2 epochs
    assert run(*args).returncode == 0
    out.unlink()  # the checkpoint of the last epoch stays
    v = results.NUMERICS_VERSION
    with monkeypatch.context() as bumped:  # the updated snnsim, in this process
        bumped.setattr(results, "NUMERICS_VERSION", v + 1)
        other = run(*args)
    assert other.returncode == 0, other.stderr
    assert (f"was made by an snnsim of numerics version {v}, this run has {v + 1}; starting from epoch 1"
            in other.stderr and "resuming" not in other.stderr), other.stderr  # fmt: skip
    ds = results.load(out)
    assert ds.attrs.get("resumed_from_epoch") is None and ds.attrs["numerics_version"] == v + 1


def _last_checkpoint(tmp_path):
    """A 2-epoch IPD run's arguments, its result path (removed) and its last checkpoint, kept:
    (args, out, checkpoint path, the checkpoint as torch loads it)."""
    import torch

    out = tmp_path / "r.h5"
    args = [*[a if a != "12" else "2" for a in IPD], "--out", str(out), "--keep-checkpoints"]  # 2 epochs
    assert run(*args).returncode == 0
    out.unlink()  # the checkpoint of the last epoch stays
    path = checkpoint_path(out, [(None, 0)])
    return args, out, path, torch.load(path, weights_only=False)


def test_a_checkpoint_made_on_another_kind_of_device_is_not_resumed(tmp_path):
    """``--device auto`` picks a GPU where the node has one: a job requeued from a GPU node onto
    a CPU node (or back) would continue epochs of one device on the other, and its file would
    name only the last. The checkpoint's key names the device; one of another kind is not
    resumed, and the run says why. Here a CPU checkpoint is saved again as a GPU node saves it:
    its key says cuda and its tensors are tagged for cuda:0, which ``torch.load`` refuses to
    read on a machine without CUDA unless told where to put them."""
    import torch

    args, out, path, saved = _last_checkpoint(tmp_path)
    assert '"device": "cpu"' in saved["key"]
    saved["key"] = saved["key"].replace('"device": "cpu"', '"device": "cuda"')
    torch.save(saved, path)
    as_gpu = "import sys, torch; torch.serialization.register_package(0, lambda s: 'cuda:0', lambda s, loc: None)"
    as_gpu += "; torch.save(torch.load(sys.argv[1], weights_only=False), sys.argv[1])"
    subprocess.run([sys.executable, "-c", as_gpu, str(path)], check=True)  # a process of its own: the tag stays there
    with open(path, "rb") as f:
        assert b"cuda:0" in f.read()
    other = run(*args)
    assert other.returncode == 0, other.stderr
    assert f"{path} was made on a cuda device, this run is on cpu; starting from epoch 1" in other.stderr
    assert "resuming" not in other.stderr and "unreadable" not in other.stderr
    assert results.load(out).attrs.get("resumed_from_epoch") is None


def test_a_checkpoint_made_with_another_torch_is_not_resumed(tmp_path):
    """A job killed, then resumed after torch was upgraded, would continue one version's epochs
    with the other's, and its file would name only the last versions: not resumed, said why."""
    import torch

    args, out, path, saved = _last_checkpoint(tmp_path)
    version = results.library_versions()["torch"]
    now = f'"torch": "{version}"'
    assert now in saved["key"]
    saved["key"] = saved["key"].replace(now, '"torch": "2.0.0"')
    torch.save(saved, path)
    other = run(*args)
    assert other.returncode == 0, other.stderr
    assert f"{path} was made with torch 2.0.0, this run has torch {version}; starting from epoch 1" in (other.stderr)
    assert "resuming" not in other.stderr
    assert results.load(out).attrs.get("resumed_from_epoch") is None


def test_an_unreadable_checkpoint_is_reported_and_training_starts_over(tmp_path):
    """A checkpoint torn by a power cut (they are written atomically but not synced) is not
    resumed: one line names it, and the run trains from epoch 1."""
    out = tmp_path / "r.h5"
    args = [a if a != "12" else "2" for a in IPD]  # 2 epochs
    torn = checkpoint_path(out, [(None, 0)])
    torn.write_bytes(b"PK\x03\x04 half a checkpoint")
    proc = run(*args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"{torn} is unreadable" in proc.stderr and "starting from epoch 1" in proc.stderr
    assert results.load(out).attrs.get("resumed_from_epoch") is None and not torn.exists()


@pytest.mark.parametrize("content", [[1, 2], "key and nothing else"])
def test_a_file_torch_reads_that_is_no_checkpoint_is_reported_and_training_starts_over(tmp_path, content):
    """A file at the checkpoint's path that torch reads but that is not a checkpoint (a list; a dict
    with the run's key and nothing else) ended the run with a traceback (AttributeError: 'list'
    object has no attribute 'get'; KeyError: 'model'). One line names it, and the run trains from
    epoch 1, as for a torn one."""
    import torch

    out = tmp_path / "r.h5"
    args = [*[a if a != "12" else "2" for a in IPD], "--out", str(out)]  # 2 epochs
    path = checkpoint_path(out, [(None, 0)])
    if content == "key and nothing else":
        assert run(*args, "--keep-checkpoints").returncode == 0
        out.unlink()
        content = {"key": torch.load(path, weights_only=False)["key"]}
    torch.save(content, path)
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == f"snnsim.run: {path} is unreadable (not a checkpoint); starting from epoch 1\n"
    assert results.load(out).attrs.get("resumed_from_epoch") is None and not path.exists()


def test_keep_checkpoints_keeps_the_last_one(tmp_path):
    out = tmp_path / "r.h5"
    args = [a if a != "12" else "3" for a in IPD]  # 3 epochs
    assert run(*args, "--out", str(out), "--keep-checkpoints").returncode == 0
    kept = list(tmp_path.glob(".r.h5.*.ckpt"))
    assert len(kept) == 1
    sidecar = json.loads(Path(f"{kept[0]}.json").read_text())
    versions = {k: v for k, v in json.loads(results.load(out).attrs["versions"]).items() if k in results.COMPUTING}
    assert sidecar == {"epoch": 3, "epochs": 3, "configs": [config_digest(results.load(out).attrs["config"])],
                       "versions": versions, "numerics_version": results.NUMERICS_VERSION}  # fmt: skip


def test_a_repeat_stopped_early_is_not_failed_by_the_epochs_its_batch_trains_after_its_stop(tmp_path):
    """A batched model trains on until its last repeat stops; a repeat that stopped before keeps
    its best weights, and what its slice does in those later epochs is no part of its result.
    Here seed 2 stops after epoch 4 and seed 4 trains to epoch 5, in which seed 2's weights
    become infinite (an --lr far too large): the batched run failed with "repeat 0 (seed 2)
    diverged in epoch 5" (exit 4) while the same repeats trained one by one ended, each alone."""
    args = ["--backend", "fused", "--epochs", "15", "--n-train-batches", "1", "--n-test-batches", "1",
            "--n-val-batches", "1", "--patience", "2", "--hidden", "16", "--lr", "2.8e19", "--seed", "2",
            "--repeats", "3", "--quiet"]  # fmt: skip
    alone = run(*args, "--no-batch-repeats", "--out", str(tmp_path / "alone.h5"))
    assert alone.returncode == 0, alone.stderr
    batched = run(*args, "--out", str(tmp_path / "batched.h5"))
    assert batched.returncode == 0, batched.stderr
    a, b = results.load(tmp_path / "alone.h5"), results.load(tmp_path / "batched.h5")
    epochs = np.isfinite(a["loss"].values).sum(1)
    assert epochs[0] < epochs.max(), epochs  # seed 2 stops while the batch trains on: not vacuous
    for name in sorted(set(a.data_vars) - TIMING):
        np.testing.assert_array_equal(b[name].values, a[name].values, err_msg=name)


class Stop(Exception):
    """Raised by a hook after an epoch: the fit stops there, as a killed process would."""


def stop_at(epoch: int, pause: float = 0.0):
    """Epoch hooks (``runner.run_configs(hooks=...)``) that sleep ``pause`` s after every epoch
    and raise :class:`Stop` after ``epoch`` (1-based), once its checkpoint is written."""

    def hooks(cfgs, members):
        def hook(record):
            time.sleep(pause)
            if record.epoch == epoch:
                raise Stop

        return [hook]

    return hooks


@pytest.mark.parametrize(
    "settings",
    [
        dict(
            study="ipd",
            backend="snntorch",
            epochs=4,
            n_train_batches=3,
            n_test_batches=1,
            n_val_batches=1,
            batch_size=16,
            hidden=8,
            repeats=2,
        ),
        dict(
            study="ipd",
            backend="norse",
            readout="fr",
            epochs=4,
            n_train_batches=3,
            n_test_batches=1,
            batch_size=16,
            hidden=8,
        ),
        dict(
            study="bmi",
            model="snn",
            backend="fused",
            epochs=4,
            hidden=8,
            batch_size=128,
            n_train_folds=2,
            patience=4,
            ema=0.9,
            input_rank=4,
        ),
        dict(study="bmi", model="ann", epochs=4, hidden=8, batch_size=128, n_train_folds=2, patience=4),
        dict(  # the model space and the training options that carry state across epochs, at once
            study="ipd",
            backend="norse",
            neuron="standard",
            tau_syn=0.005,
            tau_adapt=0.1,
            recurrent=True,
            learn_tau=True,
            delays="learned",
            hidden=(8, 8),
            rate_reg=0.1,
            fresh_data=True,
            ema=0.9,
            lr_schedule="cosine",
            epochs=4,
            n_train_batches=3,
            n_test_batches=1,
            n_val_batches=1,
            batch_size=16,
            repeats=2,
        ),
        dict(
            study="bmi",
            model="snn",
            backend="norse",
            neuron="standard",
            readout="weighted",
            readout_units=2,
            recurrent=True,
            tau_adapt=0.1,
            rate_reg=0.1,
            epochs=4,
            hidden=8,
            batch_size=128,
            n_train_folds=2,
            patience=4,
            ema=0.9,
            lr_schedule="cosine",
            input_rank=4,
            input_noise=0.1,
            dropout=0.2,
            repeats=2,
        ),
    ],
    ids=["ipd-snntorch-val", "ipd-norse-fr", "bmi-snn", "bmi-ann", "ipd-model-space", "bmi-model-space"],
)
def test_every_study_and_backend_resumes_exactly(settings, bmi_path, tmp_path):
    """In one process: the fit stopped after epoch 2 (by an exception from an epoch hook), then
    run again with the same checkpoint; the same numbers as a fit that never stopped."""
    if settings["study"] == "bmi":
        settings = dict(settings, data=bmi_path)
    cfg = RunConfig(**settings)
    whole = runner.run_configs([cfg], progress=False)[0]

    ckpt = tmp_path / "c.ckpt"
    with pytest.raises(Stop):
        runner.run_configs([cfg], progress=False, hooks=stop_at(2), checkpoints=lambda c, m: ckpt)
    assert json.loads(Path(f"{ckpt}.json").read_text())["epoch"] == 2
    messages = []
    again = runner.run_configs([cfg], progress=False, checkpoints=lambda c, m: ckpt, log=messages.append)[0]
    assert messages == [f"resuming from the checkpoint after epoch 2 of 4 ({ckpt})"]
    same_numbers(whole, again)
    assert not ckpt.exists()


def test_train_seconds_of_a_resumed_run_count_the_epochs_before_the_stop(tmp_path):
    """``train_seconds`` is the training's wall time: a fit resumed from its checkpoint adds the
    time the stopped run spent on the epochs it saved, not only this process's."""
    cfg = RunConfig(study="ipd", backend="fused", epochs=3, n_train_batches=1, n_test_batches=1, batch_size=16,
                    hidden=8)  # fmt: skip
    pause = 1.0
    ckpt = tmp_path / "c.ckpt"
    with pytest.raises(Stop):  # an epoch hook runs within the timed training
        runner.run_configs([cfg], progress=False, hooks=stop_at(2, pause), checkpoints=lambda c, m: ckpt)
    again = runner.run_configs([cfg], progress=False, checkpoints=lambda c, m: ckpt)[0]
    assert again.attrs["resumed_from_epoch"] == 2
    # the first epoch's pause came before the checkpoint of epoch 2; epoch 3 alone takes far less
    assert float(again["train_seconds"].values[0]) >= pause


@pytest.mark.parametrize("kept_first", [True, False], ids=["first-at-its-end", "first-lost"])
def test_repeats_of_several_batched_models_record_the_latest_epoch_resumed_after(kept_first, tmp_path):
    """12 repeats train as two batched models on the CPU (10 and 2). Stopped after epoch 1 of the
    second, the first had its checkpoint of epoch 3 of 3: the rerun resumes them after epochs 3
    and 1, and ``resumed_from_epoch`` is the latest (3), not the last model's; with the first's
    checkpoint lost (trained again from epoch 1), it is the second's (1)."""
    cfg = RunConfig(study="ipd", backend="fused", epochs=3, n_train_batches=1, n_test_batches=1, batch_size=16,
                    hidden=4, repeats=12)  # fmt: skip
    assert [len(m) for m in runner.plan([cfg])] == [10, 2]

    def ckpt(cfgs, members):
        return tmp_path / f"r{members[0][1]}-{members[-1][1]}.ckpt"

    def stop_the_second(cfgs, members):
        return stop_at(1)(cfgs, members) if members[0][1] == 10 else []

    with pytest.raises(Stop):
        runner.run_configs([cfg], progress=False, hooks=stop_the_second, checkpoints=ckpt)
    first = tmp_path / "r0-9.ckpt"
    assert json.loads(Path(f"{first}.json").read_text())["epoch"] == 3
    if not kept_first:
        first.unlink()
        Path(f"{first}.json").unlink()
    messages = []
    again = runner.run_configs([cfg], progress=False, checkpoints=ckpt, log=messages.append)[0]
    assert sum("resuming" in m for m in messages) == (2 if kept_first else 1), messages
    assert again.attrs["resumed_from_epoch"] == (3 if kept_first else 1)


def _stopped_at_a_checkpoint(args: list[str], folder: Path) -> tuple[subprocess.Popen, dict]:
    """Start ``snnsim.run ARGS``, and stop it (SIGSTOP: it stays alive, holding what it holds) once
    its first checkpoint is written: the process and the sidecar of its checkpoint."""
    proc = subprocess.Popen([sys.executable, "-m", "snnsim.run", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    end = time.monotonic() + 120
    while not ((info := sidecar(folder)) and info["epoch"] >= 1) and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)
    assert proc.poll() is None, proc.communicate()
    return proc, sidecar(folder)


def test_a_run_of_other_settings_into_the_same_out_leaves_a_live_runs_checkpoint_alone(tmp_path):
    """Two runs with one --out and other settings, the second started while the first trains: the
    second found the first's checkpoint (other models: not resumed), wrote its own epochs over it,
    and removed it once its result was written. The first, killed then, had lost its epochs. The
    first run holds the checkpoints of --out now; the second trains without them, and says so."""
    out = tmp_path / "r.h5"
    # a long run of 100-batch epochs: alive when stopped after its first checkpoint, and far from its next one
    first = [*IPD, "--epochs", "400", "--n-train-batches", "100", "--out", str(out)]
    proc, held = _stopped_at_a_checkpoint(first, tmp_path)
    try:
        other = run(*[a if a != "12" else "2" for a in IPD], "--hidden", "16", "--out", str(out))
        assert other.returncode == 0, other.stderr
        assert other.stderr.count("\n") == 1 and "held by" in other.stderr and "without checkpoints" in other.stderr
        assert "starting from epoch 1" not in other.stderr  # it did not read the first's checkpoint
        assert sidecar(tmp_path) == held and (tmp_path / ".r.h5.r0-0.ckpt").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 128 + signal.SIGTERM, err
    # the first run's own checkpoint stays: the one it held, or its next one where SIGSTOP caught it
    # writing that (a save finishes before a signal is acted on)
    final = sidecar(tmp_path)
    assert final == held or final == {**held, "epoch": held["epoch"] + 1}, (final, held)
    assert f"the checkpoint of epoch {final['epoch']} of 400 stays ({tmp_path / '.r.h5.r0-0.ckpt'})" in err


def test_a_second_run_of_the_same_command_does_not_take_over_a_live_runs_checkpoint(tmp_path):
    """The same command started twice at once: the second resumed from the checkpoint the first
    was still writing, and removed it when it ended. It trains from epoch 1 without checkpoints
    now; each writes one file (the later one beside --out), with the same numbers."""
    out = tmp_path / "r.h5"
    args = [*[a if a != "12" else "4" for a in IPD], "--out", str(out)]
    proc, held = _stopped_at_a_checkpoint(args, tmp_path)
    try:
        second = run(*args)
        assert second.returncode == 0, second.stderr
        assert "resuming" not in second.stderr and "held by" in second.stderr, second.stderr
        assert sidecar(tmp_path) == held
    finally:
        proc.send_signal(signal.SIGCONT)
        err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 5 and "was written by another run while this one trained" in err, err
    beside = out.with_name(f"r.{proc.pid}.h5")
    same_numbers(results.load(out), results.load(beside))
    assert "resumed_from_epoch" not in results.load(out).attrs
    assert not list(tmp_path.glob(".*ckpt*")), list(tmp_path.iterdir())


# python -m snnsim.run stopped by a real SIGTERM once the checkpoint of its epoch 2 is written
STOPPED_AFTER_EPOCH_2 = """
import os, signal, sys
from snnsim import run, training
call = training._call_hooks
def stop(hooks, state, model, weights, epoch):
    call(hooks, state, model, weights, epoch)
    if epoch == 2:
        os.kill(os.getpid(), signal.SIGTERM)
training._call_hooks = stop
sys.exit(run.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("first", [{"SNNSIM_NO_NATIVE": "1"}, {"SNNSIM_THREADS": "1"}], ids=["torch-loops", "threads"])
def test_epochs_trained_on_other_hardware_are_named_in_the_result_file(first, tmp_path):
    """Epochs 1-2 trained with the torch loops in place of the compiled kernels (SNNSIM_NO_NATIVE,
    or a node where they do not build), the rest after a resume with the kernels: the weights
    are those of neither (w1 9e-7 from the kernels' run), yet the file named only the resumed
    process's ``kernels`` and ``numerics_env``. It names the earlier part now
    (``mixed_hardware``), and the run says so. Epochs on one kernel thread (the same numbers)
    are no mix: the file equals the uninterrupted run's."""
    args = ["--backend", "fused", "--neuron", "standard", "--epochs", "4", "--n-train-batches", "4",
            "--n-test-batches", "1", "--batch-size", "16", "--hidden", "8", "--quiet"]  # fmt: skip
    whole, out = tmp_path / "whole.h5", tmp_path / "r.h5"
    assert run(*args, "--out", str(whole)).returncode == 0
    stopped = subprocess.run([sys.executable, "-c", STOPPED_AFTER_EPOCH_2, *args, "--out", str(out)], cwd=ROOT,
                             env=dict(os.environ, **first), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    again = run(*args, "--out", str(out))
    assert again.returncode == 0, again.stderr
    a, b = results.load(whole), results.load(out)
    assert b.attrs["resumed_from_epoch"] == 2
    if "SNNSIM_THREADS" in first:
        same_numbers(a, b)
        assert "mixed_hardware" not in b.attrs and "mixed_hardware" not in again.stderr
        return
    assert a.attrs["kernels"].startswith("compiled") and b.attrs["kernels"] == a.attrs["kernels"]  # this process's
    assert not np.array_equal(a["w1"].values, b["w1"].values)  # a mix indeed
    (part,) = json.loads(b.attrs["mixed_hardware"])
    assert part == {"repeats": "0", "epochs": "1-2", "cpu": a.attrs["cpu"],
                    "kernels": "torch loops (SNNSIM_NO_NATIVE=1)", "numerics_env": '{"SNNSIM_NO_NATIVE": "1"}'}  # fmt: skip
    note = [line for line in again.stderr.splitlines() if "mixed_hardware" in line]
    assert len(note) == 1 and "epochs 1-2" in note[0] and "torch loops (SNNSIM_NO_NATIVE=1)" in note[0], again.stderr


def test_a_stop_whose_raise_a_finalizer_swallowed_still_stops(tmp_path, monkeypatch, capsys):
    """SIGTERM handled while the garbage collector runs a finalizer (``__del__``): Python prints
    the raised stop as "Exception ignored" and drops it, and every later stop signal was ignored,
    so the run trained to its end and exited 0 (seen once in about thirty `kill -TERM` of a
    fused run, and in the sweep's SIGTERM test). The fit raises it again after its next batch:
    the run stops as after any SIGTERM."""
    from snnsim import run as run_cli
    from snnsim import training
    from snnsim.cli import Interrupted

    call, lost = training._call_hooks, []

    def after(hooks, state, model, weights, epoch, again=False):
        call(hooks, state, model, weights, epoch, again)
        if epoch == 1:
            StopInFinalizer()  # made and finalized here: the stop is raised inside __del__

    monkeypatch.setattr(training, "_call_hooks", after)
    monkeypatch.setattr(sys, "unraisablehook", lost.append)
    out = tmp_path / "r.h5"
    args = [*[a if a != "12" else "3" for a in IPD], "--out", str(out)]
    assert run_cli.main(args) == 128 + signal.SIGTERM
    assert [type(u.exc_value) for u in lost] == [Interrupted]  # the raise was lost where it landed
    assert not out.exists()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("snnsim.run: stopped by SIGTERM; no result written; the checkpoint of epoch 1 of 3 stays")


def test_a_stop_held_while_the_last_checkpoint_fails_to_write_still_stops(tmp_path, monkeypatch, capsys):
    """SIGTERM that arrives while the last epoch's checkpoint sidecar is written (the stop signals
    held), whose write then fails (a full disk): the write failure went up, the held stop was
    dropped with it, and the training, which goes on without checkpoints, was out of batches to
    look for it after. The run wrote its result and exited 0. The write failure is reported (its
    log line) and the stop is not forgotten: the run stops as after any SIGTERM, no result written."""
    import errno

    from snnsim import atomic_write
    from snnsim import run as run_cli

    real = atomic_write.write_bytes

    def write_bytes(path, data, overwrite=False, durable=True, **kw):
        if str(path).endswith(".ckpt.json") and json.loads(data)["epoch"] == 2:  # the last epoch's sidecar
            os.kill(os.getpid(), signal.SIGTERM)  # held: raised once the write is over
            raise atomic_write.WriteFailed(path, "No space left on device", errno.ENOSPC)
        return real(path, data, overwrite, durable, **kw)

    monkeypatch.setattr(atomic_write, "write_bytes", write_bytes)
    out = tmp_path / "r.h5"
    args = [*[a if a != "12" else "2" for a in IPD], "--out", str(out)]  # 2 epochs
    assert run_cli.main(args) == 128 + signal.SIGTERM
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert any("checkpoint: cannot write" in line and "No space left on device" in line for line in err), err
    assert err[-1] == (f"snnsim.run: stopped by SIGTERM; no result written; its checkpoint stays "
                       f"({tmp_path / '.r.h5.r0-0.ckpt'}): the same command resumes from it"), err  # fmt: skip
    assert run_cli.main(args) == 0 and out.exists()
    assert "resuming from the checkpoint after epoch 2 of 2" in capsys.readouterr().err


@pytest.mark.parametrize("study", ["ipd", "bmi"])
def test_train_seconds_leave_out_the_first_build_of_the_kernels(study, tmp_path, monkeypatch, bmi_path):
    """The first run on a machine (or with a new ``$SNNSIM_CACHE``, as on a fresh node) builds the
    compiled kernels, which takes seconds; ``train_seconds`` is the training's time and leaves the
    build out (it held the build's seconds: a tiny fused BMI run's 4.3 s for 0.04 s). A compiler
    that waits 3 s before it compiles stands for a slow machine's build."""
    import shutil

    from snnsim.backends import _native

    real = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if real is None:
        pytest.skip("no C compiler")
    slow = tmp_path / "slow-cc"
    slow.write_text(f'#!/bin/sh\nsleep 3\nexec "{real}" "$@"\n')
    os.chmod(slow, 0o755)
    monkeypatch.setenv("CC", str(slow))
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_native, "_tried", False)  # as a fresh process: nothing built yet
    monkeypatch.setattr(_native, "_lib", None)
    tiny = dict(backend="fused", epochs=1, hidden=8, batch_size=16)
    cfg = RunConfig(study="ipd", n_train_batches=1, n_test_batches=1, **tiny) if study == "ipd" else \
        RunConfig(study="bmi", model="snn", n_train_folds=1, data=bmi_path, **tiny)  # fmt: skip
    start = time.perf_counter()
    ds = runner.run_configs([cfg], progress=False)[0]
    assert time.perf_counter() - start >= 3  # the kernels were built in this run
    assert ds.attrs["kernels"].startswith("compiled")
    assert float(ds["train_seconds"].values[0]) < 2.5


def test_a_checkpoint_of_other_settings_names_them_with_units():
    """Why a checkpoint is not resumed names the settings that differ, durations with their unit,
    and the seed (it said "holds other models"); a checkpoint of more models says that."""
    from snnsim.config import RunConfig
    from snnsim.training import _other, checkpoint_key

    def key(cfgs: list[RunConfig], seeds: list[int]) -> str:
        return json.dumps({"models": checkpoint_key(cfgs, seeds), "device": "cpu", "versions": {}})

    was = RunConfig(epochs=40, tau=0.02)
    now = was.replace(epochs=50, tau=0.002, seed=3)
    assert _other(key([was], [0]), key([now], [3])) == (
        "was made with epochs=40 seed=0 tau=20ms, this run has epochs=50 seed=3 tau=2ms"
    )
    assert _other(key([was, was], [0, 1]), key([was], [0])) == "holds other models"
    # a duration that differs past the digits a setting is shown with: not "tau=20ms, ... tau=20ms"
    assert _other(key([was], [0]), key([was.replace(tau=0.0200000001)], [0])) == (
        "was made with tau=0.02s, this run has tau=0.0200000001s"
    )
