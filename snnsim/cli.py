"""What every snnsim command line shares: the one-line parser, argument types for command
arguments (settings of a run are checked by :class:`~snnsim.config.RunConfig`), and the
error-handling skeleton that turns errors into one line and an exit code (:mod:`snnsim.errors`)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import math
import os
import re
import shlex
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from . import signals as _signals
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NOT_WRITTEN, EXIT_USAGE, SnnsimError
from .signals import STOP_SIGNALS, Interrupted
from .signals import after_writing as after_writing
from .signals import signals_held as signals_held  # the commands take the stop signals from here
from .signals import stop_if_signalled as stop_if_signalled
from .signals import stop_on_signals as stop_on_signals
from .threads import check_openmp
from .units import parse_duration

#: In a command-line process, Python's cyclic garbage collector looks at its young objects after
#: this many new ones (Python's default: 700); see :func:`process`.
GC_YOUNG_THRESHOLD = 100_000
#: How torch's allocators say that memory ran out.
OUT_OF_MEMORY = ("can't allocate memory", "out of memory", "not enough memory")


def description_of(doc: str | None) -> str:
    """A command's ``--help`` description: the first paragraph of its docstring ``doc``, in one
    line (its first line alone may stop mid-sentence)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...``) and exit code 2, flags
    are never abbreviated, and an option's value may start with ``-`` (``--tau -1ms`` reaches
    the checks of the setting instead of failing as "expected one argument")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            # what follows the first ";" (a hint of _CommandParser, or the rest of a word with a ";") stays as it is
            said, semicolon, rest = message.removeprefix("unrecognized arguments:").partition(";")
            said = said.split()
            words = _numbers_put_back(getattr(self, "_given", []), said)
            apart, words = _units_apart(getattr(self, "_given", []), words)
            if apart or words != said:
                message = "; ".join([*apart, *([f"unrecognized arguments: {' '.join(words)}"] if words else [])])
                message += semicolon + rest
            if meant := _flags_meant(self, words):
                message += f"; did you mean {', '.join(meant)}?"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        self._given = args  # for error(): the subcommand whose flags a misspelt one may mean
        return super().parse_known_args(_attach_dashed_values(self, args), namespace)


#: A number as a shell word (a duration's value given apart from its unit).
_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"


def _numbers_put_back(given: list[str], words: list[str]) -> list[str]:
    """The unrecognized ``words`` with the number of an unrecognized flag given a duration with its
    unit apart put back where a positional took it (``snnsim.plots --dt 1 ms``: the 1 went to
    RESULTS, and argparse said "unrecognized arguments: --dt ms"): what the user typed. ``words``
    as they are where they are not the ``given`` words in order."""
    from .units import _DURATION_UNITS

    at, j = [], 0  # the index in given of each word
    for word in words:
        while j < len(given) and given[j] != word:
            j += 1
        if j == len(given):
            return words
        at.append(j)
        j += 1
    out = list(words)
    for n in reversed(range(1, len(words))):
        k = at[n]
        if (words[n] in _DURATION_UNITS and at[n - 1] == k - 2 and words[n - 1].startswith("--")
                and "=" not in words[n - 1] and re.fullmatch(_NUMBER, given[k - 1])):  # fmt: skip
            out.insert(n, given[k - 1])
    return out


def _units_apart(given: list[str], words: list[str]) -> tuple[list[str], list[str]]:
    """The errors of duration settings' flags given their unit as a word apart (``--tau 2 ms``,
    which argparse calls "unrecognized arguments: ms"), and the unrecognized ``words`` left: each
    such flag with its value as one word, or the setting's refusal of that word (``--tau -2 ms``:
    "duration must be positive"). Not for a flag that the command has not (itself among ``words``)."""
    from .config import DURATION_FIELDS, coerce
    from .errors import ConfigError
    from .units import _DURATION_UNITS

    said, left = [], list(words)
    given = given[: given.index("--")] if "--" in given else given  # after it no word is a flag: a positional's
    for i, word in enumerate(given):
        if word not in _DURATION_UNITS or word not in left or i == 0:
            continue
        flag, _, value = given[i - 1].partition("=")  # --tau=2 ms
        taken = given[i - 1]  # the word that holds the flag
        if not value and i >= 2:
            flag, value, taken = given[i - 2], given[i - 1], given[i - 2]  # --tau 2 ms
        # a flag of this command (taken, not unrecognized itself: snnsim.predict has no --duration)
        name = flag[2:].replace("-", "_")
        duration = flag.startswith("--") and name in DURATION_FIELDS and taken not in words
        if duration and re.fullmatch(_NUMBER, value):
            left.remove(word)
            try:
                coerce(name, value + word)
            except ConfigError as exc:  # refused as one word too (a negative duration): say why, once
                said.append(str(exc))
                continue
            said.append(f"{flag}: {value} {word} is a number and a unit apart; give them as one word, "
                        f"{flag} {value}{word}")  # fmt: skip
    return said, left


