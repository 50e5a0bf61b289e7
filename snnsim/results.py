"""Result files: one HDF5 (netCDF4 via h5netcdf) file per run, opened by
``xarray.open_dataset(path, engine="h5netcdf")``.

Every file carries the full config (JSON in attribute ``config``, and each scalar setting as
``config_<name>``), the seed, library versions, the device, the kind of CPU (and GPU) and the loops
(compiled kernels or torch's) that made its numbers (:func:`hardware`), ``complete = 1`` and
``data_sha256``, a SHA-256 of every stored array, its attributes and every global attribute
(:data:`DIGEST`): :func:`verify` (used by
:func:`load` and by the sweep's job states) finds a file whose bytes were damaged after writing.

Files are written with :func:`snnsim.atomic_write.write_bytes`: encoded in memory, written to a
temporary file beside the target (mode as the umask gives), flushed, then linked into place,
never replacing an existing file unless asked. So a killed run never leaves a file that looks
complete, a full disk leaves nothing behind, and of two runs writing one path only one succeeds.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import numpy as np

from .atomic_write import WriteFailed, cannot_write_in, temporary_name, write_bytes
from .errors import ResultError

if TYPE_CHECKING:  # xarray loads where a file is read (a second): not for --help or a refusal
    import h5py
    import xarray as xr

    from .config import RunConfig

ENGINE = "h5netcdf"
#: The first bytes of an HDF5 file, and so of every result file.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SCHEMA_VERSION = 1
#: Bumped whenever a change of snnsim changes the numbers some config produces; a sweep's job
#: file made with other numerics is stale. (Files without the attribute: snnsim 0.2.0 -> 1.)
#: 2: torch's ops and numpy's BLAS on one thread during a run (snnsim.threads).
#: 3: the fused IPD network as one compiled operation (other summation orders); Adam fused.
#: 4: the surrogate's sigmoid padded to whole vector blocks and per-model products on aligned
#: copies (a model's gradients the same batched or alone; last bits of snntorch/norse runs).
NUMERICS_VERSION = 4


def numerics_version(attrs: dict) -> int:
    """The numerics version a result file was made with (see :data:`NUMERICS_VERSION`)."""
    if "numerics_version" in attrs:
        return int(attrs["numerics_version"])
    return 1 if attrs.get("snnsim_version") == "0.2.0" else 0


def library_versions() -> dict[str, str]:
    from . import __version__

    # snnsim's own version from the package itself: installed metadata can be stale (a leftover
    # snnsim.egg-info beside an editable checkout), and a source checkout may have none
    versions = {"python": platform.python_version(), "snnsim": __version__}
    for dist in ("torch", "snntorch", "norse", "numpy", "xarray", "h5py", "h5netcdf"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


#: The libraries of :func:`library_versions` that compute a run's numbers: a checkpoint must have
#: been made with their versions to be resumed (a result file names one set of versions for all
#: its epochs), and a file made with others computed otherwise (:func:`computed_otherwise`).
COMPUTING = ("torch", "snntorch", "norse", "numpy")


def _cpuinfo(field: str) -> str:
    """The first value of ``field`` in /proc/cpuinfo ("?" where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "?"
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.split(":", 1)[0].strip() == field), "?")


#: Environment variables that change a run's numbers where set: MKL's code path
#: (``MKL_CBWR=COMPATIBLE`` moved a small BMI recipe run's w1 by 3e-6 and its validation FVAF by 1e-5),
#: its instruction set, torch's CPU capability, the compiled kernels' flags and their switch
#: (snnsim.backends._native: without the kernels every backend's torch ops round otherwise).
NUMERICS_ENV = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "SNNSIM_CFLAGS", "SNNSIM_NO_NATIVE")
#: Those of them that change only the compiled kernels' numbers: no mix where a part used none.
KERNELS_ENV = ("SNNSIM_CFLAGS", "SNNSIM_NO_NATIVE")


def hardware(device: object) -> dict[str, str]:
    """The hardware a run's numbers depend on, beyond its config, seed and library versions:
    ``cpu``, torch's CPU capability (its vector kernels; ``$ATEN_CPU_CAPABILITY`` lowers it), the
    vendor, family, model and name of the CPU, whose vector width and instructions round
    torch's, numpy's and the compiled kernels' (``-march=native``) sums otherwise (bit-identity
    holds on one kind of CPU: tests/reference/shipped.py); on a GPU also ``gpu``, its name and
    compute capability; ``numerics_env``, JSON of the :data:`NUMERICS_ENV` variables set (``{}``:
    none); ``kernels``, which loops computed what the compiled CPU kernels compute in this process
    on ``device`` (:func:`snnsim.backends._native.kernels`: ``compiled (OpenMP)``, ``compiled (one
    thread)``, ``torch loops (WHY)``, whose sums round otherwise, on a GPU ``cuda (torch ops)`` or
    ``cuda (Triton LIF kernels, torch ops)``, or ``none``), read without building them.
    The thread counts change no number (snnsim.threads) and are not recorded."""
    import torch

    from .backends import _native

    vendor = _cpuinfo("vendor_id")
    if vendor == "?":
        vendor = platform.processor() or platform.machine()
    info = {"cpu": f"{torch.backends.cpu.get_cpu_capability()} {vendor} family {_cpuinfo('cpu family')} "
                   f"model {_cpuinfo('model')} ({_cpuinfo('model name')})",
            "numerics_env": json.dumps({k: os.environ[k] for k in NUMERICS_ENV if os.environ.get(k)
                                        and (k != "SNNSIM_NO_NATIVE" or _native.switched_off(os.environ[k]))}),
            "kernels": _native.kernels(device)}  # fmt: skip
    device = torch.device(device)
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        info["gpu"] = f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
    return info


