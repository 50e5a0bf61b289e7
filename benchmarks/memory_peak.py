"""The memory check's estimate against the real peak: ``python benchmarks/memory_peak.py MODULE
ARGS...`` runs ``python -m MODULE ARGS...`` (``snnsim.run`` or ``snnsim.sweep``) in this process
and prints, on stderr, the process's resident memory when the runner checks memory (after the
imports, before any data), the estimate it checks (``runner.check_memory``: the studies'
``memory_bytes``), and the peak resident memory at the end (``getrusage``), with the increment
from the first to the last, which is what the estimate is for (docs/sweeps.md, "Memory")."""

import resource
import runpy
import sys

from snnsim import runner
from snnsim.studies import get_study

seen: dict[str, int] = {}
check = runner.check_memory


def measured(cfgs, batches):  # noqa: ANN001, ANN201
    with open("/proc/self/statm") as fh:
        seen["rss"] = int(fh.read().split()[1]) * resource.getpagesize()
    data, largest = {}, 0
    for members in batches:  # as runner.check_memory adds it up
        work = 0
        for i, r in members:
            study = get_study(cfgs[i].study)
            data_bytes, model_bytes = study.memory_bytes(cfgs[i])
            data[(study.name, study.data_key(cfgs[i], cfgs[i].seed + r))] = data_bytes
            work += model_bytes
        largest = max(largest, work)
    seen["estimate"] = sum(data.values()) + largest
    return check(cfgs, batches)


runner.check_memory = measured
module, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_module(module, run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if "rss" in seen:
    increment = peak - seen["rss"]
    print(f"peak {peak / 1e6:.0f} MB; at the check {seen['rss'] / 1e6:.0f} MB; increment {increment / 1e6:.0f} MB; "
          f"estimate {seen['estimate'] / 1e6:.0f} MB ({seen['estimate'] / increment:.2f} x the increment)",
          file=sys.stderr)  # fmt: skip
sys.exit(code)
