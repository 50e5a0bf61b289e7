"""Same numbers whatever the threads or the batching, over the model space: each case (tiny
settings, 2 or 3 repeats) runs batched with the default kernel threads, and again with
``SNNSIM_THREADS=1``, with ``SNNSIM_THREADS=3`` and with ``--no-batch-repeats``; every data
variable of the written and reloaded result files (but ``train_seconds``) must be equal, bit for
bit. ``--packs``: IPD configs that differ by ``--tau`` and ``--readout`` (one batched model)
against each run alone. Prints one table row per case and backend; exit 1 if any differs.

    python benchmarks/same_numbers.py                       # every case (about 25 minutes on 2 cores)
    python benchmarks/same_numbers.py --only "ipd adaptive,bmi recipe" --packs   # cases whose labels contain these

The torch-side threads are one during a run (:func:`snnsim.threads.deterministic`), so the
thread columns exercise the compiled kernels (``fused``, and IPD's sparse input layer of
``fused``), which use more than one thread once a call holds 2^16 values (repeats 2, hidden 16,
batch 64, 100 steps: 2 threads).
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np

from snnsim import results, runner
from snnsim import run as runcli
from snnsim.cli import OneLineParser, description_of, guarded

ALL = ("snntorch", "norse", "fused")
SNT_NORSE = ("snntorch", "norse")
ADAPT = ("norse", "fused")
IPD = "--epochs 2 --n-train-batches 4 --n-test-batches 2 --hidden 16 --repeats 2"
ODD = "--epochs 4 --n-train-batches 4 --n-test-batches 2 --hidden 7 --duration 23ms --repeats 2 --neuron standard"
SPLIT = (
    "--epochs 8 --n-train-batches 2 --n-test-batches 1 --n-val-batches 1 --patience 1 --hidden 16 --repeats 3 --lr 0.03"
)
BMI = "--study bmi --epochs 2 --repeats 2 --hidden 32 --n-train-folds 4"
MS = " --neuron standard"
TRAINING = " --ema 0.8 --fresh-data --lr-schedule cosine --grad-clip 0.5"

#: (label, flags, backends); "bmi recipe" and the baselines run without --backend.
CASES = (
    ("ipd base", IPD, ALL),
    ("ipd standard", IPD + MS, ALL),
    ("ipd synaptic", IPD + MS + " --tau-syn 5ms", SNT_NORSE),
    ("ipd adaptive", IPD + MS + " --tau-adapt 50ms", ADAPT),
    ("ipd recurrent", IPD + MS + " --recurrent", SNT_NORSE),
    ("ipd two layers", IPD.replace("16", "16,16") + MS, ALL),
    ("ipd two layers adaptive", IPD.replace("16", "16,16") + MS + " --tau-adapt 50ms", ADAPT),
    ("ipd learn-tau", IPD + MS + " --learn-tau", SNT_NORSE),
    ("ipd delays fixed", IPD + MS + " --delays fixed --max-delay 5ms", SNT_NORSE),
    ("ipd delays learned", IPD + MS + " --delays learned --max-delay 5ms", SNT_NORSE),
    (
        "ipd all model space",
        IPD.replace("16", "8,6") + MS + " --recurrent --tau-syn 5ms --tau-adapt 50ms "
        "--learn-tau --delays learned --max-delay 4ms --rate-reg 0.1",
        ("norse",),
    ),  # fmt: skip
    ("ipd fresh-data", IPD + " --fresh-data", ALL),
    ("ipd ema", IPD + " --ema 0.9", ALL),
    ("ipd cosine", IPD + " --lr-schedule cosine", ALL),
    ("ipd grad-clip", IPD + " --grad-clip 0.5", ALL),
    ("ipd rate-reg", IPD + " --rate-reg 0.1", ALL),
    ("ipd 7x23 training options", ODD + TRAINING + " --n-val-batches 2 --patience 1", ALL),
    (
        "ipd 7x23 model space",
        ODD + " --recurrent --tau-syn 5ms --learn-tau --delays learned --max-delay 4ms",
        SNT_NORSE,
    ),
    ("ipd 7+5x23 adaptive", ODD.replace("7 ", "7,5 ") + " --tau-adapt 50ms", ADAPT),
    ("ipd early stops apart", SPLIT, ALL),
    ("ipd early stops apart with options", SPLIT + TRAINING, ALL),
    ("bmi recipe", "--study bmi --epochs 2 --repeats 2", ("fused",)),
    ("bmi recipe small", BMI, ALL),
    ("bmi bins", BMI + " --encoding bins --input-rank 0", ALL),
    ("bmi rank 8", BMI + " --input-rank 8", ALL),
    ("bmi dropout and noise", BMI + " --dropout 0.2 --input-noise 0.1", ALL),
    ("bmi readout units 3", BMI + " --readout-units 3", ALL),
    ("bmi torque both dims", BMI + " --target torque --dim all", ALL),
    (
        "bmi bins model space",
        BMI.replace("32", "7,5") + " --encoding bins --input-rank 0" + MS + " --recurrent --tau-syn 5ms --learn-tau",
        SNT_NORSE,
    ),  # fmt: skip
    ("bmi bins adaptive", BMI + " --encoding bins --input-rank 0" + MS + " --tau-adapt 50ms", ADAPT),
    ("bmi delays", BMI + " --input-rank 0" + MS + " --delays learned --max-delay 3ms", SNT_NORSE),
    (
        "bmi training options",
        BMI.replace("2 --repeats 2", "10 --repeats 3") + " --patience 1 --lr 0.003 --ema 0.8 "
        "--lr-schedule cosine --grad-clip 0.5 --dropout 0.2 --input-noise 0.1",
        ALL,
    ),  # fmt: skip
    (
        "bmi ann",
        "--study bmi --model ann --epochs 2 --repeats 2 --n-train-folds 4 --dropout 0.2 --input-noise 0.1",
        ("",),
    ),
    ("bmi linear", "--study bmi --model linear --repeats 2 --n-train-folds 4", ("",)),
)

PACK_OPTIONS = (("pack base", "", ALL), ("pack adaptive", MS + " --tau-adapt 50ms", ADAPT),
                ("pack model space", MS + " --hidden 8,6 --recurrent --tau-syn 5ms --learn-tau --delays learned "
                 "--max-delay 4ms", SNT_NORSE),
                ("pack training options", TRAINING + " --n-val-batches 1 --patience 1 --epochs 5 --lr 0.03", ALL))  # fmt: skip


def config(flags: str):  # noqa: ANN201
    return runcli.config_from_args(runcli.build_parser().parse_args(shlex.split(flags + " --quiet")))


def trained(cfg, threads: int | None, path: Path):  # noqa: ANN001, ANN201
    """The reloaded result file of ``cfg`` trained with ``threads`` kernel threads (None: the default)."""
    if threads is None:
        os.environ.pop("SNNSIM_THREADS", None)
    else:
        os.environ["SNNSIM_THREADS"] = str(threads)
    try:
        return results.load(results.write(runner.run(cfg, progress=False), path, overwrite=True))
    finally:
        os.environ.pop("SNNSIM_THREADS", None)


def differing(a, b) -> list[str]:  # noqa: ANN001
    """The data variables of ``a`` and ``b`` (but the wall time) that are not equal bit for bit."""
    names = sorted((set(a.data_vars) | set(b.data_vars)) - {"train_seconds"})
    return [n for n in names if n not in a or n not in b or not np.array_equal(a[n].values, b[n].values, equal_nan=a[n].dtype.kind == "f")]  # fmt: skip


def cell(names: list[str]) -> str:
    return "same" if not names else "DIFF " + ",".join(names)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=description_of(__doc__))
    parser.add_argument("--only", default="", help="comma-separated words; the cases whose labels contain one")
    parser.add_argument("--packs", action="store_true", help="also the IPD pack checks")
    ns = parser.parse_args(argv)
    only = [s.strip() for s in ns.only.split(",") if s.strip()]
    labels = [label for label, _, _ in CASES + PACK_OPTIONS]
    unknown = [o for o in only if not any(o in label for label in labels)]
    if unknown:
        parser.error(f"--only: no case label contains {unknown[0]!r}; cases: {', '.join(labels)}")
    bad = 0
    print(
        "| case | backend | vars | SNNSIM_THREADS=1 | SNNSIM_THREADS=3 | --no-batch-repeats | s |\n|---|---|---|---|---|---|---|"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for label, flags, backends in CASES:
            if only and not any(o in label for o in only):
                continue
            for backend in backends:
                start = time.perf_counter()
                cfg = config(flags + (f" --backend {backend}" if backend and label != "bmi recipe" else ""))
                path = Path(tmp, "run")
                ref = trained(cfg, None, path.with_suffix(".ref.h5"))
                diffs = [differing(ref, trained(cfg, 1, path.with_suffix(".t1.h5"))),
                         differing(ref, trained(cfg, 3, path.with_suffix(".t3.h5"))),
                         differing(ref, trained(cfg.replace(batch_repeats=False), None, path.with_suffix(".nb.h5")))]  # fmt: skip
                bad += any(diffs)
                note = ""
                if "best_epoch" in ref:
                    note = f" (best {ref['best_epoch'].values.tolist()}, trained {np.isfinite(ref['loss'].values).sum(-1).tolist()})"  # fmt: skip
                print(f"| {label}{note} | {cfg.backend if backend else '-'} | {len(ref.data_vars)} | "
                      + " | ".join(map(cell, diffs)) + f" | {time.perf_counter() - start:.0f} |", flush=True)  # fmt: skip
    if ns.packs:
        print("\n| pack (tau 5ms mean + 20ms max) | backend | first alone | second alone |\n|---|---|---|---|")
        for label, flags, backends in PACK_OPTIONS:
            if only and not any(o in label for o in only):
                continue
            for backend in backends:
                a = config(f"{IPD}{flags} --backend {backend} --tau 5ms --readout mean")
                b = config(f"{IPD}{flags} --backend {backend} --tau 20ms --readout max")
                assert len(runner.plan([a, b])) == 1, "not one batched model"
                pa, pb = runner.run_configs([a, b], progress=False)
                diffs = [differing(pa, runner.run(a, progress=False)), differing(pb, runner.run(b, progress=False))]
                bad += any(diffs)
                print(f"| {label} | {backend} | " + " | ".join(map(cell, diffs)) + " |", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(guarded(Path(__file__).name, main))
