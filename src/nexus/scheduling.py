"""When producers run: slots on a fixed grid, the deferrer, scaled time, the retry policy.

A producer with `every = 15m` owns the slots :00, :15, :30 and :45 (UTC); in
general slot *k* starts at the Unix epoch plus *k* × `every`, so every worker
on every machine computes the same slots without talking to the others. The
deferrer (`run_scheduler`, in every worker) offers each (tenant, producer) its
current slot through procrastinate's periodic-defer table, which accepts a
slot once however many workers offer it, and offers nothing while a job of
that (tenant, producer) is still queued or running: a slow run delays the next
one instead of stacking it. Slots missed while no worker ran are not replayed —
the current slot runs, once. Any duration works, not only what cron can say.

Time comes from a `Clock`. `ScaledClock` runs `scale` times as fast as the
wall clock from an origin shared by several processes, so a test or a demo
lives through a simulated hour in a minute, and every process agrees on what
time it is. Waits the task engine measures in real seconds (retry backoff,
polling) are divided by the scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from procrastinate import App, exceptions, jobs
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from nexus.clock import Clock, SourcedClock
from nexus.errors import BadRecordError, ConfigError, DatabaseError, FatalDatabaseError, NexusError
from nexus.registry.config import Config
from nexus.servicetitan.errors import FatalAPIError
from nexus.store.errors import translated

log = logging.getLogger(__name__)

TASK_NAME = "nexus.run_producer"
QUEUE = "producers"
#: Finished (failed, aborted) jobs stay in the queue's tables this long, for inspection.
KEEP_FINISHED_JOBS_H = 7 * 24
CLEANUP_EVERY_S = 3600.0

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Retries after a failed run, so at most 1 + RETRIES attempts per slot.
RETRIES = 3
#: Backoff before retry n (n = 1, 2, 3): BACKOFF × 2^(n-1), at most BACKOFF_MAX (virtual time).
BACKOFF = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=10)


class ScaledClock:
    """Virtual time that runs `scale` times as fast as the wall clock.

    `virtual_origin` is the virtual time at wall-clock instant `real_origin`
    (seconds since the epoch, as `time.time()`); processes given the same
    three values agree on the time to the microsecond.
    """

    def __init__(
        self,
        scale: float,
        virtual_origin: datetime,
        real_origin: float | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if virtual_origin.tzinfo is None:
            raise ValueError(f"naive datetime {virtual_origin!r}: give a timezone (UTC)")
        self.scale = scale
        self.virtual_origin = virtual_origin.astimezone(UTC)
        self.real_origin = wall() if real_origin is None else real_origin
        self._wall = wall

    def now(self) -> datetime:
        elapsed = (self._wall() - self.real_origin) * self.scale
        return self.virtual_origin + timedelta(seconds=elapsed)

    def real_seconds(self, virtual: timedelta) -> float:
        """How many wall-clock seconds a virtual duration takes."""
        return virtual.total_seconds() / self.scale


def time_scale(clock: Clock) -> float:
    """Virtual seconds per real second: a `ScaledClock`'s scale, else 1."""
    return clock.scale if isinstance(clock, ScaledClock) else 1.0


