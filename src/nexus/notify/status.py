"""What the dashboard shows of notifications: the silences in force and the channels failing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nexus.notify.silences import Silence, silences
from nexus.notify.state import Sent, failing_channels, send_log
from nexus.store.database import Database

RECENT = 10


@dataclass(frozen=True)
class NotifyStatus:
    silences: tuple[Silence, ...]
    failing: tuple[Sent, ...]
    recent: tuple[Sent, ...]


def notify_status(db: Database, tenant: int, now: datetime) -> NotifyStatus:
    """The silences in force at `now`, the channels now failing, and the latest sends."""
    with db.connect(autocommit=True) as conn:
        return NotifyStatus(
            silences=tuple(silences(conn, tenant, now)),
            failing=tuple(failing_channels(conn, tenant).values()),
            recent=tuple(send_log(conn, tenant, until=now, limit=RECENT)),
        )
