"""Device selection."""

from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (cuda when available) -> torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError("device", f"unknown device {name!r}; accepted: cpu, cuda, auto") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError("device", f"snnsim runs on cpu or cuda, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{name} requested but no CUDA device is available; accepted here: cpu, auto")
    return device
