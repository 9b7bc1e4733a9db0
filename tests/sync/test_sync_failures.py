"""Sync under faults: bad records, refused tokens, throttling and outages — nothing is lost."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nexus.clock import VirtualClock
from nexus.errors import BadRecordError, NexusError
from nexus.mirror import sync_all
from nexus.servicetitan.feeds import INVOICES, JOBS
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.feed_sync import sync_feed
from stsim import TENANT, client_for


def token(db: Database, feed: str) -> str | None:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT token FROM nexus.feeds WHERE tenant_id = %s AND feed = %s", (TENANT, feed)
        ).fetchone()
    return None if row is None else row[0]


def count(db: Database, table: str) -> int:
    with db.connect() as conn:
        return conn.execute(f"SELECT count(*) FROM titan.{table}").fetchone()[0]  # type: ignore[index]


def last_run(db: Database) -> tuple[str, str, str | None, str | None]:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT producer, status, error, error_kind FROM nexus.runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return row  # type: ignore[return-value]


def test_a_malformed_record_fails_the_run_and_applies_nothing_of_its_page(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    with sim.serve() as server, client_for(server) as client:
        sync_feed(db, client, TENANT, INVOICES, clock)
        before_token, before_rows = token(db, "invoices"), count(db, "invoices")
        sim.advance(timedelta(days=2))
        sim.tenant(TENANT).faults.malformed_record("invoices")  # total: "abc"
        with pytest.raises(BadRecordError) as info:
            sync_feed(db, client, TENANT, INVOICES, clock)
        assert token(db, "invoices") == before_token
        assert count(db, "invoices") == before_rows
        producer, status, error, kind = last_run(db)
        assert (producer, status, kind) == ("invoice_sync", "failed", "bad_record")
        assert error == str(info.value)
        assert "invoices feed" in error and f"id={info.value.record_id}" in error
        assert "'total'" in error
        # Once the source is fixed, the same page loads and the token moves on.
        sync_feed(db, client, TENANT, INVOICES, clock)
        assert token(db, "invoices") != before_token
        assert count(db, "invoices") == len(sim.tenant(TENANT).truth_invoices())


def test_a_refused_token_names_the_setting_to_fix(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    sim.tenant(TENANT).faults.token_rejection()
    with sim.serve() as server, client_for(server) as client, pytest.raises(NexusError) as info:
        sync_feed(db, client, TENANT, JOBS, clock)
    message = str(info.value)
    assert "NEXUS_ST_CLIENT_SECRET" in message or "NEXUS_ST_CLIENT_ID" in message
    assert "sync-secret" not in message
    producer, status, error, kind = last_run(db)
    assert (producer, status, kind) == ("job_sync", "failed", "auth")
    assert error is not None and "sync-secret" not in error
    assert count(db, "jobs") == 0


def test_throttling_is_waited_out_and_the_sync_completes(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(timedelta(seconds=seconds))  # ServiceTitan counts on the same clock

    sim.tenant(TENANT).faults.rate_limit(per_second=4)
    with sim.serve() as server, client_for(server, sleep=sleep, max_attempts=10) as client:
        sync_all(db, client, TENANT, clock)
    assert waits, "the simulator's 429s should have made the client wait"
    assert set(waits) == {1.0}, "the client waits exactly what Retry-After says"
    assert count(db, "jobs") == len(sim.tenant(TENANT).truth_jobs())


def test_a_burst_of_5xx_is_retried_then_fails_clearly_and_is_recorded(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    waits: list[float] = []
    sim.tenant(TENANT).faults.outage(status=503, html=True)
    with (
        sim.serve() as server,
        client_for(server, sleep=waits.append, max_attempts=4) as client,
        pytest.raises(NexusError) as info,
    ):
        sync_feed(db, client, TENANT, JOBS, clock)
    # The source check meets the outage first (and the run goes on), then the export.
    assert len(waits) == 6, "four attempts of the check and four of the export: six waits"
    message = str(info.value)
    assert ("503" in message and "export/jobs" in message) or "job-types" in message
    producer, status, _, kind = last_run(db)
    assert (producer, status, kind) == ("job_sync", "failed", "unreachable")
    # When ServiceTitan is back, the next run backfills everything.
    sim.tenant(TENANT).faults.clear()
    with sim.serve() as server, client_for(server) as client:
        sync_feed(db, client, TENANT, JOBS, clock)
    assert count(db, "jobs") == len(sim.tenant(TENANT).truth_jobs())
