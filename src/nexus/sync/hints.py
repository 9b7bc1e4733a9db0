"""ServiceTitan webhooks as hints: "refresh these ids now", read and recorded.

ServiceTitan's payload shape is not documented, so the reader is tolerant and
trusts nothing but feed names and ids: amounts are always read back from
ServiceTitan by the refresh (`nexus.sync.refresh`). An accepted delivery is
one row in `nexus.webhook_hints`, which is also the replay protection.

ServiceTitan retries a delivery it did not see answered (after 10, 30, 60 and
300 s, then by hand) with the same body and signature, so a body seen before
is a re-delivery, not an attack: it is acknowledged with the hint it made and
refreshes nothing again, unless that hint's refresh failed, when it is queued
once more. A delivery id seen before with another body is refused.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from nexus.catalog import FEEDS
from nexus.servicetitan.webhook_signature import SignatureScheme, WebhookRefused, verify_signature
from nexus.store.connection import Connection

#: Bodies larger than this are refused before they are hashed or parsed.
MAX_BODY_BYTES = 1_000_000
#: More ids than this in one delivery is not a hint but a backfill: use `nexus sync`.
MAX_IDS = 5_000


def _feed_words() -> dict[str, str]:
    """Feed names, singular and plural, for every feed of the catalog."""
    words = {}
    for name in FEEDS:
        singular = name[:-3] + "y" if name.endswith("ies") else name.removesuffix("s")
        words[name] = words[singular] = name
    return words


# The leading words of an event or entity type, lower-cased and joined by "_", name
# the feed: "InvoiceItem.Updated" is invoice_items, "Invoice.Updated" invoices.
_FEEDS = _feed_words()
_TYPE_KEYS = ("entityType", "entity", "resourceType", "eventType", "type", "event", "topic")
_DELIVERY_KEYS = ("eventId", "deliveryId", "webhookId", "event_id", "delivery_id")
_NESTED = ("data", "entity", "record", "resource", "payload")
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


class BadHint(WebhookRefused):
    status = 400


class ReplayRefused(WebhookRefused):
    status = 409


@dataclass(frozen=True)
class Hint:
    """What one delivery asks for: ids to refresh per feed. Nothing else is trusted."""

    targets: dict[str, list[int]]
    event_type: str | None
    delivery_id: str | None

    @property
    def ids(self) -> int:
        return sum(len(ids) for ids in self.targets.values())


def parse_hint(body: bytes) -> Hint:
    """Read a delivery: one event object, a list of them, or `{"events": [...]}`.

    ServiceTitan's payload shape is not documented, so the reader is tolerant:
    the feed comes from the leading words of `entityType`, `eventType`, `type`…
    ("Invoice.Updated", "invoice_updated", "InvoiceUpdated" → invoices;
    "Appointment.Rescheduled" → appointments) and the
    ids from `ids`, `entityId(s)`, `id`, or the `id` of a nested `data` object.
    Events about things Nexus does not mirror are kept with no targets.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadHint("the body is not JSON; a webhook must be a JSON object") from None
    if isinstance(doc, dict) and isinstance(doc.get("events"), list):
        events: list[Any] = doc["events"]
    elif isinstance(doc, list):
        events = doc
    else:
        events = [doc]
    if not events or not all(isinstance(e, dict) for e in events):
        raise BadHint("expected a JSON object (or a list of objects) describing the change")
    targets: dict[str, list[int]] = {}
    types: list[str] = []
    delivery: str | None = None
    for event in events:
        kind = _event_type(event)
        if kind:
            types.append(kind)
        feed = _feed(event)
        delivery = delivery or _delivery_id(event)
        if feed is None:
            continue
        ids = _ids(event)
        if not ids:
            raise BadHint(f"the {feed} event names no record id (expected `id` or `ids`)")
        seen = targets.setdefault(feed, [])
        seen.extend(i for i in ids if i not in seen)
    total = sum(len(v) for v in targets.values())
    if total > MAX_IDS:
        raise BadHint(
            f"the delivery names {total} ids, more than {MAX_IDS}; "
            "run `nexus sync` for changes of this size"
        )
    if isinstance(doc, dict) and delivery is None:
        delivery = _delivery_id(doc)
    event_type = ", ".join(dict.fromkeys(types))[:200] or None
    return Hint(targets, event_type, delivery)


def _event_type(event: Mapping[str, Any]) -> str | None:
    for key in _TYPE_KEYS:
        value = event.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _feed(event: Mapping[str, Any]) -> str | None:
    for key in _TYPE_KEYS:
        value = event.get(key)
        if isinstance(value, str):
            words = [w.lower() for w in _WORD.findall(value)]
            for length in range(min(len(words), 3), 0, -1):
                name = "_".join(words[:length])
                if name in _FEEDS:
                    # The longest name wins: an invoice item is not an invoice. A feed
                    # ServiceTitan cannot read back by id is left to its export.
                    feed = _FEEDS[name]
                    return feed if FEEDS[feed].refreshable else None
    return None


def _delivery_id(event: Mapping[str, Any]) -> str | None:
    for key in _DELIVERY_KEYS:
        value = event.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[:200]
    return None


def _ids(event: Mapping[str, Any]) -> list[int]:
    for key in ("ids", "entityIds", "recordIds"):
        if key in event:
            value = event[key]
            if not isinstance(value, list):
                raise BadHint(f"`{key}` must be a list of record ids")
            return [_id(v, key) for v in value]
    for key in ("entityId", "recordId"):
        if key in event:
            return [_id(event[key], key)]
    for key in _NESTED:
        inner = event.get(key)
        if isinstance(inner, dict) and "id" in inner:
            return [_id(inner["id"], f"{key}.id")]
    if "id" in event:
        return [_id(event["id"], "id")]
    return []


