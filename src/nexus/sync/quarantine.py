"""Quarantine: batches that look like phantom writes, held back until a person decides.

A held batch keeps its feed's token before it, so nothing after it is loaded
either and nothing is lost. `release` loads it through the normal loader and
moves the token past it; `drop` moves the token past it without loading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from nexus import times
from nexus.errors import NexusError
from nexus.registry.timeline import record_event
from nexus.store.connection import Connection
from nexus.store.guard import mark_sync_run
from nexus.store.loader import Loader
from nexus.store.rows import TABLES, Record
from nexus.store.suspicion import Suspicion

#: The zone a tenant's moments are read in (`Config.zone`).
ZoneOf = Callable[[int], ZoneInfo]


def _utc(_tenant: int) -> ZoneInfo:
    return times.UTC


class QuarantineError(NexusError):
    """A quarantine decision that cannot be carried out."""


class FeedHeld(NexusError):
    """A feed stopped at a quarantined batch; the message says how to review it."""

    def __init__(self, tenant: int, feed: str, held_id: int, suspicion: Suspicion) -> None:
        self.held_id = held_id
        super().__init__(
            f"tenant {tenant}: a batch of {feed} looks like a phantom write and is held in "
            f"quarantine #{held_id}: {suspicion.reason}. The {feed} feed waits before it; "
            f"review it with `nexus quarantine show {held_id}`, then "
            f"`nexus quarantine release {held_id}` or `nexus quarantine drop {held_id}`."
        )


@dataclass(frozen=True)
class Held:
    id: int
    tenant: int
    feed: str
    held_at: datetime
    kind: str
    reason: str
    rows: int
    status: str
    token_before: str | None
    token_after: str
    decided_at: datetime | None
    decided_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "feed": self.feed,
            "held_at": self.held_at.isoformat(),
            "kind": self.kind,
            "reason": self.reason,
            "rows": self.rows,
            "status": self.status,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
        }


COLUMNS = (
    "id, tenant_id, feed, held_at, kind, reason, rows, status, token_before, token_after,"
    " decided_at, decided_by"
)


def fingerprint(records: list[Record]) -> str:
    ids = sorted(str(r.get("id")) for r in records)
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:32]


def hold(
    conn: Connection,
    *,
    tenant: int,
    feed: str,
    run_id: int | None,
    suspicion: Suspicion,
    records: list[Record],
    token_before: str | None,
    token_after: str,
    now: datetime,
) -> int:
    """Hold a batch once; return its id.

    A feed waits before its held batch until someone decides it, so while a batch
    is held at `token_before` the feed holds nothing more there: a later run reads
    the same batch, perhaps with newer changes after it, and gets the same id.
    """
    with conn.transaction():
        waiting = conn.execute(
            "SELECT id FROM nexus.quarantine WHERE tenant_id = %s AND feed = %s"
            " AND status = 'held' AND token_before IS NOT DISTINCT FROM %s ORDER BY id LIMIT 1",
            (tenant, feed, token_before),
        ).fetchone()
        if waiting is not None:
            return int(waiting[0])
        row = conn.execute(
            "INSERT INTO nexus.quarantine (tenant_id, feed, held_at, run_id, kind, reason, rows,"
            " records, token_before, token_after, fingerprint)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
            " ON CONFLICT (tenant_id, feed, fingerprint) WHERE status = 'held' DO NOTHING"
            " RETURNING id",
            (
                tenant,
                feed,
                now,
                run_id,
                suspicion.kind,
                suspicion.reason,
                len(records),
                orjson.dumps(records).decode(),
                token_before,
                token_after,
                fingerprint(records),
            ),
        ).fetchone()
        if row is None:  # already held from an earlier run
            existing = conn.execute(
                "SELECT id FROM nexus.quarantine WHERE tenant_id = %s AND feed = %s"
                " AND fingerprint = %s AND status = 'held'",
                (tenant, feed, fingerprint(records)),
            ).fetchone()
            assert existing is not None
            return int(existing[0])
        held_id = int(row[0])
        record_event(
            conn,
            at=now,
            kind="writes_quarantined",
            actor="nexus",
            tenant=tenant,
            product=TABLES[feed].table,
            reason=suspicion.reason,
            detail={"quarantine_id": held_id, "rows": len(records), "kind": suspicion.kind},
        )
        return held_id


def listing(conn: Connection, tenant: int | None = None, status: str | None = None) -> list[Held]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM nexus.quarantine"
        " WHERE (%(tenant)s::bigint IS NULL OR tenant_id = %(tenant)s)"
        " AND (%(status)s::text IS NULL OR status = %(status)s) ORDER BY id",
        {"tenant": tenant, "status": status},
    ).fetchall()
    return [Held(*r) for r in rows]


def get(conn: Connection, held_id: int) -> tuple[Held, list[Record]]:
    row = conn.execute(
        f"SELECT {COLUMNS}, records FROM nexus.quarantine WHERE id = %s", (held_id,)
    ).fetchone()
    if row is None:
        raise QuarantineError(
            f"no quarantined batch #{held_id}; `nexus quarantine list` shows them"
        )
    return Held(*row[:-1]), list(row[-1])


def _decide(conn: Connection, held_id: int, zone_of: ZoneOf) -> tuple[Held, list[Record]]:
    held, records = get(conn, held_id)
    if held.status != "held":
        decided = times.when(held.decided_at, zone_of(held.tenant))
        raise QuarantineError(
            f"quarantined batch #{held_id} was already {held.status} "
            f"by {held.decided_by} at {decided}; nothing to do"
        )
    return held, records


def _advance_token(conn: Connection, held: Held, now: datetime) -> bool:
    """Move the feed's token past the batch if it still waits before it."""
    cur = conn.execute(
        "UPDATE nexus.feeds SET token = %s, pages = pages + 1, updated_at = %s"
        " WHERE tenant_id = %s AND feed = %s AND token IS NOT DISTINCT FROM %s",
        (held.token_after, now, held.tenant, held.feed, held.token_before),
    )
    if cur.rowcount == 0 and held.token_before is None:
        conn.execute(
            "INSERT INTO nexus.feeds (tenant_id, feed, token, pages, updated_at)"
            " VALUES (%s, %s, %s, 1, %s) ON CONFLICT DO NOTHING",
            (held.tenant, held.feed, held.token_after, now),
        )
        return True
    return cur.rowcount == 1


