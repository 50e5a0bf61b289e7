"""The fused backend equals the notebook equations (snnsim.functional.lif) in float64:
identical spikes, membranes equal, gradients (w.r.t. the input currents, random upstream
gradients for both outputs) allclose; for every implementation (compiled C loops, torch loops)
and for the sparse input projection."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnsim.backends import _native, fused, sparse_input
from snnsim.functional.lif import LIFParameters, li_sequence, lif_sequence

NATIVE = _native.library() is not None

shapes = st.tuples(
    st.lists(st.integers(1, 3), min_size=0, max_size=2),  # leading dims
    st.integers(2, 30),  # T (at least two steps, as the config requires)
    st.integers(1, 13),  # N
)
params = st.builds(
    LIFParameters,
    alpha=st.floats(0.05, 0.999),
    v_th=st.floats(0.2, 2.0),
    slope=st.floats(0.5, 10.0),
)
# both neurons: the standard one (spike from the updated membrane) has its own loops and fallbacks
neurons = st.builds(
    LIFParameters,
    alpha=st.floats(0.05, 0.999),
    v_th=st.floats(0.2, 2.0),
    slope=st.floats(0.5, 10.0),
    neuron=st.sampled_from(["notebook", "standard"]),
)


def _case(shape, seed, dtype=torch.float64):
    lead, steps, n = shape
    g = torch.Generator().manual_seed(seed)
    h = (torch.randn(*lead, steps, n, generator=g, dtype=dtype) * 1.5 + 0.3).requires_grad_()
    gs = torch.randn(*lead, steps, n, generator=g, dtype=dtype)
    gv = torch.randn(*lead, steps, n, generator=g, dtype=dtype)
    return h, gs, gv


def _grad(outputs, upstream, h):
    total = sum((o * u).sum() for o, u in zip(outputs, upstream) if u is not None)
    if not total.requires_grad:  # e.g. spikes only and T=2: the outputs do not depend on h
        return torch.zeros_like(h)
    (grad,) = torch.autograd.grad(total, h, allow_unused=True, materialize_grads=True)
    return grad


IMPLS = ["native", "torch"]


@pytest.fixture(params=IMPLS)
def impl(request, monkeypatch):
    if request.param == "native":
        if not NATIVE:
            pytest.skip("no C compiler: compiled kernels unavailable")
    else:
        monkeypatch.setattr(_native, "supported", lambda *t: False)
    return request.param


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shapes, p=neurons, seed=st.integers(0, 2**31 - 1), which=st.sampled_from(["both", "spikes", "membrane"]))
def test_lif_matches_reference(impl, shape, p, seed, which):
    h, gs, gv = _case(shape, seed)
    s_ref, v_ref = lif_sequence(h, p)
    s, v = fused.lif(h, p)
    assert torch.equal(s, s_ref)
    assert torch.equal(v, v_ref)  # same operations in the same order: bit-identical
    up = (gs if which != "membrane" else None, gv if which != "spikes" else None)
    g_ref = _grad((s_ref, v_ref), up, h)
    g = _grad((s, v), up, h)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shapes, p=neurons, seed=st.integers(0, 2**31 - 1))
def test_li_matches_reference(impl, shape, p, seed):
    h, _, gv = _case(shape, seed)
    v_ref = li_sequence(h, p)
    v = fused.li(h, p)
    torch.testing.assert_close(v, v_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_grad((v,), (gv,), h), _grad((v_ref,), (gv,), h), rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
@settings(max_examples=15, deadline=None)
@given(shape=shapes, p=params, seed=st.integers(0, 2**31 - 1))
def test_native_float32_forward_bit_identical(shape, p, seed):
    """In float32 too: the C loop rounds exactly like torch's separate multiply and add."""
    h, _, _ = _case(shape, seed, torch.float32)
    s_ref, v_ref = lif_sequence(h.detach(), p)
    s, v = fused.lif(h.detach(), p)
    assert torch.equal(s, s_ref) and torch.equal(v, v_ref)
    assert torch.equal(fused.li(h.detach(), p), li_sequence(h.detach(), p))


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
@settings(max_examples=15, deadline=None)
@given(shape=shapes, p=params, seed=st.integers(0, 2**31 - 1))
def test_native_float32_gradient(shape, p, seed):
    """The float32 backward forms the surrogate's sigmoid in C (a vectorised exp to about 2 ulp,
    not torch's): its gradients equal the reference computed in float64 to float32 rounding."""
    h, gs, gv = _case(shape, seed, torch.float32)
    s, v = fused.lif(h, p)
    g = _grad((s, v), (gs, gv), h)
    h64 = h.detach().double().requires_grad_()
    s_ref, v_ref = lif_sequence(h64, p)
    g_ref = _grad((s_ref, v_ref), (gs.double(), gv.double()), h64)
    torch.testing.assert_close(g.double(), g_ref, rtol=2e-4, atol=2e-5 * max(1.0, g_ref.abs().max().item()))


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_native_float32_surrogate_extremes():
    """Far below and above threshold (the exp's clamped range) the surrogate is finite, >= 0 and
    matches torch's sigmoid derivative."""
    p = LIFParameters(alpha=0.5, v_th=1.0, slope=10.0)
    h = torch.tensor([[[-1e4], [1e4], [-30.0], [30.0], [0.0], [1.0]]]).repeat(1, 2, 1).requires_grad_()
    s, v = fused.lif(h, p)
    (g,) = torch.autograd.grad((s * torch.linspace(-1, 1, s.numel()).view_as(s)).sum(), h)
    assert torch.isfinite(g).all()
    h64 = h.detach().double().requires_grad_()
    s_ref, _ = lif_sequence(h64, p)
    (g_ref,) = torch.autograd.grad((s_ref * torch.linspace(-1, 1, s.numel()).double().view_as(s_ref)).sum(), h64)
    torch.testing.assert_close(g.double(), g_ref, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_native_batching_independent():
    """A row's result does not depend on which other rows are computed with it."""
    p = LIFParameters(alpha=math.exp(-0.5))
    h, gs, gv = _case(([4, 3], 25, 7), 1, torch.float32)
    s, v = fused.lif(h, p)
    g = _grad((s, v), (gs, gv), h)
    h1 = h.detach()[1:2].clone().requires_grad_()
    s1, v1 = fused.lif(h1, p)
    g1 = _grad((s1, v1), (gs[1:2], gv[1:2]), h1)
    assert torch.equal(s1, s[1:2]) and torch.equal(v1, v[1:2]) and torch.equal(g1, g[1:2])


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
@pytest.mark.parametrize("threads", [2, 3, 8])
@pytest.mark.parametrize("models", [5, 1])
def test_native_threads_do_not_change_numbers(threads, models, monkeypatch):
    """The kernels split their work over $SNNSIM_THREADS threads (OpenMP tiles: rows of several
    models, windows of columns and spans of rows or inputs of one model): every layer's records
    and gradients, and the sparse projection's, equal the one-thread numbers bit for bit, also
    with more threads than rows and splits that are not even."""
    p = LIFParameters(alpha=math.exp(-0.5))
    h, gs, gv = _case(([models], 25, 700), 2, torch.float32)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(models, 6, 25, 20, generator=g) < 0.3
    data = [sparse_input.SpikeRows(x[m]) for m in range(models)]
    w = torch.randn(models, 20, 37, generator=g).requires_grad_()
    index = torch.randint(0, 6, (models, 4), generator=g)

    def run():
        s, v = fused.lif(h, p)
        li = fused.li(h, p)
        proj = sparse_input.project(w, data, index, time_major=True)
        grads = (_grad((s, v), (gs, gv), h), _grad((li,), (gv,), h), _grad((proj,), (torch.ones_like(proj),), w))
        return (s, v, li, proj, *grads)

    monkeypatch.setattr(_native, "MIN_PARALLEL", 1)  # split even these small arrays
    monkeypatch.setenv("SNNSIM_THREADS", "1")
    one = run()
    monkeypatch.setenv("SNNSIM_THREADS", str(threads))
    assert _native.threads_for(h.numel()) == threads  # the work really is split
    many = run()
    for a, b in zip(one, many):
        assert torch.equal(a, b)


def test_gradcheck_smooth_region(impl):
    """autograd.gradcheck of the hand-written backward where no membrane crosses the threshold
    (spikes fixed, so finite differences are meaningful); both outputs and the LI layer."""
    p = LIFParameters(alpha=0.8, v_th=50.0, slope=2.0)  # threshold far away: no spikes
    h = (torch.randn(2, 12, 3, dtype=torch.float64) * 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: fused.lif(x, p)[1], (h,))
    assert torch.autograd.gradcheck(lambda x: fused.li(x, p), (h,))


@settings(max_examples=25, deadline=None)
@given(
    n_models=st.integers(1, 3),
    n_samples=st.integers(1, 6),
    steps=st.integers(1, 9),
    n_in=st.integers(1, 20),
    n_out=st.integers(1, 40),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
    time_major=st.booleans(),
)
def test_sparse_projection_matches_matmul(n_models, n_samples, steps, n_in, n_out, density, seed, time_major):
    if not sparse_input.available(torch.device("cpu")):
        pytest.skip("no C compiler")
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_models, n_samples, steps, n_in, generator=g) < density
    w = torch.randn(n_models, n_in, n_out, generator=g, dtype=torch.float64).requires_grad_()
    index = torch.randint(0, n_samples, (n_models, 4), generator=g)
    h = sparse_input.project(w, [sparse_input.SpikeRows(x[m]) for m in range(n_models)], index, time_major)
    xb = x[torch.arange(n_models)[:, None], index].double()
    ref = torch.matmul(xb, w.unsqueeze(1))  # (M, B, T, out)
    if time_major:
        ref = ref.transpose(1, 2)
    torch.testing.assert_close(h, ref, rtol=1e-12, atol=1e-12)
    up = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(_grad((h,), (up,), w), _grad((ref,), (up,), w), rtol=1e-12, atol=1e-12)


