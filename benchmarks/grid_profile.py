"""Where a sweep's CPU time goes: a py-spy raw profile of ``sweep local`` summed by stage.

    py-spy record --subprocesses --rate 20 --format raw -o grid.txt -- \\
        python -m snnsim.sweep --results-dir /tmp/grid local ipd_readouts_corrected -j 2 --pack 30 --quiet
    python benchmarks/grid_profile.py grid.txt --rate 20

Each sample is put in the first stage (in the order of ``STAGES``) whose function is on its
stack; seconds are samples / rate, summed over the processes and per job process.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

from snnsim.cli import OneLineParser, description_of, guarded, positive_float
from snnsim.errors import SnnsimError

#: (stage, the functions that mark it), the first match wins.
STAGES = (
    ("the sweep's own process", ("cmd_local",)),
    ("evaluation: cost metrics", ("cost_of",)),
    ("evaluation: predictions", ("IPDStudy.evaluate",)),
    ("training: net_bwd (the kernel call)", ("_PerSample.backward",)),
    ("training: net_fwd (the kernel call)", ("_PerSample.forward",)),
    ("training: the rest (readout, loss, autograd, Adam, Python)", ("IPDTrainer.epoch",)),
    ("data: stimuli and index lists", ("DataCache.get",)),
    ("result files", ("run_jobs.<locals>.write",)),
    ("torch's optimiser import (torch._dynamo)", ("_import_optimisers",)),
    ("imports", ("_find_and_load",)),
)
NO_PYTHON = "a process's start and end (no Python frame)"
OTHER = "other"


def stage_of(functions: list[str]) -> str:
    """The stage of one stack (its function names, outermost first)."""
    present = set(functions)
    if all(f.startswith("process ") for f in functions):
        return NO_PYTHON
    for stage, marks in STAGES:
        if present.intersection(marks):
            return stage
    return OTHER


def summarise(lines: list[str], rate: float) -> tuple[dict[str, float], int]:
    """Seconds per stage summed over every process, and the number of job processes."""
    seconds: dict[str, float] = collections.defaultdict(float)
    processes = set()
    for line in lines:
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        functions = [re.sub(r" \(.*", "", f) for f in frames]
        seconds[stage_of(functions)] += int(count) / rate
        jobs = [f for f in frames if f.startswith("process ") and " run " in f]
        if jobs:
            processes.add(jobs[0].split(":")[0])
    return dict(seconds), len(processes)


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=description_of(__doc__))
    ap.add_argument("profile", help="py-spy record --format raw output")
    ap.add_argument("--rate", type=positive_float, default=20, help="py-spy's --rate, samples per second (default 20)")
    args = ap.parse_args(argv)
    try:
        with open(args.profile) as f:
            seconds, n = summarise(f.readlines(), args.rate)
    except OSError as exc:
        raise SnnsimError(f"{args.profile}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise SnnsimError(f"{args.profile}: not a raw py-spy profile (py-spy record --format raw)") from None
    if not seconds:
        raise SnnsimError(f"{args.profile}: no samples in it (py-spy record --format raw)")
    total = sum(seconds.values())
    per = max(n, 1)
    print(f"{total:.1f} s sampled in all, {n} job processes")
    print("| stage | s in all | s per job process | share |\n|---|---|---|---|")
    for stage, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {stage} | {s:.1f} | {s / per:.1f} | {100 * s / total:.0f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(Path(__file__).name, main))
