"""Result files: one HDF5 (netCDF4 via h5netcdf) file per run, opened by
``xarray.open_dataset(path, engine="h5netcdf")``.

Every file carries the full config (JSON in attribute ``config``, and each scalar setting as
``config_<name>``), the seed, library versions, the device and ``complete = 1``. Files are
written to a temporary name in the same folder, flushed to disk and renamed, so a killed run
never leaves a file that looks complete.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import xarray as xr

from .errors import ResultError

if TYPE_CHECKING:
    from .config import RunConfig

ENGINE = "h5netcdf"
SCHEMA_VERSION = 1
#: Bumped whenever a change of snnsim changes the numbers some config produces; a sweep's job
#: file made with other numerics is stale. (Files without the attribute: snnsim 0.2.0 -> 1.)
NUMERICS_VERSION = 1


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


def provenance_attrs(config: RunConfig, device: str) -> dict:
    """Attributes every result file carries."""
    attrs = {
        "config": config.to_json(),
        "seed": int(config.seed),
        "study": config.study,
        "device": str(device),
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


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early (before any training) if ``path`` cannot be written. Returns the path."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ResultError(f"--out: {path} is a folder; give a file name such as {path / 'run.h5'}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultError(f"--out: cannot create folder {folder}: {exc.strerror}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".snnsim-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ResultError(f"--out: cannot write in {folder}: {exc.strerror}") from None
    return path


def write(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` atomically to ``path`` (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine=ENGINE, invalid_netcdf=True)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def resolve(path: str | os.PathLike) -> Path:
    """``results/NAME`` -> ``results/NAME.h5`` when the latter exists and the former is not a
    file (it may be the folder ``results/NAME/`` of a sweep's task files)."""
    path = Path(path)
    if not path.is_file() and path.suffix != ".h5" and path.with_name(path.name + ".h5").exists():
        return path.with_name(path.name + ".h5")
    return path


def load(path: str | os.PathLike) -> xr.Dataset:
    """Load a result file (a run, or a merged experiment given as ``results/NAME``) into memory.

    Raises:
        ResultError: the file is missing, not a result file, or incomplete.
    """
    path = resolve(path)
    if not path.exists():
        raise ResultError(f"no result file at {path}")
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            ds = ds.load()
    except Exception as exc:  # h5py/netCDF raise many types for a damaged file
        raise ResultError(f"{path} is not a readable result file ({type(exc).__name__}: {exc})") from None
    if ds.attrs.get("complete") != 1:
        raise ResultError(f"{path} is incomplete (no 'complete' mark)")
    return ds


def config_of(ds: xr.Dataset) -> RunConfig:
    """The :class:`~snnsim.config.RunConfig` a single-run result file was produced by."""
    from .config import RunConfig

    return RunConfig.from_json(ds.attrs["config"])
