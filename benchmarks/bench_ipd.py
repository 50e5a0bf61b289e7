"""Time one full IPD training (the notebook's setting: 4,096 samples, batch 64, 10 epochs, Adam)
for the notebook's own loop, snnTorch's and Norse's tutorial-style loops and snnsim's backends,
plus the whole 60-training grid (3 readouts x 2 taus x 10 seeds): in this process through
``snnsim.runner.run_configs`` (on the CPU six batched models of 10, on CUDA one of 60; each
seed's data generated once)
and, on the CPU, as a real sweep of one pack per core (``snnsim.sweep local -j N --pack K``).

Everything runs in one process, on the same data, one case after the other; each row is the
median of ``--runs`` trainings. Peak memory, from one more (untimed) run of each case: on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the peak resident-set growth over the case's
start, sampled every 2 ms from ``/proc/self/statm`` after returning freed heap memory to the OS
with ``malloc_trim`` (torch allocations are invisible to tracemalloc).

    python benchmarks/bench_ipd.py                 # CPU, full
    python benchmarks/bench_ipd.py --quick         # smoke run: 2 epochs, 1 run, grid of 2 repeats
    python benchmarks/bench_ipd.py --device cuda
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import statistics
import sys
import threading
import time

import numpy as np
import torch
from torch import nn

from snnsim import runner
from snnsim.config import RunConfig
from snnsim.metrics import discretise
from snnsim.studies import ipd as ipd_study

# -- the notebook's formulation ("OOP way of SNN model"), written as in the notebook ---------------

BETA = 5.0


class NotebookSurrGradSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        out = torch.zeros_like(input)
        out[input > 0] = 1.0
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * BETA * torch.sigmoid(BETA * input) * (1 - torch.sigmoid(BETA * input))


notebook_spike_fn = NotebookSurrGradSpike.apply


def notebook_init(shape, device):
    W = nn.Parameter(torch.empty(shape, device=device, dtype=torch.float32, requires_grad=True))
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(W)
    bound = 1 / np.sqrt(fan_in)
    nn.init.uniform_(W, -bound, bound)
    return W


class NotebookLayer(nn.Module):
    def __init__(self, in_size, out_size, spike, tau, dt, steps, device):
        super().__init__()
        self.out_size, self.spike, self.tau, self.dt, self.steps, self.device = out_size, spike, tau, dt, steps, device
        self.W = notebook_init((in_size, out_size), device)

    def forward(self, input_spikes):
        batch_size = input_spikes.shape[0]
        v = torch.zeros((batch_size, self.out_size), device=self.device, dtype=torch.float32)
        s = torch.zeros((batch_size, self.out_size), device=self.device, dtype=torch.float32)
        h = torch.einsum("abc,cd->abd", (input_spikes, self.W))
        alpha = np.exp(-self.dt / self.tau)
        if self.spike:
            s_rec = [s]
            for t in range(self.steps - 1):
                new_v = (alpha * v + h[:, t, :]) * (1 - s)
                s = notebook_spike_fn(v - 1)
                v = new_v
                s_rec.append(s)
            return torch.stack(s_rec, dim=1)
        v_rec = [v]
        for t in range(self.steps - 1):
            v = alpha * v + h[:, t, :]
            v_rec.append(v)
        return torch.stack(v_rec, dim=1)


class NotebookNet(nn.Module):
    def __init__(self, cfg: RunConfig, device):
        super().__init__()
        spiking_out = cfg.readout == "fr"
        self.layer1 = NotebookLayer(2 * cfg.anf_per_ear, cfg.hidden, True, cfg.tau, cfg.dt, cfg.steps, device)
        self.layer2 = NotebookLayer(cfg.hidden, cfg.n_classes, spiking_out, cfg.tau, cfg.dt, cfg.steps, device)

    def forward(self, x):
        return self.layer2(self.layer1(x))


# -- tutorial-style library loops -------------------------------------------------------------------


class SnnTorchTutorialNet(nn.Module):
    """snnTorch tutorial 5 style: nn.Linear + snn.Leaky, a Python loop over steps."""

    def __init__(self, cfg: RunConfig):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        beta = math.exp(-cfg.dt / cfg.tau)
        grad = surrogate.fast_sigmoid(slope=25)
        self.fc1 = nn.Linear(2 * cfg.anf_per_ear, cfg.hidden, bias=False)
        self.lif1 = snn.Leaky(beta=beta, spike_grad=grad)
        self.fc2 = nn.Linear(cfg.hidden, cfg.n_classes, bias=False)
        self.spiking_out = cfg.readout == "fr"
        self.lif2 = snn.Leaky(beta=beta, spike_grad=grad, reset_mechanism="subtract" if self.spiking_out else "none")

    def forward(self, x):
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        rec = []
        for step in range(x.shape[1]):
            spk1, mem1 = self.lif1(self.fc1(x[:, step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            rec.append(spk2 if self.spiking_out else mem2)
        return torch.stack(rec, dim=1)


class NorseTutorialNet(nn.Module):
    """Norse tutorial style: nn.Linear + LIFBoxCell (LIBoxCell / LIFBoxCell output), a loop over steps."""

    def __init__(self, cfg: RunConfig):
        super().__init__()
        from norse.torch import LIBoxCell, LIBoxParameters, LIFBoxCell, LIFBoxParameters

        tau_inv = torch.as_tensor(1.0 / cfg.tau)
        self.fc1 = nn.Linear(2 * cfg.anf_per_ear, cfg.hidden, bias=False)
        self.cell1 = LIFBoxCell(LIFBoxParameters(tau_mem_inv=tau_inv), dt=cfg.dt)
        self.fc2 = nn.Linear(cfg.hidden, cfg.n_classes, bias=False)
        self.spiking_out = cfg.readout == "fr"
        self.cell2 = (
            LIFBoxCell(LIFBoxParameters(tau_mem_inv=tau_inv), dt=cfg.dt)
            if self.spiking_out
            else LIBoxCell(LIBoxParameters(tau_mem_inv=tau_inv), dt=cfg.dt)
        )

    def forward(self, x):
        s1 = s2 = None
        rec = []
        for step in range(x.shape[1]):
            z1, s1 = self.cell1(self.fc1(x[:, step]), s1)
            out, s2 = self.cell2(self.fc2(z1), s2)
            rec.append(out)
        return torch.stack(rec, dim=1)


def train_loop(model: nn.Module, cfg: RunConfig, ipds: torch.Tensor, spikes: torch.Tensor) -> float:
    """The notebook's training loop (data_generator + Adam + NLL of log-softmax of the readout)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    log_softmax_fn = nn.LogSoftmax(dim=1)
    loss_fn = nn.NLLLoss()
    labels = discretise(ipds, cfg.n_classes)
    loss = None
    for _ in range(cfg.epochs):
        perm = torch.randperm(spikes.shape[0], device=spikes.device)
        x_all, y_all = spikes[perm], labels[perm]  # the notebook's data_generator copies the set
        for i in range(spikes.shape[0] // cfg.batch_size):
            x_local = x_all[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            y_local = y_all[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            output = model(x_local)
            m = torch.max(output, 1).values if cfg.readout == "max" else torch.mean(output, 1)
            loss = loss_fn(log_softmax_fn(m), y_local)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return float(loss.detach())


# -- measurement ---------------------------------------------------------------------------------------


def _trim():
    """Give freed heap memory back to the OS (glibc), so each case's RSS growth is its own."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory growth during a ``with`` block (bytes)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss() - self.base)
            time.sleep(0.002)

    def __enter__(self):
        _trim()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = self._rss()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self._stop.set()
            self._thread.join()
        return False


def timed(fn, device) -> float:
    """Wall seconds of ``fn()`` (no memory sampling: on the CPU a sampling thread contends for
    the GIL with the timed code, which slowed the fused backend by about 20 %)."""
    _trim()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def peak_memory(fn, device) -> int:
    """Peak memory growth of one extra, untimed run of ``fn()`` (bytes)."""
    with PeakMemory(device) as mem:
        fn()
    return mem.peak


def grid_processes(cfgs: list[RunConfig], jobs: int, threads: int) -> float:
    """Wall time of the grid as a real sweep on this machine: an experiment file with the same
    settings, ``python -m snnsim.sweep local EXP -j JOBS --pack K`` (K = tasks / JOBS, one pack per
    process), result files written; in a temporary folder."""
    import subprocess
    import tempfile

    seeds = sorted({c.seed for c in cfgs})
    text = (
        f'name = "bench_grid"\n[fixed]\nstudy = "ipd"\nbackend = "fused"\nepochs = {cfgs[0].epochs}\n'
        f'device = "{cfgs[0].device}"\n[sweep]\nreadout = ["mean", "max", "fr"]\ntau = ["20ms", "2ms"]\n'
        f"seed = {seeds}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        exp = os.path.join(tmp, "bench_grid.toml")
        with open(exp, "w") as fh:
            fh.write(text)
        env = dict(os.environ, SNNSIM_THREADS=str(threads or 1), OMP_NUM_THREADS=str(threads or 1))
        cmd = [
            sys.executable,
            "-m",
            "snnsim.sweep",
            "--results-dir",
            os.path.join(tmp, "results"),
            "local",
            exp,
            "-j",
            str(jobs),
            "--pack",
            str(-(-len(cfgs) // jobs)),
            "--quiet",
        ]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"grid sweep failed: {proc.stdout}{proc.stderr}")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 epochs, 1 run each, grid with 2 repeats")
    ap.add_argument("--runs", type=int, default=3, help="trainings per row (median reported)")
    ap.add_argument("--readout", default="mean", choices=("mean", "max", "fr"))
    ap.add_argument("--tau", type=float, default=0.02, help="membrane time constant, s")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--only", default="", help="comma-separated row names to run (default all)")
    ap.add_argument("--no-grid", action="store_true")
    ap.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="also time the grid as this many sweep processes (packs), CPU only (default: all cores)",
    )
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is available here")
    device = torch.device(args.device)
    epochs = 2 if args.quick else 10
    runs = 1 if args.quick else args.runs
    grid_repeats = 2 if args.quick else 10
    cfg = RunConfig(readout=args.readout, tau=args.tau, epochs=epochs, device=args.device)
    seeds = [0]
    train_data = [ipd_study.make_stimuli(cfg, 0, device, "train")]
    dense = train_data[0].spikes.float()  # the notebook keeps the whole set as float
    ipds = train_data[0].ipd

    def notebook():
        torch.manual_seed(0)
        train_loop(NotebookNet(cfg, device), cfg, ipds, dense)

    def tutorial(cls):
        def fn():
            torch.manual_seed(0)
            train_loop(cls(cfg).to(device), cfg, ipds, dense)

        return fn

    def snnsim_backend(name):
        c = cfg.replace(backend=name)

        def fn():
            model = ipd_study.STUDY.make_model([c], seeds, device)
            trainer = ipd_study.IPDTrainer(model, c, train_data, seeds)
            for _ in range(c.epochs):
                trainer.epoch(lambda: None)

        return fn

    cases = [
        ("notebook loop", notebook),
        ("snnTorch tutorial loop", tutorial(SnnTorchTutorialNet)),
        ("Norse tutorial loop", tutorial(NorseTutorialNet)),
        ("snnsim snntorch", snnsim_backend("snntorch")),
        ("snnsim norse", snnsim_backend("norse")),
        ("snnsim fused", snnsim_backend("fused")),
    ]
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    print(
        f"# device={device} ({torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')}, cpus={os.cpu_count()}, "
        f"readout={cfg.readout}, tau={cfg.tau * 1e3:g} ms, epochs={epochs}, runs={runs}",
        flush=True,
    )
    snnsim_backend("fused")()  # warm-up: builds/loads the compiled kernels outside the timings
    rows = []
    for name, fn in cases:
        if only and name not in only:
            continue
        times = [timed(fn, device) for _ in range(runs)]
        rows.append((name, statistics.median(times), peak_memory(fn, device), times))
        print(f"  {name}: {', '.join(f'{t:.2f}' for t in times)} s", flush=True)

    grid_cfgs = [
        RunConfig(backend="fused", readout=readout, tau=tau, epochs=epochs, seed=seed, device=args.device)
        for readout in ("mean", "max", "fr")
        for tau in (0.02, 0.002)
        for seed in range(grid_repeats)
    ]
    grids = []
    if not args.no_grid:
        # one process: the 60 trainings as batched models (CPU: 6 of 10; CUDA: 1 of 60), each seed's data once
        before = PeakMemory(device)._rss() if device.type == "cpu" else 0
        seconds = timed(lambda: runner.run_configs(grid_cfgs, progress=False), device)
        # the grid's peak from the process's lifetime peak (it allocates more than any case
        # before it), so that the grid is not run a second time just for its memory
        peak = (
            torch.cuda.max_memory_allocated()
            if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        )
        grids.append(("one process (run_many)", seconds, peak))
        print(f"  grid, one process: {seconds:.1f} s", flush=True)
        if args.jobs > 1 and device.type == "cpu":
            seconds = grid_processes(grid_cfgs, args.jobs, args.threads)
            grids.append(
                (
                    f"{args.jobs} processes (sweep local -j {args.jobs} --pack {-(-len(grid_cfgs) // args.jobs)})",
                    seconds,
                    None,
                )
            )
            print(f"  grid, {args.jobs} processes: {seconds:.1f} s", flush=True)

    base = next((r[1] for r in rows if r[0] == "notebook loop"), None)
    print()
    print(f"{'case':<26}{'median s':>10}{'x notebook':>12}{'peak MB':>10}")
    for name, med, peak, _ in rows:
        ratio = f"{base / med:.1f}x" if base else "-"
        print(f"{name:<26}{med:10.2f}{ratio:>12}{peak / 2**20:10.0f}")
    n = len(grid_cfgs)
    for label, seconds, peak in grids:
        memory = f", peak {peak / 2**20:.0f} MB" if peak is not None else ""
        print(
            f"grid: {n} trainings (3 readouts x 2 taus x {grid_repeats} seeds, fused, data + training + "
            f"evaluation), {label}: {seconds:.1f} s ({seconds / n:.2f} s per training){memory}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
