"""A job's outcome reaches the task queue even when the database is away at that moment.

procrastinate writes a job's outcome (finished, or back in the queue for a retry)
once, when the task returns. If the database is restarting or refusing
connections at that moment, the write fails, the error is only logged, and the
job stays `doing` under a worker that is alive and heart-beating. The
stalled-job recovery never takes it back (its worker is not stalled), and every
later job with the same lock waits for it: the producer stops running for good
while the worker looks healthy.

`PatientJobManager` writes the outcome again until the database answers, for up
to `wait_s` seconds (NEXUS_DATABASE_RETRY_S). Before each new attempt it reads
the job: if it is no longer `doing`, an earlier attempt reached the server
before its answer was lost (or another worker took the job back), and nothing
is written twice. Errors that are not a lost database (the job is not `doing`
on the first attempt, a unique violation) are raised at once, as procrastinate
raises them.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import time
from collections.abc import Awaitable, Callable

import psycopg
from procrastinate import exceptions, jobs
from procrastinate.connector import BaseConnector
from procrastinate.manager import JobManager

from nexus.errors import RetriableDatabaseError
from nexus.store.errors import database_error
from nexus.store.patience import DEFAULT_WAIT_S, FIRST_WAIT_S, MAX_WAIT_S

log = logging.getLogger(__name__)

_STATUS = "SELECT status FROM procrastinate_jobs WHERE id = %(job_id)s"


def lost_database(exc: exceptions.ConnectorException) -> bool:
    """Whether procrastinate's error is the database going away, not a refused statement."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.Error) and isinstance(
        database_error(cause), RetriableDatabaseError
    )


class PatientJobManager(JobManager):
    """procrastinate's job manager, whose outcome writes wait for the database."""

    def __init__(self, connector: BaseConnector, wait_s: float = DEFAULT_WAIT_S) -> None:
        super().__init__(connector)
        self.wait_s = wait_s

    async def finish_job(self, job: jobs.Job, status: jobs.Status, delete_job: bool) -> None:
        write = functools.partial(super().finish_job, job, status, delete_job)
        await self._write(job, f"its outcome ({status.value})", write)

    async def retry_job(
        self,
        job: jobs.Job,
        retry_at: datetime.datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        write = functools.partial(
            super().retry_job, job, retry_at=retry_at, priority=priority, queue=queue, lock=lock
        )
        await self._write(job, "its retry", write)

    async def _write(self, job: jobs.Job, what: str, write: Callable[[], Awaitable[None]]) -> None:
        deadline = time.monotonic() + self.wait_s
        pause = FIRST_WAIT_S
        attempt = 1
        while True:
            try:
                if attempt == 1 or await self._still_doing(job):
                    await write()
                return
            except exceptions.ConnectorException as exc:
                lost = lost_database(exc)
                if not lost or time.monotonic() + pause > deadline:
                    if lost:
                        log.error(
                            "job %s (%s): %s could not be written: the database stayed away "
                            "for %g s (NEXUS_DATABASE_RETRY_S); the job stays running until "
                            "this worker stops, then another worker takes it back",
                            job.id,
                            job.queueing_lock,
                            what,
                            self.wait_s,
                        )
                    raise
                log.warning(
                    "job %s (%s): %s could not be written (%s); trying again in %.1f s",
                    job.id,
                    job.queueing_lock,
                    what,
                    database_error(exc.__cause__),  # type: ignore[arg-type]
                    pause,
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_WAIT_S)
            attempt += 1

    async def _still_doing(self, job: jobs.Job) -> bool:
        """Whether the job still waits for its outcome (an earlier write may have landed)."""
        rows = await self.connector.execute_query_all_async(query=_STATUS, job_id=job.id)
        return any(row["status"] == jobs.Status.DOING.value for row in rows)
