"""Losses: what the reconciles found the export had lost, per feed, and whether it is repaired.

A reconcile counts a record as lost when the mirror lacks it or differs from
ServiceTitan and ServiceTitan's change is older than the feed's last sync
(`reconcile.LOST`); it keeps each one in `nexus.reconcile_losses` with whether
its repair loaded it. `feed_losses` reads them for the proof, one `FeedLoss`
per feed that reconciles finished in the window found losses in:

- `lost`: the distinct records found lost by those reconciles (a record left
  unrepaired and so found again counts once);
- `compared`: the records compared, for a rate with its n (`FeedLoss.rate`):
  the most any of them compared, and never fewer than `lost`, since every lost
  record was compared;
- `since`: the onset, when the first reconcile of the current streak finished.
  The streak runs back from the latest reconcile in the window that found
  losses, through the ones that found some, to just after the last one that
  found none. A reconcile of recent changes only (`--since`) that finds none
  does not end a streak: it did not look at the older records;
- `found_by` and `repaired_by`: the reconcile runs in the window that found
  losses, and those whose repair loaded some of them;
- `repaired`: whether every record found lost is repaired now — loaded by the
  repair of the latest reconcile that found it, or no longer found by a later
  full one.

Only reconciles finished at or before `now` count, so a replay reads the past
as it was. Reconciliations recorded before `nexus.reconcile_losses` existed
count towards `lost` and the onset by their per-feed totals only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from nexus.catalog import FEEDS
from nexus.stats import Rate, wilson
from nexus.store.connection import Connection
from nexus.sync.reconcile import LOST


@dataclass(frozen=True)
class FeedLoss:
    """What reconciles in a window found one feed's export had lost."""

    feed: str
    lost: int
    compared: int
    since: datetime
    found_by: tuple[int, ...]
    repaired_by: tuple[int, ...]
    repaired: bool

    @property
    def rate(self) -> Rate:
        """The share of compared records found lost, with its Wilson interval."""
        return wilson(self.lost, self.compared)


@dataclass(frozen=True)
class _Compared:
    """One reconciliation of one feed, as its per-feed totals tell it."""

    id: int
    run_id: int
    finished_at: datetime
    full: bool  # compared every record, not only recent changes
    lost: int
    records: int


#: The distinct records lost in some reconciliations, and how many of them are unrepaired:
#: their latest finding was not repaired, and no full reconcile came after it.
_DISTINCT_LOST = """
WITH latest AS (
    SELECT DISTINCT ON (l.key) l.repaired, r.finished_at, r.id
    FROM nexus.reconcile_losses l JOIN nexus.reconciliations r ON r.id = l.reconciliation_id
    WHERE l.tenant_id = %(tenant)s AND l.feed = %(feed)s AND l.reconciliation_id = ANY(%(ids)s)
    ORDER BY l.key, r.finished_at DESC, r.id DESC
)
SELECT count(*), count(*) FILTER (
    WHERE NOT repaired AND (
        %(full_at)s::timestamptz IS NULL
        OR (finished_at, id) >= (%(full_at)s::timestamptz, %(full_id)s::bigint)
    )
)
FROM latest
"""


def feed_losses(
    conn: Connection, tenant: int, now: datetime, window: timedelta = timedelta(days=7)
) -> list[FeedLoss]:
    """Per feed in catalog order, what reconciles finished in (now - window, now] found lost."""
    if window <= timedelta(0):
        raise ValueError(f"feed_losses: window {window} must be longer than zero, e.g. 7 days")
    if now.tzinfo is None:
        raise ValueError(f"feed_losses: now {now!r} is naive: give a timezone (UTC)")
    history = _history(conn, tenant, now)
    losses = []
    for feed in (name for name in FEEDS if name in history):
        found = _feed_loss(conn, tenant, feed, history[feed], now - window)
        if found is not None:
            losses.append(found)
    return losses


def _feed_loss(
    conn: Connection, tenant: int, feed: str, history: list[_Compared], start: datetime
) -> FeedLoss | None:
    recent = [r for r in history if r.finished_at > start]
    lossy = [r for r in recent if r.lost]
    if not lossy:
        return None
    ids = [r.id for r in recent]
    fulls = [r for r in history if r.full]
    last_full = fulls[-1] if fulls else None
    row = conn.execute(
        _DISTINCT_LOST,
        {
            "tenant": tenant,
            "feed": feed,
            "ids": ids,
            "full_at": last_full.finished_at if last_full else None,
            "full_id": last_full.id if last_full else None,
        },
    ).fetchone()
    assert row is not None
    distinct, unrepaired = int(row[0]), int(row[1])
    repairing = {
        int(r[0])
        for r in conn.execute(
            "SELECT DISTINCT reconciliation_id FROM nexus.reconcile_losses"
            " WHERE tenant_id = %s AND feed = %s AND reconciliation_id = ANY(%s) AND repaired",
            (tenant, feed, ids),
        )
    }
    lost = max(distinct, *(r.lost for r in lossy))
    return FeedLoss(
        feed=feed,
        lost=lost,
        compared=max(lost, *(r.records for r in recent)),
        since=_onset(history, history.index(lossy[-1])),
        found_by=tuple(r.run_id for r in lossy),
        repaired_by=tuple(r.run_id for r in recent if r.id in repairing),
        repaired=unrepaired == 0,
    )


def _onset(history: list[_Compared], latest: int) -> datetime:
    """When the first reconcile of the streak that `history[latest]` belongs to finished."""
    since = history[latest].finished_at
    for r in reversed(history[:latest]):
        if r.lost:
            since = r.finished_at
        elif r.full:
            break
    return since


def _history(conn: Connection, tenant: int, now: datetime) -> dict[str, list[_Compared]]:
    """Every reconciliation finished by `now`, per feed it compared, oldest first."""
    lost = " + ".join(f"coalesce((f.value ->> '{klass}')::int, 0)" for klass in LOST)
    rows = conn.execute(
        "SELECT r.id, r.run_id, r.finished_at, r.since IS NULL, f.key,"
        f" {lost}, coalesce((f.value ->> 'records')::int, 0)"
        " FROM nexus.reconciliations r, jsonb_each(r.feeds) f"
        " WHERE r.tenant_id = %s AND r.finished_at <= %s ORDER BY r.finished_at, r.id",
        (tenant, now),
    ).fetchall()
    history: dict[str, list[_Compared]] = {}
    for rid, run_id, finished, full, feed, lost_n, records in rows:
        history.setdefault(feed, []).append(
            _Compared(int(rid), int(run_id), finished, bool(full), int(lost_n), int(records))
        )
    return history
