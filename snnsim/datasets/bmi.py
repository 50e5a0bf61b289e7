"""The BMI data set (``bmi_dataset.pkl``): loading, validation, folds and extraction.

Format (the course's private file; :mod:`snnsim.datasets.bmi_synthetic` builds one like it):
one pickled dict with keys ``MI``, ``theta``, ``dtheta``, ``ddtheta``, ``torque``, ``time``,
each a list of 20 numpy arrays (one per fold, rows = samples every 50 ms):

- ``MI``: (n, 960) spike counts of 48 neurons in 20 time bins. The column order is not
  documented; ``mi_order`` selects it: ``neuron-major`` (default; column = neuron * 20 + bin)
  or ``bin-major`` (column = bin * 48 + neuron). Bin 19 is taken as the most recent bin.
- ``theta``, ``dtheta``, ``ddtheta``, ``torque``: (n, 2), column 0 shoulder, 1 elbow.
- ``time``: (n,) or (n, 1) time stamps, s.

Also read: the folds of a key in a tuple, a numpy array (:func:`_fold_list`) or a pandas Series,
the whole set as a DataFrame (a column per key), fold arrays of dtype object that hold numbers,
scipy sparse MI folds, a gzip, bz2 or xz compressed pickle and a ``joblib.dump`` file.

:func:`load` checks all of this and raises :class:`~snnsim.errors.DataError` with one line
naming the problem (missing key, wrong fold count, mismatched rows, wrong MI width, NaNs).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import numbers
import pickle
import sys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, NamedTuple, NoReturn, TypeVar

import numpy as np

from ..errors import DataError
from ..results import file_kind, file_sha256, of_file_now, open_input

KEYS = ("MI", "theta", "dtheta", "ddtheta", "torque", "time")
N_FOLDS = 20
N_NEURONS = 48
N_BINS = 20
JOINTS = ("shoulder", "elbow")
#: One bin of counts (and the time between samples), s; with the bins encoding one step of the
#: spiking decoder (firing rates in Hz).
BIN_SECONDS = 0.05
#: SHA-256 of each data file this process loaded (by resolved path): what its runs trained on.
LOADED: dict[str, str] = {}
_SIZES: dict[tuple[str, int, int], int] = {}
#: SHA-256 of the arrays of each synthetic data set this process loaded (:func:`arrays_sha256`),
#: by (member, seed): what its runs trained on, whether generated or read from the cache.
SYNTHETIC: dict[tuple[str, int], str] = {}


def arrays_sha256(data: dict[str, list[np.ndarray]]) -> str:
    """A SHA-256 (hex) of a data set's arrays: each key of :data:`KEYS`, each fold's dtype, shape
    and values."""
    digest = hashlib.sha256()
    for key in KEYS:
        for fold in data[key]:
            a = np.ascontiguousarray(fold)
            digest.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
            digest.update(a)  # C-contiguous: its bytes, without a copy
    return digest.hexdigest()


def synthetic_sha256(data: str | None) -> str | None:
    """The :func:`arrays_sha256` of synthetic source ``data`` (None: the standard set) as this
    process loaded it (loaded now where it has not been); None for a data file."""
    try:
        source = _synthetic_source(data)
    except ValueError:
        return None
    if source is None:
        return None
    if source not in SYNTHETIC:
        load(data)
    return SYNTHETIC[source]


def _synthetic_source(data: str | Path | None, seed: int | None = None) -> tuple[str, int] | None:
    """(member, seed) of a synthetic ``--data`` value (None: the standard set, of ``seed`` or the
    default one); None for a file. Raises ValueError for a bad ``synthetic:`` value."""
    from . import bmi_synthetic

    if data is None:
        return "standard", bmi_synthetic.DATA_SEED if seed is None else seed
    return bmi_synthetic.parse_source(str(data))


def is_file_source(data: str | None) -> bool:
    """Whether ``--data`` names a file (not None, nor a ``synthetic:`` source)."""
    from . import bmi_synthetic

    try:
        return data is not None and bmi_synthetic.parse_source(str(data)) is None
    except ValueError:
        return False


def loaded_sha256(path: str | Path) -> str:
    """The SHA-256 of data file ``path`` as this process loaded it (else as it is now)."""
    return LOADED.get(str(Path(path).resolve())) or file_sha256(path)


def validate(data: object, source: str = "data") -> dict[str, list[np.ndarray]]:
    """Check the format; return a dict of float arrays (``time`` flattened to (n,))."""
    if _is_pandas(data) and hasattr(data, "columns"):  # a DataFrame: a column per key, a row per fold
        data = {column: data[column] for column in data.columns}
    if not isinstance(data, dict):
        raise DataError(f"{source}: expected a dict with keys {', '.join(KEYS)}, got {type(data).__name__}")
    missing = [k for k in KEYS if k not in data]
    if missing:
        raise DataError(f"{source}: missing key {missing[0]!r} (expected keys: {', '.join(KEYS)})")
    out: dict[str, list[np.ndarray]] = {}
    for key in KEYS:
        folds = _fold_list(data[key])
        if not isinstance(folds, (list, tuple)):
            got = f"one array of shape {folds.shape}" if isinstance(folds, np.ndarray) else type(folds).__name__
            raise DataError(f"{source}: {key} must be a list of {N_FOLDS} fold arrays, got {got}")
        if len(folds) != N_FOLDS:
            raise DataError(
                f"{source}: {key} has {len(folds)} fold{'' if len(folds) == 1 else 's'}, expected {N_FOLDS}"
            )
        arrays = []
        for i, fold in enumerate(folds):
            if np.ma.isMaskedArray(fold):  # np.asarray would use the masked values as data
                raise DataError(f"{source}: {key} fold {i} is a masked array; give plain arrays without masked values")
            if type(fold).__module__.startswith("scipy.sparse") and hasattr(fold, "toarray"):
                fold = fold.toarray()  # a sparse matrix or array: np.asarray makes it one object, not its values
            try:
                kind = np.asarray(fold).dtype.kind
                if kind == "O" and all(_is_real(v) for v in np.asarray(fold).flat):
                    kind = "f"  # numbers as Python objects: np.array(rows, dtype=object), a mixed frame's .values
            except ValueError:  # rows of different lengths
                raise DataError(
                    f"{source}: {key} fold {i} is not a rectangular array (rows of different lengths)"
                ) from None
            except MemoryError:  # numbers that do not fit in this machine's memory as an array: not unreadable
                raise
            except Exception as exc:  # an object numpy cannot read, such as a torch tensor that requires grad
                raise DataError(
                    f"{source}: {key} fold {i} cannot be read as an array ({type(exc).__name__}: {exc})"
                ) from None
            if kind not in "iuf":
                what = {"b": "boolean", "c": "complex"}.get(kind, "not numbers")
                raise DataError(f"{source}: {key} fold {i} is {what}; expected real numbers")
            try:
                a = np.asarray(fold, dtype=np.float64)
            except (TypeError, ValueError):
                raise DataError(f"{source}: {key} fold {i} is not a numeric array") from None
            except OverflowError:  # a Python int past float64's range
                raise DataError(f"{source}: {key} fold {i} holds numbers beyond float64's range") from None
            if key == "time":
                if a.ndim == 2 and a.shape[1] == 1:
                    a = a[:, 0]
                if a.ndim != 1:
                    raise DataError(f"{source}: time fold {i} has shape {a.shape}, expected (n,) or (n, 1)")
            else:
                width = N_NEURONS * N_BINS if key == "MI" else 2
                if a.ndim != 2 or a.shape[1] != width:
                    raise DataError(
                        f"{source}: {key} fold {i} has shape {a.shape}, expected (n, {width})"
                        + (" (48 neurons x 20 bins)" if key == "MI" else " (shoulder, elbow)")
                    )
            if not np.all(np.isfinite(a)):
                raise DataError(f"{source}: {key} fold {i} contains NaN or infinite values")
            if key == "MI" and (np.any(a < 0) or np.any(a != np.round(a))):
                raise DataError(
                    f"{source}: MI fold {i} holds values that are not spike counts (negative or not whole numbers)"
                )
            arrays.append(a)
        out[key] = arrays
    for i in range(N_FOLDS):
        rows = {k: out[k][i].shape[0] for k in KEYS}
        if len(set(rows.values())) != 1:
            detail = ", ".join(f"{k} {n}" for k, n in rows.items())
            raise DataError(f"{source}: fold {i} has mismatched row counts ({detail})")
        if rows["MI"] == 0:
            raise DataError(f"{source}: fold {i} is empty")
    return out


def _fold_list(folds: object) -> object:
    """The folds of a key as a list where they come in a numpy array: an object array of one
    fold per item (a MATLAB cell array through loadmat: (1, n) or (n, 1)), or equal-length folds
    stacked along the first axis (at least 2-D), or a pandas Series; anything else as it is."""
    if _is_pandas(folds) and getattr(folds, "ndim", None) == 1:  # a Series of one fold per item
        return list(folds)
    if not isinstance(folds, np.ndarray) or np.ma.isMaskedArray(folds):
        return folds
    if folds.dtype == object and (folds.ndim == 1 or (folds.ndim == 2 and 1 in folds.shape)):
        return list(folds.reshape(-1))
    if folds.dtype != object and folds.ndim >= 2 and len(folds) == N_FOLDS:
        return list(folds)
    return folds


def _is_pandas(value: object) -> bool:
    """Whether ``value`` is a pandas object (without importing pandas)."""
    return type(value).__module__.split(".")[0] == "pandas"


def _is_real(value: object) -> bool:
    """Whether ``value`` (an item of an object array) is a real number, not a boolean."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_file(path: str | Path) -> Path:
    """``--data``'s file ``path``, refused in one line where it is missing or a folder."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"--data: no file at {path}")
    if path.is_dir():
        raise DataError(f"--data: {path} is a folder; give the bmi_dataset.pkl file")
    return path


def load(path: str | Path | None, seed: int | None = None) -> dict[str, list[np.ndarray]]:
    """Load and validate ``path``; ``None`` -> the cached synthetic data set; ``synthetic:NAME:SEED``
    -> a member of the synthetic generator family (:mod:`snnsim.datasets.bmi_synthetic`)."""
    from . import bmi_synthetic

    try:
        source = _synthetic_source(path, seed)
    except ValueError as exc:
        raise DataError(f"--data: {exc}") from None
    if source is not None:
        member, member_seed = source
        out = validate(bmi_synthetic.load_or_generate(member_seed, member), f"synthetic data {path or ''}".strip())
        SYNTHETIC[(member, member_seed)] = arrays_sha256(out)
        return out
    path = check_file(path)
    from ..cli import announcing

    if announcing() and sys.stderr is not None and sys.stderr.isatty():  # 400 MB: seconds; a log gets no line
        from tqdm import tqdm

        tqdm.write(f"snnsim: reading the BMI data file {path}", file=sys.stderr)  # its own line, under a bar too
        sys.stderr.flush()
    try:
        with open_input(path, flag="--data") as fh:  # a FIFO without a writer: a line says it waits
            raw = fh.read()
    except OSError as exc:
        raise DataError(f"--data: cannot read {path} ({exc.strerror})") from None
    compression, content = _decompressed(raw, path)
    try:
        try:
            data = pickle.loads(content)
        except UnicodeDecodeError:  # a Python 2 pickle: numpy's array bytes were str there
            data = pickle.loads(content, encoding="latin1")
    except MemoryError:  # a good file too large for this machine: out of memory, not unreadable
        raise
    except Exception as exc:  # pickle raises many types for a damaged file
        if _is_joblib(content):  # joblib.dump's arrays follow its pickle's records: only joblib reads them
            data = _load_joblib(raw, path)
        elif compression:
            raise DataError(f"--data: {path} is a {compression} file whose content is not a readable pickle "
                            f"({type(exc).__name__}: {exc})") from None  # fmt: skip
        else:
            _refuse_unpickled(path, exc)
    out = validate(data, str(path))
    LOADED[str(path.resolve())] = hashlib.sha256(raw).hexdigest()
    return out


#: Compressions of a pickle that :func:`load` reads (pandas' ``to_pickle`` picks one by the extension;
#: ``joblib.dump(compress=("lzma", N))`` writes the legacy .lzma format): (first bytes, name, module).
COMPRESSIONS = ((b"\x1f\x8b", "gzip", "gzip"), (b"BZh", "bz2", "bz2"), (b"\xfd7zXZ\x00", "xz", "lzma"),
                (b"\x5d\x00\x00", "lzma", "lzma"))  # fmt: skip


def data_bytes(path: str | Path) -> int:
    """The bytes of data file ``path`` as the loader reads them, for the memory check: a compressed
    file's content (gzip, bz2, xz, or joblib's zlib; counted once per path, size and mtime), else
    the file's size."""
    return of_file_now(_SIZES, path, _content_bytes)


