"""The command-line entry points ask for passive OpenMP waiting before torch is imported."""

import os
import subprocess
import sys

import pytest

CODE = """
import os, sys
from snnsim.{module} import main
assert "torch" not in sys.modules
try:
    main({argv!r})
except SystemExit:
    pass
import torch
print(os.environ.get("OMP_WAIT_POLICY"), "torch" in sys.modules)
"""


@pytest.mark.parametrize("module,argv", [("run", ["--help"]), ("sweep.cli", ["--help"])])
@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_entry_points_set_passive_wait_unless_set(module, argv, preset):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    out = subprocess.run(
        [sys.executable, "-c", CODE.format(module=module, argv=argv)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == [preset or "PASSIVE", "True"]


def test_library_import_leaves_the_policy_alone():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, snnsim, snnsim.studies.ipd; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"


def test_no_effect_once_torch_is_loaded(monkeypatch):
    from snnsim.openmp import prefer_passive_wait

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert "torch" in sys.modules  # the test session has imported it
    assert prefer_passive_wait() is False
    assert "OMP_WAIT_POLICY" not in os.environ