def slot_start(now: datetime, every: timedelta) -> datetime:
    """The start of the slot of length `every` that contains `now`."""
    return EPOCH + every * ((now - EPOCH) // every)


def slot_key(now: datetime, every: timedelta) -> int:
    """The current slot's start in whole seconds since the epoch: the job's `timestamp`."""
    return int((slot_start(now, every) - EPOCH).total_seconds())


#: Producers of one tenant that must not run at the same time would share a lock here.
#: None need to: job and invoice page loads, which derive `titan.jobs.invoice_total`
#: from each other, already take turns page by page inside the loader
#: (`nexus.store.loader.derivation_lock`), which also covers `nexus sync` and
#: webhook refreshes running beside a worker.
LOCK_GROUPS: dict[str, str] = {}


@dataclass(frozen=True)
class Scheduled:
    """One producer of one tenant, run every `every`."""

    tenant: int
    producer: str
    kind: str
    every: timedelta

    @property
    def lock(self) -> str:
        """The procrastinate lock: jobs sharing it run one at a time."""
        return f"{self.tenant}:{LOCK_GROUPS.get(self.producer, self.producer)}"

    @property
    def queueing_lock(self) -> str:
        """The procrastinate queueing lock: at most one waiting job per (tenant, producer)."""
        return f"{self.tenant}:{self.producer}"


def plan(config: Config, tenants: Iterable[int], implemented: Collection[str]) -> list[Scheduled]:
    """Every (tenant, producer) the worker runs; say once why the others are left out."""
    runnable: list[str] = []
    for name, producer in config.producers.items():
        if not producer.enabled:
            log.info("producer %s is disabled in the configuration: not scheduled", name)
        elif not producer.run_by_nexus:
            log.info("producer %s is external: Nexus watches it but never runs it", name)
        elif producer.kind not in implemented:
            log.warning(
                "producer %s (kind %s) has no implementation in this Nexus yet: not scheduled",
                name,
                producer.kind,
            )
        else:
            runnable.append(name)
    return [
        Scheduled(tenant, name, config.producers[name].kind, config.producers[name].every)
        for tenant in tenants
        for name in runnable
    ]


class Abandoned(NexusError):
    """A run stopped at a page boundary because the worker is shutting down (or was told to).

    Not a failure of the producer: every page before was applied whole, and
    the next run resumes from the saved token.
    """

    def __init__(self, tenant: int, producer: str, why: str, *, by_user: bool = False) -> None:
        self.by_user = by_user
        super().__init__(
            f"tenant {tenant}: {producer} was abandoned at a page boundary ({why}); every "
            "page before was applied whole and the next run resumes from the saved token"
        )


#: Failures a retry cannot fix: fix the cause (the message names it); the next slot tries again.
NOT_RETRIED: tuple[type[BaseException], ...] = (
    FatalAPIError,
    FatalDatabaseError,
    BadRecordError,
    ConfigError,
)


class RetryPolicy(BaseRetryStrategy):
    """Retry a failed run up to RETRIES times with exponential backoff, unless pointless.

    - `Abandoned` (shutdown): put back in the queue at once, for another worker.
    - `NOT_RETRIED` (credentials refused, other 4xx, a statement the database refused,
      a bad record, bad configuration): no retry — retrying will not help, and the
      next slot runs anyway.
    - anything else (ST 429/5xx/timeouts after the client's own retries, a lost
      database connection, the unexpected): retried after 30 s, 1 min, 2 min of virtual time.
    - no retry when the next slot's job is already queued: that job is the retry.

    Every attempt is a run in `nexus.runs`.
    """

    def __init__(self, *, scale: float = 1.0, queued: Callable[[str], bool] | None = None) -> None:
        self.scale = scale
        self.queued = queued

    def backoff(self, attempts: int) -> timedelta:
        """The virtual wait before the retry that follows `attempts` earlier attempts."""
        return min(BACKOFF * (1 << min(attempts, 20)), BACKOFF_MAX)

    def get_retry_decision(
        self, *, exception: BaseException, job: jobs.Job
    ) -> RetryDecision | None:
        if isinstance(exception, Abandoned):
            return None if exception.by_user else RetryDecision(retry_in={"milliseconds": 0})
        if isinstance(exception, NOT_RETRIED) or job.attempts >= RETRIES:
            return None
        if job.queueing_lock and self.queued is not None and self.queued(job.queueing_lock):
            # Putting this job back would make two waiting jobs for one producer.
            return None
        wait_ms = int(self.backoff(job.attempts).total_seconds() * 1000 / self.scale)
        return RetryDecision(retry_in={"milliseconds": wait_ms})


# -- the deferrer ------------------------------------------------------------
# Runs in every worker. Offering a slot twice is harmless: procrastinate's
# periodic-defer table accepts each (producer, slot) once.

_BUSY = (
    "SELECT count(*) AS n FROM procrastinate_jobs"
    " WHERE queueing_lock = %(queueing_lock)s AND status IN ('todo', 'doing')"
)


async def defer_slot(app: App, item: Scheduled, key: int) -> str:
    """Offer the job of one slot: `deferred`, `taken` (another worker did) or `busy` (wait)."""
    busy = await app.connector.execute_query_one_async(
        query=_BUSY, queueing_lock=item.queueing_lock
    )
    if busy["n"]:
        return "busy"
    job = jobs.Job(
        id=None,
        queue=QUEUE,
        lock=item.lock,
        queueing_lock=item.queueing_lock,
        task_name=TASK_NAME,
        task_kwargs={"tenant": item.tenant, "producer": item.producer, "timestamp": key},
    )
    try:
        job_id = await app.job_manager.defer_periodic_job(
            job, periodic_id=item.queueing_lock, defer_timestamp=key
        )
    except exceptions.AlreadyEnqueued:
        return "busy"
    return "deferred" if job_id else "taken"


#: A stalled job, put back in the queue or failed only while the stopped worker still holds
#: it. Two workers may find the same stalled job; by the second's turn the first may have
#: put it back and a live worker taken it again, and procrastinate's own retry would put
#: that running job back once more: it then ran twice at once, and the copy that found the
#: producer busy finished the job under the run still going.
#: Each query answers whether an abort had been asked for the job (the row is locked, so
#: the answer cannot change before the job is recovered): procrastinate's retry then
#: fails the job instead of queueing it.
_HELD_BY = """
WITH held AS (
    SELECT id, abort_requested FROM procrastinate_jobs
     WHERE id = %(job_id)s AND status = 'doing' AND worker_id IS NOT DISTINCT FROM %(worker_id)s
       FOR UPDATE
)
"""
_RETRY_STALLED = (
    _HELD_BY
    + "SELECT abort_requested, procrastinate_retry_job_v2(id, now(), NULL, NULL, NULL) FROM held"
)
_FAIL_STALLED = (
    _HELD_BY + "SELECT abort_requested, procrastinate_finish_job_v1(id, 'failed', false) FROM held"
)

#: What became of a stalled job, as the worker's log tells it.
RECOVERED = {
    "requeued": "it is back in the queue",
    "superseded": "it is closed as failed: the next slot's job, already waiting, does its work",
    "aborted": "it is closed as failed: an abort had been asked for it",
}


async def recover_stalled(app: App, stalled_after: float) -> int:
    """Put back in the queue the jobs of workers that stopped heart-beating; return how many."""
    stalled = await app.job_manager.get_stalled_jobs(
        task_name=TASK_NAME, seconds_since_heartbeat=stalled_after
    )
    recovered = 0
    for job in stalled:
        outcome = await recover_job(app, job)
        if outcome is not None:
            recovered += 1
            log.warning(
                "job %s (%s) was left running by a worker that stopped answering; %s",
                job.id,
                job.queueing_lock,
                RECOVERED[outcome],
            )
    return recovered


async def recover_job(app: App, job: jobs.Job) -> str | None:
    """Put `job` back in the queue if the worker it was found stalled under still holds it,
    and say what became of it (a key of `RECOVERED`); None if another worker recovered it
    first (and may be running it again)."""
    held = {"job_id": job.id, "worker_id": job.worker_id}
    try:
        rows = await app.connector.execute_query_all_async(query=_RETRY_STALLED, **held)
        outcome = "requeued"
    except exceptions.UniqueViolation:
        # The next slot's job is already waiting: it will do this job's work.
        rows = await app.connector.execute_query_all_async(query=_FAIL_STALLED, **held)
        outcome = "superseded"
    if not rows:
        return None
    return "aborted" if rows[0]["abort_requested"] else outcome


async def run_scheduler(
    app: App,
    clock: Clock,
    schedule: list[Scheduled],
    *,
    tick: float,
    stalled_after: float,
    stop: asyncio.Event,
) -> None:
    """Offer each producer's current slot, and recover stalled jobs, every `tick` s until `stop`.

    Retired producers (`nexus producers retire`) are not offered; a job queued
    before the retirement still runs once.
    """
    offered: dict[Scheduled, int] = {}
    retired_logged: set[str] = set()
    loop = asyncio.get_running_loop()
    # A database clock is read on a thread of its own: the default executor's threads
    # may all be busy running producers.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nexus-clock") as reader:
        next_recovery = next_cleanup = 0.0
        while not stop.is_set():
            try:
                with translated():  # procrastinate's connections raise psycopg's errors
                    now = await _pass_time(clock, loop, reader)
                    due = [(s, slot_key(now, s.every)) for s in schedule]
                    due = [(s, key) for s, key in due if offered.get(s) != key]
                    if due:
                        rows = await app.connector.execute_query_all_async(
                            query="SELECT producer FROM nexus.retired_producers"
                        )
                        retired = {r["producer"] for r in rows}
                        for name in retired_logged - retired:
                            retired_logged.discard(name)
                        for item, key in due:
                            if item.producer in retired:
                                if item.producer not in retired_logged:
                                    log.info("producer %s is retired: not scheduled", item.producer)
                                    retired_logged.add(item.producer)
                                continue
                            outcome = await defer_slot(app, item, key)
                            if outcome != "busy":
                                offered[item] = key
                            if outcome == "deferred":
                                log.debug("deferred %s for slot %s", item.queueing_lock, key)
                    if loop.time() >= next_recovery:
                        await recover_stalled(app, stalled_after)
                        next_recovery = loop.time() + max(tick, stalled_after / 3)
                    if loop.time() >= next_cleanup:
                        # The ledger keeps the history; finished jobs are only the queue's.
                        await app.job_manager.delete_old_jobs(
                            nb_hours=KEEP_FINISHED_JOBS_H,
                            queue=QUEUE,
                            include_failed=True,
                            include_cancelled=True,
                            include_aborted=True,
                        )
                        next_cleanup = loop.time() + CLEANUP_EVERY_S
            except (exceptions.ConnectorException, DatabaseError, OSError) as exc:
                log.warning("scheduler: the database did not answer (%s); trying again", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)


async def _pass_time(
    clock: Clock, loop: asyncio.AbstractEventLoop, reader: ThreadPoolExecutor
) -> datetime:
    """The time of one scheduler pass: a sourced clock (the database's) is asked afresh."""
    if isinstance(clock, SourcedClock):
        return await loop.run_in_executor(reader, clock.read)
    return clock.now()
