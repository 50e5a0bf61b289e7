"""The sweep record through the real commands: `sweep local` runs a grid in which some jobs
fail for a real reason (training that diverges at lr 1e30), then `sweep status --json` says
which failed and why (the last line of each failed job's error), the wall time and peak memory
of each done job, and `sweep submit --failed` resubmits exactly the failed ones."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

from in_process import run_here

from snnsim import results
from snnsim.sweep import cli, experiment, jobs
from snnsim.sweep.jobs import failed_path, parse_array_spec, result_path

ROOT = Path(__file__).resolve().parents[2]

# seed x lr: jobs 1 and 3 (lr 1e30) diverge in their first epoch, jobs 0 and 2 train
EXPERIMENT = """name = "st"
description = "sweep status test: two seeds, a sane and a divergent learning rate"
[fixed]
task = "ipd"
backend = "fused"
epochs = 2
n_train_batches = 2
n_test_batches = 1
batch_size = 8
hidden = 8
[sweep]
seed = [0, 1]
lr = [0.01, 1e30]
"""


def sweep(*args: str, results_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("SLURM_ARRAY_TASK_ID", None)
    return subprocess.run(
        [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(results_dir), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def here(*args: str, results_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    """:func:`sweep` in this process (in_process.run_here): for the further cases of a command
    whose first case here runs as a process of its own."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    return run_here(cli.main, "--results-dir", results_dir, *args, env=env, cwd=cwd)


