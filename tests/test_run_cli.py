"""The CLI: one clear line and exit code 2 on bad input, nothing written; result files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from snnsim import results
from snnsim.backends import _native
from snnsim.run import main

TINY = [
    "--epochs",
    "1",
    "--n-train-batches",
    "2",
    "--n-test-batches",
    "1",
    "--batch-size",
    "8",
    "--hidden",
    "8",
    "--backend",
    "fused",
    "--quiet",
]


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--readout", "median"], "--readout"),
        (["--backend", "brian"], "--backend"),
        (["--tau", "2"], "--tau"),
        (["--tau", "-2ms"], "--tau"),
        (["--tau", "2 parsecs"], "--tau"),
        (["--tau", "1e308s"], "--tau"),  # 1e311 ms: was run as tau=inf ms
        (["--tau-syn", "1e306s", "--backend", "norse", "--neuron", "standard"], "--tau-syn"),
        (["--tau-adapt", "1e308s", "--neuron", "standard"], "--tau-adapt"),
        (["--hidden", "0"], "--hidden"),
        (["--batch-size", "-4"], "--batch-size"),
        (["--epochs", "many"], "--epochs"),
        (["--phase", "random"], "--phase"),
        (["--device", "tpu"], "--device"),
        (["--dim", "7", "--task", "bmi"], "--dim"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(argv, flag, tmp_path, capsys):
    out = tmp_path / "r.h5"
    with pytest.raises(SystemExit) as info:
        code = main(TINY + argv + ["--out", str(out)])
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv, flag", [(["--tau", "-1ms"], "--tau"), (["--hidden", "0"], "--hidden"),
                                        (["--dim", "7", "--study", "bmi"], "--dim"),
                                        (["--backend", "fused", "--tau-syn", "5ms"], "--tau-syn"),
                                        (["--out", "taken.h5"], "--out"), (["--tensorboard", "taken.h5"], "--tensorboard"),
                                        (["--study", "bmi", "--data", "no-such.pkl", "--out", "new/r.h5", "--quiet"], "--data"),
                                        (["--study", "bmi", "--data", "folder", "--out", "new/r.h5", "--quiet"], "--data")])  # fmt: skip
def test_a_refusal_needs_neither_torch_nor_xarray(argv, flag, tmp_path):
    """Bad input is refused before torch and xarray load (``--tau -1ms``: 2.75 s, nearly all of it
    their imports, against 0.33 s): a refusal answers at once, in one line and exit 2, as
    ``--help`` does, even where neither could be imported. A file in the way of ``--out`` or
    ``--tensorboard``, and a ``--data`` file that is not there, too; the last without making
    ``--out``'s folder first."""
    (tmp_path / "taken.h5").write_bytes(b"another run's")
    (tmp_path / "folder").mkdir()
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['xarray'] = None; from snnsim.run import main; "
        f"sys.exit(main({argv!r}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"snnsim.run: error: {flag}:"), proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["folder", "taken.h5"]


@pytest.mark.parametrize("name, kind", [("r.csv", "a CSV"), ("r.json", "a JSON"), ("r.NPZ", "a NumPy .npz"),
                                        ("r.pt", "a torch"), ("sub/r.pkl", "a pickle"), ("r.svg", "an SVG")])  # fmt: skip
def test_an_out_named_as_another_format_is_refused(name, kind, tmp_path):
    """``--out r.csv`` wrote an HDF5 file under that name without a word; it is refused in one
    line before any work (and before torch loads), nothing made."""
    code = f"import sys; sys.modules['torch'] = None; from snnsim.run import main; sys.exit(main({['--out', name]!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    stem = name.rsplit(".", 1)[0]
    assert proc.returncode == 2 and proc.stderr == (
        f"snnsim.run: error: --out: {name} names {kind} file, but a result file is HDF5; give a name such as "
        f"{stem}.h5 (.h5, .hdf5 or .nc)\n"
    ), proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["r.hdf5", "r.nc", "r", "run_lr0.01"])
