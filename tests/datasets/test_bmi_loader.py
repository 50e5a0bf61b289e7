"""BMI loader: format validation (one clear DataError per bad input), folds, MI order."""

import os
import pickle
import time

import numpy as np
import pytest

from snnsim.config import RunConfig
from snnsim.datasets import bmi
from snnsim.datasets.bmi import KEYS
from snnsim.datasets.bmi_synthetic import generate
from snnsim.errors import ConfigError, DataError
from snnsim.run import main


@pytest.fixture(scope="module")
def small():
    return generate(seed=1, samples_per_fold=230)


def _write(tmp_path, data, name="bmi.pkl"):
    path = tmp_path / name
    with open(path, "wb") as fh:
        pickle.dump(data, fh)
    return path


def _copy(data):
    return {k: [a.copy() for a in v] for k, v in data.items()}


def test_synthetic_format_and_determinism(small, tmp_path):
    data = bmi.load(_write(tmp_path, small))
    assert data["MI"][0].shape == (230, 960) and data["dtheta"][0].shape == (230, 2)
    again = generate(seed=1, samples_per_fold=230)
    assert all(np.array_equal(a, b) for a, b in zip(small["MI"], again["MI"]))


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("torque"), "missing key 'torque'"),
        (lambda d: d["MI"].pop(), "MI has 19 folds, expected 20"),
        (lambda d: d["MI"].append(d["MI"][0]), "MI has 21 folds, expected 20"),  # not the first 20 of them
        (lambda d: d.update({k: v[:1] for k, v in d.items()}), "MI has 1 fold, expected 20"),
        (lambda d: d["theta"].__setitem__(3, d["theta"][3][:-5]), "fold 3 has mismatched row counts"),
        (
            lambda d: d["MI"].__setitem__(2, d["MI"][2][:, :959]),
            r"MI fold 2 has shape \(230, 959\), expected \(n, 960\)",
        ),
        (lambda d: d["dtheta"][4].__setitem__((7, 0), np.nan), "dtheta fold 4 contains NaN"),
        (lambda d: d["theta"][6].__setitem__((2, 1), -np.inf), "theta fold 6 contains NaN or infinite values"),
        (lambda d: d["MI"][5].__setitem__((7, 0), -1), r"MI fold 5 holds values that are not spike counts"),
        (lambda d: d.update({k: [*v[:3], v[3][:0], *v[4:]] for k, v in d.items()}), "fold 3 is empty"),
        (lambda d: d["dtheta"].__setitem__(0, d["dtheta"][0] > 0), "dtheta fold 0 is boolean; expected real numbers"),
        (  # booleans held as Python objects are no numbers either
            lambda d: d["MI"].__setitem__(0, (d["MI"][0] > 0).astype(object)),
            "MI fold 0 is not numbers; expected real numbers",
        ),
        (  # rates or smoothed counts given for the spike counts
            lambda d: d["MI"][5].__setitem__((7, 0), 0.5),
            r"MI fold 5 holds values that are not spike counts \(negative or not whole numbers\)",
        ),
        (
            lambda d: d["MI"].__setitem__(3, np.ma.masked_array(d["MI"][3], mask=d["MI"][3] > 5)),
            "MI fold 3 is a masked array; give plain arrays without masked values",
        ),
        (
            lambda d: d["MI"].__setitem__(1, [list(r) for r in d["MI"][1][:3]] + [[1.0]]),
            "MI fold 1 is not a rectangular array",
        ),
        (  # numpy cannot read it: a traceback (RuntimeError) from the check
            lambda d: d["dtheta"].__setitem__(2, __import__("torch").from_numpy(d["dtheta"][2]).requires_grad_()),
            r"dtheta fold 2 cannot be read as an array \(RuntimeError: Can't call numpy\(\) on Tensor that requires grad",
        ),
    ],
)
def test_bad_input_one_clear_error(small, tmp_path, mutate, match):
    data = _copy(small)
    mutate(data)
    with pytest.raises(DataError, match=match):
        bmi.load(_write(tmp_path, data))


