"""Trouble a test can switch on for one tenant: outages, throttling, bad data, lost changes.

Each fault lasts until its `until` (virtual time) or until cleared. The API
consults them on every request; `describe()` says what is active.

- outage: every API call answers `status` (default 503), as JSON or as an HTML page
- rate_limit: more than `per_second` calls in a wall-clock second get 429 + Retry-After
- slow: every API answer is delayed by `delay_s` wall-clock seconds
- malformed_record: the next export page(s) of a feed carry one broken record (the next
  list page(s), for a reference list without an export)
- token_rejection: the token endpoint answers 401; optionally tokens issued so far stop working
- drop_export_share: that share of a feed's changes never shows in its export (until
  `until`: the export pages read before then skip them, and the cursor passes them by)

Every fault applies to every feed of the catalog; a feed name the catalog
does not know is refused with the names it does.
- phantom_jobs: a bulk write of many jobs with large invoices and one createdOn
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from nexus.catalog import FEEDS, feed_named
from nexus.clock import Clock
from nexus.simulator.business import Business
from nexus.simulator.feedlog import Dropper
from nexus.simulator.generate import wrong_value
from nexus.simulator.generated import layout
from nexus.simulator.plan import derive_seed

#: the feeds with an export endpoint; the first four keep the numbers their drops hash with
_FIRST = ("jobs", "invoices", "customers", "estimates")
EXPORT_FEEDS = (
    *_FIRST,
    *(n for n, feed in FEEDS.items() if feed.export is not None and n not in _FIRST),
)


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


REMOVE = _Marker("REMOVE")  # malformed_record(value=REMOVE) deletes the field
AS_STRING = _Marker("AS_STRING")  # malformed_record(value=AS_STRING) turns the value into a string
DEFAULT = _Marker("DEFAULT")

# What goes wrong in a feed's record unless told otherwise; other feeds get a field of
# the wrong type, chosen from their schema (see `malformation`).
DEFAULT_MALFORMATION: dict[str, tuple[str, Any]] = {
    "jobs": ("id", AS_STRING),
    "invoices": ("total", "abc"),
    "customers": ("createdOn", REMOVE),
    "estimates": ("subtotal", "abc"),
}


def malformation(feed: str) -> tuple[str, Any]:
    """The field a malformed record of `feed` breaks, and the value it gets by default."""
    found = DEFAULT_MALFORMATION.get(feed)
    if found is not None:
        return found
    return wrong_value(FEEDS[feed].key, layout(feed).shape)


@dataclass
class Outage:
    status: int = 503
    html: bool = False
    until: datetime | None = None


@dataclass
class RateLimit:
    per_second: int
    until: datetime | None = None


@dataclass
class Slow:
    delay_s: float
    until: datetime | None = None


@dataclass
class MalformedRecord:
    feed: str
    field: str
    value: Any
    remaining: int | None  # pages still to spoil; None = until cleared


@dataclass
class Drop:
    share: float
    until: datetime | None = None


@dataclass
class TokenRejection:
    token_endpoint: bool = True
    until: datetime | None = None


def _unit(*parts: int) -> float:
    """Hash integers to a number in [0, 1), stably across processes."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h / 2**64


def _active(until: datetime | None, now: datetime) -> bool:
    return until is None or now < until


