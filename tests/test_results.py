import json
import os
import warnings

import h5py
import numpy as np
import pytest
import xarray as xr
from small_disk import fill, mounted_tmpfs

from snnsim import results
from snnsim.config import RunConfig
from snnsim.errors import ResultError


def _dataset():
    ds = xr.Dataset({"test_acc": ("repeat", np.array([50.0, 60.0]))}, coords={"repeat": [0, 1]})
    ds.attrs.update(results.provenance_attrs(RunConfig(readout="fr"), "cpu"))
    return ds


def _installed_versions() -> dict[str, str]:
    """The versions of the libraries as they say them themselves (torch without the local part of
    its build, ``+cpu``), not as snnsim reads them from the installed packages' metadata."""
    import platform

    import h5netcdf
    import snntorch
    import torch

    import snnsim
    from snnsim.backends import make_backend

    make_backend("norse")  # imports Norse without its deprecation warning
    import norse

    modules = {"snntorch": snntorch, "norse": norse, "numpy": np, "xarray": xr, "h5py": h5py, "h5netcdf": h5netcdf}
    return {"python": platform.python_version(), "snnsim": snnsim.__version__,
            "torch": torch.__version__.split("+")[0], **{name: m.__version__ for name, m in modules.items()}}  # fmt: skip


def test_write_then_load_round_trip(tmp_path):
    path = results.write(_dataset(), tmp_path / "run.h5")
    ds = results.load(path)
    np.testing.assert_array_equal(ds.test_acc.values, [50.0, 60.0])
    assert results.config_of(ds) == RunConfig(readout="fr")
    versions = json.loads(ds.attrs["versions"])
    versions["torch"] = versions["torch"].split("+")[0]  # a CPU wheel's metadata says 2.x.y+cpu, this one's not
    assert versions == _installed_versions()
    with xr.open_dataset(path, engine="h5netcdf") as plain:
        assert plain.attrs["complete"] == 1
    assert results.load(tmp_path / "run").test_acc.size == 2  # results/NAME -> results/NAME.h5
    assert os.listdir(tmp_path) == ["run.h5"]  # no temporary file left


def test_the_file_carries_the_seed_and_every_setting_as_an_attribute(tmp_path):
    """Beside the config's JSON, the seed and each setting (lists as JSON, booleans as 0/1) are
    attributes of their own, read back from the file as written."""
    cfg = RunConfig(study="bmi", seed=7, dims=(0, 1), batch_repeats=False, lr=0.003)
    ds = xr.Dataset({"test_acc": ("repeat", np.array([50.0]))}, coords={"repeat": [0]})
    ds.attrs.update(results.provenance_attrs(cfg, "cpu"))
    attrs = results.load(results.write(ds, tmp_path / "run.h5")).attrs
    assert attrs["seed"] == 7 and results.config_of(results.load(tmp_path / "run.h5")) == cfg
    for key, value in cfg.to_dict().items():
        if value is None:  # no value to store (the standard synthetic data set)
            assert f"config_{key}" not in attrs, key
        elif isinstance(value, list):
            assert json.loads(attrs[f"config_{key}"]) == value, key
        else:
            assert attrs[f"config_{key}"] == value and type(attrs[f"config_{key}"]) is not bool, key


def test_file_names_the_kind_of_cpu_that_made_its_numbers(tmp_path):
    """torch's vector kernels round otherwise on another kind of CPU, or with a capability
    lowered by $ATEN_CPU_CAPABILITY: the file says which made its numbers."""
    import subprocess
    import sys

    import torch

    path = results.write(_dataset(), tmp_path / "run.h5")
    cpu = results.load(path).attrs["cpu"]
    assert cpu.startswith(f"{torch.backends.cpu.get_cpu_capability()} ") and " family " in cpu
    assert "gpu" not in results.load(path).attrs  # a CPU run
    code = "from snnsim import results; print(results.hardware('cpu')['cpu'])"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default"}
    lowered = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert lowered.stdout.strip() == "DEFAULT " + cpu.split(" ", 1)[1]


def test_file_names_the_environment_variables_that_change_numbers(tmp_path, monkeypatch):
    """MKL_CBWR=COMPATIBLE (MKL's other code path) gave a small BMI recipe run another w1 and validation
    FVAF: the file names such variables where set, and no other."""
    for name in results.NUMERICS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # changes no number: not named
    assert json.loads(results.load(results.write(_dataset(), tmp_path / "plain.h5")).attrs["numerics_env"]) == {}
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    monkeypatch.setenv("SNNSIM_CFLAGS", "-DSNNSIM_KEEP_SUBNORMALS")
    ds = results.load(results.write(_dataset(), tmp_path / "cbwr.h5"))
    assert json.loads(ds.attrs["numerics_env"]) == {
        "MKL_CBWR": "COMPATIBLE",
        "SNNSIM_CFLAGS": "-DSNNSIM_KEEP_SUBNORMALS",
    }