def test_the_kernels_build_wherever_a_c_compiler_is():
    """The kernels' tests skip only where no C compiler exists: a compiler that fails to build
    them must fail here rather than leave the compiled paths untested."""
    import os
    import shutil

    if os.environ.get("SNNSIM_NO_NATIVE", "") not in ("", "0"):
        pytest.skip("SNNSIM_NO_NATIVE set: the compiled kernels are switched off")
    if not (os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("no C compiler")
    assert NATIVE, "a C compiler is present but the compiled kernels did not build (see the RuntimeWarning)"


def test_no_compiler_falls_back_with_warning(monkeypatch):
    monkeypatch.setattr(_native, "_tried", False)
    monkeypatch.setattr(_native, "_lib", None)
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setenv("SNNSIM_CACHE", "/nonexistent-cache-dir-for-test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _native.library() is None
    assert any("compiled CPU kernels unavailable" in str(w.message) for w in caught)
    p = LIFParameters(alpha=0.9)
    h, _, _ = _case(([2], 10, 4), 3)
    s, v = fused.lif(h, p)  # torch loops
    s_ref, v_ref = lif_sequence(h, p)
    assert torch.equal(s, s_ref) and torch.equal(v, v_ref)


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
@pytest.mark.parametrize("backend", ["snntorch", "norse"])
def test_snntorch_and_norse_on_the_cpu_use_the_kernels_as_the_readme_and_the_warning_say(monkeypatch, tmp_path,
                                                                                          backend):  # fmt: skip
    """Not only the fused backend: with snntorch or norse on the CPU the product of hidden spikes and
    output weights runs in the compiled kernels (a tiny IPD run's w1 1.5e-7 apart with
    SNNSIM_NO_NATIVE=1), as the README's row of SNNSIM_NO_NATIVE and the fallback's warning say."""
    from pathlib import Path

    from snnsim.backends import make_backend
    from snnsim.network import Decoder
    from snnsim.readouts import get_readout

    monkeypatch.setattr(_native, "_tried", False)
    monkeypatch.setattr(_native, "_lib", None)
    assert _native.kernels() == "none"
    model = Decoder(6, 5, 2, make_backend(backend), get_readout("mean"), LIFParameters(alpha=0.9), "fan-in",
                    [torch.Generator().manual_seed(0)])  # fmt: skip
    model((torch.rand(1, 3, 10, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float())
    assert _native.kernels() in ("compiled (OpenMP)", "compiled (one thread)")  # the Decoder asked for them

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `SNNSIM_NO_NATIVE` |"))
    assert backend in row and "every backend" in row
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is None and len(said) == 1 and "every backend" in said[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    p = LIFParameters(alpha=0.9)
    h, gs, gv = _case(([3], 40, 30), 5, torch.float32)
    s_ref, v_ref = lif_sequence(h, p)
    g_ref = _grad((s_ref, v_ref), (gs, gv), h)
    hc = h.detach().cuda().requires_grad_()
    s, v = fused.lif(hc, p)
    g = _grad((s, v), (gs.cuda(), gv.cuda()), hc)
    assert torch.equal(s.cpu(), s_ref)
    torch.testing.assert_close(v.cpu(), v_ref)
    torch.testing.assert_close(g.cpu(), g_ref, rtol=1e-4, atol=1e-5)


SUBNORMAL_CASE = """
import math, sys, torch
from snnsim.backends import fused
from snnsim.functional.lif import LIFParameters
p = LIFParameters(alpha=math.exp(-0.05), v_th=1.0, slope=5.0)
g = torch.Generator().manual_seed(11)
h = (torch.randn(3, 60, 50, generator=g) * 4 - 25).requires_grad_()  # membranes far below threshold
h.data[:, :5, :10] += 60  # and a few spikes
gs, gv = torch.randn(3, 60, 50, generator=g), torch.randn(3, 60, 50, generator=g)
s, v = fused.lif(h, p)
((s * gs).sum() + (v * gv).sum()).backward()
torch.save((h.detach(), gs, gv, h.grad), sys.argv[1])
"""


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_flushing_subnormals_in_the_backward_kernels_keeps_the_gradients(tmp_path):
    """Far below threshold the surrogate's derivative is ~1e-40, a subnormal float32, which this
    CPU computes about 10x slower; the backward kernels flush such values to zero. The gradients
    equal those of kernels built to keep subnormals (SNNSIM_CFLAGS=-DSNNSIM_KEEP_SUBNORMALS) to
    float32 tolerance, and the float64 reference too."""
    import os
    import subprocess
    import sys

    for name, flags in (("flush", ""), ("keep", "-DSNNSIM_KEEP_SUBNORMALS")):
        env = dict(os.environ, SNNSIM_CFLAGS=flags)
        proc = subprocess.run([sys.executable, "-c", SUBNORMAL_CASE, str(tmp_path / name)], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    h, gs, gv, flushed = torch.load(tmp_path / "flush")
    kept = torch.load(tmp_path / "keep")[3]
    torch.testing.assert_close(flushed, kept, rtol=1e-5, atol=1e-7)
    p = LIFParameters(alpha=math.exp(-0.05), v_th=1.0, slope=5.0)
    h64 = h.double().requires_grad_()
    ref = _grad(lif_sequence(h64, p), (gs.double(), gv.double()), h64)
    torch.testing.assert_close(flushed.double(), ref, rtol=1e-4, atol=1e-5)
    # the case does reach the subnormal range: the reference's surrogate has values below it
    sg = torch.sigmoid(5.0 * (lif_sequence(h64.detach(), p)[1] - 1.0))
    assert bool(((sg > 0) & (sg < torch.finfo(torch.float32).tiny)).any())


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_a_first_build_says_it_compiles_and_a_cached_one_is_silent(monkeypatch, tmp_path, capsys):
    """The one-time compile (seconds) is announced on stderr, so that a first run does not look
    hung; a later process finds the cached library and prints nothing."""
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path))
    for first in (True, False):
        monkeypatch.setattr(_native, "_tried", False)
        monkeypatch.setattr(_native, "_lib", None)
        assert _native.library() is not None
        assert ("compiling the CPU kernels" in capsys.readouterr().err) == first
    assert len(list(tmp_path.glob("lif_kernels_*.so"))) == 1


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_a_first_build_under_a_progress_bar_says_so_on_a_line_of_its_own(monkeypatch, tmp_path, capsys):
    """A BMI run on the fused backend draws its training bar before the first batch builds the
    kernels: the build's line was written after the bar's text ("... 0/91 [00:00<?,
    ?batch/s]snnsim: compiling the CPU kernels ..."), glued to it on a terminal and in a log."""
    import sys

    from tqdm import tqdm

    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path))
    monkeypatch.setattr(_native, "_tried", False)
    monkeypatch.setattr(_native, "_lib", None)
    bar = tqdm(total=91, desc="bmi snn fused weighted x1", unit="batch", file=sys.stderr)
    try:
        assert _native.library() is not None
    finally:
        bar.close()
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    said = [line for line in lines if "compiling the CPU kernels" in line]
    assert len(said) == 1 and said[0].startswith("snnsim: compiling the CPU kernels"), lines


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_a_quiet_run_does_not_say_it_compiles_the_kernels(monkeypatch, tmp_path, capsys):
    """``snnsim.run --quiet`` prints no notes and no bar: the line on the kernels' first build
    neither (the synthetic set's line is dropped the same way); the build itself happens."""
    from snnsim.run import main

    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path))
    monkeypatch.setattr(_native, "_tried", False)
    monkeypatch.setattr(_native, "_lib", None)
    args = ["--backend", "fused", "--epochs", "1", "--n-train-batches", "1", "--n-test-batches", "1",
            "--batch-size", "8", "--hidden", "4", "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert "compiling the CPU kernels" not in capsys.readouterr().err
    assert len(list(tmp_path.glob("lif_kernels_*.so"))) == 1


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_a_compiler_with_words_is_split_as_make_does(monkeypatch, tmp_path):
    """``CC="ccache gcc"`` (a wrapper and the compiler it runs) is split into its words, quoting
    as a shell's: a wrapper in a folder with a space, given the real compiler as its argument,
    builds the kernels; one whose quote is not closed is named in the one-line warning."""
    import os
    import shlex
    import shutil

    real = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    log = tmp_path / "calls"
    wrapper = tmp_path / "my tools" / "wrap"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "$@"\n')  # as ccache: run its arguments
    os.chmod(wrapper, 0o755)
    monkeypatch.setenv("CC", f"{shlex.quote(str(wrapper))} {real}")
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is not None and said == []
    assert _native.kernels() == "compiled (OpenMP)"
    assert log.read_text().splitlines()[0] == real  # the wrapper ran, with the compiler as its argument

    monkeypatch.setenv("CC", f"'{wrapper} {real}")
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is None and len(said) == 1 and "\n" not in said[0]
    assert "cannot be split" in said[0] and str(wrapper) in said[0]


def _compiler_without_openmp(folder, log):
    """A ``cc`` that refuses ``-fopenmp`` as gcc without libgomp does (and logs its calls)."""
    import os
    import shutil

    real = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    folder.mkdir(parents=True, exist_ok=True)
    cc = folder / "cc"
    cc.write_text(f"""#!/bin/sh
echo "$*" >> "{log}"
for a in "$@"; do
  if [ "$a" = "-fopenmp" ]; then echo "cc: error: unrecognized command-line option '-fopenmp'" >&2; exit 1; fi
done
exec "{real}" "$@"
""")
    os.chmod(cc, 0o755)
    return cc


def _load_in_new_process(monkeypatch):
    """:func:`_native.library` as a fresh process calls it: (the library, the warnings' messages)."""
    monkeypatch.setattr(_native, "_tried", False)
    monkeypatch.setattr(_native, "_lib", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = _native.library()
    return lib, [str(w.message) for w in caught]


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_a_compiler_without_openmp_is_tried_once_per_machine_and_named_in_one_line(monkeypatch, tmp_path, capsys):
    """Where the compiler has no OpenMP, the first process says in one line that the kernels run
    on one thread, naming the compiler and how to get OpenMP; later processes load the
    one-thread kernels without retrying OpenMP and print nothing; a changed compiler tries
    again. The one-thread kernels give the numbers of the OpenMP ones, bit for bit."""
    p = LIFParameters(alpha=math.exp(-0.5))
    h, gs, gv = _case(([3], 25, 300), 4, torch.float32)

    def numbers():
        s, v = fused.lif(h, p)
        return s, v, _grad((s, v), (gs, gv), h)

    monkeypatch.setattr(_native, "MIN_PARALLEL", 1)
    monkeypatch.setenv("SNNSIM_THREADS", "3")
    expected = numbers()  # the OpenMP kernels, on three threads

    log = tmp_path / "calls"
    cc = _compiler_without_openmp(tmp_path / "bin", log)
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    capsys.readouterr()

    lib, said = _load_in_new_process(monkeypatch)
    assert lib is not None
    assert capsys.readouterr().err.count("compiling the CPU kernels") == 1
    assert len(said) == 1, said
    assert "\n" not in said[0] and "one thread" in said[0] and str(cc) in said[0] and "-fopenmp" in said[0]
    assert "libgomp" in said[0] and "CC" in said[0]
    for a, b in zip(numbers(), expected):
        assert torch.equal(a, b)

    calls = log.read_text().count("\n")
    lib, said = _load_in_new_process(monkeypatch)  # a later process on this machine
    assert lib is not None and said == []
    assert capsys.readouterr().err == ""
    assert log.read_text().count("\n") == calls  # no compiler run at all: OpenMP is not retried

    cc.write_text(cc.read_text() + "# another version\n")  # the compiler changed: OpenMP is tried again
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is not None and len(said) == 1
    assert "-fopenmp" in log.read_text().splitlines()[calls]


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_kernels_names_the_build_this_process_got_without_building(monkeypatch, tmp_path):
    """:func:`_native.kernels` (a result file's ``kernels``): ``none`` before anything asked for
    the kernels (and asking it builds nothing), then the one-thread build of a compiler without
    OpenMP, the torch loops of a compiler that fails, and the first build again once the
    process's own library is back."""
    before = _native.kernels()
    assert before in ("compiled (OpenMP)", "compiled (one thread)")
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_native, "_tried", False)
    monkeypatch.setattr(_native, "_lib", None)
    assert _native.kernels() == "none"
    assert not (tmp_path / "cache").exists()
    monkeypatch.setenv("CC", str(_compiler_without_openmp(tmp_path / "bin", tmp_path / "calls")))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert _native.library() is not None
    assert _native.kernels() == "compiled (one thread)"
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is None and said
    assert _native.kernels().startswith("torch loops (") and "no-such-cc" in _native.kernels()
    monkeypatch.undo()
    assert _native.kernels() == before


def test_kernels_of_a_gpu_run_say_the_gpu_computed_their_part(monkeypatch):
    """On a GPU the kernels' part (the hidden spikes' product, the IPD stimuli and input currents,
    the fused LIF) is computed there, by torch ops and the fused backend's Triton kernels: a CUDA
    run's file said ``none``, as a ridge run's does. What :func:`_native.kernels` says of a device
    is what this process computed on it, whatever it built for the CPU."""
    monkeypatch.setattr(_native, "_elsewhere", {}, raising=False)
    cpu = _native.kernels("cpu")
    assert _native.kernels("cuda") == "none"  # nothing asked on the GPU (a ridge run)
    assert not sparse_input.available(torch.device("cuda"))  # no GPU needed to ask
    assert _native.kernels("cuda") == _native.kernels("cuda:0") == "cuda (torch ops)"
    _native.computed_elsewhere(torch.device("cuda"), "Triton LIF kernels")  # as fused's Triton path notes
    assert _native.kernels(torch.device("cuda", 0)) == "cuda (Triton LIF kernels, torch ops)"
    assert not _native.supported(torch.empty(3, device="meta"))  # a tensor off the CPU, through supported()
    assert _native.kernels("meta") == "meta (torch ops)"
    assert _native.kernels("cpu") == _native.kernels() == cpu  # the CPU's as before


CONCURRENT_BUILD = """
import warnings
from snnsim.backends import _native
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert _native.library() is not None
print(sum("one thread" in str(w.message) for w in caught))
"""


@pytest.mark.skipif(not NATIVE, reason="no C compiler")
def test_two_processes_building_at_once_without_openmp_both_load_the_kernels(tmp_path, monkeypatch, capsys):
    """A SLURM array's first tasks build the kernels at once: both load them, each says at most
    once that they run on one thread, and the cache holds one library and one marker, no
    leftovers. A later task (here in this process, as a fresh one loads them) loads the cached
    library without a word."""
    import os
    import subprocess
    import sys

    cc = _compiler_without_openmp(tmp_path / "bin", tmp_path / "calls")
    cache = tmp_path / "cache"
    env = dict(os.environ, CC=str(cc), SNNSIM_CACHE=str(cache))
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_BUILD], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert out.strip() in ("0", "1"), out
        assert "Traceback" not in err
    assert sorted(f.suffix for f in cache.iterdir()) == [".no-openmp", ".so"], list(cache.iterdir())
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("SNNSIM_CACHE", str(cache))
    capsys.readouterr()
    lib, said = _load_in_new_process(monkeypatch)  # no warning (one thread or other), no build announced
    assert lib is not None and said == [] and capsys.readouterr().err == "", said


