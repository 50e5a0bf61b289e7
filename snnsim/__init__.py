"""snnsim: spiking-network decoders for neuroscience experiments.

One path for the data::

    encoder -> network (backend neurons) -> readout -> metrics -> result file -> merge -> figures

Units inside the package are SI (seconds, hertz, radians); strings such as ``"2ms"`` are parsed
only at the edges (CLI, experiment files) by :func:`snnsim.units.parse_duration`.
"""

__version__ = "0.3.0"

import sys as _sys

if _sys.argv[:1] == ["-m"]:  # python -m snnsim.COMMAND, located now: Ctrl-C while it loads is one line
    from .cli import starting as _starting

    _starting()
