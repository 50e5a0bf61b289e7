import pytest
from hypothesis import given
from hypothesis import strategies as st

from snnsim.units import MAX_DURATION, format_duration, parse_duration


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("2ms", 0.002),
        ("0.002s", 0.002),
        ("2000us", 0.002),
        ("20 ms", 0.02),
        ("1e-3s", 0.001),
        ("2µs", 2e-6),
        ("2\u03bcs", 2e-6),  # Greek mu, as many keyboards type it, beside the micro sign
        (".5ms", 0.0005),
        ("+2ms", 0.002),  # an explicit sign
        ("2e+3us", 0.002),  # a signed exponent, as format_duration writes 1e+06s
        (" 2ms ", 0.002),  # spaces around it, as a TOML string or a shell variable may carry
    ],
)
def test_parse_duration_examples(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    "text",
    ["2", "ms", "2 m", "-2ms", "0ms", "2msec", "two ms", "", "nanms", "2ms3", "1e999s", 10**400, "1e308s", 1e308],
)
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_duration_too_long_for_milliseconds_is_refused():
    """``--tau 1e308s`` was taken: its value in ms (1e311) is past float's range, and the run's
    labels and result file called it ``infms``. The longest duration is the one whose ms are finite."""
    with pytest.raises(ValueError, match=r"^duration must be at most 1\.79769e\+305 s \(finite in ms\), got '1e308s'$"):
        parse_duration("1e308s")
    assert parse_duration("1e305s") == 1e305 and parse_duration(1e305) == 1e305
    assert parse_duration(MAX_DURATION) == MAX_DURATION  # "at most": the longest itself is taken


def test_a_long_duration_formatted_with_an_exponent_is_read_back():
    """``format_duration`` writes 1e6 s as ``1e+06s`` (six significant digits), which must parse."""
    assert format_duration(1e6) == "1e+06s" and parse_duration("1e+06s") == 1e6


@given(st.floats(min_value=1e-6, max_value=1e3, allow_nan=False))
def test_format_parse_round_trip(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-5)


@pytest.mark.parametrize("ms", ["9", "0.1", "0.9", "13", "50", "100", "2.6", "0.07"])
def test_every_unit_gives_the_same_seconds(ms):
    """``9ms`` was ``9 * 1e-3`` = 0.009000000000000001 and ``100000us`` 0.09999999999999999, so
    one duration spelt in two units made two configs (``--duration 100000us`` was refused for BMI
    as a change of the IPD-only default 0.1 s, where ``100ms`` was accepted). Each spelling is now
    the float nearest to the decimal value, that of the same number written in seconds."""
    nearest = float(f"{ms}e-3")
    assert parse_duration(f"{ms}ms") == parse_duration(f"{ms}e-3s") == parse_duration(f"{ms}e3us") == nearest


def test_a_default_spelt_in_another_unit_is_the_default():
    from snnsim.config import RunConfig

    assert RunConfig(study="bmi", model="linear", duration="100000us") == RunConfig(study="bmi", model="linear")
    assert RunConfig(tau="9ms").tau == RunConfig(tau="0.009s").tau == RunConfig(tau="9000us").tau == 0.009


@pytest.mark.parametrize(
    "seconds, text",
    [(0.002, "2ms"), (0.001, "1ms"), (1.0, "1s"), (2.5, "2.5s"), (0.1, "100ms"), (1e-6, "1us"), (5e-7, "0.5us"),
     (0.0123456789, "12.3457ms"), (0, "0"), (0.9999999, "1s"), (0.0009999999, "1ms"), (0.9999994, "999.999ms")],
)  # fmt: skip
def test_format_duration_golden(seconds, text):
    """The largest unit that gives a value >= 1 once rounded (us below 1 us), six significant
    digits; 0 is ``0`` (an option's "off"), as help texts and sweep labels show them
    (0.9999999 s showed as ``1000ms``)."""
    assert format_duration(seconds) == text
