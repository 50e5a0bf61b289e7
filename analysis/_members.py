"""What the BMI probe scripts share: their command line (members of the synthetic family and a
number of decoders), the run config of a member, and a trained batch of decoders on it."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import torch
from _common import parser

from snnsim.cli import positive_int
from snnsim.config import RunConfig, coerce
from snnsim.datasets.bmi_synthetic import parse_source
from snnsim.recipes import defaults
from snnsim.studies.bmi import BMIData, BMIRepeat, BMIStudy
from snnsim.training import FitOptions


def member_args(prog: str, doc: str, models: int) -> argparse.Namespace:
    """Parse ``DATA... [--models N]`` (members of the synthetic BMI family, ``weak:1``, also as
    ``--data`` spells them, ``synthetic:weak:1``; ``N`` decoders per member, default ``models``); a
    bad member, or a file, is refused before any training."""
    ap = parser(prog, doc)
    ap.add_argument("data", nargs="+", help="members of the synthetic family, e.g. weak:1")
    ap.add_argument("--models", type=positive_int, default=models, metavar="N",
                    help=f"decoders trained per member, seeds 0..N-1 (default {models})")  # fmt: skip
    args = ap.parse_args()
    for i, data in enumerate(args.data):
        # --data's spelling (synthetic:weak:1, synthetic) names the same member
        text = data if data == "synthetic" or data.startswith("synthetic:") else f"synthetic:{data}"
        try:
            parse_source(text)
        except ValueError as exc:
            if os.path.exists(data):  # a run's result file, a data file: no member
                ap.error(f"{data} is a {'folder' if os.path.isdir(data) else 'file'}, not a member of the synthetic "
                         "family; give members such as weak:1 (each is generated and trained on here)")  # fmt: skip
            if text != data:  # the message as the user spelt the member: no "synthetic:" they never wrote
                exc = str(exc).replace(f" in {text!r}", "").replace(repr(text), repr(data))
            ap.error(f"{data}: {exc}")
        args.data[i] = text.removeprefix("synthetic").removeprefix(":") or "standard"
    return args


def print_reports(prog: str, doc: str, models: int, report: Callable[[str, int], list[str]]) -> None:
    """Parse the command line (:func:`member_args`) and print ``report(member, models)`` for
    each member as it is done, torch on one thread."""
    args = member_args(prog, doc, models)
    torch.set_num_threads(1)
    for data in args.data:
        print("\n".join(report(data, args.models)), flush=True)


def config(data: str, model: str, **changes: object) -> RunConfig:
    """``model`` (snn: the BMI recipe, ``experiments/bmi_best.toml``; linear: ridge) on member
    ``data``, with ``changes`` on top."""
    settings = {**(defaults("bmi") if model == "snn" else {}), "study": "bmi", "model": model,
                "data": f"synthetic:{data}", **changes}  # fmt: skip
    return RunConfig.from_dict({k: coerce(k, v) for k, v in settings.items()})


def trained(data: str, model: str, n: int) -> tuple[BMIData, list[BMIRepeat]]:
    """The data and the study's evaluation (per-repeat scores and predictions) of ``n`` models
    (seeds 0..n-1, one batched model, on the CPU)."""
    study, cpu, cfg, seeds = BMIStudy(), torch.device("cpu"), config(data, model), list(range(n))
    d = study.make_data(cfg, 0, cpu)
    net = study.make_model([cfg] * n, seeds, cpu)
    training = study.fit(net, [cfg] * n, [d], seeds, FitOptions(progress=False))
    return d, study.evaluate(net, [cfg] * n, [d], training)
