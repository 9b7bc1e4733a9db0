"""Reconcile the mirror with ServiceTitan: the periodic full check for what a cursor missed.

Each mirrored feed with a list endpoint is read page by page (pageSize 5000,
every state: the list's own filter for it, `activeState=All` or `active=Any`;
`modifiedOnOrAfter` when a window start is given and the list takes it) and
every record is compared with its mirror row by key on every typed column the
list record carries (the catalog derives them), `modifiedOn` and `active`.
Differences are classified:

- `missing_in_mirror`: ServiceTitan has the record, the mirror does not;
- `missing_in_st`: the mirror has a row (in the window) ServiceTitan does not list;
- `field_mismatch`: the copies differ and the difference is not explained by a
  change the feed has yet to deliver — ServiceTitan's copy is not newer than
  the mirror's, or it changed before the feed's last successful sync started
  (so the export should have delivered it: the cursor missed it);
- `timing_only`: ServiceTitan changed the record after the feed's last
  successful sync started, so the next sync brings it.

Pages are streamed: besides the page in hand, only the ids seen (to find
`missing_in_st`) are kept, so memory does not grow with the tenant (it is
mostly one parsed page of 5,000 records; see bench/reconcile.py). The API
calls are one per page: at most 1 + ⌈records / 5000⌉ per feed.

The first two classes are changes the export lost (`LOST`). `repair` loads
every difference ServiceTitan can fix through the normal loader: the lost
records, and unless `repair_pending` is false (the scheduled reconcile leaves
them to the feed's next sync) the timing-only ones too. The records are
spooled in a temporary table while the pages are read and loaded only after
the last one, in one transaction marked as this run (so the write guard lets
it pass): a failure anywhere — ServiceTitan unreachable on the last page —
leaves nothing half-repaired, and the loader's locks are held for the load,
not for the whole reconciliation. The run is the `reconcile` producer's, in
the run ledger under its lock; a finished reconciliation is kept in
`nexus.reconciliations`, every lost record it found in
`nexus.reconcile_losses` (with whether it was repaired), and one that
repaired something records an event on the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_dumps

from nexus import times
from nexus.catalog import DEFAULT_FEEDS, FEEDS, Feed, spec
from nexus.clock import Clock
from nexus.registry.config import Config
from nexus.registry.timeline import current_actor, record_event
from nexus.servicetitan.pages import ListPage
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.store.guard import mark_sync_run, share_with_writer
from nexus.store.loader import Loader, flatten
from nexus.store.rows import TABLES, Record
from nexus.sync.recorded_run import recorded_run

#: The run ledger's name for reconciliations (declared as `[producers.reconcile]`).
PRODUCER = "reconcile"
#: The list endpoints' largest page.
PAGE_SIZE = 5000
#: The difference classes, in report order.
CLASSES = ("missing_in_mirror", "missing_in_st", "field_mismatch", "timing_only")
#: The classes that mean the export lost a change: it is older than the feed's last sync.
LOST = ("missing_in_mirror", "field_mismatch")
#: The classes a repair can load from ServiceTitan's list (it has no copy of `missing_in_st`).
LOADABLE = (*LOST, "timing_only")
#: ServiceTitan's export may hold back the last few minutes of changes (it says
#: "come back in 5-10 minutes"): a change this close before a sync started may
#: still be on its way, so it counts as timing, not as a miss.
EXPORT_SETTLE = timedelta(minutes=10)
LABELS = {
    "missing_in_mirror": "missing in the mirror",
    "missing_in_st": "missing in ServiceTitan",
    "field_mismatch": "mismatched",
    "timing_only": "not yet synced",
}
#: Ids kept per class and feed as evidence.
EXAMPLES = 20


def reconcilable(names: Iterable[str]) -> list[str]:
    """The feeds among `names` that have a list endpoint, in catalog order.

    Catalog order loads jobs before invoices and appointments, so a repaired job
    is there when the rows it derives values from are repaired.
    """
    wanted = set(names)
    return [n for n, f in FEEDS.items() if n in wanted and f.list_path is not None]


class ListSource(Protocol):
    """What a reconciliation needs from a ServiceTitan client (of the tenant reconciled)."""

    @property
    def calls_by_path(self) -> Mapping[str, int]: ...

    def list_pages(
        self, feed: Feed, *, page_size: int = ..., all_states: bool = ..., **filters: str
    ) -> Iterator[ListPage]: ...


# (modified_on, compared values, active or None when the record does not carry it)
Compact = tuple[datetime | None, tuple[object, ...], bool | None]
#: a row's key: its id, or its natural key's values
RowKey = tuple[int, ...]
# what a page turned up: (class, key, ServiceTitan's modifiedOn, the record to load or None)
Found = tuple[str, RowKey, datetime | None, Record | None]


@dataclass
class FeedReport:
    """What reconciling one feed found."""

    feed: str
    records: int = 0
    matching: int = 0
    missing_in_mirror: int = 0
    missing_in_st: int = 0
    field_mismatch: int = 0
    timing_only: int = 0
    api_calls: int = 0
    repaired: int = 0
    unrepaired: int = 0
    #: the feed's last successful sync start, less EXPORT_SETTLE: changes after it are timing
    horizon: datetime | None = None
    examples: dict[str, list[int | list[int]]] = field(default_factory=dict)

    @property
    def differences(self) -> int:
        return self.missing_in_mirror + self.missing_in_st + self.field_mismatch + self.timing_only

    @property
    def lost(self) -> int:
        """Records whose change the export lost (missing or differing, older than the horizon)."""
        return self.missing_in_mirror + self.field_mismatch

    def count(self, klass: str, key: RowKey) -> None:
        setattr(self, klass, getattr(self, klass) + 1)
        ids = self.examples.setdefault(klass, [])
        if len(ids) < EXAMPLES:
            ids.append(key[0] if len(key) == 1 else list(key))

    def as_dict(self) -> dict[str, Any]:
        return {
            "missing_in_mirror": self.missing_in_mirror,
            "missing_in_st": self.missing_in_st,
            "field_mismatch": self.field_mismatch,
            "timing_only": self.timing_only,
            "api_calls": self.api_calls,
            "records": self.records,
            "matching": self.matching,
            "repaired": self.repaired,
            "unrepaired": self.unrepaired,
            "horizon": None if self.horizon is None else self.horizon.isoformat(),
            "examples": {k: self.examples[k] for k in CLASSES if k in self.examples},
        }


@dataclass
class ReconcileReport:
    """One reconciliation: per feed what differed, and what was repaired."""

    tenant: int
    run_id: int
    at: datetime
    since: datetime | None
    repair: bool
    feeds: dict[str, FeedReport]
    finished_at: datetime | None = None
    id: int | None = None

    @property
    def repaired(self) -> int:
        return sum(f.repaired for f in self.feeds.values())

    @property
    def api_calls(self) -> int:
        return sum(f.api_calls for f in self.feeds.values())

    @property
    def differences(self) -> int:
        return sum(f.differences for f in self.feeds.values())

    def as_dict(self) -> dict[str, Any]:
        """`{"feeds": {feed: {missing_in_mirror, missing_in_st, field_mismatch,
        timing_only, api_calls, …}}, "repaired": n, …}`."""
        return {
            "feeds": {name: report.as_dict() for name, report in self.feeds.items()},
            "repaired": self.repaired,
            "tenant": self.tenant,
            "run_id": self.run_id,
            "id": self.id,
            "at": self.at.isoformat(),
            "since": None if self.since is None else self.since.isoformat(),
            "repair": self.repair,
        }

    def summary_lines(self, zone: ZoneInfo) -> list[str]:
        """The report for a terminal, one line per feed and one for the total; times in `zone`."""
        window = f"changes since {times.local(self.since, zone)}" if self.since else "everything"
        lines = [
            f"tenant {self.tenant}: reconciled {window} of {', '.join(self.feeds)} "
            f"with ServiceTitan (run {self.run_id})"
        ]
        for name, f in self.feeds.items():
            parts = ", ".join(f"{getattr(f, k)} {LABELS[k]}" for k in CLASSES)
            repaired = f"; {f.repaired} repaired" if self.repair else ""
            calls = f"{f.api_calls} API call{'s' if f.api_calls != 1 else ''}"
            lines.append(
                f"  {name}: {f.records} in ServiceTitan, {f.matching} match; "
                f"{parts}{repaired} ({calls})"
            )
        if self.repair:
            lines.append(f"repaired {self.repaired} records through the loader")
        elif any(f.differences - f.missing_in_st for f in self.feeds.values()):
            lines.append("run `nexus reconcile --repair` to load what differs from ServiceTitan")
        return lines


def run_reconcile(
    db: Database,
    client: ListSource,
    tenant: int,
    clock: Clock,
    feeds: Iterable[str] | None = None,
    since: datetime | None = None,
    repair: bool = False,
    *,
    repair_pending: bool = True,
    checkpoint: Callable[[], None] | None = None,
    actor: str | None = None,
) -> ReconcileReport:
    """Compare the mirror with ServiceTitan's list endpoints and, with `repair`, fix it.

    A repair loads the lost records and, with `repair_pending`, the timing-only
    ones as well. Runs as the `reconcile` producer: under its lock
    (`ProducerBusy` if another process runs it) and recorded in `nexus.runs`,
    failed runs included. `checkpoint` is called between pages (a worker
    raises there to stop). A database that refuses or drops connections is
    waited for (`Database.patience`) and the reconciliation made again from the
    start.
    """
    asked = list(dict.fromkeys(feeds if feeds is not None else DEFAULT_FEEDS))
    for name in asked:
        if name not in FEEDS:
            raise ValueError(f"unknown feed '{name}': `nexus feeds list` shows the feeds")
    names = reconcilable(asked)
    if feeds is not None and len(names) < len(asked):
        unlisted = ", ".join(n for n in asked if n not in names)
        raise ValueError(
            f"{unlisted}: ServiceTitan has no list endpoint to reconcile against; "
            "their exports are the only source"
        )
    if since is not None and since.tzinfo is None:
        raise ValueError(f"since {since!r} is naive: give a timezone (UTC)")
    # Nothing is written before the last page is read, so a lost connection costs a rerun.
    return db.patience.run(
        f"tenant {tenant}: {PRODUCER}",
        lambda: _reconcile_once(
            db, client, tenant, clock, names, since, repair, repair_pending, checkpoint, actor
        ),
    )


def reconcile_mirror(
    db: Database,
    client: ListSource,
    tenant: int,
    clock: Clock,
    config: Config,
    feeds: Sequence[str] | None = None,
    since: datetime | None = None,
    repair: bool | None = None,
) -> ReconcileReport:
    """Reconcile as `nexus reconcile` does: by default as the configuration says.

    That is every mirrored feed with a list endpoint unless `feeds` names some,
    and a repair when `[reconcile] repair` asks for one unless `repair` is given.
    """
    names = feeds or reconcilable(config.enabled_feeds)
    return run_reconcile(
        db,
        client,
        tenant,
        clock,
        names,
        since,
        config.reconcile.repair if repair is None else repair,
    )


def _reconcile_once(
    db: Database,
    client: ListSource,
    tenant: int,
    clock: Clock,
    names: list[str],
    since: datetime | None,
    repair: bool,
    repair_pending: bool,
    checkpoint: Callable[[], None] | None,
    actor: str | None,
) -> ReconcileReport:
    db.ensure_schema()
    with (
        db.connect(autocommit=True) as control,
        db.connect(autocommit=True) as conn,
        recorded_run(control, tenant, PRODUCER, clock) as run,
    ):
        started = run.started_at
        report = ReconcileReport(tenant, run.id, started, since, repair, {})
        loads = () if not repair else LOADABLE if repair_pending else LOST
        spool = _Spool(conn, loads)
        for name in names:
            report.feeds[name] = _reconcile_feed(
                conn, client, tenant, FEEDS[name], since, started, spool, checkpoint
            )
            run.rows_read = sum(f.records for f in report.feeds.values())
        # Everything was read: only now does anything get written, in one transaction.
        with conn.transaction():
            if repair:
                mark_sync_run(conn, run.id)
                for name in names:
                    _repair(conn, tenant, report.feeds[name], spool, clock)
            report.finished_at = clock.now()
            report.id = _save(conn, report)
            spool.save_losses(tenant, report.id)
            if report.repaired:
                _record_repair(conn, report, actor or current_actor())
        run.rows_changed = report.repaired
    return report


def _reconcile_feed(
    conn: Connection,
    client: ListSource,
    tenant: int,
    feed: Feed,
    since: datetime | None,
    started: datetime,
    spool: _Spool,
    checkpoint: Callable[[], None] | None,
) -> FeedReport:
    report = FeedReport(feed.name, horizon=_horizon(conn, tenant, feed))
    mirror = _MirrorIndex(conn, feed, tenant)
    path = feed.list_url_path(tenant)
    calls_before = client.calls_by_path.get(path, 0)
    windowed = since is not None and "modifiedOnOrAfter" in feed.list_filters
    filters = {"modifiedOnOrAfter": _iso(since)} if since is not None and windowed else {}
    seen: set[RowKey] = set()
    try:
        for page in client.list_pages(feed, page_size=PAGE_SIZE, all_states=True, **filters):
            _compare_page(page.data, mirror, report, seen, spool)
            if checkpoint is not None:
                checkpoint()
    finally:
        report.api_calls = client.calls_by_path.get(path, 0) - calls_before
    for key in mirror.keys_in_window(since if windowed else None, started):
        if key not in seen:
            report.count("missing_in_st", key)
    return report


def _compare_page(
    records: Sequence[Record],
    mirror: _MirrorIndex,
    report: FeedReport,
    seen: set[RowKey],
    spool: _Spool,
) -> None:
    rows = flatten(mirror.spec, records)
    keys = [mirror.key_of(row) for row in rows]
    known = mirror.lookup(keys)
    found: list[Found] = []
    for record, row, key in zip(records, rows, keys, strict=True):
        if key in seen:  # a page boundary moved under us; count each record once
            continue
        seen.add(key)
        report.records += 1
        theirs = mirror.compact(row, carries_active="active" in record)
        ours = known.get(key)
        klass = _classify(theirs, ours, report.horizon)
        if klass is None:
            report.matching += 1
            continue
        report.count(klass, key)
        load = klass in spool.loads and _loadable(theirs, ours)
        if load or klass in LOST:
            found.append((klass, key, theirs[0], _with_active(record, ours) if load else None))
    spool.add(report.feed, found)


def _repair(conn: Connection, tenant: int, report: FeedReport, spool: _Spool, clock: Clock) -> None:
    """Load a feed's spooled records; count those whose row now matches ServiceTitan's."""
    mirror = _MirrorIndex(conn, FEEDS[report.feed], tenant)
    loader: Loader | None = None
    for seqs, records in spool.batches(report.feed):
        loader = loader or Loader(conn, mirror.spec, tenant)
        loader.load(records, clock.now())
        rows = flatten(mirror.spec, records)
        after = mirror.lookup([mirror.key_of(row) for row in rows])
        repaired = []
        for seq, row in zip(seqs, rows, strict=True):
            # A load the loader declines (say, an older copy) is not a repair.
            if _same(mirror.compact(row, carries_active=True), after.get(mirror.key_of(row))):
                repaired.append(seq)
            else:
                report.unrepaired += 1
        report.repaired += len(repaired)
        spool.mark_repaired(report.feed, repaired)


class _Spool:
    """What a reconciliation found, kept in a temporary table until every page has been read.

    A row per lost record (saved with the reconciliation as `nexus.reconcile_losses`)
    and per record to load (classes in `loads`). Loading only after the last
    page keeps a failure from leaving half a repair behind, keeps memory flat,
    and holds the loader's locks for seconds, not for the whole reconciliation.
    """

    def __init__(self, conn: Connection, loads: Sequence[str]) -> None:
        self.conn = conn
        self.loads = frozenset(loads)
        self._seq = 0
        set_json_dumps(orjson.dumps, context=conn)
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS reconcile_spool (feed text, seq int8, class text,"
            " key int8[], modified_on timestamptz, record jsonb,"
            " repaired boolean NOT NULL DEFAULT false, PRIMARY KEY (feed, seq))"
        )
        share_with_writer(conn, sql.Identifier("reconcile_spool"))  # the repair reads it
        conn.execute("TRUNCATE reconcile_spool")

    def add(self, feed: str, found: Sequence[Found]) -> None:
        if not found:
            return
        with self.conn.cursor().copy(
            "COPY reconcile_spool (feed, seq, class, key, modified_on, record)"
            " FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "int8", "text", "int8[]", "timestamptz", "jsonb"])
            for klass, key, modified, record in found:
                self._seq += 1
                loaded = None if record is None else Jsonb(record)
                copy.write_row((feed, self._seq, klass, list(key), modified, loaded))

    def batches(
        self, feed: str, size: int = PAGE_SIZE
    ) -> Iterator[tuple[list[int], list[dict[str, Any]]]]:
        """The records to load of `feed`, a batch at a time, with their spool numbers."""
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT seq, record FROM reconcile_spool WHERE feed = %s AND seq > %s"
                " AND record IS NOT NULL ORDER BY seq LIMIT %s",
                (feed, last, size),
            ).fetchall()
            if not rows:
                return
            last = int(rows[-1][0])
            yield [int(row[0]) for row in rows], [row[1] for row in rows]

    def mark_repaired(self, feed: str, seqs: Sequence[int]) -> None:
        if seqs:
            self.conn.execute(
                "UPDATE reconcile_spool SET repaired = true WHERE feed = %s AND seq = ANY(%s)",
                (feed, list(seqs)),
            )

    def save_losses(self, tenant: int, reconciliation_id: int) -> None:
        """Keep every lost record found, and whether it was repaired, with the reconciliation."""
        self.conn.execute(
            "INSERT INTO nexus.reconcile_losses"
            " (tenant_id, reconciliation_id, feed, key, class, modified_on, repaired)"
            " SELECT %s, %s, feed, key, class, modified_on, repaired FROM reconcile_spool"
            " WHERE class = ANY(%s)",
            (tenant, reconciliation_id, list(LOST)),
        )


def _classify(theirs: Compact, ours: Compact | None, horizon: datetime | None) -> str | None:
    """The difference class of one record, or None when the copies agree."""
    modified = theirs[0]
    pending = horizon is not None and modified is not None and modified > horizon
    if ours is None:
        return "timing_only" if pending else "missing_in_mirror"
    if _same(theirs, ours):
        return None
    ours_modified = ours[0]
    newer = modified is not None and (ours_modified is None or modified > ours_modified)
    return "timing_only" if newer and pending else "field_mismatch"


def _same(theirs: Compact, ours: Compact | None) -> bool:
    if ours is None:
        return False
    active_differs = theirs[2] is not None and theirs[2] != ours[2]
    return theirs[0] == ours[0] and theirs[1] == ours[1] and not active_differs


def _loadable(theirs: Compact, ours: Compact | None) -> bool:
    """Whether loading ServiceTitan's copy can repair the row: the loader keeps newer rows."""
    if ours is None or theirs[0] is None or ours[0] is None:
        return True
    return theirs[0] >= ours[0]


