"""The loader: records → COPY into a stage table → one upsert into the mirror.

Every page of records is flattened first (a bad record fails the page before
anything is written), copied in binary into a temporary stage table, then
merged into its `titan` table with one `INSERT … ON CONFLICT` that only touches
rows whose raw record really changed. Re-delivered rows and repeated runs
therefore change nothing. Loading invoices recomputes `titan.jobs.invoice_total`
for the jobs they belong to in the same transaction, and loading a job computes
its total from the invoices already mirrored — whichever feed arrives first,
the derived value is right when the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_dumps

from nexus.store.rows import JOBS, Record, Row, TableSpec

Connection = psycopg.Connection[Any]


#: Feeds whose loads derive titan.jobs.invoice_total from each other.
DERIVES_INVOICE_TOTAL = frozenset({"jobs", "invoices"})


def invoice_total_lock(tenant: int) -> int:
    """The advisory-lock key that serialises a tenant's job and invoice page loads."""
    return (0x6E78 << 48) | (tenant & 0xFFFFFFFFFFFF)


@dataclass(frozen=True)
class LoadResult:
    read: int
    changed: int


def _orjson_dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def flatten(spec: TableSpec, records: Sequence[Record]) -> list[Row]:
    """Flatten every record of a page, or raise `BadRecordError` for the first bad one."""
    flat = spec.flatten
    return [flat(rec) for rec in records]


def mark_sync_run(conn: Connection, run_id: int | str) -> None:
    """Name this transaction as a Nexus sync run, so the write guard lets its upserts pass."""
    conn.execute("SELECT set_config('nexus.sync_run', %s, true)", (str(run_id),))


class Loader:
    """Merge pages of one feed's records into the mirror, on one connection."""

    def __init__(self, conn: Connection, spec: TableSpec, tenant: int) -> None:
        self.conn = conn
        self.spec = spec
        self.tenant = tenant
        self._stage = sql.Identifier(f"stage_{spec.feed}")
        set_json_dumps(_orjson_dumps, context=conn)
        self._create_stage()
        self._copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            self._stage,
            sql.SQL(", ").join(map(sql.Identifier, ("seq", *spec.names, "raw"))),
        )
        self._upsert_sql = _upsert_statement(spec, self._stage)

    def _create_stage(self) -> None:
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
            for name, kind in (("seq", "int4"), *self.spec.columns, ("raw", "jsonb"))
        )
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({})").format(self._stage, columns)
        )

    def load(self, records: Sequence[Record], now: datetime) -> LoadResult:
        """Upsert one page inside the caller's transaction; return rows read and changed."""
        rows = flatten(self.spec, records)
        return self.load_rows(rows, records, now)

    def load_rows(
        self, rows: Sequence[Row], records: Sequence[Record], now: datetime
    ) -> LoadResult:
        """Upsert already-flattened rows with their raw records."""
        if not rows:
            return LoadResult(0, 0)
        cur = self.conn.cursor()
        if self.spec.feed in DERIVES_INVOICE_TOTAL:
            # Jobs and invoices of a tenant load one page at a time: each reads the other's
            # committed rows to derive invoice_total, so two concurrent pages would each miss
            # the other's. The lock ends with the caller's transaction.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (invoice_total_lock(self.tenant),))
        cur.execute(sql.SQL("TRUNCATE {}").format(self._stage))
        with cur.copy(self._copy_sql) as copy:
            copy.set_types(["int4", *self.spec.types, "jsonb"])
            write = copy.write_row
            for seq, (row, rec) in enumerate(zip(rows, records, strict=True)):
                write((seq, *row, Jsonb(rec)))
        cur.execute(self._upsert_sql, {"tenant": self.tenant, "now": now})
        changed = cur.rowcount
        if self.spec.feed == "invoices":
            changed_jobs = refresh_invoice_totals(self.conn, self.tenant, now, stage=self._stage)
            changed += changed_jobs
        return LoadResult(read=len(rows), changed=changed)


def _upsert_statement(spec: TableSpec, stage: sql.Identifier) -> sql.Composed:
    names = spec.names
    cols = sql.SQL(", ").join(map(sql.Identifier, names))
    scols = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(n)) for n in names)
    updates: list[sql.Composable] = [
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
        for n in (*names, "raw", "updated_at")
        if n != "id"
    ]
    # A record can arrive twice in one page (includeRecentChanges repeats rows):
    # keep its newest version. Never let an older version overwrite a newer one.
    changed: sql.Composable = sql.SQL(
        "(t.raw IS DISTINCT FROM EXCLUDED.raw"
        " AND (t.modified_on IS NULL OR EXCLUDED.modified_on IS NULL"
        " OR EXCLUDED.modified_on >= t.modified_on))"
    )
    extra_cols: sql.Composable = sql.SQL("")
    extra_vals: sql.Composable = sql.SQL("")
    if spec is JOBS:
        extra_cols = sql.SQL(", invoice_total")
        extra_vals = sql.SQL(
            ", coalesce((SELECT sum(i.total) FROM titan.invoices i"
            " WHERE i.tenant_id = %(tenant)s AND i.job_id = s.id AND i.active), 0)"
        )
        updates.append(sql.SQL("invoice_total = EXCLUDED.invoice_total"))
        changed = sql.SQL("({} OR t.invoice_total IS DISTINCT FROM EXCLUDED.invoice_total)").format(
            changed
        )
    return sql.SQL(
        "INSERT INTO {table} AS t (tenant_id, {cols}, raw, created_at, updated_at{extra_cols})"
        " SELECT DISTINCT ON (s.id) %(tenant)s, {scols}, s.raw, %(now)s, %(now)s{extra_vals}"
        " FROM {stage} s ORDER BY s.id, s.modified_on DESC NULLS LAST, s.seq DESC"
        " ON CONFLICT (tenant_id, id) DO UPDATE SET {updates} WHERE {changed}"
    ).format(
        table=sql.SQL(spec.table),
        cols=cols,
        scols=scols,
        stage=stage,
        updates=sql.SQL(", ").join(updates),
        changed=changed,
        extra_cols=extra_cols,
        extra_vals=extra_vals,
    )


def refresh_invoice_totals(
    conn: Connection,
    tenant: int,
    now: datetime,
    *,
    stage: sql.Identifier | None = None,
    job_ids: Sequence[int] | None = None,
) -> int:
    """Set `invoice_total` of the given jobs to the sum of their active invoices.

    Jobs come from a stage table of invoices or an explicit list; returns how
    many jobs changed.
    """
    source: sql.Composable
    if stage is not None:
        source = sql.SQL("SELECT DISTINCT job_id FROM {} WHERE job_id IS NOT NULL").format(stage)
        params: dict[str, Any] = {"tenant": tenant, "now": now}
    else:
        source = sql.SQL("SELECT DISTINCT unnest(%(ids)s::int8[]) AS job_id")
        params = {"tenant": tenant, "now": now, "ids": list(job_ids or [])}
    statement = sql.SQL(
        "UPDATE titan.jobs j SET invoice_total = x.total, updated_at = %(now)s"
        " FROM (SELECT a.job_id, coalesce(sum(i.total) FILTER (WHERE i.active), 0) AS total"
        "       FROM ({source}) a"
        "       LEFT JOIN titan.invoices i ON i.tenant_id = %(tenant)s AND i.job_id = a.job_id"
        "       GROUP BY a.job_id) x"
        " WHERE j.tenant_id = %(tenant)s AND j.id = x.job_id"
        " AND j.invoice_total IS DISTINCT FROM x.total"
    ).format(source=source)
    return conn.execute(statement, params).rowcount
