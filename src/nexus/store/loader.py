"""The loader: records → a stage table or straight in → the mirror, merged by upsert.

Every page of records is flattened first (a bad record fails the page before
anything is written). A small page — an incremental sync's few changed rows —
goes to the server in one batch: its rows staged from one JSON document in a
temporary stage table, then merged. A bigger page none of whose keys the
tenant has yet — the pages of a backfill — is copied in binary straight into
its `titan` table, each key's newest version only (see
`nexus.store.new_rows`); any other is copied in binary into the stage table,
then merged. The merge is one `INSERT … ON CONFLICT` on the feed's key that
only touches rows whose raw record really changed; re-delivered rows and
repeated runs therefore change nothing, and an older version never
overwrites a newer one. Derived columns (see
`nexus.catalog.derived`) are kept right in the same transaction: loading
invoices recomputes `titan.jobs.invoice_total` of their jobs, loading
appointments their jobs' `scheduled_at`, and loading a job computes both
from the rows already mirrored — whichever feed arrives first, the derived
values are right when the transaction commits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_dumps

from nexus.catalog.derived import DERIVING_FEEDS, Derived
from nexus.errors import DatabaseError
from nexus.store.connection import Connection, Cursor, rendered
from nexus.store.guard import share_with_writer
from nexus.store.new_rows import Look, NewRows
from nexus.store.rows import TABLES, Record, Row, TableSpec


def derivation_lock(tenant: int) -> int:
    """The advisory-lock key that serialises a tenant's page loads of deriving feeds."""
    return (0x6E78 << 48) | (tenant & 0xFFFFFFFFFFFF)


#: How many rows a stage table's file takes before it is truncated. A page is staged after a
#: DELETE of the last one's rows, which keeps the file and so the server's plans of the
#: statements that read it; a TRUNCATE gives it a new file, and every one of those is
#: planned again (about a millisecond a page, the most of a small page's load). The deleted
#: rows stay in the file, though, until it is truncated: this bounds what a merge scans.
STAGE_FILE_ROWS = 256

#: The most rows a page may have to be staged from a JSON document in the page's one batch
#: (`Loader._load_in_one_batch`). A binary COPY takes two round trips of its own, and its
#: statement is parsed anew each time, which a page of a few rows pays for many times over;
#: but each row costs more through JSON, and from about ten rows on the COPY wins
#: (`bench/page_round_trips.py --rows`).
SMALL_PAGE_ROWS = 8

#: The SQLSTATEs of another writer inserting the page's keys after the loader looked: a
#: duplicate key, or a deadlock with a writer that inserts them in another order.
TAKEN_MEANWHILE = ("23505", "40P01")

#: The savepoint a page of new keys is copied under, in case another writer beats it.
_SAVEPOINT, _RELEASE, _ROLLBACK_TO = (
    f"{verb} nexus_new_rows".encode() for verb in ("SAVEPOINT", "RELEASE", "ROLLBACK TO")
)


@dataclass(frozen=True)
class LoadResult:
    read: int
    changed: int


def flatten(spec: TableSpec, records: Sequence[Record]) -> list[Row]:
    """Flatten every record of a page, or raise `BadRecordError` for the first bad one."""
    flat = spec.flatten
    return [flat(rec) for rec in records]