def _with_active(record: Record, ours: Compact | None) -> dict[str, Any]:
    """Give a list record the `active` flag the export carries and the job list lacks.

    Reading a missing flag as "active" would revive a deactivated job, so the
    mirror's own value is kept (a job new to the mirror is taken as active).
    """
    out = dict(record)
    if "active" not in out:
        out["active"] = True if ours is None or ours[2] is None else ours[2]
    return out


class _MirrorIndex:
    """The compared fields of one feed's mirror rows, looked up a page of keys at a time.

    Compared are the key, `modified_on`, `active` and every other typed column
    whose field the list endpoint's record carries.
    """

    def __init__(self, conn: Connection, feed: Feed, tenant: int) -> None:
        self.conn = conn
        self.feed = feed
        self.spec = TABLES[feed.name]
        self.tenant = tenant
        names = self.spec.names
        self._key = self.spec.key_index
        self._modified = names.index(feed.modified_column) if feed.modified_column else None
        self._active = names.index("active") if "active" in names else None
        compared = compared_columns(feed)
        self._compared = tuple(names.index(n) for n in compared)
        key_cols = [sql.Identifier(k) for k in self.spec.key]
        selected = [
            *key_cols,
            sql.SQL(feed.modified_column or "NULL::timestamptz"),
            *(sql.Identifier(n) for n in compared),
            sql.SQL("active" if self._active is not None else "NULL::boolean"),
        ]
        arrays = sql.SQL(", ").join(sql.SQL("%s::int8[]") for _ in key_cols)
        self._lookup = sql.SQL(
            "SELECT {} FROM {} WHERE tenant_id = %s AND ({}) IN (SELECT * FROM unnest({}))"
        ).format(
            sql.SQL(", ").join(selected),
            sql.SQL(self.spec.table),
            sql.SQL(", ").join(key_cols),
            arrays,
        )

    def key_of(self, row: Sequence[Any]) -> RowKey:
        return tuple(int(row[i]) for i in self._key)

    def compact(self, row: Sequence[Any], carries_active: bool) -> Compact:
        """The compared fields of a flattened ServiceTitan record."""
        return (
            row[self._modified] if self._modified is not None else None,
            tuple(row[i] for i in self._compared),
            bool(row[self._active]) if carries_active and self._active is not None else None,
        )

    def lookup(self, keys: list[RowKey]) -> dict[RowKey, Compact]:
        if not keys:
            return {}
        columns = [list(part) for part in zip(*keys, strict=True)]
        rows = self.conn.execute(self._lookup, (self.tenant, *columns)).fetchall()
        width = len(self._key)
        return {
            tuple(int(v) for v in r[:width]): (
                r[width],
                tuple(r[width + 1 : -1]),
                None if r[-1] is None else bool(r[-1]),
            )
            for r in rows
        }

    def keys_in_window(self, since: datetime | None, started: datetime) -> Iterator[RowKey]:
        """Keys of the mirror's rows in the window (changed on or after `since`).

        Rows stored after the reconciliation started are left out: ServiceTitan's
        list, read before them, cannot be expected to show them.
        """
        key_cols = sql.SQL(", ").join(sql.Identifier(k) for k in self.spec.key)
        query = sql.SQL("SELECT {} FROM {} WHERE tenant_id = %s AND created_at <= %s").format(
            key_cols, sql.SQL(self.spec.table)
        )
        params: list[Any] = [self.tenant, started]
        if since is not None and self.feed.modified_column is not None:
            query = sql.SQL("{} AND {} >= %s").format(
                query, sql.Identifier(self.feed.modified_column)
            )
            params.append(since)
        for row in self.conn.execute(query, params):
            yield tuple(int(v) for v in row)