def test_file_names_the_switch_that_turns_the_compiled_kernels_off(tmp_path, monkeypatch):
    """SNNSIM_NO_NATIVE=1 runs the fused backend's torch loops, which round otherwise (a small fused
    IPD run's final loss 2.6650283 with the kernels, 2.6650281 without): the file says so."""
    for name in results.NUMERICS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SNNSIM_NO_NATIVE", "1")
    ds = results.load(results.write(_dataset(), tmp_path / "torch_loops.h5"))
    assert json.loads(ds.attrs["numerics_env"]) == {"SNNSIM_NO_NATIVE": "1"}


def test_file_does_not_name_the_switch_where_it_leaves_the_kernels_on(tmp_path, monkeypatch):
    """``SNNSIM_NO_NATIVE=0`` keeps the compiled kernels (snnsim.backends._native), the numbers of an
    unset switch: the file named it among the variables that change numbers, so two files of
    the same numbers differed in ``numerics_env`` (and a run resumed without it was a mix)."""
    for name in results.NUMERICS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SNNSIM_NO_NATIVE", "0")
    ds = results.load(results.write(_dataset(), tmp_path / "kernels_on.h5"))
    assert json.loads(ds.attrs["numerics_env"]) == {}


def test_a_switch_of_the_kernels_is_no_mix_in_a_run_that_used_none():
    """A part of a resumed run trained with other hardware or numerics is named (``mixed_hardware``);
    ``SNNSIM_NO_NATIVE``/``SNNSIM_CFLAGS`` change only the compiled kernels' numbers, so between
    parts of an ANN or ridge run (``kernels = none``) they are no mix, while MKL's code path and
    another CPU still are; a spiking run on the kernels then on torch's loops is one."""
    cpu, off = "AVX2 GenuineIntel", json.dumps({"SNNSIM_NO_NATIVE": "1"})
    attrs = {"cpu": cpu, "numerics_env": "{}", "kernels": "none"}

    def mix(first: dict, last: dict = attrs) -> list:
        return results.mixed_hardware(last, [([0], ({**attrs, **first, "epochs": (1, 2)},))])

    assert mix({"numerics_env": off}) == []
    assert mix({"numerics_env": json.dumps({"SNNSIM_CFLAGS": "-O2"})}) == []
    assert mix({"numerics_env": json.dumps({"MKL_CBWR": "COMPATIBLE"})})[0]["epochs"] == "1-2"
    assert mix({"numerics_env": off, "cpu": "AVX512 GenuineIntel"})[0]["cpu"] == "AVX512 GenuineIntel"
    spiking = {**attrs, "kernels": "compiled (OpenMP)"}
    assert mix({"numerics_env": off, "kernels": "torch loops (SNNSIM_NO_NATIVE)"}, spiking)[0]["repeats"] == "0"
    assert mix({"kernels": "compiled (one thread)"}, spiking) == []


