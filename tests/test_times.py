"""Times for people: how long ago, the tenant's wall clock, and the exact instant behind both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nexus.times import ago, exact, local, readable

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


def test_exact_keeps_the_second_and_the_utc_instant() -> None:
    assert exact(NOW, CHICAGO) == "2026-04-17 21:42:07 CDT = 2026-04-18 02:42:07 UTC"


def test_readable_puts_the_ago_first_and_says_never_for_nothing() -> None:
    assert readable(NOW - timedelta(minutes=12), NOW, CHICAGO) == "12 min ago (Apr 17, 21:30 CDT)"
    assert readable(None, NOW, CHICAGO) == "never"
    assert readable(None, NOW, CHICAGO, missing="unknown") == "unknown"
