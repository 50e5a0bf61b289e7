"""Print a BMI learning curve's table from its merged sweep: median over the rotations of test
FVAF per model and training-set size, each model's difference to ridge, and at how many
rotations the spiking decoder reaches ridge. The models are those the sweep ran (`snn` and
`linear`, and `ann` where present).

python analysis/bmi_learning_curve_table.py results/bmi_learning_curve.h5
python analysis/bmi_learning_curve_table.py results/bmi_heldout_curve.h5
"""

import sys

import xarray as xr

ORDER = ("snn", "ann", "linear")


def table(ds: xr.Dataset) -> str:
    t = ds.test_fvaf
    t = t.squeeze([d for d in t.dims if d not in ("model", "rotation", "n_train_folds") and t.sizes[d] == 1])
    models = [m for m in ORDER if m in t.model.values]
    if "snn" not in models or "linear" not in models:
        raise ValueError(f"needs the models snn and linear, has {', '.join(map(str, t.model.values))}")
    med = t.median("rotation")
    others = [m for m in models if m != "linear"]
    names = {"linear": "ridge"}
    lines = [
        "| training folds | "
        + " | ".join(names.get(m, m) for m in models)
        + " | "
        + " | ".join(f"{m} - ridge" for m in others)
        + f" | snn >= ridge (of {t.sizes['rotation']} rotations) |",
        "|---|" + "---|" * (len(models) + len(others) + 1),
    ]
    for k in ds.n_train_folds.values:
        m = {name: float(med.sel(model=name, n_train_folds=k)) for name in models}
        wins = int((t.sel(model="snn", n_train_folds=k) >= t.sel(model="linear", n_train_folds=k)).sum())
        cells = [f"{m[name]:.3f}" for name in models] + [f"{m[name] - m['linear']:+.3f}" for name in others]
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {wins} |")
    return "\n".join(lines)


if __name__ == "__main__":
    from snnsim import results

    try:
        print(table(results.load(sys.argv[1])))
    except ValueError as exc:
        sys.exit(f"bmi_learning_curve_table: {exc}")