def test_a_python_2_pickle_loads(small, tmp_path):
    """Python 2 pickled numpy's array bytes as str (opcodes BINSTRING/SHORT_BINSTRING), which
    Python 3 decodes as ASCII by default and fails on; the course's file may come from then."""
    import io
    import struct

    class Python2Pickler(pickle._Pickler):
        dispatch = pickle._Pickler.dispatch.copy()

        def save_bytes(self, obj):
            head = (
                pickle.SHORT_BINSTRING + bytes([len(obj)])
                if len(obj) < 256
                else pickle.BINSTRING + struct.pack("<i", len(obj))
            )
            self.write(head + obj)
            self.memoize(obj)

        dispatch[bytes] = save_bytes

    buf = io.BytesIO()
    Python2Pickler(buf, protocol=2).dump(small)
    path = tmp_path / "py2.pkl"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(buf.getvalue())
    data, expected = bmi.load(path), bmi.load(_write(tmp_path, small))
    assert data.keys() == expected.keys()
    assert all(np.array_equal(a, b) for k in data for a, b in zip(data[k], expected[k]))


def test_numbers_held_as_python_objects_load(small, tmp_path):
    """A fold of dtype object whose items are all numbers (``np.array(rows, dtype=object)``, a pandas
    frame's ``.values`` over columns of mixed types) was refused as "not numbers"."""
    data = _copy(small)
    data["MI"][0] = data["MI"][0].astype(object)
    data["MI"][1] = np.array([[int(v) for v in row] for row in small["MI"][1]], dtype=object)
    data["dtheta"][2] = data["dtheta"][2].astype(object)
    loaded, expected = bmi.load(_write(tmp_path, data)), bmi.load(_write(tmp_path, small, "plain.pkl"))
    assert all(np.array_equal(a, b) and a.dtype == np.float64 for k in KEYS for a, b in zip(loaded[k], expected[k]))
    data["MI"][0][3, 7] = 10**400  # a number float64 cannot hold
    with pytest.raises(DataError, match="MI fold 0 holds numbers beyond float64's range"):
        bmi.load(_write(tmp_path, data))
    data["MI"][0][3, 7] = None  # not a number: still refused
    with pytest.raises(DataError, match="MI fold 0 is not numbers"):
        bmi.load(_write(tmp_path, data))


def test_sparse_folds_load(small, tmp_path):
    """Spike counts are mostly 0: an MI fold saved as a scipy sparse matrix (or array) was refused
    as "MI fold 0 is not numbers"."""
    sparse = pytest.importorskip("scipy.sparse")
    data = _copy(small)
    data["MI"][0] = sparse.csr_matrix(data["MI"][0])
    data["MI"][1] = sparse.coo_array(data["MI"][1])
    loaded, expected = bmi.load(_write(tmp_path, data)), bmi.load(_write(tmp_path, small, "plain.pkl"))
    assert all(np.array_equal(a, b) and type(a) is np.ndarray for k in KEYS for a, b in zip(loaded[k], expected[k]))


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("lzma", 3)], ids=["plain", "zlib", "gzip", "lzma"])
def test_a_joblib_file_loads(small, tmp_path, compress):
    """``joblib.dump(data, "bmi.pkl")`` (scikit-learn's way to save) writes a pickle with the arrays'
    bytes beside it, which pickle cannot read: it was "not a readable pickle (UnpicklingError: invalid
    load key, '\\x05'.)", as if the file were damaged."""
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "bmi.pkl"
    joblib.dump(small, path, compress=compress)
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(path.read_bytes())
    loaded, expected = bmi.load(path), bmi.load(_write(tmp_path, small, "plain.pkl"))
    assert all(np.array_equal(a, b) for k in KEYS for a, b in zip(loaded[k], expected[k]))
    assert bmi.loaded_sha256(path) == bmi.file_sha256(path)


