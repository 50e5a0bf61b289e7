"""The oracle: the readout notebook's network, transcribed line by line in plain PyTorch.

Only changes from the notebook: the dtype is a parameter (tests run in float64 so that float
rounding cannot flip a spike), batch size and steps come from the input, and ``layer`` also
returns the membrane record (the same loop, also storing ``v``) so that membranes can be
compared. Everything else — the order of the updates (spike from the membrane before the
update: seed quirk 3), the multiplicative reset, the sigmoid surrogate with beta = 5, the
(in, out) weight layout with ``_calculate_fan_in_and_fan_out`` (seed quirk 2) — is the
notebook's.
"""

import numpy as np
import torch
import torch.nn as nn

ms = 1e-3
dt = 1 * ms
beta = 5


class SurrGradSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        out = torch.zeros_like(input)
        out[input > 0] = 1.0
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad = grad_output * beta * torch.sigmoid(beta * input) * (1 - torch.sigmoid(beta * input))
        return grad


spike_fn = SurrGradSpike.apply


def snn_init(shape, dtype=torch.float64, generator=None):
    W = nn.Parameter(torch.empty(shape, dtype=dtype, requires_grad=True))
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(W)
    bound = 1 / np.sqrt(fan_in)
    nn.init.uniform_(W, -bound, bound, generator=generator)
    return W


def layer(input_spikes, W, spike=True, tau=20 * ms, fn=spike_fn):
    """The notebook's ``snn_layer.forward``; returns (record, membrane record)."""
    batch_size = input_spikes.shape[0]
    duration_steps = input_spikes.shape[1]
    out_size = W.shape[1]
    v = torch.zeros((batch_size, out_size), dtype=W.dtype)
    s = torch.zeros((batch_size, out_size), dtype=W.dtype)
    h = torch.einsum("abc,cd->abd", (input_spikes, W))
    alpha = np.exp(-dt / tau)
    if spike:
        s_rec = [s]
        v_rec = [v]
        for t in range(duration_steps - 1):
            new_v = (alpha * v + h[:, t, :]) * (1 - s)  # multiply by 0 after a spike
            s = fn(v - 1)  # threshold of 1
            v = new_v
            s_rec.append(s)
            v_rec.append(v)
        return torch.stack(s_rec, dim=1), torch.stack(v_rec, dim=1)
    v_rec = [v]
    for t in range(duration_steps - 1):
        v = alpha * v + h[:, t, :]
        v_rec.append(v)
    v_rec = torch.stack(v_rec, dim=1)
    return v_rec, v_rec


def network(input_spikes, W1, W2, tau, fr):
    """snn_original / snn_fr: returns (hidden spikes, output record, output membrane)."""
    s1, _ = layer(input_spikes, W1, spike=True, tau=tau)
    out, v2 = layer(s1, W2, spike=fr, tau=tau)
    return s1, out, v2


def readout_logits(output, readout):
    """The training readouts of the notebook's three experiments."""
    if readout == "max":
        return torch.max(output, 1)[0]
    return torch.mean(output, 1)  # oc (membrane) and fr (spikes)
