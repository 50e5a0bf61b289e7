"""Could another stopping rule take the BMI recipe to ridge where it falls short?

For each data set, trains N models with the recipe (``experiments/bmi_best.toml``; seeds
0..N-1, one batched model, one thread) for all of its epochs (no early stop) and scores every
epoch on the validation and, for the record only, the test fold. Prints the medians over the
models per epoch, the test FVAF of each model's best validation epoch (what early stopping keeps)
and the best median test FVAF of any epoch: no rule that picks an epoch can do better than that.
Test scores choose nothing here.

python analysis/bmi_epoch_curves.py weak:1 sparse:3 --models 5
"""

import numpy as np
import torch
from _common import run
from _members import config, print_reports, trained

from snnsim.metrics import fvaf
from snnsim.recipes import defaults
from snnsim.studies.bmi import BMIData, BMIStudy, predictions
from snnsim.training import EpochRecord, FitOptions

PROG = "bmi_epoch_curves"


def ridge_scores(data: str) -> tuple[float, float]:
    """Validation and test FVAF of the ridge decoder."""
    _, (row,) = trained(data, "linear", 1)
    return float(row.scores.val.fvaf.mean()), float(row.scores.test.fvaf.mean())


def curves(data: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation and test FVAF (n, epochs) of ``n`` recipe models after every epoch, and each
    model's best validation epoch (1-based: the weights early stopping keeps). Patience = epochs:
    every epoch runs; the best is still kept."""
    cfg = config(data, "snn", patience=defaults("bmi")["epochs"])
    study, cpu, seeds = BMIStudy(), torch.device("cpu"), list(range(n))
    d: BMIData = study.make_data(cfg, 0, cpu)
    net = study.make_model([cfg] * n, seeds, cpu)
    test = []

    def score(record: EpochRecord) -> None:
        model = record.model
        model.eval()
        spikes = model.hidden_spikes.clone()  # the training's rate, as validation leaves it
        test.append([fvaf(d.y.test.double().numpy(), p).mean() for p in predictions(model, d.x.test, n)])
        model.hidden_spikes.copy_(spikes)

    training = study.fit(net, [cfg] * n, [d], seeds, FitOptions(progress=False, hooks=[score]))
    return training.val_curve, np.array(test).T, training.best_epoch


def report(data: str, n: int) -> list[str]:
    ridge_val, ridge_test = ridge_scores(data)
    val, test, best = curves(data, n)
    kept = test[np.arange(n), best - 1]
    med_val, med_test = np.median(val, 0), np.median(test, 0)
    top = int(med_test.argmax())
    return [
        f"{data}: ridge val FVAF {ridge_val:.3f} (test {ridge_test:.3f}); recipe models, median FVAF per epoch:",
        "  epoch     " + " ".join(f"{e + 1:6d}" for e in range(val.shape[1])),
        "  val FVAF  " + " ".join(f"{x:6.3f}" for x in med_val),
        "  test FVAF " + " ".join(f"{x:6.3f}" for x in med_test),
        f"  best validation epochs {' '.join(str(b) for b in best)}: test FVAF {np.median(kept):.3f} "
        f"[{kept.min():.3f}-{kept.max():.3f}]; best median test of any epoch {med_test[top]:.3f} "
        f"(epoch {top + 1}), ridge {ridge_test:.3f}",
    ]


def main() -> None:
    print_reports(PROG, __doc__, 5, report)


if __name__ == "__main__":
    run(PROG, main)
