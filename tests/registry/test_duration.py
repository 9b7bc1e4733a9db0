"""Durations read as people write them and write back the same way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus.duration import DurationError, format_duration, parse_duration

whole_seconds = st.integers(min_value=0, max_value=10 * 365 * 86_400).map(
    lambda s: timedelta(seconds=s)
)
units = st.sampled_from(["s", "m", "h", "d", "w", "min", "hours", "days", "sec"])
written = st.lists(
    st.tuples(st.integers(0, 10_000), units, st.sampled_from(["", " "])), min_size=1, max_size=4
).map(lambda parts: "".join(f"{n}{sep}{unit}{sep}" for n, unit, sep in parts).strip())


@given(whole_seconds)
def test_format_then_parse_gives_the_same_duration(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@given(written)
def test_parse_then_format_is_canonical(text: str) -> None:
    canonical = format_duration(parse_duration(text))
    assert format_duration(parse_duration(canonical)) == canonical
    assert parse_duration(canonical) == parse_duration(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2 weeks", timedelta(days=14)),
    ],
)
def test_common_forms(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value


def test_the_written_form_keeps_days() -> None:
    assert [format_duration(timedelta(days=d)) for d in (7, 28, 30)] == ["7d", "28d", "30d"]
    assert format_duration(timedelta(seconds=90)) == "1m30s"


@pytest.mark.parametrize("text", ["", "15", "15x", "-5m", "1.5h", "m", "15m garbage"])
def test_not_a_duration(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert str(caught.value) == (
        f'\'{text}\' is not a duration — write a number and a unit: "90s", "15m", "1h" or "7d"'
    )
