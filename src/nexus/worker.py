"""`nexus worker`: run the producers periodically on procrastinate, many workers on one database.

Every worker process runs two things against the Nexus database:

- a procrastinate worker with one task, `nexus.run_producer(tenant, producer,
  timestamp)`, which looks the producer's kind up in `PRODUCER_KINDS` (and the
  notifier, `nexus.notify.producer`) and runs it (a sync producer runs
  `Syncer.run` for its feed, the notifier sends what the proof makes due);
- the deferrer (`scheduling.run_scheduler`), which offers each (tenant,
  producer) one job per slot of its interval.

Locks, from outermost: each job carries `queueing_lock = "<tenant>:<producer>"`
(procrastinate refuses a second waiting job) and `lock = "<tenant>:<producer>"`
(procrastinate runs jobs sharing a lock one at a time; `job_sync` and
`invoice_sync` share one, see `scheduling.LOCK_GROUPS`); the run itself takes
the ledger's advisory lock (`producer_lock`), the last word: a run that finds
it held elsewhere is skipped, not failed.

A worker that dies (SIGKILL, a lost machine) stops heart-beating; after
`stalled_after` seconds any live worker puts its jobs back in the queue. The
run it left `running` in `nexus.runs` is marked abandoned by the next run,
which resumes from the feed's saved token: pages are whole transactions, so
nothing is half-written and nothing is lost.

Shutdown: the first SIGTERM or SIGINT stops taking jobs and lets the runs in
progress finish; the second abandons them at their next page boundary (the
run is marked `abandoned` and its job goes back in the queue for another
worker); a third ends the process at once, which is still safe.

Failures are retried per `scheduling.RetryPolicy`; every attempt is a run in
`nexus.runs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import signal
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from packaging.version import Version
from procrastinate import App, JobContext, PsycopgConnector, exceptions
from procrastinate.schema import SchemaManager
from psycopg import sql
from psycopg_pool import PoolTimeout
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_never, wait_none

from nexus import times
from nexus.clock import Clock
from nexus.errors import (
    DatabaseError,
    DatabaseUnavailable,
    NexusError,
    RetriableDatabaseError,
    SchemaOutOfDate,
)
from nexus.job_outcomes import PatientJobManager
from nexus.notify.producer import channels_from, with_notifier
from nexus.registry.config import SOURCE_CHECK_EVERY, Config
from nexus.scheduling import (
    QUEUE,
    TASK_NAME,
    Abandoned,
    RetryPolicy,
    Scheduled,
    plan,
    run_scheduler,
    time_scale,
)
from nexus.settings import Settings
from nexus.store.clock import DatabaseClock
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.store.errors import translated
from nexus.sync.feed_sync import ExportSource, Syncer
from nexus.sync.producer_kinds import PRODUCER_KINDS, ProducerRun, ProducerTask
from nexus.sync.recorded_run import ProducerBusy, describe_error
from nexus.tenants import client_for, require_credentials, tenant_ids

log = logging.getLogger(__name__)

#: procrastinate's tables and functions live in the Nexus schema, next to the run ledger.
QUEUE_SCHEMA = "nexus"
DEFAULT_CONCURRENCY = 4
#: Real seconds between worker heartbeats, and without one before a worker counts as dead.
HEARTBEAT_S = 10.0
STALLED_AFTER_S = 30.0
# Serialises upgrades of the queue schema by several processes.
_QUEUE_SCHEMA_LOCK = 0x6E657876


class ClosableSource(ExportSource, Protocol):
    """A ServiceTitan client the worker can close when it is done with it."""

    def close(self) -> None: ...


#: Build a client for a tenant (the default reads `nexus.tenants` credentials).
ClientFactory = Callable[[int], ClosableSource]


# -- producers ---------------------------------------------------------------


class SyncerPool:
    """One ServiceTitan client per tenant, and Syncers kept between runs.

    Runs of one tenant may go on at once in several threads (different
    producers): they share the tenant's client (one token, one rate limit;
    the client is thread-safe) and each leases a Syncer (two database
    connections) of its own. At most `keep` idle Syncers are kept; each checks
    feeds against ServiceTitan every `source_check_every`, and names moments in
    its tenant's zone (`zone_of`).
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        clients: ClientFactory,
        keep: int,
        source_check_every: timedelta = SOURCE_CHECK_EVERY,
        zone_of: Callable[[int], ZoneInfo] = lambda _tenant: times.UTC,
    ) -> None:
        self._db = db
        self._clock = clock
        self._source_check_every = source_check_every
        self._zone_of = zone_of
        self._factory = clients
        self._keep = keep
        self._clients: dict[int, ClosableSource] = {}
        self._idle: dict[int, list[Syncer]] = defaultdict(list)
        self._lock = threading.Lock()

    def client(self, tenant: int) -> ClosableSource:
        """The tenant's client, made on first use."""
        with self._lock:
            if tenant not in self._clients:
                self._clients[tenant] = self._factory(tenant)
            return self._clients[tenant]

    @contextlib.contextmanager
    def lease(self, tenant: int) -> Iterator[Syncer]:
        """A Syncer for `tenant`; back to the pool afterwards unless the run broke."""
        with self._lock:
            syncer = self._idle[tenant].pop() if self._idle[tenant] else None
        if syncer is None:
            syncer = Syncer(
                self._db,
                self.client(tenant),
                tenant,
                self._clock,
                source_check_every=self._source_check_every,
                zone=self._zone_of(tenant),
            )
        reusable = False
        try:
            yield syncer
            reusable = True
        except ProducerBusy:
            reusable = True  # nothing was touched
            raise
        finally:
            with self._lock:
                pooled = reusable and sum(map(len, self._idle.values())) < self._keep
                if pooled:
                    self._idle[tenant].append(syncer)
            if not pooled:
                _close(syncer)

    def close(self) -> None:
        """Close every idle Syncer and every client (call when no run is going on)."""
        with self._lock:
            items: list[Syncer | ClosableSource] = [s for idle in self._idle.values() for s in idle]
            items += self._clients.values()
            self._idle.clear()
            self._clients.clear()
        for item in items:
            _close(item)


