"""Vitals and orphans, read from the run ledger and the timeline — never from files.

A producer is `retired`, `failing` (its latest finished run failed),
`never_ran`, `late` (no success within twice its interval) or `alive`.
A product is orphaned when it has no live owner: its owner is retired,
missing from the configuration, or has never run. A failing or late owner is
alive; its products are behind, and the proof says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from nexus.registry.model import RegistryConfig
from nexus.registry.ownership import Ownership, ownership
from nexus.store.connection import Connection

LATE_FACTOR = 2


@dataclass(frozen=True)
class LedgerEntry:
    """What the run ledger says about one producer of one tenant."""

    producer: str
    last_success: datetime | None
    last_run_id: int | None
    last_status: str | None
    last_finished: datetime | None
    last_error: str | None
    failures_since_success: int
    failed_run_ids: tuple[int, ...]
    #: when the first failed run after the last success started: the failure's onset
    failing_since: datetime | None = None


VitalStatus = Literal["alive", "late", "failing", "retired", "never_ran"]
OrphanReason = Literal["producer_retired", "producer_missing", "producer_never_ran"]


@dataclass(frozen=True)
class Vital:
    producer: str
    status: VitalStatus
    every_s: int
    last_success: datetime | None
    last_run_id: int | None
    error: str | None
    #: the onset: retired since, failing since its first failed run, late since its deadline
    since: datetime | None
    products: tuple[str, ...]


@dataclass(frozen=True)
class Orphan:
    """A product with no live owner."""

    product: str
    last_producer: str
    since: datetime | None
    why: OrphanReason


#: One summary per producer, each read from the newest runs only (see `ledger`).
_LEDGER = """
WITH RECURSIVE p(producer) AS (
    SELECT min(producer) FROM nexus.runs
    WHERE tenant_id = %(tenant)s AND started_at <= %(now)s
  UNION ALL
    SELECT (SELECT min(producer) FROM nexus.runs
            WHERE tenant_id = %(tenant)s AND producer > p.producer AND started_at <= %(now)s)
    FROM p WHERE p.producer IS NOT NULL
)
SELECT p.producer, ok.last_success, done.id, done.status, done.finished_at, done.error,
       failed.n, failed.ids, failed.since
FROM p
CROSS JOIN LATERAL (
    SELECT max(finished_at) AS last_success FROM nexus.runs
    WHERE tenant_id = %(tenant)s AND producer = p.producer AND status = 'succeeded'
      AND started_at <= %(now)s
) ok
LEFT JOIN LATERAL (
    SELECT id, status, finished_at, error FROM nexus.runs
    WHERE tenant_id = %(tenant)s AND producer = p.producer AND started_at <= %(now)s
      AND status IN ('succeeded', 'failed')
    ORDER BY started_at DESC, id DESC LIMIT 1
) done ON true
CROSS JOIN LATERAL (
    SELECT count(*) AS n, (array_agg(id ORDER BY started_at DESC, id DESC))[1:5] AS ids,
           min(started_at) AS since
    FROM nexus.runs
    WHERE tenant_id = %(tenant)s AND producer = p.producer AND status = 'failed'
      AND started_at <= %(now)s
      AND started_at > coalesce(ok.last_success, '-infinity')
) failed
WHERE p.producer IS NOT NULL
"""


def ledger(conn: Connection, tenant: int, now: datetime) -> dict[str, LedgerEntry]:
    """One summary per producer of `tenant`, counting only runs started by `now`.

    Its cost follows the producers and their failures since each one's last
    success, not the ledger's length: every part is read through the runs'
    indexes from the newest end (the producers by a skip over the index, the
    failures through the index of failed runs), so a proof built every 15
    minutes for a year reads as little as on its first day.
    """
    rows = conn.execute(_LEDGER, {"tenant": tenant, "now": now}).fetchall()
    return {
        r[0]: LedgerEntry(
            producer=r[0],
            last_success=r[1],
            last_run_id=r[2],
            last_status=r[3],
            last_finished=r[4],
            last_error=r[5],
            failures_since_success=r[6],
            failed_run_ids=tuple(r[7] or ()),
            failing_since=r[8],
        )
        for r in rows
    }


def vitals(
    conn: Connection,
    config: RegistryConfig,
    tenant: int,
    now: datetime,
    state: Ownership | None = None,
    entries: dict[str, LedgerEntry] | None = None,
) -> list[Vital]:
    """The vitals of every enabled or retired producer, in configuration order."""
    state = state or ownership(conn, config)
    entries = entries if entries is not None else ledger(conn, tenant, now)
    result = []
    for name, producer in config.producers.items():
        if not producer.enabled and name not in state.retired_producers:
            continue
        entry = entries.get(name)
        result.append(
            _vital(name, producer.every, entry, state.retired_producers.get(name), now, state)
        )
    return result


def _vital(
    name: str,
    every: timedelta,
    entry: LedgerEntry | None,
    retired_since: datetime | None,
    now: datetime,
    state: Ownership,
) -> Vital:
    status, error, since = _status(every, entry, retired_since, now)
    return Vital(
        producer=name,
        status=status,
        every_s=int(every.total_seconds()),
        last_success=entry.last_success if entry else None,
        last_run_id=entry.last_run_id if entry else None,
        error=error,
        since=since,
        products=tuple(state.owned_by(name)),
    )


def _status(
    every: timedelta, entry: LedgerEntry | None, retired_since: datetime | None, now: datetime
) -> tuple[VitalStatus, str | None, datetime | None]:
    """(status, error, since) of one producer."""
    if retired_since is not None:
        return "retired", None, retired_since
    if entry is None or entry.last_status is None:
        return "never_ran", None, None
    if entry.last_status == "failed":
        return "failing", entry.last_error, entry.failing_since or entry.last_finished
    deadline = LATE_FACTOR * every
    if entry.last_success is None or now - entry.last_success > deadline:
        return "late", None, entry.last_success + deadline if entry.last_success else None
    return "alive", None, None


def orphans(
    conn: Connection,
    config: RegistryConfig,
    tenant: int,
    now: datetime,
    state: Ownership | None = None,
    entries: dict[str, LedgerEntry] | None = None,
) -> list[Orphan]:
    """Products with no live owner, with since when.

    A producer Nexus runs that has never run at all is no owner yet; an outside
    producer never writes the ledger, so only its products' freshness speaks for it.
    """
    state = state or ownership(conn, config)
    entries = entries if entries is not None else ledger(conn, tenant, now)
    found = []
    for product, owner in sorted(state.owners.items()):
        entry = entries.get(owner)
        if owner in state.retired_producers:
            found.append(Orphan(product, owner, state.retired_producers[owner], "producer_retired"))
        elif owner not in state.declared:
            last = entry.last_success if entry else None
            found.append(Orphan(product, owner, last, "producer_missing"))
        elif (
            config.producers[owner].enabled
            and config.producers[owner].kind != "external"
            and entry is None
        ):
            found.append(Orphan(product, owner, None, "producer_never_ran"))
    return found
