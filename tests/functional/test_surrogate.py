"""The surrogate gradient is the same number for a value wherever it sits in a tensor, so a
model's gradients do not depend on the models or samples batched with it (float32, CPU)."""

import math

import pytest
import torch

from snnsim.backends import make_backend
from snnsim.functional.cell import CellOptions, cell_sequence
from snnsim.functional.lif import LIFParameters
from snnsim.functional.surrogate import sigmoid, spike_fn


def test_sigmoid_of_a_value_does_not_depend_on_the_tensor_length():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, generator=g) * 4
    whole = sigmoid(x)
    torch.testing.assert_close(whole, torch.sigmoid(x), rtol=1e-6, atol=0)
    for n in range(1, 300):
        assert torch.equal(sigmoid(x[:n].clone()), whole[:n]), n
        assert torch.equal(sigmoid(x[n // 3 : n].clone()), whole[n // 3 : n]), n


def test_spike_gradient_of_a_value_does_not_depend_on_the_tensor_length():
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(3, 40, generator=g) * 0.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(spike_fn(x).sum(), x)
    for k in range(3):
        row = x[k].detach().clone().requires_grad_(True)
        (alone,) = torch.autograd.grad(spike_fn(row).sum(), row)
        assert torch.equal(alone, grad[k]), k


P = LIFParameters(alpha=0.95, v_th=1.0, slope=5.0, neuron="standard")


@pytest.mark.parametrize(
    "layer",
    [
        lambda h: cell_sequence(h, P, CellOptions()),
        lambda h: make_backend("snntorch").cell(h, P, CellOptions()),
        lambda h: make_backend("snntorch").lif(h, P),
        lambda h: make_backend("snntorch").lif(h, P._replace(neuron="notebook")),
    ],
    ids=["reference", "snntorch-cell", "snntorch-lif", "snntorch-lif-notebook"],
)
def test_input_gradients_of_a_model_batched_equal_alone(layer):
    """Two models of 8 samples x 3 neurons (24 values a step, not a multiple of a vector block)."""
    g = torch.Generator().manual_seed(0)
    h0 = torch.randn(2, 8, 30, 3, generator=g)
    w = torch.randn(2, 8, 30, 3, generator=g)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a run (snnsim.threads)
    try:
        h = h0.clone().requires_grad_(True)
        s, v = layer(h)
        (grad,) = torch.autograd.grad((s * w).sum() + v.sum(), h)
        assert grad.abs().sum() > 0
        for m in range(2):
            hm = h0[m : m + 1].clone().requires_grad_(True)
            sm, vm = layer(hm)
            (alone,) = torch.autograd.grad((sm * w[m : m + 1]).sum() + vm.sum(), hm)
            assert torch.equal(sm, s[m : m + 1].detach())
            assert torch.equal(alone, grad[m : m + 1]), m
    finally:
        torch.set_num_threads(before)


def test_spike_and_surrogate_gradient_golden():
    """Heaviside (0 at 0, as the notebook's ``input > 0``) and slope * sigmoid' (slope * x), by hand."""
    values = [-1.0, -0.2, 0.0, 0.3, 2.0]
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    s = spike_fn(x, 5.0)
    assert s.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    (grad,) = torch.autograd.grad(s.sum(), x)

    def by_hand(v):
        sig = 1 / (1 + math.exp(-5.0 * v))
        return 5.0 * sig * (1 - sig)

    torch.testing.assert_close(
        grad, torch.tensor([by_hand(v) for v in values], dtype=torch.float64), rtol=1e-12, atol=0
    )
    assert grad[2].item() == 1.25  # slope / 4 at the threshold
