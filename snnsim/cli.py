"""What every snnsim command line shares: the one-line parser, argument types for command
arguments (settings of a run are checked by :class:`~snnsim.config.RunConfig`), and the
error-handling skeleton that turns errors into one line and an exit code (:mod:`snnsim.errors`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, SnnsimError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...``) and exit code 2, flags
    are never abbreviated, and an option's value may start with ``-`` (``--tau -1ms`` reaches
    the checks of the setting instead of failing as "expected one argument")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(_attach_dashed_values(self, args), namespace)


def _attach_dashed_values(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """``["--tau", "-1ms"]`` -> ``["--tau=-1ms"]`` for options that take one value, when the value
    is not itself an option of ``parser``."""
    takes_value = {s for a in parser._actions if a.nargs is None for s in a.option_strings}
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return out + args[i:]
        nxt = args[i + 1] if i + 1 < len(args) else None
        if (
            token in takes_value
            and nxt is not None
            and nxt.startswith("-")
            and nxt != "--"
            and nxt.split("=", 1)[0] not in parser._option_string_actions
        ):
            out.append(f"{token}={nxt}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def positive_int(text: str) -> int:
    """argparse type of a command argument: an integer >= 1."""
    return _int_at_least(text, 1)


def index(text: str) -> int:
    """argparse type of a command argument: an integer >= 0 (a job or pack index)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
    return value


def guarded(prog: str, body: Callable[[], int]) -> int:
    """Run a command's ``body`` and return its exit code; a :class:`~snnsim.errors.SnnsimError`
    becomes one line on stderr and the error's exit code, Ctrl-C exit code 130, and a closed
    output pipe (``| head``) a quiet stop."""
    try:
        return body()
    except SnnsimError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
