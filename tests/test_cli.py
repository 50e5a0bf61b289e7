"""The shared command-line skeleton (``snnsim/cli.py``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from snnsim.cli import (
    GC_YOUNG_THRESHOLD,
    Interrupted,
    command_parser,
    guarded,
    shell_line,
    signals_held,
    stop_on_signals,
)
from snnsim.errors import DataError


def test_an_error_quoting_multi_line_library_text_stays_one_line(capsys):
    def body() -> int:
        raise DataError("--data: x.pkl is not a readable pickle (Error: first line\n  second line\n)")

    assert guarded("snnsim.test", body) == DataError.exit_code
    err = capsys.readouterr().err
    assert err == "snnsim.test: error: --data: x.pkl is not a readable pickle (Error: first line second line )\n"


def _python(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()[-1].split()  # the last line: what the code printed at its end


def test_a_process_collects_garbage_less_eagerly_and_freezes_what_is_alive_at_its_end():
    """In its own interpreter: importing snnsim keeps Python's settings; process() runs main with
    the young generation's threshold raised, still collects cyclic garbage, returns main's exit
    code and leaves the objects alive at the end frozen (the collections at exit skip them)."""
    before, during, collected, code, frozen = _python("""
        import gc
        import snnsim.cli
        before = gc.get_threshold()[0]
        seen = {}

        def main():
            seen["threshold"] = gc.get_threshold()[0]
            cycle = []
            cycle.append(cycle)
            del cycle
            seen["collected"] = gc.collect()
            return 3

        code = snnsim.cli.process(main)
        print(before, seen["threshold"], seen["collected"], code, gc.get_freeze_count())
    """)
    assert int(before) == 700 and int(during) == GC_YOUNG_THRESHOLD
    assert int(collected) >= 1 and int(code) == 3 and int(frozen) > 1000


@pytest.mark.parametrize(
    "module",
    ["snnsim.run", "snnsim.sweep", "snnsim.tune", "snnsim.plots", "snnsim.plot", "snnsim.export", "snnsim.predict"],
)
def test_every_command_runs_as_a_process(module):
    """``python -m MODULE --help`` goes through process(): the threshold is raised, and the
    objects are frozen even when the command ends by SystemExit."""
    threshold, frozen = _python(f"""
        import gc, runpy, sys
        sys.argv = ["{module}", "--help"]
        try:
            runpy.run_module("{module}", run_name="__main__", alter_sys=True)
        except SystemExit:
            pass
        print(gc.get_threshold()[0], gc.get_freeze_count())
    """)
    assert int(threshold) == GC_YOUNG_THRESHOLD and int(frozen) > 1000


def test_a_stop_inside_nested_held_steps_waits_for_the_outer_one():
    """A held step inside another (a checkpoint's sidecar written while a trial is recorded):
    the stop is raised when the outer step is over, not between the two."""
    steps = []
    with stop_on_signals(), pytest.raises(Interrupted) as stopped:
        with signals_held():
            with signals_held():
                os.kill(os.getpid(), signal.SIGTERM)
                steps.append("inner")
            steps.append("outer")  # not reached where the inner step raised, or dropped the hold
        steps.append("after")
    assert steps == ["inner", "outer"] and stopped.value.signum == signal.SIGTERM


def test_a_step_held_in_another_thread_holds_no_stop_of_the_main_thread():
    """A step held in a thread other than the main one (a file put in place there) holds no
    stop: signals reach the main thread only, and a stop held for the thread's step was raised in
    that thread, so the main thread went on past the signal."""
    import threading

    inside, release, steps = threading.Event(), threading.Event(), []

    def worker() -> None:
        with signals_held():
            inside.set()
            release.wait(10)
        steps.append("worker done")

    thread = threading.Thread(target=worker)
    with stop_on_signals(), pytest.raises(Interrupted) as stopped:
        thread.start()
        try:
            assert inside.wait(10)
            os.kill(os.getpid(), signal.SIGTERM)  # raised here, in the main thread, while the worker's step is open
            steps.append("main went on")
        finally:
            release.set()
            thread.join(10)
    assert steps == ["worker done"] and stopped.value.signum == signal.SIGTERM


def test_a_stop_signal_after_main_returned_keeps_its_exit_code():
    """A stop signal while the interpreter exits (after ``main`` returned) is ignored: the exit
    code stays main's. Under SLURM a USR1 there killed a task whose results were written (exit
    138), and slurm/array.sh requeued it."""
    (code,) = _python("""
        import os, signal
        import snnsim.cli
        code = snnsim.cli.process(lambda: 0)
        for s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
            os.kill(os.getpid(), s)
        print(code)
    """)
    assert int(code) == 0


def test_shell_line_sets_what_the_command_would_get_otherwise(monkeypatch):
    monkeypatch.setenv("SNNSIM_RESULTS", "here")
    cmd = ["sbatch", "--array=0-1", "a b.sh"]
    assert (
        shell_line(cmd, {"SNNSIM_RESULTS": "/x/my r"}, "SNNSIM_RESULTS")
        == "SNNSIM_RESULTS='/x/my r' sbatch --array=0-1 'a b.sh'"
    )
    assert shell_line(cmd, dict(os.environ), "SNNSIM_RESULTS") == "sbatch --array=0-1 'a b.sh'"  # as it is here


SLOW_LOAD = """
import time
class Slow:  # the command's module is located 5 s late: a wide, sure window for the signal
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            time.sleep(5)
        return None