def mixed_hardware(attrs: Mapping[str, Any], parts: list[tuple[list[int], tuple[dict, ...]]]) -> list[dict]:
    """The parts of a resumed training that other hardware computed than the result file's
    ``attrs`` name (:func:`hardware`: another CPU or GPU, :data:`NUMERICS_ENV`, the torch loops for
    the compiled kernels), as ``{"repeats": "0,1", "epochs": "1-2", **hardware}``; ``parts``:
    (repeats, :attr:`snnsim.training.Training.parts`) per batched model. Kernels compiled with
    or without OpenMP give the same numbers, and a part that used none (``none``) is no mix, nor
    are the :data:`KERNELS_ENV` variables then (an ANN resumed with ``SNNSIM_NO_NATIVE`` set)."""

    def kernels(value: Any) -> str:
        return "compiled" if str(value).startswith("compiled") else str(value)

    def env(value: Any, ignore: tuple[str, ...]) -> dict:
        return {k: v for k, v in json.loads(value or "{}").items() if k not in ignore}

    out = []
    for repeats, steps in parts:
        for part in steps:
            fields = {k: v for k, v in part.items() if k != "epochs"}
            without = "none" in (fields.get("kernels"), attrs.get("kernels"))
            ignore = KERNELS_ENV if without else ()
            same = (
                all(fields.get(k) == attrs.get(k) for k in ("cpu", "gpu"))
                and env(fields.get("numerics_env"), ignore) == env(attrs.get("numerics_env"), ignore)
                and (without or kernels(fields.get("kernels")) == kernels(attrs.get("kernels")))
            )
            if not same:
                first, last = part["epochs"]
                out.append({"repeats": ",".join(map(str, repeats)), "epochs": f"{first}-{last}", **fields})
    return out


def computed_otherwise(attrs: Mapping[str, Any], device: str = "cpu") -> list[str]:
    """What a result file's ``attrs`` name that computes its numbers otherwise than this process
    would on the CPU, as ``"torch 2.3.0 (here 2.4.1)"``: the libraries that compute
    (:data:`COMPUTING`), the CPU, a GPU (a file of a ``cuda`` device, where ``device`` is the
    CPU, or one of the CPU where it is not), the :data:`NUMERICS_ENV` variables, and the torch loops or the compiled kernels (compiled with or without OpenMP: the same numbers; a run
    that used none of them: neither they nor :data:`KERNELS_ENV` count; for one that used them,
    the kernels are built here, as its run would)."""
    from .backends import _native

    out = []
    try:
        was, now = json.loads(attrs.get("versions") or "{}"), library_versions()
    except ValueError:
        was, now = {}, {}
    out += [
        f"{name} {was[name]} (here {now.get(name)})" for name in COMPUTING if name in was and was[name] != now.get(name)
    ]
    here = hardware("cpu")
    if attrs.get("cpu") and attrs["cpu"] != here["cpu"]:
        out.append(f"the CPU {attrs['cpu']} (here {here['cpu']})")
    made_on_gpu = str(attrs.get("device", "cpu")).startswith("cuda")
    if device == "cpu" and made_on_gpu:  # CUDA's generators: other data
        out.append(f"the GPU {attrs.get('gpu') or attrs['device']} (here the CPU)")
    elif device != "cpu" and "device" in attrs and not made_on_gpu:  # and the other way round
        out.append("the CPU (here a GPU)")
    kernels = str(attrs.get("kernels", ""))
    counted = kernels.startswith(("compiled", "torch loops"))
    own = "compiled" if counted and _native.library() is not None else "torch loops"  # the run builds them anyway
    if counted and not kernels.startswith(own):
        out.append(f"the kernels' {kernels} (here {own})")
    skip = {"SNNSIM_NO_NATIVE"} | (set() if counted else set(KERNELS_ENV))  # the kernels said it, or unused
    try:
        env, env_here = json.loads(attrs.get("numerics_env") or "{}"), json.loads(here["numerics_env"])
    except ValueError:
        env, env_here = {}, {}
    for name in sorted((set(env) | set(env_here)) - skip):
        if env.get(name) != env_here.get(name):
            was_set = f"${name}={env[name]}" if name in env else f"${name} unset"
            out.append(f"{was_set} (here {env_here.get(name, 'unset')})")
    return out