def _kernels_of_a_run(folder, name, **env):
    """The ``kernels`` attribute, ``numerics_env`` and stderr of a tiny fused IPD run in a new
    process (its own choice of kernels) with ``env`` added."""
    import subprocess
    import sys

    tiny = ["--epochs", "1", "--n-train-batches", "2", "--n-test-batches", "1", "--batch-size", "8", "--hidden", "8",
            "--backend", "fused", "--quiet"]  # fmt: skip
    out = folder / f"{name}.h5"
    proc = subprocess.run([sys.executable, "-m", "snnsim.run", *tiny, "--out", str(out)], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    attrs = results.load(out).attrs
    return attrs["kernels"], json.loads(attrs["numerics_env"]), proc.stderr


def test_file_says_which_kernels_computed_it(tmp_path):
    """The compiled kernels and the fused backend's torch loops round otherwise (w1 2.7e-7 apart
    after one epoch of a tiny run), and a cache folder on a full disk gives the torch loops with
    nothing in ``numerics_env`` to tell: the file says which loops made its numbers."""

    clean = {name: "" for name in results.NUMERICS_ENV}
    compiled, env, _ = _kernels_of_a_run(tmp_path, "compiled", **clean)
    assert compiled in ("compiled (OpenMP)", "compiled (one thread)") and env == {}
    switched, env, _ = _kernels_of_a_run(tmp_path, "switched", **{**clean, "SNNSIM_NO_NATIVE": "1"})
    assert switched == "torch loops (SNNSIM_NO_NATIVE=1)" and env == {"SNNSIM_NO_NATIVE": "1"}

    with mounted_tmpfs(tmp_path / "full") as full:  # root: a real disk
        fill(full)  # every block taken
        loops, env, err = _kernels_of_a_run(tmp_path, "full", **clean, SNNSIM_CACHE=str(full / "cache"))
    assert "compiled CPU kernels unavailable" in err
    assert loops == "torch loops ([Errno 28] No space left on device)" and env == {}


def test_file_of_a_run_without_kernels_says_none_and_builds_none(tmp_path, bmi_path):
    """A BMI linear decoder asks for no compiled kernel: its file says ``none``, and writing it
    builds none (an empty cache stays without a library). (On the small data set, two training
    folds: what the decoder asks for does not depend on the data's size.)"""
    import subprocess
    import sys

    cache, out = tmp_path / "cache", tmp_path / "linear.h5"
    argv = [sys.executable, "-m", "snnsim.run", "--study", "bmi", "--model", "linear", "--data", bmi_path,
            "--n-train-folds", "2", "--quiet", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "SNNSIM_CACHE": str(cache), "SNNSIM_NO_NATIVE": ""}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert results.load(out).attrs["kernels"] == "none"
    assert list(cache.glob("lif_kernels_*")) == []


def test_file_sha256_of_a_result_file_is_hashlibs_of_its_bytes_now(tmp_path):
    """The SHA-256 that ``export`` (``result_sha256``) and ``predict`` (``model_sha256``) record of
    the result file they read: hashlib's of its bytes, and of its new bytes once it is rewritten
    (the same size or another; a digest kept by path alone had passed the first check)."""
    import hashlib

    path = results.write(_dataset(), tmp_path / "run.h5")
    assert results.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert results.file_sha256(tmp_path / "run.h5") == results.file_sha256(str(path))
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1  # the same size, other bytes
    stamp = path.stat().st_mtime_ns
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))
    assert results.file_sha256(path) == hashlib.sha256(bytes(raw)).hexdigest()
    path.write_bytes(bytes(raw) + b"\0")  # another size, the mtime kept
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))
    assert results.file_sha256(path) == hashlib.sha256(bytes(raw) + b"\0").hexdigest()


def test_data_changed_is_the_one_refusal_of_a_data_file_changed_since(tmp_path):
    """``run --config RUN.h5``, ``tune``, a sweep's stale job and the analysis scripts refuse a data
    file changed since with :func:`results.data_changed`: the file, both digests and each command's
    hint; nothing where it is the same, no digest was recorded, or it cannot be read to tell."""
    import hashlib

    data = tmp_path / "data.pkl"
    data.write_bytes(b"then")
    then = hashlib.sha256(b"then").hexdigest()
    assert results.data_changed(data, then, "restore it") is None
    assert results.data_changed(data, None) is None and results.data_changed(tmp_path / "gone.pkl", then) is None
    data.write_bytes(b"now!")  # the same size: the stamp tells it
    os.utime(data, ns=(data.stat().st_mtime_ns + 10**9,) * 2)
    now = hashlib.sha256(b"now!").hexdigest()
    why = f"data file {data} changed since (SHA-256 {then[:12]}... then, {now[:12]}... now)"
    assert results.data_changed(data, then) == why
    assert results.data_changed(str(data), then, "restore it") == f"{why}: restore it"


def test_provenance_is_every_attribute_of_what_trained_a_model():
    """``results.PROVENANCE``, what ``export`` and ``predict`` carry of a model's result file: each
    attribute :func:`results.hardware` gives (a GPU's name on CUDA), the versions, a resume's mixed
    hardware and the BMI data's SHA-256; a hardware attribute added without it would be lost there."""
    hardware = set(results.hardware("cpu")) | {"gpu"}
    assert hardware <= set(results.provenance_attrs(RunConfig(), "cpu")) | {"gpu"}
    extra = {"versions", "mixed_hardware", "data_file_sha256", "synthetic_data_sha256"}
    assert set(results.PROVENANCE) == hardware | extra and len(results.PROVENANCE) == len(hardware | extra)


def test_file_attrs_are_the_attributes_load_gives(tmp_path):
    """``results.file_attrs``, the quick read of a result file's attributes (job states, merges,
    ``--config RUN.h5``, tune): each one as :func:`results.load` gives it, as plain Python values."""
    ds = _dataset()
    ds.attrs.update(one=np.array([3.5]), count=np.int64(7))
    path = results.write(ds, tmp_path / "run.h5")
    attrs, loaded = results.file_attrs(path), results.load(path).attrs
    assert attrs.keys() == loaded.keys() and {"config", "seed", "versions", "data_sha256", "one"} <= attrs.keys()
    for key, value in attrs.items():
        assert type(value) in (str, int, float) and value == loaded[key], key
    assert attrs["one"] == 3.5 and attrs["count"] == 7 and attrs["seed"] == 0


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(RuntimeError):
        results.write(_dataset(), tmp_path / "run.h5")
    assert os.listdir(tmp_path) == []


