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


def test_more_processes_than_cpus_get_one_thread_each(monkeypatch):
    """``sweep local -j N`` with more processes than CPUs: each gets one kernel thread, not
    ``SNNSIM_THREADS=0`` (a warning in every process, which then used every CPU)."""
    from snnsim.threads import share

    monkeypatch.delenv("SNNSIM_THREADS", raising=False)
    assert share({}, len(os.sched_getaffinity(0)) + 1) == {"SNNSIM_THREADS": "1"}


def test_a_command_line_says_it_in_one_line():
    """In a command's process the warning is one line naming snnsim, not Python's two (a file
    and line, then the source line of the call)."""
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, SNNSIM_THREADS="abc")
    proc = subprocess.run([sys.executable, "-m", "snnsim.run", "--epochs", "1", "--n-train-batches", "1",
                           "--n-test-batches", "1", "--hidden", "4", "--backend", "fused", "--quiet"],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "SNNSIM_THREADS" in line or "warnings.warn" in line]
    assert warned == ["snnsim: warning: SNNSIM_THREADS='abc' is not a positive integer; using the "
                      f"{len(os.sched_getaffinity(0))} CPU(s) of this process"]  # fmt: skip


def test_a_run_holds_torch_and_blas_at_one_thread_and_gives_back_the_counts_it_found():
    """Inside :func:`deterministic` torch's intra-op threads and the BLAS pools are one thread
    (the numbers do not depend on them); after it, torch has the count it had before (a notebook's
    own torch code after a run is not left on one thread), and after an error inside too."""
    import torch
    from threadpoolctl import threadpool_info

    from snnsim.threads import deterministic

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with deterministic():
            assert torch.get_num_threads() == 1
            assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        assert torch.get_num_threads() == 3
        with pytest.raises(RuntimeError, match="inside"), deterministic():
            raise RuntimeError("an error inside a run")
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def _run_with_omp(value: str, out):
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, OMP_NUM_THREADS=value)
    return subprocess.run([sys.executable, "-m", "snnsim.run", "--epochs", "1", "--n-train-batches", "1",
                           "--n-test-batches", "1", "--hidden", "4", "--backend", "fused", "--quiet", "--out", str(out)],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True)  # fmt: skip


def test_an_empty_omp_num_threads_is_unset_without_openmps_complaint(tmp_path):
    """``OMP_NUM_THREADS=`` (a shell's ``export OMP_NUM_THREADS=$N`` with N unset) is no count:
    the run goes on as without it, and OpenMP's "Invalid value" lines are not printed."""
    proc = _run_with_omp("", tmp_path / "r.h5")
    assert proc.returncode == 0, proc.stderr
    assert "libgomp" not in proc.stderr and "OMP_NUM_THREADS" not in proc.stderr, proc.stderr
    assert (tmp_path / "r.h5").is_file()


@pytest.mark.parametrize("value", ["", "  ", "\t"])
def test_a_blank_omp_num_threads_is_unset_as_an_empty_one(value):
    """Spaces only (``export OMP_NUM_THREADS=" $N"`` with N unset) are no count either: OpenMP's
    library prints "Invalid value" for them too; they are unset, not refused."""
    from snnsim.threads import check_openmp

    environ = {"OMP_NUM_THREADS": value, "OTHER": "1"}
    check_openmp(environ)
    assert environ == {"OTHER": "1"}


@pytest.mark.parametrize("value", ["abc", "0", "2,0"])
def test_an_omp_num_threads_that_is_no_count_is_refused_in_one_line(tmp_path, value):
    """OpenMP's library printed "Invalid value for environment variable" on stderr and the run went
    on (exit 0); it is bad input: one line naming the variable and what it takes, exit 2, no file."""
    proc = _run_with_omp(value, tmp_path / "r.h5")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"snnsim.run: error: OMP_NUM_THREADS={value!r} is not a thread count: give a positive integer "
        "(or a comma-separated list of them, one per nesting level), or unset it"
    ]
    assert not (tmp_path / "r.h5").exists()


