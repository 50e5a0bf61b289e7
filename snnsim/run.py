"""Command line: ``python -m snnsim.run --readout fr --tau 2ms``: one run, its table, its result file.

Every flag is a :class:`~snnsim.config.RunConfig` field (``--batch-size`` <-> ``batch_size``);
the config checks the values, so a bad one gets the config's one-line message naming the flag,
exit code 2 and nothing written.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

import xarray as xr

from . import config
from .cli import OneLineParser, guarded
from .config import RunConfig

GROUPS = {("ipd", "bmi"): "run", ("ipd",): "ipd", ("bmi",): "bmi"}


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="snnsim.run", description=__doc__.splitlines()[0], argument_default=argparse.SUPPRESS)
    groups = {title: p.add_argument_group(title) for title in GROUPS.values()}
    for f in fields(RunConfig):
        meta = f.metadata
        group = groups[GROUPS[meta["studies"]]]
        kwargs = {"dest": f.name, "help": config.describe(f.name)}
        if meta["kind"] == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif meta["kind"] == "dims":
            kwargs.update(action="append", metavar="D")
        else:
            kwargs["metavar"] = f.name.upper()
        group.add_argument(config.flag(f.name), **kwargs)
    groups["run"].add_argument("--task", dest="study", help=argparse.SUPPRESS)  # the old name of --study
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, help="result file (.h5); default: none written")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(ns: argparse.Namespace) -> RunConfig:
    """The config of parsed flags (checked by :class:`RunConfig`)."""
    return RunConfig.from_dict({k: v for k, v in vars(ns).items() if k not in ("out", "quiet")})


def execute(cfg: RunConfig, out: Path | None = None, progress: bool = True) -> xr.Dataset:
    """Run one config and write its result file (atomically) when ``out`` is given."""
    from . import results, runner

    if out is not None:
        results.check_writable(out)
    ds = runner.run(cfg, progress=progress)
    if out is not None:
        results.write(ds, out)
    return ds


def main(argv: list[str] | None = None) -> int:
    from .openmp import prefer_passive_wait

    prefer_passive_wait()  # before torch is imported: the fused kernels' threads (snnsim/openmp.py)
    ns = build_parser().parse_args(argv)

    def body() -> int:
        from .runner import summarise

        cfg = config_from_args(ns)
        out = getattr(ns, "out", None)
        ds = execute(cfg, out, progress=not getattr(ns, "quiet", False))
        print(summarise(ds))
        if out is not None:
            print(f"result file: {out}")
        return 0

    return guarded("snnsim.run", body)


if __name__ == "__main__":
    sys.exit(main())
