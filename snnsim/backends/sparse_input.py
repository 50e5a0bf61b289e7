"""Input currents of binary input spikes without dense matrix products (CPU, compiled kernels).

The IPD input spikes are 0/1 and about 22 % dense, so ``h = x @ w`` is, for every (model,
sample, step) row, the sum of the weight rows of the active inputs, and the weight gradient
``x^T @ dh`` adds each row's current gradient to the rows of its active inputs. Storing a data
set once as lists of active inputs (:class:`SpikeRows`) replaces the two dense products of the
input layer (and the per-batch bool -> float conversion of the input) by these sparse sums,
about 4x fewer operations. Every sum runs in a fixed order per model (currents: increasing
input index; weight gradient: per input, sample by sample in batch order, each sample's steps
in increasing order), so the result does not depend on how many models are batched together
or on the layout (sample- or time-major) of the currents.

The sums are rounded in a different order than a BLAS product: currents equal ``x @ w`` to
float tolerance, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from . import _native

#: The most inputs and steps that :class:`SpikeRows` holds: it lists them as int16 indices.
MAX_INDEX = 32767


def holds(shape: Sequence[int]) -> bool:
    """Whether :class:`SpikeRows` can list spikes of ``shape`` (samples, steps, inputs)."""
    return shape[-2] <= MAX_INDEX and shape[-1] <= MAX_INDEX


class SpikeRows:
    """Binary spikes (S, T, C) of one data set as lists of active inputs (int16 indices):

    - per (sample, step) row, the active inputs (CSR; ``ptr``, ``idx``), for the currents;
    - per sample and input, the steps at which it is active (:meth:`csc`, built at the first
      backward pass), for the weight gradient: summed per sample and input in registers, with
      one store per (sample, input) instead of one per active entry.
    """

    def __init__(self, spikes: torch.Tensor) -> None:
        if spikes.device.type != "cpu":
            raise ValueError("SpikeRows holds CPU data")
        if spikes.dim() != 3:
            raise ValueError(f"expected spikes (samples, steps, inputs), got shape {tuple(spikes.shape)}")
        self.shape = tuple(spikes.shape)
        n_samples, steps, n_in = self.shape
        if not holds(spikes.shape):
            raise ValueError(f"at most {MAX_INDEX} inputs and steps")
        flat = spikes.reshape(-1, n_in).contiguous()
        if flat.dtype != torch.bool:
            flat = flat != 0
        x = flat.view(torch.uint8)
        lib = _native.library()
        self.ptr = torch.empty(flat.shape[0] + 1, dtype=torch.int64)
        lib.csr_build(x.data_ptr(), flat.shape[0], n_in, self.ptr.data_ptr(), None)
        self.idx = torch.empty(int(self.ptr[-1]) + 1, dtype=torch.int16)  # +1: the branchless fill writes one past
        lib.csr_build(x.data_ptr(), flat.shape[0], n_in, self.ptr.data_ptr(), self.idx.data_ptr())
        self._x = x  # kept until the per-sample lists are built (first backward pass)
        self._csc = None
        self._steps = torch.arange(steps, dtype=torch.int64)

    def csc(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The per-sample lists (base, off, step), built at first use (training only)."""
        if self._csc is None:
            n_samples, steps, n_in = self.shape
            lib = _native.library()
            base = torch.empty(n_samples + 1, dtype=torch.int64)
            off = torch.empty(n_samples * (n_in + 1), dtype=torch.int32)
            lib.csc_build(self._x.data_ptr(), n_samples, steps, n_in, base.data_ptr(), off.data_ptr(), None)
            step = torch.empty(int(base[-1]) + 1, dtype=torch.int16)  # +1: the branchless fill writes one past
            lib.csc_build(self._x.data_ptr(), n_samples, steps, n_in, base.data_ptr(), off.data_ptr(), step.data_ptr())
            self._csc, self._x = (base, off, step), None
        return self._csc

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Row ids (B*T,) of the samples ``index`` (B,), each sample's steps in order."""
        return (index.cpu()[:, None] * self.shape[1] + self._steps).reshape(-1).contiguous()


