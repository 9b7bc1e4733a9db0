"""Times for people: how long ago, the tenant's wall clock, and the exact instant behind both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nexus.times import ago, exact, local, readable, when

NOW = datetime(2026, 4, 18, 2, 42, 7, 6519, tzinfo=UTC)
CHICAGO = ZoneInfo("America/Chicago")


@pytest.mark.parametrize(
    ("before", "said"),
    [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=12, seconds=40), "12 min ago"),
        (timedelta(hours=3, minutes=5), "3 h 5 min ago"),
        (timedelta(days=6, hours=2, minutes=42), "6 d 2 h ago"),
        (-timedelta(minutes=5), "in 5 min"),
    ],
)
def test_ago_says_how_long_before_now_in_words(before: timedelta, said: str) -> None:
    assert ago(NOW - before, NOW) == said


def test_local_is_the_tenants_wall_clock_with_its_zone_in_summer_and_winter() -> None:
    assert local(NOW, CHICAGO) == "Apr 17, 21:42 CDT"
    assert local(datetime(2026, 1, 15, 18, 5, tzinfo=UTC), CHICAGO) == "Jan 15, 12:05 CST"


@pytest.mark.parametrize(
    ("at", "said"),
    [
        # Spring forward: 02:00 CST is 03:00 CDT, so 01:59 is followed by 03:00.
        (datetime(2026, 3, 8, 7, 59, tzinfo=UTC), "Mar 08, 01:59 CST"),
        (datetime(2026, 3, 8, 8, 0, tzinfo=UTC), "Mar 08, 03:00 CDT"),
        # Fall back: 01:30 happens twice, told apart by the zone's abbreviation.
        (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "Nov 01, 01:30 CDT"),
        (datetime(2026, 11, 1, 7, 30, tzinfo=UTC), "Nov 01, 01:30 CST"),
    ],
)
def test_local_follows_the_tenants_clock_across_a_dst_change(at: datetime, said: str) -> None:
    assert local(at, CHICAGO) == said


def test_local_keeps_a_zone_offset_that_is_not_whole_hours() -> None:
    assert local(datetime(2026, 4, 12, 0, 0, tzinfo=UTC), ZoneInfo("Asia/Kolkata")) == (
        "Apr 12, 05:30 IST"
    )
    assert local(datetime(2026, 4, 11, 20, 45, tzinfo=UTC), ZoneInfo("Asia/Kolkata")) == (
        "Apr 12, 02:15 IST"
    )


def test_when_names_a_moment_in_a_sentence_or_says_it_is_unknown() -> None:
    retired = datetime(2026, 4, 12, 0, 0, tzinfo=UTC)
    assert when(retired, CHICAGO) == "Apr 11, 19:00 CDT"
    assert when(retired, ZoneInfo("UTC")) == "Apr 12, 00:00 UTC"
    assert when(None, CHICAGO) == "an unknown time"


def test_exact_keeps_the_second_and_the_utc_instant() -> None:
    assert exact(NOW, CHICAGO) == "2026-04-17 21:42:07 CDT = 2026-04-18 02:42:07 UTC"


def test_readable_puts_the_ago_first_and_says_never_for_nothing() -> None:
    assert readable(NOW - timedelta(minutes=12), NOW, CHICAGO) == "12 min ago (Apr 17, 21:30 CDT)"
    assert readable(None, NOW, CHICAGO) == "never"
    assert readable(None, NOW, CHICAGO, missing="unknown") == "unknown"
