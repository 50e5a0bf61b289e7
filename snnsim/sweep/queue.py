"""The jobs of an experiment that wait in (or run from) a SLURM queue.

``sweep submit`` records each array job it submits in ``RESULTS/NAME/.slurm-submitted``
(one line: ``JOBID PACK``, ``PACK`` 0 without ``--pack``). :func:`queued` asks ``squeue`` which
tasks of those array jobs are still in the queue, so that ``status`` shows their jobs as
*queued*, not missing, and a second ``submit`` does not submit them again. An array job sent
by ``sbatch slurm/array.sh`` directly is not recorded, and its jobs stay *missing* until they
start.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import SnnsimError
from .experiment import Experiment
from .jobs import job_dir, pack_indices

RECORD = ".slurm-submitted"


def record_path(exp: Experiment, root: str | os.PathLike | None = None) -> Path:
    return job_dir(exp, root) / RECORD


def _recorded(exp: Experiment, root: str | os.PathLike | None) -> list[tuple[str, int]]:
    """The recorded ``(array job id, pack size)`` pairs; none where the record is absent or unreadable."""
    try:
        lines = record_path(exp, root).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            out.append((parts[0], int(parts[1])))
    return out


def _queue() -> dict[str, dict[int, str]] | None:
    """This user's array tasks in the SLURM queue: array job id -> task id -> state
    (``PENDING``, ``RUNNING``, ...); None where ``squeue`` is absent or does not answer."""
    if shutil.which("squeue") is None:
        return None
    try:
        proc = subprocess.run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%F %K %T"],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    out: dict[str, dict[int, str]] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():  # a job that is no array has task "N/A"
            out.setdefault(parts[0], {})[int(parts[1])] = parts[2]
    return out


def queued(exp: Experiment, root: str | os.PathLike | None = None) -> dict[int, str]:
    """Job index -> where it waits (``"SLURM job 123_4 PENDING"``), for the jobs of the array
    jobs ``sweep submit`` recorded that are still in the queue; {} where none is recorded or
    ``squeue`` does not answer."""
    recorded = _recorded(exp, root)
    queue = _queue() if recorded else None
    if not queue:
        return {}
    out: dict[int, str] = {}
    for job, pack in recorded:
        for task, state in queue.get(job, {}).items():
            try:
                indices = pack_indices(exp, pack, task) if pack else [exp.check_index(task)]
            except SnnsimError:  # the experiment file changed since: not a task of this grid
                continue
            for index in indices:
                out.setdefault(index, f"SLURM job {job}_{task} {state}")
    return out


def record(exp: Experiment, root: str | os.PathLike | None, job: str, pack: int) -> None:
    """Record the array job ``job`` (of packs of ``pack`` jobs, 0: none) that ``sweep submit``
    sent, keeping only the recorded jobs still in the queue."""
    queue = _queue() or {}
    kept = [(j, p) for j, p in _recorded(exp, root) if j in queue]
    path = record_path(exp, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{j} {p}\n" for j, p in [*kept, (job, pack)]))
