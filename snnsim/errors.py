"""Errors that the command-line entry points turn into one line on stderr and an exit code.

Exit codes of every snnsim command (also listed in the README; tests/test_docs.py checks both):

====  ==========================================================================
0     success
1     a run failed (a sweep job raised; its traceback is in its ``.failed`` file)
2     bad input: a setting, file or argument (one line names it); nothing written. Also a
      destination that a check before any work finds read-only or without permission
      (``run --out``, ``plots --out``, ``sweep run``, ``sweep merge``'s and ``tune merge``'s
      results folder)
3     a stale result is in the way (``sweep run`` without ``--force``)
4     a training diverged (its loss, weights or optimiser moments became NaN or infinite), or
      its first epoch changed no weight (``--lr`` too small); no result written
5     the result could not be written where asked, found as it was written, after the work (disk
      full, no permission, another run wrote the file meanwhile); the message says where it was
      saved instead, if anywhere
130   interrupted (Ctrl-C); 128 + N: stopped by signal N; nothing half-written
====  ==========================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STALE = 3
EXIT_DIVERGED = 4
EXIT_NOT_WRITTEN = 5
EXIT_INTERRUPTED = 130


class SnnsimError(Exception):
    """Base class: a problem reported as one line without a traceback, with :attr:`exit_code`."""

    exit_code = EXIT_USAGE


class ConfigError(SnnsimError, ValueError):
    """A setting is invalid. The message names the setting (as its CLI flag) and what is accepted."""

    def __init__(self, field: str, message: str, flag: str | None = None) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{flag or '--' + field.replace('_', '-')}: {message}")


class DataError(SnnsimError, ValueError):
    """An input data file is missing, unreadable or malformed."""


class ResultError(SnnsimError, ValueError):
    """A result file is missing, incomplete or inconsistent."""


class DivergedError(SnnsimError, ArithmeticError):
    """A training's loss or weights became NaN or infinite, or its first epoch changed no weight
    (every step of ``--lr`` below float32's resolution). ``model``: its index in the batched
    model; the runner names the config and repeat."""

    exit_code = EXIT_DIVERGED

    def __init__(self, message: str, model: int = 0, epoch: int = 0) -> None:
        self.model, self.epoch = model, epoch
        super().__init__(message)
