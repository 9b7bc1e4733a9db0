"""The SVG helpers: shapes stay inside their frame, numbers are stated, text is escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus.web import charts
from wallclock import wall

CHICAGO = ZoneInfo("America/Chicago")
unit = st.floats(min_value=0, max_value=1, allow_nan=False)


def coordinates(svg: str, name: str) -> list[float]:
    return [float(v) for v in re.findall(rf'\b{name}="(-?[\d.]+)"', svg)]


@given(unit, unit, unit, st.one_of(st.none(), unit))
def test_a_whisker_stays_in_its_frame_with_the_rate_inside_the_interval(
    a: float, b: float, c: float, threshold: float | None
) -> None:
    low, rate, high = sorted((a, b, c))
    svg = str(charts.whisker(rate, low, high, threshold, label="gap"))
    width = 340
    for name in ("x1", "x2", "cx", "x"):
        assert all(-1 <= v <= width + 1 for v in coordinates(svg, name)), svg
    whisker = [float(v) for v in re.findall(r'class="whisker" x1="([\d.]+)"', svg)]
    dot = coordinates(svg, "cx")[0]
    assert min(whisker) - 0.11 <= dot <= max(whisker) + 0.11
    assert f"95 % interval {charts.pct(low)} to {charts.pct(high)}" in svg
    assert ("threshold" in svg) is (threshold is not None)


def test_labels_are_escaped() -> None:
    svg = str(charts.whisker(0.5, 0.4, 0.6, 0.2, label='<script>alert("x")</script>'))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_charts_say_their_numbers_in_words() -> None:
    days = [charts.DayBar("2026-04-17", 10, 0, 0.0, 0.0, 0.278)]
    svg = str(charts.coverage_bars(days, 0.85))
    assert 'role="img"' in svg
    assert "2026-04-17: 0 of 10 with a total (0 %, 95 % interval 0 %–28 %)" in svg
    weeks = [charts.WeekBars("2026-W15", 13745.0, 226703.0, 0.061, False)]
    svg = str(charts.revenue_bars(weeks, "sales ledger"))
    assert "mirror $14K, sales ledger $227K, capture 6 %" in svg
    assert "capture-low" in svg


def test_empty_charts_say_so() -> None:
    assert "no completed jobs" in str(charts.coverage_bars([], None))
    assert "no revenue yet" in str(charts.revenue_bars([], "sales ledger"))
    now = datetime(2026, 4, 18, tzinfo=UTC)
    week = now - timedelta(days=7)
    empty = str(charts.freshness_history([], week, now, 3600, label="x", zone=CHICAGO))
    assert "no successful run in this window" in empty


def test_freshness_history_is_a_saw_tooth_against_the_limit() -> None:
    now = datetime(2026, 4, 18, tzinfo=UTC)
    start = now - timedelta(days=1)
    runs = [start + timedelta(minutes=15 * i) for i in range(40)]
    svg = str(charts.freshness_history(runs, start, now, 3600, label="titan.jobs", zone=CHICAGO))
    assert svg.count("L") >= 2 * 39
    assert "40 successful run(s)" in svg
    assert "oldest age reached 14 h" in svg


@pytest.mark.parametrize("zone", ["America/Chicago", "Asia/Kolkata", "UTC"])
def test_the_freshness_time_axis_reads_on_the_tenants_wall_clock(zone: str) -> None:
    now = datetime(2026, 4, 18, 1, 42, tzinfo=UTC)
    start = now - timedelta(days=7)
    svg = str(charts.freshness_history([now], start, now, 3600, label="x", zone=ZoneInfo(zone)))
    ticks = re.findall(r'<text[^>]*class="tick-label"[^>]*>([^<]*)</text>', svg)
    assert wall(start, zone) in ticks and wall(now, zone) in ticks


@given(st.integers(min_value=0, max_value=10**8))
def test_durations_read_naturally(seconds: int) -> None:
    text = charts.duration(seconds)
    assert re.fullmatch(r"\d+ (s|min|h|d)( \d+ (min|h))?", text), text