def provenance_attrs(config: RunConfig, device: str) -> dict:
    """Attributes every result file carries."""
    attrs = {
        "config": config.to_json(),
        "seed": int(config.seed),
        "study": config.study,
        "device": str(device),
        **hardware(device),
        "versions": json.dumps(library_versions(), sort_keys=True),
        "snnsim_version": library_versions()["snnsim"],
        "schema_version": SCHEMA_VERSION,
        "numerics_version": NUMERICS_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "complete": 1,
    }
    for key, value in config.to_dict().items():
        if isinstance(value, bool):
            attrs[f"config_{key}"] = int(value)
        elif isinstance(value, (int, float, str)):
            attrs[f"config_{key}"] = value
        elif isinstance(value, list):
            attrs[f"config_{key}"] = json.dumps(value)
    return attrs


#: What trained a model, of the attributes its result file carries (:func:`provenance_attrs` and the
#: study's): library versions, (BMI) the data file's SHA-256 or the synthetic data set's, the
#: hardware (:func:`hardware`; ``mixed_hardware`` where a resume mixed two); ``export`` and
#: ``predict`` carry them (``numerics_version`` beside them: inferred for files without it).
PROVENANCE = ("versions", "data_file_sha256", "synthetic_data_sha256", "cpu", "gpu", "kernels", "numerics_env",
              "mixed_hardware")  # fmt: skip

#: What a run's ``loss`` adds to its task loss when ``rate_reg`` > 0 (its long name says so; the
#: figures read it back from there, without torch).
PENALTY = " + firing-rate penalty"


def same_file(path: str | os.PathLike, other: str | os.PathLike) -> bool:
    """Whether ``path`` and ``other`` (``results/NAME`` resolved as :func:`load` does) name one file."""
    other = resolve(other)
    try:
        if Path(path).resolve() == other.resolve():
            return True
        return Path(path).exists() and other.exists() and os.path.samefile(path, other)
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Path.resolve of Python 3.11)
        return False


T = TypeVar("T")
#: SHA-256 of each file :func:`file_sha256` read, by (resolved path, size, mtime): result files,
#: data files, any file snnsim names by its bytes.
_SHA256: dict[tuple[str, int, int], str] = {}


def of_file_now(cache: dict[tuple[str, int, int], T], path: str | os.PathLike, compute: Callable[[Path, int], T]) -> T:
    """``compute(resolved path, size)`` of the file at ``path`` as it is now: kept in ``cache``
    per path, size and mtime (a file rewritten is computed again)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in cache:
        cache[key] = compute(p, st.st_size)
    return cache[key]


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of the file at ``path`` now (a result file, a data file); computed once
    per path, size and mtime."""
    return of_file_now(_SHA256, path, lambda p, _: hashlib.sha256(p.read_bytes()).hexdigest())


def data_changed(data: str | os.PathLike, digest: str | None, hint: str = "") -> str | None:
    """Why data file ``data``, read when it had SHA-256 ``digest``, is not the file it was: it has
    changed since, in the one wording of every command (``run --config RUN.h5``, ``tune``, a
    sweep's stale job, the analysis scripts), ``hint`` appended: what the user must do in that
    command. None when it is the same, when no ``digest`` was recorded, or when it cannot be read
    now (the caller names a missing file where it matters)."""
    if digest is None:
        return None
    try:
        now = file_sha256(data)
    except OSError:
        return None
    if now == digest:
        return None
    why = f"data file {data} changed since (SHA-256 {digest[:12]}... then, {now[:12]}... now)"
    return f"{why}: {hint}" if hint else why


#: Seconds the open of a named pipe (FIFO) waits for a writer before one line says that it waits.
FIFO_NOTE_SECONDS = 2.0


def open_input(path: str | os.PathLike, mode: str = "rb", encoding: str | None = None, *, flag: str,
               prog: str = "snnsim") -> IO:  # fmt: skip
    """``open(path, mode, encoding=encoding)`` of a file given as ``flag``. A named pipe (FIFO) is
    opened as any file, once (``--config <(...)`` is read so), and its open waits for a writer;
    where none has come after :data:`FIFO_NOTE_SECONDS`, one line on stderr says so (a FIFO given
    by mistake waited in silence), and the open goes on waiting."""
    import stat
    import threading

    try:
        fifo = stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:  # not there, or not to be read: the open says why
        fifo = False
    if not fifo:
        return open(path, mode, encoding=encoding)

    def say() -> None:
        try:
            print(f"{prog}: {flag}: waiting for a writer on the FIFO {path}; stop with Ctrl-C", file=sys.stderr,
                  flush=True)  # fmt: skip
        except (OSError, ValueError):  # a log that cannot be written (or closed meanwhile) loses the line
            pass

    timer = threading.Timer(FIFO_NOTE_SECONDS, say)
    timer.daemon = True  # a stop (Ctrl-C) ends the process, not this line
    timer.start()
    try:
        return open(path, mode, encoding=encoding)  # returns once a writer has opened it
    finally:
        timer.cancel()


