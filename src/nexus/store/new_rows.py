"""Pages of keys a tenant has none of yet: copied in binary straight into the mirror.

A backfill's pages bring keys the mirror has never seen, so the stage table
and the upsert (see `nexus.store.loader`) would only copy every row twice.
`NewRows` first looks whether the tenant has any of a page's keys; when it has
none, the page's rows go straight into the `titan` table with one binary
COPY: each key's newest version only, with the derived columns computed
from the rows already mirrored, as the upsert would compute them. The
loader makes the look and the copy inside its transaction and a savepoint,
after the lock that orders a tenant's deriving loads.

Only feeds keyed by one integer column are looked at (every large feed);
the others always take the upsert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from nexus.catalog.derived import Derived
from nexus.store.connection import Connection, Cursor, rendered
from nexus.store.rows import TABLES, Record, Row, TableSpec


@dataclass(frozen=True)
class Look:
    """What the tenant already has of a page."""

    #: whether the tenant has a row with any of the page's keys
    loaded: bool
    #: for each derived column on the table, whether the tenant has any source rows at all
    sourced: tuple[bool, ...]


#: The most keys a look is planned for at each page rather than prepared (`NewRows.ask`).
UNPREPARED_LOOK_KEYS = 100


class NewRows:
    """Copy pages of new keys of one feed straight into its table, on one connection."""

    def __init__(self, conn: Connection, spec: TableSpec, tenant: int) -> None:
        self.conn = conn
        self.spec = spec
        self.tenant = tenant
        columns = (
            "tenant_id",
            *spec.names,
            *(d.column for d in spec.derives),
            "raw",
            "created_at",
            "updated_at",
        )
        self._copy_sql = rendered(
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                sql.SQL(spec.table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
        )
        self._types = [
            "int8",
            *spec.types,
            *(_copy_type(d) for d in spec.derives),
            "jsonb",
            "timestamptz",
            "timestamptz",
        ]
        self._look_sql = rendered(_look_statement(spec))
        self._derived = [DerivedValues(conn, d, tenant) for d in spec.derives]
        #: where a row holds its id, which the targets of derived values are known by
        self._id = spec.names.index("id") if spec.derives else -1

    @staticmethod
    def applies(spec: TableSpec) -> bool:
        """Whether pages of `spec`'s feed can be looked at: a key of one integer column."""
        return len(spec.key) == 1 and dict(spec.columns)[spec.key[0]] == "int8"

    def ask(self, keys: Sequence[int]) -> Cursor:
        """Ask what the tenant has of these keys (`keys` of a page, one per row).

        In a pipeline the question is queued; `answer` reads it once synced.
        """
        params = {"tenant": self.tenant, "keys": int8_array(keys)}
        # A page of few keys is planned for its keys each time, never prepared: a generic
        # plan, made while the table was small, probes the tenant's index and filters every
        # row of the tenant by key, and keeps doing so as the table grows (12-row pages on one
        # connection: 3.3, 8.3 and 12.3 ms a page at 12,000, 24,000 and 36,000 jobs, against
        # 1.5 ms planned each time). Bigger pages keep the prepared plan, their re-load slower
        # planned each time (`bench/loader.py`).
        prepare = False if len(keys) <= UNPREPARED_LOOK_KEYS else None
        return self.conn.execute(self._look_sql, params, prepare=prepare)

    @staticmethod
    def answer(asked: Cursor) -> Look:
        """The `Look` a cursor of `ask` answers."""
        found = asked.fetchone()
        assert found is not None
        return Look(loaded=bool(found[0]), sourced=tuple(bool(f) for f in found[1:]))

    def copy(
        self,
        rows: Sequence[Row],
        records: Sequence[Record],
        keys: Sequence[int],
        look: Look,
        now: datetime,
    ) -> list[Row]:
        """COPY the rows, none of whose keys the tenant has; return the rows copied."""
        # In key order, as the upsert inserts: two writers of the same keys then wait on
        # each other in one order, never in a cycle (a deadlock).
        kept = sorted(newest_versions(self.spec, rows, records, keys), key=itemgetter(0))
        ids = [row[self._id] for _, row, _ in kept] if any(look.sourced) else []
        columns = [
            values.of(ids) if sourced else [values.empty] * len(kept)
            for values, sourced in zip(self._derived, look.sourced, strict=True)
        ]
        extras = list(zip(*columns, strict=True)) if columns else [()] * len(kept)
        tenant = self.tenant
        with self.conn.cursor().copy(self._copy_sql) as copy:
            copy.set_types(self._types)
            write = copy.write_row
            for (_, row, rec), extra in zip(kept, extras, strict=True):
                write((tenant, *row, *extra, Jsonb(rec), now, now))
        return [row for _, row, _ in kept]


