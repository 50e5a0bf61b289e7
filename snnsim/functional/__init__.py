"""Pure functions of the numerical core: surrogate spike function and neuron steps.

Nothing here holds state: parameters and state are small immutable records passed in and out.
"""

from .lif import LIFParameters, LIFState, li_sequence, li_step, lif_sequence, lif_step
from .surrogate import SigmoidSpike, SigmoidSurrogate, spike_fn

__all__ = [
    "SigmoidSurrogate",
    "SigmoidSpike",
    "spike_fn",
    "LIFParameters",
    "LIFState",
    "lif_step",
    "li_step",
    "lif_sequence",
    "li_sequence",
]
