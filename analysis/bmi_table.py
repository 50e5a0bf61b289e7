"""Print FVAF (no unit; 1 is a perfect decoder, 0 no better than the mean) and test RMSE (the
target's unit: rad/s for a velocity, as the file records it) as median [min-max] over repeats,
and the training time (s per repeat) of BMI run files, one row per file and decoded joint (a run
of both joints, ``--dim all``, gives a row for each, named after it). Where the files differ in
data, rotation, training folds or target, a column says each row's.

python analysis/bmi_table.py snn_last.h5 snn_mean.h5 ann.h5 linear.h5
"""

import numpy as np
from _common import SAME, data_name, joints, load, parser, run, spread

from snnsim.cli import user_path

PROG = "bmi_table"
VARIABLES = ("test_fvaf", "test_rmse", "val_fvaf", "train_fvaf", "train_seconds")


def rows(ds, columns: tuple[str, ...] = ()) -> list[str]:
    """One file's rows, one per decoded joint, led by its settings ``columns``."""
    model = ds.attrs["config_model"]
    readout = ds.attrs.get("config_readout", "-") if model == "snn" else "-"
    seconds = f"{np.nanmedian(ds.train_seconds.values):.1f}"
    out = []
    for name, joint in joints(ds):
        cells = [spread(joint[v].values, 3) for v in VARIABLES[:-1]]
        lead = "".join(f"| {data_name(ds) if k == 'data' else ds.attrs.get(f'config_{k}')} " for k in columns)
        out.append(f"{lead}| {model}{name} | {readout} | " + " | ".join(cells) + f" | {seconds} |")
    return out


def main() -> None:
    p = parser(PROG, __doc__)
    p.add_argument("runs", nargs="+", type=user_path, metavar="RUN.h5", help="result files of BMI runs")
    paths = p.parse_args().runs
    what = "a BMI run file"
    files = [
        load(path, what, study="bmi", merged=False, variables=VARIABLES, attrs=("config_model",)) for path in paths
    ]
    print("\n".join(table(files)))


def table(files: list) -> list[str]:
    """The table's lines: a header, then :func:`rows` of each file."""
    units = " or ".join(sorted({ds.test_rmse.attrs.get("units", "rad/s") for ds in files}))
    # the settings that make scores comparable, where the files differ in them ("dims": rows per joint)
    columns = tuple(k for k in SAME if k != "dims" and len({str(ds.attrs.get(f"config_{k}")) for ds in files}) > 1)
    lead = "".join(f"| {k.replace('_', ' ')} " for k in columns)
    return [f"{lead}| model | readout | test FVAF | test RMSE ({units}) | val FVAF | train FVAF | train s / repeat |",
            "|---" * (7 + len(columns)) + "|", *(line for ds in files for line in rows(ds, columns))]  # fmt: skip


if __name__ == "__main__":
    run(PROG, main)