def newest_versions(
    spec: TableSpec, rows: Sequence[Row], records: Sequence[Record], keys: Sequence[Any]
) -> list[tuple[Any, Row, Record]]:
    """(key, row, record) of each key's newest version in a page, as the upsert picks it.

    A record can arrive twice in one page (includeRecentChanges repeats rows):
    the one modified last wins, one without a modification time loses to one
    with, and between equals the later in the page (`_upsert_statement` in
    `nexus.store.loader` orders them the same way).
    """
    if len(set(keys)) == len(keys):
        return list(zip(keys, rows, records, strict=True))
    modified = None if spec.modified is None else spec.names.index(spec.modified)
    newest: dict[Any, tuple[tuple[Any, ...], Row, Record]] = {}
    for seq, (key, row, rec) in enumerate(zip(keys, rows, records, strict=True)):
        when = None if modified is None else row[modified]
        rank = (when is not None, when, seq)
        held = newest.get(key)
        if held is None or rank > held[0]:
            newest[key] = (rank, row, rec)
    return [(key, row, rec) for key, (_, row, rec) in newest.items()]


class DerivedValues:
    """A derived column's values for rows about to be inserted, read from its source rows."""

    def __init__(self, conn: Connection, derived: Derived, tenant: int) -> None:
        self.conn = conn
        self.tenant = tenant
        source = sql.SQL(TABLES[derived.source].table)
        value, via = sql.SQL(derived.value), sql.Identifier(derived.via)
        # Only targets with source rows come back; the others get the value of no rows.
        self._sql = rendered(
            sql.SQL(
                "SELECT src.{via}, {value} FROM {source} src"
                " WHERE src.tenant_id = %(tenant)s AND src.{via} = ANY(%(ids)s::int8[])"
                " GROUP BY src.{via}"
            ).format(via=via, value=value, source=source)
        )
        empty = conn.execute(
            sql.SQL("SELECT {} FROM {} src WHERE false").format(value, source)
        ).fetchone()
        #: the value of a target no source row points at
        self.empty = None if empty is None else empty[0]

    def of(self, ids: Sequence[int]) -> list[Any]:
        """The value for each of `ids`, in order."""
        params = {"tenant": self.tenant, "ids": int8_array(ids)}
        found = dict(self.conn.execute(self._sql, params).fetchall())
        empty = self.empty
        return [found.get(i, empty) for i in ids]


def int8_array(values: Iterable[int | None]) -> str:
    """`values` as a PostgreSQL array literal, for a parameter cast to `int8[]`.

    psycopg adapts a list element by element (about 2 µs each, most of the
    look's cost); a page's thousand keys as one literal cost a string join.
    """
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def _copy_type(derived: Derived) -> str:
    """The binary COPY type of a derived column: its SQL type without a modifier."""
    return derived.pg_type.partition("(")[0].strip()


def _look_statement(spec: TableSpec) -> sql.Composed:
    """`Look`'s query: any of the keys `%(keys)s`, then any rows of each derived source.

    `= ANY` of an array holds whatever the planner thinks of the table's size:
    on a big table it is one index scan, on one it thinks small a scan with a
    hashed lookup. (A join with the unnested keys, planned on a fresh table
    thought nearly empty, compared every row with every key.) The sources are
    asked about the tenant as a whole, one index probe each: in a backfill's
    first feed they have no rows, and otherwise `DerivedValues` reads them.
    """
    (key,) = spec.key
    loaded = sql.SQL(
        "EXISTS (SELECT FROM {} WHERE tenant_id = %(tenant)s AND {} = ANY(%(keys)s::int8[]))"
    ).format(sql.SQL(spec.table), sql.Identifier(key))
    sourced = [
        sql.SQL("EXISTS (SELECT FROM {} WHERE tenant_id = %(tenant)s)").format(
            sql.SQL(TABLES[d.source].table)
        )
        for d in spec.derives
    ]
    return sql.SQL("SELECT {}").format(sql.SQL(", ").join([loaded, *sourced]))
