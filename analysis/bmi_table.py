"""Print test FVAF / RMSE (median [min-max] over repeats) of BMI run files, one row per file
and decoded joint (a run of both joints, ``--dim all``, gives a row for each, named after it).

python analysis/bmi_table.py snn_last.h5 snn_mean.h5 ann.h5 linear.h5
"""

import numpy as np
from _common import joints, load, parser, run, spread

PROG = "bmi_table"
VARIABLES = ("test_fvaf", "test_rmse", "val_fvaf", "train_fvaf", "train_seconds")


def rows(ds) -> list[str]:
    """One file's rows, one per decoded joint."""
    model = ds.attrs["config_model"]
    readout = ds.attrs.get("config_readout", "-") if model == "snn" else "-"
    seconds = f"{np.nanmedian(ds.train_seconds.values):.1f}"
    out = []
    for name, joint in joints(ds):
        cells = [spread(joint[v].values, 3) for v in VARIABLES[:-1]]
        out.append(f"| {model}{name} | {readout} | " + " | ".join(cells) + f" | {seconds} |")
    return out


def main() -> None:
    p = parser(PROG, __doc__)
    p.add_argument("runs", nargs="+", metavar="RUN.h5", help="result files of BMI runs")
    paths = p.parse_args().runs
    what = "a BMI run file"
    files = [
        load(path, what, study="bmi", merged=False, variables=VARIABLES, attrs=("config_model",)) for path in paths
    ]
    units = " or ".join(sorted({ds.test_rmse.attrs.get("units", "rad/s") for ds in files}))
    print(f"| model | readout | test FVAF | test RMSE ({units}) | val FVAF | train FVAF | train s / repeat |")
    print("|---|---|---|---|---|---|---|")
    for ds in files:
        print("\n".join(rows(ds)))


if __name__ == "__main__":
    run(PROG, main)
