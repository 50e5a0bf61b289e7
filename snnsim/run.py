"""Command line: ``python -m snnsim.run --readout fr --tau 2ms``.

Parses flags into a :class:`~snnsim.config.RunConfig`, runs the task, writes the result file
and prints a summary table. Bad input: one line on stderr naming the flag, exit code 2,
nothing written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import DEVICES, EVAL_MODES, INIT_MODES, PHASE_MODES, READOUT_ALIASES, TASKS as TASK_NAMES, RunConfig
from .errors import SnnsimError
from .units import parse_duration

EXIT_USAGE = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``snnsim.run: error: ...``) and exit code 2."""

    def error(self, message: str):  # noqa: D401
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser() -> OneLineParser:
    from .backends import BACKENDS
    from .readouts import READOUTS

    p = OneLineParser(prog="snnsim.run", description=__doc__.splitlines()[0],
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                      argument_default=argparse.SUPPRESS)
    d = RunConfig()
    g = p.add_argument_group("run")
    g.add_argument("--task", choices=TASK_NAMES, help=f"study (default {d.task})")
    g.add_argument("--backend", choices=tuple(BACKENDS), help=f"neuron library (default {d.backend})")
    g.add_argument("--readout", choices=tuple(READOUTS) + tuple(READOUT_ALIASES), help=f"readout (default {d.readout}; oc = mean)")
    g.add_argument("--tau", type=_duration, help="membrane time constant with a unit: 2ms, 0.002s, 2000us (default 20ms)")
    g.add_argument("--dt", type=_duration, help="simulation step with a unit (default 1ms)")
    g.add_argument("--hidden", type=positive_int, help=f"hidden LIF neurons (default {d.hidden})")
    g.add_argument("--epochs", type=positive_int, help=f"training epochs (default {d.epochs})")
    g.add_argument("--batch-size", type=positive_int, help=f"mini-batch size (default {d.batch_size})")
    g.add_argument("--lr", type=_positive_float, help=f"Adam learning rate (default {d.lr})")
    g.add_argument("--repeats", type=positive_int, help=f"independent trainings; repeat r uses seed+r (default {d.repeats})")
    g.add_argument("--batch-repeats", action=argparse.BooleanOptionalAction,
                   help="train the repeats as one batched model (same numbers, faster; default on)")
    g.add_argument("--seed", type=non_negative_int, help=f"random seed (default {d.seed})")
    g.add_argument("--init", choices=INIT_MODES, help=f"weight initialisation (default {d.init})")
    g.add_argument("--device", choices=DEVICES, help=f"where to train (default {d.device})")
    g.add_argument("--threshold", type=_positive_float, help=f"spike threshold (default {d.threshold})")
    g.add_argument("--surrogate-slope", type=_positive_float, help=f"sigmoid surrogate slope (default {d.surrogate_slope})")
    i = p.add_argument_group("ipd")
    i.add_argument("--phase", choices=PHASE_MODES, help=f"phase offset per data set (notebook) or per sample (default {d.phase})")
    i.add_argument("--eval", choices=EVAL_MODES, help=f"score with the training readout or the notebook's sum over time (default {d.eval})")
    i.add_argument("--n-train-batches", type=positive_int, help=f"training set size in batches (default {d.n_train_batches})")
    i.add_argument("--n-test-batches", type=positive_int, help=f"test set size in batches (default {d.n_test_batches})")
    b = p.add_argument_group("bmi")
    b.add_argument("--data", help="bmi_dataset.pkl (default: the synthetic data set)")
    b.add_argument("--target", help=f"theta, dtheta, ddtheta or torque (default {d.target})")
    b.add_argument("--dim", dest="dims", action="append", help="output column (0 shoulder, 1 elbow); twice, or 'all' (default 0)")
    b.add_argument("--rotation", type=non_negative_int, help=f"fold rotation 0..19 (default {d.rotation})")
    b.add_argument("--n-train-folds", type=positive_int, help=f"training folds 1..18 (default {d.n_train_folds})")
    b.add_argument("--model", help=f"snn, ann or linear (default {d.model})")
    b.add_argument("--mi-order", help=f"MI column order: neuron-major or bin-major (default {d.mi_order})")
    b.add_argument("--patience", type=positive_int, help=f"early-stopping patience in epochs (default {d.patience})")
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, help="result file (.h5); default: none written")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _dims(values: list[str]) -> tuple[int, ...]:
    if any(v == "all" for v in values):
        return (0, 1)
    dims = []
    for v in values:
        if v not in ("0", "1"):
            raise SnnsimError(f"--dim: expected 0, 1 or all, got {v!r}")
        dims.append(int(v))
    return tuple(dict.fromkeys(dims))


def config_from_args(ns: argparse.Namespace) -> RunConfig:
    settings = {k: v for k, v in vars(ns).items() if k not in ("out", "quiet")}
    if "dims" in settings:
        settings["dims"] = _dims(settings["dims"])
    return RunConfig(**settings)


def execute(cfg: RunConfig, out: Path | None = None, progress: bool = True):
    """Run one config and write its result file (atomically) when ``out`` is given."""
    from . import results
    from .tasks import TASKS

    if out is not None:
        results.check_writable(out)
    ds = TASKS[cfg.task].run(cfg, progress=progress)
    if out is not None:
        results.write(ds, out)
    return ds


def main(argv: list[str] | None = None) -> int:
    from .openmp import prefer_passive_wait

    prefer_passive_wait()  # before torch is imported: the fused kernels' threads (snnsim/openmp.py)
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        cfg = config_from_args(ns)
        out = getattr(ns, "out", None)
        from .tasks import TASKS

        ds = execute(cfg, out, progress=not getattr(ns, "quiet", False))
    except SnnsimError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; no result file written", file=sys.stderr)
        return 130
    print(TASKS[cfg.task].summarise(ds))
    if out is not None:
        print(f"result file: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
