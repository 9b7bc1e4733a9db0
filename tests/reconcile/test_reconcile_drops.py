"""Reconcile against a ServiceTitan whose export feeds lose changes: every loss is found and fixed.

The simulator hides a share of invoice and job changes from the export feeds
while the list endpoints show them (`drop_export_share`), as a cursor that
misses updates would. The mirror is built the normal way — a backfill and
then a sync every few hours — and compared with the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mirror_check import FIRST_FEEDS, assert_mirror_equals_truth, invoice_totals, mirror, truth
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.reconcile import CLASSES, run_reconcile
from stsim import START, TENANT, client_for


def lossy_mirror(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock, seed: int = 5
) -> Simulator:
    """A month of business mirrored with 30 % of invoice and 10 % of job changes lost."""
    sim = make_sim(seed=seed, history_days=30)
    sim.tenant(TENANT).faults.drop_export_share({"invoices": 0.3, "jobs": 0.1})
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        for _ in range(8):  # a sync every 9 hours for three days
            sim.advance(timedelta(hours=9))
            sync_all(db, client, TENANT, clock)
    return sim


def differing(db: Database, sim: Simulator) -> dict[str, set[int]]:
    """Per feed, the ids whose mirror copy is not ServiceTitan's current record."""
    out = {}
    for feed in FIRST_FEEDS:
        expected, got = truth(sim, feed), mirror(db, feed)
        out[feed] = {i for i in expected.keys() | got.keys() if got.get(i) != expected.get(i)}
    return out


