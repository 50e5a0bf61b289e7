"""Print test FVAF / RMSE (median [min-max] over repeats) of BMI run files, one row per file.

python analysis/bmi_table.py snn_last.h5 snn_mean.h5 ann.h5 linear.h5
"""

import numpy as np
from _common import load, parser, run, spread

PROG = "bmi_table"
VARIABLES = ("test_fvaf", "test_rmse", "val_fvaf", "train_fvaf", "train_seconds")


def row(ds) -> str:
    """One file's row."""
    model = ds.attrs["config_model"]
    readout = ds.attrs.get("config_readout", "-") if model == "snn" else "-"
    cells = [spread(ds[v].values, 3) for v in VARIABLES[:-1]]
    return f"| {model} | {readout} | " + " | ".join(cells) + f" | {np.nanmedian(ds.train_seconds.values):.1f} |"


def main() -> None:
    p = parser(PROG, __doc__)
    p.add_argument("runs", nargs="+", metavar="RUN.h5", help="result files of BMI runs")
    paths = p.parse_args().runs
    what = "a BMI run file"
    files = [
        load(path, what, study="bmi", merged=False, variables=VARIABLES, attrs=("config_model",)) for path in paths
    ]
    print("| model | readout | test FVAF | test RMSE (rad/s) | val FVAF | train FVAF | train s / repeat |")
    print("|---|---|---|---|---|---|---|")
    for ds in files:
        print(row(ds))


if __name__ == "__main__":
    run(PROG, main)
