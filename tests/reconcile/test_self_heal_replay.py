"""A month replayed with a quarter of invoice changes lost for three weeks: the mirror heals itself.

The shipped scenario `lost-invoice-changes` runs on the virtual clock with the
weekly reconcile at its default (repair = true), the jobs and invoices feeds
only and a sync every three hours to keep it short. Revenue is computed here,
from the mirror's tables and the simulator's truth, not read from the proof.
With `[reconcile] repair = false` the first week of the drop ends near 89 %.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus.replay import run_replay
from nexus.scenario import load_scenario
from nexus.store.database import Database
from nexus.sync.losses import feed_losses
from stsim import TENANT
from wallclock import wall

ROOT = Path(__file__).parents[2]
CONFIG = """\
[mirror]
feeds = ["jobs", "invoices"]

[producers.job_sync]
kind = "sync"
every = "3h"

[producers.invoice_sync]
kind = "sync"
every = "3h"

[producers.reconcile]
kind = "reconcile"
every = "7d"
"""


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def mirror_weeks(db: Database, timezone: str, only_repaired: bool = False) -> dict[str, Decimal]:
    """Invoice totals of completed jobs in the mirror, by the local week they were completed.

    `only_repaired`: of the invoices the mirror had no copy of until a reconcile loaded them.
    """
    repaired = (
        " AND EXISTS (SELECT FROM nexus.reconcile_losses l WHERE l.tenant_id = i.tenant_id"
        " AND l.feed = 'invoices' AND l.key = ARRAY[i.id] AND l.class = 'missing_in_mirror'"
        " AND l.repaired)"
    )
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT (j.completed_on AT TIME ZONE %s)::date, sum(i.total)"
            " FROM titan.jobs j JOIN titan.invoices i"
            " ON i.tenant_id = j.tenant_id AND i.job_id = j.id AND i.active"
            " WHERE j.tenant_id = %s AND j.active AND j.job_status = 'Completed'"
            + (repaired if only_repaired else "")
            + " GROUP BY 1",
            (timezone, TENANT),
        ).fetchall()
    weeks: dict[str, Decimal] = defaultdict(Decimal)
    for day, total in rows:
        weeks[iso_week(day)] += total
    return weeks


def truth_weeks(by_day: dict[date, Decimal]) -> dict[str, Decimal]:
    weeks: dict[str, Decimal] = defaultdict(Decimal)
    for day, revenue in by_day.items():
        weeks[iso_week(day)] += revenue
    return weeks


def settled(week: str, now: datetime, timezone: str, lag: timedelta = timedelta(days=7)) -> bool:
    """Whether a week ended at least `lag` before `now` (the revenue check's settlement lag)."""
    year, number = (int(part) for part in week.split("-W"))
    end = datetime.combine(
        date.fromisocalendar(year, number, 7) + timedelta(days=1),
        datetime.min.time(),
        ZoneInfo(timezone),
    )
    return end + lag <= now


@pytest.mark.slow
def test_a_month_with_lost_invoice_changes_ends_with_every_settled_week_captured(
    db: Database, tmp_path: Path
) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text(CONFIG)
    shipped = load_scenario(ROOT / "scenarios" / "lost-invoice-changes.yaml")
    scenario = dataclasses.replace(shipped, config=config)
    (drop,) = scenario.events
    ends = drop.at + timedelta(hours=drop.value["hours"])
    assert (drop.value["invoices"], ends - drop.at) == (0.25, timedelta(weeks=3))
    result = run_replay(scenario, db, step=timedelta(hours=3))
    assert result.simulator is not None and result.failed_runs == 0
    truth = truth_weeks(result.simulator.tenant(TENANT).revenue_by_day())

    got = mirror_weeks(db, scenario.timezone)
    weeks = [w for w in sorted(truth) if settled(w, scenario.until, scenario.timezone)]
    dropped = [w for w in weeks if iso_week(drop.at.date()) <= w <= iso_week(ends.date())]
    assert len(dropped) >= 3, weeks
    for week in weeks:
        assert got[week] >= Decimal("0.97") * truth[week], (week, got[week], truth[week])
    # The losses were real: without the invoices the mirror had no copy of until a
    # reconcile loaded them, the weeks of the drop would fall short.
    loaded = mirror_weeks(db, scenario.timezone, only_repaired=True)
    assert all(got[w] - loaded[w] < Decimal("0.97") * truth[w] for w in dropped), loaded

    # Each weekly reconcile of the drop found invoices lost and repaired them.
    with db.connect() as conn:
        (invoices,) = feed_losses(conn, TENANT, scenario.until, window=scenario.until - drop.at)
        runs = conn.execute(
            "SELECT count(*) FROM nexus.runs WHERE producer = 'reconcile' AND status = 'succeeded'"
        ).fetchone()
        events = conn.execute(
            "SELECT count(*) FROM nexus.events WHERE kind = 'reconcile_repaired'"
        ).fetchone()
    assert invoices.feed == "invoices" and invoices.repaired is True
    assert len(invoices.found_by) == 4 and invoices.repaired_by == invoices.found_by
    assert 0.1 < invoices.rate.rate < 0.5 and invoices.compared > 200
    assert runs == (5,) and events == (4,)

    # The proof keeps warning that the export loses changes, since the first reconcile that
    # found them, while every settled week's revenue capture stays whole.
    proof = result.proof.to_json()
    (warned,) = [a for a in proof["alerts"] if a["check"] == "feed_losses"]
    assert warned["severity"] == "warning" and proof["verdict"] == "warning", proof["story"]
    cause = warned["probable_cause"]
    assert (cause["kind"], cause["feed"], cause["producer"]) == (
        "feed_losing_changes",
        "invoices",
        "invoice_sync",
    )
    assert datetime.fromisoformat(cause["since"]) == invoices.since
    # Its evidence and the story name that first reconcile on the tenant's clock.
    first = wall(invoices.since, scenario.timezone)
    assert cause["evidence"].endswith(f"first found by reconcile on {first}"), cause["evidence"]
    story = proof["story"]
    assert any(
        f"The cause, since {first}: the invoices export loses changes — " in line for line in story
    )
    assert warned["measurement"]["n"] > 0 and warned["measurement"]["ci_low"] is not None
    captured = [w for w in proof["revenue"]["weeks"] if not w["provisional"] and w["reference"]]
    assert len(captured) >= 3
    assert all(w["capture"] >= 0.97 for w in captured), captured
    assert any("invoices export loses changes" in line for line in proof["story"])
