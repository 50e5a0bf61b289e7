"""Would averaging several spiking decoders reach ridge where the BMI recipe falls short?

For each data set, trains N models with the recipe (``experiments/bmi_best.toml``; seeds 0..N-1,
one batched model, one thread) and prints validation FVAF (test FVAF in parentheses, for the
record only) of the single models (median) and of the mean prediction of the first K of them,
beside the ridge decoder's.

python analysis/bmi_ensemble.py weak:1 fragmented:1 --models 10
"""

import numpy as np
import torch
from _common import run
from _members import member_args, trained

from snnsim.metrics import fvaf

PROG = "bmi_ensemble"
SIZES = (2, 5, 10, 20)


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
    print(f"{'data':14s} {'decoder':16s} val FVAF (test FVAF)", flush=True)
    for data in args.data:
        for name, (val, test) in scores(data, args.models).items():
            print(f"{data:14s} {name:16s} {val:.3f} ({test:.3f})", flush=True)


if __name__ == "__main__":
    run(PROG, main)
