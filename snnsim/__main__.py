"""``python -m snnsim``: not a command itself; names the commands, in one line, exit 2."""

import sys

COMMANDS = ("run", "sweep", "tune", "predict", "export", "plots")

if __name__ == "__main__":
    listed = ", ".join(f"python -m snnsim.{name}" for name in COMMANDS)
    print(f"snnsim: error: give a command: {listed} (each has --help)", file=sys.stderr)
    sys.exit(2)
