"""The run ledger: one row in `nexus.runs` per producer run, Nexus's own or reported.

It is registry bookkeeping, not a producer's: vitals, freshness and probable
causes are read from it, and producers Nexus does not run report to it
(`record_outside_run`, a heartbeat). Producers in `nexus.sync` write it through
`recorded_run`, which adds their lock and classifies their failures; keeping
the ledger here lets both reach it without the registry importing a producer.

A run is opened (and committed) before any work, so even a killed process
leaves a trace; the next run of the same producer, holding its lock, marks
such leftovers `abandoned`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from nexus.store.connection import Connection


@dataclass
class Run:
    id: int
    tenant: int
    producer: str
    started_at: datetime
    rows_read: int = 0
    rows_changed: int = 0
    #: per feed of a sync run: rows read and changed, and the feed's error if it failed
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)


#: Why a run left `running` is closed as abandoned by the next run of its producer.
ABANDONED = (
    "the process ended before the run finished (killed or crashed), or the run"
    " lost its database connection; its last page was not applied and the next run"
    " resumed from the saved token"
)


def start_run(conn: Connection, tenant: int, producer: str, now: datetime) -> Run:
    """Record a new run, first closing runs of this producer left `running` by a dead process.

    Call it while holding the producer's lock: then no other run can really be running.
    """
    row = conn.execute(
        "WITH abandoned AS ("
        " UPDATE nexus.runs SET status = 'abandoned', finished_at = %(now)s, error_kind = 'other',"
        " error = %(abandoned)s"
        " WHERE tenant_id = %(tenant)s AND producer = %(producer)s AND status = 'running')"
        " INSERT INTO nexus.runs (tenant_id, producer, started_at, status)"
        " VALUES (%(tenant)s, %(producer)s, %(now)s, 'running') RETURNING id",
        {"now": now, "tenant": tenant, "producer": producer, "abandoned": ABANDONED},
    ).fetchone()
    assert row is not None
    return Run(id=int(row[0]), tenant=tenant, producer=producer, started_at=now)


def start_locked_run(
    conn: Connection, tenant: int, producer: str, now: datetime, lock: int
) -> Run | None:
    """Take the session's advisory lock `lock` and, if it was free, `start_run`: one statement.

    Returns None, recording nothing, while another session holds the lock. The
    statement's snapshot predates the lock, so a run that another session
    finished just before releasing it may still read `running` here; Postgres
    checks such a row again at its newest version before closing it, and leaves
    it as that session finished it.
    """
    row = conn.execute(
        "WITH locked AS MATERIALIZED (SELECT pg_try_advisory_lock(%(lock)s) AS held),"
        " abandoned AS ("
        " UPDATE nexus.runs SET status = 'abandoned', finished_at = %(now)s, error_kind = 'other',"
        " error = %(abandoned)s"
        " WHERE tenant_id = %(tenant)s AND producer = %(producer)s AND status = 'running'"
        " AND (SELECT held FROM locked)),"
        " opened AS ("
        " INSERT INTO nexus.runs (tenant_id, producer, started_at, status)"
        " SELECT %(tenant)s, %(producer)s, %(now)s, 'running' FROM locked WHERE held"
        " RETURNING id)"
        " SELECT (SELECT id FROM opened) FROM locked",
        {
            "lock": lock,
            "now": now,
            "tenant": tenant,
            "producer": producer,
            "abandoned": ABANDONED,
        },
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return Run(id=int(row[0]), tenant=tenant, producer=producer, started_at=now)


def finish_run(
    conn: Connection,
    run: Run,
    now: datetime,
    *,
    error: str | None = None,
    error_kind: str | None = None,
    unlock: int | None = None,
) -> None:
    """Close a run as succeeded, or failed with its error's text and kind.

    With `unlock`, the same statement releases the session's advisory lock of
    that key. A run that takes the lock at once and reads this run before it
    commits waits on the row and then sees it closed.
    """
    closing = (
        "UPDATE nexus.runs SET status = %(status)s, finished_at = %(now)s,"
        " rows_read = %(read)s, rows_changed = %(changed)s, feeds = %(feeds)s,"
        " error = %(error)s, error_kind = %(kind)s WHERE id = %(id)s"
    )
    params = {
        "status": "failed" if error is not None else "succeeded",
        "now": now,
        "read": run.rows_read,
        "changed": run.rows_changed,
        "feeds": Jsonb(run.feeds) if run.feeds else None,
        "error": error,
        "kind": (error_kind or "other") if error is not None else None,
        "id": run.id,
        "lock": unlock,
    }
    if unlock is None:
        conn.execute(closing, params)
    else:
        conn.execute("WITH closed AS (" + closing + ") SELECT pg_advisory_unlock(%(lock)s)", params)


def record_outside_run(
    conn: Connection,
    tenant: int,
    producer: str,
    now: datetime,
    *,
    error: str | None = None,
    rows: int = 0,
) -> int:
    """Record a finished run of a producer Nexus does not run itself (a heartbeat)."""
    row = conn.execute(
        "INSERT INTO nexus.runs (tenant_id, producer, started_at, finished_at, status,"
        " rows_read, rows_changed, error, error_kind)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            tenant,
            producer,
            now,
            now,
            "failed" if error else "succeeded",
            rows,
            rows,
            error,
            "other" if error else None,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


#: A run that succeeded at once having read nothing: its producer, its moment, its feeds.
IdleRun = tuple[str, datetime, dict[str, dict[str, Any]]]


def record_idle_runs(conn: Connection, tenant: int, runs: Sequence[IdleRun]) -> list[int]:
    """Record runs that succeeded having read nothing, in one statement; their ids, in order.

    Each started and finished at its moment, as a run on a virtual clock does, and
    its row is the one `start_locked_run` and `finish_run` would have left. A replay
    writes so the runs it knows found nothing new (see `nexus.sync.quiet`).
    """
    if not runs:
        return []
    # One JSON document for the whole batch: orjson writes it in one call, where arrays
    # of moments and of feeds were adapted element by element (a tenth of a replay).
    idle = orjson.dumps([{"producer": p, "at": at, "feeds": feeds} for p, at, feeds in runs])
    rows = conn.execute(
        "INSERT INTO nexus.runs (tenant_id, producer, started_at, finished_at, status,"
        " rows_read, rows_changed, feeds)"
        " SELECT %s, producer, at, at, 'succeeded', 0, 0, feeds"
        " FROM ROWS FROM (jsonb_to_recordset(%s::jsonb)"
        " AS (producer text, at timestamptz, feeds jsonb))"
        " WITH ORDINALITY AS idle (producer, at, feeds, n)"
        # Rows are inserted, and their ids drawn, in the order of `n`; RETURNING gives no
        # order, so the ids are matched back by producer and moment.
        " ORDER BY n RETURNING id, producer, started_at",
        (tenant, idle.decode()),
    ).fetchall()
    ids = {(producer, at): int(run_id) for run_id, producer, at in rows}
    return [ids[producer, at] for producer, at, _ in runs]
