"""Would averaging several spiking decoders reach ridge where the BMI recipe falls short?

For each data set, trains N models with the recipe (``experiments/bmi_best.toml``; seeds 0..N-1,
one batched model, one thread) and prints validation FVAF (test FVAF in parentheses, for the
record only) of the single models (median) and of the mean prediction of the first K of them,
beside the ridge decoder's.

python analysis/bmi_ensemble.py weak:1 fragmented:1 --models 10
"""

import argparse

import numpy as np
import torch

from snnsim.config import RunConfig, coerce
from snnsim.metrics import fvaf
from snnsim.recipes import defaults
from snnsim.studies.bmi import BMIStudy, fit_ridge, predictions
from snnsim.training import FitOptions

SIZES = (2, 5, 10, 20)


def config(data: str, model: str) -> RunConfig:
    settings = {**(defaults("bmi") if model == "snn" else {}), "study": "bmi", "model": model,
                "data": f"synthetic:{data}"}  # fmt: skip
    return RunConfig.from_dict({k: coerce(k, v) for k, v in settings.items()})


def scores(data: str, n: int) -> dict[str, tuple[float, float]]:
    """(val, test) FVAF of ridge, the single models' median and the K-model averages."""
    study, cpu = BMIStudy(), torch.device("cpu")
    linear = study.make_data(config(data, "linear"), 0, cpu)
    w, _, ridge_val = fit_ridge(linear)
    x_test = np.c_[linear.x.test.double().numpy(), np.ones(len(linear.x.test))]
    ridge_test = float(np.mean(fvaf(linear.folds.test.y, (x_test @ w) * linear.y_std + linear.y_mean)))
    cfg = config(data, "snn")
    d = study.make_data(cfg, 0, cpu)
    seeds = list(range(n))
    model = study.make_model([cfg] * n, seeds, cpu)
    study.fit(model, [cfg] * n, [d], seeds, FitOptions(progress=False))
    model.eval()
    out = {"ridge": (ridge_val, ridge_test)}
    pred = {s: predictions(model, getattr(d.x, s), n) * d.y_std + d.y_mean for s in ("val", "test")}

    def score(split: str, p: np.ndarray) -> float:
        return float(np.mean(fvaf(getattr(d.folds, split).y, p)))

    out["single (median)"] = tuple(float(np.median([score(s, p) for p in pred[s]])) for s in ("val", "test"))
    for k in (k for k in SIZES if k <= n):
        out[f"mean of {k}"] = tuple(score(s, pred[s][:k].mean(0)) for s in ("val", "test"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="+", help="members of the synthetic family, e.g. weak:1")
    ap.add_argument("--models", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for data in args.data:
        for name, (val, test) in scores(data, args.models).items():
            print(f"{data:14s} {name:16s} {val:.3f} ({test:.3f})", flush=True)


if __name__ == "__main__":
    main()