def release(
    conn: Connection, held_id: int, *, actor: str, now: datetime, zone_of: ZoneOf = _utc
) -> int:
    """Load a held batch through the normal loader; return the rows changed.

    A batch decided already is an error naming when, in its tenant's zone (`zone_of`).
    """
    with conn.transaction():
        held, records = _decide(conn, held_id, zone_of)
        loader = Loader(conn, TABLES[held.feed], held.tenant)
        mark_sync_run(conn, f"quarantine-release-{held_id}")
        result = loader.load(records, now)
        _advance_token(conn, held, now)
        _close(conn, held, "released", actor, now, result.changed)
    return result.changed


def drop(
    conn: Connection, held_id: int, *, actor: str, now: datetime, zone_of: ZoneOf = _utc
) -> None:
    """Discard a held batch and let its feed move past it (errors as `release`)."""
    with conn.transaction():
        held, _ = _decide(conn, held_id, zone_of)
        _advance_token(conn, held, now)
        _close(conn, held, "dropped", actor, now, 0)


def _close(
    conn: Connection, held: Held, status: str, actor: str, now: datetime, changed: int
) -> None:
    conn.execute(
        "UPDATE nexus.quarantine SET status = %s, decided_at = %s, decided_by = %s WHERE id = %s",
        (status, now, actor, held.id),
    )
    record_event(
        conn,
        at=now,
        kind=f"quarantine_{status}",
        actor=actor,
        tenant=held.tenant,
        product=TABLES[held.feed].table,
        reason=held.reason,
        detail={"quarantine_id": held.id, "rows": held.rows, "rows_changed": changed},
    )
