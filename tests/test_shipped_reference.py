"""The shipped experiments give the numbers stored before the study/runner redesign
(``tests/reference/shipped.py``): every numeric result variable, bit for bit, against the
numbers stored for this kind of CPU. Variables added since (the costs, per-epoch curves of the
life cycle, BMI's trained weights and scaling) are listed in ``ADDED``; any other new or missing
variable fails. On a kind of CPU without stored numbers (or without those of a case), each case
must instead give the same numbers twice, with one kernel thread and with two (a warning names
the missing file)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("shipped_reference", Path(__file__).parent / "reference" / "shipped.py")
shipped = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shipped)

#: The BMI cases first (their data of up to 18 folds take the longest), so that under xdist
#: none of them starts last; the order changes nothing a case checks.
CASES = sorted(shipped.configs(), key=lambda case: not case[0].startswith("bmi_"))
#: Result variables added after the reference was stored (their computation has tests of its own).
ADDED = {
    "n_params", "footprint_bytes", "connection_sparsity", "activation_sparsity", "synops_dense", "synops_eff_macs",
    "synops_eff_acs", "hidden_rate_hz", "hidden_rate_curve", "lr_curve",
    "w1", "w2", "head_scale", "head_bias", "ann_w1", "ann_b1", "ann_w2", "ann_b2", "ridge_w",
    "x_mean", "x_std", "y_mean", "y_std",
}  # fmt: skip


@pytest.fixture(scope="module")
def reference():
    if not shipped.STORE.exists():
        return None
    with np.load(shipped.STORE) as store:
        return {k: store[k] for k in store.files}


@pytest.mark.slow
@pytest.mark.parametrize("key,cfg", CASES, ids=[key for key, _ in CASES])
def test_shipped_job_numbers_unchanged(reference, key, cfg, monkeypatch):
    if reference is None or not any(k.startswith(key + "/") for k in reference):
        import warnings

        warnings.warn(f"no stored numbers of {key} for this CPU ({shipped.STORE.name}): checking that the "
                      "numbers do not depend on the thread count instead", stacklevel=1)  # fmt: skip
        monkeypatch.setenv("SNNSIM_THREADS", "1")
        reference = {f"{key}/{k}": v for k, v in shipped.numbers(shipped.run(cfg)).items()}
        monkeypatch.setenv("SNNSIM_THREADS", "2")
    expected = {k[len(key) + 1 :]: v for k, v in reference.items() if k.startswith(key + "/")}
    got = shipped.numbers(shipped.run(cfg))
    assert set(expected) <= set(got) and set(got) - set(expected) <= ADDED, sorted(set(got) ^ set(expected))
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=f"{key} {name}")
