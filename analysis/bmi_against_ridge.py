"""Print the spiking decoder against ridge on the same folds, one row per pair of BMI run files:
median [min-max] over repeats of the spiking decoder, ridge's (deterministic) figures, the
difference of test FVAF and the training seconds per repeat. A pair whose two runs differ in
data, folds, target or output columns is refused: their scores would not be comparable.

python analysis/bmi_against_ridge.py snn_weak.h5:ridge_weak.h5 snn_lagged.h5:ridge_lagged.h5
"""

from pathlib import Path

import numpy as np
import xarray as xr
from _common import SAME, WrongResultError, data_name, joints, load, parser, run, span

from snnsim.cli import user_path

PROG = "bmi_against_ridge"

HEADER = (
    "| data | snn val | snn test [min-max] | ridge val | ridge test | snn - ridge (test) | snn train s per repeat |\n"
    "|---|---|---|---|---|---|---|"
)


def rows(snn: xr.Dataset, ridge: xr.Dataset) -> list[str]:
    """One table row per decoded joint (named after it when the runs decode both); WrongResultError
    if the two are not a spiking and a ridge run on the same folds."""
    models = (snn.attrs["config_model"], ridge.attrs["config_model"])
    if models != ("snn", "linear"):
        raise WrongResultError(f"give SNN.h5:RIDGE.h5 (a --model snn and a --model linear run), got {models}")
    differ = [k for k in SAME if str(snn.attrs.get(f"config_{k}")) != str(ridge.attrs.get(f"config_{k}"))]
    if differ:
        raise WrongResultError(f"the two runs differ in {', '.join(differ)}")
    out = []
    for (name, s), (_, r) in zip(joints(snn), joints(ridge), strict=True):
        sv, st = s.val_fvaf.values.ravel(), s.test_fvaf.values.ravel()
        rv, rt = float(r.val_fvaf.values.ravel()[0]), float(r.test_fvaf.values.ravel()[0])
        out.append(
            f"| {data_name(snn)}{name} | {np.median(sv):.3f} | {np.median(st):.3f} [{span(st.min(), st.max(), 3)}] "
            f"| {rv:.3f} | {rt:.3f} | {np.median(st) - rt:+.3f} | {np.median(snn.train_seconds.values):.1f} |"
        )
    return out


def split_pair(pair: str) -> tuple[str, str] | None:
    """``SNN.h5:RIDGE.h5`` as two paths, each with a leading ``~`` as the home folder (the shell
    expands only the first); a name may hold ':' too (``snn_weak:1.h5``), so where several colons
    split it, the one split into two existing files; None where none or several do."""
    splits = [(user_path(pair[:i]), user_path(pair[i + 1 :])) for i, c in enumerate(pair) if c == ":"]
    if len(splits) > 1:
        splits = [(a, b) for a, b in splits if Path(a).is_file() and Path(b).is_file()]
    return splits[0] if len(splits) == 1 else None


def main() -> None:
    p = parser(PROG, __doc__)
    p.add_argument("pairs", nargs="+", metavar="SNN.h5:RIDGE.h5", help="a spiking and a ridge run on the same folds")
    pairs = p.parse_args().pairs
    what, variables = "a BMI run file", ("val_fvaf", "test_fvaf", "train_seconds")
    lines = []
    for pair in pairs:
        paths = split_pair(pair)
        if paths is None:
            p.error(f"{pair}: give SNN.h5:RIDGE.h5, two run files joined by ':'")
        runs = [load(path, what, study="bmi", merged=False, variables=variables, attrs=("config_model",))
                for path in paths]  # fmt: skip
        try:
            lines += rows(*runs)
        except WrongResultError as exc:
            raise WrongResultError(f"{pair}: {exc}") from None
    print(HEADER)
    print("\n".join(lines))


if __name__ == "__main__":
    run(PROG, main)
