"""Render the Evolution Proof for the terminal with Rich."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from nexus.proof.model import Proof

COLOURS = {
    "ok": "green",
    "alive": "green",
    "info": "cyan",
    "insufficient_data": "cyan",
    "warning": "yellow",
    "late": "yellow",
    "never_ran": "yellow",
    "critical": "bold red",
    "failing": "red",
    "retired": "magenta",
}
BAR = 30


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def interval_bar(rate: float, low: float, high: float, width: int = BAR) -> Text:
    """A text whisker: ─ for the 95 % interval, ● for the rate, on a 0–100 % scale."""
    cells = [" "] * width
    lo, hi = round(low * (width - 1)), round(high * (width - 1))
    for i in range(lo, hi + 1):
        cells[i] = "─"
    cells[lo], cells[hi] = "├", "┤"
    cells[round(rate * (width - 1))] = "●"
    return Text("".join(cells), style="cyan")


def _time(at: datetime | None) -> str:
    return "never" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"


def render(proof: Proof, console: Console) -> None:
    verdict = proof.verdict
    story = Text("\n".join(f"• {line}" for line in proof.story) or "• (no story)")
    console.print(
        Panel(
            story,
            title=f"Evolution Proof — tenant {proof.tenant} — "
            f"[{COLOURS[verdict]}]{verdict.upper()}[/]",
            subtitle=f"as of {_time(proof.as_of)}",
        )
    )
    if proof.actions:
        actions = Table(title="Next actions", show_lines=False)
        for col in ("#", "do", "command", "impact", "effort", "risk"):
            actions.add_column(col)
        for i, a in enumerate(proof.actions, 1):
            actions.add_row(
                str(i), Text(a.do), Text(a.command, style="bold"), a.impact, a.effort, a.risk
            )
        console.print(actions)
    console.print(_vitals(proof))
    if proof.alerts:
        console.print(_alerts(proof))
    if proof.orphans:
        orphans = Table(title="Orphaned products (no live owner)")
        for col in ("product", "last producer", "since", "why"):
            orphans.add_column(col)
        for o in proof.orphans:
            orphans.add_row(o.product, o.last_producer, _time(o.since), o.why)
        console.print(orphans)
    console.print(_coverage(proof))
    console.print(_revenue(proof))


def _vitals(proof: Proof) -> Table:
    table = Table(title="Vitals (from the run ledger)")
    for col in ("producer", "status", "last success", "every", "products"):
        table.add_column(col)
    for v in proof.vitals:
        table.add_row(
            v.producer,
            f"[{COLOURS.get(v.status, 'white')}]{v.status}[/]",
            _time(v.last_success),
            f"{v.every_s // 60} min",
            escape(", ".join(v.products)),
        )
    return table


def _alerts(proof: Proof) -> Table:
    table = Table(title="Alerts (labels name measurements; causes are separate)")
    for col in ("severity", "label", "measured", "95 % interval", "probable cause", "questions"):
        table.add_column(col)
    for a in proof.alerts:
        m = a.measurement
        measured = (
            f"{m.k}/{m.n} = {_pct(m.rate)}" if m.k is not None and m.n is not None else m.counts
        )
        whisker: Any = ""
        if m.has_interval:
            assert m.rate is not None and m.ci_low is not None and m.ci_high is not None
            whisker = Group(
                interval_bar(m.rate, m.ci_low, m.ci_high),
                Text(f"{_pct(m.ci_low)}–{_pct(m.ci_high)} vs {_pct(a.threshold)}"),
            )
        cause = a.probable_cause
        q = a.questions
        grouped = " (grouped)" if a.grouped_under is not None else ""
        table.add_row(
            f"[{COLOURS.get(a.status, 'white')}]{a.status}[/]{grouped}",
            Text(a.label),
            Text(measured),
            whisker,
            Text(f"{cause.kind} {cause.producer or ''}".strip()),
            f"db fresh: {q.db_fresh}\nsample ok: {q.sample_sufficient}\n"
            f"label is cause: {q.label_names_cause}",
        )
    return table


def _coverage(proof: Proof) -> Table:
    table = Table(title="Invoice coverage by day (completed chargeable jobs with a total)")
    for col in ("day", "completed", "with $", "coverage", "95 % interval"):
        table.add_column(col)
    for d in proof.coverage_by_day:
        table.add_row(
            d.day.isoformat(),
            str(d.completed),
            str(d.with_total),
            _pct(d.rate),
            interval_bar(d.rate, d.ci_low, d.ci_high, width=20),
        )
    return table


def _revenue(proof: Proof) -> Table:
    ref = proof.revenue.reference or "no reference"
    table = Table(title=f"Weekly revenue: mirror vs {escape(ref)}")
    for col in ("week", "mirror", "reference", "capture", ""):
        table.add_column(col)
    for w in proof.revenue.weeks:
        table.add_row(
            w.week,
            f"${w.mirror:,.0f}",
            "—" if w.reference is None else f"${w.reference:,.0f}",
            _pct(w.capture),
            "provisional" if w.provisional else "",
        )
    return table
