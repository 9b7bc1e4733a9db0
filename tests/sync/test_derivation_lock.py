"""A tenant's pages of deriving feeds load one at a time, under the derivation lock."""

from __future__ import annotations

import threading
import time

from nexus.clock import VirtualClock
from nexus.servicetitan.feeds import CUSTOMERS, INVOICES
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.store.loader import derivation_lock
from nexus.sync.feed_sync import sync_feed
from stsim import TENANT, client_for


def waiting_on_an_advisory_lock(db: Database) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND wait_event = 'advisory'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_page_of_invoices_waits_for_the_lock_and_one_of_customers_does_not(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    with (
        sim.serve() as server,
        client_for(server) as client,
        db.connect(autocommit=True) as holder,
    ):
        holder.execute("SELECT pg_advisory_lock(%s)", (derivation_lock(TENANT),))
        # Customers derive nothing: their page loads while the lock is held.
        assert sync_feed(db, client, TENANT, CUSTOMERS, clock).rows_changed > 0
        results: list[int] = []
        loading = threading.Thread(
            target=lambda: results.append(
                sync_feed(db, client, TENANT, INVOICES, clock).rows_changed
            )
        )
        loading.start()
        deadline = time.monotonic() + 30
        while waiting_on_an_advisory_lock(db) == 0:
            assert loading.is_alive() and time.monotonic() < deadline, results
            time.sleep(0.02)
        assert results == []
        holder.execute("SELECT pg_advisory_unlock(%s)", (derivation_lock(TENANT),))
        loading.join(timeout=30)
    assert len(results) == 1 and results[0] > 0
