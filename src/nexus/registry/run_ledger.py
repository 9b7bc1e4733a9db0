"""The run ledger: one row in `nexus.runs` per producer run, and one lock per producer.

Vitals, freshness and causes are read from this ledger, never from side files.
A run is opened (and committed) before any work, so even a killed process
leaves a trace; the next run of the same producer, holding its lock, marks
such leftovers `abandoned`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from nexus.errors import DatabaseError, NexusError
from nexus.store.connection import Connection


class ProducerBusy(NexusError):
    """Another process is running this producer for this tenant right now."""


@dataclass
class Run:
    id: int
    tenant: int
    producer: str
    rows_read: int = 0
    rows_changed: int = 0
    #: per feed of a sync run: rows read and changed, and the feed's error if it failed
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)


def lock_key(tenant: int, producer: str) -> int:
    """A stable 64-bit advisory-lock key for (tenant, producer)."""
    digest = hashlib.blake2b(f"{tenant}:{producer}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def producer_lock(conn: Connection, tenant: int, producer: str) -> Iterator[None]:
    """Hold the (tenant, producer) lock for the life of a run, or raise `ProducerBusy`.

    The lock is a session-level advisory lock on `conn` (which must be in
    autocommit mode), so it vanishes with the process if the process dies.
    """
    key = lock_key(tenant, producer)
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    if not row or not row[0]:
        raise ProducerBusy(
            f"tenant {tenant}: {producer} is already running in another process; "
            "this run was skipped (it will run on its next schedule)."
        )
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError):
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def start_run(conn: Connection, tenant: int, producer: str, now: datetime) -> Run:
    """Record a new run, first closing runs of this producer left `running` by a dead process.

    Call it while holding `producer_lock`: then no other run can really be running.
    """
    row = conn.execute(
        "WITH abandoned AS ("
        " UPDATE nexus.runs SET status = 'abandoned', finished_at = %(now)s, error_kind = 'other',"
        " error = 'the process ended before the run finished (killed or crashed);"
        " its last page was not applied and the next run resumed from the saved token'"
        " WHERE tenant_id = %(tenant)s AND producer = %(producer)s AND status = 'running')"
        " INSERT INTO nexus.runs (tenant_id, producer, started_at, status)"
        " VALUES (%(tenant)s, %(producer)s, %(now)s, 'running') RETURNING id",
        {"now": now, "tenant": tenant, "producer": producer},
    ).fetchone()
    assert row is not None
    return Run(id=int(row[0]), tenant=tenant, producer=producer)


def finish_run(
    conn: Connection, run: Run, now: datetime, error: BaseException | None = None
) -> None:
    """Close a run as succeeded, or failed with its error's text and kind."""
    conn.execute(
        "UPDATE nexus.runs SET status = %s, finished_at = %s, rows_read = %s,"
        " rows_changed = %s, feeds = %s, error = %s, error_kind = %s WHERE id = %s",
        (
            "failed" if error else "succeeded",
            now,
            run.rows_read,
            run.rows_changed,
            Jsonb(run.feeds) if run.feeds else None,
            describe_error(error) if error else None,
            error_kind(error) if error else None,
            run.id,
        ),
    )


def describe_error(exc: BaseException) -> str:
    """The text stored for a failed run: our own messages verbatim, others with their type."""
    if isinstance(exc, NexusError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def error_kind(exc: BaseException) -> str:
    """Classify a failure by its class (never its text), for probable causes."""
    from nexus.errors import BadRecordError
    from nexus.servicetitan import errors as st
    from nexus.sync.quarantine import FeedHeld

    kinds: list[tuple[type[BaseException], str]] = [
        (FeedHeld, "quarantined"),
        (st.AuthError, "auth"),
        (st.RateLimited, "rate_limited"),
        (st.RetriableAPIError, "unreachable"),
        (BadRecordError, "bad_record"),
        (st.ServiceTitanError, "api"),
        (DatabaseError, "database"),
    ]
    for cls, kind in kinds:
        if isinstance(exc, cls):
            return kind
    return "other"


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
