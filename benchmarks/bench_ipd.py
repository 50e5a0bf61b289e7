"""Speed of one IPD training and of the 60-training grid, every case measured as its users run it.

Each case runs in a fresh process of its own, the cases one after the other and the repeats
interleaved (case A, B, C, then A, B, C again ...), so that every case sees the same machine
minutes apart:

- the baselines (``benchmarks/baselines.py``): the notebook's own loop and the snnTorch and
  Norse tutorial loops, with torch's defaults (no thread or OpenMP setting changed);
- snnsim through its command line and its defaults: ``python -m snnsim.run --backend B
  --readout R --tau T --quiet --out FILE`` (its ``train_seconds``);
- the grid: ``python -m snnsim.sweep local ipd_readouts_corrected -j P --pack K`` (60 trainings:
  3 readouts x 2 taus x 10 seeds, data, training, evaluation and result files), wall time.

A *tuned* column runs every case again with one thread (``OMP_NUM_THREADS=1``,
``SNNSIM_THREADS=1``) and reports each case at its better setting; the main column is the
default. Each figure is the median of ``--runs`` repeats. The raw timings, the machine, torch's
build, the versions of snnsim (its commit and numerics version) and the libraries, and every
command go to ``benchmarks/results/<device>-<time>.json``, written after every measurement
(``"complete": false`` until the last, so that a run stopped part-way keeps its timings).

    python benchmarks/bench_ipd.py                       # CPU, the table in benchmarks/README.md
    python benchmarks/bench_ipd.py --quick               # smoke run (tiny trainings, one run)
    python benchmarks/bench_ipd.py --only "notebook loop,snnsim fused" --no-grid
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from snnsim.atomic_write import write_bytes
from snnsim.cli import OneLineParser, description_of, duration_or_seconds, guarded, positive_int
from snnsim.config import RunConfig
from snnsim.errors import EXIT_FAILED, ConfigError, ResultError, SnnsimError
from snnsim.results import NUMERICS_VERSION, check_writable, library_versions
from snnsim.units import parse_duration

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SNNSIM_THREADS": "1"}


def cases(args: argparse.Namespace, out: Path) -> dict[str, list[str]]:
    """Case name -> command line."""
    common = ["--readout", args.readout, "--tau", str(args.tau), "--epochs", str(args.epochs)]
    size = ["--n-train-batches", str(args.n_train_batches)]
    base = [sys.executable, str(HERE / "baselines.py")]
    tau = f"{args.tau * 1e3:g}ms"  # as a user writes it, where that is the baselines' tau exactly
    tau = tau if parse_duration(tau) == args.tau else f"{args.tau!r}s"
    run = [sys.executable, "-m", "snnsim.run", "--quiet", "--overwrite", "--out", str(out),
           "--readout", args.readout, "--tau", tau, "--epochs", str(args.epochs), *size,
           "--device", args.device]  # fmt: skip
    return {
        "notebook loop": [*base, "notebook", *common, *size, "--device", args.device],
        "snnTorch tutorial loop": [*base, "snntorch", *common, *size, "--device", args.device],
        "Norse tutorial loop": [*base, "norse", *common, *size, "--device", args.device],
        "snnsim snntorch": [*run, "--backend", "snntorch"],
        "snnsim norse": [*run, "--backend", "norse"],
        "snnsim fused": [*run, "--backend", "fused"],
    }


class CaseFailed(SnnsimError):
    """A case's (or the grid's) command failed: one line, exit 1; the timings before it are recorded."""

    exit_code = EXIT_FAILED


def failed(what: str, proc: subprocess.CompletedProcess) -> CaseFailed:
    """``what`` failed: the command's exit code and the last line it wrote (its one-line error)."""
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return CaseFailed(f"{what} failed (exit {proc.returncode}): {lines[-1] if lines else 'no message'}")


def measure(cmd: list[str], env: dict[str, str], out: Path, what: str) -> float:
    """Training seconds of one case in a fresh process (``what``: the case, named if it fails)."""
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise failed(what, proc)
    if "snnsim.run" in cmd:
        import h5py

        with h5py.File(out, "r") as f:
            return float(f["train_seconds"][()].mean())
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["train_s"])


