"""``python -m snnsim.sweep``: see :mod:`snnsim.sweep.cli`."""

import sys

from ..cli import process


def _main() -> int:
    from .cli import main  # loaded under process()'s garbage-collector settings

    return main()


sys.exit(process(_main))