def test_status_json_reasons_times_memory_and_submit_failed(tmp_path):
    toml = tmp_path / "st.toml"
    toml.write_text(EXPERIMENT)
    exp = experiment.load(toml)
    res = tmp_path / "res"
    diverging = [i for i in range(exp.grid_size) if exp.settings(i)["lr"] == 1e30]
    assert diverging == [1, 3]

    start = time.monotonic()
    # one process for the 4 jobs (a pack): each job is still written, or fails, on its own
    local = sweep("local", str(toml), "--pack", "4", "--quiet", results_dir=res, cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert local.returncode == 1, local.stdout + local.stderr
    assert "ran 4 jobs in 1 pack of" in local.stdout and "pack 0: exit code 4" in local.stdout  # EXIT_DIVERGED
    log = (res / "st" / "logs" / "pack-0.log").read_text()

    proc = sweep("status", str(toml), "--json", results_dir=res, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    st = json.loads(proc.stdout)
    assert st["done"] == [0, 2] and st["failed"] == diverging
    assert st["missing"] == st["corrupt"] == st["stale"] == st["running"] == []
    assert st["todo_array"] == "1,3"

    # the reason of a failed job: the last line of its error, as the job wrote it
    assert sorted(st["reasons"]) == ["1", "3"]
    for i in diverging:
        text = failed_path(exp, i, res).read_text()
        last = [line for line in text.splitlines() if line.strip()][-1]
        assert st["reasons"][str(i)] == last
        assert "diverged in epoch 1" in last
        assert f"job {i}: failed: {last}" in log  # the runner's own words in the job's log

    # wall time and peak memory of each done job, read back from its result file
    assert sorted(st["wall_seconds"]) == sorted(st["peak_rss_mb"]) == ["0", "2"]
    for i in (0, 2):
        wall, peak = st["wall_seconds"][str(i)], st["peak_rss_mb"][str(i)]
        trained = float(results.load(result_path(exp, i, res))["train_seconds"].sum())
        assert 0 < trained <= wall < elapsed  # the run's wall time covers its training
        assert 30 < peak < 64 * 1024  # MB: a Python process with torch, not bytes or kB

    human = here("status", str(toml), results_dir=res, cwd=tmp_path).stdout
    for i in diverging:
        assert f"job {i} failed: {st['reasons'][str(i)]}" in human
    assert "done jobs: wall time until written" in human and "to resubmit: --array=1,3" in human

    # --failed: exactly the failed indices in the array
    dry = sweep("submit", str(toml), "--failed", "--dry-run", results_dir=res, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    env, *cmd = shlex.split(dry.stdout.strip())  # the line to copy sets the results folder the jobs write to
    assert env == f"SNNSIM_RESULTS={Path(res).resolve()}"
    array = [a for a in cmd if a.startswith("--array=")]
    assert len(array) == 1 and parse_array_spec(array[0].split("=", 1)[1]) == diverging
    assert cmd[0] == "sbatch" and cmd[-1] == str(toml.resolve())
    # a job no longer failed (its marker gone, so it is missing) is left out of --failed
    failed_path(exp, 1, res).unlink()
    dry = here("submit", str(toml), "--failed", "--dry-run", results_dir=res, cwd=tmp_path)
    assert re.search(r"--array=3(\s|$)", dry.stdout), dry.stdout
    # none failed any more: nothing to submit, and it does not say that every job is done
    failed_path(exp, 3, res).unlink()
    dry = here("submit", str(toml), "--failed", "--dry-run", results_dir=res, cwd=tmp_path)
    assert dry.returncode == 0 and dry.stdout == (
        "st: nothing to submit (2 of 4 jobs done; none failed (2 missing or corrupt: without --failed they run too))\n"
    ), dry.stdout


def test_peak_memory_of_a_job_is_its_own_not_that_of_the_process_that_started_it(tmp_path):
    """A job's ``peak_rss_mb`` was ``getrusage``'s ``ru_maxrss``, which Linux carries across fork
    and exec: `sweep run` started from a process holding 2 GB (a notebook's kernel with its data)
    recorded 2 GB for a tiny job, and `status` showed it. It is the job process's own peak
    (``VmHWM``), some 0.7 GB with torch."""
    toml = tmp_path / "one.toml"
    toml.write_text(EXPERIMENT.replace('name = "st"', 'name = "one"').replace("lr = [0.01, 1e30]", "")
                    .replace("seed = [0, 1]", "seed = [0]").replace("epochs = 2", "epochs = 1"))  # fmt: skip
    res = tmp_path / "res"
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    big = "import subprocess, sys; held = bytearray(2 * 10**9); sys.exit(subprocess.run(sys.argv[1:]).returncode)"
    proc = subprocess.run([sys.executable, "-c", big, sys.executable, "-m", "snnsim.sweep", "--results-dir", str(res),
                           "run", str(toml), "0"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    peak = results.load(result_path(experiment.load(toml), 0, res)).attrs["peak_rss_mb"]
    assert 30 < peak < 1500, peak  # MB: its own (0.7 GB), not the 2 GB of the process that started it


def test_local_and_submit_name_why_a_job_they_run_again_failed_last_time(tmp_path):
    """A job that failed for its own setting (lr 1e-30: no weight changes) was run again by `sweep
    local` and sent again by `submit --failed` without a word of why it failed: it fails again the
    same way. Both name the reason its ``.failed`` marker records, one note per job."""
    toml = tmp_path / "tiny.toml"
    toml.write_text(EXPERIMENT.replace('name = "st"', 'name = "tiny"').replace("seed = [0, 1]\n", "")
                    .replace("lr = [0.01, 1e30]", "lr = [0.01, 1e-30]").replace("epochs = 2", "epochs = 1"))  # fmt: skip
    exp = experiment.load(toml)
    res = tmp_path / "res"
    first = sweep("local", str(toml), "--pack", "2", "--quiet", results_dir=res, cwd=tmp_path)
    assert first.returncode == 1 and "note: job" not in first.stderr, first.stdout + first.stderr
    reason = [line for line in failed_path(exp, 1, res).read_text().splitlines() if line.strip()][-1]
    assert "none of its weights changed" in reason and "step of lr 1e-30" in reason and "--lr" not in reason
    note = f"snnsim.sweep: note: job 1 failed last time: {reason}"
    dry = here("submit", str(toml), "--failed", "--dry-run", results_dir=res, cwd=tmp_path)
    assert dry.returncode == 0 and "--array=1 " in dry.stdout, dry.stdout
    # its notes on the failed job (a SLURM client here without a controller adds its own lines)
    assert [line for line in dry.stderr.splitlines() if "note: job" in line] == [note], dry.stderr
    again = sweep("local", str(toml), "--quiet", results_dir=res, cwd=tmp_path)
    assert again.returncode == 1 and "ran 1 job" in again.stdout, again.stdout + again.stderr
    assert [line for line in again.stderr.splitlines() if "note: job" in line] == [note], again.stderr


def test_the_notes_on_failed_jobs_name_five_and_count_the_rest(capsys):
    """Seven of the jobs to run failed last time (and one not to run): a note each for the first
    five, then one line counting the other two."""
    from snnsim.sweep.jobs import JobState

    st = [JobState(i, "failed", f"reason {i}") for i in range(8)] + [JobState(8, "missing")]
    cli._note_failures(st, [0, 1, 2, 3, 5, 6, 7, 8])
    assert capsys.readouterr().err.splitlines() == [
        *(f"snnsim.sweep: note: job {i} failed last time: reason {i}" for i in (0, 1, 2, 3, 5)),
        "snnsim.sweep: note: 2 more of these jobs failed last time (`sweep status` lists why)",
    ]
    cli._note_failures(st, [0, 1, 2, 3, 4])  # five: no count of more
    assert capsys.readouterr().err.splitlines() == [
        f"snnsim.sweep: note: job {i} failed last time: reason {i}" for i in range(5)
    ]


def test_the_jobs_to_run_again_and_why_none_are_left(capsys):
    """``local`` and ``submit`` run the missing, failed and corrupt jobs (and the stale ones with
    ``--rerun-stale``), not those done, running or queued; ``--failed`` only the failed ones. With
    nothing to run they say how many are done and which are left stale, running or queued."""
    import argparse
    from types import SimpleNamespace

    from snnsim.sweep.jobs import STATES, JobState

    st = [JobState(i, state) for i, state in enumerate(STATES)]  # done 0, running 1, ... stale 6
    ns, exp = argparse.Namespace(failed=False, rerun_stale=False, results_dir=None), SimpleNamespace(grid_size=7)
    assert cli._todo(None, ns, False, st) == [3, 4, 5]
    assert cli._todo(None, ns, True, st) == [3, 4, 5, 6]
    assert cli._todo(None, argparse.Namespace(failed=True), True, st) == [4]
    left = [s for s in st if s.state in ("done", "running", "queued", "stale")]
    assert cli._nothing_to_run(exp, ns, left) == (
        "1 of 7 jobs done; 1 stale (6: made by another config or snnsim), rerun with --rerun-stale; 1 running; "
        "1 queued in SLURM"
    )
    ns.rerun_stale = True
    assert cli._nothing_to_run(exp, ns, left) == "1 of 7 jobs done; 1 running; 1 queued in SLURM"


def test_the_help_of_status_names_every_state(capsys):
    """``python -m snnsim.sweep --help`` said that ``status`` counts "done / missing / failed /
    corrupt / stale jobs"; it counts running and queued jobs too (docs/sweeps.md)."""
    import pytest

    from snnsim.sweep.jobs import STATES

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    line = re.search(r" status (.*?) merge ", shown).group(1)  # its line, wrapped or not
    assert all(state in line for state in STATES), line


def test_the_help_of_every_sweep_command_names_a_job_state_as_status_does(capsys):
    """A job's states are ``STATES`` (``done``, not "complete": that is a tuning trial's and a
    result file's word); ``sweep run``'s help said "skipped when complete" of a job ``status``
    calls done, and docs/sweeps.md "skipped if done"."""
    import pytest

    from snnsim.sweep.jobs import STATES

    assert "done" in STATES and "complete" not in STATES
    shown = []
    for args in (["--help"], *([c, "--help"] for c in ("count", "show", "run", "submit", "local", "status", "merge"))):
        with pytest.raises(SystemExit):
            cli.main(args)
        shown.append(" ".join(capsys.readouterr().out.split()))
    assert not [text for text in shown if re.search(r"\bcomplete\b", text)], [
        re.search(r".{60}\bcomplete\b.{20}", text).group(0) for text in shown if re.search(r"\bcomplete\b", text)
    ]


def test_status_says_what_it_waits_for_while_squeue_does_not_answer(tmp_path):
    """``status`` of a grid with a recorded array job asks ``squeue`` which of its jobs still
    wait; with the SLURM controller down it sat silent for some 9 s (squeue giving up). After a
    second without an answer it says on stderr what it waits for, then notes as before that the
    waiting jobs show as missing."""
    from sweep.test_guards import first_line_while_waiting, slow_slurm_command

    from snnsim.sweep.queue import record_path

    release = tmp_path / "release"
    slow_slurm_command(tmp_path / "bin", "squeue", release)
    exp_file = tmp_path / "st.toml"
    exp_file.write_text(EXPERIMENT)
    record = record_path(experiment.loads(EXPERIMENT), tmp_path / "r")
    record.parent.mkdir(parents=True)
    record.write_text("4242 0 0\n")  # as `sweep submit` records its array job
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    argv = [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(tmp_path / "r"), "status", str(exp_file)]
    first, proc, out, err = first_line_while_waiting(argv, env, release)
    assert first is not None, "nothing on stderr while squeue waited"
    assert first.startswith("snnsim.sweep: waiting for the SLURM controller: squeue (which jobs of array job(s) "
                            "4242 still wait)"), first  # fmt: skip
    assert proc.returncode == 0 and "missing 4" in out, (out, err)
    assert err.splitlines() == [
        "snnsim.sweep: note: could not ask SLURM which jobs of array job(s) 4242 still wait (squeue: error: Unable"
        " to contact slurm controller (connect failure)); jobs waiting in the queue show as missing"
    ]


def test_status_shows_jobs_waiting_in_a_running_local_not_to_resubmit(tmp_path):
    """``sweep local -j 1`` runs job 0 and keeps jobs 1-3 for later: ``status`` meanwhile names
    them waiting in that ``local`` (its pid), not missing to resubmit. Once it is stopped, or a
    record is left that nobody holds (its ``local`` killed), they are missing to resubmit again."""
    import signal

    toml = tmp_path / "st.toml"
    toml.write_text(EXPERIMENT.replace("epochs = 2", "epochs = 5000"))
    exp = experiment.load(toml)
    res = tmp_path / "res"
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}
    proc = subprocess.Popen([sys.executable, "-m", "snnsim.sweep", "--results-dir", str(res), "local", str(toml),
                             "-j", "1", "--quiet"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        end = time.monotonic() + 120
        while "running 1" not in (text := here("status", str(toml), results_dir=res, cwd=tmp_path).stdout):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.5)
        st = json.loads(here("status", str(toml), "--json", results_dir=res, cwd=tmp_path).stdout)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    host = socket.gethostname()
    assert f"  waiting in a running `sweep local` ({host} pid {proc.pid}): 1-3\n" in text, text
    assert "to resubmit" not in text, text
    holder = f"{host} pid {proc.pid}"
    assert st["todo_array"] == "" and st["waiting_local"] == {"1": holder, "2": holder, "3": holder}, st
    (exp_dir := res / exp.name).mkdir(exist_ok=True)
    (exp_dir / f".local-{host}-1.lock").write_text(json.dumps({"holder": f"{host} pid 1", "jobs": [0, 1, 2, 3]}))
    text = here("status", str(toml), results_dir=res, cwd=tmp_path).stdout
    assert "waiting in" not in text and "to resubmit: --array=0-3" in text, text
    st = json.loads(here("status", str(toml), "--json", results_dir=res, cwd=tmp_path).stdout)
    assert st["todo_array"] == "0-3" and st["waiting_local"] == {}, st


# three blocks that train as three models in one pack: job 0 diverges in its first epoch, job 1 is
# written after one epoch, job 2 trains on
PACKED = """name = "pk"
[fixed]
study = "ipd"
backend = "fused"
n_train_batches = 2
n_test_batches = 1
batch_size = 8
[[sweep]]
hidden = [8]
lr = [1e30]
epochs = [1]
[[sweep]]
hidden = [12]
lr = [0.01]
epochs = [1]
[[sweep]]
hidden = [16]
lr = [0.01]
epochs = [100000]
"""


def test_jobs_a_pack_has_ended_are_failed_or_done_while_it_trains_on(tmp_path):
    """A pack holds every job's lock while it runs: a job it had failed (or written) showed
    `running` until the last job of the pack ended; each lock is let go as its job ends."""
    import signal

    toml = tmp_path / "pk.toml"
    toml.write_text(PACKED)
    res = tmp_path / "res"
    env = {k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"}

    def status() -> dict:
        return json.loads(here("status", str(toml), "--json", results_dir=res, cwd=tmp_path).stdout)

    proc = subprocess.Popen([sys.executable, "-m", "snnsim.sweep", "--results-dir", str(res), "run", str(toml), "0",
                             "--pack", "3"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        end = time.monotonic() + 120
        while not ((res / "pk" / "job-0.failed").exists() and (res / "pk" / "job-1.h5").exists()):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.2)
        end = time.monotonic() + 20  # the lock is let go just after the file is in place
        while (st := status())["running"] != [2] and time.monotonic() < end:
            time.sleep(0.2)
        assert proc.poll() is None, "the pack ended before the status was read"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    assert st["failed"] == [0] and st["done"] == [1] and st["running"] == [2], st
    assert "diverged in epoch 1" in st["reasons"]["0"], st


def test_commands_that_check_every_job_file_show_a_bar_on_a_terminal(tmp_path, fake_jobs):
    """``status``, ``local`` and ``submit`` read and verify every job file before a word (8 s for
    240 jobs on a loaded machine, ``status`` of a finished sweep; ``local`` 13 s to say "nothing
    to run"). A terminal shows a bar of the job files checked, cleared before their output;
    ``local --quiet`` and a log (stderr not a terminal) get no bar."""
    from sweep.test_merge import TEXT
    from terminal import on_a_terminal

    fake_jobs(tmp_path)
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    sweep = [sys.executable, "-m", "snnsim.sweep", "--results-dir", str(tmp_path)]
    for args, said in ((["status"], "m: 12 jobs in"), (["local"], "m: nothing to run"),
                       (["submit", "--dry-run"], "m: nothing to submit")):  # fmt: skip
        code, out, shown = on_a_terminal([*sweep, args[0], str(exp_file), *args[1:]], cwd=ROOT)
        assert code == 0 and out.startswith(said), (args, out, shown)
        assert "m: checking job files" in shown and "/12 [" in shown, (args, shown)
        assert not shown.replace("\r\n", "\n").split("\r")[-1].strip(), (args, shown)  # the bar's line is clear
    code, out, shown = on_a_terminal([*sweep, "local", str(exp_file), "--quiet"], cwd=ROOT)
    assert code == 0 and out.startswith("m: nothing to run") and shown == "", (out, shown)
    proc = subprocess.run([*sweep, "status", str(exp_file)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_a_stop_while_the_job_files_are_checked_is_a_line_of_its_own(tmp_path, fake_jobs, monkeypatch):
    """Ctrl-C while ``status`` drew its bar of the job files checked: the stop's line was written
    after the bar's text, on the bar's line (``big: checking job files:  17%|... 41/240 [...]snnsim.sweep:
    interrupted; ...``), as the bar was not closed on the way out. It is closed first now."""
    import io
    import signal

    from sweep.test_merge import TEXT

    from snnsim.sweep import jobs

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    fake_jobs(tmp_path)
    exp_file = tmp_path / "m.toml"
    exp_file.write_text(TEXT)
    state = jobs.state

    def stopped_at_the_third(exp, index, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if index == 2:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, as the third file is checked
        return state(exp, index, *args, **kwargs)

    monkeypatch.setattr(jobs, "state", stopped_at_the_third)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    # Ctrl-C as at a terminal: a process started in the background (CI's) inherits SIGINT ignored
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert cli.main(["--results-dir", str(tmp_path), "status", str(exp_file)]) == 130
    finally:
        signal.signal(signal.SIGINT, before)
    shown = err.getvalue()
    assert "m: checking job files" in shown and "snnsim.sweep: interrupted" in shown, shown
    before = shown[: shown.index("snnsim.sweep: interrupted")]
    assert not before.split("\n")[-1].split("\r")[-1].strip(), shown  # nothing of the bar on the line's start


def test_a_damaged_failed_marker_is_named_in_one_line_not_printed_raw(tmp_path):
    """A job's ``.failed`` marker of random bytes (a damaged disk, a file copied over it) was shown
    as its reason by `status`, `status --json` and the notes of `submit --failed`: control
    characters and all, straight to the terminal. Now it is named as such, in one printable line;
    a marker that is text (as the runner writes it) stays as it is."""
    toml = tmp_path / "tiny.toml"
    toml.write_text(EXPERIMENT.replace('name = "st"', 'name = "tiny"'))
    exp = experiment.load(toml)
    res = tmp_path / "res"
    failed_path(exp, 0, res).parent.mkdir(parents=True)
    failed_path(exp, 0, res).write_text('{"index": 0}\nTraceback ...\nValueError: lr 1e30 diverged\n')
    damaged = bytes(range(256)) + b"\x1b[2J\xff\xfe\n\x07\x00"
    failed_path(exp, 1, res).write_bytes(damaged)
    coloured = b'{"index": 2}\nnot \x1b[31mtext\x1b[0m\n'
    failed_path(exp, 2, res).write_bytes(coloured)
    failed_path(exp, 3, res).mkdir()  # not a file: cannot be read
    why = f"its .failed marker is unreadable: {len(damaged)} bytes not text"
    status = here("status", str(toml), results_dir=res, cwd=tmp_path)
    lines = status.stdout.splitlines()
    assert "    job 0 failed: ValueError: lr 1e30 diverged" in lines, status.stdout
    assert f"    job 1 failed: {why}" in lines, status.stdout
    assert "    job 2 failed: not text" in lines, status.stdout  # colour codes: text (next test)
    assert any(re.fullmatch(r"    job 3 failed: its \.failed marker is unreadable \(.+\)", ln) for ln in lines), lines
    assert all(ch.isprintable() for ch in status.stdout.replace("\n", "")), status.stdout
    reasons = json.loads(here("status", str(toml), "--json", results_dir=res, cwd=tmp_path).stdout)["reasons"]
    assert reasons["0"] == "ValueError: lr 1e30 diverged" and reasons["1"] == why, reasons
    dry = here("submit", str(toml), "--failed", "--dry-run", results_dir=res, cwd=tmp_path)
    assert f"snnsim.sweep: note: job 1 failed last time: {why}" in dry.stderr.splitlines(), dry.stderr
    # a marker removed between its listing and its read (the job started again) is no unreadable one
    assert jobs._last_line(tmp_path / "gone.failed") == ""


def test_a_failed_marker_in_colour_is_shown_without_its_colour_codes(tmp_path):
    """A failure message from a library that colours its output (ANSI escape sequences) made the
    job's ``.failed`` marker "unreadable: N bytes not text" in `status`; it is text: its last line
    is shown without the escape sequences, and another control character in it made printable.
    A marker of NUL bytes (cut by a crash) or of bytes that are not UTF-8 is still named damaged."""
    toml = tmp_path / "tiny.toml"
    toml.write_text(EXPERIMENT.replace('name = "st"', 'name = "tiny"'))
    exp = experiment.load(toml)
    res = tmp_path / "res"
    failed_path(exp, 0, res).parent.mkdir(parents=True)
    failed_path(exp, 0, res).write_bytes(
        b'{"index": 0}\nTraceback ...\n\x1b[1;31mRuntimeError\x1b[0m: \x1b]8;;https://x\x07CUDA\x1b]8;;\x1b\\ failed\n'
    )
    status = here("status", str(toml), results_dir=res, cwd=tmp_path)
    assert "    job 0 failed: RuntimeError: CUDA failed" in status.stdout.splitlines(), status.stdout
    marker = tmp_path / "m.failed"
    marker.write_bytes(b"\x1b[33mwarning\x1b[m\nbell\x07 \xc3\xa9t\xc3\xa9\n")
    assert jobs._last_line(marker) == "bell\\x07 \u00e9t\u00e9"
    for damaged in (b"\x00" * 4096, b"ok\n\xff\xfe\n"):
        marker.write_bytes(damaged)
        assert jobs._last_line(marker) == f"its .failed marker is unreadable: {len(damaged)} bytes not text"


def test_a_corrupt_job_is_to_resubmit_with_the_missing_ones(tmp_path):
    """A job whose file is damaged (here: bytes that are no HDF5) is run again by ``local`` and
    ``submit``: ``status`` lists it among those to resubmit, in its text and its JSON."""
    toml = tmp_path / "st.toml"
    toml.write_text(EXPERIMENT)
    res = tmp_path / "res"
    exp = experiment.load(toml)
    result_path(exp, 1, res).parent.mkdir(parents=True)
    result_path(exp, 1, res).write_bytes(b"not a result file")
    st = json.loads(here("status", str(toml), "--json", results_dir=res, cwd=tmp_path).stdout)
    assert (st["corrupt"], st["missing"], st["todo_array"]) == ([1], [0, 2, 3], "0-3"), st
    text = here("status", str(toml), results_dir=res, cwd=tmp_path).stdout
    assert "  corrupt: 1\n" in text and text.rstrip().endswith("to resubmit: --array=0-3"), text


def test_a_corrupt_job_is_named_as_a_run_names_its_file(tmp_path):
    """``status`` gave a job file of text, an empty one and one cut short h5py's words, "unreadable
    (OSError: Unable to synchronously open file (file signature not found))" and "(truncated file:
    eof = 2000, sblock->base_addr = 0, stored_eof = ...)", where every command that reads a result
    file says what it is: "a text file", "an empty file", "cut short (2,000 of its ... bytes ...)"."""
    import h5py
    import numpy as np

    toml = tmp_path / "st.toml"
    toml.write_text(EXPERIMENT)
    res = tmp_path / "res"
    exp = experiment.load(toml)
    result_path(exp, 1, res).parent.mkdir(parents=True)
    result_path(exp, 1, res).write_bytes(b"not a result file\n")
    result_path(exp, 2, res).write_bytes(b"")
    whole = tmp_path / "whole.h5"
    with h5py.File(whole, "w") as f:
        f["x"] = np.arange(4096.0)
    size = whole.stat().st_size
    result_path(exp, 3, res).write_bytes(whole.read_bytes()[:2000])
    text = here("status", str(toml), results_dir=res, cwd=tmp_path).stdout
    lines = [line.strip() for line in text.splitlines() if "corrupt:" in line and line.strip().startswith("job")]
    assert lines == [
        "job 1 corrupt: a text file, not a result file (HDF5)",
        "job 2 corrupt: an empty file, not a result file (HDF5)",
        f"job 3 corrupt: cut short (2,000 of its {size:,} bytes; a copy or download that did not finish?)",
    ], text
