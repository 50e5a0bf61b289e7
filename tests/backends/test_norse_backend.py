"""The Norse backend's start-up."""

import subprocess
import sys


def test_loading_norse_prints_no_deprecation_warning():
    """Norse's import decorates functions with torch.jit.script, which this torch deprecates with a
    FutureWarning on every run; the backend loads Norse without it (warnings as errors here)."""
    code = "from snnsim.backends import make_backend; make_backend('norse')"
    done = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_adapter_steps_with_norse_lib_box_cells_numbers():
    """The backend calls ``LIBoxCell``'s step function directly (without the module call): each
    step's membrane and its gradients equal those of ``LIBoxCell`` itself, bit for bit."""
    import torch

    from snnsim.backends import make_backend
    from snnsim.functional.lif import LIFParameters

    p = LIFParameters(alpha=0.9512, v_th=1.0, slope=5.0)
    generator = torch.Generator().manual_seed(0)
    h, v = torch.randn(2, 64, 30, generator=generator), torch.randn(2, 64, 30, generator=generator)
    step, constants = make_backend("norse")._cell(p, h)  # loads Norse without its deprecation warning
    from norse.torch.functional.leaky_integrator_box import LIBoxParameters, LIBoxState
    from norse.torch.module.leaky_integrator_box import LIBoxCell

    module = LIBoxCell(LIBoxParameters(torch.as_tensor(1.0 - p.alpha), torch.zeros(())), dt=1.0)
    results = []
    for run in (lambda h, v: step(h, v), lambda h, v: module(h, LIBoxState(v))[0]):
        hh, vv = (h * constants.gain).requires_grad_(), v.clone().requires_grad_()
        out = run(hh, vv)
        out.square().sum().backward()
        results.append((out.detach(), hh.grad, vv.grad))
    for ours, norse in zip(*results):
        assert torch.equal(ours, norse)
    assert torch.allclose(results[0][0], p.alpha * v + h, atol=1e-5)  # Norse's Euler step is the notebook's
