"""Is the spiking decoder's shortfall against ridge its spiking, or the way it is trained?

For each member of the synthetic family, trains N linear decoders (ridge's 960 z-scored inputs
plus a bias, the same folds) the way the BMI recipe (``experiments/bmi_best.toml``) trains the
spiking decoder: Adam with the recipe's learning rate and an L2 weight decay, shuffled
mini-batches of the recipe's size (the last partial one dropped), at most the recipe's epochs,
the best validation epoch kept (stopping after the recipe's patience). One row per weight decay,
and ridge (closed form, its strength chosen on the validation fold). Prints medians over the
models of the validation FVAF and, for the record, the test FVAF in parentheses. Test scores choose
nothing here.

python analysis/bmi_linear_by_gradient.py weak:1 sparse:3 --models 3
"""

import numpy as np
import torch
from _common import run
from _members import config, print_reports, trained

from snnsim.config import RunConfig
from snnsim.metrics import fvaf
from snnsim.studies.bmi import BMIData, prepare

PROG = "bmi_linear_by_gradient"
WEIGHT_DECAYS = (0.0, 0.05, 0.5, 2.0)  # 0.05: the recipe's


def fit(d: BMIData, recipe: RunConfig, weight_decay: float, seed: int) -> tuple[float, float]:
    """Validation and test FVAF (mean over outputs) of one linear decoder trained with the
    ``recipe``'s settings, at its best validation epoch."""
    g = torch.Generator().manual_seed(seed)
    n_in, n_out = d.x.train.shape[1], d.y.train.shape[1]
    bound = 1 / n_in**0.5
    w = torch.nn.Parameter(torch.rand(n_in, n_out, generator=g) * 2 * bound - bound)
    b = torch.nn.Parameter(torch.zeros(n_out))
    opt = torch.optim.Adam([w, b], lr=recipe.lr, weight_decay=weight_decay)

    def score(x: torch.Tensor, y: torch.Tensor) -> float:
        with torch.no_grad():
            return float(fvaf(y.double().numpy(), (x @ w + b).double().numpy()).mean())

    batch, best, since = recipe.batch_size, (-np.inf, np.nan), 0
    for _ in range(recipe.epochs):
        order = torch.randperm(len(d.x.train), generator=g)
        for start in range(0, len(order) - batch + 1, batch):
            i = order[start : start + batch]
            loss = ((d.x.train[i] @ w + b - d.y.train[i]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        val = score(d.x.val, d.y.val)
        if val > best[0]:
            best, since = (val, score(d.x.test, d.y.test)), 0
        else:
            since += 1
            if since >= recipe.patience:
                break
    return best


def report(data: str, n: int) -> list[str]:
    _, (row,) = trained(data, "linear", 1)
    lines = [
        f"{data}: val FVAF (test FVAF), linear decoders' median; ridge {row.scores.val.fvaf.mean():.3f} "
        f"({row.scores.test.fvaf.mean():.3f})"
    ]
    d, recipe = prepare(config(data, "linear")), config(data, "snn")
    for wd in WEIGHT_DECAYS:
        val, test = np.array([fit(d, recipe, wd, seed) for seed in range(n)]).T
        lines.append(f"  weight decay {wd:g}: {np.median(val):.3f} ({np.median(test):.3f})")
    return lines


def main() -> None:
    print_reports(PROG, __doc__, 3, report)


if __name__ == "__main__":
    run(PROG, main)
