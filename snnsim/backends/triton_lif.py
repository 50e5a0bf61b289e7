"""Triton kernels for the fused backend's LIF recurrence on CUDA (float32).

The same recurrence and adjoint as the C loops in ``kernels.c`` (see :mod:`snnsim.backends.fused`),
but as one kernel launch per layer and direction instead of about four launches per time step:
each program owns ``BLOCK`` neurons of one row of the (R, T, N) records and walks the T steps
with the membrane and the adjoint state in registers.

Imported only when a tensor off the CPU reaches the fused LIF and Triton imports. With
``TRITON_INTERPRET=1`` set before Triton is imported, :func:`lif_forward` and
:func:`lif_backward` also take CPU tensors (Triton's interpreter): that is how the tests check
the kernels on machines without a GPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 128  # neurons per program; rows x ceil(N / BLOCK) programs in all
INTERPRETED = bool(triton.knobs.runtime.interpret)  # kernels decorated for the CPU interpreter


# The kernels' parameters stay unannotated: Triton reads parameter annotations as kernel types.
# ruff: disable[ANN001, ANN202]
@triton.jit
def _lif_fwd(h, s, v, steps, n, alpha, vth, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n
    base = row.to(tl.int64) * steps * n
    v_t = tl.zeros([BLOCK], dtype=tl.float32)
    s_t = tl.zeros([BLOCK], dtype=tl.float32)
    tl.store(s + base + cols, s_t, mask=mask)
    tl.store(v + base + cols, v_t, mask=mask)
    for t in range(steps - 1):
        h_t = tl.load(h + base + t * n + cols, mask=mask, other=0.0)
        a = alpha * v_t
        a = a + h_t
        v_next = a * (1.0 - s_t)
        s_next = tl.where(v_t > vth, 1.0, 0.0)
        tl.store(v + base + (t + 1) * n + cols, v_next, mask=mask)
        tl.store(s + base + (t + 1) * n + cols, s_next, mask=mask)
        v_t = v_next
        s_t = s_next


@triton.jit
def _lif_bwd(
    h, s, v, gs, gv, gh, steps, n, alpha, vth, slope, HAS_GS: tl.constexpr, HAS_GV: tl.constexpr, BLOCK: tl.constexpr
):
    row = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n
    base = row.to(tl.int64) * steps * n
    last = base + (steps - 1) * n + cols
    if HAS_GV:
        lam_v = tl.load(gv + last, mask=mask, other=0.0)
    else:
        lam_v = tl.zeros([BLOCK], dtype=tl.float32)
    if HAS_GS:
        lam_s = tl.load(gs + last, mask=mask, other=0.0)
    else:
        lam_s = tl.zeros([BLOCK], dtype=tl.float32)
    tl.store(gh + last, tl.zeros([BLOCK], dtype=tl.float32), mask=mask)
    for i in range(steps - 1):
        at = base + (steps - 2 - i) * n + cols
        v_t = tl.load(v + at, mask=mask, other=0.0)
        s_t = tl.load(s + at, mask=mask, other=0.0)
        h_t = tl.load(h + at, mask=mask, other=0.0)
        sig = tl.sigmoid(slope * (v_t - vth))
        dsg = slope * sig * (1.0 - sig)
        keep = 1.0 - s_t
        lam = lam_v
        tl.store(gh + at, keep * lam, mask=mask)
        lam_v = alpha * keep * lam + dsg * lam_s
        if HAS_GV:
            lam_v += tl.load(gv + at, mask=mask, other=0.0)
        lam_s = -(alpha * v_t + h_t) * lam
        if HAS_GS:
            lam_s += tl.load(gs + at, mask=mask, other=0.0)


# ruff: enable[ANN001, ANN202]


def supported(h: torch.Tensor) -> bool:
    """True for the tensors the fused backend hands these kernels: float32 on CUDA."""
    return h.dtype == torch.float32 and h.is_cuda


def _grid(h: torch.Tensor, steps: int, n: int) -> tuple[int, int]:
    rows = h.numel() // max(steps * n, 1)
    return rows, triton.cdiv(n, BLOCK)


def lif_forward(h: torch.Tensor, alpha: float, v_th: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike and membrane records (..., T, N) of input currents ``h`` (..., T, N)."""
    h = h.contiguous()
    steps, n = h.shape[-2], h.shape[-1]
    spikes, mem = torch.empty_like(h), torch.empty_like(h)
    if h.numel():
        _lif_fwd[_grid(h, steps, n)](h, spikes, mem, steps, n, alpha, v_th, BLOCK=BLOCK)
    return spikes, mem


def lif_backward(
    h: torch.Tensor,
    spikes: torch.Tensor,
    mem: torch.Tensor,
    grad_spikes: torch.Tensor | None,
    grad_mem: torch.Tensor | None,
    alpha: float,
    v_th: float,
    slope: float,
) -> torch.Tensor:
    """Gradient with respect to ``h`` of the records' gradients (either may be None)."""
    h, spikes, mem = h.contiguous(), spikes.contiguous(), mem.contiguous()
    steps, n = h.shape[-2], h.shape[-1]
    gs = None if grad_spikes is None else grad_spikes.contiguous()
    gv = None if grad_mem is None else grad_mem.contiguous()
    grad_h = torch.empty_like(h)
    if h.numel():
        _lif_bwd[_grid(h, steps, n)](
            h,
            spikes,
            mem,
            h if gs is None else gs,
            h if gv is None else gv,
            grad_h,
            steps,
            n,
            alpha,
            v_th,
            slope,
            HAS_GS=gs is not None,
            HAS_GV=gv is not None,
            BLOCK=BLOCK,
        )
    return grad_h
