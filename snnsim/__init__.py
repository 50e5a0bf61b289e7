"""snnsim: spiking-network decoders for neuroscience experiments.

One path for the data::

    encoder -> network (backend neurons) -> readout -> metrics -> result file -> merge -> figures

Units inside the package are SI (seconds, hertz, radians); strings such as ``"2ms"`` are parsed
only at the edges (CLI, experiment files) by :func:`snnsim.units.parse_duration`.
"""

__version__ = "0.3.0"

import sys as _sys

_argv = getattr(_sys, "orig_argv", [])
# python -m snnsim.COMMAND, located now (argv[0] is "-m" then): Ctrl-C while it loads is one line;
# not when another program's `python -m` module imports snnsim as it is located
if _sys.argv[:1] == ["-m"] and any(a == "-m" and b.split(".")[0] == "snnsim" for a, b in zip(_argv, _argv[1:])):
    from .cli import starting as _starting

    _starting()