def _close(item: Syncer | ClosableSource) -> None:
    with contextlib.suppress(Exception):
        item.close()


class _Runtime:
    """What the task needs in the worker's threads."""

    def __init__(
        self,
        db: Database,
        config: Config,
        clock: Clock,
        syncers: SyncerPool,
        kinds: Mapping[str, ProducerTask],
    ) -> None:
        self.db = db
        self.kinds = kinds
        self.config = config
        self.clock = clock
        self.syncers = syncers
        #: set by the second stop signal: runs stop at their next page boundary
        self.abandon = threading.Event()

    def run(self, tenant: int, producer: str, should_abort: Callable[[], bool]) -> str:
        config = self.config.producers.get(producer)
        if config is None or not config.enabled or not config.run_by_nexus:
            log.warning(
                "tenant %s: %s is not a producer this configuration runs; job skipped",
                tenant,
                producer,
            )
            return "skipped: not configured"
        task = self.kinds.get(config.kind)
        if task is None:
            log.warning(
                "tenant %s: %s (kind %s) has no implementation", tenant, producer, config.kind
            )
            return "skipped: no implementation"

        def checkpoint() -> None:
            if self.abandon.is_set():
                raise Abandoned(tenant, producer, "the worker was told to stop twice")
            if should_abort():
                raise Abandoned(tenant, producer, "an abort was requested", by_user=True)

        if config.path is not None:
            # Paths in nexus.toml are relative to the file, not to the worker's folder.
            config = config.model_copy(update={"path": self.config.resolve_path(config.path)})
        run = ProducerRun(
            tenant,
            producer,
            config,
            self.db,
            self.clock,
            syncer=lambda: self.syncers.lease(tenant),
            checkpoint=checkpoint,
            feeds=self.config.feeds_of(producer),
            mirrored=self.config.enabled_feeds,
            reconcile=self.config.reconcile,
        )
        try:
            task(run)
        except ProducerBusy as exc:
            log.info("%s", exc)
            return "skipped: busy"
        except Abandoned as exc:
            self._mark_abandoned(tenant, producer, exc)
            log.warning("%s", exc)
            if exc.by_user:
                raise exceptions.JobAborted(str(exc)) from exc
            raise
        return "done"

    def _mark_abandoned(self, tenant: int, producer: str, exc: Abandoned) -> None:
        """The run recorded itself as failed; say it was abandoned, which is not a failure."""
        try:
            with self.db.connect(autocommit=True) as conn:
                conn.execute(
                    "UPDATE nexus.runs SET status = 'abandoned' WHERE id = ("
                    " SELECT max(id) FROM nexus.runs WHERE tenant_id = %s AND producer = %s)"
                    " AND status = 'failed' AND error = %s",
                    (tenant, producer, describe_error(exc)),
                )
        except NexusError as error:
            log.warning("could not mark the abandoned run in the ledger: %s", error)


# -- the task engine ---------------------------------------------------------


def connector_for(db: Database, max_size: int = 8) -> PsycopgConnector:
    """A procrastinate connector on the Nexus database, with its objects on the search path."""
    return PsycopgConnector(
        conninfo=db.url,
        kwargs={"options": f"-c search_path={QUEUE_SCHEMA}"},
        min_size=2,
        max_size=max_size,
    )


