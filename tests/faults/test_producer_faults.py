"""Reconcile, diagnose and the cache export survive the database dropping or refusing them.

Each writes only at its end, in one transaction, so a lost connection costs a
rerun; the rerun happens by itself, and what it writes is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pgfault import Faults, FaultServer

from mirror_check import assert_feed_equals_truth, invoice_totals
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.servicetitan import ServiceTitanClient
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.store.patience import Patience
from nexus.sync.cache_export import export_jobs_cache
from nexus.sync.diagnose import diagnose_invoices
from nexus.sync.reconcile import run_reconcile
from stsim import TENANT

FEEDS = ("jobs", "invoices")


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim(seed=5, history_days=21, completed_jobs_per_day=15)


@pytest.fixture
def lossy(
    db: Database, sim: Simulator, client: ServiceTitanClient, clock: VirtualClock
) -> Simulator:
    """Three weeks mirrored while the export loses a share of the invoice and job changes."""
    sim.tenant(TENANT).faults.drop_export_share({"invoices": 0.3, "jobs": 0.1})
    sync_all(db, client, TENANT, clock, feeds=FEEDS)
    for _ in range(4):
        sim.advance(timedelta(hours=9))
        sync_all(db, client, TENANT, clock, feeds=FEEDS)
    return sim


def query(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.connect(autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def runs_of(db: Database, producer: str) -> list[tuple[str, str | None]]:
    return [
        (status, kind)
        for status, kind in query(
            db,
            "SELECT status, error_kind FROM nexus.runs WHERE producer = %s ORDER BY id",
            producer,
        )
    ]


def test_reconcile_terminated_mid_repair_runs_again_and_repairs_once(
    db: Database,
    faults: Faults,
    lossy: Simulator,
    client: ServiceTitanClient,
    clock: VirtualClock,
) -> None:
    tenant = lossy.tenant(TENANT)
    wrong = {j for j, t in invoice_totals(db).items() if t != tenant.job_invoice_total(j)}
    assert wrong, "the lost changes leave job totals wrong"
    # The repair's first load into titan.jobs ends its own session as it begins.
    faults.arm("titan.jobs", "terminate")
    report = run_reconcile(db, client, TENANT, clock, FEEDS, repair=True)
    assert faults.fired()
    assert report.repaired > 0
    for feed in FEEDS:
        assert_feed_equals_truth(db, lossy, feed)
    assert all(t == tenant.job_invoice_total(j) for j, t in invoice_totals(db).items())
    assert runs_of(db, "reconcile") == [("failed", "database"), ("succeeded", None)]
    assert query(db, "SELECT count(*) FROM nexus.reconciliations") == [(1,)]


def test_diagnose_terminated_while_saving_runs_again_with_the_same_sample(
    db: Database,
    faults: Faults,
    lossy: Simulator,
    client: ServiceTitanClient,
    clock: VirtualClock,
) -> None:
    faults.arm("nexus.diagnoses", "terminate")
    found = diagnose_invoices(db, client, TENANT, clock, sample=30, seed=9, repair=True)
    assert faults.fired()
    assert found.repaired == len(found.sync_miss_ids) > 0
    totals = invoice_totals(db)
    tenant = lossy.tenant(TENANT)
    assert all(totals[j] == tenant.job_invoice_total(j) for j in found.sync_miss_ids)
    assert runs_of(db, "diagnose") == [("failed", "database"), ("succeeded", None)]
    saved = query(db, "SELECT seed, sampled, repaired FROM nexus.diagnoses")
    assert saved == [(9, 30, found.repaired)]


def test_the_cache_export_waits_for_a_refusing_database_then_writes_the_whole_file(
    db: Database,
    pg: FaultServer,
    lossy: Simulator,
    clock: VirtualClock,
    tmp_path: Path,
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            pg.start()

    path = tmp_path / "st_jobs_cache.json"
    patient = Database(db.url, patience=Patience(wait_s=30, sleep=sleep))
    pg.stop()
    export = export_jobs_cache(patient, TENANT, path, 30, clock)
    assert len(waits) == 3
    written = orjson.loads(path.read_bytes())
    mirrored = {r[0] for r in query(db, "SELECT id FROM titan.jobs WHERE tenant_id = %s", TENANT)}
    assert {job["id"] for job in written["jobs"]} == mirrored
    assert export.jobs == len(mirrored)
    assert runs_of(db, "jobs_cache_export") == [("succeeded", None)]
