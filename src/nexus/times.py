"""Times as people read them: "12 min ago", "Apr 17, 21:42 CDT" in the tenant's zone.

The terminal proof and the dashboard show a moment by how long ago it was and
by the wall clock of the tenant's zone, and every sentence the proof and its
notifications write names a moment the same way (`when`); the exact instant
stays available (the dashboard's hover title, and ISO 8601 in every JSON
document), so nothing is lost by rounding for people.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

#: The zone of moments no tenant owns, when nothing says otherwise; named in the text.
UTC = ZoneInfo("UTC")


def duration(seconds: float | None) -> str:
    """Seconds for people: 442620 → "5 d 2 h"; 5400 → "1 h 30 min"."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    minutes, _ = divmod(s, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def ago(at: datetime, now: datetime) -> str:
    """How long before `now` `at` was: "just now", "12 min ago", "2 d 3 h ago", "in 5 min"."""
    seconds = (now - at).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    text = duration(abs(seconds))
    return f"{text} ago" if seconds > 0 else f"in {text}"


def local(at: datetime, zone: ZoneInfo) -> str:
    """The wall clock in `zone`, with the zone's abbreviation: "Apr 17, 21:42 CDT"."""
    there = at.astimezone(zone)
    return there.strftime("%b %d, %H:%M ") + (there.tzname() or zone.key)


def when(at: datetime | None, zone: ZoneInfo) -> str:
    """A moment inside a sentence: `local`, or "an unknown time" when none was recorded."""
    return "an unknown time" if at is None else local(at, zone)


def exact(at: datetime, zone: ZoneInfo) -> str:
    """The exact instant, for a hover title: "2026-04-17 21:42:07 CDT = 2026-04-18 02:42:07 UTC"."""
    there = at.astimezone(zone)
    utc = at.astimezone(UTC)
    return f"{there:%Y-%m-%d %H:%M:%S} {there.tzname() or zone.key} = {utc:%Y-%m-%d %H:%M:%S} UTC"


def readable(at: datetime | None, now: datetime, zone: ZoneInfo, missing: str = "never") -> str:
    """How long ago, then the local wall clock: "12 min ago (Apr 17, 21:42 CDT)"."""
    if at is None:
        return missing
    return f"{ago(at, now)} ({local(at, zone)})"