def test_an_out_of_hdf5_or_no_extension_is_taken(name, tmp_path):
    assert main([*TINY, "--quiet", "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / name).read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


def test_accepted_values_are_listed(capsys):
    assert main(["--readout", "median"]) == 2
    assert "accepted: mean, max, fr, last, weighted, oc" in capsys.readouterr().err


def test_help_names_the_recipe_defaults_and_the_data_default(capsys):
    """``--help`` shows RunConfig's defaults; a BMI user must also learn what ``--study bmi``
    changes, every recipe setting by its flag, and ``--data`` must not claim a default of None."""
    from snnsim.recipes import RECIPES

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for (study, _), recipe in RECIPES.items():
        assert f"--study {study}" in text
        for key, value in recipe.items():
            assert f"--{key.replace('_', '-')} {value}" in text.split(f"--study {study}")[-1]
    assert "(default None)" not in text
    assert "synthetic:NAME[:SEED]" in text


def test_help_says_that_quiet_drops_the_notes(tmp_path, capsys):
    """``--quiet``'s help said "no progress bar", but it drops the notes too, among them the one that
    a TOML file's ``tau = 20`` is read as 20 s: the help says so, and it is so."""
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--quiet no progress bar and no notes" in text
    toml = tmp_path / "c.toml"
    toml.write_text("tau = 0.02\n")
    for quiet, notes in ((["--quiet"], 0), ([], 1)):
        assert main(["--config", str(toml), *[a for a in TINY if a != "--quiet"], *quiet]) == 0
        assert len([n for n in _notes(capsys.readouterr().err) if "without a unit" in n]) == notes


def test_an_empty_fallback_dir_is_refused(tmp_path, capsys):
    """``--fallback-dir ""`` (an unset variable) was taken as the current folder: refused like
    ``--tensorboard ""``, before training, with nothing written."""
    out = tmp_path / "r.h5"
    assert main([*TINY, "--out", str(out), "--fallback-dir", ""]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["snnsim.run: error: --fallback-dir: empty; give a folder for the result if --out cannot be written"]
    assert os.listdir(tmp_path) == []


def test_a_read_only_fallback_dir_is_refused_before_training(tmp_path, capsys):
    """A ``--fallback-dir`` that is a folder but cannot be written in (a read-only file system) is
    no place to save a result: refused before training, as a missing one is."""
    from contextlib import nullcontext

    from small_disk import mounted_tmpfs

    ro = tmp_path / "ro"
    if os.geteuid() == 0:  # root writes in a folder of any mode: a read-only file system
        where = mounted_tmpfs(ro, read_only=True)
    else:
        ro.mkdir(mode=0o555)
        where = nullcontext(ro)
    with where:
        assert main([*TINY, "--out", str(tmp_path / "r.h5"), "--fallback-dir", str(ro)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"snnsim.run: error: --fallback-dir: {ro} is not a writable folder"]
    assert not (tmp_path / "r.h5").exists()


def test_keep_checkpoints_keeps_an_earlier_runs_checkpoint_too(tmp_path, capsys):
    """``--keep-checkpoints`` keeps the checkpoints beside ``--out``: the one of an earlier run with
    other settings (other repeats) too, which a run without it removes once its result is written."""
    other = tmp_path / ".r.h5.r5-6.ckpt"
    other.write_bytes(b"")
    assert main([*TINY, "--quiet", "--out", str(tmp_path / "r.h5"), "--keep-checkpoints"]) == 0
    assert other.exists() and "removed the checkpoint" not in capsys.readouterr().err
    assert (tmp_path / ".r.h5.r0-0.ckpt").exists()


def test_unwritable_out(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code = main(TINY + ["--out", str(tmp_path / "file" / "r.h5")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--out" in err


@pytest.mark.parametrize("below", [(), ("exp1",)])
def test_a_tensorboard_folder_through_a_broken_link_is_refused(tmp_path, capsys, below):
    """``--tensorboard runs`` (or ``runs/exp1``) where ``runs`` is a link to a folder that is gone
    (a purged scratch space) trained, then said "tensorboard: cannot write in runs (No such file or
    directory)" and wrote no events; it is refused before training now, in one line, as a folder
    that cannot be written is."""
    (tmp_path / "runs").symlink_to(tmp_path / "scratch" / "runs")
    assert main([*TINY, "--out", str(tmp_path / "r.h5"), "--tensorboard", str(tmp_path.joinpath("runs", *below))]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.run: error: --tensorboard: {tmp_path / 'runs'} is a link to {tmp_path / 'scratch' / 'runs'}, "
        "which is not there; give a folder"
    ]
    assert os.listdir(tmp_path) == ["runs"]


def test_cuda_requested_without_gpu(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    code = main(TINY + ["--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and "--device" in err and err.count("\n") == 1


def test_run_writes_a_complete_result_file(tmp_path, capsys):
    out = tmp_path / "r.h5"
    assert main(TINY + ["--readout", "fr", "--tau", "2ms", "--repeats", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test acc %" in printed and "train s" in printed
    assert printed.splitlines()[-1] == f"result file: {out}"  # where the result went, last
    rows = [line for line in printed.splitlines() if line[:14].strip() and line[14:].split()]
    body = [r for r in rows if not r.startswith(("IPD", "result file"))]
    assert body and all(len(r[14:].split()) == 3 for r in body[1:]), body  # three separate numbers per row
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert set(ds.data_vars) >= {
            "train_acc",
            "test_acc",
            "train_err_deg",
            "test_err_deg",
            "train_seconds",
            "loss",
            "confusion",
        }
        assert ds.loss.dims == ("repeat", "epoch") and ds.confusion.dims == ("repeat", "true_class", "pred_class")
        assert ds.sizes["repeat"] == 2
        assert ds.w1.dims == ("repeat", "input_unit", "hidden_unit") and ds.w1.shape == (2, 200, 8)
        assert ds.w2.shape == (2, 8, 12) and float(abs(ds.w1).max()) > 0
        assert ds.attrs["config_readout"] == "fr" and ds.attrs["config_tau"] == 0.002
        assert ds.attrs["config_phase"] == "per-sample" and ds.attrs["seed"] == 0
        assert int(ds.confusion.sum()) == 2 * 8  # every test sample counted once per repeat
        acc = ds.confusion.values.trace(axis1=1, axis2=2) / 8 * 100
        np.testing.assert_allclose(acc, ds.test_acc.values)
    assert results.load(out).attrs["device"] == "cpu"


def test_same_seed_same_numbers_and_repeat_r_is_seed_plus_r():
    a = main_ds(["--repeats", "2", "--seed", "4"])
    b = main_ds(["--repeats", "2", "--seed", "4"])
    c = main_ds(["--repeats", "1", "--seed", "5"])
    for name in ("test_acc", "train_acc", "loss", "confusion"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
        np.testing.assert_array_equal(a[name].isel(repeat=1).values, c[name].isel(repeat=0).values)


def main_ds(extra):
    from snnsim.run import build_parser, config_from_args, execute

    cfg = config_from_args(build_parser().parse_args(TINY + extra))
    return execute(cfg, None, progress=False)


def test_module_entry_point_runs(tmp_path):
    """``python -m snnsim.run`` as a user types it (tiny settings)."""
    out = tmp_path / "r.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "snnsim.run", "--readout", "fr", "--tau", "2ms", *TINY, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and "test acc %" in proc.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "snnsim.run", "--tau", "fast"], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def test_a_config_given_as_a_pipe_is_read(tmp_path):
    """``--config <(...)`` (a pipe, as ``/dev/stdin`` is) was read twice: once for the first bytes
    of an HDF5 file, which took its whole text, then as TOML, which found nothing left, and the run
    trained without the settings (RunConfig's defaults, exit 0). The pipe's settings are the run's."""
    out = tmp_path / "r.h5"
    script = f"""exec "$0" -m snnsim.run --config <(printf 'readout = "fr"\\nseed = 7\\n') "$@" --out {out}"""
    proc = subprocess.run(["bash", "-c", script, sys.executable, *TINY], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ds = results.load(out)
    assert (ds.attrs["config_readout"], ds.attrs["seed"], ds.attrs["config_epochs"]) == ("fr", 7, 1)


def test_a_config_fifo_without_a_writer_says_that_it_waits(tmp_path):
    """``--config FIFO`` (a named pipe given by mistake, no writer) waited in silence until stopped.
    It still waits (a pipe is read), but says so in one line after 2 s; then a writer's settings
    are the run's."""
    import select

    fifo, out = tmp_path / "settings", tmp_path / "r.h5"
    os.mkfifo(fifo)
    argv = [sys.executable, "-m", "snnsim.run", "--config", str(fifo), *TINY, "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 120)  # no writer until the line is there
        assert ready, "no line while waiting for a writer"
        line = proc.stderr.readline()
        assert line == f"snnsim.run: --config: waiting for a writer on the FIFO {fifo}; stop with Ctrl-C\n"
        fifo.write_text('readout = "fr"\nseed = 7\n')
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "waiting for a writer" not in err, err
    ds = results.load(out)
    assert (ds.attrs["config_readout"], ds.attrs["seed"]) == ("fr", 7)


def test_a_long_run_on_a_library_backend_gets_a_hint_toward_fused():
    from snnsim.config import RunConfig
    from snnsim.run import speed_hint

    assert "--backend fused" in speed_hint(RunConfig(backend="snntorch"))
    assert "--backend fused" in speed_hint(RunConfig(backend="norse", study="bmi", epochs=30))
    assert speed_hint(RunConfig(backend="fused")) is None
    assert speed_hint(RunConfig(backend="snntorch", epochs=1, n_train_batches=4)) is None  # a short run
    long = RunConfig(backend="snntorch", epochs=2, repeats=2, n_train_batches=25)  # 100 mini-batches: hinted
    assert "--backend fused" in speed_hint(long)
    assert speed_hint(RunConfig(backend="snntorch", epochs=1, repeats=3, n_train_batches=33)) is None  # 99
    assert speed_hint(RunConfig(study="bmi", model="linear")) is None


def test_the_help_of_dim_says_how_to_decode_both_joints(capsys):
    """``--dim``'s help read "0 shoulder, 1 elbow; twice, or all": not what is given twice."""
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--dim 0 --dim 1" in shown and "or all" in shown


def test_no_hint_toward_fused_for_a_model_the_fused_backend_refuses():
    """A synaptic current, recurrence, learned taus or input delays run on snntorch and norse only:
    the hint sent such a run to ``--backend fused``, which refuses it (docs/model_space.md)."""
    from snnsim.config import RunConfig
    from snnsim.run import speed_hint

    for option in ({"tau_syn": 0.005}, {"recurrent": True}, {"learn_tau": True}, {"delays": "learned"}):
        cfg = RunConfig(backend="snntorch", neuron="standard", **option)
        assert speed_hint(cfg) is None, option
    assert "--backend fused" in speed_hint(RunConfig(backend="norse", neuron="standard", tau_adapt=0.05))


def test_a_silent_network_is_named_in_a_warning(capsys):
    """A threshold no membrane reaches: no hidden spike, every test sample the same class."""
    assert main(TINY + ["--threshold", "1e6", "--repeats", "2"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "snnsim.run: warning: repeats 0, 1 of 2 predict one class for every test sample (hidden Hz: 0.00, 0.00): "
        "the network does not respond to its input, as when no hidden spike reaches the output (fewer layers, "
        "a lower --threshold or another --init may change that)"
    ]


def test_flags_without_effect_get_a_note(capsys, tmp_path, bmi_path):
    """Flags that the other settings make idle are named, not silently dropped."""
    loud = [a for a in TINY if a != "--quiet"]  # --quiet leaves notes out
    assert main([*loud, "--patience", "3", "--overwrite", "--keep-checkpoints"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
    assert notes == ["snnsim.run: note: --overwrite (no --out), --keep-checkpoints (no --out), --patience (no "
                     "--n-val-batches: early stopping needs validation data) have no effect"]  # fmt: skip
    assert main([*loud, "--patience", "3", "--n-val-batches", "1", "--out", str(tmp_path / "r.h5")]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["--study", "bmi", "--model", "linear", "--data", bmi_path, "--n-train-folds", "2", "--quiet",
                 "--tensorboard", str(tmp_path / "tb")]) == 0  # fmt: skip
    assert main(["--study", "bmi", "--model", "linear", "--data", bmi_path, "--n-train-folds", "2",
                 "--tensorboard", str(tmp_path / "tb")]) == 0  # fmt: skip
    notes = [line for line in capsys.readouterr().err.splitlines() if "note:" in line]
    assert notes == ["snnsim.run: note: --tensorboard (ridge regression has no epochs) has no effect"]


def test_a_ridge_runs_idle_tensorboard_folder_is_not_refused(capsys, tmp_path, bmi_path):
    """--tensorboard has no effect on ridge regression (its note says so), so a read-only folder
    there does not stop the run. Before, the run was refused (exit 2) for the folder it never writes."""
    from small_disk import mounted_tmpfs

    out = tmp_path / "r.h5"
    with mounted_tmpfs(tmp_path / "ro", read_only=True) as folder:
        assert main(["--study", "bmi", "--model", "linear", "--data", bmi_path, "--n-train-folds", "2",
                     "--tensorboard", str(folder / "tb"), "--out", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "snnsim.run: note: --tensorboard (ridge regression has no epochs) has no effect" in err, err
    assert results.load(out).attrs["complete"] == 1


def test_a_batch_size_above_the_training_samples_gets_a_note(capsys, tmp_path, bmi_path):
    """--batch-size 5000 with 2 training folds of 300 samples trained on all 600 in one mini-batch
    per epoch without a word: a note says so, as the notes before a run do (--quiet: none), and
    the file keeps the asked batch size (its config)."""
    base = ["--study", "bmi", "--data", bmi_path, "--n-train-folds", "2", "--hidden", "8", "--epochs", "1"]
    for model in ("snn", "ann"):
        assert main([*base, "--model", model, "--batch-size", "5000", "--out", str(tmp_path / f"{model}.h5")]) == 0
        assert results.load(tmp_path / f"{model}.h5").attrs["config_batch_size"] == 5000
        notes = [line for line in _notes(capsys.readouterr().err) if "--batch-size" in line]
        assert notes == ["snnsim.run: note: --batch-size 5000 is more than the 600 training samples: each epoch "
                         "trains on all of them in one mini-batch"], notes  # fmt: skip
    assert main([*base, "--batch-size", "5000", "--quiet"]) == 0
    assert "--batch-size" not in capsys.readouterr().err
    assert main([*base, "--batch-size", "600"]) == 0  # all of them, as asked
    assert "--batch-size" not in capsys.readouterr().err


def _notes(err: str) -> list[str]:
    """The lines snnsim.run writes to stderr (not the progress bars)."""
    return [line for line in err.replace("\r", "\n").splitlines() if line.startswith("snnsim.run")]


def _same_run(a_path, b_path) -> None:
    a, b = results.load(a_path), results.load(b_path)
    assert a.attrs["config"] == b.attrs["config"]
    assert set(a.data_vars) == set(b.data_vars)
    for name in sorted(set(a.data_vars) - {"train_seconds"}):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.mark.parametrize(
    "argv",
    [
        ["--backend", "norse", "--hidden", "13", "--batch-size", "37", "--tau", "5ms", "--readout", "fr", "--seed", "4",
         "--repeats", "2", "--epochs", "2", "--n-train-batches", "2", "--n-test-batches", "1", "--n-val-batches", "1"],
        # 64 is RunConfig's default batch size but not the BMI recipe's: the file's run must keep it
        # (2 training folds of the 18: three trainings in a ninth of the time; the ridge run's too)
        ["--study", "bmi", "--epochs", "2", "--hidden", "31", "--batch-size", "64", "--rotation", "7",
         "--n-train-folds", "2"],
        ["--study", "bmi", "--model", "linear", "--n-train-folds", "2"],
    ],
)  # fmt: skip
def test_a_result_file_as_config_runs_its_run_again(argv, tmp_path, capsys):
    """``--config RUN.h5`` takes the settings the file records: the same numbers, bit for bit,
    and no note about settings the first run did not give."""
    first, again = tmp_path / "a.h5", tmp_path / "b.h5"
    assert main([*argv, "--out", str(first)]) == 0
    given = _notes(capsys.readouterr().err)
    assert main(["--config", str(first), "--out", str(again)]) == 0
    assert _notes(capsys.readouterr().err) == given  # the recipe's note, none on unread settings
    _same_run(first, again)
    assert main(["--config", str(first), "--seed", "9", "--out", str(tmp_path / "c.h5"), "--quiet"]) == 0  # flags win
    assert results.config_of(results.load(tmp_path / "c.h5")).seed == 9


def test_a_result_file_whose_data_file_changed_is_refused(tmp_path, capsys, bmi_path):
    """The numbers would not be the run's: one line, exit 2, unless --data says to use it."""
    import hashlib
    import shutil

    data, first = tmp_path / "data.pkl", tmp_path / "a.h5"
    shutil.copy(bmi_path, data)
    base = ["--study", "bmi", "--model", "linear", "--data", str(data), "--quiet"]
    assert main([*base, "--out", str(first)]) == 0
    with open(data, "ab") as f:
        f.write(b"\0")  # the pickle still loads: the trailing byte is never read
    made, now = results.load(first).attrs["data_file_sha256"], hashlib.sha256(data.read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["--config", str(first), "--out", str(tmp_path / "b.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --config: {first}: data file {data} changed since (SHA-256 {made[:12]}... "
                   f"then, {now[:12]}... now): give --data {data} to run on it as it is now"]  # fmt: skip
    assert not (tmp_path / "b.h5").exists()
    assert main(["--config", str(first), "--data", str(data), "--out", str(tmp_path / "b.h5"), "--quiet"]) == 0


def test_a_synthetic_source_with_a_file_of_its_name_here_gets_a_note(tmp_path, capsys, monkeypatch):
    """``--data synthetic`` in a folder that holds a file named ``synthetic`` trained on the
    built-in set without a word (exit 0), as a refused ``synthetic:...`` name points to its file
    (bmi_synthetic.parse_source): a note says which set it is and how to read the file; given in a
    config file, as the file's key (it said ``--data``). The sets are read from the cache every BMI
    run on its default data reads (not drawn again in a cache of its own: 3 s of CPU each)."""
    monkeypatch.chdir(tmp_path)
    ridge = ["--study", "bmi", "--model", "linear", "--n-train-folds", "2"]
    assert main([*ridge, "--data", "synthetic"]) == 0
    assert "synthetic" not in "".join(_notes(capsys.readouterr().err))  # no file of that name: no note
    for data, which in (("synthetic", "the"), ("synthetic:weak:1", "a")):
        (tmp_path / data).write_bytes(b"a file of that name")
        assert main([*ridge, "--data", data]) == 0
        assert _notes(capsys.readouterr().err) == [
            f"snnsim.run: note: --data {data} is {which} built-in synthetic set; a file of that name is here: "
            f"give ./{data} to read it"
        ]
    assert main([*ridge, "--data", "synthetic", "--quiet"]) == 0
    assert "note:" not in capsys.readouterr().err
    # given by a TOML --config file's key, named as the key, not as the flag --data it has not
    toml = tmp_path / "c.toml"
    toml.write_text('data = "synthetic:weak:1"\n')
    assert main([*ridge, "--config", str(toml)]) == 0
    assert _notes(capsys.readouterr().err) == [
        f'snnsim.run: note: data = "synthetic:weak:1" in {toml} is a built-in synthetic set; a file of that name is '
        'here: give "./synthetic:weak:1" to read it'
    ]


def test_a_synthetic_run_names_its_arrays_and_a_changed_cache_is_refused(tmp_path, capsys, monkeypatch):
    """A run on a synthetic member records the SHA-256 of the arrays it trained on (here computed
    from the cache file by hand); a cache changed since (edited, or left by another generator of
    the same version) gives other numbers: `--config` refuses it in one line, unless --data. The
    cache this test edits is its own: a copy of the shared one's file (drawn there once, 3 s of CPU)."""
    import hashlib
    import pickle
    import shutil

    from snnsim.datasets import bmi, bmi_synthetic

    bmi_synthetic.load_or_generate(1, "weak")  # in the shared cache, as other tests read it
    (tmp_path / "cache").mkdir()
    shutil.copy(bmi_synthetic.cache_path(1, "weak"), tmp_path / "cache")
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(bmi, "SYNTHETIC", {})
    first = tmp_path / "a.h5"
    ridge = ["--study", "bmi", "--model", "linear", "--data", "synthetic:weak:1", "--n-train-folds", "2", "--quiet"]
    assert main([*ridge, "--out", str(first)]) == 0
    (cache,) = (tmp_path / "cache").iterdir()
    data = pickle.loads(cache.read_bytes())
    by_hand = hashlib.sha256()
    for key in ("MI", "theta", "dtheta", "ddtheta", "torque", "time"):
        for fold in data[key]:
            a = np.asarray(fold, dtype=float).reshape(len(fold)) if key == "time" else np.asarray(fold, dtype=float)
            by_hand.update(f"{key}|{a.dtype.str}|{a.shape}|".encode() + a.tobytes())
    made = results.load(first).attrs["synthetic_data_sha256"]
    assert made == by_hand.hexdigest()
    data["MI"][3][0, 0] += 1  # one count more: still a valid data set
    cache.write_bytes(pickle.dumps(data))
    monkeypatch.setattr(bmi, "SYNTHETIC", {})  # a new process: nothing loaded yet
    capsys.readouterr()
    assert main(["--config", str(first), "--out", str(tmp_path / "b.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{first} was made from synthetic:weak:1 with SHA-256 {made[:12]}...;" in err[0], err
    assert not (tmp_path / "b.h5").exists()
    argv = ["--config", str(first), "--data", "synthetic:weak:1", "--out", str(tmp_path / "b.h5"), "--quiet"]
    assert main(argv) == 0
    assert results.load(tmp_path / "b.h5").attrs["synthetic_data_sha256"] != made


def test_a_file_that_is_not_a_run_is_refused_as_config(tmp_path, capsys):
    """Results without one run's config (as a merged experiment) and a damaged result file: one
    line, exit 2."""
    run = tmp_path / "a.h5"
    assert main([*TINY, "--out", str(run)]) == 0
    merged = tmp_path / "merged.h5"  # as a merged experiment: results without one run's config
    ds = results.load(run)
    del ds.attrs["config"]
    results.write(ds, merged)
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(run.read_bytes()[:-300])
    foreign = tmp_path / "model.nir"  # an HDF5 file of another program (NIR's graph), as exports write them
    with h5py.File(foreign, "w") as f:
        f.attrs["version"] = "1.0"
    cases = [(merged, "not the result file of one run"), (damaged, "is not a readable result file"),
             (foreign, "is not an snnsim result file (an HDF5 file without snnsim's attributes): give a run's "
                       "result file (python -m snnsim.run, or a sweep job's) or a TOML file of settings")]  # fmt: skip
    for path, why in cases:
        capsys.readouterr()
        assert main(["--config", str(path), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("snnsim.run: error: --config: ") and why in err[0], err
        assert "sweep merge or tune merge" not in err[0], err  # --config runs one run again: no merge


def test_a_sweeps_results_folder_as_config_names_its_merged_file(tmp_path, capsys):
    """``--config results/NAME``, the folder of a sweep's job files beside the merged
    ``results/NAME.h5``, said only ``cannot read results/NAME (Is a directory)``, where
    ``snnsim.plots``, ``predict`` and ``export`` read ``results/NAME.h5``. It reads that file too:
    a merged file is no one run, refused in one line that names it and the job files beside it."""
    run = tmp_path / "a.h5"
    assert main([*TINY, "--out", str(run)]) == 0
    folder = tmp_path / "results" / "exp"
    folder.mkdir(parents=True)
    (folder / "job-0.h5").write_bytes(run.read_bytes())
    ds = results.load(run)
    del ds.attrs["config"]
    ds.attrs.update({"experiment": "exp", "n_jobs": 1})  # as `sweep merge` writes it
    results.write(ds, folder.with_name("exp.h5"))
    for given in (folder, f"{folder}/"):
        capsys.readouterr()
        assert main(["--config", str(given), "--out", str(tmp_path / "b.h5"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"snnsim.run: error: --config: {folder}.h5: the merged results of experiment exp (1 job), not "
                       "one run's file; give one of its files (exp/job-INDEX.h5 beside it)"], err  # fmt: skip
        assert not (tmp_path / "b.h5").exists()
    (tmp_path / "lone").mkdir()  # a folder with no merged file beside it: named as one, as export names it
    capsys.readouterr()
    assert main(["--config", str(tmp_path / "lone"), "--out", str(tmp_path / "b.h5"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"snnsim.run: error: --config: {tmp_path / 'lone'} is a folder, not a config file; give a TOML file of "
        "settings or a run's result file (.h5)"
    ]


def test_a_binary_file_as_config_is_named_for_what_it_is(tmp_path, capsys):
    """A torch checkpoint, a pickle, an .npz or other bytes given as ``--config`` said only "is
    not UTF-8 text"; the line names what the file seems to be and what --config takes."""
    import pickle

    import torch

    torch.save({"w1": torch.zeros(2)}, tmp_path / "model.pt")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps({"epochs": 1}))
    np.savez(tmp_path / "x.npz", X=np.zeros(2))
    (tmp_path / "r.bin").write_bytes(bytes(range(128, 256)))
    takes = ': --config takes a TOML file of RunConfig fields (durations as "2ms") or a run\'s result file (.h5)'
    cases = {"model.pt": "is a torch checkpoint (a zip file), not a TOML file of settings",
             "m.pkl": "is a pickle file, not a TOML file of settings",
             "x.npz": "is an .npz file of arrays, not a TOML file of settings",
             "r.bin": "is not UTF-8 text, so not a TOML file of settings"}  # fmt: skip
    out = tmp_path / "r.h5"
    for name, what in cases.items():
        capsys.readouterr()
        assert main(["--config", str(tmp_path / name), "--quiet", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"snnsim.run: error: --config: {tmp_path / name} {what}{takes}"], err
        assert not out.exists()


def test_a_bad_value_in_a_config_file_is_named_with_the_file(tmp_path, capsys):
    """A value the config refuses, given in a TOML ``--config`` file, is named with the file and
    its key, not as a flag the user never gave; nothing is written."""
    toml = tmp_path / "c.toml"
    toml.write_text("epochs = 0\n")
    out = tmp_path / "r.h5"
    assert main(["--config", str(toml), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: --config: {toml}: epochs: "), err
    assert not out.exists()


def test_a_config_file_of_no_settings_is_refused(tmp_path, capsys):
    """An empty TOML ``--config`` file (a config script that wrote nothing, a file cut to 0 bytes)
    or one of comments only ran the defaults without a word, as if it had given the run's settings;
    it is refused in one line, and nothing is trained or written."""
    toml, out = tmp_path / "c.toml", tmp_path / "r.h5"
    for text in ["", "\n\n", '# tau = "2ms"\n# epochs = 3\n']:
        toml.write_text(text)
        assert main(["--config", str(toml), *TINY, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"snnsim.run: error: --config: {toml} holds no settings (it is empty, or comments only): give "
                       'settings such as tau = "2ms", or leave --config out to run the defaults'], err  # fmt: skip
        assert not out.exists()


def test_a_device_a_config_file_names_is_named_with_the_file(tmp_path, capsys):
    """``device = "cuda"`` in a TOML ``--config`` file, on a machine without CUDA, was refused as
    ``--device: cuda requested ...``, a flag the user never gave; it names the file and its key,
    as the config's other refusals of the file's values do. A flag keeps its flag."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    toml, out = tmp_path / "c.toml", tmp_path / "r.h5"
    toml.write_text('device = "cuda"\n')
    assert main(["--config", str(toml), *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --config: {toml}: device: cuda requested but no CUDA device is available; "
                   "accepted here: cpu, auto"], err  # fmt: skip
    toml.write_text("seed = 1\n")
    assert main(["--config", str(toml), *TINY, "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.run: error: --device: cuda requested"), err
    assert not out.exists()


def test_a_device_the_machine_lacks_makes_no_folder_of_out(tmp_path, capsys):
    """``--device cuda`` on a machine without CUDA was refused after ``--out``'s folders were made,
    and left them behind, empty; it is refused before, and nothing is made."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    out = tmp_path / "new" / "sub" / "r.h5"
    assert main([*TINY, "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.run: error: --device: cuda requested"), err
    assert os.listdir(tmp_path) == []


def test_a_run_too_large_for_memory_makes_no_folder_of_out(tmp_path, capsys):
    """A run refused for the memory it would need (one line, exit 2) left ``--out``'s folders,
    made by the checks of ``--out`` just before, behind, empty; they are removed again. A folder
    that was there stays."""
    out = tmp_path / "new" / "sub" / "r.h5"
    huge = ["--n-train-batches", "100000", "--batch-size", "100000"]
    for there in [[], ["new"]]:  # no folder yet; new/ there before the run
        for name in there:
            (tmp_path / name).mkdir()
        assert main([*TINY, *huge, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("snnsim.run: error: this run needs about "), err
        assert sorted(os.listdir(tmp_path)) == there
    assert os.listdir(tmp_path / "new") == []


def test_a_tensorboard_refused_makes_no_folder_of_out(tmp_path, capsys):
    """``--out new/sub/r.h5 --tensorboard FILE`` was refused (a file, not a folder) after ``--out``'s
    folders were made, and left them behind, empty; they are removed again."""
    (tmp_path / "events").write_text("")
    out = tmp_path / "new" / "sub" / "r.h5"
    assert main([*TINY, "--out", str(out), "--tensorboard", str(tmp_path / "events")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --tensorboard: {tmp_path / 'events'} is a file; give a folder"], err
    assert os.listdir(tmp_path) == ["events"]


def test_a_fallback_dir_refused_makes_no_folder_of_out(tmp_path, capsys):
    """``--out new/sub/r.h5 --fallback-dir MISSING`` was refused (not a writable folder) by the
    checks of ``--out``, after they had made its folders, and left them behind, empty; they are
    removed again."""
    out = tmp_path / "new" / "sub" / "r.h5"
    assert main([*TINY, "--out", str(out), "--fallback-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --fallback-dir: {tmp_path / 'nowhere'} is not a writable folder"], err
    assert os.listdir(tmp_path) == []


def test_a_data_file_refused_as_it_loads_makes_no_folder_of_out(tmp_path, capsys):
    """``--out new/sub/r.h5 --data notes.pkl`` (a text file, refused as the run loads it, after the
    checks of ``--out`` made its folders) left them behind, empty, as a refusal by those checks
    did; they are removed again."""
    notes = tmp_path / "notes.pkl"
    notes.write_text("hello\n")
    out = tmp_path / "new" / "sub" / "r.h5"
    assert main(["--study", "bmi", "--model", "linear", "--data", str(notes), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: --data: {notes} is a text file"), err
    assert os.listdir(tmp_path) == ["notes.pkl"]


def test_a_sweep_list_in_a_config_file_is_named_as_one(tmp_path, capsys):
    """A list copied from an experiment file's ``[sweep]`` (``readout = ["mean", "fr"]``, ``seed =
    [0, 1]``) was refused as a value of the wrong type ("expected an integer, got [0, 1]"); the line
    says that a run takes one value and where a list of them is swept. Lists that are one value
    (``dims``, ``hidden``'s layers) are read as before."""
    toml, out = tmp_path / "c.toml", tmp_path / "r.h5"
    for text, key in [('readout = ["mean", "fr"]\n', "readout"), ("seed = [0, 1]\n", "seed"),
                      ('tau = ["2ms", "20ms"]\n', "tau")]:  # fmt: skip
        toml.write_text(text)
        assert main(["--config", str(toml), *TINY, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        shown = text.split(" = ")[1].strip()
        assert err == [f"snnsim.run: error: --config: {toml}: {key}: {shown} is a list of values; a run takes one: "
                       "give one, or sweep the list in an experiment file's [sweep] (python -m snnsim.sweep)"], err  # fmt: skip
        assert not out.exists()


def test_settings_of_a_config_file_that_do_not_go_together_are_named_with_the_file(tmp_path, capsys):
    """A check across settings that fails on a key of a TOML ``--config`` file (a BMI setting in
    an IPD run, a model-space option without ``--neuron standard``) names the file and its key,
    as a bad value there is named, not a flag the user never gave, and so are the other settings
    it asks for (it said "add --neuron standard"); one given as a flag keeps its flag, and the
    flags it asks for. Nothing is written."""
    out = tmp_path / "r.h5"
    for text, key in [("rotation = 3\n", "rotation"), ('tau_syn = "5ms"\n', "tau_syn")]:
        toml = tmp_path / "c.toml"
        toml.write_text(text)
        capsys.readouterr()
        assert main(["--config", str(toml), "--quiet", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: --config: {toml}: {key}: "), err
        assert not out.exists()
    standard = "the model-space neurons step as the libraries' neurons do (spike from the updated membrane); add "
    assert err == [f'snnsim.run: error: --config: {toml}: tau_syn: {standard}neuron = "standard"'], err
    toml.write_text("rate_max_hz = 2000\n")
    assert main(["--config", str(toml), "--quiet", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"snnsim.run: error: --config: {toml}: rate_max_hz: at most one spike per step of dt=0.001 s: must be <= "
        "1000 Hz (or a smaller dt), got 2000 Hz"
    ]
    toml.write_text("epochs = 1\n")
    assert main(["--config", str(toml), "--tau-syn", "5ms", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --tau-syn: {standard}--neuron standard"], err
    assert not out.exists()


def test_bare_durations_in_a_config_file_get_a_note(tmp_path, capsys):
    """``tau = 20`` in a TOML file is 20 s, as documented: a note says so (not for "2ms", a 0 that
    turns a span off, or a duration a flag replaces)."""
    toml = tmp_path / "c.toml"
    toml.write_text('neuron = "standard"\ntau = 20\ntau_syn = 0.005\ntau_adapt = 0\ndt = "1ms"\n')
    norse = [a if a != "fused" else "norse" for a in TINY if a != "--quiet"]  # notes are quiet with --quiet
    assert main([*norse, "--config", str(toml)]) == 0
    note = f"snnsim.run: note: {toml} gives tau = 20, tau_syn = 0.005 without a unit: read as seconds"
    assert [n for n in _notes(capsys.readouterr().err) if "unit" in n] == [f'{note} (e.g. "20ms" for milliseconds)']
    assert main([*norse, "--config", str(toml), "--tau", "2ms", "--tau-syn", "5ms"]) == 0
    assert not [n for n in _notes(capsys.readouterr().err) if "unit" in n]


def test_whole_numbers_in_a_config_file_are_the_flags_numbers(tmp_path, capsys):
    """``lr = 1`` or ``weight_decay = 0`` in a TOML ``--config`` file is the run of ``--lr 1
    --weight-decay 0``: the same config in the result file, and a checkpoint of one resumed by the
    other (the file's whole numbers were recorded as integers, and the run given by flags said the
    checkpoint "holds other models" and trained from epoch 1)."""
    toml, out = tmp_path / "c.toml", tmp_path / "r.h5"
    toml.write_text("lr = 1\nweight_decay = 0\nthreshold = 1\nema = 0\ntau_syn = 0\n")
    assert main([*TINY, "--config", str(toml), "--out", str(out), "--keep-checkpoints"]) == 0
    by_file = results.load(out).attrs["config"]
    out.unlink()  # the checkpoint of the last epoch stays
    capsys.readouterr()
    flags = ["--lr", "1", "--weight-decay", "0", "--threshold", "1", "--ema", "0", "--tau-syn", "0"]
    assert main([*TINY, *flags, "--out", str(out)]) == 0
    assert "resuming from the checkpoint after epoch 1 of 1" in capsys.readouterr().err
    assert results.load(out).attrs["config"] == by_file
    recorded = json.loads(by_file)  # 1.0 and 0.0 in the file, as the flags give them (not 1 and 0)
    names = ("lr", "weight_decay", "threshold", "ema", "tau_syn")
    assert [repr(recorded[k]) for k in names] == ["1.0", "0.0", "1.0", "0.0", "0.0"]


def test_a_data_file_a_config_file_names_is_named_with_the_file(tmp_path, capsys, monkeypatch, bmi_path):
    """``data = "data.pkl"`` in a TOML ``--config`` file whose file is not there was refused as
    ``--data: no file at data.pkl``, a flag the user never gave, without saying from which folder a
    relative path is read. It names the file and its key, the folder it was read from (the current
    one, as for experiment files) and the file beside the config that was likely meant."""
    import shutil

    folder, elsewhere = tmp_path / "cfg", tmp_path / "elsewhere"
    folder.mkdir(), elsewhere.mkdir()
    shutil.copy(bmi_path, folder / "data.pkl")
    toml = folder / "c.toml"
    toml.write_text('study = "bmi"\nmodel = "linear"\ndata = "data.pkl"\n')
    monkeypatch.chdir(elsewhere)
    assert main(["--config", str(toml), "--quiet", "--out", "r.h5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --config: {toml}: data: no file at data.pkl (a relative path is read from the "
                   f"current folder, {elsewhere}, not the config file's; {folder / 'data.pkl'} is there: give its "
                   "full path)"], err  # fmt: skip
    toml.write_text(f'study = "bmi"\nmodel = "linear"\ndata = "{tmp_path / "none.pkl"}"\n')
    assert main(["--config", str(toml), "--quiet", "--out", "r.h5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --config: {toml}: data: no file at {tmp_path / 'none.pkl'}"], err
    assert main(["--config", str(toml), "--data", "data.pkl", "--quiet", "--out", "r.h5"]) == 2  # a flag: its flag
    assert capsys.readouterr().err.strip().splitlines() == ["snnsim.run: error: --data: no file at data.pkl"]
    assert os.listdir(elsewhere) == []


def test_a_data_file_a_config_file_names_that_its_run_refuses_is_named_with_the_file(tmp_path, capsys, bmi_path):
    """A data file that a TOML ``--config`` file names (``data = ...``) and that the run refuses as
    it loads it (no pickle; a target constant in its folds) was named as ``--data: ...`` or
    ``--target: ...; choose another --target, --dim, --rotation or data set``, flags the user never
    gave, without the config file. It names the file and its keys, as a missing data file is named;
    given as flags, the same refusals name the flags."""
    import pickle

    text = tmp_path / "notes.pkl"
    text.write_text("hello\n")
    data = pickle.loads(Path(bmi_path).read_bytes())
    data["dtheta"] = [np.zeros_like(fold) for fold in data["dtheta"]]
    flat = tmp_path / "flat.pkl"
    flat.write_bytes(pickle.dumps(data))
    toml = tmp_path / "c.toml"
    no_pickle = ("is a text file, not a pickle; give the course's bmi_dataset.pkl, a pickled dict of MI, theta, "
                 "dtheta, ddtheta, torque, time")  # fmt: skip
    constant = "dtheta (shoulder) is constant in the train fold(s) "
    for path, flags, line in [
        (text, [], f"--config: {toml}: data: {text} {no_pickle}"),
        (flat, [], f"--config: {toml}: target: {constant}"),
        (text, ["--data", str(text)], f"--data: {text} {no_pickle}"),
        (flat, ["--data", str(flat), "--target", "dtheta"], f"--target: {constant}"),
    ]:
        toml.write_text(f'study = "bmi"\nmodel = "linear"\ntarget = "dtheta"\ndata = "{path}"\n')
        assert main(["--config", str(toml), *flags, "--quiet", "--out", str(tmp_path / "r.h5")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: {line}"), err
        assert ("choose another target, dims, rotation or data set" in err[0]) == (path == flat and not flags), err
    assert not (tmp_path / "r.h5").exists()


def test_a_data_path_that_starts_as_a_flag_is_named_as_the_config_file_gives_it(tmp_path, capsys, monkeypatch):
    """A config file's data path that starts as a flag does (``data = "--data notes.pkl"``, a text
    file) was named mangled, as if it were the flag: ``data: data notes.pkl is a text file``. Only
    the flags of a message become keys; the file's path is named as the file gives it."""
    monkeypatch.chdir(tmp_path)
    Path("--data notes.pkl").write_text("hello\n")
    Path("c.toml").write_text('study = "bmi"\nmodel = "linear"\ndata = "--data notes.pkl"\n')
    assert main(["--config", "c.toml", "--quiet", "--out", "r.h5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.run: error: --config: c.toml: data: --data notes.pkl is a "
                                               "text file, not a pickle;"), err  # fmt: skip
    assert not Path("r.h5").exists()


def test_a_predictions_file_is_refused_as_config(tmp_path, capsys, bmi_path):
    """A predictions file (python -m snnsim.predict) carries the config of its model's run but
    not that run's data file SHA-256: taken as a run's file it would train again, on a data file
    changed since, as if it were that run. One line, exit 2, nothing written."""
    import shutil

    data, run, pred = tmp_path / "data.pkl", tmp_path / "run.h5", tmp_path / "pred.h5"
    shutil.copy(bmi_path, data)
    assert main(["--study", "bmi", "--model", "linear", "--data", str(data), "--quiet", "--out", str(run)]) == 0
    from snnsim.predict import main as predict

    assert predict([str(run), "--data", str(data), "--fold", "0", "--out", str(pred)]) == 0
    with open(data, "ab") as f:
        f.write(b"\0")  # the data file changes; the run's own file is refused for it
    capsys.readouterr()
    assert main(["--config", str(pred), "--quiet", "--out", str(tmp_path / "again.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --config: {pred} is a predictions file (python -m snnsim.predict) of the "
                   f"model in {run.resolve()}, not a run's result file; give {run.resolve()}"], err  # fmt: skip
    assert not (tmp_path / "again.h5").exists()


def test_a_result_file_runs_its_own_study_again(tmp_path, capsys):
    """``--config ipd_run.h5 --study bmi`` (or ``--task bmi``) is refused naming the file's
    study; before, the error named an IPD setting the user never gave (``--n-train-batches``)."""
    run = tmp_path / "a.h5"
    assert main([*TINY, "--out", str(run)]) == 0
    for flag in ("--study", "--task"):
        capsys.readouterr()
        assert main(["--config", str(run), flag, "bmi", "--quiet", "--out", str(tmp_path / "b.h5")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"snnsim.run: error: --study: {run} is a run of the ipd study, which --config runs again; "
                       "it cannot run as the bmi study"], err  # fmt: skip
        assert not (tmp_path / "b.h5").exists()
    assert main(["--config", str(run), "--study", "ipd", "--quiet", "--out", str(tmp_path / "c.h5")]) == 0
    _same_run(run, tmp_path / "c.h5")


def test_a_flag_that_does_not_go_with_a_result_files_settings_is_named_with_the_file(tmp_path, capsys):
    """``--config RUN.h5 --neuron notebook`` on a run with a synaptic current names the file, its
    setting and the flag given; it named ``--tau-syn``, a flag the user never gave. A flag that
    is refused on its own keeps its flag. Nothing is written."""
    run, out = tmp_path / "a.h5", tmp_path / "b.h5"
    norse = [a if a != "fused" else "norse" for a in TINY]
    assert main([*norse, "--neuron", "standard", "--tau-syn", "5ms", "--out", str(run)]) == 0
    for flags, why in [
        (["--neuron", "notebook"], "the model-space neurons step as the libraries' neurons do"),
        (["--backend", "fused", "--seed", "3"], "runs on --backend snntorch or norse only"),
    ]:
        capsys.readouterr()
        assert main(["--config", str(run), *flags, "--quiet", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(
            f"snnsim.run: error: --config: {run} is a run with tau_syn = 5ms, which does not go with "
            f"{' '.join(flags[:2])}: {why}"
        ), err
        assert not out.exists()
    assert main(["--config", str(run), "--tau-syn", "5ms", "--backend", "fused", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.run: error: --tau-syn: runs on --backend snntorch"), err
    assert not out.exists()


def test_an_empty_or_cut_result_file_is_refused_as_config(tmp_path, capsys):
    """A result file (.h5) cut to nothing, or to fewer bytes than HDF5's signature, is no TOML
    file of no settings: one line, exit 2, and nothing trained or written (an empty one ran the
    defaults before)."""
    run = tmp_path / "a.h5"
    assert main([*TINY, "--out", str(run)]) == 0
    empty, cut = tmp_path / "empty.h5", tmp_path / "cut.h5"
    empty.write_bytes(b"")
    cut.write_bytes(run.read_bytes()[:4])
    for path in (empty, cut):
        capsys.readouterr()
        assert main([*TINY, "--config", str(path), "--out", str(tmp_path / "b.h5")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        why = "an empty file, not a result file (HDF5)" if path == empty else "not a readable result file"
        assert err[0].startswith(f"snnsim.run: error: --config: {path} is {why}") and len(err) == 1, err
        assert not (tmp_path / "b.h5").exists()


def test_a_relative_data_path_is_named_as_one_from_another_folder(tmp_path, capsys, monkeypatch, bmi_path):
    """A run given ``--data data.pkl`` records that relative path. From another folder, another
    data.pkl is not the run's file "changed since" (nor to be run on with --data data.pkl), and a
    missing one is not a --data flag the user gave: the message says the path is relative."""
    import pickle
    import shutil

    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir(), other.mkdir()
    shutil.copy(bmi_path, first / "data.pkl")
    data = pickle.loads((first / "data.pkl").read_bytes())
    (other / "data.pkl").write_bytes(pickle.dumps({**data, "theta": data["theta"][::-1]}))  # another data set
    monkeypatch.chdir(first)
    assert main(["--study", "bmi", "--model", "linear", "--data", "data.pkl", "--quiet", "--out", "run.h5"]) == 0
    made = results.load("run.h5").attrs["data_file_sha256"]
    run = first / "run.h5"
    for folder, found in [(other, "with SHA-256 "), (tmp_path, "which does not exist: ")]:
        monkeypatch.chdir(folder)
        capsys.readouterr()
        assert main(["--config", str(run), "--quiet", "--out", "again.h5"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"snnsim.run: error: --config: {run} was made from data.pkl with "
                                                   f"SHA-256 {made[:12]}..., a path relative to the folder that run "
                                                   f"started in; from this folder it is {folder / 'data.pkl'}, "
                                                   f"{found}"), err  # fmt: skip
        assert "changed since" not in err[0] and not (folder / "again.h5").exists()
    monkeypatch.chdir(other)  # --data names the file to run on
    assert main(["--config", str(run), "--data", str(first / "data.pkl"), "--quiet", "--out", "again.h5"]) == 0
    a, b = results.load(run), results.load(other / "again.h5")
    for name in sorted(set(a.data_vars) - {"train_seconds"}):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_a_result_file_of_other_numerics_gets_a_note(tmp_path, capsys, monkeypatch):
    """A file made by an snnsim of another numerics version reruns, with a note that its numbers
    will not be the file's."""
    first = tmp_path / "a.h5"
    monkeypatch.setattr(results, "NUMERICS_VERSION", results.NUMERICS_VERSION - 1)  # an older snnsim wrote it
    assert main([*TINY, "--out", str(first)]) == 0
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["--config", str(first)]) == 0
    old, now = results.NUMERICS_VERSION - 1, results.NUMERICS_VERSION
    assert [n for n in _notes(capsys.readouterr().err) if "numerics" in n] == [
        f"snnsim.run: note: {first} was made by an snnsim of numerics version {old}, this one has {now}: "
        "its run gives other numbers here (in the last bits, or more)"
    ]
    again = tmp_path / "b.h5"
    assert main(["--config", str(first), "--out", str(again)]) == 0
    capsys.readouterr()
    assert main(["--config", str(again)]) == 0  # made by this snnsim
    assert not [n for n in _notes(capsys.readouterr().err) if "numerics" in n]


def test_a_result_file_computed_otherwise_gets_a_note(tmp_path, capsys, monkeypatch):
    """A file whose numbers came from the torch loops (``SNNSIM_NO_NATIVE=1``, set at start-up:
    its own process) or another torch reruns here with other numbers (w1 about 1e-7 apart after
    one epoch); a note names what differs, as for another numerics version. Before, nothing did."""
    if _native.library() is None:  # this process runs the torch loops too: no difference
        pytest.skip("no C compiler: compiled kernels unavailable")
    first = tmp_path / "a.h5"
    env = {**os.environ, "SNNSIM_NO_NATIVE": "1"}
    proc = subprocess.run([sys.executable, "-m", "snnsim.run", *TINY, "--out", str(first)], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    monkeypatch.delenv("SNNSIM_NO_NATIVE", raising=False)
    again = tmp_path / "b.h5"
    assert main(["--config", str(first), "--out", str(again)]) == 0
    notes = [n for n in _notes(capsys.readouterr().err) if "computed" in n]
    assert notes == [
        f"snnsim.run: note: {first} was computed with the kernels' torch loops (SNNSIM_NO_NATIVE=1) "
        "(here compiled): its run gives other numbers here (in the last bits, or more)"
    ]
    assert not np.array_equal(results.load(first)["w1"].values, results.load(again)["w1"].values)
    assert main(["--config", str(again), "--quiet"]) == 0  # --quiet: no notes
    assert capsys.readouterr().err == ""
    versions = {**results.library_versions(), "torch": "1.0.0"}
    monkeypatch.setattr(results, "library_versions", lambda: versions)  # a file of an older torch
    other = tmp_path / "c.h5"
    assert main(["--config", str(again), "--quiet", "--out", str(other)]) == 0
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["--config", str(other)]) == 0
    assert [n for n in _notes(capsys.readouterr().err) if "computed" in n] == [
        f"snnsim.run: note: {other} was computed with torch 1.0.0 (here {results.library_versions()['torch']}): "
        "its run gives other numbers here (in the last bits, or more)"
    ]
    assert main(["--config", str(again)]) == 0  # made here: no note
    assert not [n for n in _notes(capsys.readouterr().err) if "computed" in n]


def test_a_result_file_made_on_a_gpu_gets_a_note_on_the_cpu(tmp_path, capsys):
    """A run of ``--device auto`` on a GPU node records ``device`` cuda:0, its ``gpu`` and the CUDA
    kernels; its file run again on a CPU node (auto: the CPU) draws other stimuli (CUDA's
    generators) and rounds otherwise, so other numbers. Where the node's CPU is of the file's kind
    (its ``cpu`` attribute is this one's), nothing said so: the note named only the CPU, libraries,
    variables and the CPU kernels' loops, and a GPU's "cuda (...)" kernels were not counted."""
    first = tmp_path / "a.h5"
    assert main([*TINY, "--device", "auto", "--out", str(first)]) == 0
    ds = results.load(first)  # this CPU's file, as a GPU node with this kind of CPU would have made it
    ds.attrs.update(device="cuda:0", gpu="NVIDIA H200 (compute capability 9.0)",
                    kernels="cuda (Triton LIF kernels, torch ops)")  # fmt: skip
    gpu = tmp_path / "gpu.h5"
    results.write(ds, gpu)
    capsys.readouterr()
    assert main(["--config", str(gpu), "--out", str(tmp_path / "again.h5")]) == 0
    assert [n for n in _notes(capsys.readouterr().err) if "computed" in n] == [
        f"snnsim.run: note: {gpu} was computed with the GPU NVIDIA H200 (compute capability 9.0) (here the CPU): "
        "its run gives other numbers here (in the last bits, or more)"
    ]
    assert main(["--config", str(first), "--out", str(tmp_path / "again2.h5")]) == 0  # made on this CPU: no note
    assert not [n for n in _notes(capsys.readouterr().err) if "computed" in n]
    assert not [w for w in results.computed_otherwise(results.load(gpu).attrs, "cuda") if "GPU" in w]  # on a GPU


def test_a_result_file_made_on_the_cpu_gets_a_note_on_a_gpu(tmp_path):
    """The other way round: a file of ``--device auto`` made on a CPU node, run again on a GPU node
    (auto, or ``--device cuda``: CUDA's generators draw other stimuli), got no note: a GPU was named
    only where the run is on the CPU. The note of a run on the GPU is asked of ``rerun_note`` here,
    which reads only the config's device (this machine may have no GPU to train on)."""
    from snnsim.run import build_parser, config_from_args, rerun_note

    first = tmp_path / "a.h5"
    assert main([*TINY, "--device", "auto", "--out", str(first)]) == 0
    ns = build_parser().parse_args(["--config", str(first), "--device", "cuda", "--out", str(tmp_path / "b.h5")])
    assert rerun_note(ns, config_from_args(ns)) == (
        f"snnsim.run: note: {first} was computed with the CPU (here a GPU): its run gives other numbers here (in "
        "the last bits, or more)"
    )
    ns = build_parser().parse_args(["--config", str(first), "--device", "cpu", "--out", str(tmp_path / "b.h5")])
    assert rerun_note(ns, config_from_args(ns)) is None  # on the CPU, as it was made


def test_a_result_file_whose_first_epochs_were_computed_otherwise_gets_a_note(tmp_path, capsys):
    """A run stopped after epoch 1 of the torch loops (``SNNSIM_NO_NATIVE=1``) and resumed with the
    compiled kernels names that first part in ``mixed_hardware`` (its file's ``kernels``: the
    resumed process's, compiled). Run again here, all compiled, its numbers differ (w1 after
    4 epochs, measured); the note had compared the file's last process only: nothing was said."""
    if _native.library() is None:  # this process runs the torch loops too: no difference
        pytest.skip("no C compiler: compiled kernels unavailable")
    first = tmp_path / "a.h5"
    assert main([*TINY, "--out", str(first)]) == 0
    ds = results.load(first)  # as the resumed run writes it: the earlier process's part, named
    part = {"repeats": "0", "epochs": "1-1", "cpu": ds.attrs["cpu"], "numerics_env": '{"SNNSIM_NO_NATIVE": "1"}',
            "kernels": "torch loops (SNNSIM_NO_NATIVE=1)"}  # fmt: skip
    ds.attrs.update(mixed_hardware=json.dumps([part]), resumed_from_epoch=1)
    mixed = tmp_path / "mixed.h5"
    results.write(ds, mixed)
    capsys.readouterr()
    assert main(["--config", str(mixed), "--out", str(tmp_path / "again.h5")]) == 0
    assert [n for n in _notes(capsys.readouterr().err) if "computed" in n] == [
        f"snnsim.run: note: {mixed} was computed with the kernels' torch loops (SNNSIM_NO_NATIVE=1) (here compiled) "
        "in epoch 1 of repeat(s) 0: its run gives other numbers here (in the last bits, or more)"
    ]


def test_notes_name_a_config_files_settings_as_its_keys(tmp_path, capsys):
    """A setting without effect that a TOML --config file gave is named as its key in that file,
    not as a flag its user never typed (ridge reads neither patience nor hidden), and so are the
    settings it is read with (the file's decoder was named "--model linear", and its missing
    validation data "no --n-val-batches"); a flag given too is named as the flag."""
    path = tmp_path / "q.toml"
    path.write_text('patience = 3\nstudy = "bmi"\nmodel = "linear"\nn_train_folds = 2\nhidden = 50\n')
    assert main(["--config", str(path)]) == 0
    notes = [n for n in _notes(capsys.readouterr().err) if "no effect" in n]
    assert notes == [f'snnsim.run: note: model = "linear" (ridge regression, fitted in closed form) does not read '
                     f"patience, hidden in {path}; they have no effect"]  # fmt: skip
    assert main(["--config", str(path), "--model", "linear"]) == 0
    notes = [n for n in _notes(capsys.readouterr().err) if "no effect" in n]
    assert notes == [f"snnsim.run: note: --model linear (ridge regression, fitted in closed form) does not read "
                     f"patience, hidden in {path}; they have no effect"]  # fmt: skip
    path.write_text("patience = 3\nepochs = 1\nn_train_batches = 2\nn_test_batches = 1\nhidden = 8\n")
    assert main(["--config", str(path)]) == 0
    assert [n for n in _notes(capsys.readouterr().err) if "no effect" in n] == [
        f"snnsim.run: note: patience in {path} (no n_val_batches: early stopping needs validation data) has no effect"
    ]
    assert main(["--config", str(path), "--patience", "4"]) == 0
    assert [n for n in _notes(capsys.readouterr().err) if "no effect" in n] == [
        "snnsim.run: note: --patience (no --n-val-batches: early stopping needs validation data) has no effect"
    ]


def test_a_rerun_notes_only_the_settings_its_user_names(tmp_path, capsys):
    """The unread-setting note of a ridge run names the flags given; run again from its file, the
    run names none (the file's settings were not typed), and names a flag given then."""
    first = tmp_path / "a.h5"
    # 2 training folds (read by ridge: no note), recorded in the file as every setting
    assert (
        main(["--study", "bmi", "--model", "linear", "--n-train-folds", "2", "--hidden", "50", "--out", str(first)])
        == 0
    )
    unread = "snnsim.run: note: --model linear (ridge regression, fitted in closed form) does not read"
    assert [n for n in _notes(capsys.readouterr().err) if n.startswith(unread)] == [
        f"{unread} --hidden; it has no effect"
    ]
    assert main(["--config", str(first)]) == 0
    assert not [n for n in _notes(capsys.readouterr().err) if n.startswith(unread)]
    assert main(["--config", str(first), "--tau", "5ms"]) == 0
    assert [n for n in _notes(capsys.readouterr().err) if n.startswith(unread)] == [f"{unread} --tau; it has no effect"]


def test_the_progress_bar_in_a_log_file_is_not_one_line_per_batch(tmp_path):
    """stderr redirected to a file (a job's log): the bar updated ten times a second, a
    carriage-return line of ~100 bytes per mini-batch (651 updates, 66 kB for a default IPD
    run). In a log it updates once a minute and at the end of each epoch (its loss); it is still
    shown."""
    log = tmp_path / "run.err"
    args = ["--backend", "fused", "--epochs", "3", "--n-train-batches", "100", "--n-test-batches", "1",
            "--batch-size", "8", "--hidden", "8", "--out", str(tmp_path / "r.h5")]  # fmt: skip
    with open(log, "w") as err:
        proc = subprocess.run([sys.executable, "-m", "snnsim.run", *args], stdout=subprocess.PIPE, stderr=err,
                              text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0
    updates = log.read_text().replace("\r", "\n").count("batch/s")
    # the start, each of the 3 epochs, and one a minute on a slow machine (per batch: 22 updates)
    assert 1 <= updates <= 1 + 3 + 4, log.read_text()
    assert proc.stdout.splitlines()[-1] == f"result file: {tmp_path / 'r.h5'}"


def test_a_stop_during_training_is_a_line_of_its_own_after_the_progress_bar(tmp_path):
    """Ctrl-C while the bar is shown: the stop's line was written right after the bar's text
    ("... 0/1200 [00:00<?, ?batch/s]snnsim.run: stopped by SIGINT; ..."), one line glued to the
    bar, since the bar was not closed on the way out. A real SIGINT, sent once the bar is shown."""
    import signal

    args = ["--backend", "fused", "--epochs", "4", "--n-train-batches", "300", "--n-test-batches", "1",
            "--batch-size", "16", "--hidden", "8", "--out", str(tmp_path / "r.h5")]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "snnsim.run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    err = b""
    while b"batch/s]" not in err:  # the bar's first line: the training has started
        chunk = proc.stderr.read1(4096)
        assert chunk, err.decode()
        err += chunk
    os.kill(proc.pid, signal.SIGINT)
    err += proc.stderr.read()
    assert proc.wait(timeout=300) == 130
    pieces = [p.strip() for p in err.decode().replace("\r", "\n").splitlines() if p.strip()]
    assert pieces[-1].startswith("snnsim.run: stopped by SIGINT; no result written"), pieces[-2:]
    assert "Traceback" not in err.decode() and not (tmp_path / "r.h5").exists()


def test_a_result_file_of_a_gpu_run_is_refused_on_the_cpu_with_its_file_named(tmp_path, capsys):
    """``run --config RUN.h5`` of a run made with ``--device cuda``, on a machine without CUDA, was
    refused as ``--device: cuda requested ...``, a flag the user never gave, after a note that the
    file "was computed with the CPU (here a GPU)", of a run that does not run. It names the file's
    run and the flag that runs it otherwise, in one line; a flag keeps its flag."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    first = tmp_path / "a.h5"
    assert main([*TINY, "--out", str(first)]) == 0
    ds = results.load(first)  # as a run of --device cuda writes its config
    ds.attrs["config"] = json.dumps({**json.loads(ds.attrs["config"]), "device": "cuda"})
    gpu = tmp_path / "gpu.h5"
    results.write(ds, gpu)
    capsys.readouterr()
    out = tmp_path / "again.h5"
    assert main(["--config", str(gpu), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"snnsim.run: error: --config: {gpu} is a run with device = cuda: cuda requested but no CUDA "
                   "device is available; accepted here: cpu, auto (give --device to run it otherwise)"], err  # fmt: skip
    assert main(["--config", str(gpu), "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.run: error: --device: cuda requested"), err
    assert not out.exists()
    assert main(["--config", str(gpu), "--device", "cpu", "--out", str(out), "--quiet"]) == 0


def test_a_cuda_run_refused_on_the_cpu_says_no_recipe_note_first(tmp_path, capsys):
    """``--study bmi --device cuda`` on a machine without CUDA printed the BMI recipe's note of the
    defaults it would run with, then the refusal: two lines for a run that does not run. The
    refusal is the one line."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    out = tmp_path / "r.h5"
    assert main(["--study", "bmi", "--device", "cuda", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnsim.run: error: --device: cuda requested"), err
    assert not out.exists()


def test_a_firing_network_that_predicts_one_class_is_not_sent_to_the_threshold():
    """A one-layer network whose hidden neurons fire (186 Hz after one mini-batch of training) but
    whose output gives one class was told "as when no hidden spike reaches the output (fewer layers,
    a lower --threshold or another --init ...)": its spikes reach the output, and a lower threshold
    only makes more. It is pointed to the training; a silent or deeper network keeps that hint."""
    import json

    import numpy as np
    import xarray as xr

    from snnsim.config import RunConfig
    from snnsim.runner import unresponsive_note

    def result(hz: float, cfg: RunConfig) -> xr.Dataset:
        confusion = np.zeros((1, 12, 12))
        confusion[0, :, 3] = 5  # every test sample in class 3
        return xr.Dataset(
            {"confusion": (("repeat", "true_class", "pred_class"), confusion), "hidden_rate_hz": ("repeat", [hz])},
            attrs={"config": cfg.to_json()},
        )

    firing = unresponsive_note(result(186.76, RunConfig()))
    assert firing == (
        "warning: repeat 0 of 1 predicts one class for every test sample (hidden Hz: 186.76): the hidden neurons "
        "fire, but the output does not yet tell the inputs apart, as after a short training (more --epochs or "
        "--n-train-batches, or another --lr, may change that)"
    )
    for hz, cfg in ((0.0, RunConfig()), (186.76, RunConfig(hidden=(8, 8), neuron="standard"))):
        assert "a lower --threshold" in unresponsive_note(result(hz, cfg)), (hz, json.loads(cfg.to_json())["hidden"])


def test_a_network_that_went_silent_in_training_is_pointed_to_the_lr():
    """``--lr 1e6`` (one mini-batch): the hidden neurons fired in the first epoch of training (222 Hz)
    and not at test (0 Hz); the warning sent the user to --threshold and --init, not to the learning
    rate. A network silent from the start keeps that hint."""
    import numpy as np
    import xarray as xr

    from snnsim.config import RunConfig
    from snnsim.runner import unresponsive_note

    def result(first_epoch_hz: float) -> xr.Dataset:
        confusion = np.zeros((1, 12, 12))
        confusion[0, :, 3] = 5  # every test sample in class 3
        return xr.Dataset(
            {"confusion": (("repeat", "true_class", "pred_class"), confusion), "hidden_rate_hz": ("repeat", [0.0]),
             "hidden_rate_curve": (("repeat", "epoch"), [[first_epoch_hz]])},
            attrs={"config": RunConfig(lr=1e6).to_json()},
        )  # fmt: skip

    assert unresponsive_note(result(222.34)) == (
        "warning: repeat 0 of 1 predicts one class for every test sample (hidden Hz: 0.00): the hidden neurons "
        "fired in the first epoch of training (222.34 Hz) and went silent in training (a smaller --lr may change "
        "that)"
    )
    assert "a lower --threshold" in unresponsive_note(result(0.0))


def test_a_shipped_config_named_from_another_folder_is_pointed_to(tmp_path, capsys, monkeypatch):
    """The README's ``--config experiments/ipd_best.toml``, given from another folder than snnsim's
    (or as ``--config ipd_best.toml``, as the sweep and tune commands take a NAME), was refused as
    "no file experiments/ipd_best.toml" alone; the line names the shipped file to give."""
    shipped = Path(__file__).resolve().parents[1] / "experiments" / "ipd_best.toml"
    monkeypatch.chdir(tmp_path)
    for given in ("experiments/ipd_best.toml", "ipd_best.toml", "ipd_best"):
        assert main(["--config", given, "--quiet"]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            f"snnsim.run: error: --config: no file {given} ({shipped} is snnsim's: give its full path)"
        ]
    assert main(["--config", "none.toml", "--quiet"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["snnsim.run: error: --config: no file none.toml"]
    assert os.listdir(tmp_path) == []
