"""The timeline: every retirement, hand-over, restoration, outage and quarantine.

Each event says who did what, when and why. Orphan ages and probable causes
are taken from it, and the dashboard shows it.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from nexus.store.connection import Connection


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    kind: str
    actor: str
    tenant: int | None = None
    producer: str | None = None
    product: str | None = None
    reason: str | None = None
    detail: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "actor": self.actor,
            "tenant": self.tenant,
            "producer": self.producer,
            "product": self.product,
            "reason": self.reason,
            "detail": self.detail or {},
        }


def current_actor() -> str:
    """Who is acting: NEXUS_ACTOR if set, else the operating-system user."""
    actor = os.environ.get("NEXUS_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record_event(
    conn: Connection,
    *,
    at: datetime,
    kind: str,
    actor: str,
    tenant: int | None = None,
    producer: str | None = None,
    product: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO nexus.events (tenant_id, at, kind, producer, product, actor, reason, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) RETURNING id",
        (
            tenant,
            at,
            kind,
            producer,
            product,
            actor,
            reason,
            orjson.dumps(detail or {}).decode(),
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def events(
    conn: Connection,
    *,
    tenant: int | None = None,
    producer: str | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[Event]:
    """Events newest first; tenant-wide events (tenant NULL) are always included."""
    rows = conn.execute(
        "SELECT id, at, kind, actor, tenant_id, producer, product, reason, detail"
        " FROM nexus.events"
        " WHERE (%(tenant)s::bigint IS NULL OR tenant_id IS NULL OR tenant_id = %(tenant)s)"
        " AND (%(producer)s::text IS NULL OR producer = %(producer)s)"
        " AND (%(until)s::timestamptz IS NULL OR at <= %(until)s)"
        " ORDER BY at DESC, id DESC LIMIT %(limit)s",
        {"tenant": tenant, "producer": producer, "until": until, "limit": limit},
    ).fetchall()
    return [
        Event(
            id=r[0],
            at=r[1],
            kind=r[2],
            actor=r[3],
            tenant=r[4],
            producer=r[5],
            product=r[6],
            reason=r[7],
            detail=r[8],
        )
        for r in rows
    ]
