"""A stalled job goes back in the queue once, and never from under the live worker that took it.

Every worker recovers stalled jobs. The soak caught two doing it to one job: the
first put it back and a live worker took it, then the second, working from its
older list, put the running job back again. It ran twice at once; the copy that
found the producer busy finished the job, and when its worker was killed the run
still going was left `running` for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from procrastinate import App, PsycopgConnector, jobs

from nexus.scheduling import QUEUE, TASK_NAME, recover_job, recover_stalled
from nexus.store.database import Database
from nexus.worker import QUEUE_SCHEMA

STALLED_AFTER = 30.0


def job_for(lock: str) -> jobs.Job:
    return jobs.Job(
        id=None,
        queue=QUEUE,
        task_name=TASK_NAME,
        lock=lock,
        queueing_lock=lock,
        task_kwargs={"tenant": 1001, "producer": lock.split(":")[1], "timestamp": 0},
    )


@asynccontextmanager
async def queue(db: Database) -> AsyncIterator[App]:
    connector = PsycopgConnector(
        conninfo=db.url, kwargs={"options": f"-c search_path={QUEUE_SCHEMA}"}
    )
    app = App(connector=connector)
    async with app.open_async():
        yield app


async def taken_by_a_stopped_worker(app: App, lock: str) -> jobs.Job:
    """A job a worker took, that worker's heartbeat then an hour old."""
    manager = app.job_manager
    await manager.defer_job_async(job_for(lock))
    dead = await manager.register_worker()
    job = await manager.fetch_job(queues=[QUEUE], worker_id=dead)
    assert job is not None
    await app.connector.execute_query_async(
        query="UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
        " WHERE id = %(id)s",
        id=dead,
    )
    return job


def held(db: Database) -> list[tuple[int, str, int | None, int]]:
    """Every job: id, status, the worker holding it, attempts."""
    with db.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, status::text, worker_id, attempts FROM nexus.procrastinate_jobs ORDER BY id"
        ).fetchall()
    return [tuple(r) for r in rows]


def test_a_stalled_job_goes_back_in_the_queue_once(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[int, int]:
        async with queue(db) as app:
            await taken_by_a_stopped_worker(app, "1001:job_sync")
            return await recover_stalled(app, STALLED_AFTER), await recover_stalled(
                app, STALLED_AFTER
            )

    with caplog.at_level(logging.WARNING, logger="nexus.scheduling"):
        first, second = asyncio.run(scenario())
    assert (first, second) == (1, 0)
    [(_, status, _, attempts)] = held(db)
    assert (status, attempts) == ("todo", 1)
    assert [r.getMessage().rsplit("; ", 1)[1] for r in caplog.records] == [
        "it is back in the queue"
    ]


def test_a_late_recovery_leaves_the_job_with_the_live_worker_that_took_it_again(
    db: Database,
) -> None:
    async def scenario() -> tuple[str | None, int]:
        async with queue(db) as app:
            await taken_by_a_stopped_worker(app, "1001:job_sync")
            # Worker C lists the stalled jobs, then worker B recovers and takes the job.
            [seen] = await app.job_manager.get_stalled_jobs(
                task_name=TASK_NAME, seconds_since_heartbeat=STALLED_AFTER
            )
            assert await recover_stalled(app, STALLED_AFTER) == 1
            live = await app.job_manager.register_worker()
            again = await app.job_manager.fetch_job(queues=[QUEUE], worker_id=live)
            assert again is not None and again.id == seen.id
            # Only now does C act on what it saw.
            return await recover_job(app, seen), live

    recovered, live = asyncio.run(scenario())
    assert recovered is None
    [(_, status, worker, _)] = held(db)
    assert (status, worker) == ("doing", live)


def test_a_stalled_job_with_the_next_slot_waiting_is_failed_and_the_waiting_one_stays(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with queue(db) as app:
            await taken_by_a_stopped_worker(app, "1001:job_sync")
            await app.job_manager.defer_job_async(job_for("1001:job_sync"))
            assert await recover_stalled(app, STALLED_AFTER) == 1

    with caplog.at_level(logging.WARNING, logger="nexus.scheduling"):
        asyncio.run(scenario())
    assert [status for _, status, _, _ in held(db)] == ["failed", "todo"]
    [record] = caplog.records
    assert "closed as failed: the next slot's job, already waiting" in record.getMessage()
    assert "back in the queue" not in record.getMessage()


def test_a_stalled_job_whose_abort_was_asked_is_failed_and_says_so(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """procrastinate's retry fails a job with an abort asked instead of queueing it; the
    log must not say it is back in the queue."""

    async def scenario() -> None:
        async with queue(db) as app:
            job = await taken_by_a_stopped_worker(app, "1001:job_sync")
            assert job.id is not None
            assert await app.job_manager.cancel_job_by_id_async(job.id, abort=True)
            assert await recover_stalled(app, STALLED_AFTER) == 1

    with caplog.at_level(logging.WARNING, logger="nexus.scheduling"):
        asyncio.run(scenario())
    [(_, status, _, attempts)] = held(db)
    assert (status, attempts) == ("failed", 0)
    [record] = caplog.records
    assert record.getMessage().endswith("it is closed as failed: an abort had been asked for it")