def padded_width(n: int, dtype: torch.dtype, block_bytes: int = 128) -> int:
    """``n`` columns rounded up to whole blocks of ``block_bytes`` (the kernels' register blocking:
    four 32-byte vectors by default)."""
    block = block_bytes // torch.empty((), dtype=dtype).element_size()
    return (n + block - 1) // block * block


def project_forward(w: torch.Tensor, data: Sequence[SpikeRows], index: torch.Tensor, time_major: bool) -> torch.Tensor:
    """Input currents (M, B*T, out) (rows time-major with ``time_major``) of samples ``index``
    (M, B) of each model's data set: model m's are ``x_m[index[m]] @ w[m]``."""
    n_models, batch = index.shape
    steps, n_out = data[0].shape[1], w.shape[-1]
    padded = padded_width(n_out, w.dtype)
    wp = torch.zeros(w.shape[:-1] + (padded,), dtype=w.dtype)
    wp[..., :n_out] = w
    h = torch.empty((n_models, batch * steps, n_out), dtype=w.dtype)
    fwd = _native.kernel("proj_fwd", w.dtype)
    threads = _native.threads_for(batch * steps * n_out)
    for m, d in enumerate(data):
        rows = d.rows(index[m])
        fwd(rows.data_ptr(), rows.shape[0], d.ptr.data_ptr(), d.idx.data_ptr(), wp[m].data_ptr(), n_out, padded,
            h[m].data_ptr(), steps, batch if time_major else 0, threads)  # fmt: skip
    return h


def project_backward(
    grad_h: torch.Tensor, data: Sequence[SpikeRows], index: torch.Tensor, time_major: bool, w_shape: torch.Size
) -> torch.Tensor:
    """The weight gradient (M, in, out) of :func:`project_forward` for current gradients ``grad_h``."""
    grad_h = grad_h.contiguous()
    n_models, batch = index.shape
    n_in, n_out = w_shape[-2], w_shape[-1]
    padded = padded_width(n_out, grad_h.dtype)
    grad_w = torch.zeros(w_shape[:-1] + (padded,), dtype=grad_h.dtype)
    bwd = _native.kernel("proj_bwd", grad_h.dtype)
    threads = _native.threads_for(batch * data[0].shape[1] * n_out)
    for m, d in enumerate(data):
        base, off, step = d.csc()
        samples = index[m].cpu().contiguous()
        bwd(samples.data_ptr(), batch, base.data_ptr(), off.data_ptr(), step.data_ptr(), n_in, grad_h[m].data_ptr(),
            n_out, padded, d.shape[1], int(time_major), grad_w[m].data_ptr(), threads)  # fmt: skip
    return grad_w[..., :n_out]


class _Project(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, w: torch.Tensor, data: Sequence[SpikeRows], index: torch.Tensor, time_major: bool
    ) -> torch.Tensor:
        ctx.data, ctx.index, ctx.time_major, ctx.w_shape = data, index, time_major, w.shape
        return project_forward(w, data, index, time_major)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        return project_backward(grad_h, ctx.data, ctx.index, ctx.time_major, ctx.w_shape), None, None, None


def available(device: torch.device) -> bool:
    return _native.usable(device)


def project(w: torch.Tensor, data: Sequence[SpikeRows], index: torch.Tensor, time_major: bool = False) -> torch.Tensor:
    """Input currents (M, B, T, out) of samples ``index`` (M, B): model m's currents are
    ``x_m[index[m]] @ w[m]`` for its data set ``data[m]``; (M, T, B, out) with ``time_major``."""
    if len(data) != w.shape[0] or index.shape[0] != w.shape[0]:
        raise ValueError(f"{w.shape[0]} models, {len(data)} data sets and {index.shape[0]} index rows")
    h = _Project.apply(w, tuple(data), index.to(torch.int64), time_major)
    m, b, steps = index.shape[0], index.shape[1], data[0].shape[1]
    return h.view((m, steps, b, w.shape[-1]) if time_major else (m, b, steps, w.shape[-1]))
