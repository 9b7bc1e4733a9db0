"""Targeted refresh: load the ids named by accepted webhook hints through the loader.

The named ids are read from ServiceTitan by id and loaded through the same
`Loader`, in a transaction marked as a sync run, so the write guard and the
`invoice_total` derivation apply exactly as in a feed sync. Each refresh is a
run of the `webhook_refresh` producer (`recorded_run`). The export feeds stay
the source of truth; a lost or refused hint only delays a change until the
next sync.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nexus.catalog import FEEDS, Feed
from nexus.clock import Clock
from nexus.errors import DatabaseError, NexusError
from nexus.registry.run_ledger import Run
from nexus.store.database import Database
from nexus.store.guard import mark_sync_run
from nexus.store.loader import Loader
from nexus.store.rows import TABLES
from nexus.sync.hints import Accepted
from nexus.sync.recorded_run import describe_error, recorded_run

log = logging.getLogger(__name__)

#: The run ledger's name for targeted refreshes (they are runs like any other).
PRODUCER = "webhook_refresh"
#: Another process's refresh of the same tenant holds the run lock briefly: wait this long.
LOCK_WAIT_S = 10.0


class IdSource(Protocol):
    """What a refresh needs from a ServiceTitan client."""

    def get_by_ids(self, feed: Feed, ids: Iterable[int]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class RefreshResult:
    tenant: int
    run_id: int
    hints: tuple[int, ...]
    rows_read: int
    rows_changed: int
    not_found: int


def merge_targets(targets: Iterable[Mapping[str, Sequence[int]]]) -> dict[str, list[int]]:
    merged: dict[str, dict[int, None]] = {}
    for target in targets:
        for feed, ids in target.items():
            merged.setdefault(feed, {}).update(dict.fromkeys(ids))
    return {feed: list(ids) for feed, ids in merged.items() if ids}


class TargetedRefresh:
    """Load hinted records of one tenant through the mirror's loader, on two connections.

    One autocommit connection holds the run lock and writes the ledger (as a
    feed sync does); the other loads, one transaction per refresh.
    """

    def __init__(self, db: Database, clock: Clock, tenant: int, client: IdSource) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant
        self.client = client
        with contextlib.ExitStack() as opened:
            self._control = opened.enter_context(db.connect(autocommit=True))
            self._conn = opened.enter_context(db.connect(autocommit=True))
            opened.pop_all()
        self._loaders: dict[str, Loader] = {}

    def close(self) -> None:
        self._conn.close()
        self._control.close()

    def _loader(self, feed: str) -> Loader:
        if feed not in self._loaders:
            self._loaders[feed] = Loader(self._conn, TABLES[feed], self.tenant)
        return self._loaders[feed]

    def refresh(
        self, hint_ids: Sequence[int], targets: Mapping[str, Sequence[int]]
    ) -> RefreshResult:
        """Read `targets` from ServiceTitan, load them, and mark `hint_ids` refreshed.

        On failure the run is recorded as failed, the hints as failed with the
        error, and the error is raised.
        """
        run: Run | None = None
        try:
            with recorded_run(
                self._control, self.tenant, PRODUCER, self.clock, wait_s=LOCK_WAIT_S
            ) as run:
                records, not_found = self._fetch(targets)
                with self._conn.transaction():
                    mark_sync_run(self._conn, run.id)
                    now = self.clock.now()
                    # Catalog order: jobs before the invoices and appointments that
                    # derive their values, all in one transaction.
                    for feed in FEEDS:
                        if records.get(feed):
                            result = self._loader(feed).load(records[feed], now)
                            run.rows_read += result.read
                            run.rows_changed += result.changed
                    self._conn.execute(
                        "UPDATE nexus.webhook_hints SET status = 'refreshed', refreshed_at = %s,"
                        " run_id = %s, rows_changed = %s, error = NULL WHERE id = ANY(%s)",
                        (self.clock.now(), run.id, run.rows_changed, list(hint_ids)),
                    )
        except BaseException as exc:
            if run is not None:
                with contextlib.suppress(DatabaseError):
                    self._control.execute(
                        "UPDATE nexus.webhook_hints SET status = 'failed', refreshed_at = %s,"
                        " run_id = %s, error = %s WHERE id = ANY(%s)",
                        (self.clock.now(), run.id, describe_error(exc), list(hint_ids)),
                    )
            raise
        return RefreshResult(
            self.tenant, run.id, tuple(hint_ids), run.rows_read, run.rows_changed, not_found
        )

    def _fetch(
        self, targets: Mapping[str, Sequence[int]]
    ) -> tuple[dict[str, list[dict[str, Any]]], int]:
        """Read every hinted record by id, plus the rows they derive values on that are missing.

        A hinted invoice or appointment of a job the mirror lacks brings the job too,
        so its derived values are right when the refresh commits.
        """
        records: dict[str, list[dict[str, Any]]] = {}
        asked = 0
        for feed, ids in targets.items():
            if feed in FEEDS and FEEDS[feed].refreshable and ids:
                asked += len(ids)
                records[feed] = self.client.get_by_ids(FEEDS[feed], ids)
        found = sum(len(r) for r in records.values())
        for feed in list(records):
            for derived in TABLES[feed].feeds_into:
                self._fetch_missing(records, derived.target, self._via(feed, derived.via, records))
        if records.get("jobs"):
            self._keep_active(records["jobs"])
        return records, max(0, asked - found)

    def _via(self, feed: str, column: str, records: Mapping[str, list[dict[str, Any]]]) -> set[int]:
        """The values of `column` in the flattened records of `feed` (e.g. their job ids)."""
        spec = TABLES[feed]
        index = spec.names.index(column)
        values = set()
        for rec in records.get(feed, ()):
            with contextlib.suppress(NexusError):  # a bad record fails the load, not this
                value = spec.flatten(rec)[index]
                if isinstance(value, int):
                    values.add(value)
        return values

    def _fetch_missing(
        self, records: dict[str, list[dict[str, Any]]], feed: str, ids: set[int]
    ) -> None:
        ids -= {int(rec["id"]) for rec in records.get(feed, ()) if isinstance(rec.get("id"), int)}
        if not ids:
            return
        present = {
            r[0]
            for r in self._conn.execute(
                f"SELECT id FROM {TABLES[feed].table} WHERE tenant_id = %s AND id = ANY(%s)",
                (self.tenant, sorted(ids)),
            )
        }
        missing = sorted(ids - present)
        if missing:
            records.setdefault(feed, []).extend(self.client.get_by_ids(FEEDS[feed], missing))

    def _keep_active(self, jobs: list[dict[str, Any]]) -> None:
        """Give by-id job records the `active` flag the export carries and the list lacks.

        The job list endpoint has no `active` field; reading it as "active" would
        revive a deactivated job, so the mirror's own value is kept.
        """
        lacking = [int(rec["id"]) for rec in jobs if "active" not in rec and "id" in rec]
        if not lacking:
            return
        known = dict(
            self._conn.execute(
                "SELECT id, active FROM titan.jobs WHERE tenant_id = %s AND id = ANY(%s)",
                (self.tenant, lacking),
            ).fetchall()
        )
        for rec in jobs:
            if "active" not in rec and "id" in rec:
                rec["active"] = known.get(int(rec["id"]), True)


ClientFactory = Callable[[int], IdSource]
Listener = Callable[[str, int, float], None]


class Refresher:
    """Refresh accepted hints on a background thread, batching hints that arrive together.

    Hints of one tenant waiting together become one refresh (one run, one
    transaction), so a burst of a thousand webhooks costs a few dozen reads by
    id rather than a thousand. Pending hints left by a previous process are
    picked up on `start`.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        clients: ClientFactory,
        *,
        max_batch_ids: int = 1_000,
        on_done: Listener | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.clients = clients
        self.max_batch_ids = max_batch_ids
        self.on_done = on_done
        self._queue: queue.Queue[Accepted | None] = queue.Queue()
        self._refreshers: dict[int, TargetedRefresh] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._busy = 0
        self._queued: set[int] = set()  # hint ids submitted and not yet done
        self._idle = threading.Condition(self._lock)

    def start(self) -> Refresher:
        with self._lock:
            if self._thread is not None:
                return self
            self._thread = threading.Thread(target=self._run, name="webhook-refresh", daemon=True)
            self._thread.start()
        self._recover()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
        for refresher in self._refreshers.values():
            with contextlib.suppress(Exception):
                refresher.close()
        self._refreshers.clear()

    def submit(self, accepted: Accepted) -> None:
        """Queue a pending hint for refresh (once, however often it is submitted)."""
        if accepted.status != "pending":
            return
        with self._lock:
            if accepted.hint_id in self._queued:
                return
            self._queued.add(accepted.hint_id)
            self._busy += 1
            started = self._thread is not None
        self._queue.put(accepted)
        if not started:
            self.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted hint is refreshed or failed (for tests and benches)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _recover(self) -> None:
        try:
            with self.db.connect(autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT id, tenant_id, targets FROM nexus.webhook_hints"
                    " WHERE status = 'pending' ORDER BY received_at, id"
                ).fetchall()
        except NexusError as exc:
            log.warning("could not read pending webhook hints: %s", exc)
            return
        for hint_id, tenant, targets in rows:
            self.submit(Accepted(int(hint_id), int(tenant), dict(targets), "pending"))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            ids = _count(first.targets)
            while ids < self.max_batch_ids:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
                ids += _count(item.targets)
            try:
                self._process(batch)
            except Exception:  # the thread must outlive any one batch
                log.exception("webhook refresh of %d hint(s) failed unexpectedly", len(batch))
            finally:
                with self._idle:
                    self._busy -= len(batch)
                    self._queued.difference_update(i.hint_id for i in batch)
                    self._idle.notify_all()

    def _process(self, batch: list[Accepted]) -> None:
        by_tenant: dict[int, list[Accepted]] = {}
        for item in batch:
            by_tenant.setdefault(item.tenant, []).append(item)
        for tenant, items in by_tenant.items():
            outcome = self._refresh(tenant, items)
            if self.on_done is not None:
                done = time.monotonic()
                for item in items:
                    self.on_done(outcome, tenant, done - item.received)

    def _refresh(self, tenant: int, items: list[Accepted]) -> str:
        """Refresh one tenant's hints, waiting for a database that refuses or drops connections."""
        hint_ids = [i.hint_id for i in items]
        targets = merge_targets(i.targets for i in items)
        try:
            self.db.patience.run(
                f"tenant {tenant}: {PRODUCER}",
                lambda: self._refresh_once(tenant, hint_ids, targets),
            )
        except Exception as exc:
            log.warning(
                "tenant %s: webhook refresh of %d hint(s) failed: %s; the next sync catches up",
                tenant,
                len(items),
                describe_error(exc),
            )
            self._mark_failed(hint_ids, exc)
            return "failed"
        return "refreshed"

    def _refresh_once(
        self, tenant: int, hint_ids: list[int], targets: Mapping[str, Sequence[int]]
    ) -> RefreshResult:
        refresher = self._refreshers.get(tenant)
        if refresher is None:
            refresher = TargetedRefresh(self.db, self.clock, tenant, self.clients(tenant))
            self._refreshers[tenant] = refresher
        try:
            return refresher.refresh(hint_ids, targets)
        except BaseException:
            # A broken connection or client is not reused.
            self._refreshers.pop(tenant, None)
            with contextlib.suppress(Exception):
                refresher.close()
            raise

    def _mark_failed(self, hint_ids: list[int], exc: BaseException) -> None:
        """Mark hints still pending as failed (the refresh could not start, or not record it).

        With the database still away this fails too: the hints stay pending, and the next
        start of the web app refreshes them.
        """
        with contextlib.suppress(NexusError), self.db.connect(autocommit=True) as c:
            c.execute(
                "UPDATE nexus.webhook_hints SET status = 'failed', refreshed_at = %s, error = %s"
                " WHERE id = ANY(%s) AND status = 'pending'",
                (self.clock.now(), describe_error(exc), hint_ids),
            )


def _count(targets: Mapping[str, Sequence[int]]) -> int:
    return sum(len(ids) for ids in targets.values())