def _raised_under_a_memory_limit(call: str, *setup: str) -> str:
    """What ``call`` (Python text, after the lines ``setup``) raises in a process allowed 300 MB of
    address space more than it holds once snnsim is imported: "MemoryError ..." or the other
    exception's name and text (a real limit, RLIMIT_AS, not a mocked MemoryError)."""
    import subprocess
    import sys

    code = "\n".join([
        "import resource, sys",
        "from snnsim.datasets import bmi",
        *setup,
        "vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize:')).split()[1]) * 1024",
        "resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.RLIM_INFINITY))",
        "try:",
        f"    {call}",
        "except BaseException as exc:",
        "    print('MemoryError' if isinstance(exc, MemoryError) else type(exc).__name__, str(exc)[:200])",
    ])  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def test_a_compressed_file_larger_than_memory_is_out_of_memory_not_damaged(tmp_path):
    """A gzip file whose content did not fit in memory was refused as "a damaged gzip file
    (MemoryError)": a good file called broken. The MemoryError goes on, to be said as out of memory."""
    import gzip

    path = tmp_path / "bmi.pkl.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:  # 600 MB of content in about 1 MB
        for _ in range(600):
            fh.write(bytes(1 << 20))
    said = _raised_under_a_memory_limit(f"bmi.load({str(path)!r})")
    assert said.startswith("MemoryError"), said


def test_a_joblib_file_larger_than_memory_is_out_of_memory_not_unreadable(tmp_path):
    """A joblib file whose arrays did not fit in memory was refused as "not a readable joblib file
    (MemoryError: Unable to allocate ...)": a good file called broken. The MemoryError goes on."""
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "bmi.pkl"
    joblib.dump({"MI": [np.zeros((75_000, 1000))]}, path, compress=3)  # 600 MB of arrays in about 3 MB
    said = _raised_under_a_memory_limit(f"bmi.load({str(path)!r})", "import joblib")
    assert said.startswith("MemoryError"), said


def test_folds_of_rows_larger_than_memory_are_out_of_memory_not_unreadable():
    """Folds given as lists of rows whose array did not fit in memory were refused as "cannot be read
    as an array (MemoryError: Unable to allocate ...)": good data called broken. The MemoryError goes on."""
    said = _raised_under_a_memory_limit(
        "bmi.validate({k: [rows] * bmi.N_FOLDS for k in bmi.KEYS})",
        "rows = [[0.0] * 960] * 100_000  # one row held 100,000 times: 730 MB as an array",
    )
    assert said.startswith("MemoryError"), said


@pytest.mark.parametrize("module, name", [("gzip", "bmi.pkl.gz"), ("bz2", "bmi.pkl.bz2"), ("lzma", "bmi.pkl.xz")])
def test_a_compressed_pickle_loads(small, tmp_path, module, name):
    """A compressed pickle (pandas' ``to_pickle("bmi.pkl.gz")`` compresses by the extension) was
    refused: gzip as "a gzip file, not a pickle", bz2 and xz as "not a readable pickle (pickle data
    was truncated)", as if damaged."""
    compress = __import__(module).compress
    tiny = {k: [a[:20] for a in v] for k, v in small.items()}
    path = tmp_path / name
    path.write_bytes(compress(pickle.dumps(tiny)))
    loaded, expected = bmi.load(path), bmi.load(_write(tmp_path, tiny, "plain.pkl"))
    assert all(np.array_equal(a, b) for k in KEYS for a, b in zip(loaded[k], expected[k]))
    assert bmi.loaded_sha256(path) == bmi.file_sha256(path)  # the file's bytes, as the result files record
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match=f"^--data: {path} is a damaged {module.replace('lzma', 'xz')} file"):
        bmi.load(path)
    path.write_bytes(compress(b"epochs = 1\n"))
    with pytest.raises(DataError, match=f"^--data: {path} is a {module.replace('lzma', 'xz')} file whose content is not "
                                        "a readable pickle"):  # fmt: skip
        bmi.load(path)


def _cells(folds, shape):
    """``folds`` in a numpy object array of ``shape``, as scipy.io.loadmat gives a MATLAB cell array."""
    cells = np.empty(len(folds), dtype=object)
    cells[:] = folds
    return cells.reshape(shape)


