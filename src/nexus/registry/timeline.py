"""The timeline: every retirement, hand-over, restoration, outage and quarantine.

Each event says who did what, when and why. Orphan ages and probable causes
are taken from it, and the dashboard shows it.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
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


#: The columns of an event, in the order of `Event`'s fields.
_COLUMNS = "id, at, kind, actor, tenant_id, producer, product, reason, detail"


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
        f"SELECT {_COLUMNS} FROM nexus.events"
        " WHERE (%(tenant)s::bigint IS NULL OR tenant_id IS NULL OR tenant_id = %(tenant)s)"
        " AND (%(producer)s::text IS NULL OR producer = %(producer)s)"
        " AND (%(until)s::timestamptz IS NULL OR at <= %(until)s)"
        " ORDER BY at DESC, id DESC LIMIT %(limit)s",
        {"tenant": tenant, "producer": producer, "until": until, "limit": limit},
    ).fetchall()
    return [Event(*row) for row in rows]


def product_events(
    conn: Connection,
    tenant: int,
    product: str,
    producers: Iterable[str],
    until: datetime,
    limit: int = 100,
) -> list[Event]:
    """Events about `product`, or about one of its `producers` and no product, newest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM nexus.events"
        " WHERE (tenant_id IS NULL OR tenant_id = %s) AND at <= %s"
        " AND (product = %s OR (product IS NULL AND producer = ANY(%s)))"
        " ORDER BY at DESC, id DESC LIMIT %s",
        (tenant, until, product, sorted(producers), limit),
    ).fetchall()
    return [Event(*row) for row in rows]


def event_kinds(conn: Connection) -> list[str]:
    """Every kind of event recorded so far, in order: what the timeline can be filtered by."""
    return [row[0] for row in conn.execute("SELECT DISTINCT kind FROM nexus.events ORDER BY 1")]


def event_producers(conn: Connection) -> list[str]:
    """Every producer named by an event so far, in order."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT producer FROM nexus.events WHERE producer IS NOT NULL ORDER BY 1"
        )
    ]