def compared_columns(feed: Feed) -> tuple[str, ...]:
    """The typed columns reconcile compares: those whose field the list record carries."""
    assert feed.list_path is not None
    listed = spec.record_schema(feed.doc, feed.list_path).get("properties", {})
    skip = {*feed.key_columns, feed.modified_column, "active"}
    return tuple(c.name for c in feed.columns if c.name not in skip and c.path[0] in listed)


def _horizon(conn: Connection, tenant: int, feed: Feed) -> datetime | None:
    """Changes after this may not have reached the mirror yet: the last good sync's start.

    Reference lists have no export feed; they are reloaded whole now and then, so
    the time of their last reload is theirs.
    """
    if feed.reference:
        row = conn.execute(
            "SELECT updated_at FROM nexus.feeds WHERE tenant_id = %s AND feed = %s",
            (tenant, feed.name),
        ).fetchone()
    else:
        # The runs that synced the feed say so; runs from before they did, by producer.
        row = conn.execute(
            "SELECT max(started_at) FROM nexus.runs WHERE tenant_id = %s"
            " AND status = 'succeeded' AND (feeds ? %s OR (feeds IS NULL AND producer = %s))",
            (tenant, feed.name, feed.producer),
        ).fetchone()
    started: datetime | None = row[0] if row else None
    return None if started is None else started - EXPORT_SETTLE


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _save(conn: Connection, report: ReconcileReport) -> int:
    feeds = {name: f.as_dict() for name, f in report.feeds.items()}
    row = conn.execute(
        "INSERT INTO nexus.reconciliations"
        " (tenant_id, at, finished_at, run_id, since, repair, feeds, repaired)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s) RETURNING id",
        (
            report.tenant,
            report.at,
            report.finished_at or report.at,
            report.run_id,
            report.since,
            report.repair,
            orjson.dumps(feeds).decode(),
            report.repaired,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _record_repair(conn: Connection, report: ReconcileReport, actor: str) -> None:
    repaired = {name: f.repaired for name, f in report.feeds.items() if f.repaired}
    what = ", ".join(f"{n} {name}" for name, n in repaired.items())
    record_event(
        conn,
        at=report.finished_at or report.at,
        kind="reconcile_repaired",
        actor=actor,
        tenant=report.tenant,
        producer=PRODUCER,
        reason=f"reconcile found records the feeds had missed and loaded them: {what}",
        detail={
            "run_id": report.run_id,
            "reconciliation_id": report.id,
            "repaired": repaired,
            "feeds": {
                name: {k: getattr(f, k) for k in CLASSES}
                for name, f in report.feeds.items()
                if f.differences
            },
        },
    )


def latest_reconciliation(conn: Connection, tenant: int) -> dict[str, Any] | None:
    """The latest finished reconciliation of `tenant`, as `ReconcileReport.as_dict` shapes it."""
    row = conn.execute(
        "SELECT id, at, run_id, since, repair, feeds, repaired FROM nexus.reconciliations"
        " WHERE tenant_id = %s ORDER BY at DESC, id DESC LIMIT 1",
        (tenant,),
    ).fetchone()
    if row is None:
        return None
    return {
        "feeds": row[5],
        "repaired": row[6],
        "tenant": tenant,
        "run_id": row[2],
        "id": row[0],
        "at": row[1].isoformat(),
        "since": None if row[3] is None else row[3].isoformat(),
        "repair": row[4],
    }
