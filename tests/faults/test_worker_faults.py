"""The worker rides out a database restart and a stop of a few seconds without a restart of
its own: runs in progress wait for the database, the task queue serves again, and the
mirror ends equal to ServiceTitan's truth.

In process, on a fast clock: job_sync and invoice_sync every 30 simulated minutes,
which pass in 1.5 s.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pgfault import FaultServer

from nexus.clock import VirtualClock
from nexus.registry.config import load_config
from nexus.scheduling import ScaledClock
from nexus.settings import Settings
from nexus.simulator import BusinessConfig, Simulator
from nexus.store.database import Database
from nexus.worker import run_worker
from worker.workerkit import (
    CREDENTIALS,
    SimDriver,
    assert_mirror_equals_truth,
    assert_no_overlap,
    runs,
    wait_for,
)

START = datetime(2026, 4, 1, 12, tzinfo=UTC)
SCALE = 1200.0
TENANT = 1001
PRODUCERS = ("job_sync", "invoice_sync")
CONFIG = f'[mirror]\nfeeds = ["jobs", "invoices"]\n\n[[tenants]]\nid = {TENANT}\n\n' + "".join(
    f'[producers.{p}]\nkind = "sync"\nfeed = "{p.removesuffix("_sync")}s"\nevery = "30m"\n\n'
    for p in PRODUCERS
)


def succeeded_since(db: Database, since: datetime) -> set[str]:
    """The producers with a successful run started at or after `since` (virtual time)."""
    try:
        return {
            r["producer"] for r in runs(db) if r["status"] == "succeeded" and r["started"] >= since
        }
    except Exception:  # the database is away right now: nothing to see yet
        return set()


def test_the_worker_serves_again_after_a_restart_and_a_stop_of_the_database(
    db: Database, pg: FaultServer, tmp_path: Path
) -> None:
    sim = Simulator(clock=VirtualClock(START), credentials=CREDENTIALS)
    sim.add_tenant(TENANT, BusinessConfig(seed=TENANT, completed_jobs_per_day=20), history_days=3)
    (tmp_path / "nexus.toml").write_text(CONFIG)
    clock = ScaledClock(SCALE, START)
    until = START + timedelta(hours=4)
    stop = threading.Event()
    with sim.serve() as server, SimDriver(sim, clock, until=until) as driver:
        settings = Settings(
            home=tmp_path,
            database_url=db.url,
            database_retry_s=30,
            st_api_url=server.base_url,
            st_auth_url=server.auth_url,
            st_client_id=CREDENTIALS.client_id,
            st_client_secret=CREDENTIALS.client_secret,
            st_app_key=CREDENTIALS.app_key,
            st_tenant=TENANT,
            st_rate_limit=1000,
        )
        worker = threading.Thread(
            target=run_worker,
            args=(settings, load_config(tmp_path / "nexus.toml")),
            kwargs={
                "clock": clock,
                "stop_event": stop,
                "install_signal_handlers": False,
                "concurrency": 2,
                "tick": 0.05,
                "heartbeat": 0.3,
                "stalled_after": 1.5,
            },
        )
        worker.start()
        try:
            wait_for("the first runs", lambda: succeeded_since(db, START) == set(PRODUCERS), 30)

            restarted = clock.now()
            pg.restart()
            wait_for(
                "runs after the restart",
                lambda: succeeded_since(db, restarted) == set(PRODUCERS),
                timeout=30,
            )
            assert worker.is_alive(), "the worker ended when the database restarted"

            pg.stop()
            time.sleep(1.0)  # refused for a while: the queue and the runs wait
            assert worker.is_alive(), "the worker ended while the database refused it"
            pg.start()
            back = clock.now()
            wait_for("runs after the stop", lambda: succeeded_since(db, back) == set(PRODUCERS), 30)
            assert worker.is_alive()
            # Once the simulated business stops, a last round brings the mirror level with it.
            settled = driver.settled(timeout=60)
            wait_for(
                "runs after the business stopped",
                lambda: succeeded_since(db, settled) == set(PRODUCERS),
                timeout=60,
            )
        finally:
            stop.set()
            worker.join(30)
    assert not worker.is_alive(), "the worker did not stop"
    # Whether the task queue itself stopped (and was served again) or procrastinate's
    # listener reconnected on its own depends on where the outage caught it; either way
    # the runs above resumed without a restart of the worker.
    ledger = runs(db)
    assert_no_overlap(ledger)
    assert {r["status"] for r in ledger} <= {"succeeded", "failed", "abandoned"}
    assert all(r["kind"] in (None, "database", "other") for r in ledger), ledger
    assert_mirror_equals_truth(db, sim, TENANT)