def query(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(sql, params).fetchall()


def test_reconcile_finds_every_lost_change_and_repair_makes_the_mirror_equal_the_truth(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = lossy_mirror(db, make_sim, clock)
    lost = differing(db, sim)
    assert len(lost["invoices"]) > 30 and len(lost["jobs"]) > 5
    tenant = sim.tenant(TENANT)
    wrong_before = {j for j, t in invoice_totals(db).items() if t != tenant.job_invoice_total(j)}
    assert wrong_before, "the lost invoice changes leave job totals wrong"

    with sim.serve() as server, client_for(server) as client:
        found = run_reconcile(db, client, TENANT, clock)
        for feed, ids in lost.items():
            report = found.feeds[feed]
            # Every lost change is reported, and nothing else is.
            assert report.differences == len(ids), feed
            assert report.missing_in_st == 0
            assert report.matching + report.differences == report.records
            assert set(report.examples.get("field_mismatch", [])) <= ids
            assert set(report.examples.get("missing_in_mirror", [])) <= ids
        invoices = found.feeds["invoices"]
        # A backfill never saw records whose latest change was lost; later syncs
        # saw an older version of others: both kinds are there.
        assert invoices.missing_in_mirror > 0 and invoices.field_mismatch > 0
        assert found.repaired == 0 and differing(db, sim) == lost  # a look changes nothing

        repaired = run_reconcile(db, client, TENANT, clock, repair=True)
        assert repaired.repaired == sum(len(ids) for ids in lost.values())
        assert all(f.unrepaired == 0 for f in repaired.feeds.values())
        assert_mirror_equals_truth(db, sim)  # every record, and every job's invoice_total

        again = run_reconcile(db, client, TENANT, clock)
        assert again.differences == 0
        # The feeds carry on normally over the repaired rows.
        sim.tenant(TENANT).faults.clear()
        sim.advance(timedelta(hours=6))
        sync_all(db, client, TENANT, clock)
    assert_mirror_equals_truth(db, sim)

    runs = query(
        db,
        "SELECT id, status, rows_read, rows_changed FROM nexus.runs"
        " WHERE producer = 'reconcile' ORDER BY id",
    )
    assert [r[1] for r in runs] == ["succeeded"] * 3
    assert runs[1][3] == repaired.repaired
    assert runs[1][2] == sum(f.records for f in repaired.feeds.values())
    events = query(db, "SELECT kind, producer, detail FROM nexus.events ORDER BY id")
    assert [(e[0], e[1]) for e in events] == [("reconcile_repaired", "reconcile")]
    assert events[0][2]["run_id"] == repaired.run_id
    assert events[0][2]["repaired"]["invoices"] == len(lost["invoices"])
    kept = query(db, "SELECT run_id, repaired, feeds FROM nexus.reconciliations ORDER BY id")
    assert [k[1] for k in kept] == [0, repaired.repaired, 0]
    assert kept[0][2]["invoices"]["missing_in_mirror"] == invoices.missing_in_mirror


def test_the_report_has_the_documented_shape(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = lossy_mirror(db, make_sim, clock, seed=6)
    with sim.serve() as server, client_for(server) as client:
        report = run_reconcile(db, client, TENANT, clock, feeds=["invoices"]).as_dict()
    assert list(report["feeds"]) == ["invoices"]
    invoices = report["feeds"]["invoices"]
    for key in (*CLASSES, "api_calls"):
        assert isinstance(invoices[key], int), key
    assert invoices["api_calls"] == 1
    assert report["repaired"] == 0


def test_changes_after_the_last_sync_are_timing_only_and_repair_still_brings_them(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=7, history_days=20)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        sim.advance(timedelta(hours=20))  # business goes on; no sync has run since
        pending = differing(db, sim)
        report = run_reconcile(db, client, TENANT, clock)
        for feed, ids in pending.items():
            f = report.feeds[feed]
            assert f.timing_only == len(ids), feed
            assert f.missing_in_mirror == f.field_mismatch == f.missing_in_st == 0
        assert report.feeds["invoices"].timing_only > 0
        run_reconcile(db, client, TENANT, clock, repair=True)
    assert_mirror_equals_truth(db, sim)


def test_a_window_compares_only_records_changed_since_its_start(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = lossy_mirror(db, make_sim, clock, seed=8)
    since = clock.now() - timedelta(days=7)
    invoices = truth(sim, "invoices")
    recent = {
        i for i, r in invoices.items() if r["modifiedOn"] >= since.strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    lost_recent = differing(db, sim)["invoices"] & recent
    with sim.serve() as server, client_for(server) as client:
        report = run_reconcile(db, client, TENANT, clock, feeds=["invoices"], since=since)
    f = report.feeds["invoices"]
    assert f.records == len(recent) < len(invoices)
    assert f.differences == len(lost_recent) > 0
    assert f.missing_in_st == 0  # older mirror rows are outside the window, not missing
    assert report.since == since


def test_rows_only_the_mirror_has_and_tampered_rows_are_reported(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=9, history_days=10)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        with db.connect() as conn:
            # A writer outside Nexus: one invented invoice, one total changed by hand.
            conn.execute(
                "INSERT INTO titan.invoices (tenant_id, id, created_on, modified_on, total,"
                " active, raw, created_at, updated_at)"
                " VALUES (%s, 42, now(), now(), 999, true, '{}', %s, %s)",
                (TENANT, clock.now(), clock.now()),
            )
            tampered = conn.execute(
                "UPDATE titan.invoices SET total = total + 100,"
                " raw = jsonb_set(raw, '{total}', to_jsonb('12345.00'::text))"
                " WHERE tenant_id = %s AND id = (SELECT min(id) FROM titan.invoices"
                " WHERE tenant_id = %s AND id > 42) RETURNING id",
                (TENANT, TENANT),
            ).fetchone()
        assert tampered is not None
        report = run_reconcile(db, client, TENANT, clock, feeds=["invoices"], repair=True)
    f = report.feeds["invoices"]
    assert (f.missing_in_st, f.field_mismatch, f.missing_in_mirror, f.timing_only) == (1, 1, 0, 0)
    assert f.examples == {"missing_in_st": [42], "field_mismatch": [tampered[0]]}
    assert f.repaired == 1  # the tampered row is ServiceTitan's again; the invented one stays
    assert mirror(db, "invoices")[tampered[0]] == truth(sim, "invoices")[tampered[0]]


@pytest.mark.parametrize("feeds", [["nonsense"], ["jobs", "bogus"]])
def test_an_unknown_feed_is_refused_before_anything_runs(db: Database, feeds: list[str]) -> None:
    with pytest.raises(ValueError, match="unknown feed"):
        run_reconcile(db, None, TENANT, VirtualClock(START), feeds=feeds)  # type: ignore[arg-type]
    assert query(db, "SELECT count(*) FROM nexus.runs") == [(0,)]


def test_reconcile_finds_and_repairs_payments_the_export_dropped(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    """A feed of the catalog beyond the first five: a quarter of payment changes never exported."""
    sim = make_sim(seed=8, history_days=30)
    sim.tenant(TENANT).faults.drop_export_share({"payments": 0.25})
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        sim.advance(timedelta(hours=6))
        sync_all(db, client, TENANT, clock)
        expected, got = truth(sim, "payments"), mirror(db, "payments")
        lost = {k for k in expected.keys() | got.keys() if got.get(k) != expected.get(k)}
        assert len(lost) > 5, "the export should have dropped payments"
        found = run_reconcile(db, client, TENANT, clock, ["payments"])
        report = found.feeds["payments"]
        assert report.differences == len(lost)
        assert report.missing_in_mirror > 0
        repaired = run_reconcile(db, client, TENANT, clock, ["payments"], repair=True)
        assert repaired.feeds["payments"].repaired == len(lost)
    assert mirror(db, "payments") == truth(sim, "payments")