def is_hdf5(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts as HDF5 files do (a result file, or another); False where it cannot
    be read, and for a pipe (``--config <(...)``), whose bytes a look would take from its reader."""
    try:
        if not Path(path).is_file():
            return False
        with open(path, "rb") as f:
            return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def _cut_signature(path: Path) -> bool:
    """Whether ``path`` holds fewer bytes than HDF5's signature, all of them its first: an HDF5 file
    cut short (damaged), not a file of another format."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
    except OSError:
        return False
    return len(head) < len(HDF5_SIGNATURE) and HDF5_SIGNATURE.startswith(head)


UTF16 = "a UTF-16 text file (snnsim reads UTF-8)"
#: The first bytes of files of other formats that a file given to snnsim may be by mistake, and
#: their names as every command words them (``X is a pickle file, not a result file``).
SIGNATURES = ((HDF5_SIGNATURE, "an HDF5 file"), (b"\x93NUMPY", "an .npy file of an array"),
              (b"\x1f\x8b", "a gzip file"), (b"MATLAB", "a MATLAB file"),
              (b"\xff\xfe", UTF16), (b"\xfe\xff", UTF16))  # fmt: skip


def file_kind(path: str | os.PathLike) -> str | None:
    """What a file seems to be, by its first bytes, as a phrase for "``path`` is KIND, not ...":
    an HDF5 file, a torch checkpoint or an .npz (zip files), an .npy, a pickle, a gzip or a
    MATLAB file, UTF-16 text, a TOML file or other UTF-8 text, an empty file, a pipe or a device
    (not read); None: not known, a folder, or not there or not to be read."""
    import stat
    import zipfile

    path = Path(path)
    try:
        if not path.is_file():
            if path.is_dir() or not path.exists():
                return None
            return "a pipe" if stat.S_ISFIFO(path.stat().st_mode) else "a device"
        with path.open("rb") as f:
            head = f.read(1 << 16)
            whole = not f.read(1)
    except OSError:
        return None
    if not head:
        return "an empty file"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (OSError, zipfile.BadZipFile):  # a damaged one: its reader names what is wrong
            return None
        if any(name.endswith("data.pkl") for name in names):
            return "a torch checkpoint (a zip file)"
        if names and all(name.endswith(".npy") for name in names):
            return "an .npz file of arrays"
        return "a zip file"
    if what := next((name for start, name in SIGNATURES if head.startswith(start)), None):
        return what
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a pickle file"
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # text cut inside a character at the end of what was read
        if whole or exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8-sig")
    if "\x00" in text:
        return None
    import tomllib

    try:
        tomllib.loads(text) if whole else None
    except tomllib.TOMLDecodeError:
        return "a text file"
    return "a TOML file" if whole else "a text file"


def file_name(text: str | os.PathLike, flag: str = "--out", example: str = "run.h5") -> Path:
    """``text`` as the path of a file to write; a name that ends with a slash is a folder."""
    if str(text).endswith(("/", os.sep)):
        raise ResultError(f"{flag}: {text} names a folder; give a file name such as {Path(text) / example}")
    return Path(text)


#: Extensions of files of other formats, which an HDF5 result or predictions file under that
#: name would belie (a name without one, or .h5, .hdf5, .nc, is taken as it is).
OTHER_FORMATS = {".csv": "CSV", ".tsv": "TSV", ".json": "JSON", ".txt": "text", ".toml": "TOML", ".yaml": "YAML",
                 ".yml": "YAML", ".npz": "NumPy .npz", ".npy": "NumPy .npy", ".pt": "torch", ".pth": "torch",
                 ".pkl": "pickle", ".pickle": "pickle", ".mat": "MATLAB", ".parquet": "Parquet", ".xlsx": "Excel",
                 ".png": "PNG", ".pdf": "PDF", ".svg": "SVG", ".nir": "NIR", ".zarr": "Zarr"}  # fmt: skip


#: Extensions of HDF5 files (a result, predictions or NIR file).
HDF5_SUFFIXES = (".h5", ".hdf5", ".nc")


def check_format_name(path: str | os.PathLike, writes: str, ours: tuple[str, ...], flag: str = "--out") -> None:
    """Refuse a name whose extension names another format than the one written (``--out
    preds.csv`` for an HDF5 file): ``writes`` says what is written ("a result file is HDF5"),
    ``ours`` the extensions it takes (the first suggested); a name without a known extension is
    taken as it is."""
    suffix = Path(path).suffix.lower()
    kind = "HDF5" if suffix in HDF5_SUFFIXES else OTHER_FORMATS.get(suffix)
    if kind is None or suffix in ours:
        return
    article = "an" if kind in ("HDF5", "Excel", "SVG") else "a"  # "an SVG file", "a NumPy .npz file"
    takes = f" ({', '.join(ours[:-1])} or {ours[-1]})" if len(ours) > 1 else ""
    raise ResultError(f"{flag}: {path} names {article} {kind} file, but {writes}; give a name such as "
                      f"{Path(path).with_suffix(ours[0])}{takes}")  # fmt: skip


def check_hdf5_name(path: str | os.PathLike, flag: str = "--out", what: str = "a result file") -> None:
    """Refuse a name whose extension names another format (``--out preds.csv``): the file
    written is HDF5 whatever its name."""
    check_format_name(path, f"{what} is HDF5", HDF5_SUFFIXES, flag)


def check_writable(path: str | os.PathLike, overwrite: bool = False, flag: str = "--out",
                   example: str = "run.h5", inputs: dict | None = None, hdf5: str | None = None) -> Path:  # fmt: skip
    """Fail early (before any training) if ``path`` cannot be written, exists and ``overwrite``
    is false, or is one of the ``inputs`` (``{"the model file": path}``; None values skipped),
    or (``hdf5``: what is written, "a result file") has the extension of another format.
    Creates the folder. Returns the path. ``example``: a file name the message for a folder
    suggests."""
    path = file_name(path, flag, example)
    for what, given in (inputs or {}).items():
        if given is not None and same_file(path, given):
            raise ResultError(f"{flag}: {path} is {what}; write to another file")
    if hdf5 is not None:
        check_hdf5_name(path, flag, hdf5)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ResultError(f"{flag}: {path} is a folder; give a file name such as {path / example}")
    if path.exists() and not path.is_file():
        raise ResultError(f"{flag}: {path} is not a regular file (a device, pipe or socket); give a file name")
    if os.path.lexists(path) and not overwrite:
        broken = " (a symbolic link to nothing)" if not path.exists() else ""
        raise ResultError(f"{flag}: {path} exists{broken}; give another name, or --overwrite to replace it")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultError(f"{flag}: cannot create folder {folder}: {_why_not_made(folder, exc)}") from None
    longest = temporary_name(path.with_name(f".{path.name}.r99999-99999.ckpt.json")).name  # a checkpoint's sidecar
    limit = os.pathconf(folder, "PC_NAME_MAX")
    if len(longest.encode()) > limit:
        room = limit - (len(longest.encode()) - len(path.name.encode()))
        raise ResultError(f"{flag}: the file name {path.name[:20]}... is {len(path.name.encode())} bytes long; at "
                          f"most {room} here (temporary and checkpoint files beside it add to it)")  # fmt: skip
    if why := cannot_write_in(folder):
        raise ResultError(f"{flag}: cannot write in {folder}: {why}")
    return path


def _why_not_made(folder: Path, exc: OSError) -> str:
    """Why ``folder`` could not be made: a symbolic link on its way to nothing (scratch space not
    mounted here, or purged) or a file where a folder must go, which ``mkdir`` reports only as
    "File exists" or "Not a directory", else ``exc``'s reason."""
    for above in (folder, *folder.parents):
        if above.is_symlink() and not above.exists():
            return f"{above} is a symbolic link to {os.readlink(above)}, which does not exist"
        if above.exists() and not above.is_dir():
            return f"{above} is a file, not a folder"
    return str(exc.strerror)


def encode(ds: xr.Dataset) -> bytes:
    """The bytes of ``ds`` as an HDF5 file, with its ``data_sha256`` attribute."""
    import h5py

    buffer = io.BytesIO(bytes(ds.to_netcdf(None, engine=ENGINE, invalid_netcdf=True)))
    with h5py.File(buffer, "r+") as f:
        f.attrs["data_sha256"] = _digest(f)
    return buffer.getvalue()


def _digest(f: h5py.File) -> str:
    """The current checksum (:data:`DIGEST`) of an open h5py file: SHA-256 of every dataset (name,
    type, shape, values) with its attributes, and of every global attribute but ``data_sha256``
    itself, in name order."""
    return _digest_of(*_contents(f))


def _contents(f: h5py.File) -> tuple[dict[str, tuple[object, object]], dict[str, object], dict[str, dict]]:
    """The datasets (name -> (dtype, values)), global attributes and datasets' attributes of ``f``."""
    import h5py

    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return ({name: (f[name].dtype, f[name][()]) for name in names}, dict(f.attrs),
            {name: dict(f[name].attrs) for name in names})  # fmt: skip


#: The prefix of a ``data_sha256`` that covers the datasets' attributes too (units, fill values,
#: the netCDF dimension ids) and writes every attribute as its type and bytes; a checksum without
#: it (files written before 2026-12-04) covers arrays and global attributes, the attributes as
#: numpy's ``repr``; those files still verify.
DIGEST = "v2:"
#: Attributes of a dataset that hold HDF5 object references (their repr names no object).
_REFERENCES = ("DIMENSION_LIST", "REFERENCE_LIST")


def _digest_of(datasets: dict[str, tuple[object, object]], attrs: dict[str, object],
               dataset_attrs: dict[str, dict]) -> str:  # fmt: skip
    """:data:`DIGEST` and the SHA-256 of datasets given as name -> (dtype, values), the raw global
    attributes and each dataset's raw attributes (name -> dict)."""
    h = hashlib.sha256()
    for name in sorted(datasets):
        _hash_values(h, name, *datasets[name])
        for key in sorted(k for k in dataset_attrs.get(name, {}) if k not in _REFERENCES):
            h.update(f"{name}@{key}=".encode() + _attr_bytes(dataset_attrs[name][key]))
    for key in sorted(k for k in attrs if k != "data_sha256"):
        h.update(f"{key}=".encode() + _attr_bytes(attrs[key]))
    return DIGEST + h.hexdigest()


def _digest_v1(datasets: dict[str, tuple[object, object]], attrs: dict[str, object]) -> str:
    """The checksum of files written before :data:`DIGEST`: arrays and global attributes, the
    attributes as numpy's ``repr`` of the running numpy."""
    h = hashlib.sha256()
    for name in sorted(datasets):
        _hash_values(h, name, *datasets[name])
    for key in sorted(k for k in attrs if k != "data_sha256"):
        h.update(f"{key}={attrs[key]!r}|".encode())
    return h.hexdigest()


def _hash_values(h: Any, name: str, dtype: object, value: object) -> None:
    array = np.asarray(value)
    h.update(f"{name}|{dtype}|{np.shape(value)}|".encode())
    h.update(array.tobytes() if array.dtype.kind in "biufc" else repr(array.tolist()).encode())


def _attr_bytes(value: object) -> bytes:
    """An attribute as its type, shape and bytes (numbers) or Python repr of its items (text):
    the same whatever numpy prints."""
    array = np.asarray(value)
    if array.dtype.kind in "biufc":
        return f"{array.dtype.str}{array.shape}|".encode() + np.ascontiguousarray(array).tobytes()
    return f"{array.dtype.kind}{array.shape}|{array.tolist()!r}|".encode()


def _intact(stored: object, datasets: dict[str, tuple[object, object]], attrs: dict[str, object],
            dataset_attrs: dict[str, dict]) -> bool:  # fmt: skip
    """Whether the checksum ``stored`` (:data:`DIGEST`, or the earlier one) matches the contents."""
    stored = stored.decode() if isinstance(stored, bytes) else str(stored)
    if stored.startswith(DIGEST):
        return stored == _digest_of(datasets, attrs, dataset_attrs)
    return stored == _digest_v1(datasets, attrs)


def _damage(stored: object, datasets: dict[str, tuple[object, object]], attrs: dict[str, object],
            dataset_attrs: dict[str, dict]) -> str | None:  # fmt: skip
    """Why contents with the checksum ``stored`` are not as written; None when they are."""
    if stored is None:  # files of numerics version 3 on were all written with a checksum
        try:
            version = numerics_version({k: _attr_value(attrs[k]) for k in ("numerics_version", "snnsim_version")
                                        if k in attrs})  # fmt: skip
        except (TypeError, ValueError):
            return "its numerics_version is not a number"
        return "its checksum (data_sha256) was removed after writing" if version >= 3 else None
    return None if _intact(stored, datasets, attrs, dataset_attrs) else "data damaged after writing (checksum mismatch)"


def _unreadable(exc: Exception) -> str:
    """Why h5py could not read a result file, as :func:`load` words it: a file cut short (a copy or
    download that stopped) with the bytes it holds and those its header names, else the kind of
    error."""
    import re

    if cut := re.search(r"truncated file: eof = (\d+).*?stored_eof = (\d+)", str(exc)):
        held, whole = int(cut[1]), int(cut[2])
        return f"cut short ({held:,} of its {whole:,} bytes; a copy or download that did not finish?)"
    return f"unreadable ({type(exc).__name__})"


def verify(path: str | os.PathLike) -> str | None:
    """None when every array and attribute of the result file ``path`` reads back as written
    (its ``data_sha256``; files older than numerics version 3 without one: every array reads),
    else the reason."""
    import h5py

    if not is_hdf5(path) and (kind := file_kind(path)) is not None:  # named as load names it
        return f"{kind}, not a result file (HDF5)"
    try:
        with h5py.File(path, "r") as f:
            stored = f.attrs.get("data_sha256")
            contents = _contents(f)
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds for a damaged file
        if (why := _unreadable(exc)).startswith("cut short"):
            return why
        return f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return _damage(stored, *contents)


def write(ds: xr.Dataset, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``ds`` to ``path`` (see the module docstring). Raises
    :class:`~snnsim.atomic_write.PathTaken` when ``path`` exists and ``overwrite`` is false, and
    :class:`~snnsim.atomic_write.WriteFailed` when the file system refuses (nothing left behind)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where a folder must go, no permission, a read-only disk
        where = Path(exc.filename) if exc.filename else path.parent
        reason = f"{where} is a file, not a folder" if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
        raise WriteFailed(path, reason, exc.errno) from None
    return write_bytes(path, encode(ds), overwrite=overwrite)


def resolve(path: str | os.PathLike) -> Path:
    """``results/NAME`` -> ``results/NAME.h5`` when the latter exists and the former is not a
    file (it may be the folder ``results/NAME/`` of a sweep's task files)."""
    path = Path(path)
    if path.name and not path.is_file() and path.suffix != ".h5" and path.with_name(path.name + ".h5").exists():
        return path.with_name(path.name + ".h5")
    return path


def file_attrs(path: str | os.PathLike) -> dict:
    """The global attributes of result file ``path``, read with h5py (much faster than opening it
    with xarray or :func:`load`): text as ``str``, one-element arrays and numpy scalars as Python
    values; unchecked (:func:`verify` checks the file)."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            elif isinstance(value, np.ndarray) and value.size == 1:
                value = value.item()
            elif isinstance(value, np.generic):
                value = value.item()
            out[key] = value
    return out


def load(path: str | os.PathLike) -> xr.Dataset:
    """Load a result file (a run, or a merged experiment given as ``results/NAME``) into memory.

    The file is read once with h5py and decoded by xarray's CF decoding (:func:`read`): the
    same dataset as ``xarray.open_dataset(path, engine="h5netcdf").load()``, about 20x faster.

    Raises:
        ResultError: the file is missing, not a result file, damaged or incomplete.
    """
    path = resolve(path)
    if not path.exists():
        raise ResultError(f"no result file at {path}")
    if path.is_dir():
        raise ResultError(f"{path} is a folder, not a result file; give a run's .h5 file, or results/NAME of an "
                          "experiment merged by `python -m snnsim.sweep merge NAME`")  # fmt: skip
    try:
        if path.is_file():
            open(path, "rb").close()  # noqa: SIM115 - a file without read permission: named as one
    except OSError as exc:
        raise ResultError(f"cannot read {path} ({exc.strerror})") from None
    if not is_hdf5(path):
        if (kind := file_kind(path)) is not None:  # a file of another format, named as such
            raise ResultError(f"{path} is {kind}, not a result file (HDF5)")
        if not _cut_signature(path):  # bytes of no format known: not "unreadable (OSError)"
            raise ResultError(f"{path} is not an HDF5 file (a result file is)")
    try:
        ds, damage = read(path)
    except _NotAResultLayout:
        damage = verify(path)
        ds = None
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds for a damaged file
        raise ResultError(f"{path} is not a readable result file: {_unreadable(exc)}") from None
    if damage:
        raise ResultError(f"{path} is not a readable result file: {damage}")
    if ds is None:  # a layout the fast reader does not know: xarray's own reader
        import xarray as xr

        try:
            # phony_dims: a foreign HDF5 file's dims without names (h5netcdf warns when not given)
            with xr.open_dataset(path, engine=ENGINE, phony_dims="access") as opened:
                ds = opened.load()
        except Exception as exc:  # h5py/netCDF raise many types for a damaged file
            raise ResultError(f"{path} is not a readable result file ({type(exc).__name__}: {exc})") from None
    if not is_complete(ds.attrs):
        if not any(k in ds.attrs for k in ("snnsim_version", "config", "experiment", "tune_spec")):
            raise ForeignFile(f"{path} is not an snnsim result file (an HDF5 file without snnsim's attributes: "
                              "give a file written by python -m snnsim.run, sweep merge or tune merge)")  # fmt: skip
        raise ResultError(f"{path} is incomplete (no 'complete' mark)")
    return current_names(ds)


def current_names(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the attributes of older files under today's names (snnsim 0.2 wrote ``task`` and
    ``config_task`` where today's files say ``study`` and ``config_study``): renamed in place."""
    from snnsim.config import LEGACY_KEYS

    for old, new in LEGACY_KEYS.items():
        for prefix in ("", "config_"):
            if prefix + old in ds.attrs and prefix + new not in ds.attrs:
                ds.attrs[prefix + new] = ds.attrs.pop(prefix + old)
    return ds


def is_complete(attrs: Mapping[str, Any]) -> bool:
    """Whether a file's attributes carry the mark of a completed write (``complete = 1``, a
    scalar: a damaged or foreign file may hold anything there)."""
    mark = np.asarray(attrs.get("complete"), dtype=object)
    return mark.size == 1 and not isinstance(mark.item(), (bool, np.bool_)) and mark.item() == 1  # h5py: np.True_


class ForeignFile(ResultError):
    """An HDF5 file without snnsim's attributes (another program's, such as an exported NIR graph)."""


class _NotAResultLayout(Exception):
    """The file holds something :func:`read` does not decode (groups, unnamed dimensions)."""


_NOT_A_VARIABLE = "This is a netCDF dimension but not a netCDF variable"
_NETCDF_ATTRS = {"CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST", "_Netcdf4Dimid", "_Netcdf4Coordinates"}


def read(path: str | os.PathLike) -> tuple[xr.Dataset, str | None]:
    """The dataset in the result file ``path`` and its damage (as :func:`verify`; None when
    intact), every array read once.

    Reads the netCDF4 layout that h5netcdf writes (flat, every variable naming its dimensions
    by id in ``_Netcdf4Coordinates``) with h5py and decodes it with :func:`xarray.decode_cf`,
    as ``xarray.open_dataset`` does (``tests/test_results.py`` checks that the two agree).
    """
    import h5py
    import numpy as np
    import xarray as xr

    with h5py.File(path, "r") as f:
        datasets = dict(f.items())
        if any(not isinstance(obj, h5py.Dataset) for obj in datasets.values()):
            raise _NotAResultLayout
        attrs = {name: dict(obj.attrs) for name, obj in datasets.items()}
        dim_names = {
            int(a["_Netcdf4Dimid"]): name
            for name, a in attrs.items()
            if a.get("CLASS") == b"DIMENSION_SCALE" and "_Netcdf4Dimid" in a
        }
        values = {name: obj[()] for name, obj in datasets.items()}
        raw_attrs = dict(f.attrs)
        dtypes = {name: obj.dtype for name, obj in datasets.items()}
    stored = raw_attrs.get("data_sha256")
    damage = _damage(stored, {name: (dtypes[name], values[name]) for name in values}, raw_attrs, attrs)
    global_attrs = {k: _attr_value(v) for k, v in raw_attrs.items()}
    strings = {name for name, dtype in dtypes.items() if h5py.check_string_dtype(dtype) is not None}
    variables = {}
    for name, value in values.items():
        a = attrs[name]
        if str(_attr_value(a.get("NAME", ""))).startswith(_NOT_A_VARIABLE):
            continue  # a dimension without a coordinate variable
        ids = a.get("_Netcdf4Coordinates")
        if ids is None and np.ndim(value) > 0:
            raise _NotAResultLayout
        if np.ndim(value) > 0 and any(int(i) not in dim_names for i in np.atleast_1d(ids)):
            raise _NotAResultLayout
        dims = tuple(dim_names[int(i)] for i in np.atleast_1d(ids)) if np.ndim(value) > 0 else ()
        if name in strings:
            value = np.array([b.decode("utf-8") if isinstance(b, bytes) else b for b in np.ravel(value)], dtype=str)
            value = value.reshape(np.shape(values[name]))
        var_attrs = {k: _attr_value(v) for k, v in a.items() if k not in _NETCDF_ATTRS}
        variables[name] = xr.Variable(dims, value, var_attrs)
    return xr.decode_cf(xr.Dataset(variables, attrs=global_attrs)), damage


def _attr_value(value: object) -> object:
    """An HDF5 attribute as h5netcdf gives it: text as ``str``, one-element arrays as scalars."""
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        value = np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in value.ravel()], dtype=object)
    if isinstance(value, np.ndarray) and value.size == 1 and value.ndim == 1:
        return value[0]
    return value


