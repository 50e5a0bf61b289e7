"""Print the readout x tau table of a merged IPD experiment: test accuracy (%), test absolute IPD
error (degrees) and training accuracy (%), median [min-max] over seeds; with a second argument,
beside the notebook's figures (README.md, "Seed-compatible results against the notebook"). A
seed missing from the merge (``--allow-missing``) is left out of its cell, which says "(k of
n)". Another setting the experiment sweeps (``eval``, ``backend`` ...) gets a column, and a row
per value: a cell pools seeds and repeats only. The notebook's figures are shown beside an
experiment of its seed-compatible settings only (``--phase per-dataset --eval sum --init notebook``).

    python analysis/ipd_readout_table.py results/ipd_readouts ref
"""

import numpy as np
from _common import WrongResultError, load, missing_jobs, parser, run, spread

from snnsim.cli import user_path
from snnsim.plots.common import format_setting, group_keys, pooled_settings

PROG = "ipd_readout_table"
REF = {
    ("mean", 0.02): "47.5 [25.0-75.1] | 10.5 [5.3-30.9]",
    ("mean", 0.002): "84.7 [82.7-86.4] | 4.3 [4.1-4.5]",
    ("max", 0.02): "22.1 [8.2-30.6] | 31.4 [19.9-70.4]",
    ("max", 0.002): "25.6 [9.4-37.0] | 21.6 [13.0-53.5]",
    ("fr", 0.02): "45.7 [38.1-57.7] | 10.6 [7.9-13.3]",
    ("fr", 0.002): "58.6 [54.0-64.2] | 8.2 [6.9-8.8]",
}
VARIABLES = ("test_acc", "test_err_deg", "train_acc", "train_seconds")
#: the settings of the notebook's figures that a run's defaults do not share (README.md, seed quirks)
NOTEBOOK = {"phase": "per-dataset", "eval": "sum", "init": "notebook"}


def unlike_notebook(ds) -> list[str]:
    """The seed-compatible settings in which the experiment ``ds`` (swept or fixed) differs from
    the notebook's, as ``phase = per-sample``; a setting its file does not record is not named."""
    values = {k: ds[k].values if k in ds.dims else [ds.attrs.get(f"config_{k}")] for k in NOTEBOOK}
    return [f"{k} = {v}" for k, vs in values.items() for v in map(str, vs) if v not in (NOTEBOOK[k], "None")]


def table(ds, show_ref: bool) -> list[str]:
    """The table's lines: one row per readout x tau, then the median training time."""
    other = pooled_settings(ds["test_acc"], ("readout", "tau"))  # swept besides readout, tau and seed
    settings = "".join(f" {d} |" for d in other)
    hdr = (
        f"| readout | tau |{settings} test accuracy % | notebook | test abs. error deg | notebook | train accuracy % |"
        if show_ref
        else f"| readout | tau |{settings} test accuracy % | test abs. error deg | train accuracy % |"
    )
    lines = [hdr, "|---" * (hdr.count("|") - 1) + "|"]
    for r in ds.readout.values:
        for t in ds.tau.values:
            for key in group_keys(ds, other):
                sel = ds.sel(readout=r, tau=t, **key)
                acc, err, train = (spread(sel[v].values, 1) for v in ("test_acc", "test_err_deg", "train_acc"))
                if show_ref:
                    ref_acc, ref_err = REF.get((str(r), float(t)), "- | -").split(" | ")
                    acc, err = f"{acc} | {ref_acc}", f"{err} | {ref_err}"
                # a column of its own: the value alone ("readout", not "eval = readout" as a figure labels it)
                values = "".join(f" {format_setting(d, v).removeprefix(f'{d} = ')} |" for d, v in key.items())
                lines.append(f"| {r} | {t * 1e3:g} ms |{values} {acc} | {err} | {train} |")
    per_job = ds.train_seconds  # per repeat: a job's time is that of all its repeats
    if "repeat" in per_job.dims:
        per_job = per_job.sum("repeat", min_count=1)
    seconds = per_job.values[np.isfinite(per_job.values)]
    lines.append(f"\nmedian training time per job: {np.median(seconds):.1f} s")
    if missing := missing_jobs(ds):
        lines.append(f"left out, missing from the merge: job(s) {', '.join(map(str, missing))}; "
                     "(k of n) marks a cell of k seeds instead of n")  # fmt: skip
    return lines


def main() -> None:
    p = parser(PROG, __doc__)
    p.add_argument(
        "merged", type=user_path, help="a merged IPD readout x tau experiment (results/NAME or its .h5 file)"
    )
    p.add_argument("ref", nargs="?", choices=["ref"], help="also print the notebook's figures")
    args = p.parse_args()
    what = "an IPD readout x tau sweep"
    ds = load(args.merged, what, study="ipd", merged=True, dims=("readout", "tau"), variables=VARIABLES)
    if args.ref and (unlike := unlike_notebook(ds)):
        raise WrongResultError(f"ref: the notebook's figures are of its seed-compatible settings (--phase per-dataset "
                               f"--eval sum --init notebook); {args.merged} has {', '.join(unlike)}; leave out ref")  # fmt: skip
    print("\n".join(table(ds, args.ref is not None)))


if __name__ == "__main__":
    run(PROG, main)
