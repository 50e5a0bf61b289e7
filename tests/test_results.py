import json
import os

import numpy as np
import pytest
import xarray as xr

from snnsim import results
from snnsim.config import RunConfig
from snnsim.errors import ResultError


def _dataset():
    ds = xr.Dataset({"test_acc": ("repeat", np.array([50.0, 60.0]))}, coords={"repeat": [0, 1]})
    ds.attrs.update(results.provenance_attrs(RunConfig(readout="fr"), "cpu"))
    return ds


def test_write_then_load_round_trip(tmp_path):
    path = results.write(_dataset(), tmp_path / "run.h5")
    ds = results.load(path)
    np.testing.assert_array_equal(ds.test_acc.values, [50.0, 60.0])
    assert results.config_of(ds) == RunConfig(readout="fr")
    versions = json.loads(ds.attrs["versions"])
    assert {"torch", "snntorch", "norse", "xarray"} <= set(versions)
    with xr.open_dataset(path, engine="h5netcdf") as plain:
        assert plain.attrs["complete"] == 1
    assert results.load(tmp_path / "run").test_acc.size == 2  # results/NAME -> results/NAME.h5
    assert os.listdir(tmp_path) == ["run.h5"]  # no temporary file left


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
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(ResultError, match="not a readable result file"):
        results.load(tmp_path / "bad.h5")
    ds = _dataset()
    ds.attrs["complete"] = 0
    ds.to_netcdf(tmp_path / "partial.h5", engine="h5netcdf")
    with pytest.raises(ResultError, match="incomplete"):
        results.load(tmp_path / "partial.h5")


def test_check_writable(tmp_path):
    assert results.check_writable(tmp_path / "a.h5") == tmp_path / "a.h5"
    assert results.check_writable(tmp_path / "new" / "a.h5").parent.is_dir()  # like mkdir -p
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultError, match="cannot create folder"):
        results.check_writable(tmp_path / "file" / "a.h5")
    with pytest.raises(ResultError, match="is a folder"):
        results.check_writable(tmp_path)


def test_version_in_result_files_is_the_package_version():
    """The version that marks results stale is the code's own, the same as pyproject's."""
    import re
    from pathlib import Path

    import snnsim

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.M).group(1) == snnsim.__version__
    assert results.library_versions()["snnsim"] == snnsim.__version__