def _build_app(db: Database, runtime: _Runtime, policy: RetryPolicy, max_size: int = 8) -> App:
    """The procrastinate app with the one task, `nexus.run_producer`."""
    app = App(connector=connector_for(db, max_size))
    # A job's outcome written while the database is away would leave the job `doing` for good.
    app.job_manager = PatientJobManager(app.connector, wait_s=db.patience.wait_s)

    @app.task(name=TASK_NAME, queue=QUEUE, pass_context=True, retry=policy)
    def run_producer(context: JobContext, tenant: int, producer: str, timestamp: int) -> str:
        """Run `producer` for `tenant` for the slot starting at `timestamp` (epoch seconds)."""
        return runtime.run(tenant, producer, context.should_abort)

    return app


def _queued(db: Database) -> Callable[[str], bool]:
    def queued(queueing_lock: str) -> bool:
        try:
            with db.connect(autocommit=True) as conn:
                row = conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM nexus.procrastinate_jobs"
                    " WHERE queueing_lock = %s AND status = 'todo')",
                    (queueing_lock,),
                ).fetchone()
        except NexusError:
            return False
        return bool(row and row[0])

    return queued


@dataclass(frozen=True)
class _Options:
    concurrency: int
    tick: float
    heartbeat: float
    stalled_after: float
    graceful_timeout: float | None
    install_signal_handlers: bool
    name: str


class _Shutdown:
    """First request: finish the runs in progress. Second: abandon them. Third: default action."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, abandon: threading.Event, graceful: float | None
    ) -> None:
        self.loop = loop
        self.abandon = abandon
        self.graceful = graceful
        self.stop = asyncio.Event()
        self.requests = 0

    def request(self, why: str) -> None:
        self.requests += 1
        if self.requests == 1:
            log.info(
                "%s: finishing the runs in progress, then stopping "
                "(send it again to abandon them at their next page)",
                why,
            )
            self.stop.set()
            if self.graceful is not None:
                self.loop.call_later(
                    self.graceful, self.abandon_runs, f"runs still going after {self.graceful} s"
                )
        elif self.requests == 2:
            self.abandon_runs(f"{why} again")
            _default_signals(self.loop)

    def abandon_runs(self, why: str) -> None:
        if not self.abandon.is_set():
            log.warning(
                "%s: abandoning the runs in progress at their next page boundary "
                "(a third signal ends the process at once)",
                why,
            )
            self.abandon.set()


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _signal_handlers(
    loop: asyncio.AbstractEventLoop, shutdown: _Shutdown, enabled: bool
) -> Iterator[None]:
    if not enabled or threading.current_thread() is not threading.main_thread():
        # Signals reach only the main thread; embedders stop the worker with `stop_event`.
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, shutdown.request, sig.name)
    try:
        yield
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])


def _default_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Let the next signal end the process the default way."""
    for sig in _SIGNALS:
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_DFL)


async def _watch(event: threading.Event, shutdown: _Shutdown) -> None:
    while not event.is_set():
        await asyncio.sleep(0.1)
    shutdown.request("stop requested")


async def _serve(
    app: App,
    runtime: _Runtime,
    schedule: list[Scheduled],
    options: _Options,
    stop_event: threading.Event | None,
) -> None:
    loop = asyncio.get_running_loop()
    shutdown = _Shutdown(loop, runtime.abandon, options.graceful_timeout)
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE],
                name=options.name,
                concurrency=options.concurrency,
                fetch_job_polling_interval=options.tick,
                update_heartbeat_interval=options.heartbeat,
                stalled_worker_timeout=options.stalled_after,
                delete_jobs="successful",
                install_signal_handlers=False,
            ),
            name="procrastinate worker",
        )
        scheduler = asyncio.create_task(
            run_scheduler(
                app,
                runtime.clock,
                schedule,
                tick=options.tick,
                stalled_after=options.stalled_after,
                stop=shutdown.stop,
            ),
            name="scheduler",
        )
        watcher = asyncio.create_task(_watch(stop_event, shutdown)) if stop_event else None
        stopping = asyncio.create_task(shutdown.stop.wait())
        with _signal_handlers(loop, shutdown, options.install_signal_handlers):
            await asyncio.wait({worker, scheduler, stopping}, return_when=asyncio.FIRST_COMPLETED)
            shutdown.stop.set()
            for task in (worker, watcher, stopping):
                if task is not None and not task.done():
                    task.cancel()
            results = await asyncio.gather(worker, scheduler, return_exceptions=True)
        if watcher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    for result in results:
        if isinstance(result, Exception):
            raise result
    if not shutdown.requests:
        # procrastinate stops its worker when a side task (heartbeat, listener) loses the
        # database; anything else would have raised.
        raise DatabaseUnavailable("the task queue stopped: it lost the database (see the log)")
    log.info("worker %s stopped", options.name)


