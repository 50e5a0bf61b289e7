"""Pure functions of the numerical core: surrogate spike function and neuron steps.

Nothing here holds state: parameters and state are small immutable records passed in and out.
"""

from .surrogate import SigmoidSurrogate, SigmoidSpike, spike_fn
from .lif import LIFParameters, LIFState, lif_step, li_step, lif_sequence, li_sequence

__all__ = [
    "SigmoidSurrogate", "SigmoidSpike", "spike_fn",
    "LIFParameters", "LIFState", "lif_step", "li_step", "lif_sequence", "li_sequence",
]
