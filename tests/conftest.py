import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))  # for the notebook oracle module

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Without a GPU, Triton kernels (the fused backend's CUDA path) run on the CPU through Triton's
# interpreter. Read when a kernel is decorated, so it must be set before Triton is imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_sessionstart(session):
    """Build the compiled kernels (or load them from the cache) before any test runs: a first
    build announces itself on stderr, which must not land in the output a test captures."""
    from snnsim.backends import _native

    _native.library()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups into the node ids
def pytest_collection_modifyitems(config, items):
    """The SLURM tests share the one-node cluster: one xdist worker runs them one after another
    (``--dist loadgroup``), so that no test's jobs wait in the queue behind another test's."""
    for item in items:
        if item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.xdist_group("slurm"))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # xdist hands out the groups (largest first), then single tests in this order: the slow ones
        # first, so that no test of a minute starts last and keeps one worker busy while the other
        # waits (a stable sort: the rest keep their order; one process, -n 0, is left as collected)
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _slurm_tests_share_one_worker(request):
    """Under ``--dist loadgroup`` a SLURM test must carry its group in its node id (``...@slurm``),
    the sign that xdist sends all of them to one worker; without it they would start, use and
    stop the one cluster from two workers at once."""
    on_a_loadgroup_worker = getattr(request.config.option, "loadgroup", False) and os.environ.get("PYTEST_XDIST_WORKER")
    if request.node.get_closest_marker("slurm") and on_a_loadgroup_worker:
        assert request.node.nodeid.endswith("@slurm"), (
            "pytest-xdist did not group the SLURM tests on one worker: the group mark came after xdist "
            "read it, or pytest is 9.2 (pytest-dev/pytest-xdist issue 1386; the test extras pin < 9.2)"
        )


@pytest.fixture
def tiny_ipd():
    """Settings of an IPD run that trains in about a second."""
    return dict(study="ipd", backend="fused", epochs=2, n_train_batches=3, n_test_batches=1, batch_size=16, hidden=8)


@pytest.fixture(scope="session")
def bmi_path(tmp_path_factory) -> str:
    """A small synthetic BMI data set in the course format (300 samples per fold), as a file."""
    import pickle

    from snnsim.datasets.bmi_synthetic import generate

    path = tmp_path_factory.mktemp("bmi") / "small.pkl"
    path.write_bytes(pickle.dumps(generate(seed=0, samples_per_fold=300)))
    return str(path)