def _flags_meant(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """The flags that the unrecognized ``words`` likely mean, among the flags of ``parser`` and of
    the subcommand it was given, guessed as a file's keys are (:func:`snnsim.config.close_names`,
    by their names and help): a setting's key as a flag (``--batch_size``: ``--batch-size``
    alone), a flag spelled nearly so (``--dims``: ``--dim``; ``--epoch``: ``--epochs``) or named
    in its help (``--learning-rate``: ``--lr``, ``--lr-schedule``, ...)."""
    from .config import close_names

    parsers = [parser]
    given = getattr(parser, "_given", [])
    # the words that are no option's value (--results-dir status: a folder, not the command status)
    valued = {s for a in parser._actions if a.option_strings and a.nargs != 0 for s in a.option_strings}
    words_free = [w for i, w in enumerate(given) if not (i and given[i - 1] in valued)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers += [action.choices[w] for w in words_free if w in action.choices][:1]
    actions = [a for p in parsers for a in p._actions if a.help != argparse.SUPPRESS]
    flags = [s for a in actions for s in a.option_strings if s.startswith("--")]
    # guessed as a file's keys are (config.close_names), by their names (batch_size) and help; not as --no-X
    named = {s[2:].replace("-", "_"): (s, a.help or "") for a in actions for s in a.option_strings
             if s.startswith("--") and not (isinstance(a, argparse.BooleanOptionalAction) and s.startswith("--no-"))}  # fmt: skip
    # a switch turned off (--no_recurrent): guessed among the --no-X flags, not told the one that turns it on
    negated = {s[5:].replace("-", "_"): (s, a.help or "") for a in actions for s in a.option_strings
               if isinstance(a, argparse.BooleanOptionalAction) and s.startswith("--no-")}  # fmt: skip
    meant: list[str] = []
    for word in words:
        word = word.split("=", 1)[0]
        if not word.startswith("--") or word in flags or word == "--":  # a value, a flag of the wrong place
            continue  # (--results-dir), or the end of the flags: no flag misspelt
        off = re.fullmatch(r"--no[-_](.+)", word)
        among = negated if off and negated and word[2:].replace("-", "_") not in named else named
        close = [among[k][0] for k in close_names(off.group(1) if among is negated else word[2:], among,
                                                  lambda k, among=among: among[k][1])]  # fmt: skip
        meant += [c for c in close if c not in meant]
    return meant


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


class _CommandParser(OneLineParser):
    """The parser of ``sweep`` and ``tune``: ``--results-dir`` given after the command is told
    where it goes (argparse says only "unrecognized arguments")."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:") and any(
            word.split("=", 1)[0] == "--results-dir" for word in message.split()
        ):
            message += f"; --results-dir goes before the command: python -m {self.prog} --results-dir DIR COMMAND ..."
        super().error(message)


def command_parser(prog: str, description: str, operand: str, metavar: str,
                   operand_help: str) -> tuple[OneLineParser, Callable[[str, str], OneLineParser]]:  # fmt: skip
    """The parser of a command with ``--results-dir`` and subcommands that each take one operand
    (``sweep COMMAND EXP``, ``tune COMMAND SPEC``), and the function that adds a subcommand."""
    p = _CommandParser(prog=prog, description=description)
    p.add_argument(
        "--results-dir", type=user_path, default=None, help="where results go (default $SNNSIM_RESULTS, else 'results')"
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    def add(name: str, help_: str) -> OneLineParser:
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument(operand, metavar=metavar, help=operand_help)
        return s

    return p, add


def shell_line(cmd: list[str], env: dict[str, str], *names: str) -> str:
    """``cmd`` as a shell line to copy (a ``--dry-run``), with the environment variables ``names``
    that ``env`` (what the real command gets) sets otherwise than this process's environment put
    before it: ``SNNSIM_RESULTS=/abs/r sbatch ...``, so that the line run by hand does what the
    command would."""
    changed = [f"{n}={shlex.quote(env[n])}" for n in names if n in env and env[n] != os.environ.get(n)]
    return " ".join([*changed, shlex.join(cmd)])


_quiet = False  # the one-time notes of a slow first step are not said (``--quiet``; see quiet())


@contextlib.contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """With ``on``, the one-time notes of a slow first step inside (the synthetic BMI set
    generated, the kernels built) are not said (``snnsim.run --quiet``, ``sweep local --quiet``)."""
    global _quiet
    before, _quiet = _quiet, _quiet or on
    try:
        yield
    finally:
        _quiet = before


def announcing() -> bool:
    """Whether a one-time note of a slow first step is said (no :func:`quiet` is open)."""
    return not _quiet


def user_path(text: str) -> str:
    """argparse type of a path argument: a leading ``~`` is the home folder, as the shell makes of
    ``--out ~/r.h5``; it leaves ``--out=~/r.h5`` and a quoted ``"~/r.h5"`` as they are, which
    would make a folder named ``~`` in the current one."""
    return os.path.expanduser(text)


def positive_int(text: str) -> int:
    """argparse type of a command argument: an integer >= 1."""
    return _int_at_least(text, 1)


def positive_float(text: str) -> float:
    """argparse type of a command argument: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def log_line(prog: str, message: str) -> None:
    """``prog: message`` on stderr, for a worker's or job's log. A log that cannot be written
    (SLURM's ``logs/`` on a full disk or over a quota, the results elsewhere) loses the line, not
    the work."""
    try:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)
    except OSError:
        pass


def duration_or_seconds(text: str) -> float:
    """argparse type of a benchmark script's duration: ``2ms``, ``0.002s``, ``2000us``, or a bare
    number of seconds (``0.002``, as the scripts' documented commands give it); finite, > 0."""
    try:
        number = float(text)
    except ValueError:
        number = None
    try:
        return parse_duration(text if number is None else number)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seconds_note(prog: str, path: object, bare: Sequence[str]) -> str:
    """The one-line note of a file that gives durations as bare numbers
    (:func:`snnsim.config.bare_durations`)."""
    return (
        f'{prog}: note: {path} gives {", ".join(bare)} without a unit: read as seconds (e.g. "20ms" for milliseconds)'
    )


def sbatch_options(text: str, array: str) -> list[str]:
    """``submit --sbatch-args TEXT`` as sbatch's arguments. Refused in one line: an unbalanced
    quote, and ``--array``/``-a`` (or an abbreviation sbatch takes, ``--arr``), which would
    replace the array that submit sets itself; ``array`` says what sets it."""
    try:
        extra = shlex.split(text)
    except ValueError as exc:  # an unbalanced quote
        raise SnnsimError(f"submit: --sbatch-args {text!r}: {exc}") from None
    for k, token in enumerate(extra):
        name = token.split("=", 1)[0]
        if (len(name) > 3 and "--array".startswith(name)) or (token.startswith("-a") and not token.startswith("--")):
            raise SnnsimError(f"submit: --sbatch-args: {token} would replace the array that submit sets; {array}")
        if len(name) > 4 and "--export".startswith(name):  # --exp is no other sbatch option's prefix
            value = token.split("=", 1)[1] if "=" in token else (extra[k + 1] if k + 1 < len(extra) else "")
            if value.split(",", 1)[0] != "ALL":  # NONE, or only the variables named
                shown = token if "=" in token else f"{token} {value}"
                raise SnnsimError(f"submit: --sbatch-args: {shown} would keep this environment (SNNSIM_RESULTS, "
                                  "SNNSIM_PYTHON, PYTHONPATH ...) from the jobs, which then write elsewhere or run "
                                  "another python; give --export=ALL,NAME=VALUE")  # fmt: skip
    return extra


def dpi(text: str) -> int:
    """argparse type of ``--dpi``: an integer in 10..2400 (print quality is 300 to 600; below 10
    the figures' text is under a pixel, which FreeType refuses)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer from 10 to 2400, got {text!r}") from None
    if value < 10:  # 0 and negative too: one smallest value named
        raise argparse.ArgumentTypeError(f"expected at least 10 (smaller text is under a pixel), got {text!r}")
    if value > 2400:
        raise argparse.ArgumentTypeError(f"expected at most 2400 (print quality is 300 to 600), got {text!r}")
    return value


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


def starting() -> None:
    """Called by ``snnsim/__init__.py`` when ``python -m snnsim.COMMAND`` starts: a Ctrl-C while
    the command's modules load (numpy, xarray, torch: seconds on a busy machine) is one line and
    exit code 130, not a traceback from inside an import. :func:`process` puts Python's own
    handler back before the command's ``main``. A SIGINT ignored (a background job) stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_while_starting)


def _interrupted_while_starting(signum: int, frame: object) -> None:
    os.write(2, b"snnsim: interrupted while starting; nothing done\n")
    os._exit(EXIT_INTERRUPTED)  # nothing is made yet; the imports half done need no unwinding


def process(main: Callable[[], int]) -> int:
    """Run ``main`` as the body of a command-line process (``python -m snnsim.run``, the
    ``snnsim`` command, ``python -m snnsim.sweep`` ...) and return its exit code.

    Loading torch, xarray and their modules makes some 350,000 long-lived objects, and with
    Python's default threshold the cyclic garbage collector walks all of them again and again
    while they load, and again at exit. So here it collects after :data:`GC_YOUNG_THRESHOLD` new
    objects instead (garbage is still collected), and the objects alive when ``main`` ends are
    frozen (``gc.freeze``), which the interpreter's collections at exit skip. About 1.4 s less
    per process on the benchmark machine (benchmarks/README.md); importing snnsim changes
    nothing of the kind.

    Once ``main`` has returned, its exit code is final: the stop signals (:data:`STOP_SIGNALS`)
    are ignored while the interpreter exits (up to a second with torch loaded). A USR1 there
    killed the process (exit 138) after its results were written, and slurm/array.sh requeued
    the finished task.

    A stop raised in a finalizer, which Python drops, prints nothing ("Exception ignored in ..."
    and a traceback from this module before): it stays pending (:func:`stop_if_signalled`), and
    the command's own line reports the stop. One that no later check raised again (it came as the
    command ended) is noted in a line: the command was not stopped, what it wrote is whole."""
    gc.set_threshold(GC_YOUNG_THRESHOLD)
    warnings.formatwarning = _one_line_warning
    unraisable = sys.unraisablehook
    _signals._lost = None

    def dropped(u: Any) -> None:
        if isinstance(u.exc_value, Interrupted):
            _signals._lost = u.exc_value.signum
        else:
            unraisable(u)

    sys.unraisablehook = dropped
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:  # loaded: Ctrl-C is KeyboardInterrupt again
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        try:
            if not _asks_for_help(sys.argv[1:]):  # --help loads no torch: answered whatever the variable says
                check_openmp()  # before main imports torch, whose OpenMP library reads it as it loads
        except SnnsimError as exc:
            print(f"{_prog(main)}: error: {exc}", file=sys.stderr)
            return exc.exit_code
        return main()
    finally:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        sys.unraisablehook = unraisable
        if _signals._lost is not None:
            print(f"{_prog(main)}: note: {signal.Signals(_signals._lost).name} came as the command ended and did not stop it "
                  "(Python dropped it in a finalizer); what it wrote is whole", file=sys.stderr)  # fmt: skip
            _signals._lost = None
        gc.freeze()
        try:  # here, not at the interpreter's exit: a reader gone by now is no "Exception ignored", exit 120
            sys.stdout.flush()
        except BrokenPipeError:
            to_null(sys.stdout)


def _asks_for_help(args: list[str]) -> bool:
    """Whether the command line ``args`` asks for a command's usage (``-h``/``--help`` before any ``--``)."""
    for arg in args:
        if arg == "--":
            return False
        if arg in ("-h", "--help"):
            return True
    return False


def _prog(main: Callable[[], int]) -> str:
    """The running command's name as its lines give it (``snnsim.run``, ``snnsim.sweep``): the
    module run with ``-m``, or, for the ``snnsim`` console script (no module), the module of its
    ``main`` (``snnsim.run``, the name its own errors give); else ``snnsim``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None:
        return spec.name.removesuffix(".__main__")
    return main.__module__ if main.__module__.startswith("snnsim.") else "snnsim"


def to_null(stream: Any) -> None:
    """Send what follows on ``stream`` (and what it still buffers) to the null device: its reader
    has gone (a ``BrokenPipeError``), and the command goes on without a word."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, stream.fileno())
    os.close(null)


class _ReaderMayGo:
    """``sys.stdout`` (and ``sys.stderr``) while a command runs: a write or flush that finds its
    reader gone (``| head`` has the lines it wanted, ``2>&1 | head`` too; a ``BrokenPipeError``)
    sends what follows on that stream to the null device and returns as if written, so that the
    command's work and exit code stay its own (with stdout unbuffered, ``PYTHONUNBUFFERED=1``,
    every ``print`` writes at once; the progress bar writes to stderr as it goes)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            to_null(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            to_null(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _stdout_reader_may_go() -> Iterator[None]:
    """Run the block with ``sys.stdout`` and ``sys.stderr`` as :class:`_ReaderMayGo`; the streams
    as they were after."""
    with contextlib.ExitStack() as stack:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is None or isinstance(stream, _ReaderMayGo):
                continue
            setattr(sys, name, wrapper := _ReaderMayGo(stream))
            stack.callback(_put_back, name, wrapper, stream)
        yield


def _put_back(name: str, wrapper: _ReaderMayGo, stream: Any) -> None:
    """``sys.NAME`` as it was before :func:`_stdout_reader_may_go`, unless the command replaced it."""
    if getattr(sys, name) is wrapper:
        setattr(sys, name, stream)


_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_format_warning = warnings.formatwarning


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:  # fmt: skip
    """snnsim's own warnings as one line, ``snnsim: warning: ...`` (not a source line after it);
    other libraries' as Python prints them."""
    if os.path.abspath(filename).startswith(_PACKAGE + os.sep):
        return f"snnsim: warning: {message}\n"
    return _format_warning(message, category, filename, lineno, line)


# what makes a path unusable, as the user gave it: one line, not a traceback
PATH_ERRORS = frozenset({errno.ENOENT, errno.ENAMETOOLONG, errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS,
                         errno.ENOSPC, errno.EDQUOT, errno.EFBIG})  # fmt: skip


def guarded(
    prog: str,
    body: Callable[[], int],
    memory: str = "--batch-size, --hidden, --repeats, data set sizes",
    out: str | os.PathLike | None = None,
) -> int:
    """Run a command's ``body`` and return its exit code; a :class:`~snnsim.errors.SnnsimError`
    becomes one line on stderr and the error's exit code, a path that cannot be made or written
    (a file in the way of a folder, no permission, a read-only file system) one line and exit
    code 2 (5 for a full disk), Ctrl-C exit code 130; output to a closed pipe (``| head``) is
    dropped quietly and the command goes on to its own exit code. ``memory``: the options that
    size the command's memory, named when it runs out; ``out``: the command's output, named when
    a write error carries no path (a full disk under matplotlib)."""
    with _stdout_reader_may_go():  # its error lines too: a reader of stderr gone leaves the exit code
        return _reported(prog, body, memory, out)


def _reported(prog: str, body: Callable[[], int], memory: str, out: str | os.PathLike | None) -> int:
    """:func:`guarded`'s body: ``body()``, its errors as lines and exit codes."""
    try:
        return body()
    except SnnsimError as exc:
        one_line = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())  # quoted library text
        print(f"{prog}: error: {one_line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Interrupted as exc:
        done = f" after writing {exc.written}" if exc.written is not None else "; no result written"  # a figure too
        done += f"; {exc.kept}" if exc.kept else ""
        print(f"{prog}: stopped by {exc.name}{done}", file=sys.stderr)
        return 128 + exc.signum
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and not any(m in str(exc) for m in OUT_OF_MEMORY):
            raise
        print(
            f"{prog}: error: out of memory ({type(exc).__name__}); use smaller settings ({memory})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except BrokenPipeError:
        to_null(sys.stdout)
        return EXIT_FAILED
    except OSError as exc:
        # a path the user gave (or its folder) that cannot be made or written: a file where a
        # folder must go, a folder where a file must go, no permission, a read-only or full disk
        if exc.errno not in PATH_ERRORS:
            raise
        what = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError) and exc.filename and os.path.isfile(exc.filename):
            what = "exists and is not a folder"
        path = exc.filename or out
        where = f"{path}: " if path else ""
        print(f"{prog}: error: {where}{what}", file=sys.stderr)
        return EXIT_USAGE if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else EXIT_NOT_WRITTEN


def plural(n: int, word: str) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} {word}{'' if n == 1 else 's'}"