def config_of(ds: xr.Dataset, where: str | os.PathLike = "the result file") -> RunConfig:
    """The :class:`~snnsim.config.RunConfig` a single-run result file was produced by.

    Raises:
        ResultError: the file has no config, or one this snnsim cannot read (``where`` names it).
    """
    if "config" not in ds.attrs:
        raise ResultError(f"{where}: {merged_note(ds.attrs) or 'not the result file of one run (no config)'}")
    return read_config(ds.attrs["config"], where)


def merged_note(attrs: Mapping[str, Any]) -> str | None:
    """What a merged file is (``sweep merge``, ``tune merge``) and which files beside it hold one
    run each, for the commands that take one run's file; None for any other file."""
    if "experiment" in attrs and "n_jobs" in attrs:
        what, name, n, one = "results of experiment", attrs["experiment"], int(attrs["n_jobs"]), "job-INDEX"
    elif "tune_spec" in attrs and "n_trials" in attrs:
        what, name, n, one = "trials of tuning study", attrs["name"], int(attrs["n_trials"]), "trial-NUMBER"
    else:
        return None
    unit = ("job" if "experiment" in attrs else "trial") + "s" * (n != 1)
    return (
        f"the merged {what} {name} ({n} {unit}), not one run's file; give one of its files ({name}/{one}.h5 beside it)"
    )


