"""Print the readout x tau table of a merged IPD experiment (median [min-max] over seeds);
with a second argument, beside the notebook's figures (REFERENCE.md section 1).

    python analysis/ipd_readout_table.py results/ipd_readouts ref
"""

import sys

import numpy as np

from snnsim import results

ref = {
    ("mean", 0.02): "47.5 [25.0-75.1] | 10.5 [5.3-30.9]",
    ("mean", 0.002): "84.7 [82.7-86.4] | 4.3 [4.1-4.5]",
    ("max", 0.02): "22.1 [8.2-30.6] | 31.4 [19.9-70.4]",
    ("max", 0.002): "25.6 [9.4-37.0] | 21.6 [13.0-53.5]",
    ("fr", 0.02): "45.7 [38.1-57.7] | 10.6 [7.9-13.3]",
    ("fr", 0.002): "58.6 [54.0-64.2] | 8.2 [6.9-8.8]",
}
ds = results.load(sys.argv[1])
show_ref = len(sys.argv) > 2
hdr = (
    "| readout | tau | test accuracy % | notebook | test abs. error deg | notebook | train accuracy % |"
    if show_ref
    else "| readout | tau | test accuracy % | test abs. error deg | train accuracy % |"
)
print(hdr)
print("|---" * (hdr.count("|") - 1) + "|")


def f(v):
    return f"{np.median(v):.1f} [{v.min():.1f}-{v.max():.1f}]"


for r in ds.readout.values:
    for t in ds.tau.values:
        sel = ds.sel(readout=r, tau=t)
        if show_ref:
            acc, err = ref[(str(r), float(t))].split(" | ")
            row = f"| {r} | {t * 1e3:g} ms | {f(sel.test_acc.values.ravel())} | {acc} | {f(sel.test_err_deg.values.ravel())} | {err} | {f(sel.train_acc.values.ravel())} |"
        else:
            row = f"| {r} | {t * 1e3:g} ms | {f(sel.test_acc.values.ravel())} | {f(sel.test_err_deg.values.ravel())} | {f(sel.train_acc.values.ravel())} |"
        print(row)
print(f"\nmedian training time per task: {np.median(ds.train_seconds.values):.1f} s")