class Loader:
    """Merge pages of one feed's records into the mirror, on one connection."""

    def __init__(
        self,
        conn: Connection,
        spec: TableSpec,
        tenant: int,
        *,
        one_batch_rows: int = SMALL_PAGE_ROWS,
    ) -> None:
        """`one_batch_rows`: pages of at most this many rows go to the server in one batch."""
        self.conn = conn
        self.one_batch_rows = one_batch_rows
        self.spec = spec
        self.tenant = tenant
        self._stage = sql.Identifier(f"stage_{spec.feed}")
        self._stage_name = self._stage.as_string()
        set_json_dumps(orjson.dumps, context=conn)  # the raw records, once a row each
        self._create_stage()
        self._truncate_sql = rendered(sql.SQL("TRUNCATE {}").format(self._stage))
        self._delete_sql = rendered(sql.SQL("DELETE FROM {}").format(self._stage))
        #: rows staged since the stage table's file was last truncated (see STAGE_FILE_ROWS)
        self._in_file = 0
        self._copy_sql = rendered(
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                self._stage,
                sql.SQL(", ").join(map(sql.Identifier, ("seq", *spec.names, "raw"))),
            )
        )
        self._copy_types = ["int4", *spec.types, "jsonb"]
        self._stage_json_sql = rendered(_stage_from_json(spec, self._stage))
        #: a staged row's fields, as `_stage_from_json` reads them from the document
        self._json_fields = ("seq", *spec.names, "raw")
        self._upsert_sql = rendered(_upsert_statement(spec, self._stage))
        self._key_of = itemgetter(*spec.key_index)
        self._new_rows = NewRows(conn, spec, tenant) if NewRows.applies(spec) else None
        #: the advisory lock a page load of this feed takes first, if any (`derivation_lock`)
        self.lock = derivation_lock(tenant) if spec.feed in DERIVING_FEEDS else None

    def _create_stage(self) -> None:
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
            for name, kind in (("seq", "int4"), *self.spec.columns, ("raw", "jsonb"))
        )
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({})").format(self._stage, columns)
        )
        share_with_writer(self.conn, self._stage)

    def load(
        self,
        records: Sequence[Record],
        now: datetime,
        *,
        before: Callable[[], object] | None = None,
        after: Callable[[], object] | None = None,
    ) -> LoadResult:
        """Load one page inside the caller's transaction; return rows read and changed.

        `before` and `after` as for `load_rows`.
        """
        rows = flatten(self.spec, records)
        return self.load_rows(rows, records, now, before=before, after=after)

    def load_rows(
        self,
        rows: Sequence[Row],
        records: Sequence[Record],
        now: datetime,
        *,
        locked: bool = False,
        before: Callable[[], object] | None = None,
        after: Callable[[], object] | None = None,
    ) -> LoadResult:
        """Load already-flattened rows with their raw records.

        `locked`: the caller's transaction holds `lock` already (`mark_sync_run`'s `lock`).

        `before` and `after` send the caller's own statements of the page (the start
        of its transaction, its token and its commit, say) with the loader's first
        and its last: each batch goes to the server in one round trip (psycopg's
        pipeline mode), where a page took a round trip a statement. They run even
        for no rows; their errors, like the loader's, are raised when the batch
        comes back.
        """
        if not rows and before is None and after is None:
            return LoadResult(0, 0)  # nothing to send: not even a pipeline's sync
        if len(rows) <= self.one_batch_rows:
            return self._load_in_one_batch(rows, records, now, locked, before, after)
        conn = self.conn
        keys = list(map(self._key_of, rows)) if self._new_rows is not None else []
        with conn.pipeline():  # one round trip: the caller's start, the lock, the look
            if before is not None:
                before()
            self._take_lock(locked)
            if self._new_rows is None:
                self._empty_stage(len(rows))
                looking = None
            else:
                # Emptied without knowing yet whether the page is staged: a DELETE of what
                # the last page left is cheap, where a TRUNCATE has the merge planned again.
                conn.execute(self._delete_sql)
                looking = self._new_rows.ask(keys)
                # A straight copy that another writer beats is undone to here (`_copy`).
                conn.execute(_SAVEPOINT)
        if looking is not None:
            assert self._new_rows is not None
            look = self._new_rows.answer(looking)
            if not look.loaded:
                copied = self._copy(rows, records, keys, look, now, after)
                if copied is not None:
                    return copied
            self._empty_stage(len(rows), deleted=True)  # a round trip only if truncated
        return self._upsert(rows, records, now, after, release=looking is not None)

    def _take_lock(self, locked: bool) -> None:
        """Take the page's `lock` unless the caller's transaction holds it (`locked`)."""
        if self.lock is not None and not locked:
            # Jobs, invoices and appointments of a tenant load one page at a time: each
            # reads the others' committed rows to derive a value, so two concurrent pages
            # would each miss the other's. The lock ends with the caller's transaction.
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock,))

    def _load_in_one_batch(
        self,
        rows: Sequence[Row],
        records: Sequence[Record],
        now: datetime,
        locked: bool,
        before: Callable[[], object] | None,
        after: Callable[[], object] | None,
    ) -> LoadResult:
        """A small page in one round trip: the caller's start, the lock, the rows staged
        from one JSON document, the merge, the derived values it changes and the caller's
        `after`. New keys need no look first: the merge inserts them."""
        merged: list[Cursor] = []
        with self.conn.pipeline():
            if before is not None:
                before()
            if rows:
                self._take_lock(locked)
                self._empty_stage(len(rows))
                self.conn.execute(self._stage_json_sql, (self._stage_document(rows, records),))
                merged = self._merge(now)
            if after is not None:
                after()
        return LoadResult(read=len(rows), changed=sum(cur.rowcount for cur in merged))

    def _stage_document(self, rows: Sequence[Row], records: Sequence[Record]) -> str:
        """The rows to stage as one JSON array of objects, a row's position as its `seq`."""
        fields = self._json_fields
        staged = [
            dict(zip(fields, (seq, *row, rec), strict=True))
            for seq, (row, rec) in enumerate(zip(rows, records, strict=True))
        ]
        return orjson.dumps(staged, default=_json_value, option=_EXACT_TIMES).decode()

    def _copy(
        self,
        rows: Sequence[Row],
        records: Sequence[Record],
        keys: Sequence[int],
        look: Look,
        now: datetime,
        after: Callable[[], object] | None,
    ) -> LoadResult | None:
        """COPY a page of new keys straight in, inside the savepoint `load_rows` made.

        The derived values it changes, the savepoint's release and the caller's
        `after` go in one round trip. None when another writer inserted one of the
        keys after the look: the copy is undone back to the savepoint, to be merged.
        """
        assert self._new_rows is not None
        conn = self.conn
        try:
            copied = self._new_rows.copy(rows, records, keys, look, now)
            with conn.pipeline():
                refreshed = self._refresh_targets(copied, now)
                conn.execute(_RELEASE)
                if after is not None:
                    after()
        except DatabaseError as exc:
            if exc.sqlstate not in TAKEN_MEANWHILE:
                raise
            try:
                conn.execute(_ROLLBACK_TO)
            except DatabaseError:
                raise exc from None  # released already: the caller's `after` failed, not ours
            return None
        return LoadResult(read=len(rows), changed=len(copied) + sum(c.rowcount for c in refreshed))

    def _refresh_targets(self, rows: Sequence[Row], now: datetime) -> list[Cursor]:
        """Recompute the derived values these source rows feed: a cursor each, whose
        rowcount is the target rows changed (in a pipeline, once synced)."""
        cursors = []
        for derived in self.spec.feeds_into:
            via = self.spec.names.index(derived.via)
            targets = [row[via] for row in rows if row[via] is not None]
            cursors.append(refresh_derived(self.conn, derived, self.tenant, now, ids=targets))
        return cursors

    def _upsert(
        self,
        rows: Sequence[Row],
        records: Sequence[Record],
        now: datetime,
        after: Callable[[], object] | None,
        *,
        release: bool,
    ) -> LoadResult:
        """COPY rows into the emptied stage table, then merge them with one upsert.

        The merge, the derived values it changes and the caller's `after` go in one
        round trip, after the release of `load_rows`'s savepoint if it made one.
        """
        conn = self.conn
        with conn.cursor().copy(self._copy_sql) as copy:
            copy.set_types(self._copy_types)
            write = copy.write_row
            for seq, (row, rec) in enumerate(zip(rows, records, strict=True)):
                write((seq, *row, Jsonb(rec)))
        with conn.pipeline():
            if release:
                conn.execute(_RELEASE)
            merged = self._merge(now)
            if after is not None:
                after()
        return LoadResult(read=len(rows), changed=sum(cur.rowcount for cur in merged))

    def _merge(self, now: datetime) -> list[Cursor]:
        """Merge the staged rows and recompute the derived values they feed: a cursor
        each, whose rowcount is the rows changed (in a pipeline, once synced)."""
        merged = [self.conn.execute(self._upsert_sql, {"tenant": self.tenant, "now": now})]
        for derived in self.spec.feeds_into:
            merged.append(
                refresh_derived(self.conn, derived, self.tenant, now, stage=self._stage_name)
            )
        return merged

    def _empty_stage(self, coming: int, *, deleted: bool = False) -> None:
        """Empty the stage table for `coming` rows: DELETE (unless `deleted` already), or
        TRUNCATE when its file is full."""
        if self._in_file + coming > STAGE_FILE_ROWS:
            self.conn.execute(self._truncate_sql)
            self._in_file = coming
        else:
            if not deleted:
                self.conn.execute(self._delete_sql)
            self._in_file += coming


