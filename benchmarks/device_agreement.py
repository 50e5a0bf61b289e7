"""How far one IPD training on one device drifts from the same training on another, with the
arithmetic the only difference: the data are drawn once on the CPU and copied, the initial
weights come from the same CPU generator. Prints, per backend and readout, the training loss
per epoch on each device, the test accuracy (%) and the largest weight difference at the end.

    python benchmarks/device_agreement.py --devices cpu cuda fused snntorch norse   # on a GPU machine
    python benchmarks/device_agreement.py --devices cpu cpu fused                   # equal, bit for bit

Measured on an H200: benchmarks/README.md, "Measured: GPU".
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from snnsim.cli import OneLineParser, description_of, guarded, positive_int
from snnsim.config import RunConfig
from snnsim.device import resolve_device
from snnsim.studies.ipd import IPDData, IPDStudy, Stimuli
from snnsim.training import FitOptions

CASES = (("fr", 0.002), ("mean", 0.02))  # readout, tau (s)


def train(cfg: RunConfig, data: IPDData, device: torch.device) -> tuple[np.ndarray, float, dict, float]:
    """Loss per epoch, test accuracy (%), trained weights and seconds of one training on ``device``."""
    study = IPDStudy()
    data = IPDData(*(Stimuli(s.ipd.to(device), s.spikes.to(device)) for s in (data.train, data.test)))
    model = study.make_model([cfg], [cfg.seed], device)
    start = time.perf_counter()
    training = study.fit(model, [cfg], [data], [cfg.seed], FitOptions(progress=False))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    (row,) = study.evaluate(model, [cfg], [data], training)
    return np.asarray(training.loss[0]), row.test.acc, row.weights, seconds


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(description=description_of(__doc__))
    ap.add_argument("backends", nargs="+", choices=("fused", "snntorch", "norse"), help="the backends to train on")
    ap.add_argument("--devices", nargs=2, default=("cpu", "cuda"), metavar=("A", "B"),
                    help="the two devices compared (default cpu cuda)")  # fmt: skip
    ap.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    ap.add_argument("--n-train-batches", type=int, default=64, help="training set size in batches (default 64)")
    ap.add_argument(
        "--n-test-batches",
        type=positive_int,
        default=RunConfig().n_test_batches,
        help="test batches of the accuracy printed (the loss and weights do not depend on them; default "
        f"{RunConfig().n_test_batches})",
    )
    args = ap.parse_args(argv)
    if "cuda" in args.devices and not torch.cuda.is_available():
        ap.error("--devices: cuda asked for, but torch sees no CUDA device here")
    a, b = (resolve_device(d) for d in args.devices)
    for backend in args.backends:
        for readout, tau in CASES:
            cfg = RunConfig(study="ipd", backend=backend, readout=readout, tau=tau, epochs=args.epochs,
                            n_train_batches=args.n_train_batches, n_test_batches=args.n_test_batches)  # fmt: skip
            data = IPDStudy().make_data(cfg, cfg.seed, torch.device("cpu"))
            (la, acc_a, wa, sa), (lb, acc_b, wb, sb) = train(cfg, data, a), train(cfg, data, b)
            diff = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)
            print(f"{backend} {readout} tau={tau * 1e3:g}ms: loss {a} {np.round(la, 5).tolist()} {b} "
                  f"{np.round(lb, 5).tolist()} | test acc {acc_a:.2f} {acc_b:.2f} % | max |w diff| {diff:.3g} "
                  f"| train s {sa:.1f} {sb:.1f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(Path(__file__).name, main))