def _content_bytes(path: Path, size: int) -> int:
    """The decompressed length of ``path`` (``size`` bytes), streamed; ``size`` where it is not
    compressed or cannot be read through (the loader names what is wrong with it)."""
    try:
        with path.open("rb") as f:
            head = f.read(6)
            module = next((m for start, _, m in COMPRESSIONS if head.startswith(start)), None)
            if module is None and head[:1] != b"x":  # not compressed (b"x": a zlib stream, as joblib writes)
                return size
            f.seek(0)
            if module is not None:
                with importlib.import_module(module).open(f, "rb") as stream:
                    return sum(len(chunk) for chunk in iter(lambda: stream.read(1 << 20), b""))
            unzip, total = zlib.decompressobj(), 0
            for chunk in iter(lambda: f.read(1 << 20), b""):
                total += len(unzip.decompress(chunk))
            return total + len(unzip.flush())
    except Exception:  # OSError, EOFError, zlib.error, LZMAError, ...: damaged, or text that starts with "x"
        return size


def _decompressed(raw: bytes, path: Path) -> tuple[str, bytes]:
    """(compression, content) of data file ``raw``: a gzip, bz2 or xz file decompressed, else
    ("", raw); a damaged compressed file is refused in one line."""
    for start, name, module in COMPRESSIONS:
        if raw.startswith(start):
            try:
                return name, importlib.import_module(module).decompress(raw)
            except MemoryError:  # a good file whose content does not fit: out of memory, not damaged
                raise
            except Exception as exc:  # OSError, EOFError, LZMAError, ... for a damaged or truncated file
                raise DataError(f"--data: {path} is a damaged {name} file ({type(exc).__name__}: {exc})") from None
    return "", raw


