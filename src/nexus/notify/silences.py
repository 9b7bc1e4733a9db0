"""Silences: mute one kind of cause (optionally of one producer) for a while, with a reason.

A silenced cause is still in the proof and still tracked; only its messages
are held back. A silence ends on its own at `ends_at`, or earlier with
`expire`; adding and expiring one are events on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

from nexus import times
from nexus.checks.alert import CauseKind
from nexus.errors import NexusError
from nexus.registry.timeline import record_event
from nexus.store.connection import Connection

#: Cause kinds a silence may name: the proof's.
SILENCEABLE: tuple[str, ...] = get_args(CauseKind)


class SilenceError(NexusError):
    """A silence cannot be added or expired as asked."""


@dataclass(frozen=True)
class Silence:
    id: int
    tenant: int
    cause_kind: str
    producer: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    actor: str
    expired_at: datetime | None

    @property
    def ended_at(self) -> datetime:
        """When it ends, or ended: at `ends_at`, or earlier when it was expired."""
        return self.ends_at if self.expired_at is None else min(self.ends_at, self.expired_at)

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ended_at

    def mutes(self, kind: str, producer: str | None, now: datetime) -> bool:
        """Whether it holds back a cause of `kind` (and `producer`) at `now`."""
        return (
            self.active(now)
            and self.cause_kind == kind
            and (self.producer is None or self.producer == producer)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "cause": self.cause_kind,
            "producer": self.producer,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "reason": self.reason,
            "actor": self.actor,
            "expired_at": None if self.expired_at is None else self.expired_at.isoformat(),
        }


_COLUMNS = "id, tenant_id, cause_kind, producer, starts_at, ends_at, reason, actor, expired_at"


def add_silence(
    conn: Connection,
    tenant: int,
    *,
    cause: str,
    producer: str | None,
    duration: timedelta,
    reason: str,
    actor: str,
    now: datetime,
) -> Silence:
    """Silence `cause` (of `producer`, or of any) from `now` for `duration`; on the timeline."""
    if cause not in SILENCEABLE:
        raise SilenceError(
            f"'{cause}' is not a kind of cause — use one of: {', '.join(SILENCEABLE)}"
        )
    if not reason.strip():
        raise SilenceError("a silence needs a reason — pass --reason 'why it may stay quiet'")
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO nexus.silences (tenant_id, cause_kind, producer, starts_at, ends_at,"
            f" reason, actor) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (tenant, cause, producer, now, now + duration, reason, actor),
        ).fetchone()
        assert row is not None
        silence = Silence(*row)
        record_event(
            conn,
            at=now,
            kind="silence_added",
            actor=actor,
            tenant=tenant,
            producer=producer,
            reason=reason,
            detail={"silence": silence.id, "cause": cause, "ends_at": silence.ends_at.isoformat()},
        )
    return silence


def expire_silence(
    conn: Connection,
    tenant: int,
    silence_id: int,
    *,
    actor: str,
    now: datetime,
    zone: ZoneInfo = times.UTC,
) -> Silence:
    """End a silence now; an unknown or already ended one is an error saying so.

    The error names the moment it ended in `zone` (the tenant's, from the CLI).
    """
    with conn.transaction():
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM nexus.silences WHERE id = %s AND tenant_id = %s FOR UPDATE",
            (silence_id, tenant),
        ).fetchone()
        if row is None:
            raise SilenceError(
                f"tenant {tenant} has no silence {silence_id} — `nexus silence list` shows them"
            )
        silence = Silence(*row)
        if not silence.active(now):
            raise SilenceError(
                f"silence {silence_id} already ended at "
                f"{times.local(silence.ended_at, zone)}; nothing to do"
            )
        conn.execute("UPDATE nexus.silences SET expired_at = %s WHERE id = %s", (now, silence_id))
        record_event(
            conn,
            at=now,
            kind="silence_expired",
            actor=actor,
            tenant=tenant,
            producer=silence.producer,
            reason=f"silence {silence_id} on {silence.cause_kind} ended early",
            detail={"silence": silence_id, "cause": silence.cause_kind},
        )
    return replace(silence, expired_at=now)


def record_ended(conn: Connection, tenant: int, now: datetime, *, actor: str) -> list[Silence]:
    """Put on the timeline each silence that ran out by `now`, once, at the moment it ended.

    A silence that ends on its own is closed here (`expired_at` = its end), so several
    notifiers evaluating at once record it once. Returns the silences closed.
    """
    ended = []
    with conn.transaction():
        rows = conn.execute(
            "UPDATE nexus.silences SET expired_at = ends_at"
            " WHERE tenant_id = %s AND expired_at IS NULL AND ends_at <= %s"
            f" RETURNING {_COLUMNS}",
            (tenant, now),
        ).fetchall()
        for row in sorted(rows, key=lambda r: r[5]):
            silence = Silence(*row)
            record_event(
                conn,
                at=silence.ends_at,
                kind="silence_ended",
                actor=actor,
                tenant=tenant,
                producer=silence.producer,
                reason=f"silence {silence.id} on {silence.cause_kind} ran its course",
                detail={"silence": silence.id, "cause": silence.cause_kind},
            )
            ended.append(silence)
    return ended


def silences(conn: Connection, tenant: int, now: datetime, *, every: bool = False) -> list[Silence]:
    """The silences of `tenant` active at `now` (every one with `every`), newest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM nexus.silences WHERE tenant_id = %s AND starts_at <= %s"
        " ORDER BY starts_at DESC, id DESC",
        (tenant, now),
    ).fetchall()
    found = [Silence(*r) for r in rows]
    return found if every else [s for s in found if s.active(now)]