import sys
sys.meta_path.insert(0, Slow())
"""


def _ctrl_c_as_at_a_terminal() -> None:
    """A child's SIGINT as a shell in a terminal leaves it: a pytest-xdist worker ignores SIGINT,
    and its children inherit that (a command then started with SIGINT ignored keeps it so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("module", ["snnsim.run", "other.tool"])
def test_ctrl_c_while_a_command_loads_is_one_line_and_exit_130(module, tmp_path):
    """A real SIGINT while ``python -m snnsim.run`` loads its modules (numpy, xarray: a second
    or more on a busy machine): a KeyboardInterrupt traceback from inside an import, and the
    process killed by the signal. ``-X importtime`` tells when the package is loaded and the
    command's modules are still to come; a ``sitecustomize`` holds them back 5 s. Another
    program's ``python -m`` module whose package imports snnsim keeps Python's own Ctrl-C."""
    site = tmp_path / "site"
    (site / "other").mkdir(parents=True)
    (site / "sitecustomize.py").write_text(SLOW_LOAD.replace("MODULE", repr(module)))
    (site / "other" / "__init__.py").write_text("import snnsim\n")
    (site / "other" / "tool.py").write_text("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    cmd = [sys.executable, "-X", "importtime", "-m", module, "--out", str(tmp_path / "r.h5")]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
                          preexec_fn=_ctrl_c_as_at_a_terminal) as proc:  # fmt: skip
        for line in proc.stderr:
            if line.split("|")[-1].strip() == "snnsim":  # the package is imported; the command's modules load next
                break
        assert proc.poll() is None  # still held back by sitecustomize
        os.kill(proc.pid, signal.SIGINT)
        err = [line for line in proc.stderr.read().splitlines() if not line.startswith("import time:")]
        code = proc.wait(timeout=300)
    if module == "other.tool":  # not snnsim's command: Python's KeyboardInterrupt, as without snnsim
        assert code != 130 and err[-1] == "KeyboardInterrupt", (code, err)
        return
    assert code == 130, err
    assert err == ["snnsim: interrupted while starting; nothing done"]
    assert sorted(os.listdir(tmp_path)) == ["site"]


@pytest.mark.parametrize("extra", [["--results-dir", "r"], ["--results-dir=r"]])
def test_results_dir_after_the_command_is_told_where_it_goes(capsys, extra):
    """docs/sweeps.md: ``--results-dir DIR`` goes before the command; ``sweep status EXP
    --results-dir DIR`` said only "unrecognized arguments: --results-dir DIR"."""
    parser, add = command_parser("snnsim.sweep", "", "exp", "EXP", "")
    add("status", "")
    assert parser.parse_args(["--results-dir", "r", "status", "x"]).results_dir is not None
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["status", "x", *extra])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == (f"snnsim.sweep: error: unrecognized arguments: {' '.join(extra)}; --results-dir goes before "
                   "the command: python -m snnsim.sweep --results-dir DIR COMMAND ...\n")  # fmt: skip