def _is_joblib(raw: bytes) -> bool:
    """Whether ``raw`` is a file of ``joblib.dump``: a pickle naming joblib's array wrapper, as it
    is or compressed with zlib (``compress=N``)."""
    head = raw[: 1 << 16]
    if head[:1] == b"x":  # a zlib stream's first byte
        try:
            head = zlib.decompressobj().decompress(head, 1 << 16)
        except zlib.error:
            return False
    return b"joblib.numpy_pickle" in head


def _load_joblib(raw: bytes, path: Path) -> object:
    """The object of joblib file ``raw`` (read from ``path``), or one line: joblib missing, or the file damaged."""
    try:
        import joblib
    except ImportError:
        raise DataError(f"--data: {path} is a joblib file (joblib.dump), which needs joblib to read: install it, or "
                        "give a pickle.dump of the dict") from None  # fmt: skip
    try:
        return joblib.load(io.BytesIO(raw))
    except MemoryError:  # a good file whose arrays do not fit: out of memory, not unreadable
        raise
    except Exception as exc:  # as pickle's, many types for a damaged file
        raise DataError(f"--data: {path} is not a readable joblib file ({type(exc).__name__}: {exc})") from None


def _refuse_unpickled(path: Path, exc: Exception) -> NoReturn:
    """Refuse ``path``, which pickle could not read (``exc``): a file of another format by its name,
    a damaged pickle by the unpickler's reason."""
    if (what := file_kind(path)) not in (None, "a pickle file", "a pipe"):  # a damaged pickle: its reason below
        raise DataError(f"--data: {path} is {what}, not a pickle; give the course's bmi_dataset.pkl, a pickled "
                        f"dict of {', '.join(KEYS)}") from None  # fmt: skip
    raise DataError(f"--data: {path} is not a readable pickle ({type(exc).__name__}: {exc})") from None


