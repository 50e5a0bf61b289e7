"""Print the IPD model-space study's tables from the merged sweep: every setting's median over
the seeds (validation accuracy first, the column settings are ranked by; test read after), then
each option's effect: the median over seeds and the other options' settings of the paired
difference (with the option minus without).

python analysis/ipd_model_space_table.py results/ipd_model_space.h5
"""

import sys

import numpy as np
import xarray as xr

from snnsim import results
from snnsim.plots.ipd import MODEL_SPACE_DIMS, model_space_label

ds = results.load(sys.argv[1])
dims = [d for d in MODEL_SPACE_DIMS if d in ds.dims]
names = ("val_acc", "test_acc", "test_err_deg", "train_seconds")
data = xr.Dataset({n: ds[n].squeeze([d for d in ds[n].dims if d not in (*dims, "seed")]) for n in names})
med = data.median("seed")
n_seeds = int(data.val_acc.notnull().sum("seed").max())

rows = []
for key in med.val_acc.stack(setting=dims).setting.values:
    sel = dict(zip(dims, key, strict=True))
    m = med.sel(sel)
    if np.isfinite(float(m.val_acc)):
        rows.append((float(m.val_acc), model_space_label(sel), m))
rows.sort(key=lambda r: r[0], reverse=True)
print(f"| setting | val acc % (median of {n_seeds}) | (test acc %) | (test err deg) | s per training |")
print("|---|---|---|---|---|")
for _, label, m in rows:
    print(f"| {label} | {float(m.val_acc):.2f} | {float(m.test_acc):.2f} | {float(m.test_err_deg):.2f} "
          f"| {float(m.train_seconds):.0f} |")  # fmt: skip

print()
print("| option | val acc, with - without (median [min-max] over pairs) | (test acc) | pairs |")
print("|---|---|---|---|")
for d in dims:
    off, on = data[d].values[0], data[d].values[-1]
    diff = {s: (data[f"{s}_acc"].sel({d: on}) - data[f"{s}_acc"].sel({d: off})).values.ravel() for s in ("val", "test")}
    v, t = (x[np.isfinite(x)] for x in (diff["val"], diff["test"]))
    if v.size:
        label = model_space_label({d: on})
        print(f"| {label} (vs {model_space_label({d: off})}) | {np.median(v):+.2f} [{v.min():+.2f} to {v.max():+.2f}] "
              f"| {np.median(t):+.2f} | {v.size} |")  # fmt: skip
