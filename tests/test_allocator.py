"""Freed memory kept in the process (snnsim.allocator): measured with the kernel's own count of
page faults, in fresh processes (glibc's settings are per process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from snnsim import allocator

# Five 4 MiB tensors per step, written and freed together, as a training step's records are, then a
# 12 MiB one and a 4 MiB one (the memory they free lies at the top of the heap, which glibc trims
# past its trim threshold): after warm-up steps, the page faults of the later steps.
STEPS = textwrap.dedent(
    """
    import resource, torch
    from snnsim import allocator
    print(allocator.keep_freed_memory())
    def step():
        blocks = [torch.empty(1 << 20).fill_(1.0) for _ in range(5)]
        del blocks
        for size in (3 << 20, 1 << 20):
            torch.empty(size).fill_(1.0)
    for _ in range(10):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)
PAGES_PER_TENSOR = (4 << 20) // 4096


def faults(**env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k not in allocator.USER_SETTINGS}
    out = subprocess.run(
        [sys.executable, "-c", STEPS], env={**clean, **env}, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


def test_freed_tensors_are_reused_instead_of_page_faulted_in_again() -> None:
    applied, kept = faults()
    assert applied == "True"
    assert kept < PAGES_PER_TENSOR  # not even one tensor's pages in 20 steps


@pytest.mark.parametrize(
    "setting", [{"MALLOC_MMAP_THRESHOLD_": "131072"}, {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"}]
)
def test_the_users_own_malloc_settings_are_left_alone(setting) -> None:
    # glibc's first mmap threshold (128 KiB) set by the user, fixed, by either of glibc's ways: every
    # block of the steps is mapped anew, and the count above sees each of its pages faulted in
    applied, fresh = faults(**setting)
    assert applied == "False"
    assert fresh >= 20 * 5 * PAGES_PER_TENSOR
