"""A command with its stderr on a terminal (a pseudo-terminal of 100 columns), as a user runs it:
for what a command shows only there (progress bars, ``disable=None``)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios


def on_a_terminal(cmd: list[str], timeout: float = 300, **popen) -> tuple[int, str, str]:  # noqa: ANN003
    """Run ``cmd`` with stdout piped and stderr on a terminal: its exit code, stdout and what the
    terminal showed."""
    screen, tty = pty.openpty()
    fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))  # 0 columns: tqdm draws nothing
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=tty, text=True, **popen)
    os.close(tty)
    shown = b""
    while True:
        try:
            chunk = os.read(screen, 4096)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(screen)
    with proc:  # closes the stdout pipe
        out = proc.stdout.read()
        return proc.wait(timeout=timeout), out, shown.decode()
