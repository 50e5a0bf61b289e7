"""The shared command-line skeleton (``snnsim/cli.py``)."""

from __future__ import annotations

from snnsim.cli import guarded
from snnsim.errors import DataError


def test_an_error_quoting_multi_line_library_text_stays_one_line(capsys):
    def body() -> int:
        raise DataError("--data: x.pkl is not a readable pickle (Error: first line\n  second line\n)")

    assert guarded("snnsim.test", body) == DataError.exit_code
    err = capsys.readouterr().err
    assert err == "snnsim.test: error: --data: x.pkl is not a readable pickle (Error: first line second line )\n"
