"""The worker's policies, in process on a fast clock: retries, fatal errors, a busy lock.

Three tenants, syncs every 30 simulated minutes (slots 12:00, 12:30, 13:00):
1001's ServiceTitan is down until its 12:00 retries are spent, 1002's
credentials are wrong, and 1003's customer_sync lock is held by another
process until 12:40.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from workerkit import (
    CREDENTIALS,
    FIVE_FEEDS,
    SYNC_PRODUCERS,
    SimDriver,
    assert_no_overlap,
    query,
    runs,
    wait_for,
)

from nexus.clock import VirtualClock
from nexus.registry.config import load_config
from nexus.scheduling import BACKOFF, RETRIES, ScaledClock, slot_start
from nexus.settings import Settings
from nexus.simulator import BusinessConfig, Simulator
from nexus.store.database import Database
from nexus.sync.recorded_run import lock_key
from nexus.worker import run_worker

START = datetime(2026, 4, 1, 12, tzinfo=UTC)
SCALE = 600.0  # 30 simulated minutes in 3 seconds
EVERY = timedelta(minutes=30)
DOWN, BAD_CREDENTIALS, BUSY = 1001, 1002, 1003

CONFIG = (
    FIVE_FEEDS
    + "".join(f"[[tenants]]\nid = {t}\n\n" for t in (DOWN, BAD_CREDENTIALS, BUSY))
    + "".join(
        f'[producers.{p}]\nkind = "sync"\nfeed = "{p.removesuffix("_sync")}s"\nevery = "30m"\n\n'
        for p in SYNC_PRODUCERS
    )
    + ('[producers.nightly_report]\nkind = "external"\nevery = "1d"\ncommand = "/bin/true"\n')
)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def count(db: Database, sql: str, *params: Any) -> int:
    return int(query(db, sql, *params)[0][0])


def test_retries_follow_the_policy_fatal_errors_wait_for_the_next_slot_and_busy_is_skipped(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nexus.worker")

    def busy_skips() -> int:
        """How often 1003's customer_sync was skipped for the lock held elsewhere."""
        said = f"tenant {BUSY}: customer_sync is already running in another process"
        return sum(said in r.getMessage() for r in caplog.records)

    sim = Simulator(clock=VirtualClock(START), credentials=CREDENTIALS)
    for tenant in (DOWN, BAD_CREDENTIALS, BUSY):
        sim.add_tenant(tenant, BusinessConfig(seed=tenant), history_days=2)
    sim.tenant(DOWN).faults.outage(503)
    monkeypatch.setenv("NEXUS_ST_1002_CLIENT_ID", CREDENTIALS.client_id)
    monkeypatch.setenv("NEXUS_ST_1002_CLIENT_SECRET", "not-the-secret")
    (tmp_path / "nexus.toml").write_text(CONFIG)
    config = load_config(tmp_path / "nexus.toml")
    clock = ScaledClock(SCALE, START)
    stop = threading.Event()
    with sim.serve() as server, SimDriver(sim, clock, until=at(120)):
        settings = Settings(
            home=tmp_path,
            database_url=db.url,
            st_api_url=server.base_url,
            st_auth_url=server.auth_url,
            st_client_id=CREDENTIALS.client_id,
            st_client_secret=CREDENTIALS.client_secret,
            st_app_key=CREDENTIALS.app_key,
            st_max_attempts=1,  # the client gives up at once; the worker's policy retries
            st_rate_limit=1000,
        )
        held = db.connect(autocommit=True)
        locked = held.execute(
            "SELECT pg_try_advisory_lock(%s)", (lock_key(BUSY, "customer_sync"),)
        ).fetchone()
        assert locked == (True,)
        worker = threading.Thread(
            target=run_worker,
            args=(settings, config),
            kwargs={
                "clock": clock,
                "stop_event": stop,
                "install_signal_handlers": False,
                "concurrency": 3,
                "tick": 0.05,
            },
        )
        worker.start()
        try:

            def retries_spent() -> bool:
                failed = count(
                    db,
                    "SELECT count(*) FROM nexus.runs WHERE tenant_id = %s AND status = 'failed'",
                    DOWN,
                )
                waiting = count(
                    db,
                    "SELECT count(*) FROM nexus.procrastinate_jobs"
                    " WHERE queueing_lock LIKE %s AND status IN ('todo', 'doing')",
                    f"{DOWN}:%",
                )
                return failed == len(SYNC_PRODUCERS) * (1 + RETRIES) and not waiting

            wait_for("1001's retries to be spent", retries_spent, timeout=30)
            sim.tenant(DOWN).faults.clear()
            # On a loaded machine the 12:30 slot's run can come a second (ten minutes) late:
            # the lock is released once it has been skipped, and not before 12:40.
            wait_for(
                "12:40, 1003's customer_sync skipped at 12:00 and 12:30",
                lambda: clock.now() >= at(40) and busy_skips() >= 2,
                timeout=30,
            )
            held.close()  # the other holder of 1003's customer_sync lock goes away
            wait_for("13:10", lambda: clock.now() >= at(70), timeout=30)
        finally:
            stop.set()
            worker.join(30)
    assert not worker.is_alive(), "the worker did not stop"

    ledger = runs(db)
    assert_no_overlap(ledger)
    assert {r["producer"] for r in ledger} == set(SYNC_PRODUCERS), "external producers never run"
    by_key: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for run in ledger:
        by_key[(run["tenant"], run["producer"])].append(run)
    for producer in SYNC_PRODUCERS:
        # ST down: the 12:00 run and its RETRIES retries fail, spaced by the backoff;
        # then nothing until the next slot, which succeeds.
        down = by_key[(DOWN, producer)]
        failed = [r for r in down if r["status"] == "failed"]
        assert len(failed) == 1 + RETRIES, down
        assert {r["kind"] for r in failed} == {"unreachable"}
        starts = [r["started"] for r in failed]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(gap >= BACKOFF * 2**i for i, gap in enumerate(gaps)), gaps
        ok = [r for r in down if r["status"] == "succeeded"]
        assert ok and min(r["started"] for r in ok) >= at(30), down

        # Credentials refused: retrying cannot help, so one failed run per slot.
        refused = by_key[(BAD_CREDENTIALS, producer)]
        assert [r["status"] for r in refused] == ["failed"] * 3, refused
        assert {r["kind"] for r in refused} == {"auth"}
        slots = {slot_start(r["started"], EVERY) for r in refused}
        assert slots == {at(0), at(30), at(60)}, refused
        assert all("not-the-secret" not in str(r["error"]) for r in refused)

    # A lock held elsewhere skips the run without failing it; the next slot runs it.
    assert [r["status"] for r in by_key[(BUSY, "customer_sync")]] == ["succeeded"]
    assert by_key[(BUSY, "customer_sync")][0]["started"] >= at(60)
    for producer in ("job_sync", "invoice_sync", "estimate_sync"):
        assert [r["status"] for r in by_key[(BUSY, producer)]] == ["succeeded"] * 3
    assert count(db, "SELECT count(*) FROM nexus.procrastinate_jobs WHERE status = 'doing'") == 0