def test_one_compiler_by_two_paths_shares_its_cached_kernels(monkeypatch, tmp_path):
    """``/bin/cc`` and ``/usr/bin/cc`` are one file where ``/bin`` links to ``/usr/bin`` (merged
    /usr): ``env -i`` (``PATH`` unset: ``/bin`` first) built the kernels a second time beside the
    ``/usr/bin/cc`` ones. The cache key resolves the folders, but keeps apart a compiler switched
    behind a link (``alternatives``) and the names of one wrapper (ccache as ``gcc``, as ``clang``)."""
    import os

    real = tmp_path / "usr" / "bin"
    real.mkdir(parents=True)
    (tmp_path / "bin").symlink_to(real)  # as a merged /usr
    for name in ("gcc-12", "clang-16", "ccache"):
        (real / name).write_text(f"#!/bin/sh\n# {name}\n")
        os.chmod(real / name, 0o755)
    (real / "cc").symlink_to(real / "gcc-12")
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    flags = _native._flags()
    target = _native._target(str(real / "cc"), flags)
    assert _native._target(str(tmp_path / "bin" / "cc"), flags) == target
    assert _native._target(f"{tmp_path / 'bin' / 'cc'} -m64", flags) == _native._target(f"{real / 'cc'} -m64", flags)
    (real / "cc").unlink()
    (real / "cc").symlink_to(real / "clang-16")  # update-alternatives: another compiler behind cc
    assert _native._target(str(real / "cc"), flags) != target
    for name in ("gcc", "clang"):
        (real / name).symlink_to(real / "ccache")
    assert _native._target(str(real / "gcc"), flags) != _native._target(str(real / "clang"), flags)


