"""A command stopped by a signal inside its atomic write (the tests of export, predict and sweep merge), or held
in its first checkpoint's write (the tests of run and sweep run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def signal_in_write(module: str, argv: list[str], temporaries: str, folder: Path, sig: int) -> tuple[int, str]:
    """Run ``module``'s ``main(argv)`` in its own process, hold it in the write (``os.fsync``
    sleeps), check that its temporary (``folder.glob(temporaries)``) is there, send ``sig``;
    returns the exit code and stderr."""
    code = (
        f"import os, sys, time\nfrom {module} import main\n"
        "os.fsync = lambda fd: (print('writing', flush=True), time.sleep(60))\n"
        f"sys.exit(main({argv!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)  # fmt: skip
    assert proc.stdout.readline().strip() == "writing"
    assert list(folder.glob(temporaries)), "the signal should hit the write"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def held_in_checkpoint_write(module: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """``module``'s ``main(argv)`` in a process of its own, held (60 s) in its first checkpoint's
    write once it has printed "writing": its temporary is there, and its writer alive."""
    code = (
        "import os, sys, time\n"
        "real = os.replace\n"
        "def held(src, dst):\n"
        "    if '.ckpt' in str(dst):\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(60)\n"
        "    real(src, dst)\n"
        "os.replace = held\n"
        f"from {module} import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)  # fmt: skip
    assert proc.stdout.readline().strip() == "writing"
    return proc


def signal_once_written(module: str, argv: list[str], target: Path, sig: int) -> tuple[int, str]:
    """Run ``module``'s ``main(argv)`` in its own process, hold it in the last step of its write
    (the folder's ``os.fsync``, once ``target`` is in place), send ``sig``; returns the exit code
    and stderr."""
    code = (
        f"import os, sys, time\nfrom {module} import main\n"
        "real = os.fsync\n"
        f"os.fsync = lambda fd: (print('written', flush=True), time.sleep(60)) if os.path.exists({str(target)!r}) "
        "else real(fd)\n"
        f"sys.exit(main({argv!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)  # fmt: skip
    assert proc.stdout.readline().strip() == "written"
    assert target.is_file(), "the signal should come once the file is in place"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err
