"""``snnsim.threads``: the kernels' thread count from ``$SNNSIM_THREADS``."""

from __future__ import annotations

import os
import warnings

import pytest

from snnsim.threads import kernel_threads


def test_a_positive_integer_is_the_thread_count(monkeypatch):
    monkeypatch.setenv("SNNSIM_THREADS", " 3 ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernel_threads() == 3


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_anything_else_is_named_and_the_cpus_are_used(monkeypatch, value):
    monkeypatch.setenv("SNNSIM_THREADS", value)
    with pytest.warns(UserWarning, match=f"SNNSIM_THREADS={value!r} is not a positive integer"):
        assert kernel_threads() == len(os.sched_getaffinity(0))


def test_unset_is_the_cpus_without_a_warning(monkeypatch):
    monkeypatch.delenv("SNNSIM_THREADS", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernel_threads() == len(os.sched_getaffinity(0))
