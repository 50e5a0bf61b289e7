"""The analysis scripts import their shared helper as ``_common``, from their own folder."""

import sys
from pathlib import Path

ANALYSIS = str(Path(__file__).resolve().parents[2] / "analysis")
if ANALYSIS not in sys.path:
    sys.path.insert(0, ANALYSIS)
