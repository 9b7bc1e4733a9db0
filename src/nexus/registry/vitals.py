"""Vitals and orphans, read from the run ledger and the timeline — never from files.

A producer is `retired`, `failing` (its latest finished run failed),
`never_ran`, `late` (no success within twice its interval) or `alive`.
A product is orphaned when its owner is retired, missing from the
configuration, or has not succeeded within the product's freshness limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nexus.registry.model import RegistryConfig
from nexus.registry.ownership import Ownership, ownership
from nexus.store.connection import Connection

LATE_FACTOR = 2


@dataclass(frozen=True)
class LedgerEntry:
    """What the run ledger says about one producer of one tenant."""

    producer: str
    runs: int
    last_success: datetime | None
    last_run_id: int | None
    last_status: str | None
    last_finished: datetime | None
    last_error: str | None
    failures_since_success: int
    failed_run_ids: tuple[int, ...]


@dataclass(frozen=True)
class Vital:
    producer: str
    status: str  # alive | late | failing | retired | never_ran
    every_s: int
    last_success: datetime | None
    last_run_id: int | None
    error: str | None
    since: datetime | None  # retired since / failing since / late since
    products: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "producer": self.producer,
            "status": self.status,
            "last_success": _iso(self.last_success),
            "every_s": self.every_s,
            "last_run_id": self.last_run_id,
            "error": self.error,
            "since": _iso(self.since),
            "products": list(self.products),
        }


@dataclass(frozen=True)
class Orphan:
    product: str
    last_producer: str
    since: datetime | None
    why: str  # producer_retired | producer_missing | producer_stopped

    def as_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "last_producer": self.last_producer,
            "since": _iso(self.since),
            "why": self.why,
        }


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def ledger(conn: Connection, tenant: int, now: datetime) -> dict[str, LedgerEntry]:
    """One summary per producer of `tenant`, counting only runs started by `now`."""
    rows = conn.execute(
        """
        WITH r AS (
            SELECT * FROM nexus.runs WHERE tenant_id = %(tenant)s AND started_at <= %(now)s
        ), done AS (
            SELECT DISTINCT ON (producer) producer, id, status, finished_at, error
            FROM r WHERE status IN ('succeeded', 'failed')
            ORDER BY producer, started_at DESC, id DESC
        ), ok AS (
            SELECT producer, max(finished_at) AS last_success
            FROM r WHERE status = 'succeeded' GROUP BY producer
        )
        SELECT r.producer, count(*), ok.last_success, done.id, done.status, done.finished_at,
               done.error,
               count(*) FILTER (WHERE r.status = 'failed'
                                AND (ok.last_success IS NULL OR r.started_at > ok.last_success)),
               (array_agg(r.id ORDER BY r.started_at DESC) FILTER (
                    WHERE r.status = 'failed'
                    AND (ok.last_success IS NULL OR r.started_at > ok.last_success)))[1:5]
        FROM r LEFT JOIN ok USING (producer) LEFT JOIN done USING (producer)
        GROUP BY r.producer, ok.last_success, done.id, done.status, done.finished_at, done.error
        """,
        {"tenant": tenant, "now": now},
    ).fetchall()
    return {
        r[0]: LedgerEntry(
            producer=r[0],
            runs=r[1],
            last_success=r[2],
            last_run_id=r[3],
            last_status=r[4],
            last_finished=r[5],
            last_error=r[6],
            failures_since_success=r[7],
            failed_run_ids=tuple(r[8] or ()),
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
) -> tuple[str, str | None, datetime | None]:
    """(status, error, since) of one producer."""
    if retired_since is not None:
        return "retired", None, retired_since
    if entry is None or entry.last_status is None:
        return "never_ran", None, None
    if entry.last_status == "failed":
        return "failing", entry.last_error, entry.last_finished
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
    """Products nobody is keeping fresh, with since when."""
    state = state or ownership(conn, config)
    entries = entries if entries is not None else ledger(conn, tenant, now)
    limits = {p.name: p.max_age for p in config.products}
    found = []
    for product, owner in sorted(state.owners.items()):
        entry = entries.get(owner)
        last_success = entry.last_success if entry else None
        if owner in state.retired_producers:
            found.append(Orphan(product, owner, state.retired_producers[owner], "producer_retired"))
        elif owner not in state.declared:
            found.append(Orphan(product, owner, last_success, "producer_missing"))
        elif (
            config.producers[owner].enabled
            and entry is not None
            and (last_success is None or now - last_success > limits.get(product, timedelta.max))
        ):
            # A producer that never ran at all is reported by its vitals, not as an orphan.
            found.append(Orphan(product, owner, last_success, "producer_stopped"))
    return found
