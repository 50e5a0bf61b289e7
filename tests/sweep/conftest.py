"""Fixtures of the sweep tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sweep.test_merge import TEXT, fake_job

from snnsim.sweep.experiment import loads
from snnsim.sweep.jobs import result_path


@pytest.fixture(scope="module")
def written_jobs(tmp_path_factory) -> Path:
    """The :func:`fake_job` files of every job of :data:`TEXT`, written once for the module (each
    write takes a quarter of a second): :func:`fake_jobs` copies them where a test needs them."""
    root = tmp_path_factory.mktemp("fake-jobs")
    exp = loads(TEXT)
    for i in range(exp.grid_size):
        fake_job(exp, i, root)
    return root


@pytest.fixture
def fake_jobs(written_jobs):
    """``put(root, skip=())``: ``fake_job(loads(TEXT), i, root)`` for every job ``i`` not in
    ``skip``, as copies of :func:`written_jobs`' files (the same bytes a write makes)."""
    exp = loads(TEXT)

    def put(root, skip=()) -> None:
        for i in range(exp.grid_size):
            if i not in skip:
                dest = result_path(exp, i, root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(result_path(exp, i, written_jobs), dest)

    return put
