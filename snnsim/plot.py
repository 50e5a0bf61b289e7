"""``python -m snnsim.plot``: the old name of ``python -m snnsim.plots`` (kept as an alias)."""

import sys

from .cli import process
from .plots.__main__ import main

if __name__ == "__main__":
    sys.exit(process(main))
