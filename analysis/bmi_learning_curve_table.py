"""Print the BMI learning curve's table from the merged sweep: median over the 20 rotations of
test FVAF per model and training-set size, the differences to ridge, and at how many rotations
the spiking decoder reaches ridge.

python analysis/bmi_learning_curve_table.py results/bmi_learning_curve.h5
"""

import sys

from snnsim import results

ds = results.load(sys.argv[1])
t = ds.test_fvaf
t = t.squeeze([d for d in t.dims if d not in ("model", "rotation", "n_train_folds") and t.sizes[d] == 1])
med = t.median("rotation")
n = t.sizes["rotation"]
print(f"| training folds | snn | ann | ridge | snn - ridge | ann - ridge | snn >= ridge (of {n} rotations) |")
print("|---|---|---|---|---|---|---|")
for k in ds.n_train_folds.values:
    s, a, r = (float(med.sel(model=m, n_train_folds=k)) for m in ("snn", "ann", "linear"))
    wins = int((t.sel(model="snn", n_train_folds=k) >= t.sel(model="linear", n_train_folds=k)).sum())
    print(f"| {k} | {s:.3f} | {a:.3f} | {r:.3f} | {s - r:+.3f} | {a - r:+.3f} | {wins} |")
