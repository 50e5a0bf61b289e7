"""Where the time of one grid cell goes on the CPU (fused backend, 10 batched seeds, one thread):
stimulus generation and index lists per seed, one training epoch per model and batch with the
compiled kernels timed by wrapping their ctypes calls, and evaluation per model.

    python benchmarks/profile_ipd.py                    # fr readout, tau 2 ms, 10 seeds
    python benchmarks/profile_ipd.py --readout mean --tau 0.02 --models 1
    python benchmarks/profile_ipd.py --models 60     # one batched model of 60: page faults
    python benchmarks/profile_ipd.py --epochs 6      # six timed epochs (run two at once: contention)
"""

from __future__ import annotations

import collections
import resource
import time
from pathlib import Path

import torch

from snnsim import allocator
from snnsim.backends import _native
from snnsim.cli import OneLineParser, description_of, duration_or_seconds, guarded, positive_int
from snnsim.config import RunConfig
from snnsim.studies import ipd


def main(argv=None) -> int:
    ap = OneLineParser(description=description_of(__doc__))
    ap.add_argument(
        "--readout", default="fr", choices=("mean", "max", "fr"), help="how the output is read (default fr)"
    )
    ap.add_argument(
        "--tau",
        type=duration_or_seconds,
        default=0.002,
        help="membrane time constant with a unit, or seconds (default 2ms)",
    )
    ap.add_argument("--models", type=positive_int, default=10, help="seeds trained as one batched model (default 10)")
    ap.add_argument(
        "--epochs",
        type=positive_int,
        default=1,
        help="timed epochs (each one's time is printed); the last is profiled (default 1)",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    allocator.keep_freed_memory()  # as the runner does
    device = torch.device("cpu")
    cfg = RunConfig(backend="fused", readout=args.readout, tau=args.tau, epochs=1, repeats=args.models)
    seeds = list(range(args.models))

    start = time.perf_counter()
    data = [ipd.make_stimuli(cfg, s, device, "train") for s in seeds]
    generation = (time.perf_counter() - start) / len(seeds)
    start = time.perf_counter()
    for d in data:
        d.sparse().csc()
    lists = (time.perf_counter() - start) / len(seeds)

    lib = _native.library()
    spent: dict[str, float] = collections.defaultdict(float)

    def timed_call(name, fn):
        def call(*a):
            t = time.perf_counter()
            fn(*a)
            spent[name] += time.perf_counter() - t

        return call

    for name in (
        "lif_fwd_f32",
        "lif_bwd_f32",
        "li_fwd_f32",
        "li_bwd_f32",
        "proj_fwd_f32",
        "proj_bwd_f32",
        "spike_mm_fwd_f32",
        "spike_mm_bwd_f32",
        "net_fwd_f32",
        "net_bwd_f32",
    ):
        setattr(lib, name, timed_call(name, getattr(lib, name)))

    model = ipd.STUDY.make_model([cfg] * len(seeds), seeds, device)
    trainer = ipd.IPDTrainer(model, cfg, data, seeds)
    trainer.epoch(lambda: None)  # warm-up epoch
    for e in range(args.epochs):
        spent.clear()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        trainer.epoch(lambda: None)
        epoch = time.perf_counter() - start
        if args.epochs > 1:
            print(f"epoch {e + 2}: {epoch:.2f} s (ended {time.strftime('%H:%M:%S')})", flush=True)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    n_batches = cfg.n_train_batches
    kernels = dict(spent)  # the epoch's kernel calls only (the evaluation below calls them too)
    start = time.perf_counter()
    ipd.predict(model, cfg, data)
    evaluation = (time.perf_counter() - start) / len(seeds)

    per_batch = epoch / n_batches * 1e3
    print(f"# fused, readout={cfg.readout}, tau={cfg.tau * 1e3:g} ms, {len(seeds)} batched models, 1 thread")
    print(f"stimulus generation per seed       {generation:7.2f} s")
    print(f"index lists (CSR + CSC) per seed   {lists:7.2f} s")
    print(f"evaluation per model (4,096 samples) {evaluation:5.2f} s")
    print(
        f"one epoch: {epoch:.2f} s = {per_batch:.1f} ms per batch of {len(seeds)} models "
        f"({per_batch / len(seeds):.2f} ms per model and batch; {faults / n_batches:,.0f} minor page faults per batch)"
    )
    for name, seconds in sorted(kernels.items(), key=lambda kv: -kv[1]):
        ms = seconds / n_batches * 1e3
        print(f"  {name:<14} {ms:6.2f} ms per batch ({100 * ms / per_batch:4.1f} %)")
    rest = per_batch - sum(kernels.values()) / n_batches * 1e3
    print(
        f"  {'rest':<14} {rest:6.2f} ms per batch ({100 * rest / per_batch:4.1f} %): the readout, loss, "
        "Adam, indexing, autograd, Python"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(Path(__file__).name, main))
