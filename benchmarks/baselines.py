"""The baselines of the speed benchmark, each run in its own process exactly as its users run it.

    python benchmarks/baselines.py notebook|snntorch|norse [--readout mean] [--tau 0.02] [--epochs 10]

``notebook``: the notebook's "OOP way of SNN model" (einsum, a Python loop over steps, its
``SurrGradSpike``, its training loop); ``snntorch`` and ``norse``: the same network written as
the libraries' tutorials teach (``nn.Linear`` + ``snn.Leaky`` or ``LIFBoxCell``, a loop over
steps). Nothing here changes torch's threads or OpenMP settings. The stimuli are snnsim's (the
notebook's Poisson IPD generator); only the training loop is timed, and one JSON line is
printed: {"case", "train_s", "torch", "threads", ...}.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from snnsim.cli import OneLineParser, description_of, duration_or_seconds, guarded
from snnsim.config import RunConfig
from snnsim.device import resolve_device
from snnsim.metrics import discretise
from snnsim.studies.ipd import make_stimuli

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


CASES = {"notebook": NotebookNet, "snntorch": SnnTorchTutorialNet, "norse": NorseTutorialNet}


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=description_of(__doc__))
    ap.add_argument(
        "case", choices=tuple(CASES), help="the loop to time: the notebook's, or the snnTorch or Norse tutorial's"
    )
    ap.add_argument(
        "--readout", default="mean", choices=("mean", "max", "fr"), help="how the output is read (default mean)"
    )
    ap.add_argument(
        "--tau",
        type=duration_or_seconds,
        default=0.02,
        help="membrane time constant with a unit, or seconds (default 20ms)",
    )
    ap.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    ap.add_argument("--n-train-batches", type=int, default=64, help="training set size in batches of 64 (default 64)")
    ap.add_argument("--device", default="cpu", help="where to train: cpu, cuda or auto (default cpu)")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    cfg = RunConfig(readout=args.readout, tau=args.tau, epochs=args.epochs, n_train_batches=args.n_train_batches,
                    device=args.device)  # fmt: skip
    data = make_stimuli(cfg, 0, device, "train")
    dense = data.spikes.float()  # the notebook keeps the whole set as float
    torch.manual_seed(0)
    model = CASES[args.case](cfg, device) if args.case == "notebook" else CASES[args.case](cfg).to(device)
    # torch's optimisers import torch._dynamo at first use (seconds): outside the timing, as snnsim does
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    loss = train_loop(model, cfg, data.ipd, dense)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "case": args.case, "train_s": seconds, "final_loss": loss, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(Path(__file__).name, main))
