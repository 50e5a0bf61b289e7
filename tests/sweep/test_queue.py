"""The SLURM queue's bookkeeping that needs no cluster: a task's log name filled in from sbatch's
``--error`` pattern, and a job's failure read from its task's log (``tests/sweep/test_slurm_e2e.py``
runs them on a cluster)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from snnsim.sweep import queue
from snnsim.sweep.queue import _failed_in_log, _fill_in

if TYPE_CHECKING:
    from snnsim.sweep.experiment import Experiment


@pytest.mark.parametrize(
    "pattern, fields, keep, expected",
    [
        ("logs/%x_%A_%a.err", {"x": "smoke", "A": "42"}, "a%", "logs/smoke_42_%a.err"),  # as submit records it
        ("logs/smoke_42_%a.err", {"a": "7", "%": "%"}, "", "logs/smoke_42_7.err"),  # then a task's
        ("logs/%x_%A_%4a.err", {"x": "s", "A": "42", "a": "7"}, "", "logs/s_42_0007.err"),  # %4a: zero-padded to 4
        ("logs/%3A-%2a.err", {"A": "42", "a": "123"}, "", "logs/042-123.err"),  # padding never cuts
        ("logs/100%%-%a.err", {"a": "3", "%": "%"}, "", "logs/100%-3.err"),
        ("logs/%x_%j.err", {"x": "s"}, "a%", None),  # %j: the task's own job id, not known here
        ("logs/%N.err", {}, "a%", None),
    ],
)
def test_fill_in_a_log_pattern(pattern, fields, keep, expected):
    assert _fill_in(pattern, fields, keep) == expected


LOG = """snnsim.sweep: job 2 (1 of 4) of smoke: readout=max seed=0
snnsim.sweep: job 2: not written: cannot write results/smoke/job-2.h5: No space left on device
snnsim.sweep: job 12 (2 of 4) of smoke: readout=fr seed=0
snnsim.sweep: job 12: wrote results/smoke/job-12.h5
"""


def test_a_jobs_failure_is_the_last_of_its_lines_in_its_tasks_log(tmp_path):
    """A job's last line in the log tells: not written (or failed) is its failure; a start after it
    (the job run again by a requeued task), a result written, or no line of it at all are none. The
    task's own one-line error counts where a write failed (a full disk), not where it was refused."""
    log = tmp_path / "task.err"
    log.write_text(LOG)
    why = "not written: cannot write results/smoke/job-2.h5: No space left on device"
    assert _failed_in_log(log, 2) == why
    assert _failed_in_log(log, 12) is None and _failed_in_log(log, 1) is None
    log.write_text(LOG + "snnsim.sweep: job 2 (1 of 4) of smoke: readout=max seed=0\n")  # requeued: it runs again
    assert _failed_in_log(log, 2) is None
    log.write_text(LOG + "snnsim.sweep: job 12: failed: hidden: must be positive\n")
    assert (_failed_in_log(log, 2), _failed_in_log(log, 12)) == (why, "failed: hidden: must be positive")
    full = "cannot write results/smoke/.job-1.lock: No space left on device; nothing written there"
    log.write_text(f"snnsim.sweep: error: {full}\n")
    assert _failed_in_log(log, 1) == full
    log.write_text("snnsim.sweep: error: x.toml: no 'name'\n")  # refused: the file edited since submit
    assert _failed_in_log(log, 1) is None
    assert _failed_in_log(tmp_path / "none.err", 1) is None


def test_a_log_read_from_its_end_cuts_no_character(tmp_path):
    """The log's tail is read by bytes: where the read began, or the task was still writing, inside
    a character of more than one byte (a path with an accent), the lines had U+FFFD in them, and
    `status` showed a job's failure with one. Now the line cut where the read began is left out
    and a character not yet all written is dropped."""
    log = tmp_path / "task.err"
    log.write_bytes("snnsim.sweep: job 2: not written: cannot write r\u00e9s\u00e9".encode()[:-1])
    assert _failed_in_log(log, 2) == "not written: cannot write r\u00e9s"
    start = "snnsim.sweep: job 1: not written: cannot write caf\u00e9/" + "\u00e9" * 40_000 + "\n"
    lines = ["snnsim.sweep: job 5 (1 of 4) of smoke: seed=10", "snnsim.sweep: job 5: wrote r\u00e9s/job-5.h5"]
    data = start.encode() + "\n".join(lines).encode() + b"\n"
    cut = len(data) - queue.LOG_TAIL
    assert cut > 0 and data[cut] & 0xC0 == 0x80, "the read begins inside a character"
    log.write_bytes(data)
    assert queue._log_tail(log) == lines
    log.write_bytes(data + "snnsim.sweep: job 2: not written: cannot write r\u00e9s\u00e9".encode()[:-1])
    assert queue._log_tail(log) == [*lines, "snnsim.sweep: job 2: not written: cannot write r\u00e9s"]
    assert _failed_in_log(log, 2) == "not written: cannot write r\u00e9s"
    log.write_bytes(b"snnsim.sweep: job 2: failed: bad \xff byte\n")  # not UTF-8 in the log itself: shown as such
    assert _failed_in_log(log, 2) == "failed: bad \ufffd byte"


