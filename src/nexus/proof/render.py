"""Render the Evolution Proof for the terminal with Rich.

Every piece of text goes in as a `Text`, never as markup, so labels, evidence
and names print exactly as written whatever console they are given. Times read
as people read them: how long before the proof's moment, and the wall clock of
the tenant's zone ("12 min ago (Apr 17, 21:42 CDT)"); `--json` keeps the exact
ISO instants.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from nexus import times
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


def _status(status: str) -> Text:
    return Text(status, style=COLOURS.get(status, "white"))


def _add_row(table: Table, *cells: RenderableType) -> None:
    """Add a row whose plain strings are text, not markup."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def render(proof: Proof, console: Console) -> None:
    verdict = proof.verdict
    zone = ZoneInfo(proof.timezone)

    def when(at: datetime | None, missing: str = "never") -> str:
        return times.readable(at, proof.as_of, zone, missing)

    story = Text("\n".join(f"• {line}" for line in proof.story) or "• (no story)")
    console.print(
        Panel(
            story,
            title=Text.assemble(
                f"Evolution Proof — tenant {proof.tenant} — ",
                (verdict.upper(), COLOURS[verdict]),
            ),
            subtitle=Text(f"as of {times.local(proof.as_of, zone)} ({proof.timezone})"),
        )
    )
    if proof.actions:
        actions = Table(title="Next actions", show_lines=False)
        for col in ("#", "do", "command", "impact", "effort", "risk"):
            actions.add_column(col)
        for i, a in enumerate(proof.actions, 1):
            _add_row(
                actions, str(i), a.do, Text(a.command, style="bold"), a.impact, a.effort, a.risk
            )
        console.print(actions)
    console.print(_vitals(proof, when))
    if proof.alerts:
        console.print(_alerts(proof))
    if proof.orphans:
        orphans = Table(title="Orphaned products (no live owner)")
        for col in ("product", "last producer", "since", "why"):
            orphans.add_column(col)
        for o in proof.orphans:
            _add_row(orphans, o.product, o.last_producer, when(o.since, "unknown"), o.why)
        console.print(orphans)
    console.print(_coverage(proof))
    console.print(_revenue(proof))


def _vitals(proof: Proof, when: Callable[[datetime | None], str]) -> Table:
    table = Table(title="Vitals (from the run ledger)")
    for col in ("producer", "status", "last success", "every", "products"):
        table.add_column(col)
    for v in proof.vitals:
        _add_row(
            table,
            v.producer,
            _status(v.status),
            when(v.last_success),
            times.duration(v.every_s),
            ", ".join(v.products),
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
        _add_row(
            table,
            Text.assemble(_status(a.status), grouped),
            a.label,
            measured,
            whisker,
            f"{cause.kind} {cause.producer or ''}".strip(),
            f"db fresh: {q.db_fresh}\nsample ok: {q.sample_sufficient}\n"
            f"label is cause: {q.label_names_cause}",
        )
    return table


def _coverage(proof: Proof) -> Table:
    table = Table(title="Invoice coverage by day (completed chargeable jobs with a total)")
    for col in ("day", "completed", "with $", "coverage", "95 % interval"):
        table.add_column(col)
    for d in proof.coverage_by_day:
        _add_row(
            table,
            d.day.isoformat(),
            str(d.completed),
            str(d.with_total),
            _pct(d.rate),
            interval_bar(d.rate, d.ci_low, d.ci_high, width=20),
        )
    return table


def _revenue(proof: Proof) -> Table:
    ref = proof.revenue.reference or "no reference"
    table = Table(title=Text(f"Weekly revenue: mirror vs {ref}"))
    for col in ("week", "mirror", "reference", "capture", ""):
        table.add_column(col)
    for w in proof.revenue.weeks:
        _add_row(
            table,
            w.week,
            f"${w.mirror:,.0f}",
            "—" if w.reference is None else f"${w.reference:,.0f}",
            _pct(w.capture),
            "provisional" if w.provisional else "",
        )
    return table