def test_load_rejects_missing_damaged_and_incomplete(tmp_path):
    with pytest.raises(ResultError, match="no result file"):
        results.load(tmp_path / "nope.h5")
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n not hdf5")
    with pytest.raises(ResultError, match="not a readable result file"):
        results.load(tmp_path / "bad.h5")
    ds = _dataset()
    del ds.attrs["numerics_version"]  # xarray's writer adds no checksum: a file from before version 3
    ds.attrs["complete"] = 0
    ds.to_netcdf(tmp_path / "partial.h5", engine="h5netcdf")
    with pytest.raises(ResultError, match="incomplete"):
        results.load(tmp_path / "partial.h5")
    xr.Dataset({"a": ("t", np.arange(3))}).to_netcdf(tmp_path / "other.h5", engine="h5netcdf")  # not snnsim's
    with pytest.raises(ResultError, match=r"other.h5 is not an snnsim result file \(an HDF5 file without snnsim's"):
        results.load(tmp_path / "other.h5")
    with h5py.File(tmp_path / "plain.h5", "w") as f:  # HDF5 without netCDF dims: no warning, one error
        f["x"] = np.arange(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ResultError, match="plain.h5 is not an snnsim result file"):
            results.load(tmp_path / "plain.h5")
    for folder in (".", "/", ""):  # a path without a name (no NAME.h5 beside it to try)
        with pytest.raises(ResultError, match="is a folder, not a result file"):
            results.load(folder)


def test_a_result_file_cut_short_is_named_so_with_its_bytes(tmp_path):
    """A result file cut short (a copy or download that stopped) was "not a readable result file:
    unreadable (OSError)" to every command that reads one, though h5py names the cut. It says the
    file is cut short, with the bytes it holds and those its header names."""
    whole = results.write(_dataset(), tmp_path / "r.h5").read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole[: len(whole) // 2])
    expected = f"{cut} is not a readable result file: cut short ({len(whole) // 2:,} of its {len(whole):,} bytes; "
    with pytest.raises(ResultError) as refused:
        results.load(cut)
    assert str(refused.value).startswith(expected), refused.value


def test_a_complete_mark_of_true_is_no_complete_mark(tmp_path):
    """``complete`` must be the number 1: a file whose mark is a boolean True (not what snnsim
    writes; another program's, or one edited) is incomplete, for load and for a sweep's states.
    load read it as numpy's True and took the file as complete, where a sweep's states did not."""
    ds = _dataset()
    del ds.attrs["numerics_version"]  # xarray's writer adds no checksum: a file from before version 3
    ds.to_netcdf(tmp_path / "marked.h5", engine="h5netcdf")
    with h5py.File(tmp_path / "marked.h5", "a") as f:
        f.attrs["complete"] = np.bool_(True)
    assert results.file_attrs(tmp_path / "marked.h5")["complete"] is True
    assert not results.is_complete(results.file_attrs(tmp_path / "marked.h5"))
    with pytest.raises(ResultError, match="incomplete"):
        results.load(tmp_path / "marked.h5")


def test_a_file_given_without_h5_is_that_file_not_its_namesake_with_h5(tmp_path):
    """``results/NAME`` is ``results/NAME.h5`` only where ``results/NAME`` is no file: a result file
    named ``run`` beside another ``run.h5`` is loaded itself."""
    ds = _dataset()
    results.write(ds, tmp_path / "run")
    results.write(ds.assign(test_acc=ds.test_acc + 1), tmp_path / "run.h5")
    assert results.load(tmp_path / "run").test_acc.values.tolist() == [50.0, 60.0]
    assert results.load(tmp_path / "run.h5").test_acc.values.tolist() == [51.0, 61.0]


def test_check_writable(tmp_path):
    assert results.check_writable(tmp_path / "a.h5") == tmp_path / "a.h5"
    assert results.check_writable(tmp_path / "new" / "a.h5").parent.is_dir()  # like mkdir -p
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultError, match="cannot create folder"):
        results.check_writable(tmp_path / "file" / "a.h5")
    with pytest.raises(ResultError, match="is a folder"):
        results.check_writable(tmp_path)


def test_a_file_where_the_out_folder_must_go_is_named(tmp_path):
    """``--out notes.txt/r.h5`` with notes.txt a file was refused as "cannot create folder
    notes.txt: File exists" (as if the folder were there), and one level deeper as "Not a
    directory": the line names the file in the way now."""
    (tmp_path / "notes.txt").write_text("x")
    for out in (tmp_path / "notes.txt" / "r.h5", tmp_path / "notes.txt" / "sub" / "r.h5"):
        with pytest.raises(ResultError) as info:
            results.check_writable(out)
        assert str(info.value) == (f"--out: cannot create folder {out.parent}: {tmp_path / 'notes.txt'} is a file, "
                                   "not a folder")  # fmt: skip


