"""Print test FVAF / RMSE (median [min-max] over repeats) of BMI run files, one row per file.

python analysis/bmi_table.py snn_last.h5 snn_mean.h5 ann.h5 linear.h5
"""

import sys

import numpy as np

from snnsim import results

print("| model | readout | test FVAF | test RMSE (rad/s) | val FVAF | train FVAF | train s / repeat |")
print("|---|---|---|---|---|---|---|")
f = lambda v: f"{np.median(v):.3f} [{v.min():.3f}-{v.max():.3f}]"  # noqa: E731
for path in sys.argv[1:]:
    ds = results.load(path)
    model = ds.attrs["config_model"]
    readout = ds.attrs["config_readout"] if model == "snn" else "-"
    print(
        f"| {model} | {readout} | {f(ds.test_fvaf.values)} | {f(ds.test_rmse.values)} | {f(ds.val_fvaf.values)} "
        f"| {f(ds.train_fvaf.values)} | {np.median(ds.train_seconds.values):.1f} |"
    )