class QueueLost(NexusError):
    """The task queue lost the database while serving; it serves again once it is back."""


#: What the task queue raises when it loses the database: procrastinate's own errors,
#: psycopg's through `translated`, and the pool's when no connection comes.
_QUEUE_ERRORS = (exceptions.ConnectorException, RetriableDatabaseError, PoolTimeout)


def _serve_until_stopped(
    db: Database,
    app: App,
    runtime: _Runtime,
    schedule: list[Scheduled],
    options: _Options,
    stop_event: threading.Event | None,
) -> None:
    """Serve until stopped; each time the task queue loses the database, wait and serve again.

    Runs in progress go on in their threads and wait for the database themselves
    (`Database.patience`); a job whose outcome could not be written stays `doing`
    until the stalled-job recovery puts it back in the queue. Each outage is waited
    for up to NEXUS_DATABASE_RETRY_S; a longer one ends the worker with that error.
    """
    what = f"worker {options.name}: the task queue"

    def serve() -> None:
        db.patience.run(what, lambda: ensure_worker_schema(db, upgrade=db.auto_upgrade))
        try:
            with translated():  # procrastinate's own connections raise psycopg's errors
                asyncio.run(_serve(app, runtime, schedule, options, stop_event))
        except _QUEUE_ERRORS as exc:
            raise QueueLost(f"{what} lost the database at {db.safe_url}: {exc}") from exc

    def reconnecting(state: RetryCallState) -> None:
        assert state.outcome is not None
        log.warning("%s; serving again once the database answers", state.outcome.exception())

    Retrying(
        retry=retry_if_exception_type(QueueLost),
        stop=stop_never,
        wait=wait_none(),  # the next serve waits for the database itself
        before_sleep=reconnecting,
        reraise=True,
    )(serve)


def run_worker(
    settings: Settings,
    config: Config,
    *,
    clock: Clock | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop_event: threading.Event | None = None,
    client_factory: ClientFactory | None = None,
    tick: float | None = None,
    heartbeat: float = HEARTBEAT_S,
    stalled_after: float = STALLED_AFTER_S,
    graceful_timeout: float | None = None,
    install_signal_handlers: bool = True,
    name: str | None = None,
) -> None:
    """Run the producers of every tenant periodically until stopped (the core of `nexus worker`).

    - `clock`: the time schedules and the ledger use; a `ScaledClock` makes time run
      faster (its scale also shortens retry backoff and polling). Default: the
      database server's clock, read afresh for every run and scheduler pass.
    - `concurrency`: runs at once in this process (each in a thread of its own).
    - `stop_event`: setting it is a first stop request (finish runs, then return).
    - `client_factory(tenant)`: the ServiceTitan client to use; default from
      `NEXUS_ST_*` variables (`nexus.tenants`), all checked before starting.
    - `tick`: real seconds between scheduler passes and queue polls (default: 5 s,
      less under a fast clock). `heartbeat`/`stalled_after`: real seconds between
      heartbeats and of silence before a worker's jobs are given to others.
    - `graceful_timeout`: after a first stop request, abandon runs still going after
      this many seconds (default: wait for them).
    - `install_signal_handlers`: handle SIGTERM/SIGINT (done only in the main thread).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    db = Database.from_settings(settings)
    clock = clock or DatabaseClock(db)
    scale = time_scale(clock)
    tenants = tenant_ids(config, settings)
    clients = client_factory or _default_clients(settings, tenants)
    kinds = with_notifier(PRODUCER_KINDS, config, channels_from(settings.notify_urls))
    schedule = plan(config, tenants, kinds)
    if not schedule:
        log.warning("no producer to run: every producer is disabled, external or unimplemented")
    options = _Options(
        concurrency=concurrency,
        tick=tick if tick is not None else max(0.1, min(5.0, 30.0 / scale)),
        heartbeat=heartbeat,
        stalled_after=stalled_after,
        graceful_timeout=graceful_timeout,
        install_signal_handlers=install_signal_handlers,
        name=name or f"nexus@{socket.gethostname()}:{os.getpid()}",
    )
    syncers = SyncerPool(
        db,
        clock,
        clients,
        keep=concurrency,
        source_check_every=config.mirror.source_check_every,
        zone_of=config.zone,
    )
    runtime = _Runtime(db, config, clock, syncers, kinds)
    app = _build_app(db, runtime, RetryPolicy(scale=scale, queued=_queued(db)))
    log.info(
        "worker %s: %d producer runs scheduled for tenants %s, concurrency %d",
        options.name,
        len(schedule),
        ", ".join(str(t) for t in tenants),
        concurrency,
    )
    try:
        _serve_until_stopped(db, app, runtime, schedule, options, stop_event)
    finally:
        syncers.close()


def _default_clients(settings: Settings, tenants: list[int]) -> ClientFactory:
    credentials = require_credentials(tenants, settings)  # every problem at once, up front

    def make(tenant: int) -> ClosableSource:
        return client_for(settings, credentials[tenant])

    return make


# -- the queue's schema --------------------------------------------------------


def procrastinate_version() -> tuple[int, ...]:
    """The installed procrastinate's version, e.g. (3, 10, 0)."""
    return Version(importlib.metadata.version("procrastinate")).release[:3]


