"""The stop signals of a command (SIGTERM: scancel; SIGUSR1: SLURM's time-limit warning; SIGINT:
Ctrl-C) turned into a clean stop: :class:`Interrupted` raised in the main thread
(:func:`stop_on_signals`), held over a step that must not be cut in two (:func:`signals_held`),
raised again where Python dropped it (:func:`stop_if_signalled`). Below the CLI
(:mod:`snnsim.cli` gives them to the commands) and :mod:`snnsim.atomic_write`, which holds them as
a file is put in place."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class Interrupted(BaseException):
    """Raised by :func:`stop_on_signals` when a stop signal arrives: stop now, write nothing."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        #: the result file, where the signal came after it was written (the stop then cut short only what follows)
        self.written: str | os.PathLike | None = None
        #: what a rerun resumes from, where no result was written and a checkpoint stays
        self.kept: str | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _raise_interrupted(signum: int, frame: object) -> None:
    # Stop once. Under SLURM the TERM comes twice (slurmstepd signals every process of the step
    # and array.sh forwards its own): a second one must not interrupt the clean stop itself.
    global _arrived
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    if _arrived is None and _depth:  # kept: raised again by stop_if_signalled() where this raise is lost
        _arrived = signum
    if _held is not None:  # inside signals_held(): raised when its step is over
        _held.append(signum)
        return
    raise Interrupted(signum)


#: The stop signals that arrived inside :func:`signals_held` (None outside it).
_held: list[int] | None = None
#: The first stop signal that arrived inside :func:`stop_on_signals` (None: none yet, or outside).
_arrived: int | None = None
#: How many :func:`stop_on_signals` are open (the outermost one starts with no signal arrived).
_depth = 0
#: A stop whose raise Python dropped in a finalizer and no :func:`stop_if_signalled` raised again
#: (None: none); :func:`process` notes it once the command has ended.
_lost: int | None = None


def stop_if_signalled() -> None:
    """Raise :class:`Interrupted` if a stop signal has arrived. The handler raises it where the
    main thread is when the signal comes; there Python may swallow it: in a finalizer the garbage
    collector runs (``__del__``, "Exception ignored in ..."), the exception is printed and
    dropped, and the run trained to its end, exit 0, with every later stop signal ignored. Long
    loops call this at each step (the fit after every batch), so such a stop still stops."""
    global _lost
    if _arrived is not None and _held is None:
        _lost = None
        raise Interrupted(_arrived)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM (scancel), SIGUSR1 (SLURM's time-limit warning) and SIGINT raise
    :class:`Interrupted` in the main thread, so that a run stops cleanly: temporary files are
    removed on the way out and no result is half-written. The old handlers come back after."""
    global _arrived, _depth
    old = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    _depth += 1
    for s in STOP_SIGNALS:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        _depth -= 1
        if not _depth:
            _arrived = None  # outside: no stop is pending (a fit called on its own never stops)
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def after_writing(path: str | os.PathLike | None) -> Iterator[None]:
    """A block run once the command's result ``path`` is written (its summary printed, a lock let
    go): a stop there names the file (:attr:`Interrupted.written`), whole; None: nothing written."""
    try:
        yield
    except Interrupted as exc:
        if path is not None:
            exc.written = path
        raise


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold the stop signals over a short step that must not be cut in two (a trial's file written
    but not yet recorded): one that arrives meanwhile raises :class:`Interrupted` after the step.
    Inside another such step, the outer one holds them until it is over. Where the step raises
    another error (a write failed), that error goes up, the one to report, and the stop stays
    pending: a caller that handles the error and goes on must call :func:`stop_if_signalled`."""
    global _held
    if _held is not None or threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: a stop held here would be raised in this one
        return
    arrived = _held = []
    try:
        yield
    finally:
        _held = None
    if arrived:
        raise Interrupted(arrived[0])
