"""A job's outcome is written once the database is back, and never twice.

Without it, an outcome written while the server restarts leaves the job `doing`
under a live worker: the stalled-job recovery never takes it back, and every
later job with its lock waits behind it (CI saw job_sync stop for good after a
stop of the database while invoice_sync went on).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from pgfault import Faults, FaultServer
from procrastinate import App, PsycopgConnector, exceptions, jobs

from nexus.job_outcomes import PatientJobManager
from nexus.scheduling import QUEUE, TASK_NAME
from nexus.store.database import Database
from nexus.worker import QUEUE_SCHEMA


def _connector(db: Database, **pool: Any) -> PsycopgConnector:
    return PsycopgConnector(
        conninfo=db.url, kwargs={"options": f"-c search_path={QUEUE_SCHEMA}"}, **pool
    )


@asynccontextmanager
async def doing_job(connector: PsycopgConnector) -> AsyncIterator[tuple[App, jobs.Job]]:
    """An open app and a job a registered worker has taken (status `doing`)."""
    app = App(connector=connector)
    async with app.open_async():
        manager = app.job_manager
        await manager.defer_job_async(
            jobs.Job(
                id=None,
                queue=QUEUE,
                task_name=TASK_NAME,
                lock="1001:job_sync",
                queueing_lock="1001:job_sync",
                task_kwargs={"tenant": 1001, "producer": "job_sync", "timestamp": 0},
            )
        )
        worker_id = await manager.register_worker()
        job = await manager.fetch_job(queues=[QUEUE], worker_id=worker_id)
        assert job is not None
        yield app, job


def status(db: Database) -> str:
    """The status of the one job of these tests (each begins with an empty queue)."""
    with db.connect(autocommit=True) as conn:
        rows = conn.execute("SELECT status FROM nexus.procrastinate_jobs").fetchall()
    assert len(rows) == 1, rows
    return str(rows[0][0])


async def _later(seconds: float, action: Callable[[], None]) -> None:
    await asyncio.sleep(seconds)
    await asyncio.to_thread(action)


#: Each change of a job's status inserts an event: a fault armed here strikes mid-write.
EVENTS = f"{QUEUE_SCHEMA}.procrastinate_events"


@pytest.mark.parametrize("outcome", ["finish", "retry"])
def test_an_outcome_whose_session_ends_mid_write_is_written_on_a_new_one(
    db: Database, faults: Faults, outcome: str
) -> None:
    async def scenario() -> None:
        async with doing_job(_connector(db)) as (app, job):
            keeper = PatientJobManager(app.connector, wait_s=30)
            faults.arm(EVENTS, "terminate")  # the backend ends itself (57P01) mid-write
            if outcome == "finish":
                await keeper.finish_job(job, jobs.Status.SUCCEEDED, delete_job=False)
            else:
                await keeper.retry_job(job)
            assert faults.fired()

    asyncio.run(scenario())
    assert status(db) == ("succeeded" if outcome == "finish" else "todo")


def test_an_outcome_written_as_the_database_stops_lands_once_it_is_back(
    db: Database, pg: FaultServer, faults: Faults
) -> None:
    async def scenario() -> None:
        async with doing_job(_connector(db)) as (app, job):
            keeper = PatientJobManager(app.connector, wait_s=30)
            faults.arm(EVENTS, "sleep 5")  # the write is in progress when the server stops

            async def outage() -> None:
                await asyncio.sleep(0.3)
                await asyncio.to_thread(pg.stop)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(pg.start)

            await asyncio.gather(
                keeper.finish_job(job, jobs.Status.SUCCEEDED, delete_job=False), outage()
            )

    asyncio.run(scenario())
    assert status(db) == "succeeded"


class LostAnswer(PsycopgConnector):
    """Runs the first write for real, then loses its answer, as a dropped connection does."""

    lost = False

    async def execute_query_async(self, query: Any, **arguments: Any) -> None:
        await super().execute_query_async(query, **arguments)
        if not self.lost:
            self.lost = True
            cause = psycopg.OperationalError("server closed the connection unexpectedly")
            raise exceptions.ConnectorException() from cause


@pytest.mark.parametrize("outcome", ["finish", "retry"])
def test_an_outcome_whose_answer_was_lost_is_not_written_twice(db: Database, outcome: str) -> None:
    connector = LostAnswer(conninfo=db.url, kwargs={"options": f"-c search_path={QUEUE_SCHEMA}"})

    async def scenario() -> None:
        async with doing_job(connector) as (app, job):
            keeper = PatientJobManager(app.connector, wait_s=30)
            if outcome == "finish":
                await keeper.finish_job(job, jobs.Status.FAILED, delete_job=False)
            else:
                await keeper.retry_job(job)

    asyncio.run(scenario())  # a second write would raise: the job is no longer `doing`
    assert status(db) == ("failed" if outcome == "finish" else "todo")


def test_a_database_away_longer_than_the_wait_raises_and_says_so(
    db: Database, pg: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with doing_job(_connector(db, timeout=0.5)) as (app, job):
            keeper = PatientJobManager(app.connector, wait_s=1.0)
            await asyncio.to_thread(pg.stop)
            try:
                with pytest.raises(exceptions.ConnectorException):
                    await keeper.finish_job(job, jobs.Status.SUCCEEDED, delete_job=True)
            finally:
                await asyncio.to_thread(pg.start)

    with caplog.at_level(logging.WARNING, logger="nexus.job_outcomes"):
        asyncio.run(scenario())
    assert status(db) == "doing"
    assert "could not be written (the database connection was lost" in caplog.text
    assert "NEXUS_DATABASE_RETRY_S" in caplog.text
