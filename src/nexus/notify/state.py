"""What the notifier remembers, in Postgres: cause episodes and the send log.

An episode is one stretch of time a root cause held (`nexus.notify_episodes`);
the send log (`nexus.notifications`) has one row per message and channel,
unique on (tenant, cause key, fingerprint, channel). A message is claimed by
inserting its row (`sending`) before it is sent, so of several notifiers evaluating at
once only the one whose insert lands sends it; a failed send keeps its row as
`failed` and is tried again on the next evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from nexus.store.connection import Connection

_EPISODE_COLUMNS = (
    "id, cause_key, severity, first_seen, last_seen, fired_at, fired_severity, last_sent_at,"
    " sends, resolved_at, headline"
)


@dataclass(frozen=True)
class Episode:
    id: int
    cause_key: str
    severity: str
    first_seen: datetime
    last_seen: datetime
    fired_at: datetime | None
    fired_severity: str | None
    last_sent_at: datetime | None
    sends: int
    resolved_at: datetime | None
    #: the cause in a few words, as it was last sent (None until it fires)
    headline: str | None = None


@dataclass(frozen=True)
class Sent:
    """One row of the send log."""

    id: int
    cause_key: str
    fingerprint: str
    kind: str
    severity: str | None
    channel: str
    service: str
    title: str
    at: datetime
    outcome: str
    attempts: int
    error: str | None


def open_episodes(conn: Connection, tenant: int) -> dict[str, Episode]:
    """The episodes still open for `tenant`, by cause key."""
    rows = conn.execute(
        f"SELECT {_EPISODE_COLUMNS} FROM nexus.notify_episodes"
        " WHERE tenant_id = %s AND resolved_at IS NULL",
        (tenant,),
    ).fetchall()
    return {r[1]: Episode(*r) for r in rows}


def begin_episode(
    conn: Connection, tenant: int, cause_key: str, severity: str, now: datetime
) -> None:
    """Open an episode for a cause first seen at `now`; one opened meanwhile by another stays."""
    conn.execute(
        "INSERT INTO nexus.notify_episodes (tenant_id, cause_key, severity, first_seen, last_seen)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, cause_key) WHERE resolved_at IS NULL DO NOTHING",
        (tenant, cause_key, severity, now, now),
    )


def seen(conn: Connection, episode: Episode, severity: str, now: datetime) -> Episode:
    """Note that the episode's cause still holds at `now`, at `severity`."""
    conn.execute(
        "UPDATE nexus.notify_episodes SET last_seen = %s, severity = %s WHERE id = %s",
        (now, severity, episode.id),
    )
    return replace(episode, last_seen=now, severity=severity)


def mark_sent(
    conn: Connection, episode: Episode, severity: str, headline: str, now: datetime
) -> None:
    """The episode's firing (or repeat) went out at `now`, at `severity`, saying `headline`."""
    conn.execute(
        "UPDATE nexus.notify_episodes SET fired_at = coalesce(fired_at, %s),"
        " fired_severity = %s, last_sent_at = %s, sends = sends + 1, headline = %s"
        " WHERE id = %s",
        (now, severity, now, headline, episode.id),
    )


def resolve(conn: Connection, episode: Episode, now: datetime) -> None:
    conn.execute(
        "UPDATE nexus.notify_episodes SET resolved_at = %s WHERE id = %s", (now, episode.id)
    )


def claim(
    conn: Connection,
    tenant: int,
    *,
    cause_key: str,
    fingerprint: str,
    kind: str,
    severity: str | None,
    channel: str,
    service: str,
    title: str,
    now: datetime,
) -> int | None:
    """Claim a message for a channel: its row's id if this notifier should send it, else None.

    A row `sent` or `sending` belongs to whoever claimed it first; a `failed` one is claimed
    again. A notifier that dies mid-send leaves its row `sending`: that message is not
    sent twice.
    """
    row = conn.execute(
        "INSERT INTO nexus.notifications (tenant_id, cause_key, fingerprint, kind, severity,"
        " channel, service, title, at, outcome)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'sending')"
        " ON CONFLICT (tenant_id, cause_key, fingerprint, channel)"
        " DO UPDATE SET at = EXCLUDED.at, outcome = 'sending'"
        " WHERE nexus.notifications.outcome = 'failed'"
        " RETURNING id",
        (tenant, cause_key, fingerprint, kind, severity, channel, service, title, now),
    ).fetchone()
    return None if row is None else int(row[0])


def record_outcome(
    conn: Connection, row_id: int, *, ok: bool, attempts: int, error: str | None
) -> None:
    conn.execute(
        "UPDATE nexus.notifications SET outcome = %s, attempts = attempts + %s, error = %s"
        " WHERE id = %s",
        ("sent" if ok else "failed", attempts, error, row_id),
    )


def send_log(
    conn: Connection, tenant: int, *, until: datetime | None = None, limit: int = 100
) -> list[Sent]:
    """The send log of `tenant`, newest first."""
    rows = conn.execute(
        "SELECT id, cause_key, fingerprint, kind, severity, channel, service, title, at, outcome,"
        " attempts, error FROM nexus.notifications WHERE tenant_id = %s"
        " AND (%s::timestamptz IS NULL OR at <= %s) ORDER BY at DESC, id DESC LIMIT %s",
        (tenant, until, until, limit),
    ).fetchall()
    return [Sent(*r) for r in rows]


def failing_channels(conn: Connection, tenant: int) -> dict[str, Sent]:
    """Channels whose latest message failed, with that message."""
    latest: dict[str, Sent] = {}
    for sent in send_log(conn, tenant, limit=500):
        latest.setdefault(sent.channel, sent)
    return {name: s for name, s in latest.items() if s.outcome == "failed"}