def _respelled(text: str) -> str:
    """Config JSON ``text`` with the ``data`` spellings earlier snnsim read and this one refuses
    (``synthetic:`` and ``synthetic::SEED``, the standard member) written as it names them today,
    so that the files they made stay readable; any other text unchanged."""
    try:
        fields = json.loads(text)
        data = fields.get("data")
    except (ValueError, AttributeError):
        return text
    if not isinstance(data, str) or not data.startswith("synthetic::") and data != "synthetic:":
        return text
    seed = data[len("synthetic::") :]
    fields["data"] = f"synthetic:standard:{seed}" if seed else "synthetic"
    return json.dumps(fields)


def read_config(text: str, where: str | os.PathLike = "the result file") -> RunConfig:
    """The :class:`~snnsim.config.RunConfig` of a file's ``config`` attribute ``text``.

    Raises:
        ResultError: not JSON, not a table, or a setting or value this snnsim does not know
            (its ``reason``: the first clause of the config's own error).
    """
    from .config import RunConfig

    try:
        return RunConfig.from_json(_respelled(text))
    except Exception as exc:  # noqa: BLE001 - not JSON, not a dict, a setting unknown here ...
        reason = str(exc).splitlines()[0].split("; ")[0] if str(exc) else type(exc).__name__  # not the known list
    error = ResultError(f"{where}: its config is not one this snnsim reads ({reason})")
    error.reason = reason  # for callers that word it their own way
    raise error
