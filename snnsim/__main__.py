"""``python -m snnsim``: not a command itself; names the commands, in one line, exit 2
(``--help``/``-h``: the same line on stdout, exit 0)."""

import sys

COMMANDS = ("run", "sweep", "tune", "predict", "export", "plots")

if __name__ == "__main__":
    listed = ", ".join(f"python -m snnsim.{name}" for name in COMMANDS)
    if sys.argv[1:] and sys.argv[1] in ("-h", "--help"):  # asked for: an answer, not an error
        try:
            print(f"snnsim: the commands are {listed} (each has --help)", flush=True)
        except BrokenPipeError:  # the reader has gone (| head -0): the line is dropped, quietly
            from .cli import to_null  # loaded with the package already (python -m snnsim)

            to_null(sys.stdout)
        sys.exit(0)
    print(f"snnsim: error: give a command: {listed} (each has --help)", file=sys.stderr)
    sys.exit(2)
