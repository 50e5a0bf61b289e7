"""The shipped experiments give the numbers stored before the study/runner redesign
(``tests/reference/shipped.py``): every numeric result variable, bit for bit."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("shipped_reference", Path(__file__).parent / "reference" / "shipped.py")
shipped = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shipped)

CASES = shipped.configs()


@pytest.fixture(scope="module")
def reference():
    with np.load(shipped.STORE) as store:
        return {k: store[k] for k in store.files}


@pytest.mark.slow
@pytest.mark.parametrize("key,cfg", CASES, ids=[key for key, _ in CASES])
def test_shipped_job_numbers_unchanged(reference, key, cfg):
    expected = {k[len(key) + 1 :]: v for k, v in reference.items() if k.startswith(key + "/")}
    got = shipped.numbers(shipped.run(cfg))
    assert sorted(got) == sorted(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=f"{key} {name}")