#: orjson rounds a time zone's offset to whole minutes: times are written by `_json_value`.
_EXACT_TIMES = orjson.OPT_PASSTHROUGH_DATETIME


def _json_value(value: object) -> object:
    """What orjson does not write exactly itself: amounts and times as text, and records
    that are mappings but not dicts."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot stage a {type(value).__name__} as JSON")


def _stage_from_json(spec: TableSpec, stage: sql.Identifier) -> sql.Composed:
    """Insert into the stage table the rows of one JSON array of objects, keyed by column."""
    columns = (("seq", "int4"), *spec.columns, ("raw", "jsonb"))
    names = sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    typed = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in columns
    )
    return sql.SQL(
        "INSERT INTO {stage} ({names})"
        " SELECT {names} FROM json_to_recordset(%s::json) AS s({typed})"
    ).format(stage=stage, names=names, typed=typed)


def _upsert_statement(spec: TableSpec, stage: sql.Identifier) -> sql.Composed:
    names = spec.names
    key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
    skey = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(k)) for k in spec.key)
    cols = sql.SQL(", ").join(map(sql.Identifier, names))
    scols = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(n)) for n in names)
    derived = [d.column for d in spec.derives]
    updates: list[sql.Composable] = [
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
        for n in (*names, *derived, "raw", "updated_at")
        if n not in spec.key
    ]
    # A record can arrive twice in one page (includeRecentChanges repeats rows):
    # keep its newest version. Never let an older version overwrite a newer one.
    changed: sql.Composable = sql.SQL("t.raw IS DISTINCT FROM EXCLUDED.raw")
    order: sql.Composable = sql.SQL("s.seq DESC")
    if spec.modified is not None:
        modified = sql.Identifier(spec.modified)
        changed = sql.SQL(
            "(t.raw IS DISTINCT FROM EXCLUDED.raw"
            " AND (t.{0} IS NULL OR EXCLUDED.{0} IS NULL OR EXCLUDED.{0} >= t.{0}))"
        ).format(modified)
        order = sql.SQL("s.{} DESC NULLS LAST, s.seq DESC").format(modified)
    for column in derived:
        changed = sql.SQL("({} OR t.{} IS DISTINCT FROM EXCLUDED.{})").format(
            changed, sql.Identifier(column), sql.Identifier(column)
        )
    extra_cols = sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(c)) for c in derived)
    extra_vals = sql.SQL("").join(
        sql.SQL(", ({})").format(_derived_value(d, sql.SQL("s.id"))) for d in spec.derives
    )
    return sql.SQL(
        "INSERT INTO {table} AS t (tenant_id, {cols}, raw, created_at, updated_at{extra_cols})"
        " SELECT DISTINCT ON ({skey}) %(tenant)s, {scols}, s.raw, %(now)s, %(now)s{extra_vals}"
        " FROM {stage} s ORDER BY {skey}, {order}"
        " ON CONFLICT (tenant_id, {key}) DO UPDATE SET {updates} WHERE {changed}"
    ).format(
        table=sql.SQL(spec.table),
        cols=cols,
        scols=scols,
        skey=skey,
        key=key,
        order=order,
        stage=stage,
        updates=sql.SQL(", ").join(updates),
        changed=changed,
        extra_cols=extra_cols,
        extra_vals=extra_vals,
    )


def _derived_value(derived: Derived, target_id: sql.Composable) -> sql.Composed:
    """The derived value for the target row `target_id`, read from the mirrored source rows."""
    return sql.SQL(
        "SELECT {value} FROM {source} src WHERE src.tenant_id = %(tenant)s AND src.{via} = {id}"
    ).format(
        value=sql.SQL(derived.value),
        source=sql.SQL(TABLES[derived.source].table),
        via=sql.Identifier(derived.via),
        id=target_id,
    )


def refresh_derived(
    conn: Connection,
    derived: Derived,
    tenant: int,
    now: datetime,
    *,
    stage: str | None = None,
    ids: Sequence[int] | None = None,
) -> Cursor:
    """Recompute `derived` for the targets of a stage table of source rows, or of `ids`.

    `stage` is the stage table's quoted name. The cursor's rowcount is how many
    target rows changed (in a pipeline, once it has synced).
    """
    params: dict[str, Any] = {"tenant": tenant, "now": now}
    if stage is None:
        params["ids"] = list(ids or [])
    return conn.execute(_refresh_statement(derived, stage), params)


@functools.cache
def _refresh_statement(derived: Derived, stage: str | None) -> bytes:
    """`refresh_derived`'s statement over a stage table, or over `%(ids)s` when none."""
    via = sql.Identifier(derived.via)
    source: sql.Composable
    if stage is not None:
        source = sql.SQL("SELECT DISTINCT {via} AS id FROM {stage} WHERE {via} IS NOT NULL").format(
            via=via, stage=sql.SQL(stage)
        )
    else:
        source = sql.SQL("SELECT DISTINCT unnest(%(ids)s::int8[]) AS id")
    column = sql.Identifier(derived.column)
    return rendered(
        sql.SQL(
            "UPDATE {target} t SET {column} = x.value, updated_at = %(now)s"
            " FROM (SELECT a.id, ({value}) AS value FROM ({source}) a) x"
            " WHERE t.tenant_id = %(tenant)s AND t.id = x.id"
            " AND t.{column} IS DISTINCT FROM x.value"
        ).format(
            target=sql.SQL(TABLES[derived.target].table),
            column=column,
            value=_derived_value(derived, sql.SQL("a.id")),
            source=source,
        )
    )
