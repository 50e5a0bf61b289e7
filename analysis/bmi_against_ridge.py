"""Print the spiking decoder against ridge on the same folds, one row per pair of BMI run files:
median [min-max] over repeats of the spiking decoder, ridge's (deterministic) figures, the
difference of test FVAF and the training seconds per repeat.

python analysis/bmi_against_ridge.py snn_weak.h5:ridge_weak.h5 snn_lagged.h5:ridge_lagged.h5
"""

import sys

import numpy as np

from snnsim import results

print("| data | snn val | snn test [min-max] | ridge val | ridge test | snn - ridge (test) | snn train s per repeat |")
print("|---|---|---|---|---|---|---|")
for pair in sys.argv[1:]:
    snn, ridge = (results.load(p) for p in pair.split(":"))
    if (snn.attrs["config_model"], ridge.attrs["config_model"]) != ("snn", "linear"):
        sys.exit(f"bmi_against_ridge: {pair}: give SNN.h5:RIDGE.h5 (a --model snn and a --model linear run)")
    data = snn.attrs.get("config_data") or "synthetic:standard:0"
    sv, st = snn.val_fvaf.values.ravel(), snn.test_fvaf.values.ravel()
    rv, rt = float(ridge.val_fvaf.values.ravel()[0]), float(ridge.test_fvaf.values.ravel()[0])
    print(
        f"| {data.removeprefix('synthetic:')} | {np.median(sv):.3f} | {np.median(st):.3f} [{st.min():.3f}-{st.max():.3f}] "
        f"| {rv:.3f} | {rt:.3f} | {np.median(st) - rt:+.3f} | {np.median(snn.train_seconds.values):.1f} |"
    )