@pytest.mark.parametrize(
    "container",
    [lambda v: _cells(v, (20,)), lambda v: _cells(v, (1, 20)), lambda v: _cells(v, (20, 1)), np.stack],
    ids=["object", "cells-row", "cells-column", "stacked"],
)
def test_folds_in_a_numpy_array_load(small, tmp_path, container):
    """The 20 folds of a key in a numpy array (an object array, a MATLAB cell array through loadmat,
    or equal-length folds stacked) were refused as "MI must be a list of 20 fold arrays, got ndarray"."""
    lists = {k: [a[:30] for a in v] for k, v in small.items()}
    data = {k: container(v) for k, v in lists.items()}
    loaded, expected = bmi.load(_write(tmp_path, data)), bmi.load(_write(tmp_path, lists, "lists.pkl"))
    assert all(len(loaded[k]) == 20 and all(map(np.array_equal, loaded[k], expected[k])) for k in KEYS)


def test_folds_in_pandas_objects_load(small, tmp_path):
    """A key's folds in a pandas Series, or the whole data set as a DataFrame of one row per fold
    and a column per key (``pd.to_pickle(df)``), were refused as "got Series" and "expected a dict
    ..., got DataFrame"."""
    pd = pytest.importorskip("pandas")
    lists = {k: [a[:30] for a in v] for k, v in small.items()}
    expected = bmi.load(_write(tmp_path, lists, "lists.pkl"))
    for data in ({k: pd.Series(v) for k, v in lists.items()}, pd.DataFrame(lists)):
        loaded = bmi.load(_write(tmp_path, data))
        assert all(len(loaded[k]) == 20 and all(map(np.array_equal, loaded[k], expected[k])) for k in KEYS)
    with pytest.raises(DataError, match="missing key 'time'"):  # a frame's columns are its keys
        bmi.load(_write(tmp_path, pd.DataFrame(lists).drop(columns="time")))


def test_samples_not_split_into_folds_are_named(small, tmp_path):
    data = _copy(small)
    data["MI"] = np.concatenate(small["MI"])
    with pytest.raises(DataError, match=r"MI must be a list of 20 fold arrays, got one array of shape \(4600, 960\)$"):
        bmi.load(_write(tmp_path, data))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="no file"):
        bmi.load(tmp_path / "nope.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x04 a damaged pickle")
    with pytest.raises(DataError, match="not a readable pickle"):
        bmi.load(bad)


@pytest.mark.parametrize(
    "name, save, what",
    [
        ("d.npz", lambda p: np.savez(p, MI=np.zeros((3, 960))), "an .npz file of arrays"),
        ("d.npy", lambda p: np.save(p, np.zeros((3, 960))), "an .npy file of an array"),
        ("d.pt", lambda p: __import__("torch").save({"MI": 1}, p), "a torch checkpoint (a zip file)"),
        ("d.toml", lambda p: p.write_text("epochs = 1\n"), "a TOML file"),
        ("d.pkl", lambda p: p.write_bytes(b""), "an empty file"),
        ("d.h5", lambda p: __import__("h5py").File(p, "w").close(), "an HDF5 file"),
        ("d.mat", lambda p: p.write_bytes(b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + b" " * 100), "a MATLAB file"),
    ],
)
def test_a_file_of_another_format_is_named_as_one(name, save, what, tmp_path):
    """A data file of another format was "not a readable pickle" with the unpickler's reason ("A load
    persistent id instruction was encountered", "pickle data was truncated"), as if a pickle were
    damaged: its format is named, and what the loader reads."""
    path = tmp_path / name
    save(path)
    with pytest.raises(DataError) as err:
        bmi.load(path)
    assert str(err.value) == (f"--data: {path} is {what}, not a pickle; give the course's bmi_dataset.pkl, a pickled "
                              "dict of MI, theta, dtheta, ddtheta, torque, time")  # fmt: skip


