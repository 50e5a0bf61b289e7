import pytest
from hypothesis import given
from hypothesis import strategies as st

from snnsim.units import format_duration, parse_duration


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("2ms", 0.002),
        ("0.002s", 0.002),
        ("2000us", 0.002),
        ("20 ms", 0.02),
        ("1e-3s", 0.001),
        ("2µs", 2e-6),
        (".5ms", 0.0005),
    ],
)
def test_parse_duration_examples(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("text", ["2", "ms", "2 m", "-2ms", "0ms", "2msec", "two ms", "", "nanms", "2ms3", 10**400])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.floats(min_value=1e-6, max_value=1e3, allow_nan=False))
def test_format_parse_round_trip(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-5)
