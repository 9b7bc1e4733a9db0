"""The run ledger read back: a producer's past runs, their totals, its successes.

`nexus.registry.run_ledger` writes `nexus.runs`; this module only reads it, for
the producer and product pages and for /metrics. Every read stops at `until`
(the page's moment), so a replay read as of a past moment shows only the runs
that had started by then.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from nexus.store.connection import Connection

#: The latest runs a producer's page lists, and the latest failures listed even when older.
RECENT_RUNS = 100
RECENT_FAILURES = 50


@dataclass(frozen=True)
class RunRecord:
    """One row of the run ledger, as it stands."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    rows_read: int
    rows_changed: int
    error: str | None
    error_kind: str | None

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


#: A record's columns are named as its fields, so one list reads them in order.
_RECORD_COLUMNS = ", ".join(f.name for f in fields(RunRecord))


@dataclass(frozen=True)
class RunTotals:
    """Every run of one producer until a moment, counted."""

    runs: int
    failed: int
    succeeded: int
    rows_read: int
    rows_changed: int
    first_run: datetime | None


@dataclass(frozen=True)
class ProducerCounts:
    """One producer's finished runs, failures, rows written and last success."""

    producer: str
    finished: int
    failed: int
    rows_changed: int
    last_success: datetime | None


def recent_runs(
    conn: Connection,
    tenant: int,
    producer: str,
    until: datetime,
    *,
    recent: int = RECENT_RUNS,
    failures: int = RECENT_FAILURES,
) -> list[RunRecord]:
    """The latest runs, newest first, plus the latest failures even when older.

    The failures are kept because the proof's evidence links land on them.
    """
    columns = (
        f"{_RECORD_COLUMNS} FROM nexus.runs"
        " WHERE tenant_id = %(tenant)s AND producer = %(producer)s AND started_at <= %(until)s"
    )
    rows = conn.execute(
        f"(SELECT {columns} ORDER BY started_at DESC, id DESC LIMIT %(recent)s)"
        f" UNION (SELECT {columns} AND status = 'failed'"
        " ORDER BY started_at DESC, id DESC LIMIT %(failures)s)"
        " ORDER BY started_at DESC, id DESC",
        {
            "tenant": tenant,
            "producer": producer,
            "until": until,
            "recent": recent,
            "failures": failures,
        },
    ).fetchall()
    return [RunRecord(*row) for row in rows]


def run_totals(conn: Connection, tenant: int, producer: str, until: datetime) -> RunTotals:
    """How many runs `producer` started until `until`, how they ended, what they wrote."""
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'failed'),"
        " count(*) FILTER (WHERE status = 'succeeded'), coalesce(sum(rows_read), 0),"
        " coalesce(sum(rows_changed), 0), min(started_at)"
        " FROM nexus.runs WHERE tenant_id = %s AND producer = %s AND started_at <= %s",
        (tenant, producer, until),
    ).fetchone()
    assert row is not None  # an aggregate always answers one row
    return RunTotals(row[0], row[1], row[2], int(row[3]), int(row[4]), row[5])


def successes(
    conn: Connection, tenant: int, producer: str, start: datetime, until: datetime
) -> list[datetime]:
    """When `producer` last succeeded before `start`, then each success until `until`, in order."""
    rows = conn.execute(
        "(SELECT finished_at FROM nexus.runs WHERE tenant_id = %(t)s AND producer = %(p)s"
        " AND status = 'succeeded' AND finished_at <= %(start)s"
        " ORDER BY finished_at DESC LIMIT 1)"
        " UNION ALL (SELECT finished_at FROM nexus.runs WHERE tenant_id = %(t)s"
        " AND producer = %(p)s AND status = 'succeeded' AND finished_at > %(start)s"
        " AND finished_at <= %(until)s AND started_at <= %(until)s)"
        " ORDER BY finished_at",
        {"t": tenant, "p": producer, "start": start, "until": until},
    ).fetchall()
    return [row[0] for row in rows]


def producer_counts(conn: Connection, tenant: int, until: datetime) -> list[ProducerCounts]:
    """Every producer that ran until `until`, by name: what /metrics counts."""
    rows = conn.execute(
        "SELECT producer, count(*) FILTER (WHERE status IN ('succeeded', 'failed')),"
        " count(*) FILTER (WHERE status = 'failed'), coalesce(sum(rows_changed), 0),"
        " max(finished_at) FILTER (WHERE status = 'succeeded')"
        " FROM nexus.runs WHERE tenant_id = %s AND started_at <= %s"
        " GROUP BY producer ORDER BY producer",
        (tenant, until),
    ).fetchall()
    return [ProducerCounts(row[0], row[1], row[2], int(row[3]), row[4]) for row in rows]
