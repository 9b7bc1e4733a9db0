"""Durations as people write them in configuration: "90s", "15m", "1h", "7d", "1h30m".

`parse_duration` accepts a number and a unit, or several of them in a row
("1d12h", "1h 30m"), with short or long unit names; `format_duration` writes
the canonical short form, so `parse_duration(format_duration(d)) == d` for any
whole number of seconds.
"""

from __future__ import annotations

import re
from datetime import timedelta

UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
# Weeks are read but not written: "28d" and "30d" read better side by side than "4w" and "30d".
_WRITTEN = ("d", "h", "m", "s")

_ALIASES: dict[str, str] = {
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "w": "w",
    "week": "w",
    "weeks": "w",
}

_PART = re.compile(r"\s*(\d+)\s*([a-zA-Z]+)\s*")

EXAMPLES = '"90s", "15m", "1h" or "7d"'


class DurationError(ValueError):
    """The text is not a duration; the message says what to write instead."""


def parse_duration(text: str) -> timedelta:
    """Turn "15m", "1h30m" or "7 days" into a timedelta, or raise DurationError."""
    seconds = 0
    pos = 0
    if not text.strip():
        raise DurationError(f"'{text}' is not a duration — write a number and a unit: {EXAMPLES}")
    while pos < len(text):
        match = _PART.match(text, pos)
        unit = _ALIASES.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            raise DurationError(
                f"'{text}' is not a duration — write a number and a unit: {EXAMPLES}"
            )
        seconds += int(match.group(1)) * UNITS[unit]
        pos = match.end()
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Write `value` in the canonical short form ("1h30m"); whole seconds only."""
    if value.microseconds:
        raise ValueError(f"{value} has a fraction of a second; durations are whole seconds")
    total = int(value.total_seconds())
    if total < 0:
        raise ValueError(f"{value} is negative; durations are zero or more")
    if total == 0:
        return "0s"
    parts = []
    for unit in _WRITTEN:
        count, total = divmod(total, UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
