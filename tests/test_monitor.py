"""TensorBoard monitoring (``python -m snnsim.run --tensorboard DIR``, and the ``tensorboard`` key
of experiment files): every epoch's scalars equal the per-epoch curves of the result file, every
epoch has weight histograms (those of the kept epoch are the result's weights), and the event
writers are closed when a run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from in_process import run_here
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import plugin_event_accumulator as pa

from snnsim import results, runner
from snnsim import run as run_cli
from snnsim.config import RunConfig
from snnsim.sweep import jobs
from snnsim.sweep.experiment import load as load_experiment

ROOT = Path(__file__).resolve().parents[1]
IPD = ["--backend", "fused", "--epochs", "3", "--n-train-batches", "4", "--n-test-batches", "1", "--batch-size", "32",
       "--hidden", "16", "--n-val-batches", "1", "--repeats", "2", "--quiet"]  # fmt: skip
#: TensorBoard scalar tag -> the result variable holding the same number per epoch.
SCALARS = {"loss/train": "loss", "lr": "lr_curve", "hidden_rate_hz": "hidden_rate_curve"}
IPD_WEIGHTS = {"weights/w1": "w1", "weights/w2": "w2"}
BMI_WEIGHTS = {"weights/decoder.w1": "w1", "weights/decoder.w2": "w2", "weights/scale": "head_scale",
               "weights/bias": "head_bias", "weights/readout_weights": "readout_weights"}  # fmt: skip
#: The BMI recipe's low-rank w1 (--input-rank): its factors beside the product (no result variable).
FACTORS = {"weights/decoder.w1.factor0": None, "weights/decoder.w1.factor1": None}


def events(folder: Path) -> ea.EventAccumulator:
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    return acc


def check_run(folder: Path, ds, repeat: int, score: str, weights: dict[str, str | None]) -> None:
    """The events in ``folder`` are those of repeat ``repeat`` of the result ``ds``: per-epoch
    scalars equal to its curves (as float32, TensorBoard's precision), and histograms of every
    weight in every epoch; those of the kept (best) epoch describe the result's weights exactly."""
    acc = events(folder)
    tags = {**SCALARS, "score/validation": score}
    assert set(acc.Tags()["scalars"]) == set(tags)
    epochs = [int(e) for e in ds["epoch"].values]
    for tag, name in tags.items():
        want = ds[name].sel(repeat=repeat).values
        assert np.isfinite(want).all(), name  # no early stop in these runs: every epoch has a value
        got = acc.Scalars(tag)
        assert [e.step for e in got] == epochs, tag
        assert [e.value for e in got] == [float(np.float32(v)) for v in want], tag
    assert set(acc.Tags()["histograms"]) == set(weights)
    best = int(ds["best_epoch"].sel(repeat=repeat))
    for tag, name in weights.items():
        got = {e.step: e.histogram_value for e in acc.Histograms(tag)}
        assert sorted(got) == epochs, tag
        if name is None:  # not a result variable: a histogram in every epoch
            continue
        w = ds[name].sel(repeat=repeat).values.astype(float).reshape(-1)
        h = got[best]
        assert (h.num, h.min, h.max, h.sum, h.sum_squares) == (w.size, w.min(), w.max(), w.sum(), w.dot(w)), tag
        assert sum(h.bucket) == w.size


def provenance_of(folder: Path) -> dict:
    """The run folder's one ``provenance`` text summary, as JSON."""
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    (event,) = acc.Tensors("provenance/text_summary")
    return json.loads(event.tensor_proto.string_val[0].decode())


def open_writers() -> tuple[list[str], list[str]]:
    """Event files this process has open, and its live event-writer threads."""
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "tfevents" in target:
            fds.append(target)
    threads = [t.name for t in threading.enumerate() if type(t).__name__ == "_AsyncWriterThread"]
    return fds, threads


def test_ipd_run_writes_the_result_files_curves_and_histograms(tmp_path):
    """Read right after the process exited: complete events, one run folder per repeat."""
    tb, out = tmp_path / "tb", tmp_path / "r.h5"
    proc = subprocess.run([sys.executable, "-m", "snnsim.run", *IPD, "--tensorboard", str(tb), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ds = results.load(out)
    assert sorted(p.name for p in tb.iterdir()) == ["repeat-0", "repeat-1"]
    for r in (0, 1):
        check_run(tb / f"repeat-{r}", ds, r, "val_acc_curve", IPD_WEIGHTS)


def test_bmi_run_in_process_and_its_writers_are_closed(bmi_path, tmp_path):
    """The command's main() in this process (the BMI recipe's weighted readout and low-rank
    w1: the product's histograms describe the result's w1 exactly, its factors are logged
    too; with --ema the histograms are of the averaged weights, which the result keeps): the
    same checks, and afterwards no event file is open and no writer thread is left."""
    tb, out = tmp_path / "tb", tmp_path / "b.h5"
    before = open_writers()
    code = run_cli.main(["--study", "bmi", "--model", "snn", "--backend", "fused", "--epochs", "3", "--hidden", "8",
                         "--batch-size", "128", "--n-train-folds", "2", "--repeats", "2", "--data", bmi_path,
                         "--ema", "0.9", "--quiet", "--tensorboard", str(tb), "--out", str(out)])  # fmt: skip
    assert code == 0
    assert open_writers() == before
    ds = results.load(out)
    for r in (0, 1):
        check_run(tb / f"repeat-{r}", ds, r, "val_fvaf_curve", {**BMI_WEIGHTS, **FACTORS})


def test_a_model_stopped_early_gets_no_further_events(bmi_path, tmp_path):
    """Early stopping (patience 1) ends some repeats before others: each repeat's events stop at
    its last epoch with numbers in the result file (later ones are NaN there)."""
    tb, out = tmp_path / "tb", tmp_path / "a.h5"
    code = run_cli.main(["--study", "bmi", "--model", "ann", "--epochs", "6", "--hidden", "8", "--batch-size", "128",
                         "--n-train-folds", "2", "--repeats", "3", "--patience", "1", "--data", bmi_path, "--quiet",
                         "--tensorboard", str(tb), "--out", str(out)])  # fmt: skip
    assert code == 0
    ds = results.load(out)
    lengths = []
    for r in range(3):
        want = ds["loss"].sel(repeat=r).values
        kept = [int(e) for e, v in zip(ds["epoch"].values, want, strict=True) if np.isfinite(v)]
        got = events(tb / f"repeat-{r}").Scalars("loss/train")
        assert [e.step for e in got] == kept
        assert [e.value for e in got] == [float(np.float32(v)) for v in want[np.isfinite(want)]]
        lengths.append(len(kept))
    assert min(lengths) < 6  # the case is not vacuous: a repeat stopped early


def test_sweep_hooks_are_closed_when_their_batched_model_is_done(tmp_path, tiny_ipd):
    """The hooks of sweep jobs (which nobody closes explicitly) close once the runner drops them."""
    toml = tmp_path / "e.toml"
    toml.write_text(f'name = "e"\ntensorboard = "{tmp_path / "tb"}"\n[fixed]\nstudy = "ipd"\n[sweep]\nseed = [0, 1]\n')
    exp = load_experiment(toml)
    before = open_writers()
    cfg = RunConfig(**tiny_ipd)
    runner.run_configs([cfg, cfg.replace(seed=1)], progress=False, hooks=jobs.tensorboard_hooks(exp, [0, 1]))
    assert open_writers() == before
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["job-0", "job-1"]
    assert [e.step for e in events(tmp_path / "tb" / "job-1").Scalars("loss/train")] == [1, 2]


def test_experiment_tensorboard_key_gives_one_run_per_job(tmp_path):
    """``python -m snnsim.sweep local`` on an experiment with ``tensorboard = DIR``: DIR/job-INDEX
    holds the curves of that job's result file."""
    tb = tmp_path / "tb"
    toml = tmp_path / "tiny.toml"
    toml.write_text(f"""name = "tiny"
tensorboard = "{tb}"
[fixed]
study = "ipd"
backend = "fused"
epochs = 2
n_train_batches = 3
n_test_batches = 1
n_val_batches = 1
batch_size = 16
hidden = 8
[sweep]
seed = [0, 1]
""")
    proc = subprocess.run([sys.executable, "-m", "snnsim.sweep", "--results-dir", str(tmp_path / "results"), "local",
                           str(toml), "--pack", "2", "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in tb.iterdir()) == ["job-0", "job-1"]
    for index in (0, 1):
        ds = results.load(tmp_path / "results" / "tiny" / f"job-{index}.h5")
        check_run(tb / f"job-{index}", ds, 0, "val_acc_curve", IPD_WEIGHTS)
        made = provenance_of(tb / f"job-{index}")  # the job's own, though the pack trained both as one
        assert made["config"] == json.loads(ds.attrs["config"]) and made["seed"] == index


# ``python -m snnsim.run`` whose TensorBoard hook gets a real SIGTERM at epoch 2, before or after
# writing it: the checkpoint of epoch 2 is on disk then (it is written before the hooks)
STOPPED_AT_EPOCH_2 = """
import os, signal, sys
from snnsim import monitor, run
write, when = monitor.TensorBoardHook.__call__, sys.argv.pop(1)
def call(self, record):
    if record.epoch != 2 or when == "after":
        write(self, record)
    if record.epoch == 2:
        os.kill(os.getpid(), signal.SIGTERM)
monitor.TensorBoardHook.__call__ = call
sys.exit(run.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_run_stopped_at_its_hooks_and_resumed_logs_every_epoch_once(tmp_path, when):
    """Stopped while the hook writes epoch 2, the resumed run started after epoch 2 and its logs
    lacked it; stopped after the hook, the resumed run must not log epoch 2 twice. The stopped run
    is a process of its own (a real SIGTERM), the resumed one runs in this process."""
    tb, out = tmp_path / "tb", tmp_path / "r.h5"
    args = [*IPD, "--tensorboard", str(tb), "--out", str(out)]
    first = subprocess.run([sys.executable, "-c", STOPPED_AT_EPOCH_2, when, *args], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert first.returncode == 128 + signal.SIGTERM, first.stderr
    assert not out.exists()
    again = run_here(run_cli.main, *args, cwd=ROOT)
    assert again.returncode == 0 and "resuming from the checkpoint after epoch 2 of 3" in again.stderr, again.stderr
    ds = results.load(out)
    for r in (0, 1):
        check_run(tb / f"repeat-{r}", ds, r, "val_acc_curve", IPD_WEIGHTS)


def test_a_full_disk_under_tensorboard_costs_the_events_not_the_result(tmp_path):
    """The event files' folder fills up (a real small file system): the run goes on, writes its
    result, exits 0 and says so in one line. Before, the writer's OSError ended the run with
    "snnsim.run: error: No space left on device" (exit 5, no path named, the trained result lost)
    after a traceback from TensorBoard's writer thread."""
    from small_disk import fill, mounted_tmpfs

    with mounted_tmpfs(tmp_path / "small") as small:
        fill(small)  # every block taken
        out = tmp_path / "r.h5"
        proc = subprocess.run([sys.executable, "-m", "snnsim.run", *IPD, "--tensorboard", str(small / "tb"), "--out",
                               str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert f"tensorboard: cannot write in {small / 'tb'} (No space left on device)" in proc.stderr
        assert "training goes on without it" in proc.stderr
        assert results.load(out).attrs["complete"] == 1


def test_a_full_disk_under_tensorboard_is_said_on_a_line_of_its_own_beside_the_bar(tmp_path):
    """With the progress bar on (no --quiet), the line that the event files cannot be written is
    a line of its own, as a terminal shows it (the text after a line's last carriage return).
    Before, it was printed after the bar's text: "x1:   0%|          | 0/12 [...]snnsim.run: ..."."""
    from small_disk import fill, mounted_tmpfs

    with mounted_tmpfs(tmp_path / "small") as small:
        fill(small)
        out = tmp_path / "r.h5"
        args = [a for a in IPD if a != "--quiet"]
        proc = subprocess.run([sys.executable, "-m", "snnsim.run", *args, "--tensorboard", str(small / "tb"), "--out",
                               str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shown = [line.rsplit("\r", 1)[-1] for line in proc.stderr.split("\n")]  # each line as a terminal shows it
    said = [line for line in shown if "tensorboard: cannot write in" in line]
    assert len(said) == 1 and said[0].startswith("snnsim.run: tensorboard: cannot write in"), proc.stderr


def test_each_run_folder_names_its_config_seed_and_versions(tmp_path):
    """Every TensorBoard run (one per repeat, one per sweep job) carries, as a text summary
    ``provenance``, the full config, the model's seed (``seed + repeat``), the library versions
    and the numerics version: a run folder copied away from its result file still says what
    made it."""
    tb, out = tmp_path / "tb", tmp_path / "r.h5"
    assert run_cli.main([*IPD, "--seed", "7", "--epochs", "1", "--tensorboard", str(tb), "--out", str(out)]) == 0
    ds = results.load(out)
    for r in (0, 1):
        made = provenance_of(tb / f"repeat-{r}")
        assert RunConfig.from_json(json.dumps(made["config"])) == results.config_of(ds)
        assert made["seed"] == 7 + r and made["versions"] == json.loads(ds.attrs["versions"])
        assert made["numerics_version"] == results.NUMERICS_VERSION


def test_a_bmi_run_folder_names_the_sha256_of_its_data(bmi_path, tmp_path):
    """A BMI run's ``provenance`` names its data as its result file does: a data file by the
    SHA-256 of its bytes (``data_file_sha256``), a synthetic set by its arrays'
    (``synthetic_data_sha256``). It named the data file by its path alone (in ``config``), which
    says nothing once the file is changed or replaced."""
    common = ["--study", "bmi", "--model", "snn", "--backend", "fused", "--epochs", "1", "--hidden", "4",
              "--batch-size", "256", "--n-train-folds", "1", "--input-rank", "0", "--quiet"]  # fmt: skip
    for name, data, key in (("file", ["--data", bmi_path], "data_file_sha256"),
                            ("synthetic", [], "synthetic_data_sha256")):  # fmt: skip
        tb, out = tmp_path / name, tmp_path / f"{name}.h5"
        assert run_cli.main([*common, *data, "--tensorboard", str(tb), "--out", str(out)]) == 0
        made = provenance_of(tb / "repeat-0")
        assert made[key] == results.load(out).attrs[key], name


# python -m snnsim.run stopped by a real SIGTERM once its TensorBoard hook has written epoch 1
STOPPED_AFTER_EPOCH_1 = """
import os, signal, sys
from snnsim import monitor, run
write = monitor.TensorBoardHook.__call__
def call(self, record):
    write(self, record)
    if record.epoch == 1:
        os.kill(os.getpid(), signal.SIGTERM)
monitor.TensorBoardHook.__call__ = call
sys.exit(run.main(sys.argv[1:]))
"""


def test_a_second_run_into_the_same_folder_says_that_it_hides_the_first(tmp_path, capsys):
    """Two runs of other settings with one --tensorboard folder are one TensorBoard run: the
    second's events hide the first's in repeat-R (as the README says), without a word at run
    time. The second run says so in one line; a run resumed from its checkpoint of epoch 1, whose
    folder holds its own stopped process's events, does not."""
    tb = tmp_path / "tb"
    args = [*IPD, "--repeats", "1", "--epochs", "2", "--tensorboard", str(tb)]
    assert run_cli.main([*args, "--out", str(tmp_path / "a.h5")]) == 0
    capsys.readouterr()
    assert run_cli.main([*args, "--tau", "5ms", "--out", str(tmp_path / "b.h5")]) == 0
    assert capsys.readouterr().err == (
        f"snnsim.run: tensorboard: {tb / 'repeat-0'} held the events of an earlier run, which TensorBoard hides "
        "from now on (this run's from epoch 1); give each run a TensorBoard folder of its own\n"
    )
    shown = [e.value for e in events(tb / "repeat-0").Scalars("loss/train")]
    assert shown == [float(np.float32(v)) for v in results.load(tmp_path / "b.h5")["loss"].values[0]]

    own = tmp_path / "own"
    resumed = [*args[:-1], str(own), "--out", str(tmp_path / "c.h5")]
    first = subprocess.run([sys.executable, "-c", STOPPED_AFTER_EPOCH_1, *resumed], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert first.returncode == 128 + signal.SIGTERM, first.stderr
    assert run_cli.main(resumed) == 0
    err = capsys.readouterr().err
    assert "resuming from the checkpoint after epoch 1 of 2" in err and "held the events" not in err, err


def test_a_second_run_of_two_repeats_names_the_first_folder_and_counts_the_other(tmp_path, capsys):
    """Both repeats' folders held the first run's events: the line names repeat-0 and counts one more."""
    tb = tmp_path / "tb"
    args = [*IPD, "--epochs", "1", "--tensorboard", str(tb)]
    assert run_cli.main([*args, "--out", str(tmp_path / "a.h5")]) == 0
    capsys.readouterr()
    assert run_cli.main([*args, "--tau", "5ms", "--out", str(tmp_path / "b.h5")]) == 0
    assert capsys.readouterr().err == (
        f"snnsim.run: tensorboard: {tb / 'repeat-0'} (and 1 more) held the events of an earlier run, which "
        "TensorBoard hides from now on (this run's from epoch 1); give each run a TensorBoard folder of its own\n"
    )


# python -m snnsim.run stopped by a real SIGTERM once the checkpoint of epoch 2 is written
STOPPED_AFTER_CHECKPOINT_2 = """
import os, signal, sys
from snnsim import run, training
save = training.save_checkpoint
def stop(path, key, model, trainer, state, epochs):
    save(path, key, model, trainer, state, epochs)
    if state.epoch == 2:
        os.kill(os.getpid(), signal.SIGTERM)
training.save_checkpoint = stop
sys.exit(run.main(sys.argv[1:]))
"""


def test_a_run_resumed_into_a_folder_of_another_runs_events_hides_them_all(tmp_path, capsys):
    """A run stopped without --tensorboard and resumed with it, into a folder that holds another
    run's events (other seed), logs from its checkpoint's epoch on. Before, TensorBoard showed the
    other run's epochs before that one and this run's after it as one curve, without a word. The
    other run's events are hidden now, from epoch 1, and the run says so in one line."""
    tb, out = tmp_path / "tb", tmp_path / "b.h5"
    args = [*IPD, "--repeats", "1"]
    assert run_cli.main([*args, "--seed", "5", "--tensorboard", str(tb), "--out", str(tmp_path / "a.h5")]) == 0
    first = subprocess.run([sys.executable, "-c", STOPPED_AFTER_CHECKPOINT_2, *args, "--out", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert first.returncode == 128 + signal.SIGTERM, first.stderr
    capsys.readouterr()
    assert run_cli.main([*args, "--tensorboard", str(tb), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "resuming from the checkpoint after epoch 2 of 3" in err, err
    assert err.count(f"tensorboard: {tb / 'repeat-0'} held the events of an earlier run") == 1, err
    shown = events(tb / "repeat-0").Scalars("loss/train")
    assert [e.step for e in shown] == [2, 3]
    assert [e.value for e in shown] == [float(np.float32(v)) for v in results.load(out)["loss"].values[0][1:]]
    shown = pa.EventAccumulator(str(tb / "repeat-0"), size_guidance={pa.TENSORS: 0})  # purges tensors as TensorBoard
    shown.Reload()
    assert [json.loads(e.tensor_proto.string_val[0])["seed"] for e in shown.Tensors("provenance/text_summary")] == [0]


def test_a_writer_opened_after_the_folders_files_sorts_after_them(tmp_path):
    """TensorBoard reads a folder's event files in name order (the second each was opened, then
    host and pid as text): a resumed run's file opened in the same second as its stopped run's
    could sort first, and the stopped run's events read after it hid the resumed epochs
    (test_a_run_stopped_at_its_hooks_and_resumed_logs_every_epoch_once failed so, now and then).
    A file of this second whose host and pid sort last stands for the stopped run's."""
    import time

    from torch.utils.tensorboard import SummaryWriter

    from snnsim.monitor import after_earlier_files

    folder = tmp_path / "repeat-0"
    folder.mkdir()
    earlier = folder / f"events.out.tfevents.{int(time.time())}.zzzz.99999999.0"
    earlier.write_bytes(b"")
    after_earlier_files([folder, tmp_path / "not-made"])
    with SummaryWriter(log_dir=str(folder), purge_step=3) as writer:
        writer.add_scalar("loss/train", 1.0, 3)
    assert sorted(p.name for p in folder.iterdir())[0] == earlier.name


def test_writers_are_closed_as_soon_as_the_folder_cannot_be_written(tmp_path):
    """A write that fails (a real small file system, filled after the first epoch's events, until
    the events of a later epoch no longer fit) is said once, and the hook closes its writers
    then, not when it is dropped: no event file stays open, no writer thread left, while the
    training goes on."""
    import torch
    from small_disk import fill, mounted_tmpfs

    from snnsim.monitor import TensorBoardHook
    from snnsim.training import EpochRecord

    with mounted_tmpfs(tmp_path / "small", "1m") as small:
        before, said = open_writers(), []
        hook = TensorBoardHook(small / "tb", ["repeat-0", "repeat-1"], log=said.append)
        record = EpochRecord(1, np.ones(2), None, 0.1, None, torch.nn.Linear(2, 2), np.ones(2, bool))
        hook(record)
        assert open_writers() != before and said == []  # opened: two event files, two threads
        fill(small)  # every block taken: an epoch's events still fit in what is left of an event file's last page
        for epoch in range(2, 200):
            hook(EpochRecord(epoch, np.ones(2), None, 0.1, None, record.model, np.ones(2, bool)))
            if said:
                break
        assert said == [f"tensorboard: cannot write in {small / 'tb'} (No space left on device); training goes on "
                        "without it"]  # fmt: skip
        assert open_writers() == before


def test_the_hook_flushes_each_epoch_into_a_file_that_sorts_after_the_folders(tmp_path):
    """The hook itself: an epoch's events are on disk once it returns (a run killed later keeps
    them; the writer alone flushes every 2 minutes), in a file that sorts after one of this
    second already in the folder (see test_a_writer_opened_after_the_folders_files_sorts_after_them)."""
    import time

    import torch

    from snnsim.monitor import TensorBoardHook
    from snnsim.training import EpochRecord

    folder = tmp_path / "tb" / "repeat-0"
    folder.mkdir(parents=True)
    earlier = folder / f"events.out.tfevents.{int(time.time())}.zzzz.99999999.0"
    earlier.write_bytes(b"")
    said: list[str] = []
    hook = TensorBoardHook(tmp_path / "tb", ["repeat-0"], log=said.append)
    try:
        hook(EpochRecord(1, np.array([0.5]), None, 0.1, None, torch.nn.Linear(2, 2), np.ones(1, bool)))
        assert sorted(p.name for p in folder.iterdir())[0] == earlier.name
        assert [e.value for e in events(folder).Scalars("loss/train")] == [0.5]
    finally:
        hook.close()
    assert len(said) == 1 and "held the events of an earlier run" in said[0]


def test_events_of_another_seed_or_of_no_snnsim_run_are_another_runs(tmp_path):
    """A resumed run hides the events in its folder from epoch 1 where they are another run's:
    another seed of the same config, or events without the provenance an snnsim run writes."""
    from torch.utils.tensorboard import SummaryWriter

    from snnsim.monitor import _another_run, provenance_text

    cfg = RunConfig()
    mine, theirs, plain = tmp_path / "mine", tmp_path / "theirs", tmp_path / "plain"
    for folder, text in ((mine, provenance_text(cfg, 3)), (theirs, provenance_text(cfg, 4)), (plain, None)):
        with SummaryWriter(log_dir=str(folder)) as writer:
            writer.add_scalar("loss/train", 1.0, 1)
            if text is not None:
                writer.add_text("provenance", text, 1)
    this = provenance_text(cfg, 3)
    assert [_another_run(f, this) for f in (mine, theirs, plain, tmp_path / "none")] == [False, True, True, False]


def test_events_shown_whose_provenance_a_restart_hid_are_another_runs(tmp_path):
    """A folder shows the step-0 events of a writer without provenance; this run's provenance (epoch
    1) is hidden by a later writer opened at epoch 1 (its restart) that stopped before writing its
    own: the provenance tag is there with no events. What shows is of no snnsim run: another run's
    (kills ``not made`` dropped from _another_run, which took it for this run's)."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as accumulator
    from torch.utils.tensorboard import SummaryWriter

    from snnsim.monitor import _another_run, after_earlier_files, provenance_text

    this, folder = provenance_text(RunConfig(), 3), tmp_path / "repeat-0"
    with SummaryWriter(log_dir=str(folder)) as writer:  # no snnsim run's
        writer.add_scalar("loss/train", 2.0, 0)
    after_earlier_files([folder])
    with SummaryWriter(log_dir=str(folder), purge_step=1) as writer:
        writer.add_text("provenance", this, 1)
        writer.add_scalar("loss/train", 1.0, 1)
    after_earlier_files([folder])
    SummaryWriter(log_dir=str(folder), purge_step=1).close()  # stopped before its provenance
    shown = accumulator.EventAccumulator(str(folder), size_guidance={accumulator.TENSORS: 0})
    shown.Reload()
    assert shown.Tensors("provenance/text_summary") == []
    assert [(e.step, e.tensor_proto.float_val[0]) for e in shown.Tensors("loss/train")] == [(0, 2.0)]
    assert _another_run(folder, this)


def test_only_the_event_writers_os_errors_are_kept_quiet(monkeypatch):
    """The hook reports a writer thread's OSError itself; any other thread's error still reaches
    the excepthook (a traceback), an OSError too."""
    from snnsim.monitor import _quiet_writer_threads

    seen: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(type(args.thread).__name__))
    _quiet_writer_threads()

    class _AsyncWriterThread(threading.Thread):  # named as TensorBoard's writer thread
        pass

    def fail() -> None:
        raise OSError(28, "No space left on device")

    for thread in (_AsyncWriterThread(target=fail), threading.Thread(target=fail)):
        thread.start()
        thread.join()
    assert seen == ["Thread"]