class Faults:
    """The faults switched on for one tenant."""

    def __init__(
        self,
        tenant_id: int,
        seed: int,
        clock: Clock,
        lock: threading.RLock,
        business: Business,
    ) -> None:
        self.tenant_id = tenant_id
        self._seed = seed
        self._clock = clock
        self._lock = lock
        self._business = business
        self._outage: Outage | None = None
        self._rate_limit: RateLimit | None = None
        self._slow: Slow | None = None
        self._malformed: dict[str, MalformedRecord] = {}
        self._token_rejection: TokenRejection | None = None
        self._drop: dict[str, Drop] = {}
        self._recent_calls: deque[float] = deque()
        self.revoked_before: float | None = None  # tokens issued earlier (monotonic) are refused
        #: tokens were revoked and no token issued since has been accepted yet
        self._revoked_in_use = False

    # -- switching faults on and off -------------------------------------------

    def outage(self, status: int = 503, html: bool = False, until: datetime | None = None) -> None:
        """Answer every API call with `status`; `html` serves a gateway's HTML page."""
        if not 400 <= status <= 599:
            raise ValueError(f"outage status {status} is not an HTTP error status")
        with self._lock:
            self._outage = Outage(status, html, _until(until))

    def rate_limit(self, per_second: int, until: datetime | None = None) -> None:
        """Allow at most `per_second` API calls per wall-clock second; refuse the rest with 429."""
        if per_second < 1:
            raise ValueError("rate_limit per_second must be at least 1")
        with self._lock:
            self._rate_limit = RateLimit(per_second, _until(until))
            self._recent_calls.clear()

    def slow(self, delay_s: float, until: datetime | None = None) -> None:
        """Delay every API answer by `delay_s` wall-clock seconds."""
        if delay_s < 0:
            raise ValueError("slow delay_s cannot be negative")
        with self._lock:
            self._slow = Slow(delay_s, _until(until))

    def malformed_record(
        self, feed: str, field: str | None = None, value: Any = DEFAULT, times: int | None = 1
    ) -> None:
        """Break one record on each of the next `times` export pages of `feed` (None: every page).

        By default jobs get a string `id`, invoices `total: "abc"`, customers lose
        `createdOn` and estimates get `subtotal: "abc"`; any other feed gets a
        required field of the wrong type (see `malformation`). Pass `value=REMOVE`
        to delete `field`, `value=AS_STRING` to turn it into a string. A reference
        list without an export gets the broken record on its list pages.
        """
        _check_feed(feed)
        if times is not None and times < 1:
            raise ValueError("malformed_record times must be at least 1 (or None)")
        default_field, default_value = malformation(feed)
        if field is None:
            field = default_field
            value = default_value if value is DEFAULT else value
        elif value is DEFAULT:
            value = "abc"
        with self._lock:
            self._malformed[feed] = MalformedRecord(feed, field, value, times)

    def token_rejection(
        self,
        token_endpoint: bool = True,
        revoke_issued: bool = False,
        until: datetime | None = None,
    ) -> None:
        """Refuse new tokens with 401; `revoke_issued` also refuses every token issued so far."""
        with self._lock:
            rejection = TokenRejection(token_endpoint, _until(until))
            self._token_rejection = rejection if token_endpoint else None
            if revoke_issued:
                self.revoked_before = time.monotonic()
                self._revoked_in_use = True

    def drop_export_share(self, shares: dict[str, float], until: datetime | None = None) -> None:
        """Hide that share of each feed's changes from its export; lists and by-id show them.

        With `until`, export pages read from then on show every change again; the
        changes hidden before stay lost to a cursor that has passed them.
        """
        for feed, share in shares.items():
            _check_feed(feed)
            if FEEDS[feed].export is None:
                raise ValueError(
                    f"{feed} has no export endpoint (it is a reference list, read whole): "
                    f"drop_export_share applies to the feeds with an export"
                )
            if not 0 <= share <= 1:
                raise ValueError(
                    f"drop_export_share for {feed} is {share}: give a share from 0 to 1"
                )
        ends = _until(until)
        with self._lock:
            self._drop.update({feed: Drop(share, ends) for feed, share in shares.items()})

    def phantom_jobs(
        self, rows: int, same_created_at: bool = True, total_each: Decimal | str = "2500.00"
    ) -> list[int]:
        """Write `rows` completed jobs, with invoices of `total_each`, at once into the feeds."""
        cents = int((Decimal(total_each) * 100).to_integral_value())
        with self._lock:
            self._business.advance_to(int(self._clock.now().timestamp()))
            return self._business.inject_phantom_jobs(rows, same_created_at, cents)

    def clear(self) -> None:
        """Switch every fault off (revoked tokens stay revoked)."""
        with self._lock:
            self._outage = None
            self._rate_limit = None
            self._slow = None
            self._malformed.clear()
            self._token_rejection = None
            self._drop.clear()
            self._recent_calls.clear()

    def describe(self) -> dict[str, Any]:
        """Return the active faults as plain JSON-ready values."""
        now = self._clock.now()
        with self._lock:
            out: dict[str, Any] = {}
            if self._outage and _active(self._outage.until, now):
                out["outage"] = {
                    "status": self._outage.status,
                    "html": self._outage.html,
                    "until": _iso(self._outage.until),
                }
            if self._rate_limit and _active(self._rate_limit.until, now):
                out["rate_limit"] = {
                    "per_second": self._rate_limit.per_second,
                    "until": _iso(self._rate_limit.until),
                }
            if self._slow and _active(self._slow.until, now):
                out["slow"] = {"delay_s": self._slow.delay_s, "until": _iso(self._slow.until)}
            if self._malformed:
                out["malformed_record"] = [
                    {
                        "feed": m.feed,
                        "field": m.field,
                        "value": repr(m.value),
                        "remaining": m.remaining,
                    }
                    for m in self._malformed.values()
                ]
            if self._token_rejection and _active(self._token_rejection.until, now):
                out["token_rejection"] = {
                    "token_endpoint": self._token_rejection.token_endpoint,
                    "until": _iso(self._token_rejection.until),
                }
            drops = {f: d.share for f, d in self._drop.items() if _active(d.until, now)}
            if drops:
                out["drop_export_share"] = drops
            return out

    # -- what the API asks -----------------------------------------------------

    def calm(self) -> bool:
        """Say whether a client that has read every export to its end is answered as if no
        fault were on: no outage, rate limit, slowness, broken record or token rejection,
        and no revoked token that may still be presented (its 401 and renewal are calls
        a client counts).

        Hidden export changes (`drop_export_share`) only hide what is new: they do not count.
        """
        now = self._clock.now()
        with self._lock:
            timed = (self._outage, self._rate_limit, self._slow, self._token_rejection)
            return (
                not self._malformed
                and not self._revoked_in_use
                and not any(fault is not None and _active(fault.until, now) for fault in timed)
            )

    def token_accepted(self, issued: float) -> None:
        """Note a token the API accepted: once one issued after a revocation is, it is over."""
        if (
            self._revoked_in_use
            and self.revoked_before is not None
            and issued > self.revoked_before
        ):
            with self._lock:
                self._revoked_in_use = False

    def current_outage(self) -> Outage | None:
        outage = self._outage
        return outage if outage and _active(outage.until, self._clock.now()) else None

    def admit(self) -> int | None:
        """Count a call against the rate limit; return Retry-After seconds if it is refused."""
        with self._lock:
            limit = self._rate_limit
            at = self._clock.now()
            if limit is None or not _active(limit.until, at):
                return None
            # Calls are counted per second of the simulator's clock, like everything it does:
            # a replay that waits out a Retry-After on its virtual clock gets through.
            now = at.timestamp()
            calls = self._recent_calls
            while calls and calls[0] <= now - 1.0:
                calls.popleft()
            if len(calls) >= limit.per_second:
                return max(1, math.ceil(calls[0] + 1.0 - now))
            calls.append(now)
            return None

    def delay_s(self) -> float:
        slow = self._slow
        return slow.delay_s if slow and _active(slow.until, self._clock.now()) else 0.0

    def refuses_new_tokens(self) -> bool:
        rejection = self._token_rejection
        return bool(
            rejection and rejection.token_endpoint and _active(rejection.until, self._clock.now())
        )

    def dropper(self, feed: str) -> Dropper | None:
        """Return the test for changes hidden from `feed`'s export, or None if none are."""
        drop = self._drop.get(feed)
        if drop is None or drop.share <= 0 or not _active(drop.until, self._clock.now()):
            return None
        share = drop.share
        feed_no = _feed_number(feed)
        seed, tenant = self._seed, self.tenant_id

        def dropped(record_id: int, version: int) -> bool:
            return _unit(seed, tenant, feed_no, record_id, version) < share

        return dropped

    def spoil(self, feed: str, page: list[dict[str, Any]]) -> None:
        """Break the first record of an export page if a malformed record is due."""
        fault = self._malformed.get(feed)
        if fault is None or not page:
            return
        record = dict(page[0])
        if fault.value is REMOVE:
            record.pop(fault.field, None)
        elif fault.value is AS_STRING:
            record[fault.field] = str(record.get(fault.field))
        else:
            record[fault.field] = fault.value
        page[0] = record
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                del self._malformed[feed]


def _check_feed(feed: str) -> None:
    """Refuse a feed the catalog does not know, naming the closest and the known ones."""
    feed_named(feed)


def _feed_number(feed: str) -> int:
    """A number per feed for the drop hash: 0–3 as always for the first four, then hashed."""
    position = EXPORT_FEEDS.index(feed)
    return position if position < 4 else derive_seed("drop", feed) % 2**31


def _until(when: datetime | None) -> datetime | None:
    if when is not None and when.tzinfo is None:
        raise ValueError(f"fault 'until' {when!r} is naive: give a timezone (UTC)")
    return when


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