def test_a_data_fifo_says_while_it_waits_for_a_writer_and_a_pipe_is_read_once(small, tmp_path, capsys):
    """``--data FIFO`` with no writer waited in silence until stopped. It says so in one line once
    no writer has come (after 2 s) and goes on waiting; a pipe that has its writer
    (``--data <(...)``) is not named even where its bytes come late; both are read in full, once."""
    import threading

    raw = pickle.dumps(small)
    fifo = tmp_path / "data.pkl"
    os.mkfifo(fifo)
    loaded = []
    reader = threading.Thread(target=lambda: loaded.append(bmi.load(fifo)), daemon=True)
    reader.start()
    err, deadline = "", time.monotonic() + 30
    while "waiting" not in err and time.monotonic() < deadline:  # no writer until the line is there
        time.sleep(0.05)
        err += capsys.readouterr().err
    assert err == f"snnsim: --data: waiting for a writer on the FIFO {fifo}; stop with Ctrl-C\n"
    fifo.write_bytes(raw)
    reader.join(60)
    assert np.array_equal(loaded[0]["MI"][3], small["MI"][3]) and capsys.readouterr().err == ""

    read_end, write_end = os.pipe()

    def write() -> None:
        with open(write_end, "wb") as fh:
            fh.write(raw)

    writer = threading.Timer(2.5, write)
    writer.start()  # its bytes after more than the 2 s, with the writer there: no line
    try:
        data = bmi.load(f"/dev/fd/{read_end}")
    finally:
        os.close(read_end)
    writer.join(60)
    assert np.array_equal(data["MI"][3], small["MI"][3]) and capsys.readouterr().err == ""


def test_cli_bad_data_exit_2(small, tmp_path, capsys):
    data = _copy(small)
    data.pop("time")
    assert main(["--task", "bmi", "--model", "linear", "--data", str(_write(tmp_path, data)), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing key 'time'" in err


def test_fold_split_as_course():
    train, val, test = bmi.fold_split(5, 18)
    assert list(train) == [(5 + i) % 20 for i in range(18)] and (val, test) == (3, 4)
    train, val, test = bmi.fold_split(15, 1)
    assert list(train) == [15] and (val, test) == (13, 14)
    for n in (0, 19):  # the config is where the ranges are checked
        with pytest.raises(ConfigError, match="n-train-folds"):
            RunConfig(study="bmi", n_train_folds=n)


def test_mi_order():
    mi = np.arange(960.0)[None]
    seq = bmi.mi_to_sequence(mi, "neuron-major")
    assert seq.shape == (1, 20, 48) and seq[0, 3, 2] == 2 * 20 + 3
    assert bmi.mi_to_sequence(mi, "bin-major")[0, 3, 2] == 3 * 48 + 2


def _tagged(n_rows=3):
    """20 folds whose every value names its fold: MI row = fold * 1000 + column, theta = fold * 10 +
    column (dtheta, ddtheta, torque: + 0.25, 0.5, 0.75), time = fold + row / 100."""
    data = {key: [] for key in KEYS}
    for f in range(bmi.N_FOLDS):
        data["MI"].append(np.tile(f * 1000.0 + np.arange(960.0), (n_rows, 1)))
        for offset, key in enumerate(("theta", "dtheta", "ddtheta", "torque")):
            data[key].append(np.tile(f * 10.0 + np.arange(2.0), (n_rows, 1)) + 0.25 * offset)
        data["time"].append(f + np.arange(n_rows) / 100)
    return data


def test_extract_takes_each_split_its_folds_target_columns_and_mi_order():
    data = _tagged()
    splits = bmi.extract(data, rotation=19, n_train=2, target="theta", dims=(1, 0), mi_order="bin-major")
    for got, folds in zip(splits, ([19, 0], [17], [18])):  # training, validation (r+18), test (r+19), in order
        assert got.folds == tuple(folds)
        rows = np.repeat(folds, 3)
        np.testing.assert_array_equal(got.y, np.c_[rows * 10.0 + 1, rows * 10.0 + 0])  # column 1, then 0
        np.testing.assert_array_equal(got.time, rows + np.tile(np.arange(3) / 100, len(folds)))
        assert got.counts.shape == (3 * len(folds), 20, 48)
        np.testing.assert_array_equal(got.counts[:, 3, 2], rows * 1000.0 + 3 * 48 + 2)  # bin 3, neuron 2
    neuron_major = bmi.extract(data, rotation=5, n_train=2, target="torque", dims=(0,))
    assert neuron_major.test.folds == (4,)
    np.testing.assert_array_equal(neuron_major.test.counts[:, 3, 2], 4 * 1000.0 + 2 * 20 + 3)
    np.testing.assert_array_equal(neuron_major.test.y[:, 0], 4 * 10.0 + 0.75)  # torque, not theta


def test_arrays_sha256_tells_shapes_and_dtypes_apart():
    """The digest names each fold's shape and dtype: folds of the same bytes split otherwise, or
    read as another dtype, are another data set."""
    data = _tagged()
    digest = bmi.arrays_sha256(data)
    assert len(digest) == 64 and bmi.arrays_sha256(_copy(data)) == digest
    reshaped = _copy(data)  # fold 0's theta (3, 2) as (2, 3): the same bytes
    reshaped["theta"][0] = reshaped["theta"][0].reshape(2, 3)
    assert bmi.arrays_sha256(reshaped) != digest
    retyped = _copy(data)
    retyped["time"][0] = retyped["time"][0].view(np.int64)
    assert bmi.arrays_sha256(retyped) != digest
    changed = _copy(data)
    changed["torque"][19][2, 1] += 1e-9
    assert bmi.arrays_sha256(changed) != digest
    fortran = _copy(data)
    fortran["MI"][7] = np.asfortranarray(fortran["MI"][7])
    assert bmi.arrays_sha256(fortran) == digest


def test_a_folder_as_data_is_named_as_one(tmp_path):
    with pytest.raises(DataError, match=f"^--data: {tmp_path} is a folder; give the bmi_dataset.pkl file$"):
        bmi.load(tmp_path)


def test_loaded_sha256_is_of_the_bytes_loaded_and_file_sha256_of_the_file_now(small, tmp_path):
    """A run records the SHA-256 of the data it loaded, even where the file changes after; the
    file's own SHA-256 follows the file, also a rewrite of the same size (its mtime tells)."""
    import hashlib

    tiny = {k: [a[:20] for a in v] for k, v in small.items()}
    path = _write(tmp_path, tiny)
    loaded = hashlib.sha256(path.read_bytes()).hexdigest()
    bmi.load(path)
    assert bmi.file_sha256(path) == loaded
    raw = bytearray(path.read_bytes())
    raw[-2] ^= 1  # the same size, other bytes
    stamp = path.stat().st_mtime_ns
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))
    assert bmi.file_sha256(path) == hashlib.sha256(bytes(raw)).hexdigest() != loaded
    assert bmi.loaded_sha256(path) == loaded
    path.write_bytes(bytes(raw) + b"\0")  # another size (the mtime may be the same)
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))
    assert bmi.file_sha256(path) == hashlib.sha256(bytes(raw) + b"\0").hexdigest()
    assert bmi.loaded_sha256(path) == loaded
    assert bmi.loaded_sha256(_write(tmp_path, tiny, "never_loaded.pkl")) == loaded  # not loaded: as it is now


