"""Parse and format physical quantities given as strings at the edges (CLI, experiment files).

Inside snnsim every duration is in seconds (float).
"""

from __future__ import annotations

import decimal
import re
import sys

#: Each unit as a power of ten of a second.
_DURATION_UNITS = {"s": 0, "ms": -3, "us": -6, "\u00b5s": -6, "\u03bcs": -6}  # micro sign and Greek mu
#: Shifts a decimal number's exponent without rounding it (and without raising past float's range).
_EXACT = decimal.Context(prec=100, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[])
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION_RE = re.compile(rf"^\s*({_NUMBER})\s*({'|'.join(_DURATION_UNITS)})\s*$")
#: The longest duration, in seconds: one whose value in ms (labels, file names, plots) is finite.
MAX_DURATION = sys.float_info.max / 1e3


def parse_duration(text: str | float | int) -> float:
    """Return a positive duration in seconds from ``"2ms"``, ``"0.002s"``, ``"2000us"``.

    Numbers without a unit are rejected (is ``2`` seconds or milliseconds?), except when given
    as a Python number, which is taken as seconds.

    Raises:
        ValueError: malformed text, unknown unit, or a value that is not strictly positive, or
            past :data:`MAX_DURATION` (its milliseconds would be infinite).
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a duration such as 2ms, got {text!r}")
    if isinstance(text, (int, float)):
        try:
            value = float(text)
        except OverflowError:  # an integer past float's range
            raise ValueError(f"duration must be finite, got an integer of {len(str(abs(text)))} digits") from None
    else:
        match = _DURATION_RE.match(str(text))
        if match is None:
            raise ValueError(f"expected a duration with a unit (s, ms, us), e.g. 2ms, 0.002s or 2000us; got {text!r}")
        value = _seconds(match.group(1), _DURATION_UNITS[match.group(2)])
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"duration must be positive and finite, got {text!r}")
    if value > MAX_DURATION:  # 1e308 s is inf ms: a run labelled "tau=infms"
        raise ValueError(f"duration must be at most {MAX_DURATION:g} s (finite in ms), got {text!r}")
    return value


def _seconds(number: str, power: int) -> float:
    """The float nearest to the decimal ``number`` x 10**``power`` s, whichever unit spells it:
    ``"9ms"``, ``"0.009s"`` and ``"9000us"`` are all 0.009 (``9 * 1e-3`` is 0.009000000000000001)."""
    try:
        return float(decimal.Decimal(number).scaleb(power, _EXACT))
    except ArithmeticError:  # an exponent past Decimal's range: inf or 0, refused by the caller
        return float(number) * 10.0**power


def format_duration(seconds: float) -> str:
    """Format seconds with the largest unit that gives a value >= 1: ``0.002 -> "2ms"``; 0 -> ``"0"``
    (an option that takes a duration or 0 for off)."""
    if seconds == 0:
        return "0"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        text = f"{seconds / scale:.6g}"
        if float(text) >= 1 or unit == "us":  # after rounding: 0.9999999 s is 1s, not 1000ms
            return f"{text}{unit}"
    raise AssertionError("unreachable")
