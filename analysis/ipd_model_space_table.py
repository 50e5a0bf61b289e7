"""Print the IPD model-space study's tables from the merged sweep: every setting's median over
the seeds (validation accuracy (%) first, the column settings are ranked by; test accuracy (%),
test absolute IPD error (degrees) read after; training time (s)), then each option's effect: the
median over seeds and the other options' settings of the paired difference in accuracy, in
percentage points (each swept value minus the first; none for an option swept at one value). Seeds
missing from the merge (``--allow-missing``) are left out: a setting of fewer seeds says how
many, one of none is listed apart.

python analysis/ipd_model_space_table.py results/ipd_model_space.h5
"""

import numpy as np
import xarray as xr
from _common import WrongResultError, describe, load, missing_jobs, parser, run

from snnsim.cli import user_path
from snnsim.plots.ipd import MODEL_SPACE_DIMS, model_space_label

PROG = "ipd_model_space_table"
NAMES = ("val_acc", "test_acc", "test_err_deg", "train_seconds")


def per_seed(ds: xr.Dataset, path: str) -> xr.Dataset:
    """The four variables over the model-space dims and ``seed`` (length-1 dims dropped)."""
    keep = (*[d for d in MODEL_SPACE_DIMS if d in ds.dims], "seed")
    data = xr.Dataset({n: ds[n] for n in NAMES})
    data = data if "seed" in data.dims else data.expand_dims("seed")
    extra = [d for d in data.dims if d not in keep]
    if wide := [f"{d} ({data.sizes[d]})" for d in extra if data.sizes[d] > 1]:
        raise WrongResultError(f"{path} is {describe(ds)} with more than one value per setting and seed along "
                               f"{', '.join(wide)}; this table takes one")  # fmt: skip
    return data.squeeze(extra)


def settings_table(data: xr.Dataset, dims: list[str]) -> list[str]:
    """Every setting's medians over the seeds present, best validation accuracy first."""
    med, seeds = data.median("seed"), data.val_acc.notnull().sum("seed")
    n_seeds = data.sizes["seed"]
    rows, empty = [], []
    for key in med.val_acc.stack(setting=dims).setting.values:
        sel = dict(zip(dims, key, strict=True))
        m, k = med.sel(sel), int(seeds.sel(sel))
        label = model_space_label(sel) + ("" if k == n_seeds else f" ({k} of {n_seeds} seeds)")
        if k:
            rows.append((float(m.val_acc), label, m))
        else:
            empty.append(model_space_label(sel))
    rows.sort(key=lambda r: r[0], reverse=True)
    lines = [f"| setting | val acc % (median of {n_seeds}) | (test acc %) | (test err deg) | s per training |",
             "|---|---|---|---|---|"]  # fmt: skip
    for _, label, m in rows:
        lines.append(f"| {label} | {float(m.val_acc):.2f} | {float(m.test_acc):.2f} | {float(m.test_err_deg):.2f} "
                     f"| {float(m.train_seconds):.0f} |")  # fmt: skip
    if empty:
        lines.append(f"\nno seed in the merge: {'; '.join(empty)}")
    return lines


def effects_table(data: xr.Dataset, dims: list[str]) -> list[str]:
    """Each option's paired differences (each value minus the first), over the pairs both present."""
    lines = ["| option | val acc, with - without (median [min-max] over pairs) | (test acc) | pairs |",
             "|---|---|---|---|"]  # fmt: skip
    for d in dims:
        off, *others = data[d].values
        for on in others:  # each value against the first
            diff = {
                s: (data[f"{s}_acc"].sel({d: on}) - data[f"{s}_acc"].sel({d: off})).values.ravel()
                for s in ("val", "test")
            }
            v, t = (x[np.isfinite(x)] for x in (diff["val"], diff["test"]))
            if v.size:
                label = model_space_label({d: on})
                test = f"{np.median(t):+.2f}" if t.size else "-"
                lines.append(f"| {label} (vs {model_space_label({d: off})}) | {np.median(v):+.2f} "
                             f"[{v.min():+.2f} to {v.max():+.2f}] | {test} | {v.size} of {diff['val'].size} |")  # fmt: skip
    if single := [d for d in dims if data.sizes[d] == 1]:
        lines.append(f"\nno effect for {', '.join(single)}: one value swept")
    return lines


def main() -> None:
    p = parser(PROG, __doc__)
    p.add_argument("merged", type=user_path, help="the merged model-space experiment (results/NAME or its .h5 file)")
    path = p.parse_args().merged
    what = "an IPD model-space sweep (" + ", ".join(MODEL_SPACE_DIMS) + ")"
    ds = load(path, what, study="ipd", merged=True, variables=NAMES)
    dims = [d for d in MODEL_SPACE_DIMS if d in ds.dims]
    if not dims:
        raise WrongResultError(f"{path} is {describe(ds)} without a model-space dimension; not {what}")
    data = per_seed(ds, path)
    print("\n".join([*settings_table(data, dims), "", *effects_table(data, dims)]))
    if missing := missing_jobs(ds):
        print(f"\nleft out, missing from the merge: job(s) {', '.join(map(str, missing))}")


if __name__ == "__main__":
    run(PROG, main)
