"""Would averaging several spiking decoders reach ridge where the BMI recipe falls short?

For each data set, trains N models with the recipe (``experiments/bmi_best.toml``; seeds 0..N-1,
one batched model, one thread) and prints validation FVAF (test FVAF in parentheses, for the
record only) of the single models (median) and of the mean prediction of the first K of them,
beside the ridge decoder's.

python analysis/bmi_ensemble.py weak:1 fragmented:1 --models 10
"""

import numpy as np
import torch
from _common import member_args, run

from snnsim.config import RunConfig, coerce
from snnsim.metrics import fvaf
from snnsim.recipes import defaults
from snnsim.studies.bmi import BMIData, BMIRepeat, BMIStudy
from snnsim.training import FitOptions

PROG = "bmi_ensemble"
SIZES = (2, 5, 10, 20)


def config(data: str, model: str) -> RunConfig:
    settings = {**(defaults("bmi") if model == "snn" else {}), "study": "bmi", "model": model,
                "data": f"synthetic:{data}"}  # fmt: skip
    return RunConfig.from_dict({k: coerce(k, v) for k, v in settings.items()})


def trained(data: str, model: str, n: int) -> tuple[BMIData, list[BMIRepeat]]:
    """The data and the study's evaluation (per-repeat scores and predictions) of ``n`` models."""
    study, cpu, cfg, seeds = BMIStudy(), torch.device("cpu"), config(data, model), list(range(n))
    d = study.make_data(cfg, 0, cpu)
    net = study.make_model([cfg] * n, seeds, cpu)
    training = study.fit(net, [cfg] * n, [d], seeds, FitOptions(progress=False))
    return d, study.evaluate(net, [cfg] * n, [d], training)


def scores(data: str, n: int) -> dict[str, tuple[float, float]]:
    """(val, test) FVAF of ridge, the single models' median and the K-model averages."""
    splits = ("val", "test")
    _, (ridge,) = trained(data, "linear", 1)
    d, rows = trained(data, "snn", n)
    out = {"ridge": tuple(float(getattr(ridge.scores, s).fvaf.mean()) for s in splits)}
    out["single (median)"] = tuple(float(np.median([getattr(r.scores, s).fvaf.mean() for r in rows])) for s in splits)
    for k in (k for k in SIZES if k <= n):
        out[f"mean of {k}"] = tuple(
            float(fvaf(getattr(d.folds, s).y, np.mean([getattr(r.scores, s).pred for r in rows[:k]], 0)).mean())
            for s in splits
        )
    return out


def main() -> None:
    args = member_args(PROG, __doc__, 10)
    torch.set_num_threads(1)
    for data in args.data:
        for name, (val, test) in scores(data, args.models).items():
            print(f"{data:14s} {name:16s} {val:.3f} ({test:.3f})", flush=True)


if __name__ == "__main__":
    run(PROG, main)