def test_a_compiler_that_fails_is_named_in_one_line(monkeypatch, tmp_path):
    """A compiler whose error runs over several lines (a full disk: ld's "No space left on
    device", then collect2's exit status) is reported in one line that keeps the cause."""
    import os

    cc = tmp_path / "cc"
    cc.write_text("""#!/bin/sh
echo "/usr/bin/ld: final link failed: No space left on device" >&2
echo "collect2: error: ld returned 1 exit status" >&2
exit 1
""")
    os.chmod(cc, 0o755)
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is None
    assert len(said) == 1, said
    assert "\n" not in said[0], said[0]
    assert "No space left on device" in said[0] and str(cc) in said[0]
    assert not said[0].startswith("snnsim:")  # the one-line format adds "snnsim: warning: "
    assert not list((tmp_path / "cache").glob("*.failed"))  # a full disk passes: the next process tries again


def test_a_compiler_that_fails_is_tried_once_and_a_changed_one_or_source_again(monkeypatch, tmp_path, capsys):
    """A compiler that runs but fails (gcc without ``ld`` on the PATH: every process paid about
    10 s of two builds before the torch loops) is remembered in the cache: a later process
    falls back at once, without running the compiler or announcing a build, and still says in
    one line that the kernels are not used and how to try again; a changed compiler or kernel
    source is tried again."""
    import os

    log = tmp_path / "calls"
    cc = tmp_path / "cc"
    cc.write_text(f"""#!/bin/sh
echo "$*" >> "{log}"
echo "collect2: fatal error: cannot find 'ld'" >&2
echo "compilation terminated." >&2
exit 1
""")
    os.chmod(cc, 0o755)
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    capsys.readouterr()
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is None and len(said) == 1 and "\n" not in said[0], said
    assert "cannot find 'ld'" in said[0] and "delete" in said[0]
    assert "compiling the CPU kernels" in capsys.readouterr().err
    calls = log.read_text().count("\n")
    assert calls >= 1

    lib, said = _load_in_new_process(monkeypatch)  # a later process: no compiler run, no announcement
    assert lib is None and len(said) == 1 and "\n" not in said[0], said
    assert "compiled CPU kernels unavailable" in said[0] and "cannot find 'ld'" in said[0]
    (marker,) = (tmp_path / "cache").glob("*.failed")
    assert str(marker) in said[0] and "delete" in said[0]
    assert log.read_text().count("\n") == calls
    assert capsys.readouterr().err == ""
    assert _native.kernels() == "torch loops (" + str(cc) + " failed: collect2: fatal error: cannot find 'ld')"

    monkeypatch.setattr(_native, "SOURCE", _native.SOURCE + "\n/* another version */\n")  # the source changed
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is None and log.read_text().count("\n") > calls
    monkeypatch.undo()
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.setenv("SNNSIM_CACHE", str(tmp_path / "cache"))
    calls = log.read_text().count("\n")
    cc.write_text(cc.read_text() + "# another version\n")  # the compiler changed: tried again
    lib, said = _load_in_new_process(monkeypatch)
    assert lib is None and log.read_text().count("\n") > calls


