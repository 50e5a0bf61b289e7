"""Input currents of binary input spikes without dense matrix products (CPU, compiled kernels).

The IPD input spikes are 0/1 and about 22 % dense, so ``h = x @ w`` is, for every (model,
sample, step) row, the sum of the weight rows of the active inputs, and the weight gradient
``x^T @ dh`` adds each row's current gradient to the rows of its active inputs. Storing a data
set once as lists of active inputs (:class:`SpikeRows`) replaces the two dense products of the
input layer (and the per-batch bool -> float conversion of the input) by these sparse sums,
about 4x fewer operations; per model and row the sum is sequential in increasing input index,
so the result does not depend on how many models or samples are batched together.

The sums are rounded in a different order than a BLAS product: currents equal ``x @ w`` to
float tolerance, not bit for bit.
"""

from __future__ import annotations

import torch

from . import _native

class SpikeRows:
    """Binary spikes (M, S, T, C) as per-row lists of active inputs (CSR, int16 indices)."""

    def __init__(self, spikes: torch.Tensor):
        if spikes.device.type != "cpu":
            raise ValueError("SpikeRows holds CPU data")
        self.shape = tuple(spikes.shape)
        n_models, n_samples, steps, n_in = self.shape
        if n_in > 32767:
            raise ValueError("at most 32767 inputs")
        flat = spikes.reshape(-1, n_in).contiguous()
        if flat.dtype != torch.bool:
            flat = flat != 0
        x = flat.view(torch.uint8)
        lib = _native.library()
        self.ptr = torch.empty(flat.shape[0] + 1, dtype=torch.int64)
        lib.csr_build(x.data_ptr(), flat.shape[0], n_in, self.ptr.data_ptr(), None)
        self.idx = torch.empty(int(self.ptr[-1]) + 1, dtype=torch.int16)  # +1: the branchless fill writes one past
        lib.csr_build(x.data_ptr(), flat.shape[0], n_in, self.ptr.data_ptr(), self.idx.data_ptr())
        self._steps = torch.arange(steps, dtype=torch.int64)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Row ids (M, B*T) of the samples ``index`` (M, B) of every model, steps in order."""
        n_models, n_samples, steps, _ = self.shape
        base = (torch.arange(n_models, dtype=torch.int64)[:, None] * n_samples + index.cpu()) * steps
        return (base[:, :, None] + self._steps).reshape(n_models, -1).contiguous()


def _padded(n: int, dtype: torch.dtype) -> int:
    """Columns padded to whole blocks of four 32-byte vectors (the kernels' register blocking)."""
    block = 128 // torch.empty((), dtype=dtype).element_size()
    return (n + block - 1) // block * block


class _Project(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: torch.Tensor, data: SpikeRows, rows: torch.Tensor):
        n_models, n_rows = rows.shape
        n_out = w.shape[-1]
        padded = _padded(n_out, w.dtype)
        wp = torch.zeros(w.shape[:-1] + (padded,), dtype=w.dtype)
        wp[..., :n_out] = w
        h = torch.empty((n_models, n_rows, n_out), dtype=w.dtype)
        fwd = getattr(_native.library(), f"proj_fwd_{_native.suffix(w.dtype)}")
        for m in range(n_models):
            fwd(rows[m].data_ptr(), n_rows, data.ptr.data_ptr(), data.idx.data_ptr(), wp[m].data_ptr(), n_out, padded,
                h[m].data_ptr())
        ctx.data, ctx.rows, ctx.w_shape = data, rows, w.shape
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h):
        grad_h = grad_h.contiguous()
        data, rows = ctx.data, ctx.rows
        n_models, n_rows = rows.shape
        n_out = ctx.w_shape[-1]
        padded = _padded(n_out, grad_h.dtype)
        grad_w = torch.zeros(ctx.w_shape[:-1] + (padded,), dtype=grad_h.dtype)
        bwd = getattr(_native.library(), f"proj_bwd_{_native.suffix(grad_h.dtype)}")
        for m in range(n_models):
            bwd(rows[m].data_ptr(), n_rows, data.ptr.data_ptr(), data.idx.data_ptr(), grad_h[m].data_ptr(),
                n_out, padded, grad_w[m].data_ptr())
        return grad_w[..., :n_out], None, None


def available(device: torch.device) -> bool:
    return device.type == "cpu" and _native.library() is not None


def project(w: torch.Tensor, data: SpikeRows, index: torch.Tensor) -> torch.Tensor:
    """Input currents (M, B, T, out) of samples ``index`` (M, B): ``x[m, index[m]] @ w[m]``."""
    rows = data.rows(index)
    h = _Project.apply(w, data, rows)
    return h.view(index.shape[0], index.shape[1], data.shape[2], w.shape[-1])
