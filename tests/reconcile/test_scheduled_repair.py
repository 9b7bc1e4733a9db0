"""The scheduled reconcile heals the mirror: what the export lost is loaded, and recorded.

The reconcile producer runs as the worker and the replay run it (through
`PRODUCER_KINDS`), against a simulated tenant whose export lost a quarter of
invoice changes and a tenth of job changes, with the write guard on at its
tightest. `[reconcile] repair = false` keeps it reporting only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mirror_check import mirror, truth
from nexus.clock import VirtualClock
from nexus.errors import WriteRefused
from nexus.mirror import sync_all
from nexus.registry.config import Config, parse_config
from nexus.servicetitan import ServiceTitanClient
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.store.guard import set_guard_limit
from nexus.sync.feed_sync import Syncer
from nexus.sync.producer_kinds import PRODUCER_KINDS, ProducerRun
from stsim import TENANT, client_for

FEEDS = ("jobs", "invoices")


def config(repair: bool) -> Config:
    return parse_config(
        f'[mirror]\nfeeds = ["jobs", "invoices"]\n\n[reconcile]\nrepair = {str(repair).lower()}\n'
    )


def scheduled_reconcile(
    db: Database, client: ServiceTitanClient, clock: VirtualClock, config: Config
) -> None:
    """Run the reconcile producer the way the worker and the replay do."""
    with Syncer(db, client, TENANT, clock) as syncer:
        run = ProducerRun(
            TENANT,
            "reconcile",
            config.producers["reconcile"],
            db,
            clock,
            syncer=lambda: contextlib.nullcontext(syncer),
            mirrored=config.enabled_feeds,
            reconcile=config.reconcile,
        )
        PRODUCER_KINDS[config.producers["reconcile"].kind](run)


def lossy_mirror(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock, config: Config
) -> Simulator:
    """Three weeks of business mirrored while the export loses changes, then an unsynced hour."""
    sim = make_sim(seed=21, history_days=21)
    sim.tenant(TENANT).faults.drop_export_share({"invoices": 0.25, "jobs": 0.1})
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock, config=config)
        for _ in range(4):
            sim.advance(timedelta(hours=6))
            sync_all(db, client, TENANT, clock, config=config)
    # Business goes on with no sync: these changes are the feed's to bring, not lost.
    sim.advance(timedelta(hours=1))
    return sim


def differing(db: Database, sim: Simulator, feed: str) -> set[int]:
    expected, got = truth(sim, feed), mirror(db, feed)
    return {int(i) for i in expected.keys() | got.keys() if got.get(i) != expected.get(i)}


def older(sim: Simulator, feed: str, ids: set[int], horizon: datetime) -> set[int]:
    """Those of `ids` whose latest change in ServiceTitan is older than `horizon`."""
    records = truth(sim, feed)
    return {i for i in ids if datetime.fromisoformat(records[i]["modifiedOn"]) <= horizon}


def latest_reconciliation(db: Database) -> tuple[int, int, bool, dict[str, Any]]:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT id, run_id, repair, feeds FROM nexus.reconciliations ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def query(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(sql, params).fetchall()


def test_the_scheduled_reconcile_loads_what_the_export_lost_and_records_the_repair(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    heal = config(repair=True)
    sim = lossy_mirror(db, make_sim, clock, heal)
    before = {feed: differing(db, sim, feed) for feed in FEEDS}
    assert len(before["invoices"]) > 20 and len(before["jobs"]) > 2
    # The guard at its tightest: outside a sync run, two new jobs in one statement are refused.
    set_guard_limit(db, 1)
    with pytest.raises(WriteRefused, match="write guard"), db.connect() as conn:
        conn.execute(
            "INSERT INTO titan.jobs (tenant_id, id, job_status, created_on, modified_on, raw,"
            " created_at, updated_at)"
            " SELECT %s, -g, 'Completed', now(), now(), '{}', now(), now()"
            " FROM generate_series(1, 2) g",
            (TENANT,),
        )

    with sim.serve() as server, client_for(server) as client:
        scheduled_reconcile(db, client, clock, heal)

    reconciliation, run_id, repair, feeds = latest_reconciliation(db)
    assert repair is True
    repaired: dict[str, int] = {}
    for feed in FEEDS:
        counts = feeds[feed]
        horizon = datetime.fromisoformat(counts["horizon"])
        lost = older(sim, feed, before[feed], horizon)
        # Every lost change was found and loaded; the newer ones are left to the feed.
        assert counts["missing_in_mirror"] + counts["field_mismatch"] == len(lost) > 0
        assert counts["repaired"] == len(lost) and counts["unrepaired"] == 0
        assert counts["timing_only"] == len(before[feed] - lost) > 0
        assert differing(db, sim, feed) == before[feed] - lost
        assert older(sim, feed, differing(db, sim, feed), horizon) == set()
        repaired[feed] = len(lost)
    # The jobs the export never delivered arrived in one statement, past the guard, as a
    # sync run; the invoices' totals were derived onto their jobs in the same load.
    tenant = sim.tenant(TENANT)
    invoices = truth(sim, "invoices")
    waiting = {invoices[i]["job"]["id"] for i in differing(db, sim, "invoices")}
    totals = dict(
        query(db, "SELECT id, invoice_total FROM titan.jobs WHERE tenant_id = %s", TENANT)
    )
    settled = set(totals) - waiting - differing(db, sim, "jobs")
    assert len(settled) > 100
    assert all(totals[j] == tenant.job_invoice_total(j) for j in settled)

    # Recorded: the run, its reconciliation, each record it loaded, the timeline event.
    assert query(db, "SELECT status, rows_changed FROM nexus.runs WHERE id = %s", run_id) == [
        ("succeeded", sum(repaired.values()))
    ]
    losses = query(
        db,
        "SELECT feed, count(*), bool_and(repaired) FROM nexus.reconcile_losses"
        " WHERE reconciliation_id = %s GROUP BY feed ORDER BY feed",
        reconciliation,
    )
    assert losses == [("invoices", repaired["invoices"], True), ("jobs", repaired["jobs"], True)]
    events = query(db, "SELECT kind, actor, producer, detail FROM nexus.events")
    assert [(e[0], e[1], e[2]) for e in events] == [("reconcile_repaired", "nexus", "reconcile")]
    assert events[0][3]["run_id"] == run_id
    assert events[0][3]["reconciliation_id"] == reconciliation
    assert events[0][3]["repaired"] == repaired

    # Once the export recovers, the feeds bring the rest and the mirror is ServiceTitan's.
    tenant.faults.clear()
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock, config=heal)
    assert all(differing(db, sim, feed) == set() for feed in FEEDS)


def test_with_repair_false_it_reports_and_leaves_the_mirror_alone(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    report_only = config(repair=False)
    sim = lossy_mirror(db, make_sim, clock, report_only)
    before = {feed: differing(db, sim, feed) for feed in FEEDS}
    with sim.serve() as server, client_for(server) as client:
        scheduled_reconcile(db, client, clock, report_only)

    reconciliation, _, repair, feeds = latest_reconciliation(db)
    assert repair is False
    for feed in FEEDS:
        lost = older(sim, feed, before[feed], datetime.fromisoformat(feeds[feed]["horizon"]))
        assert feeds[feed]["missing_in_mirror"] + feeds[feed]["field_mismatch"] == len(lost) > 0
        assert feeds[feed]["repaired"] == 0
        assert differing(db, sim, feed) == before[feed]
    losses = query(
        db,
        "SELECT feed, count(*), bool_or(repaired) FROM nexus.reconcile_losses"
        " WHERE reconciliation_id = %s GROUP BY feed ORDER BY feed",
        reconciliation,
    )
    assert [(f, n > 0, any_repaired) for f, n, any_repaired in losses] == [
        ("invoices", True, False),
        ("jobs", True, False),
    ]
    assert query(db, "SELECT kind FROM nexus.events") == []
