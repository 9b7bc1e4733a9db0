"""Charts as inline SVG, drawn on the server: no JavaScript, no request anywhere.

Each function returns markup ready to place in a page. Shapes carry CSS
classes (coloured by the page's stylesheet, light or dark), never inline
styles, so the page's Content-Security-Policy can forbid them. Every chart is
`role="img"` with a text alternative that states the numbers it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from nexus.times import duration, local


def pct(value: float | None, digits: int = 0) -> str:
    """A share as a percentage for people: 0.4035 → "40 %"."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f} %"


def money_short(value: float) -> str:
    """$226,703 → "$227K"; small amounts stay whole dollars."""
    if abs(value) >= 1_000_000:
        return f"${value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"${value / 1000:.0f}K"
    if abs(value) >= 1000:
        return f"${value / 1000:.1f}K"
    return f"${value:.0f}"


def _n(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def _svg(width: int, height: int, label: str, body: list[str], cls: str) -> Markup:
    # Inline SVG in HTML needs no xmlns; every text in `body` went through escape().
    return Markup(  # noqa: S704
        f'<svg class="chart {cls}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


# -- an interval whisker against a threshold ----------------------------------------------


def whisker(
    rate: float,
    ci_low: float,
    ci_high: float,
    threshold: float | None,
    *,
    label: str = "rate",
    width: int = 340,
) -> Markup:
    """The rate as a dot, its 95 % interval as a whisker, the threshold as a dashed line.

    The region past the threshold is shaded: an alert is critical only when the
    whole whisker lies inside it.
    """
    height, left, right = 64, 12, 12
    span = width - left - right

    def x(v: float) -> float:
        return left + max(0.0, min(1.0, v)) * span

    y_mid, y_axis = 30.0, 44.0
    body: list[str] = []
    if threshold is not None:
        body.append(
            f'<rect class="zone-bad" x="{_n(x(threshold))}" y="16" '
            f'width="{_n(x(1) - x(threshold))}" height="28"/>'
        )
    body.append(f'<line class="axis" x1="{left}" y1="{y_axis}" x2="{left + span}" y2="{y_axis}"/>')
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = x(tick)
        body.append(f'<line class="tick" x1="{_n(tx)}" y1="{y_axis}" x2="{_n(tx)}" y2="48"/>')
        anchor = "start" if tick == 0 else "end" if tick == 1 else "middle"
        body.append(_text(tx, 60, pct(tick), "tick-label", anchor))
    if threshold is not None:
        tx = x(threshold)
        anchor = "start" if threshold < 0.6 else "end"
        dx = 4 if anchor == "start" else -4
        body.append(
            '<g class="threshold">'
            f'<line class="thr" x1="{_n(tx)}" y1="8" x2="{_n(tx)}" y2="{y_axis}"/>'
            + _text(tx + dx, 12, f"threshold {pct(threshold)}", "thr-label", anchor)
            + "</g>"
        )
    lo, hi = x(ci_low), x(ci_high)
    body.append(
        '<g class="ci">'
        f'<line class="whisker" x1="{_n(lo)}" y1="{y_mid}" x2="{_n(hi)}" y2="{y_mid}"/>'
        f'<line class="whisker" x1="{_n(lo)}" y1="{y_mid - 7}" x2="{_n(lo)}" y2="{y_mid + 7}"/>'
        f'<line class="whisker" x1="{_n(hi)}" y1="{y_mid - 7}" x2="{_n(hi)}" y2="{y_mid + 7}"/>'
        f'<circle class="dot" cx="{_n(x(rate))}" cy="{y_mid}" r="5"/>'
        "</g>"
    )
    text = f"{label}: {pct(rate)}, 95 % interval {pct(ci_low)} to {pct(ci_high)}"
    if threshold is not None:
        text += f", threshold {pct(threshold)}"
    return _svg(width, height, text, body, "whisker-chart")


def age_gauge(age_s: float | None, max_age_s: float, *, label: str, width: int = 340) -> Markup:
    """How old a product is against its limit: a bar, and the limit as a dashed line."""
    height, left, right = 48, 12, 12
    span = width - left - right
    top = max(float(age_s or 0), float(max_age_s)) * 1.1

    def x(v: float) -> float:
        return left + v / top * span

    body = [f'<line class="axis" x1="{left}" y1="32" x2="{left + span}" y2="32"/>']
    if age_s is not None:
        cls = "bar-bad" if age_s > max_age_s else "bar-good"
        body.append(
            f'<rect class="{cls}" x="{left}" y="16" width="{_n(x(age_s) - left)}" height="14"/>'
        )
    tx = x(max_age_s)
    body.append(f'<line class="thr" x1="{_n(tx)}" y1="8" x2="{_n(tx)}" y2="36"/>')
    anchor = "start" if tx < left + span * 0.6 else "end"
    dx = 4 if anchor == "start" else -4
    body.append(_text(tx + dx, 12, f"limit {duration(max_age_s)}", "thr-label", anchor))
    body.append(_text(left, 46, "0", "tick-label", "start"))
    body.append(_text(left + span, 46, duration(top), "tick-label", "end"))
    text = (
        f"{label}: {duration(age_s)} old, limit {duration(max_age_s)}"
        if age_s is not None
        else f"{label}: never measured, limit {duration(max_age_s)}"
    )
    return _svg(width, height, text, body, "age-chart")


# -- coverage by day -------------------------------------------------------------------------


@dataclass(frozen=True)
class DayBar:
    day: str  # YYYY-MM-DD
    completed: int
    with_total: int
    rate: float
    ci_low: float
    ci_high: float


def coverage_bars(days: Sequence[DayBar], expected: float | None = None) -> Markup:
    """Share of completed jobs with an invoice total per day, with each day's 95 % interval."""
    width, height = 720, 240
    left, right, top, bottom = 44, 12, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    ordered = sorted(days, key=lambda d: d.day)

    def y(v: float) -> float:
        return top + (1 - max(0.0, min(1.0, v))) * plot_h

    body: list[str] = []
    for tick in (0.0, 0.5, 1.0):
        body.append(
            f'<line class="grid" x1="{left}" y1="{_n(y(tick))}" '
            f'x2="{left + plot_w}" y2="{_n(y(tick))}"/>'
        )
        body.append(_text(left - 6, y(tick) + 4, pct(tick), "tick-label", "end"))
    if expected is not None:
        body.append(
            f'<line class="thr" x1="{left}" y1="{_n(y(expected))}" '
            f'x2="{left + plot_w}" y2="{_n(y(expected))}"/>'
        )
        body.append(
            _text(left + plot_w, y(expected) - 4, f"expected ≥ {pct(expected)}", "thr-label", "end")
        )
    if not ordered:
        body.append(_text(left + plot_w / 2, top + plot_h / 2, "no completed jobs", "tick-label"))
        return _svg(width, height, "Coverage by day: no completed jobs", body, "coverage-chart")
    slot = plot_w / len(ordered)
    bar_w = max(4.0, min(36.0, slot * 0.6))
    for i, d in enumerate(ordered):
        cx = left + slot * (i + 0.5)
        body.append(
            f'<rect class="bar" x="{_n(cx - bar_w / 2)}" y="{_n(y(d.rate))}" '
            f'width="{_n(bar_w)}" height="{_n(y(0) - y(d.rate))}">'
            f"<title>{escape(_day_text(d))}</title></rect>"
        )
        lo, hi = y(d.ci_low), y(d.ci_high)
        cap = min(8.0, bar_w / 2)
        body.append(
            f'<line class="interval" x1="{_n(cx)}" y1="{_n(lo)}" x2="{_n(cx)}" y2="{_n(hi)}"/>'
            f'<line class="interval" x1="{_n(cx - cap)}" y1="{_n(lo)}" '
            f'x2="{_n(cx + cap)}" y2="{_n(lo)}"/>'
            f'<line class="interval" x1="{_n(cx - cap)}" y1="{_n(hi)}" '
            f'x2="{_n(cx + cap)}" y2="{_n(hi)}"/>'
        )
        if len(ordered) <= 20 or i % 2 == 0:
            body.append(_text(cx, height - 28, d.day[5:], "tick-label"))
            body.append(_text(cx, height - 14, f"n={d.completed}", "tick-label small"))
    summary = "; ".join(_day_text(d) for d in ordered)
    return _svg(width, height, f"Invoice coverage by day: {summary}", body, "coverage-chart")


def _day_text(d: DayBar) -> str:
    return (
        f"{d.day}: {d.with_total} of {d.completed} with a total ({pct(d.rate)}, "
        f"95 % interval {pct(d.ci_low)}–{pct(d.ci_high)})"
    )


# -- weekly revenue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekBars:
    week: str
    mirror: float
    reference: float | None
    capture: float | None
    provisional: bool


def revenue_bars(weeks: Sequence[WeekBars], reference_name: str) -> Markup:
    """Mirror revenue beside reference revenue per week, with the capture ratio above."""
    width, height = 720, 260
    left, right, top, bottom = 56, 12, 40, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    ordered = sorted(weeks, key=lambda w: w.week)
    peak = max([w.mirror for w in ordered] + [w.reference or 0.0 for w in ordered] + [1.0])
    peak *= 1.1

    def y(v: float) -> float:
        return top + (1 - max(0.0, v) / peak) * plot_h

    body: list[str] = [
        f'<rect class="bar-mirror" x="{left}" y="8" width="12" height="12"/>',
        _text(left + 16, 18, "mirror", "legend", "start"),
        f'<rect class="bar-ref" x="{left + 80}" y="8" width="12" height="12"/>',
        _text(left + 96, 18, reference_name, "legend", "start"),
        _text(left + plot_w, 18, "% = capture (mirror ÷ reference)", "legend", "end"),
    ]
    for tick in (0.0, peak / 2, peak / 1.1):
        body.append(
            f'<line class="grid" x1="{left}" y1="{_n(y(tick))}" '
            f'x2="{left + plot_w}" y2="{_n(y(tick))}"/>'
        )
        body.append(_text(left - 6, y(tick) + 4, money_short(tick), "tick-label", "end"))
    if not ordered:
        body.append(_text(left + plot_w / 2, top + plot_h / 2, "no revenue yet", "tick-label"))
        return _svg(width, height, "Weekly revenue: none yet", body, "revenue-chart")
    slot = plot_w / len(ordered)
    bar_w = max(3.0, min(28.0, slot * 0.36))
    for i, w in enumerate(ordered):
        cx = left + slot * (i + 0.5)
        prov = " prov" if w.provisional else ""
        body.append(
            f'<rect class="bar-mirror{prov}" x="{_n(cx - bar_w)}" y="{_n(y(w.mirror))}" '
            f'width="{_n(bar_w)}" height="{_n(y(0) - y(w.mirror))}">'
            f"<title>{escape(w.week)} mirror {escape(money_short(w.mirror))}</title></rect>"
        )
        if w.reference is not None:
            body.append(
                f'<rect class="bar-ref{prov}" x="{_n(cx)}" y="{_n(y(w.reference))}" '
                f'width="{_n(bar_w)}" height="{_n(y(0) - y(w.reference))}">'
                f"<title>{escape(w.week)} {escape(reference_name)} "
                f"{escape(money_short(w.reference))}</title></rect>"
            )
        top_of = min(y(w.mirror), y(w.reference or 0.0))
        if w.capture is not None:
            cls = "capture-low" if w.capture < 0.9 else "capture"
            body.append(_text(cx, top_of - 6, pct(w.capture), cls))
        body.append(_text(cx, height - 26, w.week[5:], "tick-label"))
        if w.provisional:
            body.append(_text(cx, height - 12, "provisional", "tick-label small"))
    summary = "; ".join(
        f"{w.week}: mirror {money_short(w.mirror)}"
        + (f", {reference_name} {money_short(w.reference)}" if w.reference is not None else "")
        + (f", capture {pct(w.capture)}" if w.capture is not None else "")
        + (" (provisional)" if w.provisional else "")
        for w in ordered
    )
    return _svg(width, height, f"Weekly revenue: {summary}", body, "revenue-chart")


# -- freshness history ---------------------------------------------------------------------------


def freshness_history(
    successes: Sequence[datetime],
    start: datetime,
    now: datetime,
    max_age_s: float,
    *,
    label: str,
    zone: ZoneInfo,
    markers: Sequence[tuple[datetime, str]] = (),
) -> Markup:
    """Age of a product over time, from its owner's successful runs: a saw-tooth vs the limit.

    The time axis reads on the wall clock of `zone`, the tenant's, and names it.
    """
    width, height = 720, 200
    left, right, top, bottom = 56, 12, 16, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    total = max(1.0, (now - start).total_seconds())
    points: list[tuple[float, float]] = []
    ordered = sorted(t for t in successes if start <= t <= now)
    previous = ordered[0] if ordered else None
    # Before the first success in the window, the age is unknown: start the line there.
    for t in ordered[1:]:
        assert previous is not None
        points.append(((previous - start).total_seconds(), 0.0))
        points.append(((t - start).total_seconds(), (t - previous).total_seconds()))
        previous = t
    if previous is not None:
        points.append(((previous - start).total_seconds(), 0.0))
        points.append((total, (now - previous).total_seconds()))
    worst = max((a for _, a in points), default=0.0)
    ceiling = max(max_age_s * 2, min(worst, max_age_s * 8)) * 1.05

    def x(v: float) -> float:
        return left + v / total * plot_w

    def y(v: float) -> float:
        return top + (1 - min(v, ceiling) / ceiling) * plot_h

    body: list[str] = [
        f'<line class="axis" x1="{left}" y1="{_n(y(0))}" x2="{left + plot_w}" y2="{_n(y(0))}"/>',
        f'<line class="thr" x1="{left}" y1="{_n(y(max_age_s))}" '
        f'x2="{left + plot_w}" y2="{_n(y(max_age_s))}"/>',
        _text(left - 6, y(max_age_s) + 4, duration(max_age_s), "thr-label", "end"),
        _text(left - 6, y(0) + 4, "0", "tick-label", "end"),
        _text(
            left - 6,
            y(ceiling) + 8,
            duration(ceiling) + ("+" if worst > ceiling else ""),
            "tick-label",
            "end",
        ),
        _text(left, height - 8, local(start, zone), "tick-label", "start"),
        _text(left + plot_w, height - 8, local(now, zone), "tick-label", "end"),
    ]
    for when, text in markers:
        if start <= when <= now:
            mx = x((when - start).total_seconds())
            body.append(
                f'<line class="marker" x1="{_n(mx)}" y1="{top}" x2="{_n(mx)}" y2="{_n(y(0))}">'
                f"<title>{escape(text)}</title></line>"
            )
    if points:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{_n(x(px))},{_n(y(py))}" for i, (px, py) in enumerate(points)
        )
        body.append(f'<path class="age-line" d="{path}"/>')
    else:
        body.append(
            _text(left + plot_w / 2, top + plot_h / 2, "no successful run in this window", "legend")
        )
    text = (
        f"{label}: age over time against the limit of {duration(max_age_s)}; "
        f"{len(ordered)} successful run(s) in the window, oldest age reached {duration(worst)}"
    )
    return _svg(width, height, text, body, "freshness-chart")
