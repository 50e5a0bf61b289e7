"""The memory check's estimate against the real peak: ``python benchmarks/memory_peak.py MODULE
ARGS...`` runs ``python -m MODULE ARGS...`` (``snnsim.run`` or ``snnsim.sweep``) in this process
and prints, on stderr, the process's resident memory when the runner checks memory (after the
imports, before any data), the estimate it checks (``runner.estimate_memory``), and the peak
resident memory at the end (``runner.peak_memory``), with the increment from the first to the
last, which is what the estimate is for (docs/sweeps.md, "Memory"). ``snnsim.sweep local`` and ``submit``, whose
jobs run in processes of their own, are refused; a command that reaches no memory check here (a
job already complete) says that nothing was measured, exit 1."""

import argparse
import resource
import runpy
import sys
from pathlib import Path

from snnsim import runner
from snnsim.cli import OneLineParser, description_of, guarded
from snnsim.errors import EXIT_FAILED

#: The commands whose runs call the runner's memory check.
MODULES = ("snnsim.run", "snnsim.sweep")
#: The sweep commands whose jobs run in processes of their own (or on SLURM), out of this one's sight.
ELSEWHERE = ("local", "submit")

seen: dict[str, int] = {}
check = runner.check_memory


def measured(cfgs, batches):  # noqa: ANN001, ANN201
    with open("/proc/self/statm") as fh:
        seen["rss"] = int(fh.read().split()[1]) * resource.getpagesize()
    seen["estimate"] = runner.estimate_memory(cfgs, batches)
    return check(cfgs, batches)


def sweep_command(args: list[str]) -> str | None:
    """The command of ``python -m snnsim.sweep ARGS`` (``local`` of ``--results-dir DIR local EXP``)."""
    words = iter(args)
    for word in words:
        if word == "--results-dir":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog=Path(__file__).name, description=description_of(__doc__))
    p.add_argument(
        "module", choices=MODULES, metavar="MODULE", help="the command to run and measure: snnsim.run or snnsim.sweep"
    )
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="its arguments, as given to python -m MODULE")
    ns = p.parse_args(argv)
    if ns.module == "snnsim.sweep" and (command := sweep_command(ns.args)) in ELSEWHERE:
        p.error(f"snnsim.sweep {command} runs its jobs in processes of their own, which this one cannot measure; "
                "measure one job or pack: snnsim.sweep run EXP INDEX [--pack K]")  # fmt: skip
    runner.check_memory = measured
    sys.argv = [ns.module, *ns.args]
    try:
        runpy.run_module(ns.module, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    peak = runner.peak_memory()
    if "rss" not in seen and code == 0 and not {"-h", "--help"} & set(ns.args):
        print(f"{p.prog}: error: nothing measured: no run of python -m {ns.module} reached the memory check in "
              "this process (a job already complete is skipped)", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    if "rss" in seen:
        increment = peak - seen["rss"]
        print(f"peak {peak / 1e6:.0f} MB; at the check {seen['rss'] / 1e6:.0f} MB; increment {increment / 1e6:.0f} MB; "
              f"estimate {seen['estimate'] / 1e6:.0f} MB ({seen['estimate'] / increment:.2f} x the increment)",
              file=sys.stderr)  # fmt: skip
    return code


if __name__ == "__main__":
    sys.exit(guarded(Path(__file__).name, main))
