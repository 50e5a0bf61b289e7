"""A command run in the test's process as a process of its own runs it, without the seconds of
CPU a new interpreter costs (torch's import, torch._dynamo's): for the many cases of a refusal or
of a resumed training that need no process of their own. Not for what does: signals, exit codes
as a shell sees them, races between processes, a traceback printed by the interpreter."""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

#: the warnings a new interpreter does not print (its default filters)
SILENT_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run_here(main: Callable[[list[str]], int] | Path, *args: object, cwd: str | Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """``main(argv)`` of an snnsim module, or a script's path run as ``__main__``, with ``args``,
    in folder ``cwd`` and environment ``env``. Gives a ``subprocess.CompletedProcess``: the exit
    code, stdout, and stderr with each warning a new interpreter would print as a line of it. An
    uncaught exception fails the test, as a traceback would. It starts without the data sets this
    process has read (their SHA-256, kept by :mod:`snnsim.datasets.bmi` and :mod:`snnsim.results`),
    as a new process would; the folder, environment, torch's thread count, ``sys.argv``/``sys.path`` and those are as
    before once it returns."""
    from snnsim import results
    from snnsim.datasets import bmi

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    saved = os.getcwd(), dict(os.environ), torch.get_num_threads(), list(sys.argv), list(sys.path)
    memos = [(memo, dict(memo)) for memo in (bmi.LOADED, results._SHA256, bmi.SYNTHETIC)]  # what a process has read
    for memo, _ in memos:
        memo.clear()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.simplefilter("always")
        try:
            if cwd is not None:
                os.chdir(cwd)
            if env is not None:  # the environment of the command's process
                os.environ.clear()
                os.environ.update(env)
            if callable(main):
                code = main(argv)
            else:  # a script
                sys.argv[:] = [str(main), *argv]
                sys.path.insert(0, os.path.dirname(main))
                runpy.run_path(str(main), run_name="__main__")
                code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            os.chdir(saved[0])
            os.environ.clear()
            os.environ.update(saved[1])
            torch.set_num_threads(saved[2])
            sys.argv[:], sys.path[:] = saved[3], saved[4]
            for memo, before in memos:
                memo.clear()
                memo.update(before)
    shown = "".join(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n" for w in caught
                    if not issubclass(w.category, SILENT_WARNINGS))  # fmt: skip
    return subprocess.CompletedProcess([str(main), *argv], code or 0, out.getvalue(), err.getvalue() + shown)
