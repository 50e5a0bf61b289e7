"""The Norse backend's start-up."""

import subprocess
import sys


def test_loading_norse_prints_no_deprecation_warning():
    """Norse's import decorates functions with torch.jit.script, which this torch deprecates with a
    FutureWarning on every run; the backend loads Norse without it (warnings as errors here)."""
    code = "from snnsim.backends import make_backend; make_backend('norse')"
    done = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