def _comment(version: tuple[int, ...]) -> sql.Composed:
    text = "procrastinate " + ".".join(str(v) for v in version)
    return sql.SQL("COMMENT ON TABLE {}.procrastinate_jobs IS {}").format(
        sql.Identifier(QUEUE_SCHEMA), sql.Literal(text)
    )


@contextlib.contextmanager
def _queue_search_path(conn: Connection) -> Iterator[None]:
    """Put the queue schema on the search path for this transaction.

    procrastinate's SQL names its objects without a schema.
    """
    row = conn.execute("SELECT current_setting('search_path')").fetchone()
    assert row is not None
    conn.execute("SELECT set_config('search_path', %s, true)", (QUEUE_SCHEMA,))
    try:
        yield
    finally:
        conn.execute("SELECT set_config('search_path', %s, true)", (row[0],))


def queue_schema_version(conn: Connection) -> tuple[int, ...] | None:
    """The procrastinate version the database's queue schema is at; None if it has none."""
    row = conn.execute(
        "SELECT obj_description(to_regclass(%s), 'pg_class')",
        (f"{QUEUE_SCHEMA}.procrastinate_jobs",),
    ).fetchone()
    comment = row[0] if row else None
    if not comment or not comment.startswith("procrastinate "):
        return None
    return Version(comment.removeprefix("procrastinate ")).release[:3]


def pending_queue_migrations(
    current: tuple[int, ...], target: tuple[int, ...], directory: Path | None = None
) -> list[Path]:
    """procrastinate's migration files that take a schema from `current` to `target`, in order.

    Files are named by the version they lead to: `03.04.00_01_pre_add_….sql`.
    """
    folder = directory or Path(SchemaManager.get_migrations_path())
    pending: list[tuple[tuple[int, ...], str, Path]] = []
    for path in folder.glob("*.sql"):
        version = tuple(int(part) for part in path.name.split("_", 1)[0].split("."))
        if current < version <= target:
            pending.append((version, path.name, path))
    return [path for _, _, path in sorted(pending)]


def ensure_worker_schema(db: Database, *, upgrade: bool = True) -> None:
    """Make sure the database has everything the worker needs, upgrading the queue if allowed.

    The Nexus schema comes first (`Database.ensure_schema`, whose migration 0003
    installs the queue as of procrastinate 3.10.0); then, if the installed
    procrastinate is newer, its own migrations are applied. Call it from
    `nexus db upgrade` after `Database.upgrade`.
    """
    with db.connect():
        pass  # an unreachable database fails here, with Nexus's message rather than a driver's
    db.ensure_schema()
    target = procrastinate_version()
    with db.connect() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_QUEUE_SCHEMA_LOCK,))
        current = queue_schema_version(conn)
        if current is None:
            raise DatabaseError(
                f"the database at {db.safe_url} has no task queue (procrastinate) tables: "
                "run `nexus db upgrade`"
            )
        if current == target:
            return
        shown = ".".join(map(str, current)), ".".join(map(str, target))
        if current > target:
            raise SchemaOutOfDate(
                f"the database's task queue is at procrastinate {shown[0]}, newer than the "
                f"installed {shown[1]}: upgrade this Nexus installation to match the others"
            )
        if not upgrade:
            raise SchemaOutOfDate(
                f"the database's task queue is at procrastinate {shown[0]} but this Nexus "
                f"needs {shown[1]}: run `nexus db upgrade`"
            )
        with _queue_search_path(conn):
            for path in pending_queue_migrations(current, target):
                conn.execute(path.read_bytes())
            conn.execute(_comment(target))
        log.info("task queue schema upgraded from procrastinate %s to %s", *shown)