SLOW_BUILD = """
from snnsim.backends import _native
_native.library()
"""


def _start_slow_build(tmp_path, cache, name):
    """A process building the kernels with a compiler that hangs (in a session of its own, to be
    killed with its compiler); returns it once its build folder holds the source."""
    import os
    import subprocess
    import sys
    import time

    cc = tmp_path / f"slow-{name}"
    started = tmp_path / f"started-{name}"
    cc.write_text(f'#!/bin/sh\ntouch "{started}"\nexec sleep 300\n')
    os.chmod(cc, 0o755)
    env = dict(os.environ, CC=str(cc), SNNSIM_CACHE=str(cache))
    before = {p for p in cache.iterdir()} if cache.exists() else set()
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD], env=env, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while not started.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert started.exists(), "the slow compiler never ran"
    (folder,) = [p for p in cache.iterdir() if p.is_dir() and p not in before]
    assert (folder / "kernels.c").is_file()
    return proc, folder


def test_a_killed_build_leaves_no_folder_behind_and_a_live_one_is_left_alone(monkeypatch, tmp_path):
    """A build killed part-way (SIGKILL, scancel) leaves its folder in the cache: the next build
    removes it, but not the folder of a build still running, nor a young folder it cannot tell
    dead; an old one (an hour) of an older snnsim is removed."""
    import os
    import signal

    cache = tmp_path / "cache"
    killed, killed_folder = _start_slow_build(tmp_path, cache, "killed")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed_folder.is_dir()  # what the kill left
    live, live_folder = _start_slow_build(tmp_path, cache, "live")
    try:
        old, young = cache / "tmpabcd1234", cache / "tmpwxyz9876"  # an older snnsim's, named by tempfile
        for folder in (old, young):
            folder.mkdir()
            (folder / "kernels.c").write_text("/* a killed build's source */\n")
        hour_ago = os.stat(old).st_mtime - 2 * 3600  # two hours ago
        os.utime(old, (hour_ago, hour_ago))
        other = cache / "build-0000beef-1-abcdefgh"  # another host's live build
        other.mkdir()

        fails = tmp_path / "fails"
        fails.write_text("#!/bin/sh\necho 'cc: error: no' >&2\nexit 1\n")
        os.chmod(fails, 0o755)
        monkeypatch.setenv("CC", str(fails))
        monkeypatch.setenv("SNNSIM_CACHE", str(cache))
        lib, _ = _load_in_new_process(monkeypatch)  # the next build (it fails: that is not the point)
        assert lib is None
        left = sorted(p.name for p in cache.iterdir() if p.suffix != ".failed")  # the failure is remembered
        assert left == sorted([live_folder.name, young.name, other.name]), left
        assert (live_folder / "kernels.c").is_file()
    finally:
        os.killpg(live.pid, signal.SIGKILL)
        live.wait(timeout=60)


