"""Print the spiking decoder against ridge on the same folds, one row per pair of BMI run files:
median [min-max] over repeats of the spiking decoder, ridge's (deterministic) figures, the
difference of test FVAF and the training seconds per repeat. A pair whose two runs differ in
data, folds, target or output columns is refused: their scores would not be comparable.

python analysis/bmi_against_ridge.py snn_weak.h5:ridge_weak.h5 snn_lagged.h5:ridge_lagged.h5
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

HEADER = (
    "| data | snn val | snn test [min-max] | ridge val | ridge test | snn - ridge (test) | snn train s per repeat |\n"
    "|---|---|---|---|---|---|---|"
)
SAME = ("data", "rotation", "n_train_folds", "target", "dims")  # the folds and what is decoded


def data_name(ds: xr.Dataset) -> str:
    """``weak:1`` for a synthetic member, a file's name (not its folder) for a data file."""
    data = ds.attrs.get("config_data") or "synthetic:standard:0"
    return data.removeprefix("synthetic:") if data.startswith("synthetic:") else Path(data).name


def row(snn: xr.Dataset, ridge: xr.Dataset) -> str:
    """One table row; ValueError if the two are not a spiking and a ridge run on the same folds."""
    models = (snn.attrs["config_model"], ridge.attrs["config_model"])
    if models != ("snn", "linear"):
        raise ValueError(f"give SNN.h5:RIDGE.h5 (a --model snn and a --model linear run), got {models}")
    differ = [k for k in SAME if str(snn.attrs.get(f"config_{k}")) != str(ridge.attrs.get(f"config_{k}"))]
    if differ:
        raise ValueError(f"the two runs differ in {', '.join(differ)}")
    sv, st = snn.val_fvaf.values.ravel(), snn.test_fvaf.values.ravel()
    rv, rt = float(ridge.val_fvaf.values.ravel()[0]), float(ridge.test_fvaf.values.ravel()[0])
    return (
        f"| {data_name(snn)} | {np.median(sv):.3f} | {np.median(st):.3f} [{st.min():.3f}-{st.max():.3f}] "
        f"| {rv:.3f} | {rt:.3f} | {np.median(st) - rt:+.3f} | {np.median(snn.train_seconds.values):.1f} |"
    )


def main(pairs: list[str]) -> None:
    from snnsim import results

    print(HEADER)
    for pair in pairs:
        try:
            print(row(*(results.load(p) for p in pair.split(":"))))
        except (TypeError, ValueError) as exc:
            sys.exit(f"bmi_against_ridge: {pair}: {exc}")


if __name__ == "__main__":
    main(sys.argv[1:])