def test_the_snnsim_command_names_itself_as_its_other_errors_do(tmp_path):
    """The ``snnsim`` console script (no ``-m`` module) refused a bad ``OMP_NUM_THREADS`` as
    ``snnsim: error:`` while its other errors say ``snnsim.run: error:``; both say the latter."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("snnsim")
    env = dict(os.environ, OMP_NUM_THREADS="abc")
    refused = subprocess.run([str(script), "--out", str(tmp_path / "r.h5")], env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.startswith("snnsim.run: error: OMP_NUM_THREADS='abc'"), (
        refused.stderr
    )
    bad_flag = subprocess.run([str(script), "--tau", "abc"], capture_output=True, text=True)
    assert bad_flag.returncode == 2 and bad_flag.stderr.startswith("snnsim.run: error: "), bad_flag.stderr
    assert not (tmp_path / "r.h5").exists()


@pytest.mark.parametrize("command", ["snnsim.run", "snnsim.sweep", "snnsim.plots"])
def test_a_help_request_is_answered_whatever_omp_num_threads_says(command):
    """``--help`` loads no torch (OpenMP's library never reads the variable): it was refused as
    ``OMP_NUM_THREADS='abc' is not a thread count``, exit 2, where the user asked how to run the
    command. It prints the usage, exit 0; the run itself is still refused (above)."""
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, OMP_NUM_THREADS="abc")
    proc = subprocess.run([sys.executable, "-m", command, "--help"], cwd=Path(__file__).resolve().parents[1],
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {command}") and proc.stderr == "", proc.stderr


@pytest.mark.parametrize(
    "value",
    [
        "9223372036854775807",
        "9223372036854775808",
        "2,99999999999999999999",
        "4, 2",
        pytest.param("1" * 5000, id="5000 digits"),
        pytest.param("+" + "0" * 30 + "4", id="a plus and leading zeros"),
    ],
)
def test_a_thread_count_is_refused_exactly_where_openmps_library_refuses_it(value):
    """A count that OpenMP's library cannot hold (above 2**63 - 1: "Invalid value" as torch loads)
    was taken as a thread count, and the run went on after libgomp's line; the check refuses
    what the library refuses, no more."""
    import subprocess
    import sys

    from snnsim.errors import SnnsimError
    from snnsim.threads import check_openmp

    env = dict(os.environ, OMP_NUM_THREADS=value)
    proc = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    invalid = "Invalid value for environment variable OMP_NUM_THREADS" in proc.stderr
    assert invalid == (value not in ("9223372036854775807", "4, 2", "+" + "0" * 30 + "4")), proc.stderr  # the library's
    environ = {"OMP_NUM_THREADS": value}
    if invalid:
        with pytest.raises(SnnsimError, match="is not a thread count"):
            check_openmp(environ)
    else:
        check_openmp(environ)
        assert environ == {"OMP_NUM_THREADS": value}


@pytest.mark.parametrize("value, valid", [("\u0664", False), ("4\u00a0", False), ("1\u0664", False), ("\t4\n", True)])
def test_digits_and_spaces_are_those_openmps_library_reads(value, valid):
    """OpenMP's library reads ASCII digits and C's white space: a count of other digits (Arabic-Indic
    ``\u0664``) or spaces (a no-break space pasted from a web page) was taken, and libgomp printed
    "Invalid value" as torch loaded; it is refused in one line, as the library refuses it."""
    import subprocess
    import sys

    from snnsim.errors import SnnsimError
    from snnsim.threads import check_openmp

    proc = subprocess.run([sys.executable, "-c", "import torch"], env=dict(os.environ, OMP_NUM_THREADS=value),
                          capture_output=True, text=True)  # fmt: skip
    assert ("Invalid value for environment variable OMP_NUM_THREADS" not in proc.stderr) == valid, proc.stderr
    environ = {"OMP_NUM_THREADS": value}
    if valid:
        check_openmp(environ)
        assert environ == {"OMP_NUM_THREADS": value}
    else:
        with pytest.raises(SnnsimError, match="is not a thread count"):
            check_openmp(environ)


def test_a_help_flag_after_the_end_of_the_flags_is_no_help_request(tmp_path):
    """``-h`` after ``--`` is a word, not a request for the usage: the command runs (here, is
    refused by its parser), so a bad ``OMP_NUM_THREADS`` is refused first, in one line, before torch
    loads and OpenMP's library complains."""
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, OMP_NUM_THREADS="abc")
    proc = subprocess.run([sys.executable, "-m", "snnsim.run", "--", "-h"], cwd=Path(__file__).resolve().parents[1],
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("snnsim.run: error: OMP_NUM_THREADS='abc' is not a thread count"), proc.stderr
