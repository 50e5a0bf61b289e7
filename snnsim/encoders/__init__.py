"""Encoders: turn a task's raw stimulus or data into input spike trains / currents.

``ENCODERS`` maps a name to a factory; each encoder module adds itself in one line.
"""

from __future__ import annotations

from typing import Callable

ENCODERS: dict[str, Callable] = {}

from . import ipd  # noqa: E402,F401  (registration)
from . import bmi  # noqa: E402,F401  (registration)
