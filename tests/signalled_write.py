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
    fsync = "lambda fd: (print('writing', flush=True), time.sleep(60))"
    return _signalled(module, argv, fsync, "writing", lambda: list(folder.glob(temporaries)), sig)


def _signalled(module: str, argv: list[str], fsync: str, said: str, check, sig: int) -> tuple[int, str]:  # noqa: ANN001
    """``module``'s ``main(argv)`` in its own process with ``os.fsync`` replaced by ``fsync`` (the
    code of a function that prints ``said`` and sleeps where the signal is to come); once it is
    said, ``check()`` must hold; then ``sig``: the exit code and stderr."""
    code = f"import os, sys, time\nfrom {module} import main\nreal = os.fsync\nos.fsync = {fsync}\nsys.exit(main({argv!r}))\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)  # fmt: skip
    assert proc.stdout.readline().strip() == said
    assert check(), f"the signal should come where {said!r} is said"
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
    fsync = (
        f"lambda fd: (print('written', flush=True), time.sleep(60)) if os.path.exists({str(target)!r}) else real(fd)"
    )
    return _signalled(module, argv, fsync, "written", target.is_file, sig)