def fold_split(rotation: int, n_train: int, n_folds: int = N_FOLDS) -> tuple[np.ndarray, int, int]:
    """The course's folds: training ``(r + arange(N)) % n``, validation ``(r + n - 2) % n``,
    test ``(r + n - 1) % n`` (for 20 folds: ``(r+18) % 20`` and ``(r+19) % 20``). The ranges of
    ``rotation`` and ``n_train`` are checked by :class:`~snnsim.config.RunConfig`."""
    train = (rotation + np.arange(n_train)) % n_folds
    return train, (rotation + n_folds - 2) % n_folds, (rotation + n_folds - 1) % n_folds


def mi_to_sequence(mi: np.ndarray, order: str = "neuron-major") -> np.ndarray:
    """MI (n, 960) -> counts (n, 20 bins, 48 neurons), bin 0 first; ``order`` is
    ``neuron-major`` (column = neuron * 20 + bin) or ``bin-major`` (column = bin * 48 + neuron)."""
    if order == "bin-major":
        return mi.reshape(-1, N_BINS, N_NEURONS)
    return mi.reshape(-1, N_NEURONS, N_BINS).transpose(0, 2, 1)


@dataclass(frozen=True)
class Folds:
    """Samples of some folds: MI counts (n, 20, 48), targets (n, len(dims)), time (n,) s."""

    counts: np.ndarray
    y: np.ndarray
    time: np.ndarray
    folds: tuple[int, ...]


T = TypeVar("T")


class Splits(NamedTuple, Generic[T]):
    """One value per split: training, validation and test folds."""

    train: T
    val: T
    test: T


def extract(
    data: dict,
    rotation: int,
    n_train: int,
    target: str = "dtheta",
    dims: Sequence[int] = (0,),
    mi_order: str = "neuron-major",
) -> Splits[Folds]:
    """Training, validation and test folds of rotation ``rotation`` with ``n_train`` training folds."""
    n_folds = len(data["MI"])
    train, val, test = fold_split(rotation, n_train, n_folds)
    dims = list(dims)

    def split(folds: Iterable[int]) -> Folds:
        folds = tuple(int(f) for f in folds)
        mi = np.concatenate([data["MI"][f] for f in folds])
        y = np.concatenate([data[target][f] for f in folds])[:, dims]
        t = np.concatenate([data["time"][f] for f in folds])
        return Folds(mi_to_sequence(mi, mi_order), y, t, folds)

    return Splits(split(train), split([val]), split([test]))
