"""`nexus worker` as real processes: two workers, three tenants, a simulated hour, a SIGKILL.

The workers and the simulator share a `ScaledClock`: one real second is two
virtual minutes, so the hour takes thirty seconds. Run intervals in
`nexus.runs` are in that virtual time, which is a strictly increasing function
of the wall clock shared by every process, so an overlap in the ledger would
be an overlap in reality.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from workerkit import (
    CREDENTIALS,
    SYNC_PRODUCERS,
    SimDriver,
    Worker,
    assert_mirror_equals_truth,
    assert_no_overlap,
    query,
    runs,
    virtual,
    wait_for,
    worker_env,
    write_config,
)

from nexus.clock import VirtualClock
from nexus.scheduling import ScaledClock
from nexus.simulator import BusinessConfig, SimServer, Simulator
from nexus.store.database import Database

pytestmark = pytest.mark.slow

START = datetime(2026, 4, 1, 12, tzinfo=UTC)  # on a 15-minute slot boundary
HOUR = timedelta(hours=1)
EVERY = timedelta(minutes=15)
TENANTS = (1001, 1002, 1003)
SCALE = 120.0


@pytest.fixture
def sim() -> Simulator:
    sim = Simulator(clock=VirtualClock(START), credentials=CREDENTIALS, export_page_size=100)
    for i, tenant in enumerate(TENANTS):
        sim.add_tenant(
            tenant, BusinessConfig(seed=20 + i, completed_jobs_per_day=150), history_days=3
        )
    return sim


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimServer]:
    with sim.serve() as running:
        yield running


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def test_two_workers_share_three_tenants_for_an_hour_and_survive_a_sigkill(
    db: Database, sim: Simulator, server: SimServer, workers: list[Worker], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "nexus.toml", TENANTS)
    # Tenant 1002 has credentials of its own; the others use the global pair.
    env = worker_env(
        db,
        server,
        tmp_path,
        NEXUS_ST_1002_CLIENT_ID=CREDENTIALS.client_id,
        NEXUS_ST_1002_CLIENT_SECRET=CREDENTIALS.client_secret,
    )
    clock = ScaledClock(SCALE, START)
    end = START + HOUR
    with SimDriver(sim, clock, until=end) as driver:
        a = Worker("worker-a", config, clock, env, tmp_path)
        workers.append(a)
        (a_id,) = wait_for(
            "worker A to register",
            lambda: query(db, "SELECT id FROM nexus.procrastinate_workers"),
            timeout=20,
        )[0]
        b = Worker("worker-b", config, clock, env, tmp_path)
        workers.append(b)

        # Partway through the hour, kill A while it holds a job (or at 12:40 at the latest).
        wait_for("12:20", lambda: clock.now() >= START + timedelta(minutes=20), timeout=60)

        def a_is_in_a_run() -> tuple[int, str] | bool:
            rows = query(
                db,
                "SELECT r.tenant_id, r.producer FROM nexus.runs r"
                " JOIN nexus.procrastinate_jobs j"
                "   ON j.queueing_lock = r.tenant_id || ':' || r.producer AND j.status = 'doing'"
                " WHERE r.status = 'running' AND j.worker_id = %s",
                a_id,
            )
            return rows[0] if rows else clock.now() >= START + timedelta(minutes=40)

        interrupted = wait_for("A to be in a run", a_is_in_a_run, timeout=60, every=0.005)
        a.signal(signal.SIGKILL)
        killed_at = virtual(clock, time.time())
        assert a.wait(10) == -signal.SIGKILL

        # The simulator stops moving at `end`: once every producer has succeeded after it
        # got there, the mirror must equal the truth.
        settled = driver.settled()

        def all_ran_after_the_hour() -> bool:
            done = query(
                db,
                "SELECT count(DISTINCT (tenant_id, producer)) FROM nexus.runs"
                " WHERE status = 'succeeded' AND started_at >= %s",
                settled,
            )[0][0]
            return done == len(TENANTS) * len(SYNC_PRODUCERS)

        wait_for("every producer to run after the hour", all_ran_after_the_hour, timeout=90)
    b.signal(signal.SIGTERM)
    assert b.wait(30) == 0, b.log()[-3000:]

    ledger = runs(db)
    assert {r["status"] for r in ledger} <= {"succeeded", "abandoned"}, [
        (r["tenant"], r["producer"], r["status"], r["error"])
        for r in ledger
        if r["status"] not in ("succeeded", "abandoned")
    ]
    assert_no_overlap(ledger)
    ok_in_hour = Counter(
        (r["tenant"], r["producer"])
        for r in ledger
        if r["status"] == "succeeded" and START <= r["started"] < end
    )
    expected = HOUR // EVERY
    for tenant in TENANTS:
        for producer in SYNC_PRODUCERS:
            count = ok_in_hour[(tenant, producer)]
            assert abs(count - expected) <= 1, f"{tenant} {producer}: {count} runs in the hour"
            after_kill = [
                r
                for r in ledger
                if (r["tenant"], r["producer"]) == (tenant, producer)
                and r["status"] == "succeeded"
                and r["started"] > killed_at
            ]
            assert after_kill, f"{tenant} {producer} never ran after worker A was killed"
        assert_mirror_equals_truth(db, sim, tenant)
    if interrupted is not True:
        # The run A was killed in was closed as abandoned by the next run, which resumed it,
        # unless it finished in the moment between being seen running and the signal.
        tenant, producer = interrupted
        mine = [r for r in ledger if (r["tenant"], r["producer"]) == (tenant, producer)]
        abandoned = [r for r in mine if r["status"] == "abandoned"]
        at_kill = max((r for r in mine if r["started"] <= killed_at), key=lambda r: r["started"])
        if not abandoned:
            assert at_kill["status"] == "succeeded" and at_kill["finished"] <= killed_at, mine
        else:
            assert abandoned == [at_kill], mine
            assert "the process ended before the run finished" in abandoned[0]["error"]
    left = query(db, "SELECT status, count(*) FROM nexus.procrastinate_jobs GROUP BY status")
    assert "doing" not in dict(left), left


TENANT = 1001


def test_sigterm_finishes_the_run_a_second_sigterm_abandons_it_and_the_next_run_resumes(
    db: Database, workers: list[Worker], tmp_path: Path
) -> None:
    sim = Simulator(clock=VirtualClock(START), credentials=CREDENTIALS, export_page_size=50)
    tenant = sim.add_tenant(
        TENANT, BusinessConfig(seed=5, completed_jobs_per_day=80), history_days=20
    )
    tenant.faults.slow(0.03)  # every page takes a while, so signals land mid-run
    config = write_config(tmp_path / "nexus.toml", [TENANT])
    clock = ScaledClock(1.0, START)  # real time: only the first slot comes due

    def pages(feed: str) -> int:
        rows = query(
            db, "SELECT pages FROM nexus.feeds WHERE tenant_id = %s AND feed = %s", TENANT, feed
        )
        return rows[0][0] if rows else 0

    def run_of(producer: str) -> dict[str, object]:
        return [r for r in runs(db) if r["producer"] == producer][-1]

    with sim.serve() as server:
        env = worker_env(db, server, tmp_path)

        def start(name: str) -> Worker:
            worker = Worker(name, config, clock, env, tmp_path, concurrency=1)
            workers.append(worker)
            return worker

        # One SIGTERM in the middle of the jobs backfill: the run finishes, the worker exits.
        first = start("first")
        wait_for("the jobs backfill to be under way", lambda: pages("jobs") >= 3, timeout=30)
        first.signal(signal.SIGTERM)
        signalled = virtual(clock, time.time())
        assert first.wait(60) == 0, first.log()[-3000:]
        assert run_of("job_sync")["status"] == "succeeded"
        assert all(r["started"] < signalled for r in runs(db)), "a run started after SIGTERM"
        jobs = query(db, "SELECT count(*) FROM titan.jobs WHERE tenant_id = %s", TENANT)[0][0]
        assert jobs == len(tenant.truth_jobs())
        waiting = query(
            db,
            "SELECT queueing_lock FROM nexus.procrastinate_jobs WHERE status = 'todo' ORDER BY id",
        )
        assert [w[0] for w in waiting] == [
            f"{TENANT}:{p}"
            for p in ("invoice_sync", "customer_sync", "estimate_sync", "reconcile", "notifier")
        ], "the producers not yet run stay queued for the next worker"

        # Two SIGTERMs in the middle of the invoices backfill: abandoned at a page boundary.
        second = start("second")
        wait_for("the invoice backfill to be under way", lambda: pages("invoices") >= 3, 30)
        second.signal(signal.SIGTERM)
        time.sleep(0.2)
        second.signal(signal.SIGTERM)
        assert second.wait(30) == 0, second.log()[-3000:]
        abandoned = run_of("invoice_sync")
        assert abandoned["status"] == "abandoned", abandoned
        assert "abandoned at a page boundary" in str(abandoned["error"])
        committed = query(db, "SELECT count(*) FROM titan.invoices WHERE tenant_id = %s", TENANT)[
            0
        ][0]
        total = len(tenant.truth_invoices())
        # Whole pages only: every row the run read was committed with its page's token.
        assert committed == abandoned["rows_read"]
        assert 0 < committed < total
        requeued = query(
            db,
            "SELECT status FROM nexus.procrastinate_jobs WHERE queueing_lock = %s ORDER BY id DESC",
            f"{TENANT}:invoice_sync",
        )
        assert requeued[0] == ("todo",), "the abandoned job goes back in the queue"

        # The next worker resumes from the saved token and finishes everything.
        third = start("third")

        def all_succeeded() -> bool:
            ok = {r["producer"] for r in runs(db) if r["status"] == "succeeded"}
            return ok >= {*SYNC_PRODUCERS, "reconcile"}

        wait_for("every producer to succeed", all_succeeded, timeout=60)
        third.signal(signal.SIGTERM)
        assert third.wait(30) == 0, third.log()[-3000:]

    resumed = run_of("invoice_sync")
    assert resumed["status"] == "succeeded"
    assert resumed["rows_read"] == total - committed, "the run resumed; it did not start over"
    ledger = runs(db)
    assert_no_overlap(ledger)
    syncs = [r for r in ledger if r["producer"].endswith("_sync")]
    assert Counter(r["status"] for r in syncs) == {"succeeded": 4, "abandoned": 1}
    assert [r["status"] for r in ledger if r["producer"] == "reconcile"] == ["succeeded"]
    assert_mirror_equals_truth(db, sim, TENANT)