QUEUE = """name = "q"
[fixed]
study = "bmi"
model = "linear"
[sweep]
seed = [0, 1, 2, 3, 4]
"""


def _recorded_in_a_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: str, lines: str) -> Experiment:
    """Experiment ``QUEUE`` whose ``record`` of submitted array jobs (``id pack reruns-stale`` lines)
    is written under ``tmp_path / "r"``, and an ``squeue`` on the PATH that answers ``lines``
    (``%F|%K|%T|%r``, ``\\n`` between them) as SLURM does."""
    from snnsim.sweep.experiment import loads
    from snnsim.sweep.queue import record_path

    exp = loads(QUEUE)
    path = record_path(exp, tmp_path / "r")
    path.parent.mkdir(parents=True)
    path.write_text(record)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(f"#!/bin/sh\nprintf '{lines}\\n'\n")
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return exp


def test_queued_jobs_are_those_of_the_recorded_tasks_still_waiting(tmp_path, monkeypatch):
    """Three recorded array jobs, an ``squeue`` that answers as SLURM does (``%F|%K|%T|%r``): a task of
    packs of 2 runs pack 1 (jobs 1 and 4, every third job), a task without packs its own job; an
    ending (COMPLETING) task runs none, a stale job is waited for only where its array job reruns
    stale jobs, and a job that is no array has no task."""
    from snnsim.sweep.queue import queued

    exp = _recorded_in_a_queue(tmp_path, monkeypatch, "4242 2 0\n4343 0 1\n4444 0 0\n",  # id, pack size, reruns stale
                               "4242|1|PENDING|Priority\\n4343|3|RUNNING|None\\n4343|0|COMPLETING|None\\n"
                               "4444|2|PENDING|JobHeldUser\\n999|N/A|RUNNING|None")  # fmt: skip
    waiting = {1: ("4242_1", "PENDING (Priority)"), 4: ("4242_1", "PENDING (Priority)"), 3: ("4343_3", "RUNNING")}
    assert queued(exp, tmp_path / "r", stale={2, 3}) == waiting  # 4343 reruns stale jobs, 4444 does not
    assert queued(exp, tmp_path / "r") == {**waiting, 2: ("4444_2", "PENDING (JobHeldUser)")}


def test_a_job_two_array_jobs_hold_is_shown_in_the_task_that_runs_it(tmp_path, monkeypatch):
    """A job submitted twice (a second ``submit`` while the first array job still waits) is in the
    tasks of both: the first recorded one was shown, though the later one runs it (``queued``,
    where the job runs in another task). A task that runs it is shown over one that waits; of
    two that wait, the first recorded, as before."""
    from snnsim.sweep.queue import queued

    exp = _recorded_in_a_queue(tmp_path, monkeypatch, "4242 0 0\n4343 0 0\n4444 0 0\n",
                               "4242|1|PENDING|Priority\\n4343|1|RUNNING|None\\n4444|1|PENDING|Priority\\n"
                               "4242|2|PENDING|Priority\\n4444|2|PENDING|Resources")  # fmt: skip
    assert queued(exp, tmp_path / "r") == {1: ("4343_1", "RUNNING"), 2: ("4242_2", "PENDING (Priority)")}


