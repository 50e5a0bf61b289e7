"""Torch's OpenMP waiting policy for snnsim's own processes (the command-line entry points).

The fused backend's CPU kernels run in threads of their own (:func:`snnsim.backends._native.run_all`)
between torch's parallel ops. With torch's default (active) waiting, its OpenMP workers spin for
a while after every op and keep the cores busy, so the kernels' threads gain nothing; with
passive waiting they do, but plain torch loops of many tiny ops get slower (measurements and
their command: benchmarks/README.md). So passive waiting is set for snnsim's command-line
processes only, never on import of the package: a library user's own torch code keeps torch's
default.

The runtime reads the variable when torch loads it, so it acts only before the first
``import torch``; a value already in the environment is kept.
"""

from __future__ import annotations

import os
import sys


def prefer_passive_wait() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set or torch is already imported; return
    whether passive waiting is what torch will use."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        return os.environ["OMP_WAIT_POLICY"].upper() == "PASSIVE"
    return False