def test_version_in_result_files_is_the_package_version():
    """The version that marks results stale is the code's own, the same as pyproject's."""
    import re
    from pathlib import Path

    import snnsim

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.M).group(1) == snnsim.__version__
    assert results.library_versions()["snnsim"] == snnsim.__version__


def _assert_reads_as_xarray(path):
    """``results.load`` (h5py + CF decoding) gives what ``xarray.open_dataset`` gives: values,
    dtypes, coordinates, attributes and the encodings a rewrite depends on."""
    fast = results.load(path)
    with xr.open_dataset(path, engine="h5netcdf") as opened:
        plain = opened.load()
    xr.testing.assert_identical(fast, plain)
    assert list(fast.dims) == list(plain.dims)
    for name, var in plain.variables.items():
        assert fast[name].dtype == var.dtype, name
        for key in ("dtype", "_FillValue", "units"):
            assert str(fast[name].encoding.get(key)) == str(var.encoding.get(key)), (name, key)
    for key, value in plain.attrs.items():
        assert type(fast.attrs[key]) is type(value), key


def test_load_reads_what_xarray_reads(tmp_path):
    """A dataset with every kind a result file holds: float32/64, int, bool, text (as data,
    index and attribute), scalars, dimensions without coordinates, 2-D coordinates, NaN."""
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {
            "acc": (("repeat", "epoch"), rng.random((2, 3))),
            "w": (("repeat", "unit", "hidden_unit"), rng.random((2, 4, 5)).astype(np.float32)),
            "best": ("repeat", np.array([3, 1])),
            "ok": ("repeat", np.array([True, False])),
            "label": ("repeat", np.array(["left", "right"])),
            "total": ((), 2.5),
            "gap": ("epoch", np.array([1.0, np.nan, 3.0]), {"units": "s", "long_name": "a gap"}),
        },
        coords={
            "repeat": [0, 1],
            "epoch": [1, 2, 3],
            "output": ("unit", ["a", "bb", "c", "d"]),
            "grid": (("repeat", "epoch"), np.arange(6).reshape(2, 3)),
        },  # fmt: skip
    )
    ds.attrs.update(results.provenance_attrs(RunConfig(readout="fr"), "cpu"))
    ds.attrs.update({"ratio": 0.5, "list_json": json.dumps([1, 2]), "n": np.int64(7)})
    _assert_reads_as_xarray(results.write(ds, tmp_path / "kinds.h5"))


@pytest.mark.parametrize("args", [["--backend", "fused"], ["--backend", "norse", "--readout", "max"],
                                  ["--study", "bmi", "--model", "ann"]])  # fmt: skip
def test_load_reads_real_result_files_as_xarray(tmp_path, args, bmi_path):
    from snnsim import run as run_cli

    out = tmp_path / "run.h5"
    small = ["--epochs", "1", "--repeats", "2", "--quiet"]
    small += (
        ["--data", bmi_path, "--hidden", "8"] if "bmi" in args else ["--n-train-batches", "2", "--n-test-batches", "1"]
    )
    assert run_cli.main([*args, *small, "--out", str(out)]) == 0
    _assert_reads_as_xarray(out)


def test_load_finds_damage_and_falls_back_on_other_layouts(tmp_path):
    """A flipped value fails the checksum; a file with a group (not a layout the fast reader
    knows) is read by xarray's reader."""
    import h5py

    path = results.write(_dataset(), tmp_path / "run.h5")
    with h5py.File(path, "r+") as f:
        f["test_acc"][0] = 51.0
    with pytest.raises(ResultError, match="checksum mismatch"):
        results.load(path)
    other = tmp_path / "grouped.h5"
    ds = _dataset()
    del ds.attrs["numerics_version"]  # xarray's writer adds no checksum: a file from before version 3
    ds.to_netcdf(other, engine="h5netcdf")
    ds.to_netcdf(other, engine="h5netcdf", group="extra", mode="a")
    with pytest.raises(results._NotAResultLayout):
        results.read(other)
    xr.testing.assert_identical(results.load(other), ds)


@pytest.mark.parametrize("attr, value", [("units", "deg"), ("_FillValue", -1.0), ("long_name", "tesp accuracy")])
def test_a_changed_variable_attribute_fails_the_checksum(attr, value, tmp_path):
    """Units and fill values change what the numbers mean (a fill value hides them): a
    variable's attributes are covered as well as its values."""
    import h5py

    ds = _dataset()
    ds["test_acc"].attrs.update({"units": "%", "long_name": "test accuracy"})
    path = results.write(ds, tmp_path / "run.h5")
    assert results.verify(path) is None
    with h5py.File(path, "r+") as f:
        f["test_acc"].attrs[attr] = value
    assert results.verify(path) == "data damaged after writing (checksum mismatch)"
    with pytest.raises(ResultError, match="checksum mismatch"):
        results.load(path)


