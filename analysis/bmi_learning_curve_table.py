"""Print a BMI learning curve's table from its merged sweep: median over the rotations of test
FVAF per model and training-set size, each model's difference to ridge (of the medians over the
rotations both hold), and at how many rotations the spiking decoder reaches ridge. The models
are those the sweep ran (`snn` and `linear`, and `ann` where present). A rotation missing from
the merge (``--allow-missing``) is left out: a cell of fewer rotations says "(k of n)", and the
last column counts the rotations that both decoders hold.

python analysis/bmi_learning_curve_table.py results/bmi_learning_curve.h5
python analysis/bmi_learning_curve_table.py results/bmi_heldout_curve.h5
"""

import numpy as np
import xarray as xr
from _common import WrongResultError, load, missing_jobs, parser, run

from snnsim.cli import user_path

PROG = "bmi_learning_curve_table"
ORDER = ("snn", "ann", "linear")
DIMS = ("model", "rotation", "n_train_folds")


def table(ds: xr.Dataset) -> str:
    t = ds.test_fvaf
    t = t.squeeze([d for d in t.dims if d not in DIMS and t.sizes[d] == 1])
    if wide := [f"{d} ({t.sizes[d]})" for d in t.dims if d not in DIMS]:
        raise WrongResultError(f"test_fvaf has more than one value per model, rotation and training folds along "
                               f"{', '.join(wide)}; this table takes one (one output, one repeat)")  # fmt: skip
    models = [m for m in ORDER if m in t.model.values]
    if "snn" not in models or "linear" not in models:
        raise WrongResultError(f"needs the models snn and linear, has {', '.join(map(str, t.model.values))}")
    med, present = t.median("rotation"), t.notnull().sum("rotation")
    n = t.sizes["rotation"]
    others = [m for m in models if m != "linear"]
    names = {"linear": "ridge"}
    lines = [
        "| training folds | "
        + " | ".join(names.get(m, m) for m in models)
        + " | "
        + " | ".join(f"{m} - ridge" for m in others)
        + f" | snn >= ridge (of {n} rotations) |",
        "|---|" + "---|" * (len(models) + len(others) + 1),
    ]
    for k in ds.n_train_folds.values:
        m = {name: float(med.sel(model=name, n_train_folds=k)) for name in models}
        count = {name: int(present.sel(model=name, n_train_folds=k)) for name in models}
        snn, ridge = t.sel(model="snn", n_train_folds=k), t.sel(model="linear", n_train_folds=k)
        both = int((snn.notnull() & ridge.notnull()).sum())
        wins = f"{int((snn >= ridge).sum())}" + ("" if both == n else f" of {both}")
        cells = [_cell(m[name], count[name], n, "") for name in models]
        for name in others:  # the difference of the medians over the rotations both decoders hold
            other = t.sel(model=name, n_train_folds=k)
            pair = other.notnull() & ridge.notnull()
            diff = float(other.where(pair).median()) - float(ridge.where(pair).median()) if pair.any() else np.nan
            cells.append(_cell(diff, int(pair.sum()), n, "+"))
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {wins} |")
    if missing := missing_jobs(ds):
        lines.append(f"\nleft out, missing from the merge: job(s) {', '.join(map(str, missing))}; "
                     "(k of n) marks a median of k rotations instead of n")  # fmt: skip
    elif int(present.min()) < n:  # NaN where the grid ran no job (a sweep of several blocks)
        lines.append("\n(k of n) marks a median of k rotations instead of n: no job is missing from the merge; "
                     "the experiment's grid runs the others at other training-set sizes only")  # fmt: skip
    return "\n".join(lines)


def _cell(value: float, k: int, n: int, sign: str) -> str:
    """``value`` to 3 decimals, with ``(k of n)`` when fewer rotations; ``-`` when none."""
    if not k or not np.isfinite(value):
        return f"- (0 of {n})"
    return f"{value:{sign}.3f}" + ("" if k == n else f" ({k} of {n})")


def main() -> None:
    p = parser(PROG, __doc__)
    p.add_argument("merged", type=user_path, help="a merged BMI learning curve (results/NAME or its .h5 file)")
    path = p.parse_args().merged
    what = "a BMI learning curve (model x rotation x n_train_folds)"
    ds = load(path, what, study="bmi", merged=True, dims=DIMS, variables=("test_fvaf",))
    try:
        print(table(ds))
    except WrongResultError as exc:
        raise WrongResultError(f"{path}: {exc}") from None


if __name__ == "__main__":
    run(PROG, main)