def grid(experiment: str, processes: int, env: dict[str, str]) -> tuple[float, list[str]]:
    """Wall seconds of ``sweep local`` over the whole experiment in a temporary results folder."""
    with tempfile.TemporaryDirectory() as tmp:
        n = int(subprocess.run([sys.executable, "-m", "snnsim.sweep", "count", experiment], cwd=ROOT, env=env,
                               capture_output=True, text=True, check=True).stdout)  # fmt: skip
        cmd = [sys.executable, "-m", "snnsim.sweep", "--results-dir", tmp, "local", experiment,
               "-j", str(processes), "--pack", str(-(-n // processes)), "--quiet"]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise failed(f"grid {experiment} with {processes} process(es)", proc)
    return seconds, cmd


def speed_probe(seconds: float) -> float:
    """How fast this shared machine runs at the moment: products per second of a one-thread
    256 x 256 matrix-product loop (``neighbour.py matmul``) in a process of its own."""
    cmd = [sys.executable, str(HERE / "neighbour.py"), "matmul", "--size", "256", "--seconds", str(seconds)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return float(out.split(":")[1].split()[0].replace(",", ""))


def cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def machine() -> dict[str, object]:
    import torch

    info = cpuinfo()
    cpu = info.get("model name", platform.processor())
    flags = set(info.get("flags", "").split())
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {"cpu": cpu, "cpu_family": info.get("cpu family", "?"), "cpu_model": info.get("model", "?"),
            "simd": simd, "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__,
            "torch_default_threads": torch.get_num_threads(), "cuda_build": torch.version.cuda,
            "python": platform.python_version(), "snnsim_commit": commit.stdout.strip(),
            "versions": library_versions(), "numerics_version": NUMERICS_VERSION,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=description_of(__doc__))
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the trainings run (default cpu)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 epoch of 4 batches, 1 run (unless --runs), the smoke grid")  # fmt: skip
    ap.add_argument("--runs", type=positive_int, help="repeats per case (median reported; default 3, 1 with --quick)")
    ap.add_argument(
        "--readout", default="mean", choices=("mean", "max", "fr"), help="readout of every case (default mean)"
    )
    ap.add_argument(
        "--tau",
        type=duration_or_seconds,
        default=0.02,
        help="membrane time constant with a unit, or seconds (default 20ms)",
    )
    ap.add_argument("--only", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--no-grid", action="store_true", help="skip the grid of trainings (sweep local)")
    ap.add_argument("--no-tuned", action="store_true", help="skip the one-thread runs")
    ap.add_argument(
        "--results", type=Path, default=HERE / "results", help="folder of the JSON record (default benchmarks/results)"
    )
    args = ap.parse_args(argv)
    if args.results.exists() and not args.results.is_dir():
        ap.error(f"--results: {args.results} is a file; give the folder of the JSON records")
    try:  # before the runs (minutes), not after them: the folder made and written in, or refused
        check_writable(args.results / f"{args.device}-00000000-000000.json", flag="--results", example="")
    except ResultError as exc:
        ap.error(str(exc))
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            ap.error("--device: cuda asked for, but torch sees no CUDA device here")
        if not args.no_grid:  # sweep local runs the experiment's own device: a CPU grid in a cuda record
            ap.error("--device cuda: the grid runs on its experiment's device (the CPU), not CUDA; add --no-grid")
    args.epochs, args.n_train_batches = (1, 4) if args.quick else (10, 64)
    names = set(cases(args, Path("run.h5")))
    unknown = sorted({s.strip() for s in args.only.split(",") if s.strip()} - names)
    if unknown:
        ap.error(f"--only: unknown case {unknown[0]!r}; cases: {', '.join(sorted(names))}")
    for name in sorted({s.strip() for s in args.only.split(",") if s.strip()} or names):
        backend = {"backend": name.removeprefix("snnsim ")} if name.startswith("snnsim ") else {}
        try:  # a setting a case refuses: one line now, not a traceback when its turn comes (minutes on)
            RunConfig(readout=args.readout, tau=args.tau, epochs=args.epochs, n_train_batches=args.n_train_batches,
                      **backend)  # fmt: skip
        except ConfigError as exc:
            ap.error(f"{name}: {exc}")
    runs = args.runs = args.runs or (1 if args.quick else 3)  # the record names the runs made
    user_env = dict(os.environ)
    settings = {"default": user_env}
    if not args.no_tuned:
        settings["1 thread"] = {**user_env, **ONE_THREAD}
    info = machine()
    print(f"# {info['cpu']} (family {info['cpu_family']}, model {info['cpu_model']}, {info['simd']}), "
          f"{info['cores']} cores, torch {info['torch']} (default {info['torch_default_threads']} "
          f"threads), readout={args.readout}, tau={args.tau * 1e3:g} ms, epochs={args.epochs}, runs={runs}",
          flush=True)  # fmt: skip
    probe_seconds = 1.0 if args.quick else 5.0
    speed = {"before": speed_probe(probe_seconds)}
    print(f"# machine speed: {speed['before']:,.0f} matrix products per second (256 x 256, one thread)", flush=True)
    times: dict[str, dict[str, list[float]]] = {}
    grids: list[dict] = []
    record = args.results / f"{args.device}-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    written = False

    def save(complete: bool) -> None:
        """The record as it stands, in one step: after every measurement, so that a run stopped
        part-way (a time limit, scancel) keeps the timings it made (``complete`` false)."""
        nonlocal written
        medians = {n: {s: statistics.median(v) for s, v in by.items()} for n, by in times.items()}
        # the first write never replaces another run's record, the later ones this run's own
        write_bytes(record, json.dumps({
            "machine": info, "settings": {k: {e: v[e] for e in ONE_THREAD if e in v} for k, v in settings.items()},
            "args": {k: str(v) for k, v in vars(args).items()}, "commands": commands, "times": times,
            "medians": medians, "grids": grids, "speed_probe": speed, "complete": complete,
        }, indent=1).encode(), overwrite=written)  # fmt: skip
        written = True

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.h5"
        commands = cases(args, out)
        only = {s.strip() for s in args.only.split(",") if s.strip()}
        chosen = {k: v for k, v in commands.items() if not only or k in only}
        subprocess.run(commands["snnsim fused"], cwd=ROOT, capture_output=True)  # builds the kernels once
        for r in range(runs):
            for name, cmd in chosen.items():
                for setting, env in settings.items():
                    seconds = measure(cmd, env, out, f"{name} ({setting}), run {r + 1}")
                    times.setdefault(name, {}).setdefault(setting, []).append(seconds)
                    save(complete=False)  # before the line that says it is done
                    print(f"  run {r + 1}: {name} ({setting}): {seconds:.2f} s", flush=True)
    if not args.no_grid:
        experiment = "smoke" if args.quick else "ipd_readouts_corrected"
        for processes in [info["cores"]] if args.quick else sorted({1, info["cores"]}):  # a smoke run: once
            seconds, cmd = grid(experiment, processes, user_env)
            grids.append({"experiment": experiment, "processes": processes, "seconds": seconds, "command": cmd})
            save(complete=False)
            print(f"  grid {experiment}, {processes} process(es): {seconds:.1f} s", flush=True)

    speed["after"] = speed_probe(probe_seconds)
    print(f"# machine speed after the runs: {speed['after']:,.0f} matrix products per second "
          f"(before: {speed['before']:,.0f}; a gap means the machine's speed changed during the run)",
          flush=True)  # fmt: skip
    medians = {n: {s: statistics.median(v) for s, v in by.items()} for n, by in times.items()}
    base = medians.get("notebook loop", {})
    print()
    print("| case | default s | x notebook | tuned s (setting) | x notebook, tuned |\n|---|---|---|---|---|")
    for name, by in medians.items():
        best = min(by, key=by.get)
        ratio = f"{base['default'] / by['default']:.1f}x" if "default" in base else "-"
        tuned_base = min(base.values()) if base else None
        tuned = f"{tuned_base / by[best]:.1f}x" if tuned_base else "-"
        print(f"| {name} | {by['default']:.2f} | {ratio} | {by[best]:.2f} ({best}) | {tuned} |")
    for g in grids:
        print(f"grid: {g['experiment']} with {g['processes']} process(es): {g['seconds']:.1f} s")
    save(complete=True)
    print(f"raw timings: {record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(Path(__file__).name, main))