@pytest.mark.parametrize("attr", ["config", "config_tau", "seed", "versions", "complete"])
def test_a_changed_global_attribute_fails_the_checksum(attr, tmp_path):
    """The config, seed and versions say which run made the numbers: an edit of any of them after
    writing is damage, as an edit of the numbers is."""
    import h5py

    path = results.write(_dataset(), tmp_path / "run.h5")
    with h5py.File(path, "r+") as f:
        value = f.attrs[attr]
        if attr == "config":
            assert '"tau": 0.02,' in value
            f.attrs[attr] = value.replace('"tau": 0.02,', '"tau": 0.002,')
        else:
            f.attrs[attr] = value + " " if isinstance(value, str) else value + 1
    assert results.verify(path) == "data damaged after writing (checksum mismatch)"
    with pytest.raises(ResultError, match="checksum mismatch"):
        results.load(path)


def _rewrite_digest(path, digest):
    import h5py

    with h5py.File(path, "r+") as f:
        datasets, attrs, _ = results._contents(f)
        f.attrs["data_sha256"] = digest(datasets, attrs)


def test_a_removed_checksum_is_damage(tmp_path):
    """Every file of numerics version 3 on was written with a checksum: one without it was edited
    (its numbers can be anything); an older file without one still reads."""
    import h5py

    path = results.write(_dataset(), tmp_path / "run.h5")
    with h5py.File(path, "r+") as f:
        del f.attrs["data_sha256"]
        f["test_acc"][0] = 99.0
    assert results.verify(path) == "its checksum (data_sha256) was removed after writing"
    with pytest.raises(ResultError, match=r"run.h5 is not a readable result file: its checksum \(data_sha256\) was"):
        results.load(path)
    with h5py.File(path, "r+") as f:
        f.attrs["numerics_version"] = 3  # the first version written with a checksum
    assert results.verify(path) == "its checksum (data_sha256) was removed after writing"
    with h5py.File(path, "r+") as f:
        f.attrs["numerics_version"] = 2
    assert results.verify(path) is None
    assert results.load(path).test_acc.values.tolist() == [99.0, 60.0]


def test_files_of_the_earlier_checksum_still_verify(tmp_path):
    """A file written before the checksum covered variable attributes carries the earlier one
    (no prefix): it verifies, and damage to its arrays is still found."""
    import h5py

    path = results.write(_dataset(), tmp_path / "old.h5")
    _rewrite_digest(path, results._digest_v1)
    with h5py.File(path, "r") as f:
        assert not str(f.attrs["data_sha256"]).startswith(results.DIGEST)
    assert results.verify(path) is None
    assert results.load(path).test_acc.values.tolist() == [50.0, 60.0]
    with h5py.File(path, "r+") as f:
        f["test_acc"][0] = 51.0
    assert results.verify(path) == "data damaged after writing (checksum mismatch)"


def test_the_checksum_does_not_depend_on_how_numpy_prints(tmp_path):
    """Numbers are hashed as their type and bytes, not as numpy's repr (which numpy may change)."""
    import h5py

    path = results.write(_dataset(), tmp_path / "run.h5")
    with h5py.File(path, "r") as f:
        stored = f.attrs["data_sha256"]
        with np.printoptions(legacy="1.25"):
            assert results._digest(f) == stored
    assert str(stored).startswith(results.DIGEST)


@pytest.mark.parametrize(
    ("recorded", "read"),
    [("synthetic:", "synthetic"), ("synthetic::3", "synthetic:standard:3"), ("synthetic:weak:2", "synthetic:weak:2")],
)
def test_a_file_of_an_old_synthetic_spelling_stays_readable(recorded, read):
    # earlier snnsim ran the standard set for data "synthetic:" and "synthetic::SEED"; the config
    # refuses those spellings now, but the files they made must still read, as the set they ran
    text = json.dumps({**json.loads(RunConfig(study="bmi", model="linear").to_json()), "data": recorded})
    assert results.read_config(text).data == read
    with pytest.raises(ResultError, match="unknown synthetic generator"):  # other bad values stay refused
        results.read_config(text.replace(json.dumps(recorded), json.dumps("synthetic:nosuch")))


