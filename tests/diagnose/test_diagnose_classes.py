"""Diagnose zero-invoice jobs against a simulated ServiceTitan whose truth is known.

Two kinds of $0 jobs are planted: invoice changes the export feed lost
(`drop_export_share`: sync misses) and chargeable work nobody invoiced
(`uninvoiced_share`: genuinely zero). The diagnosis must tell them apart job by
job, and its interval for the sync-miss share must hold the true share.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mirror_check import invoice_totals
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.proof.causes import diagnosis_cause
from nexus.servicetitan import RetriableAPIError
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.diagnose import (
    CLASSES,
    PRODUCER,
    diagnose_invoices,
    latest_diagnosis,
    population_ids,
)
from nexus.sync.reconcile import run_reconcile
from stsim import TENANT, client_for

CHICAGO = ZoneInfo("America/Chicago")
LAG = timedelta(days=5)  # the coverage check's expected invoice lag (default)


def mirrored(
    db: Database,
    make_sim: Callable[..., Simulator],
    clock: VirtualClock,
    *,
    drop: float = 0.0,
    seed: int = 31,
    **business: Any,
) -> Simulator:
    """Six weeks of a 20-jobs-a-day business mirrored by a backfill and a sync every 8 hours for 4 days."""
    business.setdefault("completed_jobs_per_day", 20)
    sim = make_sim(seed=seed, history_days=42, **business)
    if drop:
        sim.tenant(TENANT).faults.drop_export_share({"invoices": drop})
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        for _ in range(12):
            sim.advance(timedelta(hours=8))
            sync_all(db, client, TENANT, clock)
    return sim


def population(db: Database, clock: VirtualClock) -> list[int]:
    with db.connect() as conn:
        return population_ids(conn, TENANT, clock.now())


def query(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(sql, params).fetchall()


def test_sync_misses_are_found_in_the_right_proportion_and_repair_fixes_them(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    # Many adjustments: a job's total is often more than its own invoice's.
    sim = mirrored(db, make_sim, clock, drop=0.3, adjustment_share=0.4)
    tenant = sim.tenant(TENANT)
    zero = population(db, clock)
    missed = {j for j in zero if tenant.job_invoice_total(j) != 0}
    true_share = len(missed) / len(zero)
    assert len(zero) > 100 and 0.1 < true_share < 0.9

    with sim.serve() as server, client_for(server) as client:
        d = diagnose_invoices(db, client, TENANT, clock, sample=60, seed=4)
        assert (d.sampled, d.population) == (60, len(zero))
        share = d.classes["sync_miss"]
        assert share.ci_low <= true_share <= share.ci_high
        assert sum(c.count for c in d.classes.values()) == 60
        for job in d.jobs:  # and job by job, the class is the truth
            st_total = tenant.job_invoice_total(job.id)
            assert (job.klass == "sync_miss") == (st_total != 0), job
            if job.klass == "sync_miss":
                assert Decimal(job.evidence["st_total"]) == st_total
                assert job.evidence["mirror_total"] == "0.00"
                assert job.evidence["invoice_ids"]
        adjusted = [
            j for j in d.jobs if j.klass == "sync_miss" and len(j.evidence["invoice_ids"]) > 1
        ]
        assert adjusted, "some sampled misses carry an adjustment invoice"
        # Few calls: jobs and invoices 50 ids at a time, and one per job about to be
        # called a sync miss or unbilled (to count invoices the mirror never saw).
        checked = sum(1 for j in d.jobs if j.evidence.get("checked_all_invoices"))
        assert checked == sum(d.classes[k].count for k in ("sync_miss", "genuinely_zero"))
        assert d.api_calls == 2 * 2 + checked

        fixed = diagnose_invoices(db, client, TENANT, clock, sample=60, seed=4, repair=True)
        assert [j.id for j in fixed.jobs] == [j.id for j in d.jobs]  # same seed, same sample
        assert fixed.sync_miss_ids == d.sync_miss_ids
        assert fixed.repaired == len(d.sync_miss_ids) > 0
        totals = invoice_totals(db)
        assert all(totals[j] == tenant.job_invoice_total(j) for j in d.sync_miss_ids)
        # The sample drawn again with the same seed is the same sample, less the repaired.
        assert set(population(db, clock)) == set(zero) - d.sync_miss_ids

        # reconcile --repair then leaves no job with a wrong total.
        run_reconcile(db, client, TENANT, clock, feeds=["invoices"], repair=True)
    totals = invoice_totals(db)
    assert all(totals[j] == tenant.job_invoice_total(j) for j in totals)

    events = query(db, "SELECT kind, producer, detail FROM nexus.events ORDER BY id")
    assert events[0][:2] == ("diagnosis_repaired", PRODUCER)
    assert events[0][2]["diagnosis_id"] == fixed.id
    runs = query(
        db, "SELECT status, rows_read, rows_changed FROM nexus.runs WHERE producer = %s", PRODUCER
    )
    assert runs == [("succeeded", 60, 0), ("succeeded", 60, fixed.repaired)]


def test_the_interval_holds_the_true_share_for_most_samples(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = mirrored(db, make_sim, clock, drop=0.3, seed=32)
    tenant = sim.tenant(TENANT)
    zero = population(db, clock)
    true_share = sum(1 for j in zero if tenant.job_invoice_total(j) != 0) / len(zero)
    held = 0
    with sim.serve() as server, client_for(server) as client:
        for seed in range(40):
            share = diagnose_invoices(db, client, TENANT, clock, sample=25, seed=seed).classes
            held += share["sync_miss"].ci_low <= true_share <= share["sync_miss"].ci_high
    # A 95 % interval (conservative for a sample without replacement) misses rarely.
    assert held >= 36


def test_uninvoiced_work_is_genuinely_zero_never_a_sync_miss(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = mirrored(db, make_sim, clock, drop=0.2, seed=33, uninvoiced_share=0.2)
    tenant = sim.tenant(TENANT)
    zero = population(db, clock)
    with sim.serve() as server, client_for(server) as client:
        d = diagnose_invoices(db, client, TENANT, clock, sample=len(zero) + 10, seed=1)
    assert d.sampled == d.population == len(zero)  # a census: every $0 job is looked at
    now = clock.now()
    seen: dict[tuple[str, str], int] = {}
    for job in d.jobs:
        truth = tenant.job_truth_class(job.id)
        seen[truth, job.klass] = seen.get((truth, job.klass), 0) + 1
        if truth == "uninvoiced":
            completed = datetime.fromisoformat(job.evidence["completed_on"])
            expected = "genuinely_zero" if completed <= now - LAG else "not_finished"
            assert job.klass == expected, job
        if truth == "no_charge":
            assert job.klass == "no_charge", job
        if truth == "invoiced":
            assert job.klass == "sync_miss", job
    assert seen["uninvoiced", "genuinely_zero"] >= 10
    assert seen["invoiced", "sync_miss"] >= 5
    assert not any(truth == "uninvoiced" and klass == "sync_miss" for truth, klass in seen)
    # Unbilled work outnumbers the misses here: that is the probable cause.
    cause = diagnosis_cause(d, CHICAGO)
    assert cause is not None
    counts = d.classes
    expected_kind = (
        "sync_miss"
        if counts["sync_miss"].count >= counts["genuinely_zero"].count
        else "not_invoiced"
    )
    assert cause.kind == expected_kind
    assert f"{d.sampled} of {d.population}" in cause.evidence


def test_a_mirror_row_servicetitan_does_not_have_is_missing_in_st(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = mirrored(db, make_sim, clock, seed=34)
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO titan.jobs (tenant_id, id, job_status, completed_on, created_on,"
            " modified_on, raw, created_at, updated_at)"
            " VALUES (%s, 77, 'Completed', %s, %s, %s, '{}', %s, %s)",
            (TENANT, *[clock.now() - timedelta(days=9)] * 3, clock.now(), clock.now()),
        )
    zero = population(db, clock)
    assert 77 in zero
    with sim.serve() as server, client_for(server) as client:
        d = diagnose_invoices(db, client, TENANT, clock, sample=len(zero), seed=2)
    [ghost] = [j for j in d.jobs if j.id == 77]
    assert ghost.klass == "missing_in_st"
    assert "no job 77" in ghost.evidence["reason"]
    assert d.classes["missing_in_st"].count == 1


def test_the_diagnosis_is_saved_and_read_back_with_the_documented_shape(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = mirrored(db, make_sim, clock, drop=0.3, seed=35)
    with db.connect() as conn:
        assert latest_diagnosis(conn, TENANT) is None
    with sim.serve() as server, client_for(server) as client:
        first = diagnose_invoices(db, client, TENANT, clock, sample=10, seed=1)
        sim.advance(timedelta(minutes=5))
        second = diagnose_invoices(db, client, TENANT, clock, sample=12)
    with db.connect() as conn:
        latest = latest_diagnosis(conn, TENANT)
    assert latest == second != first
    shape = latest.as_dict()
    assert (shape["sampled"], shape["population"]) == (12, second.population)
    assert list(shape["classes"]) == list(CLASSES)
    for share in shape["classes"].values():
        assert set(share) == {"count", "share", "ci_low", "ci_high"}
        assert 0 <= share["ci_low"] <= share["share"] <= share["ci_high"] <= 1
    assert len(shape["jobs"]) == 12
    for job in shape["jobs"]:
        assert set(job) == {"id", "class", "evidence"}
        assert job["class"] in CLASSES
        assert job["evidence"]["reason"]
    assert isinstance(shape["seed"], int)  # drawn when not given, kept to draw it again


def test_st_unreachable_fails_the_run_and_saves_no_diagnosis(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = mirrored(db, make_sim, clock, drop=0.3, seed=36)
    before = invoice_totals(db)
    sim.tenant(TENANT).faults.outage(503)
    with (
        sim.serve() as server,
        client_for(server, max_attempts=2) as client,
        pytest.raises(RetriableAPIError, match="503"),
    ):
        diagnose_invoices(db, client, TENANT, clock, sample=10, repair=True)
    assert invoice_totals(db) == before
    assert query(db, "SELECT count(*) FROM nexus.diagnoses") == [(0,)]
    assert query(db, "SELECT status, error_kind FROM nexus.runs WHERE producer = 'diagnose'") == [
        ("failed", "unreachable")
    ]


def test_an_empty_population_is_a_diagnosis_of_nothing(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=37, history_days=0)
    with sim.serve() as server, client_for(server) as client:
        d = diagnose_invoices(db, client, TENANT, clock, sample=30, seed=1)
    assert (d.sampled, d.population, d.api_calls) == (0, 0, 0)
    assert all(c.count == 0 and (c.ci_low, c.ci_high) == (0.0, 1.0) for c in d.classes.values())
    assert diagnosis_cause(d, CHICAGO) is None
