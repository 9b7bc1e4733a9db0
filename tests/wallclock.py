"""A moment as the proof's sentences must name it, worked out here from the instant and the zone.

Tests compare the product's words with this rather than with `nexus.times`,
so a sentence that slips back to UTC, or to another zone, fails.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def wall(at: datetime, zone: str) -> str:
    """ "Apr 11, 19:00 CDT": month, day, hour and minute in `zone`, and its abbreviation then."""
    there = at.astimezone(ZoneInfo(zone))
    return f"{there:%b %d, %H:%M} {there.tzname()}"


def exact(at: datetime, zone: str) -> str:
    """ "2026-04-17 21:42:07 CDT = 2026-04-18 02:42:07 UTC": to the second in `zone`, and in UTC."""
    there, utc = at.astimezone(ZoneInfo(zone)), at.astimezone(ZoneInfo("UTC"))
    return f"{there:%Y-%m-%d %H:%M:%S} {there.tzname()} = {utc:%Y-%m-%d %H:%M:%S} UTC"
