"""Cost metrics: golden values by hand, and every metric checked against NeuroBench on a model of
the snnTorch backend (NeuroBench hooks the network's nn.Linear and snn.Leaky layers)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from snnsim import costs
from snnsim.backends import make_backend
from snnsim.functional.lif import LIFParameters
from snnsim.network import Decoder
from snnsim.readouts import get_readout


def test_golden_values_by_hand():
    # 3 inputs -> 2 hidden -> 1 output; one zero weight in each layer
    w1 = torch.tensor([[1.0, 0.0], [0.5, 0.5], [2.0, 1.0]])  # input 0 reaches 1 neuron, 1 and 2 reach 2
    w2 = torch.tensor([[0.0], [1.0]])  # hidden 0 reaches nothing, hidden 1 one output
    x = torch.zeros(2, 4, 3)  # 2 samples, 4 steps (3 integrated)
    x[0, 0, 0] = x[0, 1, 1] = x[1, 2, 2] = 1  # fan-outs 1, 2, 2 -> 5 input ACs in all
    x[1, 3, 0] = 1  # the last step is not integrated: not counted
    s1 = torch.zeros(2, 4, 2)
    s1[0, 1, 0] = s1[0, 2, 1] = s1[1, 1, 1] = 1  # fan-outs 0, 1, 1 -> 2 hidden ACs
    s1[1, 3, 1] = 1  # last step: counted in the rate, not in the operations
    c = costs.spiking(w1, w2, x, s1, None, dt=1e-3)
    assert c.n_params == 8 and c.footprint_bytes == 32
    assert c.connection_sparsity == pytest.approx(2 / 8)
    assert c.synops_dense == 3 * (6 + 2)
    assert c.synops_eff_acs == pytest.approx((5 + 2) / 2) and c.synops_eff_macs == 0
    assert c.activation_sparsity == pytest.approx(1 - 3 / (2 * 3 * 3))  # 3 integrated spikes, 3 neurons x 3 steps
    assert c.hidden_rate_hz == pytest.approx(4 / (2 * 2 * 4 * 1e-3))
    # parameters beyond the weights (a BMI head): in the count and footprint, not in the weights' sparsity
    h = costs.spiking(w1, w2, x, s1, None, dt=1e-3, extra_params=4)
    assert (h.n_params, h.footprint_bytes, h.connection_sparsity) == (12, 48, pytest.approx(2 / 8))
    # a spiking output (fr): its spikes of the integrated steps count, that of the last step not
    out = torch.zeros(2, 4, 1)
    out[0, 2, 0] = out[1, 3, 0] = 1
    o = costs.spiking(w1, w2, x, s1, out, dt=1e-3)
    assert o.activation_sparsity == pytest.approx(1 - (3 + 1) / (2 * 3 * 3))
    # currents instead of spikes: multiply-accumulates
    m = costs.spiking(w1, w2, x * 0.5, s1, None, dt=1e-3)
    assert m.synops_eff_macs == pytest.approx(5 / 2) and m.synops_eff_acs == pytest.approx(2 / 2)


def test_golden_values_by_hand_for_the_standard_neuron_and_a_recurrent_projection():
    # the network of the test above; the standard neuron integrates all 4 steps
    w1 = torch.tensor([[1.0, 0.0], [0.5, 0.5], [2.0, 1.0]])
    w2 = torch.tensor([[0.0], [1.0]])
    x = torch.zeros(2, 4, 3)
    x[0, 0, 0] = x[0, 1, 1] = x[1, 2, 2] = x[1, 3, 0] = 1  # fan-outs 1, 2, 2, 1 -> 6 input ACs
    s1 = torch.zeros(2, 4, 2)
    s1[0, 1, 0] = s1[0, 2, 1] = s1[1, 1, 1] = s1[1, 3, 1] = 1  # fan-outs to the output 0, 1, 1, 1 -> 3 ACs
    c = costs.spiking(w1, w2, x, s1, None, dt=1e-3, neuron="standard")
    assert c.synops_dense == 4 * (6 + 2)
    assert c.synops_eff_acs == pytest.approx((6 + 3) / 2)
    assert c.activation_sparsity == pytest.approx(1 - 4 / (2 * 4 * 3))  # 4 spikes, 3 neurons x 4 steps
    # a recurrent projection integrates the previous step's spikes: the last step's spike is not counted
    wr = torch.tensor([[1.0, 1.0], [0.0, 1.0]])  # hidden 0 reaches 2, hidden 1 one
    connections = [costs.Connection(x, w1), costs.Connection(s1, wr, recurrent=True), costs.Connection(s1, w2)]
    r = costs.network(connections, [s1], None, 1, 1e-3, neuron="standard")
    assert r.n_params == 12 and r.synops_dense == 4 * (6 + 4 + 2)
    assert r.synops_eff_acs == pytest.approx((6 + (2 + 1 + 1) + 3) / 2)
    with pytest.raises(ValueError, match="integrates none"):
        costs.spiking(w1, w2, x[:, :1], s1[:, :1], None, dt=1e-3)  # one notebook step: nothing integrated
    two = costs.spiking(w1, w2, x[:, :2], s1[:, :2], None, dt=1e-3)  # two notebook steps: the first integrated
    assert two.synops_eff_acs == pytest.approx(1 / 2) and two.synops_dense == 1 * (6 + 2)  # input 0 at step 0


def test_counts_of_the_fast_path_are_exact():
    """2**11 + 1 samples of one step, each with its one input active (fan-out 3): counted on the
    fast path (below 2**24 rows), still exactly 3 accumulates per sample (a float narrower than
    float32, float16, holds the integers up to 2**11 only)."""
    n = 2**11 + 1
    w1, w2 = torch.ones(1, 3), torch.ones(3, 1)
    x, s1 = torch.ones(n, 1, 1, dtype=torch.bool), torch.zeros(n, 1, 3, dtype=torch.bool)
    c = costs.spiking(w1, w2, x, s1, None, dt=1e-3, neuron="standard")
    assert c.synops_eff_acs == 3.0 and c.synops_eff_macs == 0


def test_counts_past_the_integers_float32_holds_are_exact():
    """2**24 + 1 samples of one step, each with its one input active (fan-out 3) and no hidden
    spike: 3 accumulates per sample. Counted in float32 (exact below 2**24 only), the sum is 2**24
    and each sample gets 3 * 2**24 / (2**24 + 1)."""
    n = 2**24 + 1
    w1, w2 = torch.ones(1, 3), torch.ones(3, 1)
    x, s1 = torch.ones(n, 1, 1, dtype=torch.bool), torch.zeros(n, 1, 3, dtype=torch.bool)
    c = costs.spiking(w1, w2, x, s1, None, dt=1e-3, neuron="standard")
    assert c.synops_eff_acs == 3.0 and c.synops_eff_macs == 0


def test_a_decoders_costs_are_those_of_its_projections_by_hand():
    """``of_decoder`` on the recurrent network of the standard-neuron golden test (the same records;
    hidden 1 reaches both neurons through the recurrent weights). The hidden-to-output projection
    integrates every step's spikes and only the recurrent one all but the last; a decoder's costs
    had been checked with no hidden spike, where marking the output projection recurrent changed
    nothing."""
    from snnsim.network import Architecture

    model = Decoder(3, 2, 1, make_backend("snntorch"), get_readout("mean"), LIFParameters(0.9, neuron="standard"),
                    "fan-in", [torch.Generator().manual_seed(0)], Architecture((2,), recurrent=True))  # fmt: skip
    with torch.no_grad():
        model.w1.copy_(torch.tensor([[[1.0, 0.0], [0.5, 0.5], [2.0, 1.0]]]))
        model.recurrent_weights[0].copy_(torch.ones(1, 2, 2))
        model.w2.copy_(torch.tensor([[[0.0], [1.0]]]))
    x = torch.zeros(2, 4, 3)
    x[0, 0, 0] = x[0, 1, 1] = x[1, 2, 2] = x[1, 3, 0] = 1  # fan-outs 1, 2, 2, 1 -> 6 input ACs
    s1 = torch.zeros(2, 4, 2)
    s1[0, 1, 0] = s1[0, 2, 1] = s1[1, 1, 1] = s1[1, 3, 1] = 1  # to the output: 0, 1, 1, 1 -> 3 ACs
    c = costs.of_decoder(model, 0, x, s1, None, 1e-3)  # recurrent: 2, 2, 2 (not the last step's) -> 6 ACs
    assert c.n_params == 12 and c.synops_dense == 4 * (6 + 4 + 2)
    assert c.synops_eff_acs == pytest.approx((6 + 6 + 3) / 2) and c.synops_eff_macs == 0


def test_input_delays_count_the_delayed_input_the_first_layer_integrates():
    """Input 0 delayed 0 steps, input 1 by 2 (both whole: spikes stay spikes), input 2 by 0.5
    (a spike becomes 0.5 at its step and 0.5 a step later: multiply-accumulates)."""
    from snnsim.network import Architecture

    arch = Architecture((2,), delays="fixed", max_delay=3)
    model = Decoder(3, 2, 1, make_backend("snntorch"), get_readout("mean"), LIFParameters(0.9, neuron="standard"),
                    "fan-in", [torch.Generator().manual_seed(0)], arch)  # fmt: skip
    with torch.no_grad():
        model.w1.copy_(torch.tensor([[[1.0, 0.0], [0.5, 0.5], [2.0, 1.0]]]))  # fan-outs 1, 2, 2
        model.delays.copy_(torch.tensor([[0.0, 2.0, 0.5]]))
    x = torch.zeros(1, 4, 3)
    x[0, 0, 0] = x[0, 1, 1] = x[0, 3, 1] = 1  # input 1's spike at step 3 arrives after the last step
    spikes = torch.zeros(1, 4, 2)
    whole = costs.of_decoder(model, 0, x, spikes, None, 1e-3)
    assert whole.synops_eff_acs == 1 + 2 and whole.synops_eff_macs == 0  # input 0 at step 0, input 1 at step 3
    x[0, 2, 2] = 1  # -> 0.5 at steps 2 and 3 of input 2
    graded = costs.of_decoder(model, 0, x, spikes, None, 1e-3)
    assert graded.synops_eff_macs == 1 + 2 + 2 * 2 and graded.synops_eff_acs == 0  # the layer's input is graded now
    assert graded.n_params == 3 * 2 + 2 * 1  # fixed delays are no parameters


@pytest.mark.parametrize("neuron", ["notebook", "standard"])
@pytest.mark.parametrize("readout", ["mean", "fr"])
def test_every_metric_equals_neurobench_on_the_snntorch_backend(readout, neuron):
    """The same weights in a network NeuroBench can hook: nn.Linear layers and snn.Leaky
    subclasses that step exactly like snnsim's neuron (checked against snnsim's own records
    first); NeuroBench runs on the input steps snnsim integrates (T - 1 for the notebook neuron,
    T for the standard one)."""
    import snntorch as snn
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import SNNTorchModel
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    alpha, n_in, n_hidden, n_out, steps, n = math.exp(-0.1), 40, 12, 5, 30, 6
    params = LIFParameters(alpha=alpha, neuron=neuron)
    model = Decoder(n_in, n_hidden, n_out, make_backend("snntorch"), get_readout(readout), params, "fan-in",
                    [torch.Generator().manual_seed(0)])  # fmt: skip
    with torch.no_grad():
        model.w1.mul_(5).masked_fill_(torch.rand(model.w1.shape, generator=torch.Generator().manual_seed(1)) < 0.2, 0)
    x = (torch.rand(n, steps, n_in, generator=torch.Generator().manual_seed(2)) < 0.2).float()
    with torch.no_grad():
        rec = model(x[None])
    ours = costs.spiking(model.w1[0].detach(), model.w2[0].detach(), x, rec.hidden_spikes[0],
                         None if rec.out_spikes is None else rec.out_spikes[0], 1e-3, neuron=neuron)  # fmt: skip
    assert rec.hidden_spikes.sum() > 0

    class LIF(snn.Leaky):  # emits snnsim's record of the step
        def __init__(self, li: bool, last: bool) -> None:
            super().__init__(beta=alpha, threshold=1.0, init_hidden=True, reset_mechanism="none", output=last)
            self.li = li

        def forward(self, h):
            if self.mem.shape != h.shape:
                self.reset_mem(like=h)
            if self.li:
                self.mem = self.beta * self.mem + h
                out = torch.zeros_like(h)
            elif neuron == "notebook":  # the stored spike, from the membrane before this step
                out = self.s
                self.s = (self.mem > self.threshold).float()
                self.mem = (self.beta * self.mem + h) * (1 - out)
            else:  # standard: spike from the updated membrane, reset to 0 in the same step
                self.mem = self.beta * self.mem + h
                out = (self.mem > self.threshold).float()
                self.mem = self.mem * (1 - out)
            return (out, self.mem) if self.output else out  # the last layer: (spikes, membrane)

        def reset_mem(self, like=None):
            like = self.mem if like is None else like
            self.mem, self.s = torch.zeros_like(like), torch.zeros_like(like)
            return self.mem

    class Net(nn.Sequential):
        def reset(self):
            for m in self.modules():
                if isinstance(m, LIF):
                    m.reset_mem()

    net = Net(nn.Linear(n_in, n_hidden, bias=False), LIF(False, False), nn.Linear(n_hidden, n_out, bias=False),
              LIF(readout != "fr", True))  # fmt: skip
    with torch.no_grad():
        net[0].weight.copy_(model.w1[0].T)
        net[2].weight.copy_(model.w2[0].T)
    run = steps - 1 if neuron == "notebook" else steps
    probe = copy.deepcopy(net)  # stepping a copy leaves the benchmarked net's buffers as they are
    with torch.no_grad():  # the stand-in steps as snnsim does: the same hidden spikes
        hidden = torch.stack([probe[1](probe[0](x[:, t])) for t in range(run)], 1)
    assert torch.equal(hidden, rec.hidden_spikes[0][:, :run])
    loader = DataLoader(TensorDataset(x[:, :run], torch.zeros(n)), batch_size=n)
    bench = Benchmark(SNNTorchModel(net), loader, [], [], [[Footprint, ParameterCount, ConnectionSparsity],
                                                          [ActivationSparsity, SynapticOperations]])  # fmt: skip
    theirs = bench.run(quiet=True)
    leaky_buffers = 2 * 20  # beta, threshold, graded_spikes_factor (4 B) and reset_mechanism_val (8 B) per Leaky
    assert theirs["ParameterCount"] == ours.n_params
    assert theirs["Footprint"] - leaky_buffers == ours.footprint_bytes
    assert theirs["ConnectionSparsity"] == pytest.approx(ours.connection_sparsity, abs=1e-4)  # NB rounds to 4 places
    assert theirs["ActivationSparsity"] == pytest.approx(ours.activation_sparsity, rel=1e-12)
    ops = theirs["SynapticOperations"]
    assert ops["Dense"] == ours.synops_dense
    assert ops["Effective_ACs"] == pytest.approx(ours.synops_eff_acs, rel=1e-12)
    assert ops["Effective_MACs"] == pytest.approx(ours.synops_eff_macs) == 0.0
    assert 0 < ours.activation_sparsity < 1 and np.isfinite(ours.hidden_rate_hz)


def test_the_ann_and_ridge_costs_equal_neurobench():
    """The BMI baselines' costs (``costs.dense``: an ANN inputs -> ELU -> outputs, and ridge, one
    layer, both with biases) against NeuroBench on the same nn.Linear layers, with zero weights and
    zero inputs: they had been checked nowhere (the spiking decoder's are above)."""
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
    from neurobench.metrics.workload import SynapticOperations
    from neurobench.models import TorchModel
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(0)
    n, n_in, n_hidden, n_out = 5, 6, 4, 2
    x = torch.randn(n, n_in, generator=g)
    x[x.abs() < 0.5] = 0  # zero inputs cost nothing
    ann = nn.Sequential(nn.Linear(n_in, n_hidden), nn.ELU(), nn.Linear(n_hidden, n_out))
    ridge = nn.Sequential(nn.Linear(n_in, n_out))
    with torch.no_grad():
        ann[0].weight[0, :2] = 0
        ann[2].weight[1, 1] = 0
        ridge[0].weight[0, 3:] = 0
    loader = DataLoader(TensorDataset(x, torch.zeros(n)), batch_size=n)
    for net in (ann, ridge):
        layers = [m for m in net if isinstance(m, nn.Linear)]
        ours = costs.dense([m.weight.detach().T for m in layers], [m.bias.detach() for m in layers], x)
        theirs = Benchmark(TorchModel(net), loader, [], [], [[Footprint, ParameterCount, ConnectionSparsity],
                                                             [SynapticOperations]]).run(quiet=True)  # fmt: skip
        assert theirs["ParameterCount"] == ours.n_params and theirs["Footprint"] == ours.footprint_bytes
        assert theirs["ConnectionSparsity"] == pytest.approx(ours.connection_sparsity, abs=1e-4)  # NB: 4 places
        ops = theirs["SynapticOperations"]
        assert ops["Dense"] == ours.synops_dense
        assert ops["Effective_MACs"] == pytest.approx(ours.synops_eff_macs, rel=1e-12)
        assert ops["Effective_ACs"] == ours.synops_eff_acs == 0.0
        assert 0 < ours.connection_sparsity and ours.synops_eff_macs < ours.synops_dense


@pytest.mark.parametrize("mode", ["fixed", "learned"])
def test_footprint_counts_the_delays_as_neurobench_does(mode):
    """Fixed input delays are a buffer the network needs to run: NeuroBench's Footprint counts
    them (and ParameterCount does not); learned delays are parameters, counted by both."""
    from neurobench.metrics.static import Footprint, ParameterCount
    from neurobench.models import TorchModel

    from snnsim.network import Architecture

    model = Decoder(4, 3, 2, make_backend("snntorch"), get_readout("mean"), LIFParameters(0.9, neuron="standard"),
                    "fan-in", [torch.Generator().manual_seed(0)], Architecture((3,), delays=mode, max_delay=2))  # fmt: skip
    x = (torch.rand(2, 5, 4, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    with torch.no_grad():
        rec = model(x[None])
    c = costs.of_decoder(model, 0, x, rec.hidden_spikes[0], None, 1e-3)
    assert c.n_params == 4 * 3 + 3 * 2 + (4 if mode == "learned" else 0) == ParameterCount()(TorchModel(model))
    assert c.footprint_bytes == 4 * (4 * 3 + 3 * 2 + 4) == Footprint()(TorchModel(model))


def test_learned_decays_are_parameters_as_neurobench_counts_them():
    """A trained membrane decay per hidden neuron (``--learn-tau``) is a parameter of the model:
    counted, and in the footprint, as NeuroBench counts it."""
    from neurobench.metrics.static import Footprint, ParameterCount
    from neurobench.models import TorchModel

    from snnsim.network import Architecture

    model = Decoder(4, 3, 2, make_backend("snntorch"), get_readout("mean"), LIFParameters(0.9, neuron="standard"),
                    "fan-in", [torch.Generator().manual_seed(0)], Architecture((3,), learn_tau=True))  # fmt: skip
    x = (torch.rand(2, 5, 4, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    with torch.no_grad():
        rec = model(x[None])
    c = costs.of_decoder(model, 0, x, rec.hidden_spikes[0], None, 1e-3)
    assert c.n_params == 4 * 3 + 3 * 2 + 3 == ParameterCount()(TorchModel(model))
    assert c.footprint_bytes == 4 * c.n_params == Footprint()(TorchModel(model))