def test_kernels_inside_a_scope_name_only_what_asked_there(monkeypatch):
    """The runner opens a :func:`snnsim.backends._native.scope` per batched model: inside it
    ``kernels`` names what that model asked for (on the CPU and on a GPU), not what the process
    used before; data made in another scope and read from the cache count for the reader."""
    import torch

    from snnsim.backends import _native

    monkeypatch.setattr(_native, "_elsewhere", {})
    _native.computed_elsewhere(torch.device("cuda"), "Triton LIF kernels")  # an earlier run on the GPU
    _native.library()  # and on the CPU
    cpu = _native.kernels("cpu")
    assert cpu != "none" and _native.kernels("cuda") == "cuda (Triton LIF kernels)"
    with _native.scope():
        assert _native.kernels("cpu") == "none" and _native.kernels("cuda") == "none"
        with _native.scope() as made:  # a data cache's making
            _native.computed_elsewhere(torch.device("cuda"))
            _native.library()
        assert _native.kernels("cpu") == cpu and _native.kernels("cuda") == "cuda (torch ops)"
    with _native.scope():
        _native.noted(made)  # the same data, read from the cache by a later model
        assert _native.kernels("cpu") == cpu and _native.kernels("cuda") == "cuda (torch ops)"
    assert _native.kernels("cuda") == "cuda (Triton LIF kernels, torch ops)"  # the process's, outside


def _wrong_files(folder):
    """A file of each format given by mistake, and how every command names it."""
    import pickle

    import torch

    files = {"model.pt": "a torch checkpoint (a zip file)", "x.npz": "an .npz file of arrays",
             "a.npy": "an .npy file of an array", "m.pkl": "a pickle file", "d.gz": "a gzip file",
             "other.h5": "an HDF5 file", "c.toml": "a TOML file", "u16.toml": results.UTF16, "e.h5": "an empty file"}  # fmt: skip
    torch.save({"w1": torch.zeros(2)}, folder / "model.pt")
    np.savez(folder / "x.npz", X=np.zeros(2))
    np.save(folder / "a.npy", np.zeros(2))
    (folder / "m.pkl").write_bytes(pickle.dumps({"MI": 1}))
    (folder / "d.gz").write_bytes(__import__("gzip").compress(b"epochs = 1\n"))
    h5py.File(folder / "other.h5", "w").close()
    (folder / "c.toml").write_text("epochs = 1\n")
    (folder / "u16.toml").write_bytes("epochs = 1\n".encode("utf-16"))
    (folder / "e.h5").write_bytes(b"")
    return {folder / name: kind for name, kind in files.items()}


def test_file_kind_names_each_format(tmp_path):
    for path, kind in _wrong_files(tmp_path).items():
        assert results.file_kind(path) == kind, path
    (tmp_path / "r.bin").write_bytes(bytes(range(128, 256)))
    (tmp_path / "cut.zip").write_bytes(b"PK\x03\x04 a damaged zip")
    (tmp_path / "notes.txt").write_text("epochs = = 1\n")
    assert [results.file_kind(tmp_path / n) for n in ("r.bin", "cut.zip", "notes.txt", "nope")] == [
        None, None, "a text file", None]  # fmt: skip
    assert results.file_kind(tmp_path) is None  # a folder


def test_a_file_of_another_format_is_named_alike_by_every_command(tmp_path):
    """The same wrong file was named three ways by three commands, or not at all: a torch
    checkpoint was "a torch checkpoint (a zip file)" to ``run --config``, "a zip archive (an
    .npz?)" to ``run --data``, "a zip file with no arrays (a torch checkpoint?)" to ``predict
    --data`` and "not a readable result file: unreadable (OSError)" to ``predict`` and
    ``export``; an HDF5 file was "not UTF-8 text" to ``sweep``. Every command now says "FILE is
    KIND, not WHAT IT TAKES" in one line, exit 2, and writes nothing."""
    from in_process import run_here

    from snnsim import export, predict, run
    from snnsim.sweep import cli as sweep

    out = tmp_path / "out.h5"
    commands = {  # each command's refusal of a file of another format, and the formats it reads
        "run --config": (run.main, lambda f: ["--config", f, "--quiet", "--out", out], ("a TOML file", "an HDF5 file")),
        "run --data": (run.main, lambda f: ["--study", "bmi", "--data", f, "--quiet", "--out", out], ("a pickle file",)),
        "predict": (predict.main, lambda f: [f, "--stimuli", "4", "--out", out], ("an HDF5 file",)),
        "export": (export.main, lambda f: [f, "--format", "pt", "--out", tmp_path / "out.pt"], ("an HDF5 file",)),
        "sweep": (sweep.main, lambda f: ["count", f], ("a TOML file", "an empty file")),
    }  # fmt: skip
    prog = {"run --config": "run", "run --data": "run"}
    for path, kind in _wrong_files(tmp_path).items():
        for command, (main, args, reads) in commands.items():
            if kind in reads or (command == "run --config" and path.suffix == ".h5"):
                continue  # what the command reads, or a result file to it (an empty .h5 is one, cut)
            proc = run_here(main, *args(path))
            err = proc.stderr.splitlines()
            assert proc.returncode == 2 and len(err) == 1, (command, path, proc.stderr)
            assert err[0].startswith(f"snnsim.{prog.get(command, command)}: error: "), (command, err)
            said = f"{path} is {kind}, not "
            if command == "run --data" and kind == "a gzip file":  # it reads a gzip pickle: here, its content is none
                said = f"{path} is a gzip file whose content is not a readable pickle ("
            assert said in err[0], (command, err)
            assert not out.exists() and not (tmp_path / "out.pt").exists()