@pytest.mark.parametrize(
    "command, args, said",
    [
        ("run", ["--batch_size", "32"], "--batch_size 32; did you mean --batch-size?"),
        ("run", ["--dims", "0"], "--dims 0; did you mean --dim?"),
        ("run", ["--epoch=3", "--hiden", "8"], "--epoch=3 --hiden 8; did you mean --epochs, --hidden?"),
        ("run", ["--no-such-flag"], "--no-such-flag"),
        ("sweep", ["local", "smoke", "--indexes", "0-1"], "--indexes 0-1; did you mean --indices?"),
        ("sweep", ["merge", "smoke", "--allow_missing"], "--allow_missing; did you mean --allow-missing?"),
        # a results folder named as a command is no command: local's flags, not status's --json
        ("sweep", ["--results-dir", "status", "local", "smoke", "--jsn"], "--jsn"),
        (
            "sweep",
            ["--results-dir=run", "local", "smoke", "--indexes", "0-1"],
            "--indexes 0-1; did you mean --indices?",
        ),
    ],
)
def test_a_flag_spelled_as_its_setting_or_almost_is_named(command, args, said, capsys):
    """docs/sweeps.md: the keys of experiment files are the run's flags "with ``_`` for ``-``",
    so ``--batch_size 32`` (and ``--dims``, the key of ``--dim``) is a mistake a reader makes; it got
    "unrecognized arguments: --batch_size 32" and no word of the flag meant. The flag of that
    command (a subcommand's own) is named; a word like none is left as it was."""
    from snnsim import run
    from snnsim.sweep import cli as sweep_cli

    parser = {"run": run.build_parser, "sweep": sweep_cli.build_parser}[command]()
    with pytest.raises(SystemExit) as info:
        parser.parse_args(args)
    assert info.value.code == 2
    assert capsys.readouterr().err == f"snnsim.{command}: error: unrecognized arguments: {said}\n"


@pytest.mark.parametrize(
    "key", ["learning_rate", "readouts", "tau_mem", "n_train", "repeat", "num_epochs", "tua", "n_hidden", "dims"]
)
def test_a_flag_misspelt_is_told_the_settings_that_key_is_told_in_a_file(key, capsys):
    """A run's flags and a file's keys are one set of settings, and a misspelling of one is told the
    same settings in both (:func:`snnsim.config.close_names`): the flags had a guesser of their own
    (one guess, spelled alike to 0.75), so ``--learning-rate`` got no word where ``learning_rate``
    in an experiment file is told lr, lr_schedule, learn_tau, and ``--readouts`` only ``--readout``."""
    from snnsim import config, run

    hint = config.setting_hint(key, set(config.field_names()))
    assert hint.startswith("; did you mean "), hint
    flags = [config.flag(k) for k in hint.removeprefix("; did you mean ").removesuffix("?").split(", ")]
    word = "--" + key.replace("_", "-")
    with pytest.raises(SystemExit):
        run.build_parser().parse_args([word, "1"])
    assert (
        capsys.readouterr().err
        == f"snnsim.run: error: unrecognized arguments: {word} 1; did you mean {', '.join(flags)}?\n"
    )


def test_a_key_that_is_a_setting_but_for_its_dashes_is_told_that_one_alone():
    """``--batch_size`` on the command line is told ``--batch-size`` alone; ``batch-size`` in a file
    was told "batch_size, batch_repeats" (the settings it begins too). Both guess alike now."""
    from snnsim import config, run

    assert config.setting_hint("batch-size", set(config.field_names())) == "; did you mean batch_size?"
    from snnsim.cli import _flags_meant

    assert _flags_meant(run.build_parser(), ["--batch_size"]) == ["--batch-size"]


@pytest.mark.parametrize(
    "word, meant",
    [("--no_batch_repeats", "--no-batch-repeats"), ("--no-fresh_data", "--no-fresh-data"),
     ("--no-learn-taus", "--no-learn-tau"), ("--no_recurent", "--no-recurrent")],
)  # fmt: skip
def test_a_switch_turned_off_misspelt_is_told_the_flag_that_turns_it_off(word, meant, capsys):
    """``--no_batch_repeats`` (the file's key ``batch_repeats`` turned off) was told
    ``--batch-repeats``, the flag that turns it on: the opposite of what was meant. It is told
    the ``--no-`` flag, as it was before the flags were guessed as a file's keys."""
    from snnsim import run

    with pytest.raises(SystemExit):
        run.build_parser().parse_args([word])
    assert capsys.readouterr().err == f"snnsim.run: error: unrecognized arguments: {word}; did you mean {meant}?\n"


def test_plural_counts_one_in_the_singular():
    """``sweep local`` said "ran 1 jobs in 1 packs"; counts in messages go through plural."""
    from snnsim.cli import plural

    assert [plural(n, "job") for n in (0, 1, 2)] == ["0 jobs", "1 job", "2 jobs"]


