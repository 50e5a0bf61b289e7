"""A second process beside a measurement: a busy loop of one kind, for a fixed time, then its rate.

    python benchmarks/neighbour.py matmul --size 128 --seconds 16   # arithmetic in L1/L2 (one thread)
    python benchmarks/neighbour.py copy --seconds 16                # numpy.copyto of 64 MB arrays

Used with ``profile_ipd.py --epochs N`` (benchmarks/README.md, "Two processes at once").
"""

from __future__ import annotations

import time
from pathlib import Path

from snnsim.cli import OneLineParser, description_of, guarded, positive_float, positive_int


def main(argv=None) -> int:
    ap = OneLineParser(description=description_of(__doc__))
    ap.add_argument("kind", choices=("matmul", "copy"), help="matrix products (one thread) or copies of 64 MB arrays")
    ap.add_argument("--size", type=positive_int, default=128, help="matrix side (matmul; default 128)")
    ap.add_argument("--seconds", type=positive_float, default=16.0, help="how long the loop runs, s (default 16)")
    args = ap.parse_args(argv)
    if args.kind == "matmul":
        import torch

        torch.set_num_threads(1)
        a = torch.rand(args.size, args.size)
        step = lambda: a @ a  # noqa: E731
    else:
        import numpy as np

        src = np.ones(64 * 1024 * 1024 // 8)
        dst = np.empty_like(src)
        step = lambda: np.copyto(dst, src)  # noqa: E731
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < args.seconds:
        step()
        n += 1
    elapsed = time.perf_counter() - start
    if args.kind == "matmul":
        print(f"matmul {args.size}: {n / elapsed:,.0f} products per second")
    else:
        print(f"copy: {n * 2 * src.nbytes / elapsed / 1e9:.1f} GB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(guarded(Path(__file__).name, main))
