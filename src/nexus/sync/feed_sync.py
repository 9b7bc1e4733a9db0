"""Sync export feeds into the mirror: the `job_sync`, `invoice_sync`, … producers.

A sync producer mirrors several feeds (its ServiceTitan module's, by default)
in one run. Each feed resumes from its own saved continuation token, loads
every page through the loader and saves the page's new token in the same
transaction as its rows. A run killed at any point therefore resumes exactly
where the last committed page of each feed left off: nothing lost, nothing
twice. Reference lists without an export (job types, payment types, …) are
reloaded whole on a backfill and then at most every `REFERENCE_EVERY`. Before
reading a feed, a run asks ServiceTitan for the feed's newest change when a
check is due, and records it once the feed has synced (`source_check`).

A feed's own trouble (a malformed record, a held batch, an endpoint the
tenant may not read) fails that feed and the run, but the run's other feeds
still sync; trouble of the whole tenant (credentials, ServiceTitan or the
database unreachable) stops the run at once. The run's ledger row records
what each feed read and changed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, Protocol
from zoneinfo import ZoneInfo

from nexus import collector, times
from nexus.catalog import Feed
from nexus.clock import Clock
from nexus.errors import BadRecordError, FatalDatabaseError
from nexus.registry.config import SOURCE_CHECK_EVERY
from nexus.registry.run_ledger import Run
from nexus.servicetitan.errors import AuthError, FatalAPIError
from nexus.servicetitan.pages import ExportPage
from nexus.store.connection import Connection, rolled_back
from nexus.store.database import Database
from nexus.store.guard import mark_sync_run, role_refused
from nexus.store.loader import Loader, LoadResult, flatten
from nexus.store.rows import TABLES
from nexus.store.suspicion import Suspicion, suspect
from nexus.sync.quarantine import FeedHeld, hold
from nexus.sync.recorded_run import describe_error, recorded_run
from nexus.sync.source_check import RunChecks, checks_due

log = logging.getLogger(__name__)


#: The largest batch one quarantine entry holds; a longer phantom run is held in parts.
MAX_HELD_RECORDS = 50_000

#: Reference lists change rarely and have no export feed; they are reloaded this often.
REFERENCE_EVERY = timedelta(hours=1)


class ExportSource(Protocol):
    """What sync needs from a ServiceTitan client."""

    def export_pages(self, feed: Feed, continue_from: str | None = None) -> Any: ...

    def reference_pages(self, feed: Feed) -> Any: ...

    def newest_change(self, feed: Feed) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Progress:
    """One step of a run, for progress bars: rows so far and, when known, the expected total."""

    feed: str
    rows: int
    pages: int
    expected: int | None
    done: bool


@dataclass(frozen=True)
class SyncResult:
    feed: str
    producer: str
    run_id: int
    pages: int
    rows_read: int
    rows_changed: int
    backfill: bool
    #: wall-clock seconds the feed took in this run (for people and benchmarks)
    seconds: float = 0.0


def save_token(conn: Connection, tenant: int, feed: str, token: str, now: Any) -> None:
    conn.execute(
        "INSERT INTO nexus.feeds (tenant_id, feed, token, pages, updated_at)"
        " VALUES (%s, %s, %s, 1, %s) ON CONFLICT (tenant_id, feed) DO UPDATE"
        " SET token = EXCLUDED.token, pages = nexus.feeds.pages + 1,"
        " updated_at = EXCLUDED.updated_at",
        (tenant, feed, token, now),
    )


#: A feed's saved token and when it last moved, by feed name (absent: never synced).
SavedTokens = dict[str, tuple[str | None, datetime]]


def reload_due(reloaded_at: datetime | None, now: datetime) -> bool:
    """Whether a run at `now` reloads a reference list last reloaded at `reloaded_at`: on its
    first load, then every REFERENCE_EVERY."""
    return reloaded_at is None or now - reloaded_at >= REFERENCE_EVERY


def saved_tokens(
    conn: Connection, tenant: int, feeds: Sequence[Feed]
) -> tuple[SavedTokens, dict[str, datetime | None]]:
    """Each feed's saved token and when it moved, and its last source check: one query.

    A feed absent from both has never synced. A run reads them once it holds its
    producer's lock, so no other run of the producer moves them meanwhile.
    """
    rows = conn.execute(
        "SELECT feed, token, updated_at, source_checked_at FROM nexus.feeds"
        " WHERE tenant_id = %s AND feed = ANY(%s)",
        (tenant, [f.name for f in feeds]),
    ).fetchall()
    saved = {name: (token, moved) for name, token, moved, _ in rows}
    checked = {name: checked for name, _, _, checked in rows}
    return saved, checked


class Syncer:
    """Runs sync producers for one tenant, reusing its two connections across runs.

    One connection (autocommit) holds the producer lock and writes the run
    ledger; the other loads pages, one transaction per page. A worker or a
    replay keeps a `Syncer` open for thousands of runs. The connections open
    with the first run, and open again when the database dropped them.
    `source_check_every` is `[mirror] source_check_every`: how often each feed
    is checked against ServiceTitan's newest change; `zone` is the tenant's, in
    which the reason a batch is held names its moments.
    """

    def __init__(
        self,
        db: Database,
        client: ExportSource,
        tenant: int,
        clock: Clock,
        *,
        source_check_every: timedelta = SOURCE_CHECK_EVERY,
        zone: ZoneInfo = times.UTC,
    ) -> None:
        self.db = db
        self.client = client
        self.tenant = tenant
        self.clock = clock
        self.source_check_every = source_check_every
        self.zone = zone
        self._pair: tuple[Connection, Connection] | None = None
        self._loaders: dict[str, Loader] = {}
        #: producers a run of which succeeded (a page of theirs is never a backfill again)
        self._succeeded: set[str] = set()

    def __enter__(self) -> Syncer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pair, self._pair = self._pair, None
        for conn in pair or ():
            conn.close()

    def _connect(self) -> None:
        """Open the two connections, or open them again if the database dropped either."""
        if self._pair is not None and not any(c.closed or c.broken for c in self._pair):
            return
        self.close()
        self._loaders.clear()  # their stage tables went with the old session
        self.db.ensure_schema()
        with contextlib.ExitStack() as opened:
            control = opened.enter_context(self.db.connect(autocommit=True))
            conn = opened.enter_context(self.db.connect(autocommit=True))
            for each in (control, conn):
                # A crash of the database server may lose the last few commits, never half of
                # one: rows and their token commit together, so lost pages are simply fetched
                # again. Not waiting for each WAL flush makes frequent small runs cheap.
                each.execute("SET synchronous_commit = off")
            opened.pop_all()
        self._pair = (control, conn)

    @property
    def _control(self) -> Connection:
        assert self._pair is not None, "connect first"
        return self._pair[0]

    @property
    def _conn(self) -> Connection:
        assert self._pair is not None, "connect first"
        return self._pair[1]

    def _loader(self, feed: str) -> Loader:
        if feed not in self._loaders:
            self._loaders[feed] = Loader(self._conn, TABLES[feed], self.tenant)
        return self._loaders[feed]

    def run(self, feed: Feed, on_progress: Callable[[Progress], None] | None = None) -> SyncResult:
        """Sync one feed to the end, as a run of its producer."""
        (result,) = self.run_producer(feed.producer, (feed,), on_progress)
        return result

    def run_producer(
        self,
        producer: str,
        feeds: Sequence[Feed],
        on_progress: Callable[[Progress], None] | None = None,
    ) -> list[SyncResult]:
        """Run the sync producer `producer` once over `feeds`, under its lock and in the ledger.

        A database that refuses or drops the connections is waited for (`Database.patience`)
        and the run made again: each feed resumes from its last committed page.
        """
        return self.db.patience.run(
            f"tenant {self.tenant}: {producer}",
            lambda: self._run_producer(producer, feeds, on_progress),
        )

    def _run_producer(
        self,
        producer: str,
        feeds: Sequence[Feed],
        on_progress: Callable[[Progress], None] | None,
    ) -> list[SyncResult]:
        tenant, clock = self.tenant, self.clock
        self._connect()
        results: list[SyncResult] = []
        with recorded_run(self._control, tenant, producer, clock, log=log) as run:
            failed: BaseException | None = None
            saved, checked = saved_tokens(self._conn, tenant, feeds)
            checks = RunChecks(
                self._conn,
                self.client,
                tenant,
                clock,
                due=checks_due(feeds, checked, clock.now(), self.source_check_every),
            )
            for feed in feeds:
                counts = run.feeds.setdefault(feed.name, {"read": 0, "changed": 0})
                try:
                    # Asked before the export is read: once it is, the mirror must hold this.
                    answer = checks.ask(feed)
                    results.append(
                        self._sync_feed(run, producer, feed, saved.get(feed.name), on_progress)
                    )
                    if answer is not None:
                        checks.record(answer, run.id)
                except (BadRecordError, FeedHeld, FatalAPIError) as exc:
                    if isinstance(exc, AuthError):
                        raise
                    # This feed's own trouble: the run fails, its other feeds still sync.
                    counts["error"] = describe_error(exc)
                    log.warning("tenant %s: %s failed: %s", tenant, feed.name, counts["error"])
                    failed = failed or exc
            if failed is not None:
                raise failed
        return results

    def _sync_feed(
        self,
        run: Run,
        producer: str,
        feed: Feed,
        saved: tuple[str | None, datetime] | None,
        on_progress: Callable[[Progress], None] | None,
    ) -> SyncResult:
        """Pull one feed from its saved token to the end (or reload a reference list if due)."""
        counts = run.feeds[feed.name]
        started = time.perf_counter()
        read_before, changed_before = run.rows_read, run.rows_changed
        token = None if saved is None else saved[0]
        pages = 0
        if feed.reference:
            if reload_due(None if saved is None else saved[1], self.clock.now()):
                pages = self._reload(run, feed)
        else:
            pages = self._follow_export(run, producer, feed, token, on_progress)
        counts["read"] = run.rows_read - read_before
        counts["changed"] = run.rows_changed - changed_before
        return SyncResult(
            feed=feed.name,
            producer=producer,
            run_id=run.id,
            pages=pages,
            rows_read=counts["read"],
            rows_changed=counts["changed"],
            backfill=token is None,
            seconds=time.perf_counter() - started,
        )

    def _follow_export(
        self,
        run: Run,
        producer: str,
        feed: Feed,
        token: str | None,
        on_progress: Callable[[Progress], None] | None,
    ) -> int:
        expected = _expected_rows(self.client, feed) if token is None else None
        self._loader(feed.name)  # its stage table is made before the first page's transaction
        saved = token
        read = 0
        pages = 0
        # A backfill (first load, or a first load resumed after a kill) brings
        # everything at once; the surge and spike checks judge later runs only.
        backfill: bool | None = None
        pages_iter = iter(self.client.export_pages(feed, token))
        done = False
        while not done:
            # The collector rests while a page is fetched, parsed and loaded, and resumes
            # once the page is released (see `nexus.collector`).
            with collector.paused():
                page = next(pages_iter, None)
                if page is None:
                    break
                if page.data and backfill is None:
                    backfill = token is None or not self._ever_succeeded(producer)
                result = self._take_page(
                    run, feed, page, pages_iter, saved, backfill=bool(backfill)
                )
                saved, done = page.continue_from, not page.has_more
                del page
            pages += 1
            read += result.read
            run.rows_read += result.read
            run.rows_changed += result.changed
            run.feeds[feed.name]["changed"] += result.changed
            if on_progress:
                on_progress(Progress(feed.name, read, pages, expected, done))
        return pages

    def _take_page(
        self,
        run: Run,
        feed: Feed,
        page: ExportPage,
        pages: Iterator[ExportPage],
        saved: str | None,
        *,
        backfill: bool,
    ) -> LoadResult:
        """Load one export page and its token in one transaction, or hold it as suspect.

        A page without data only moves the token, when it moved at all.
        """
        conn, tenant, now = self._conn, self.tenant, self.clock.now
        if not page.data:
            if page.continue_from != saved:  # nothing new: one write, or none
                save_token(conn, tenant, feed.name, page.continue_from, now())
            return LoadResult(0, 0)
        spec = TABLES[feed.name]
        rows = flatten(spec, page.data)
        suspicion = suspect(
            conn,
            spec,
            tenant,
            rows,
            backfill=backfill,
            run_new_jobs=run.feeds[feed.name]["changed"],
            zone=self.zone,
        )
        if suspicion is not None:
            self._hold(feed, run, page, pages, suspicion, saved)
        loader = self._loader(feed.name)
        begin, commit = self._bracket(run, feed, page.continue_from, lock=loader.lock)
        with self._writing():
            return loader.load_rows(rows, page.data, now(), locked=True, before=begin, after=commit)

    def _bracket(
        self,
        run: Run,
        feed: Feed,
        token: str,
        *,
        lock: int | None = None,
        at: datetime | None = None,
    ) -> tuple[Callable[[], None], Callable[[], None]]:
        """The statements around a feed's write, for the loader to send with its own.

        The first opens the transaction and takes the writer role (and `lock`); the
        last saves the feed's token, as moved `at` (or when it is saved), and commits:
        rows and token commit together.
        """
        conn, tenant = self._conn, self.tenant

        def begin() -> None:
            conn.execute("BEGIN")
            mark_sync_run(conn, run.id, lock=lock)

        def commit() -> None:
            save_token(conn, tenant, feed.name, token, at or self.clock.now())
            conn.execute("COMMIT")

        return begin, commit

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Around a write `_bracket` opens: rolled back should it fail, a refused role named.

        The role is taken in the round trip of the loader's first statements, so its
        refusal comes back with theirs (see `role_refused`).
        """
        try:
            with rolled_back(self._conn):
                yield
        except FatalDatabaseError as exc:
            refused = role_refused(exc)
            if refused is None:
                raise
            raise refused from exc

    def _hold(
        self,
        feed: Feed,
        run: Run,
        first: Any,
        pages: Iterator[Any],
        suspicion: Suspicion,
        token_before: str | None,
    ) -> NoReturn:
        """Quarantine a suspect batch — the page and the suspect pages right after it.

        The feed's token stays before the batch, so the next run stops here again
        until someone releases or drops it; nothing after it is lost.
        """
        records = list(first.data)
        token_after = first.continue_from
        spec = TABLES[feed.name]
        while first.has_more and len(records) < MAX_HELD_RECORDS:
            following = next(pages, None)
            if following is None or not following.data:
                break
            more = suspect(
                self._conn,
                spec,
                self.tenant,
                flatten(spec, following.data),
                backfill=False,
                zone=self.zone,
            )
            if more is None or more.kind != suspicion.kind:
                break
            records += following.data
            token_after = following.continue_from
            first = following
        held_id = hold(
            self._conn,
            tenant=self.tenant,
            feed=feed.name,
            run_id=run.id,
            suspicion=suspicion,
            records=records,
            token_before=token_before,
            token_after=token_after,
            now=self.clock.now(),
        )
        raise FeedHeld(self.tenant, feed.name, held_id, suspicion)

    def _ever_succeeded(self, producer: str) -> bool:
        """Whether a run of `producer` ever succeeded: once it did, it is not asked again."""
        if producer in self._succeeded:
            return True
        row = self._conn.execute(
            "SELECT 1 FROM nexus.runs WHERE tenant_id = %s AND producer = %s"
            " AND status = 'succeeded' LIMIT 1",
            (self.tenant, producer),
        ).fetchone()
        if row is not None:
            self._succeeded.add(producer)
        return row is not None

    def _reload(self, run: Run, feed: Feed) -> int:
        """Reload a reference list whole, in one transaction with its reload time."""
        loader = self._loader(feed.name)
        now = self.clock.now()
        # A reference list is small: its pages are read first, so that the transaction's
        # start goes with the first page's statements and its commit with the last's.
        pages = [page.data for page in self.client.reference_pages(feed)]
        begin, commit = self._bracket(run, feed, "", at=now)
        last = max(len(pages) - 1, 0)  # an empty list still commits its reload time
        with self._writing():
            for n, records in enumerate(pages or [[]]):
                result = loader.load(
                    records,
                    now,
                    before=begin if n == 0 else None,
                    after=commit if n == last else None,
                )
                run.rows_read += result.read
                run.rows_changed += result.changed
        return len(pages)


def sync_feed(
    db: Database,
    client: ExportSource,
    tenant: int,
    feed: Feed,
    clock: Clock,
    on_progress: Callable[[Progress], None] | None = None,
) -> SyncResult:
    """Run one feed's sync once (see `Syncer` to run many)."""
    with Syncer(db, client, tenant, clock) as syncer:
        return syncer.run(feed, on_progress)


def _expected_rows(client: ExportSource, feed: Feed) -> int | None:
    """The source's record count, for a determinate progress bar on a backfill."""
    count = getattr(client, "count", None)
    if count is None:
        return None
    try:
        value = count(feed)
    except Exception:  # a progress bar is not worth failing a backfill over
        log.debug("could not count %s for the progress bar", feed.name, exc_info=True)
        return None
    return int(value) if value is not None else None