def test_states_of_jobs_queued_running_in_slurm_and_failed_in_a_tasks_log(tmp_path, monkeypatch):
    """No job has a file: one whose task SLURM runs is running (starting), one whose task waits is
    queued (but running where a process holds its lock), and one whose task has left the queue failed
    where the log of the last array job that ran it says so (an older array job's log says
    otherwise); the other is missing."""
    from snnsim.sweep.experiment import loads
    from snnsim.sweep.jobs import job_lock, states
    from snnsim.sweep.queue import record_path

    exp = loads(QUEUE)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "4100_0.err").write_text("snnsim.sweep: job 0: failed: an older reason\n")
    (logs / "4242_0.err").write_text("snnsim.sweep: job 0 (1 of 5) of q: seed=0\n"
                                     "snnsim.sweep: job 0: not written: cannot write x.h5: No space left on device\n")  # fmt: skip
    record = record_path(exp, tmp_path / "r")
    record.parent.mkdir(parents=True)
    record.write_text(f"4100 0 0 {logs}/4100_%a.err\n4242 0 0 {logs}/4242_%a.err\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(
        "#!/bin/sh\nprintf '4242|1|RUNNING|None\\n4242|2|PENDING|Priority\\n4242|3|PENDING|Priority\\n'\n"
    )
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    lock = job_lock(exp, 3, tmp_path / "r")
    assert lock.acquire(wait=0)
    try:
        got = [(s.index, s.state, s.reason) for s in states(exp, tmp_path / "r")]
    finally:
        lock.release()
    assert got == [
        (
            0,
            "failed",
            f"not written: cannot write x.h5: No space left on device (SLURM job 4242_0, log {logs}/4242_0.err)",
        ),
        (1, "running", "(starting) in SLURM job 4242_1"),
        (2, "queued", "SLURM job 4242_2 PENDING (Priority)"),
        (3, "running", f"by {socket.gethostname()} pid {os.getpid()}"),
        (4, "missing", ""),
    ]


def test_the_record_of_submitted_array_jobs_is_read_line_by_line(tmp_path):
    """``sweep submit``'s record: id, pack size, reruns stale jobs, where its tasks log (a path with a
    space kept whole); a line of two fields, as snnsim wrote them first, reruns no stale job; a line
    of no array job is skipped."""
    from snnsim.sweep.experiment import loads
    from snnsim.sweep.queue import _recorded, record_path

    exp = loads(QUEUE)
    record = record_path(exp, tmp_path)
    record.parent.mkdir(parents=True)
    record.write_text("4100 0\n4242 2 1 /my logs/q_%a.err\nnot a record\n4343 0 0\n")
    assert _recorded(exp, tmp_path) == [
        ("4100", 0, False, None),
        ("4242", 2, True, "/my logs/q_%a.err"),
        ("4343", 0, False, None),
    ]


@pytest.mark.parametrize("answers", [True, False])
def test_a_submit_keeps_the_recorded_array_jobs_still_queued_and_all_where_squeue_does_not_answer(
    tmp_path, monkeypatch, answers
):
    """``record`` adds the new array job and keeps those of the record that ``squeue`` lists; where
    ``squeue`` does not answer it keeps every one (no answer is no sign that they have left the
    queue: dropped, their waiting jobs would show missing and be submitted again)."""
    from snnsim.sweep.experiment import loads
    from snnsim.sweep.queue import _recorded, record, record_path

    exp = loads(QUEUE)
    path = record_path(exp, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("4100 0 0\n4242 2 1\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = 'case "$*" in *-O*) exit 0;; esac\nprintf "4242|1|PENDING|Priority\\n"\n' if answers else "exit 1\n"
    (bin_dir / "squeue").write_text("#!/bin/sh\n" + script)
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    record(exp, tmp_path, "4343", 0)
    kept = [("4242", 2, True, None)] if answers else [("4100", 0, False, None), ("4242", 2, True, None)]
    assert _recorded(exp, tmp_path) == [*kept, ("4343", 0, False, None)]


def test_a_job_that_a_running_pack_task_has_failed_is_failed_not_starting(tmp_path, monkeypatch):
    """A SLURM task of packs of 2 runs pack 1 (jobs 1 and 4) and holds job 1's lock: it has started,
    so its job 4, failed already (its marker), is failed, not ``running (starting)`` as a job of a
    task that has not taken any lock yet is."""
    from snnsim.sweep.experiment import loads
    from snnsim.sweep.jobs import failed_path, job_lock, states
    from snnsim.sweep.queue import record_path

    exp = loads(QUEUE)
    root = tmp_path / "r"
    record = record_path(exp, root)
    record.parent.mkdir(parents=True)
    record.write_text("4242 2 0\n")
    failed_path(exp, 4, root).write_text('{"index": 4}\nfailed: hidden: must be positive\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text("#!/bin/sh\nprintf '4242|1|RUNNING|None\\n'\n")
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    lock = job_lock(exp, 1, root)
    assert lock.acquire(wait=0)
    try:
        got = {s.index: (s.state, s.reason) for s in states(exp, root)}
    finally:
        lock.release()
    assert got[1] == ("running", f"by {socket.gethostname()} pid {os.getpid()}")
    assert got[4] == ("failed", "failed: hidden: must be positive")
