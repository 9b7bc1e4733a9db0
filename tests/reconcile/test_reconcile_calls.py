"""Reconcile's cost: one list call per 5,000 records, at most 1 + ⌈records / 5000⌉ per endpoint.

The 100,000-job measurement is `bench/reconcile.py` (figures in bench/README.md);
this checks the same bound on a tenant of some 6,000 jobs (two pages of them),
counted both by the client and by the simulated ServiceTitan itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

import pytest

from nexus.catalog import DEFAULT_FEEDS, FEEDS
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.reconcile import reconcilable, run_reconcile
from stsim import TENANT, client_for


def bound(records: int) -> int:
    return 1 + math.ceil(records / 5000)


@pytest.mark.slow
def test_a_6000_job_tenant_costs_at_most_one_call_per_5000_records_per_endpoint(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=21, history_days=30, page_size=5000, completed_jobs_per_day=200)
    tenant = sim.tenant(TENANT)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        sim.advance(timedelta(days=1))
        sync_all(db, client, TENANT, clock)
        tenant.reset_request_counts()
        report = run_reconcile(db, client, TENANT, clock)
        served = tenant.request_counts()
        since = clock.now() - timedelta(days=7)
        tenant.reset_request_counts()
        window = run_reconcile(db, client, TENANT, clock, since=since)
        served_window = tenant.request_counts()
    assert report.feeds["jobs"].records > 5_000  # more than one page
    assert report.differences == 0
    compared = reconcilable(DEFAULT_FEEDS)
    assert set(report.feeds) == set(compared) and "invoice_items" not in compared  # no list
    for name in compared:
        path = FEEDS[name].list_url_path(TENANT)
        for run in (report, window):
            f = run.feeds[name]
            assert f.api_calls <= bound(f.records), (name, f.records, f.api_calls)
            # pages of 5,000: exactly ⌈n / 5000⌉ calls, one for an empty list
            assert f.api_calls == max(1, math.ceil(f.records / 5000))
        assert served.get(path, 0) == report.feeds[name].api_calls
        assert served_window.get(path, 0) == window.feeds[name].api_calls
    assert window.feeds["jobs"].records < report.feeds["jobs"].records
