"""Workers keep the database's time, not their machine's: a worker an hour off still agrees.

The worker runs in a process whose own clock (`time.time`, `SystemClock`) is an
hour ahead. Given no clock, it takes production's, the database server's: its
runs, the rows it loads and the slots it offers are all on the database's time.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from workerkit import CREDENTIALS, SYNC_PRODUCERS, query, runs, wait_for, worker_env, write_config

from nexus.clock import VirtualClock
from nexus.scheduling import slot_key
from nexus.simulator import BusinessConfig, SimServer, Simulator
from nexus.store.database import Database

pytestmark = pytest.mark.slow

ENTRY = Path(__file__).with_name("skewed_worker_main.py")
SKEW = timedelta(hours=1)
EVERY = timedelta(minutes=15)  # the sync producers' default
TENANT = 1001


def database_now(db: Database) -> datetime:
    ((now,),) = query(db, "SELECT clock_timestamp()")
    return now  # type: ignore[no-any-return]


@pytest.fixture
def server(db: Database) -> Iterator[SimServer]:
    sim = Simulator(clock=VirtualClock(database_now(db)), credentials=CREDENTIALS)
    sim.add_tenant(TENANT, BusinessConfig(seed=3), history_days=2)
    with sim.serve() as running:
        yield running


def test_a_worker_an_hour_off_records_runs_and_offers_slots_on_the_database_clock(
    db: Database, server: SimServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "nexus.toml", [TENANT])
    before = database_now(db)
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, str(ENTRY), str(config), str(SKEW.total_seconds())],
        env=worker_env(db, server, tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def every_sync_producer_succeeded() -> bool:
            done = {r["producer"] for r in runs(db) if r["status"] == "succeeded"}
            return done >= set(SYNC_PRODUCERS)

        wait_for("every sync producer to succeed", every_sync_producer_succeeded, timeout=120)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, (tmp_path / "worker.log").read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        log.close()
    after = database_now(db)

    recorded = runs(db)
    assert recorded
    for run in recorded:
        assert before <= run["started"] <= run["finished"] <= after, run
    ((first_loaded, last_loaded),) = query(
        db, "SELECT min(created_at), max(updated_at) FROM titan.jobs"
    )
    assert before <= first_loaded <= last_loaded <= after

    # Slots: the ones the database's clock was in, never the ones an hour ahead.
    true_slots = {slot_key(before, EVERY), slot_key(after, EVERY)}
    assert slot_key(before + SKEW, EVERY) not in true_slots  # the test can tell them apart
    offered = query(
        db,
        "SELECT periodic_id, defer_timestamp FROM nexus.procrastinate_periodic_defers"
        " WHERE periodic_id = ANY(%s)",
        [f"{TENANT}:{producer}" for producer in SYNC_PRODUCERS],
    )
    assert {producer for producer, _ in offered} == {f"{TENANT}:{p}" for p in SYNC_PRODUCERS}
    assert {slot for _, slot in offered} <= true_slots, offered