@pytest.mark.parametrize("neuron", ["notebook", "standard"])
def test_a_membrane_exactly_at_the_threshold_does_not_fire(impl, neuron):
    """A neuron fires when its membrane is above the threshold, strictly (the reference's
    ``spike_fn(v - v_th)``, snnTorch's and Norse's Heaviside): membranes that reach ``v_th``
    exactly (sums of powers of two, exact in floating point) stay silent, one just above it
    fires. Random currents never hit the threshold exactly, so ``>=`` had passed every test."""
    from snnsim.functional.cell import CellOptions, cell_sequence

    p = LIFParameters(alpha=0.5, v_th=1.5, slope=5.0, neuron=neuron)
    eps = 2.0**-20
    # column 0: 1.5 at once; column 1: 1 then 0.5 * 1 + 1 = 1.5; column 2: just above, fires
    h = torch.tensor([[1.5, 1.0, 1.5 + eps], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    if neuron == "standard":  # the spike of the updated membrane, in the same step
        want = torch.tensor([[0, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=torch.float64)
    else:  # the spike of the membrane one step before: v[1] for columns 0 and 2, v[2] for column 1
        want = torch.tensor([[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=torch.float64)
    for dtype in (torch.float64, torch.float32):
        s, v = fused.lif(h.to(dtype), p)
        assert torch.equal(s, want.to(dtype)), (dtype, s)
        assert torch.equal(s, lif_sequence(h.to(dtype), p)[0])
    if neuron == "standard":  # the adaptive threshold: z = u - v_th - rho * A = 0 at the first step
        opts = CellOptions(0.0, 0.5, 0.25)
        s, _ = fused.adaptive_lif(h, p, opts)
        assert torch.equal(s, want) and torch.equal(s, cell_sequence(h, p, opts)[0])


def test_the_leaky_filters_kept_are_bounded():
    """Off the compiled kernels the leaky integrator is a product with a (T, T) matrix per decay,
    kept for the next call; one process that runs many time constants (a tuning session on a GPU)
    kept every one of them. At most ``FILTERS_KEPT`` are kept; each still gives its own filter."""
    alphas = [0.5 + i / 200 for i in range(3 * fused.FILTERS_KEPT)]
    for alpha in alphas:
        mat = fused._filter(alpha, 7, torch.float32, torch.device("cpu"))
        assert torch.equal(mat, fused.leaky_filter_matrix(alpha, 7, torch.float32, torch.device("cpu")))
    assert fused._kept_filter.cache_info().currsize <= fused.FILTERS_KEPT
    again = fused._filter(alphas[-1], 7, torch.float32, torch.device("cpu"))
    assert again is fused._filter(alphas[-1], 7, torch.float32, torch.device("cpu"))  # kept between calls
