"""Resume after SIGKILL, bit for bit, for the options of the model space and the BMI study.

    python benchmarks/resume_after_kill.py WORKDIR [CASE,CASE...]      # MODES=..., SEED=... in the environment

For each case (tiny settings; :data:`CASES`): one uninterrupted ``python -m snnsim.run`` into
``WORKDIR/CASE/whole`` (one of an earlier call is reused where its settings, snnsim numerics and
versions are those of this call; else it is run again, with a line saying why), then for each mode a run into ``WORKDIR/CASE/MODE`` killed with SIGKILL
and the same command again, which resumes from the checkpoint; every data variable and attribute
of its result file (timings and resume attributes aside) compared exactly with the uninterrupted
run's, and the TensorBoard scalars where the case writes them. Modes (``MODES``, comma-separated;
default ``boundary,mid-epoch``): ``boundary``, killed as soon as the checkpoint's sidecar names a
random epoch (after the best epoch and before the stop, for the early-stopping cases);
``mid-epoch``, a random 0.3-0.7 of an epoch later; ``threads``, as ``mid-epoch`` but the killed
run on one kernel thread (``SNNSIM_THREADS=1``) and the resumed one on two; ``last``, killed
after the checkpoint of the last epoch trained (in the evaluation or the write); ``term`` and
``usr1``, as ``mid-epoch`` with SIGTERM or SIGUSR1 instead (a clean stop, exit 128 + signal). Prints one line
per case and mode and a Markdown table. Each kill is timed by polling, so a kill that came too
late reads "not killed"."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from snnsim.cli import OneLineParser, description_of, guarded

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
MODES = ("boundary", "mid-epoch", "threads", "last", "term", "usr1")
TIMING = {"train_seconds"}
VARYING = {"created", "resumed_from_epoch", "data_sha256", "resumed_seconds"}

IPD = [
    "--epochs",
    "6",
    "--n-train-batches",
    "8",
    "--n-test-batches",
    "1",
    "--batch-size",
    "16",
    "--hidden",
    "16",
    "--quiet",
]
VAL = ["--n-val-batches", "1"]
BMI = ["--study", "bmi", "--quiet"]
BMI_SMALL = BMI + ["--epochs", "6", "--hidden", "16", "--n-train-folds", "3", "--batch-size", "128"]
CASES = {
    "ipd-default": IPD,
    "ipd-synaptic": IPD + ["--neuron", "standard", "--tau-syn", "5ms"],
    "ipd-adaptive": IPD + ["--backend", "norse", "--neuron", "standard", "--tau-adapt", "100ms", "--adapt-jump", "0.2"],
    "ipd-recurrent": IPD + ["--neuron", "standard", "--recurrent"],
    "ipd-hidden16x16": IPD[:-3] + ["--hidden", "16,16", "--quiet"] + ["--neuron", "standard"],
    "ipd-learn-tau": IPD + ["--neuron", "standard", "--learn-tau"],
    "ipd-delays-learned": IPD + ["--neuron", "standard", "--delays", "learned"],
    "bmi-readout-weighted": BMI
    + ["--epochs", "6", "--hidden", "16", "--n-train-folds", "3", "--readout", "weighted", "--readout-units", "2"],
    "ipd-fresh-data": IPD + ["--fresh-data"],
    "ipd-ema": IPD + ["--ema", "0.9"],
    "ipd-cosine": IPD + ["--lr-schedule", "cosine"],
    "ipd-val-ema-cosine": IPD + VAL + ["--ema", "0.9", "--lr-schedule", "cosine", "--fresh-data"],
    "ipd-earlystop": [a if a != "6" else "14" for a in IPD] + VAL + ["--patience", "2", "--lr", "0.05"],
    "ipd-earlystop-repeats2": [a if a != "6" else "14" for a in IPD]
    + VAL
    + ["--patience", "2", "--lr", "0.05", "--repeats", "2", "--ema", "0.9"],
    "ipd-unbatched-repeats2": IPD + VAL + ["--repeats", "2", "--no-batch-repeats", "--ema", "0.9"],
    "ipd-fused-val-ema": IPD + VAL + ["--backend", "fused", "--ema", "0.9"],
    "ipd-tensorboard": IPD + VAL + ["--tensorboard", "TB"],
    "bmi-recipe": BMI + ["--epochs", "4"],
    "bmi-earlystop-repeats2": [a if a != "6" else "12" for a in BMI_SMALL]
    + ["--patience", "2", "--lr", "0.03", "--repeats", "2"],
    "bmi-ann": BMI_SMALL + ["--model", "ann"],
    "bmi-input-rank": BMI_SMALL + ["--input-rank", "4"],
    "bmi-noise-dropout": BMI_SMALL + ["--input-noise", "0.1", "--dropout", "0.2"],
}


def cmd(args: list[str], out: Path) -> list[str]:
    args = [str(out.parent / "tb") if a == "TB" else a for a in args]
    return [sys.executable, "-m", "snnsim.run", *args, "--out", str(out)]


def outdated(whole: Path, args: list[str]) -> str | None:
    """Why the uninterrupted run ``whole`` of an earlier call is not what ``args`` would make now
    (None: it is, and is reused): unreadable, other settings, other snnsim numerics or versions."""
    from snnsim import results
    from snnsim.errors import SnnsimError
    from snnsim.run import build_parser, config_from_args

    try:
        attrs = results.load(whole).attrs
        was = json.loads(attrs["config"])
    except (OSError, ValueError, KeyError, SnnsimError) as exc:
        return f"cannot be read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    now = json.loads(config_from_args(build_parser().parse_args(cmd(args, whole)[3:])).to_json())
    if differ := sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k)):
        return f"has other settings ({', '.join(differ)})"
    if results.numerics_version(dict(attrs)) != results.NUMERICS_VERSION:
        return f"has snnsim numerics {results.numerics_version(dict(attrs))} (here {results.NUMERICS_VERSION})"
    try:
        versions = json.loads(attrs.get("versions") or "{}")
    except ValueError:
        versions = {}
    here = results.library_versions()
    if differ := sorted(k for k in set(versions) | set(here) if versions.get(k) != here.get(k)):
        return "was made with " + ", ".join(f"{k} {versions.get(k)} (here {here.get(k)})" for k in differ)
    return None


def sidecar(folder: Path) -> dict | None:
    for p in sorted(folder.glob(".*.ckpt.json")):
        try:
            return json.loads(p.read_text())
        except ValueError:
            return None
    return None


def killed(
    args: list[str], out: Path, at: int, fraction: float, per_epoch: float, env: dict = ENV, sig: int = signal.SIGKILL
) -> str:
    """SIGKILL the run once its sidecar names epoch ``at``, plus ``fraction`` of an epoch (the time
    between the last two sidecars seen, else ``per_epoch``); what happened."""
    proc = subprocess.Popen(cmd(args, out), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen, changes = None, {}
    while proc.poll() is None:
        info = sidecar(out.parent)
        if info:
            changes.setdefault(info["epoch"], time.monotonic())
        if info and info["epoch"] >= at:
            seen = info["epoch"]
            if fraction:
                e = info["epoch"]
                epoch_s = changes[e] - changes[e - 1] if e - 1 in changes else per_epoch
                time.sleep(fraction * epoch_s)
            proc.send_signal(sig)
            break
        time.sleep(0.005)
    proc.wait()
    after = sidecar(out.parent)
    if proc.returncode not in (-signal.SIGKILL, 128 + sig):
        return f"not killed (rc {proc.returncode})"
    return f"{signal.Signals(sig).name} at sidecar {seen}->{after and after['epoch']}"


def compare(a, b) -> list[str]:
    bad = []
    if set(a.data_vars) != set(b.data_vars):
        bad.append(f"vars {set(a.data_vars) ^ set(b.data_vars)}")
    for name in sorted((set(a.data_vars) & set(b.data_vars)) - TIMING):
        x, y = a[name].values, b[name].values
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            bad.append(name)
    for k in sorted((set(a.attrs) | set(b.attrs)) - VARYING):
        if str(a.attrs.get(k)) != str(b.attrs.get(k)):
            bad.append(f"attr {k}")
    return bad


def scalars(folder: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for run in sorted(p for p in folder.iterdir() if p.is_dir()):
        acc = EventAccumulator(str(run))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out[(run.name, tag)] = [(e.step, e.value) for e in acc.Scalars(tag)]
    return out


def main(argv: list[str] | None = None) -> int:
    from snnsim import results

    parser = OneLineParser(description=description_of(__doc__))
    # absolute: the runs start in the source tree (cwd=ROOT), and a relative --out would be read from there
    parser.add_argument("workdir", type=lambda text: Path(text).resolve(),
                        help="the folder the runs go into (made if missing)")  # fmt: skip
    parser.add_argument("cases", nargs="?", default="", help="comma-separated case names (default: every case)")
    ns = parser.parse_args(argv)
    only = [c for c in ns.cases.split(",") if c]
    modes = os.environ.get("MODES", "boundary,mid-epoch").split(",")
    if unknown := [c for c in only if c not in CASES]:
        parser.error(f"no case {unknown[0]!r}; cases: {', '.join(CASES)}")
    if unknown := [m for m in modes if m not in MODES]:
        parser.error(f"MODES: no mode {unknown[0]!r}; modes: {', '.join(MODES)}")
    rng = random.Random(int(os.environ.get("SEED", "1")))
    rows = []
    for name, args in CASES.items():
        if only and name not in only:
            continue
        base = ns.workdir / name
        whole = base / "whole" / "r.h5"
        whole.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        stale = outdated(whole, args) if whole.exists() else None
        if stale:
            print(f"{name}: the reference whole/r.h5 of an earlier call {stale}: running it again", flush=True)
            shutil.rmtree(whole.parent)  # its TensorBoard events and checkpoints too
            whole.parent.mkdir(parents=True)
        if stale or not whole.exists():
            p = subprocess.run(cmd(args, whole), cwd=ROOT, env=ENV, capture_output=True, text=True)
            if p.returncode:
                rows.append((name, "whole", f"FAILED rc {p.returncode}: {p.stderr.strip().splitlines()[-1:]}"))
                print(rows[-1], flush=True)
                continue
        a = results.load(whole)
        epochs = int(json.loads(a.attrs["config"])["epochs"])
        per_epoch = float(np.nanmax(a["train_seconds"].values)) / epochs
        best = a["best_epoch"].values if "best_epoch" in a else None
        ran = int(np.isfinite(a["loss"].values).sum(-1).max()) if "loss" in a else epochs
        for mode in modes:
            # threads: killed mid-epoch while on 1 kernel thread, resumed on 2 (the uninterrupted run: 2)
            env_kill = dict(ENV, SNNSIM_THREADS="1") if mode == "threads" else ENV
            env_again = dict(ENV, SNNSIM_THREADS="2") if mode == "threads" else ENV
            out = base / mode / "r.h5"
            out.parent.mkdir(parents=True, exist_ok=True)
            for p in out.parent.iterdir():
                if p.is_file():
                    p.unlink()
            if mode == "last":  # the checkpoint of the last epoch trained: killed in the evaluation or the write
                at = ran
            elif "earlystop" in name and best is not None:
                at = int(np.max(best))  # after the best epoch, before the stop
            else:
                at = rng.randint(1, max(1, ran - 2))
            fraction = rng.uniform(0.3, 0.7) if mode in ("mid-epoch", "threads", "term", "usr1") else 0.0
            sig = {"term": signal.SIGTERM, "usr1": signal.SIGUSR1}.get(mode, signal.SIGKILL)
            what = killed(args, out, at, fraction, per_epoch, env_kill, sig)
            p = subprocess.run(cmd(args, out), cwd=ROOT, env=env_again, capture_output=True, text=True)
            resumed = [line for line in p.stderr.splitlines() if "resuming" in line]
            if p.returncode:
                verdict = f"RERUN FAILED rc {p.returncode}: {p.stderr.strip().splitlines()[-1:]}"
            else:
                bad = compare(a, results.load(out))
                if "--tensorboard" in args:
                    sa, sb = scalars(whole.parent / "tb"), scalars(out.parent / "tb")
                    if sa != sb:
                        bad.append("tensorboard scalars")
                verdict = "EQUAL" if not bad else "DIFFER: " + ", ".join(bad)
            rows.append(
                (
                    name,
                    mode,
                    f"{what}; {resumed[0].split('(')[0].strip() if resumed else 'no resume'}; "
                    f"ran {ran}/{epochs} ep, best {None if best is None else best.tolist()}; {verdict}",
                )
            )
            print(rows[-1], flush=True)
        print(f"  ({time.monotonic() - t0:.0f}s, {per_epoch:.2f}s/epoch)", flush=True)
    print("\n| case | kill | outcome |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0 if all(r[2].endswith("EQUAL") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(guarded(Path(__file__).name, main))
