"""After a sync the mirror equals the simulated ServiceTitan, inactive rows included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from mirror_check import assert_mirror_equals_truth
from nexus.catalog import DEFAULT_FEEDS
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.simulator import Simulator
from nexus.store.database import Database
from stsim import TENANT, client_for


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sync_mirrors_every_record_and_derives_invoice_totals(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock, seed: int
) -> None:
    sim = make_sim(seed=seed, inactive_share=0.1, adjustment_share=0.1)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
    tenant = sim.tenant(TENANT)
    assert any(not r["active"] for r in tenant.truth_customers().values()), "no inactive rows"
    assert_mirror_equals_truth(db, sim)
    with db.connect() as conn:
        runs = conn.execute(
            "SELECT producer, status, rows_read FROM nexus.runs ORDER BY id"
        ).fetchall()
    # One run per module of the default feeds, each reading records.
    assert [r[0] for r in runs] == [
        "job_sync",
        "invoice_sync",
        "customer_sync",
        "estimate_sync",
        "dispatch_sync",
        "settings_sync",
        "membership_sync",
    ]
    assert all(r[1] == "succeeded" and r[2] > 0 for r in runs)


def test_a_second_sync_without_source_changes_changes_nothing(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        with db.connect() as conn:
            before = conn.execute(
                "SELECT 'jobs', id, updated_at FROM titan.jobs UNION ALL"
                " SELECT 'invoices', id, updated_at FROM titan.invoices"
            ).fetchall()
        clock.advance(timedelta(seconds=1))  # any write now would carry a new updated_at
        results = sync_all(db, client, TENANT, clock)
    assert len(results) == len(DEFAULT_FEEDS)
    assert [r.rows_changed for r in results] == [0] * len(DEFAULT_FEEDS)
    with db.connect() as conn:
        after = conn.execute(
            "SELECT 'jobs', id, updated_at FROM titan.jobs UNION ALL"
            " SELECT 'invoices', id, updated_at FROM titan.invoices"
        ).fetchall()
    assert sorted(after) == sorted(before)


def test_incremental_syncs_follow_the_business_as_it_moves(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        for _ in range(4):
            sim.advance(timedelta(hours=9))
            results = sync_all(db, client, TENANT, clock)
            assert all(r.backfill is False for r in results)
    assert_mirror_equals_truth(db, sim, DEFAULT_FEEDS)