def _id(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise BadHint(f"`{where}` must be a record id, not {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    raise BadHint(f"`{where}` must be a positive integer record id, not {str(value)[:40]!r}")


@dataclass(frozen=True)
class Accepted:
    """A recorded delivery: its hint, and whether it still waits for a refresh."""

    hint_id: int
    tenant: int
    targets: dict[str, list[int]]
    status: str  # pending | ignored | refreshed (a re-delivery of a refreshed hint)
    redelivery: bool = False
    received: float = field(default_factory=time.monotonic)


def verify_delivery(
    *,
    tenant: int,
    body: bytes,
    signature: str | None,
    secret: bytes | None,
    secret_source: str,
    scheme: SignatureScheme,
) -> Hint:
    """Check the signature and read the body, or raise; writes nothing."""
    verify_signature(
        tenant=tenant,
        body=body,
        signature=signature,
        secret=secret,
        secret_source=secret_source,
        scheme=scheme,
    )
    return parse_hint(body)


def record_hint(conn: Connection, tenant: int, body: bytes, hint: Hint, now: Any) -> Accepted:
    """Record an accepted delivery and return its hint.

    A re-delivery of a body seen before returns the hint it made (pending again
    if its refresh failed); the delivery id of an earlier delivery on another
    body raises `ReplayRefused`.
    """
    digest = hashlib.sha256(body).digest()
    status = "pending" if hint.targets else "ignored"
    row = conn.execute(
        "INSERT INTO nexus.webhook_hints (tenant_id, received_at, body_sha256, delivery_id,"
        " event_type, targets, status) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING id",
        (tenant, now, digest, hint.delivery_id, hint.event_type, Jsonb(hint.targets), status),
    ).fetchone()
    if row is not None:
        return Accepted(int(row[0]), tenant, hint.targets, status)
    earlier = conn.execute(
        "SELECT id, targets, status FROM nexus.webhook_hints"
        " WHERE tenant_id = %s AND body_sha256 = %s",
        (tenant, digest),
    ).fetchone()
    if earlier is None:
        raise ReplayRefused(
            f"tenant {tenant}: delivery {hint.delivery_id} was accepted before with another "
            "body; ServiceTitan re-delivers a body unchanged, so this is refused as a replay"
        )
    hint_id, targets, status = int(earlier[0]), dict(earlier[1]), str(earlier[2])
    if status == "failed":
        # The refresh this delivery asked for never happened: its re-delivery asks again.
        conn.execute(
            "UPDATE nexus.webhook_hints SET status = 'pending', refreshed_at = NULL,"
            " run_id = NULL, rows_changed = NULL, error = NULL"
            " WHERE id = %s AND status = 'failed'",
            (hint_id,),
        )
        status = "pending"
    return Accepted(hint_id, tenant, targets, status, redelivery=True)


# -- reading hints back ------------------------------------------------------------------------

#: The statuses a hint can have, in the order the webhooks page counts them.
HINT_STATUSES = ("pending", "refreshed", "ignored", "failed")


@dataclass(frozen=True)
class HintRecord:
    """One accepted delivery as recorded: what it asked for and how its refresh went."""

    id: int
    received_at: datetime
    delivery_id: str | None
    event_type: str | None
    targets: dict[str, list[int]]
    status: str
    refreshed_at: datetime | None
    run_id: int | None
    rows_changed: int | None
    error: str | None


#: A record's columns are named as its fields, so one list reads them in order.
_RECORD_COLUMNS = ", ".join(f.name for f in fields(HintRecord))


@dataclass(frozen=True)
class RefreshLatency:
    """Seconds from accepting a hint to its ids being loaded, over the latest refreshed hints."""

    p50: float | None
    p99: float | None
    of: int


def recent_hints(conn: Connection, tenant: int, until: datetime, limit: int) -> list[HintRecord]:
    """The latest `limit` deliveries accepted until `until`, newest first."""
    rows = conn.execute(
        f"SELECT {_RECORD_COLUMNS} FROM nexus.webhook_hints"
        " WHERE tenant_id = %s AND received_at <= %s"
        " ORDER BY received_at DESC, id DESC LIMIT %s",
        (tenant, until, limit),
    ).fetchall()
    return [HintRecord(*row) for row in rows]


def hint_counts(conn: Connection, tenant: int) -> dict[str, int]:
    """How many of the tenant's hints have each status (every status, zero included)."""
    counted = dict(
        conn.execute(
            "SELECT status, count(*) FROM nexus.webhook_hints WHERE tenant_id = %s GROUP BY status",
            (tenant,),
        ).fetchall()
    )
    return {status: int(counted.get(status, 0)) for status in HINT_STATUSES}


def refresh_latency(conn: Connection, tenant: int, latest: int = 1000) -> RefreshLatency:
    """The median and 99th percentile refresh time of the `latest` refreshed hints."""
    row = conn.execute(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s),"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY s), count(*) FROM ("
        " SELECT extract(epoch FROM refreshed_at - received_at) AS s"
        " FROM nexus.webhook_hints WHERE tenant_id = %s AND status = 'refreshed'"
        " ORDER BY received_at DESC LIMIT %s) x",
        (tenant, latest),
    ).fetchone()
    assert row is not None  # an aggregate always answers one row
    p50, p99, of = row
    return RefreshLatency(
        None if p50 is None else round(float(p50), 3),
        None if p99 is None else round(float(p99), 3),
        int(of),
    )