def test_a_file_of_random_bytes_is_named_not_an_hdf5_file(tmp_path):
    """A file of bytes of no format known (here random ones) given as the model was "not a readable
    result file: unreadable (OSError)" to ``predict``, ``export`` and ``plots``, as if a result file
    were damaged. It is named as no HDF5 file; an HDF5 file cut within its signature stays damaged."""
    from in_process import run_here

    from snnsim import export, predict

    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    assert results.file_kind(garbage) is None
    for name, main, args in (("predict", predict.main, ["--stimuli", "4", "--out", tmp_path / "p.h5"]),
                             ("export", export.main, ["--format", "pt", "--out", tmp_path / "m.pt"])):  # fmt: skip
        proc = run_here(main, garbage, *args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == f"snnsim.{name}: error: {garbage} is not an HDF5 file (a result file is)\n"
    assert not (tmp_path / "p.h5").exists() and not (tmp_path / "m.pt").exists()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(results.HDF5_SIGNATURE[:5])
    with pytest.raises(ResultError, match="cut.h5 is not a readable result file"):
        results.load(cut)


def test_a_symlink_loop_given_as_a_file_is_refused_in_one_line(tmp_path):
    """A symbolic link to itself given as ``predict --data`` or ``--out`` or ``export --out`` was a
    traceback (RuntimeError: Symlink loop, which Python 3.11's Path.resolve raises) from the
    check that an output is not one of the inputs."""
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    model = tmp_path / "model.h5"
    model.write_bytes(b"")
    assert not results.same_file(loop, model) and not results.same_file(model, loop)
    with pytest.raises(ResultError, match="loop exists"):
        results.check_writable(loop, inputs={"the model file": model})
    assert results.check_writable(tmp_path / "p.h5", inputs={"the model file": model, "the data": loop})


def test_a_file_without_read_permission_is_named_as_one(tmp_path):
    """A file that its user may not read was "not a readable result file: unreadable
    (PermissionError)" to predict, export and ``run --config``, and "not a readable pickle
    (PermissionError: ...)" to ``run --data``, as if it were damaged. Run without root's power
    to read any file (setpriv drops it), as a user would meet it."""
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root (to drop the power to read any file) and setpriv")
    locked = tmp_path / "r.h5"
    h5py.File(locked, "w").close()
    (tmp_path / "d.pkl").write_bytes(b"\x80\x04.")
    for path in (locked, tmp_path / "d.pkl"):
        path.chmod(0)
    caps = "-dac_override,-dac_read_search"
    drop = ["setpriv", "--bounding-set", caps, "--inh-caps", caps]
    out = str(tmp_path / "out.h5")
    for argv, flag in ((["predict", locked, "--stimuli", "4", "--out", out], ""),
                       (["export", locked, "--format", "pt", "--out", tmp_path / "out.pt"], ""),
                       (["run", "--config", locked, "--out", out], "--config: "),
                       (["run", "--study", "bmi", "--data", tmp_path / "d.pkl", "--out", out], "--data: ")):  # fmt: skip
        proc = subprocess.run([*drop, sys.executable, "-m", f"snnsim.{argv[0]}", *map(str, argv[1:])],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        path = tmp_path / "d.pkl" if flag == "--data: " else locked
        errors = [line for line in proc.stderr.splitlines() if ": error: " in line]  # run --study bmi: its recipe note
        assert errors == [f"snnsim.{argv[0]}: error: {flag}cannot read {path} (Permission denied)"], proc.stderr


def test_a_pipe_given_as_a_result_file_is_refused_not_waited_on(tmp_path):
    """A named pipe given as the model (``predict``, ``export``) waited for ever in HDF5's open,
    which no pipe can satisfy (it reads a file at many places); ``/dev/null`` was "unreadable
    (OSError)". Both are named for what they are at once."""
    import subprocess
    import sys

    fifo = tmp_path / "model.h5"
    os.mkfifo(fifo)
    for argv in (["predict", fifo, "--stimuli", "4", "--out", tmp_path / "p.h5"],
                 ["export", fifo, "--format", "pt", "--out", tmp_path / "e.pt"]):  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", f"snnsim.{argv[0]}", *map(str, argv[1:])], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == f"snnsim.{argv[0]}: error: {fifo} is a pipe, not a result file (HDF5)\n", proc.stderr
    with pytest.raises(ResultError, match="^/dev/null is a device, not a result file"):
        results.load("/dev/null")