def test_data_bytes_follows_the_file_as_it_is_now(small, tmp_path):
    """The memory check's bytes of a data file: a compressed file's content (gzip, zlib), and a file rewritten
    since (other content, another size) counted anew."""
    import gzip
    import zlib

    tiny = {k: [a[:20] for a in v] for k, v in small.items()}
    path = _write(tmp_path, tiny, "bmi.pkl.gz")
    content = path.read_bytes()
    assert bmi.data_bytes(path) == len(content)  # not compressed: its size
    stamp = path.stat().st_mtime_ns
    path.write_bytes(gzip.compress(content + content))
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))
    assert bmi.data_bytes(path) == 2 * len(content)
    path.write_bytes(zlib.compress(content))  # a zlib stream, as joblib.dump(compress=3) writes
    os.utime(path, ns=(stamp + 2_000_000_000, stamp + 2_000_000_000))
    assert bmi.data_bytes(path) == len(content)


def test_reading_a_data_file_says_so_on_a_terminal(bmi_path, monkeypatch):
    """A BMI data file of a course's size (20 folds of 2,600 samples: 400 MB) took 4 s to read, 6 s
    gzipped, and more on a loaded machine, without a word before the run's first bar. A line on a
    terminal says what is read; ``quiet()`` (``run --quiet``) and a log (stderr not a terminal)
    get none."""
    import io
    import sys

    from snnsim.cli import quiet

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for tty, hushed in ((True, False), (True, True), (False, False)):
        err = Terminal() if tty else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        with quiet(hushed):
            bmi.load(bmi_path)
        said = f"snnsim: reading the BMI data file {bmi_path}\n"
        assert err.getvalue() == (said if tty and not hushed else ""), (tty, hushed)