def test_a_benchmark_duration_takes_a_unit_or_bare_seconds():
    """The benchmark scripts' --tau: 20ms as snnsim.run takes it, or a bare number of seconds as
    their documented commands give it (a unit was refused: 'invalid float value: 2ms')."""
    import argparse

    from snnsim.cli import duration_or_seconds

    assert [duration_or_seconds(t) for t in ("2ms", "0.002", "0.002s", "2000us", "2e-3")] == [0.002] * 5
    assert duration_or_seconds("20") == 20.0
    for text in ("0", "-1", "nan", "inf", "0ms", "2 parsecs", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            duration_or_seconds(text)


def test_python_dash_m_snnsim_names_the_commands():
    """``python -m snnsim`` was Python's "'snnsim' is a package and cannot be directly executed"."""
    import importlib

    proc = subprocess.run([sys.executable, "-m", "snnsim"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("snnsim: error: give a command: python -m snnsim.run, python -m snnsim.sweep")
    assert len(proc.stderr.strip().splitlines()) == 1
    from snnsim.__main__ import COMMANDS

    for name in COMMANDS:  # each one named is a command
        assert hasattr(importlib.import_module(f"snnsim.{name}"), "__file__")
        assert f"python -m snnsim.{name}" in proc.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_python_dash_m_snnsim_help_names_the_commands_exit_0(flag):
    """``python -m snnsim --help`` answered "snnsim: error: give a command" with exit 2: asking
    for help is no error; it names the commands on stdout, exit 0."""
    proc = subprocess.run([sys.executable, "-m", "snnsim", flag], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("snnsim: the commands are python -m snnsim.run, python -m snnsim.sweep")
    assert len(proc.stdout.strip().splitlines()) == 1


def test_python_dash_m_snnsim_help_to_a_reader_gone_exits_0_quietly():
    """``python -m snnsim --help`` whose reader had gone (``| head -0``, a pager quit) died with a
    BrokenPipeError traceback, exit 1, where every command drops its output quietly. Exit 0, no
    line."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the line is printed
    try:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "snnsim", "--help"]
        proc = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_a_stop_is_pending_only_inside_the_stop_handlers():
    """A stop signal is kept for :func:`stop_if_signalled` (a raise a finalizer swallowed) until the
    outermost :func:`stop_on_signals` is left: a fit called afterwards on its own is not stopped by
    it (it was, by a signal of an earlier command in the same process)."""
    from snnsim.cli import stop_if_signalled

    with pytest.raises(Interrupted), stop_on_signals(), stop_on_signals():
        with contextlib.suppress(Interrupted):  # the raise lost, as in a finalizer
            os.kill(os.getpid(), signal.SIGTERM)
        stop_if_signalled()  # still stops: inside the handlers
    stop_if_signalled()  # outside them: nothing pending


def test_a_stop_in_a_held_step_that_fails_stays_pending():
    """A stop that arrives in a held step which then raises another error (a write failed): that
    error goes up (it is the one to report) and the stop is not forgotten: the caller that handles
    the error and goes on stops at its next :func:`stop_if_signalled`."""
    import errno

    from snnsim.cli import stop_if_signalled

    with stop_on_signals():
        with pytest.raises(OSError, match="No space left"):
            with signals_held():
                os.kill(os.getpid(), signal.SIGTERM)
                raise OSError(errno.ENOSPC, "No space left on device")
        with pytest.raises(Interrupted) as stopped:
            stop_if_signalled()
    assert stopped.value.signum == signal.SIGTERM


def test_a_second_stop_signal_does_not_cut_the_clean_stop_short():
    """Under SLURM the TERM comes twice (slurmstepd's, then array.sh's): the first stops the
    command; the second, as the stop cleans up (temporary files removed), is ignored, not raised
    again in the middle of the clean-up."""
    steps = []
    with stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("not stopped")
        except Interrupted:
            os.kill(os.getpid(), signal.SIGTERM)  # the second TERM, in the clean-up
            steps.append("cleaned up")
    assert steps == ["cleaned up"]


def test_a_held_step_that_checks_for_a_stop_is_not_cut_in_two():
    """A stop inside a held step is raised once the step is over, even where the step's own code
    checks for a pending stop (:func:`stop_if_signalled`): the check there does not cut it."""
    from snnsim.cli import stop_if_signalled

    steps = []
    with stop_on_signals(), pytest.raises(Interrupted) as stopped:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            stop_if_signalled()
            steps.append("step done")
    assert steps == ["step done"] and stopped.value.signum == signal.SIGTERM


def test_a_stop_lost_inside_an_inner_command_stays_pending_for_the_outer_one():
    """A stop whose raise was lost (in a finalizer) inside an inner :func:`stop_on_signals` is
    still pending once the inner one is left: the outer command's next check stops it."""
    from snnsim.cli import stop_if_signalled

    with stop_on_signals():
        with stop_on_signals(), contextlib.suppress(Interrupted):  # the raise lost, as in a finalizer
            os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(Interrupted) as stopped:
            stop_if_signalled()
    assert stopped.value.signum == signal.SIGTERM


def test_the_handlers_found_come_back_after_the_stop_handlers():
    """Once :func:`stop_on_signals` is left, each stop signal goes to the handler it had before
    (a library's, the caller's), not to snnsim's."""
    seen = []
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    try:
        for s in before:
            signal.signal(s, lambda signum, frame: seen.append(signum))
        with stop_on_signals():
            pass
        for s in before:
            os.kill(os.getpid(), s)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert seen == [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT]


def test_a_stop_raised_in_a_finalizer_is_one_line_not_a_traceback():
    """A stop signal handled while a finalizer (``__del__``) runs: Python printed the raised stop
    as "Exception ignored in ..." and its traceback from inside snnsim.cli, above the command's
    own "stopped by SIGTERM" line. The stop is kept (raised again at the next check), so the
    command's one line is all it prints."""
    code = textwrap.dedent("""
        import os, signal
        import snnsim.cli as cli

        class Finalized:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at this method's next steps
                for _ in range(1000):
                    pass

        def body():
            with cli.stop_on_signals():
                Finalized()  # made and finalized here: the stop is raised inside __del__
                cli.stop_if_signalled()
            return 0

        print(cli.process(lambda: cli.guarded("prog", body)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == [str(128 + signal.SIGTERM)], out.stdout + out.stderr
    assert out.stderr == "prog: stopped by SIGTERM; no result written\n"


def test_a_stop_lost_in_a_finalizer_that_no_check_raised_again_is_noted():
    """A stop raised in a finalizer as the command ends, with no :func:`stop_if_signalled` after
    it: the command ends as it would have (exit 0, its output whole), and one line says that the
    signal came and did not stop it, rather than nothing (Python's traceback is dropped)."""
    code = textwrap.dedent("""
        import os, signal
        import snnsim.cli as cli

        class Finalized:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):
                    pass

        def body():
            with cli.stop_on_signals():
                Finalized()
            return 0

        print(cli.process(lambda: cli.guarded("prog", body)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["0"], out.stdout + out.stderr
    assert out.stderr == (
        "snnsim: note: SIGTERM came as the command ended and did not stop it (Python dropped it in a "
        "finalizer); what it wrote is whole\n"
    )


def test_a_reader_gone_before_the_last_line_leaves_the_exit_code_of_the_work(tmp_path):
    """``python -m snnsim.run ... | head -1`` with stdout unbuffered (PYTHONUNBUFFERED=1, as job
    scripts often set): the summary printed after the result file was written met the closed pipe
    and the command exited 1 ("a run failed") without a word, its file written whole; so did
    ``snnsim.predict`` and ``snnsim.export``. Each exits 0 now, its file in place, quietly."""
    from snnsim import results

    def quiet_reader_gone(module: str, *args: object) -> subprocess.CompletedProcess:
        read, write = os.pipe()
        os.close(read)  # the reader has gone before the command prints anything
        try:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            cmd = [sys.executable, "-m", module, *map(str, args)]
            return subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
        finally:
            os.close(write)

    model = tmp_path / "r.h5"
    done = quiet_reader_gone("snnsim.run", "--backend", "fused", "--epochs", "1", "--n-train-batches", "1",
                             "--n-test-batches", "1", "--batch-size", "16", "--hidden", "4", "--out", model)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert int(results.load(model).sizes["repeat"]) == 1
    for module, out, extra in (("snnsim.predict", "p.h5", ["--stimuli", "4"]),
                               ("snnsim.export", "m.pt", ["--format", "pt"])):  # fmt: skip
        done = quiet_reader_gone(module, model, *extra, "--out", tmp_path / out)
        assert done.returncode == 0, (module, done.stderr)
        assert done.stderr == "" and (tmp_path / out).stat().st_size > 0
    assert int(results.load(tmp_path / "p.h5").sizes["sample"]) == 4


@pytest.mark.parametrize(
    "args, said",
    [
        (["--tau", "2", "ms"], "--tau: 2 ms is a number and a unit apart; give them as one word, --tau 2ms"),
        (["--tau=2", "ms"], "--tau: 2 ms is a number and a unit apart; give them as one word, --tau 2ms"),
        (
            ["--tau-syn", "0.5", "µs"],
            "--tau-syn: 0.5 µs is a number and a unit apart; give them as one word, --tau-syn 0.5µs",
        ),
        (["--epochs", "2", "s"], "unrecognized arguments: s"),  # no duration: no unit to join
        # refused as one word too: why, as --tau -2ms is told (was "unrecognized arguments: ms")
        (["--tau", "-2", "ms"], "--tau: duration must be positive and finite, got '-2ms'"),
        (["--tau=-2", "ms"], "--tau: duration must be positive and finite, got '-2ms'"),
        (
            ["--tau", "2", "ms", "ms"],  # was told --tau 2ms alone, then refused "unrecognized arguments: ms"
            "--tau: 2 ms is a number and a unit apart; give them as one word, --tau 2ms; unrecognized arguments: ms",
        ),
        (
            ["--tau", "2", "ms", "--dt", "0.1", "ms"],
            "--tau: 2 ms is a number and a unit apart; give them as one word, --tau 2ms; --dt: 0.1 ms is a number "
            "and a unit apart; give them as one word, --dt 0.1ms",
        ),
        (
            ["--tau", "2", "ms", "--epoch", "3"],
            "--tau: 2 ms is a number and a unit apart; give them as one word, --tau 2ms; unrecognized arguments: "
            "--epoch 3; did you mean --epochs?",
        ),
    ],
)
def test_a_duration_given_with_its_unit_apart_is_told_to_join_them(args, said, capsys):
    """``--tau 2 ms`` (the unit as a shell word of its own) was "unrecognized arguments: ms", which
    names neither the flag nor the fix. A duration's flag says its value and unit go together; the
    other unrecognized words are named with it, and a value refused as one word is told why."""
    from snnsim import run

    with pytest.raises(SystemExit) as info:
        run.build_parser().parse_args([*args, "--out", "r.h5"])
    assert info.value.code == 2
    assert capsys.readouterr().err == f"snnsim.run: error: {said}\n"


def test_a_duration_flag_the_command_has_not_is_not_told_to_join_its_unit(capsys):
    """``snnsim.predict ... --duration 1 s`` (predict has no --duration) was told "--duration: 1 s is
    a number and a unit apart; give them as one word, --duration 1s", advice that is refused in
    turn ("unrecognized arguments: --duration 1s"). A flag the command has not keeps argparse's
    message, which names it."""
    from snnsim import predict

    with pytest.raises(SystemExit) as info:
        predict.main(["r.h5", "--out", "p.h5", "--duration", "1", "s"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "snnsim.predict: error: unrecognized arguments: --duration 1 s\n"


@pytest.mark.parametrize(
    "args, said",
    [
        (["--dt", "1", "ms"], "--dt 1 ms"),  # was "--dt ms": RESULTS took the 1
        (["r.h5", "--dt", "1", "ms"], "--dt 1 ms"),
        (["--dt", "1", "ms", "--dt", "2", "ms"], "--dt 1 ms --dt 2 ms"),
        (["--dt", "1", "ms", "--dpis", "3"], "--dt 1 ms --dpis 3; did you mean --dpi?"),
    ],
)
def test_a_flag_the_command_has_not_is_named_with_the_number_a_positional_took(args, said, capsys):
    """``snnsim.plots --dt 1 ms`` (plots has no --dt) said "unrecognized arguments: --dt ms": its
    RESULTS took the 1. The line names what was typed."""
    from snnsim.plots.__main__ import build_parser

    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(args)
    assert info.value.code == 2
    assert capsys.readouterr().err == f"snnsim.plots: error: unrecognized arguments: {said}\n"


@pytest.mark.parametrize(
    "build, args, said",
    [  # tune's SPEC took the 1; the hint of --results-dir was dropped with the number put back
        ("snnsim.tune", ["run", "--dt", "1", "ms", "--results-dir", "r"], "--dt 1 ms --results-dir r; --results-dir "
         "goes before the command: python -m snnsim.tune --results-dir DIR COMMAND ..."),
        ("snnsim.plots", ["--dt", "1", "ms", "x;y", "x"], "--dt 1 ms x;y x"),  # was "--dt 1 ms x": x;y cut at its ;
    ],
)  # fmt: skip
def test_a_number_put_back_keeps_what_follows_the_unrecognized_words(build, args, said, capsys):
    """Where a number a positional took was put back, the line was made again from the words
    before the first ";" alone: the sweep/tune hint that --results-dir goes before the command,
    or the rest of a word with a ";", was lost."""
    import importlib

    module = importlib.import_module("snnsim.plots.__main__" if build == "snnsim.plots" else build)
    with pytest.raises(SystemExit) as info:
        module.build_parser().parse_args(args)
    assert info.value.code == 2
    assert capsys.readouterr().err == f"{build}: error: unrecognized arguments: {said}\n"


def test_a_reader_of_stdout_and_stderr_gone_leaves_the_run_its_result_and_exit_code(tmp_path):
    """``python -m snnsim.run ... 2>&1 | head -1``: once the reader had gone, the progress bar's
    write to stderr met the closed pipe and the run stopped, exit 1 ("a run failed"), no result
    written. What goes to stderr is dropped as stdout's is: the run writes its result, exit 0."""
    from snnsim import results

    read, write = os.pipe()
    os.close(read)  # the reader of both streams has gone
    out = tmp_path / "r.h5"
    cmd = [sys.executable, "-m", "snnsim.run", "--backend", "fused", "--epochs", "1", "--n-train-batches", "1",
           "--n-test-batches", "1", "--batch-size", "16", "--hidden", "4", "--out", str(out)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, stdout=write, stderr=write, timeout=300)
    finally:
        os.close(write)
    assert proc.returncode == 0
    assert int(results.load(out).sizes["repeat"]) == 1


def test_an_error_whose_stderr_reader_has_gone_keeps_its_exit_code(tmp_path):
    """An error line written to a stderr whose reader had gone (``2>&1 | head -0``) raised
    BrokenPipeError in guarded's report of it: exit 1, not the error's own code (2 for a missing
    file)."""
    read, write = os.pipe()
    os.close(read)  # the reader of both streams has gone
    cmd = [sys.executable, "-m", "snnsim.predict", str(tmp_path / "none.h5"), "--stimuli", "3", "--out",
           str(tmp_path / "p.h5")]  # fmt: skip
    try:
        proc = subprocess.run(cmd, stdout=write, stderr=write, timeout=300)
    finally:
        os.close(write)
    assert proc.returncode == 2


def test_argument_types_take_their_bounds_and_refuse_past_them():
    """Each argument type takes its smallest and largest value and refuses the next one past them,
    in argparse's one-line way: 0 is no positive number (``--seconds 0``), nor are inf and nan."""
    import argparse

    from snnsim.cli import dpi, index, positive_float, positive_int

    assert (positive_int("1"), index("0"), dpi("10"), dpi("2400"), positive_float("1e-9")) == (1, 0, 10, 2400, 1e-9)
    for kind, text in ((positive_int, "0"), (index, "-1"), (dpi, "9"), (dpi, "2401"), (positive_float, "0"),
                       (positive_float, "-1"), (positive_float, "inf"), (positive_float, "nan")):  # fmt: skip
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
            kind(text)


@pytest.mark.parametrize(
    "args, said",
    [
        (["ms", "--tau=2"], "unrecognized arguments: ms"),  # a unit before any flag belongs to none
        (["--out", "--"], "argument --out: expected one argument"),  # "--" ends the flags: no value
        (["--out", "--quiet"], "argument --out: expected one argument"),  # a flag is no value
    ],
)
def test_a_flag_without_its_value_is_refused_not_given_the_next_word(args, said, capsys):
    """``--out --quiet`` is a missing value, not a result file named ``--quiet`` (a value that
    starts with ``-`` is taken only where it is no flag of the command: ``--tau -1ms``); a unit
    word first on the line is named as unrecognized, not joined to the last flag's value."""
    from snnsim import run

    with pytest.raises(SystemExit) as info:
        run.build_parser().parse_args(args)
    assert info.value.code == 2
    assert capsys.readouterr().err == f"snnsim.run: error: {said}\n"


def test_the_end_of_the_flags_is_named_unrecognized_without_flags_it_might_mean(capsys):
    """``snnsim.run -- --tau -1ms``: "--" ends the flags, so the words after it are unrecognized as
    given. It was told "did you mean --adapt-jump, --anf-per-ear, --backend, --batch-repeats?", flags
    guessed for "--" as if it were one misspelt, which none of them is."""
    from snnsim import run

    with pytest.raises(SystemExit) as info:
        run.build_parser().parse_args(["--", "--tau", "-1ms"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "snnsim.run: error: unrecognized arguments: -- --tau -1ms\n"


@pytest.mark.parametrize("prog", ["snnsim.plots", "snnsim.tune"])
def test_a_word_after_the_end_of_the_flags_is_not_told_to_join_its_unit(prog, capsys):
    """``snnsim.plots -- --dt 1 ms``: after "--" the word --dt is RESULTS (tune run: SPEC), no flag.
    It was told "--dt: 1 ms is a number and a unit apart; give them as one word, --dt 1ms" (plots
    and tune have no --dt) and "unrecognized arguments: 1". argparse's words stay."""
    import importlib

    module = importlib.import_module("snnsim.plots.__main__" if prog == "snnsim.plots" else prog)
    with pytest.raises(SystemExit) as info:
        module.build_parser().parse_args([*(["run"] if prog == "snnsim.tune" else []), "--", "--dt", "1", "ms"])
    assert info.value.code == 2
    assert capsys.readouterr().err == f"{prog}: error: unrecognized arguments: 1 ms\n"


def test_a_ctrl_c_in_a_commands_body_is_one_line_and_exit_130(capsys):
    """A ``KeyboardInterrupt`` out of a command's body is one line saying nothing is half-written,
    and exit code 130 as a shell gives a command that Ctrl-C ended (not 1, a failure)."""

    def body() -> int:
        raise KeyboardInterrupt

    assert guarded("snnsim.x", body) == 130
    assert capsys.readouterr().err == "snnsim.x: interrupted; nothing half-written\n"


def test_out_of_memory_is_one_line_naming_the_settings_that_size_it_and_other_errors_are_not(capsys):
    """A ``RuntimeError`` of torch's allocator that ran out is one line naming the options that
    size the command's memory, exit 1; a ``RuntimeError`` of anything else is no memory problem
    and reaches the interpreter as it is (a bug, with its traceback)."""

    def oom() -> int:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    assert guarded("snnsim.x", oom, memory="--batch-size") == 1
    assert (
        capsys.readouterr().err
        == "snnsim.x: error: out of memory (RuntimeError); use smaller settings (--batch-size)\n"
    )

    def bug() -> int:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        guarded("snnsim.x", bug)


def test_a_path_that_cannot_be_written_is_one_line_and_a_full_disk_exit_5(tmp_path, capsys):
    """A write refused for its path is one line naming it, exit 2 (``--out`` where an error of
    matplotlib names no path); a full disk exit 5 (the result not written); a file in the way of a
    folder is said to be one."""
    import errno

    def failing(exc: OSError):
        def body() -> int:
            raise exc

        return body

    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r.h5"))
    assert guarded("snnsim.x", failing(full)) == 5
    assert capsys.readouterr().err == f"snnsim.x: error: {tmp_path / 'r.h5'}: No space left on device\n"
    assert guarded("snnsim.x", failing(PermissionError(errno.EACCES, "Permission denied")), out="f.png") == 2
    assert capsys.readouterr().err == "snnsim.x: error: f.png: Permission denied\n"
    (tmp_path / "f").write_text("")
    assert guarded("snnsim.x", failing(FileExistsError(errno.EEXIST, "File exists", str(tmp_path / "f")))) == 2
    assert capsys.readouterr().err == f"snnsim.x: error: {tmp_path / 'f'}: exists and is not a folder\n"


def test_a_stream_the_command_replaced_stays_replaced(monkeypatch):
    """``guarded`` puts back ``sys.stdout`` and ``sys.stderr`` as it found them, but not over a
    stream that the command itself put in their place: that one stays."""
    import io

    monkeypatch.setattr(sys, "stdout", found := io.StringIO())
    mine = io.StringIO()

    def body() -> int:
        assert sys.stdout is not found  # the reader-may-go wrapper while the command runs
        sys.stdout = mine
        return 0

    assert guarded("snnsim.x", body) == 0
    assert sys.stdout is mine
    assert guarded("snnsim.x", lambda: 0) == 0 and sys.stdout is mine  # put back as found
