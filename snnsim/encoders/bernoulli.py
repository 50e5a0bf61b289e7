"""Bernoulli draws ``torch.rand(shape, generator=g) < p`` on the CPU, in compiled code.

torch draws a float32 uniform number with one MT19937 word each (``(word & 0xFFFFFF) * 2**-24``),
one element at a time; that is most of the IPD stimulus' generation time. :class:`Draws`
takes the generator's MT19937 state (``get_state``), runs the same stream in the compiled
``mt_bernoulli_f32`` kernel (:mod:`snnsim.backends._native`) and gives the state back
(``set_state``) on :meth:`Draws.close`: the same spikes and the same generator state as the
torch ops, bit for bit (``tests/encoders/test_bernoulli.py``). Where the kernels cannot be
built, the generator is not a CPU one, or torch's stream is not the one this module knows (a
check at first use), :func:`draws` returns None and the caller uses the torch ops.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np
import torch

from ..backends import _native

#: torch's CPU generator state (``CPUGeneratorImplState``): bytes, and the offsets of the MT19937
#: fields ``left`` (int32), ``next`` (uint64) and the 624 state words (uint64 each).
STATE_BYTES, LEFT, NEXT, WORDS, N = 5056, 8, 16, 24, 624


class Draws:
    """The MT19937 stream of a CPU ``torch.Generator``, drawn by the compiled kernel."""

    def __init__(self, generator: torch.Generator, lib: ctypes.CDLL) -> None:
        self.generator, self.lib = generator, lib
        self.raw = generator.get_state().numpy().copy()
        self.words = np.ascontiguousarray(self.raw[WORDS : WORDS + 8 * N].view(np.uint64).astype(np.uint32))
        left = int(self.raw[LEFT : LEFT + 4].view(np.int32)[0])
        self.pos = np.array([N if left == 1 else int(self.raw[NEXT : NEXT + 8].view(np.uint64)[0])], dtype=np.int64)
        self.drawn = 0

    def __call__(self, p: torch.Tensor, out: torch.Tensor) -> None:
        """``out`` (bool, contiguous) = the next ``p.numel()`` uniform draws < ``p`` (float32, contiguous)."""
        if not (p.is_contiguous() and out.is_contiguous() and p.dtype == torch.float32 and out.dtype == torch.bool):
            raise ValueError("Draws: p must be contiguous float32 and out contiguous bool")
        if p.numel() != out.numel():
            raise ValueError(f"Draws: p has {p.numel()} elements, out {out.numel()}")
        self.lib.mt_bernoulli_f32(self.words.ctypes.data, self.pos.ctypes.data, p.data_ptr(), p.numel(), out.data_ptr())
        self.drawn += p.numel()

    def close(self) -> None:
        """Give the generator the state after the draws, as torch's own draws would leave it."""
        if not self.drawn:
            return
        k = int(self.pos[0])  # 1..624 after a draw: torch's next, with left = 625 - next
        self.raw[WORDS : WORDS + 8 * N] = self.words.astype(np.uint64).view(np.uint8)
        self.raw[LEFT : LEFT + 4] = np.array([N + 1 - k], dtype=np.int32).view(np.uint8)
        self.raw[NEXT : NEXT + 8] = np.array([k], dtype=np.uint64).view(np.uint8)
        self.generator.set_state(torch.from_numpy(self.raw))


@functools.cache
def _stream_known() -> bool:
    """Whether this torch draws float32 uniforms from its MT19937 stream as :class:`Draws` does."""
    lib = _native.library()
    if lib is None:
        return False
    g = torch.Generator().manual_seed(20261202)
    torch.rand(1000, generator=g)  # a position inside the state, not at its start
    if g.get_state().numel() != STATE_BYTES:
        return False
    p = torch.rand(1500, generator=torch.Generator().manual_seed(1))
    copy = torch.Generator()
    copy.set_state(g.get_state())
    want = torch.rand(1500, generator=copy) < p
    got = torch.empty(1500, dtype=torch.bool)
    d = Draws(g, lib)
    d(p, got)
    d.close()
    return bool(torch.equal(got, want)) and torch.equal(g.get_state(), copy.get_state())


def draws(generator: torch.Generator) -> Draws | None:
    """Compiled draws from ``generator``'s stream, or None (use the torch ops)."""
    if not _native.usable(generator.device) or not _stream_known():
        return None
    return Draws(generator, _native.library())
