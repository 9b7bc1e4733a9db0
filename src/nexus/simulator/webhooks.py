"""Webhooks from the simulated ServiceTitan: a signed notice for each change of chosen feeds.

ServiceTitan can call a URL when records change. The simulator does the same,
so the webhook path of Nexus is tested against a known truth::

    sim.webhooks.configure("http://127.0.0.1:8080/webhooks/servicetitan/1001", b"secret")
    sim.webhooks.switch(True)          # the scenario event `webhooks: on` (False: `off`)
    sim.advance(timedelta(hours=1))    # changes are noted as the clock moves ...
    sim.webhooks.deliver()             # ... and posted (or `start()` a delivery thread)

While switched off, changes are not announced at all, as with a subscription
that is turned off: only the export feeds carry them. Each change is one
delivery (`eventId` is unique per record version) signed with HMAC over the
raw body, the header, hash and encoding matching Nexus's settings. Payloads
carry an invoice's total as ServiceTitan's would; Nexus must not believe it.
Invoices and jobs are announced by default; `configure(feeds=...)` picks any
catalog feed keyed by id, e.g. appointments (whose notices name the job too).
"""

from __future__ import annotations

import base64
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from nexus.catalog import FEEDS
from nexus.clock import Clock
from nexus.simulator import records

if TYPE_CHECKING:
    from nexus.simulator.tenant import Tenant

#: The feeds whose changes are announced by default.
DEFAULT_FEEDS = ("invoices", "jobs")
EVENT_NAMES = {
    "invoices": "Invoice",
    "jobs": "Job",
    "customers": "Customer",
    "estimates": "Estimate",
    "appointments": "Appointment",
}


def event_name(feed: str) -> str:
    """The event's entity name: `Invoice`, `Appointment`, `AppointmentAssignment`, …"""
    known = EVENT_NAMES.get(feed)
    if known is not None:
        return known
    words = feed.split("_")
    last = words[-1]
    last = last[:-3] + "y" if last.endswith("ies") else last.removesuffix("s")
    return "".join(w.title() for w in [*words[:-1], last])


#: the feeds a webhook can announce: every catalog feed whose records have an id
WEBHOOK_FEEDS = tuple(name for name, feed in FEEDS.items() if feed.key == ("id",))
#: Deliveries remembered for inspection.
KEEP_DELIVERIES = 20_000


@dataclass(frozen=True)
class Notice:
    """One change waiting to be posted."""

    tenant: int
    feed: str
    record_id: int
    event_id: str
    body: bytes


@dataclass(frozen=True)
class Delivery:
    """One posted notice and how the receiver answered (status None: no answer)."""

    tenant: int
    feed: str
    record_id: int
    event_id: str
    status: int | None
    error: str | None
    sent_at: float  # wall clock (time.time()) just before the request
    answered_at: float


class WebhookSender:
    """Notes changes as the simulator's clock moves and posts them, signed, to one URL."""

    def __init__(
        self,
        lock: threading.RLock,
        tenants: Mapping[int, Tenant],
        clock: Clock,
        *,
        workers: int = 16,
    ) -> None:
        self._lock = lock
        self._tenants = tenants
        self._clock = clock
        self.workers = workers
        self.url: str | None = None
        self.enabled = False
        self.feeds: tuple[str, ...] = DEFAULT_FEEDS
        self.header = "X-ServiceTitan-Signature"
        self.algorithm = "sha256"
        self.encoding = "hex"
        self._secret = b""
        self._cursors: dict[tuple[int, str], int] = {}
        self._pending: deque[Notice] = deque()
        self._wake = threading.Condition(threading.Lock())
        self._http: httpx.Client | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.deliveries: deque[Delivery] = deque(maxlen=KEEP_DELIVERIES)
        self.sent = 0
        self.failed = 0

    # -- configuration ---------------------------------------------------------------

    def configure(
        self,
        url: str,
        secret: bytes | str,
        *,
        header: str = "X-ServiceTitan-Signature",
        algorithm: str = "sha256",
        encoding: str = "hex",
        feeds: Iterable[str] = DEFAULT_FEEDS,
    ) -> None:
        """Say where to post and how to sign; `url` may name the tenant, e.g. …/{tenant}."""
        if encoding not in ("hex", "base64"):
            raise ValueError(f"encoding must be hex or base64, not {encoding!r}")
        hmac.new(b"", b"", algorithm)  # fail now on an unknown algorithm
        unknown = set(feeds) - set(WEBHOOK_FEEDS)
        if unknown:
            raise ValueError(
                f"no webhooks for {', '.join(sorted(unknown))}: "
                f"choose among the catalog feeds keyed by id ({', '.join(WEBHOOK_FEEDS)})"
            )
        with self._lock:
            self.url = url
            self._secret = secret.encode() if isinstance(secret, str) else secret
            self.header, self.algorithm, self.encoding = header, algorithm, encoding
            self.feeds = tuple(feeds)

    def switch(self, on: bool) -> None:
        """Turn notices on or off (the scenario's `webhooks: on|off`).

        Turning on starts from now: changes made while off are never announced.
        """
        with self._lock:
            if on and not self.enabled:
                self._cursors.clear()
                self._skip_to_end()
            self.enabled = on

    # -- noting changes (called by the simulator under its lock) ------------------------

    def collect(self) -> int:
        """Queue a notice for every change since the last call; return how many."""
        with self._lock:
            if not self.enabled or self.url is None:
                self._skip_to_end()
                return 0
            notices = []
            for tenant in self._tenants.values():
                for feed in self.feeds:
                    log = tenant.business.feed(feed)
                    key = (tenant.id, feed)
                    start = self._cursors.get(key)
                    if start is None:  # a tenant added since: only its future changes
                        self._cursors[key] = log.end
                        continue
                    rows, end = log.read(start, log.end, None)
                    self._cursors[key] = end
                    notices += [self._notice(tenant.id, feed, row) for row in rows]
        self._queue(notices)
        return len(notices)

    def announce(self, tenant: int, feed: str, ids: Iterable[int]) -> int:
        """Queue notices for these records as they are now (whatever the switch says)."""
        with self._lock:
            if self.url is None:
                raise RuntimeError("configure() the webhook URL first")
            log = self._tenants[tenant].business.feed(feed)
            notices = []
            for record_id in ids:
                row = log.get(record_id)
                if row is None:
                    raise KeyError(f"tenant {tenant} has no {feed} record {record_id}")
                notices.append(self._notice(tenant, feed, row))
        self._queue(notices)
        return len(notices)

    def _skip_to_end(self) -> None:
        for tenant in self._tenants.values():
            for feed in self.feeds:
                self._cursors[(tenant.id, feed)] = tenant.business.feed(feed).end

    def _notice(self, tenant: int, feed: str, row: Any) -> Notice:
        name = event_name(feed)
        event_id = f"sim-{tenant}-{feed}-{row.id}-v{row.version}"
        data: dict[str, Any] = {"id": row.id}
        if feed == "invoices":
            data["total"] = records.money(row.total_cents)
            data["jobId"] = row.job.id
        elif feed == "appointments":
            data["jobId"] = row.job.id
            data["start"] = records.iso(row.start)
        body = orjson.dumps(
            {
                "eventId": event_id,
                "eventType": f"{name}.{'Created' if row.version <= 1 else 'Updated'}",
                "tenantId": tenant,
                "createdOn": records.iso(row.modified),
                "data": data,
            }
        )
        return Notice(tenant, feed, row.id, event_id, body)

    def _queue(self, notices: list[Notice]) -> None:
        if notices:
            with self._wake:
                self._pending.extend(notices)
                self._wake.notify_all()

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- posting -----------------------------------------------------------------------

    def sign(self, body: bytes) -> str:
        digest = hmac.new(self._secret, body, self.algorithm).digest()
        return base64.b64encode(digest).decode() if self.encoding == "base64" else digest.hex()

    def deliver(self, on_delivery: Callable[[Delivery], None] | None = None) -> list[Delivery]:
        """Post every queued notice now, `workers` at a time; return what happened to each."""
        with self._wake:
            notices = list(self._pending)
            self._pending.clear()
        if not notices:
            return []
        url = self.url
        assert url is not None
        client = self._client()

        def post(notice: Notice) -> Delivery:
            target = url.replace("{tenant}", str(notice.tenant))
            headers = {"Content-Type": "application/json", self.header: self.sign(notice.body)}
            sent = time.time()
            try:
                response = client.post(target, content=notice.body, headers=headers)
                status, error = response.status_code, None
                if response.status_code >= 300:
                    error = response.text[:300]
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            done = Delivery(
                notice.tenant,
                notice.feed,
                notice.record_id,
                notice.event_id,
                status,
                error,
                sent,
                time.time(),
            )
            if on_delivery is not None:
                on_delivery(done)
            return done

        if len(notices) == 1 or self.workers <= 1:
            results = [post(n) for n in notices]
        else:
            with ThreadPoolExecutor(min(self.workers, len(notices))) as pool:
                results = list(pool.map(post, notices))
        with self._wake:
            self.deliveries.extend(results)
            self.sent += sum(1 for r in results if r.error is None)
            self.failed += sum(1 for r in results if r.error is not None)
        return results

    def start(self) -> WebhookSender:
        """Post notices from a background thread as soon as they are queued."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sim-webhooks", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            with self._wake:
                self._wake.notify_all()
            thread.join(timeout=10)
        if self._http is not None:
            self._http.close()
            self._http = None

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                self._wake.wait_for(lambda: bool(self._pending) or self._stop.is_set(), 1.0)
            if self._pending:
                self.deliver()

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                timeout=httpx.Timeout(30.0, connect=5.0),
                limits=httpx.Limits(max_connections=self.workers * 2),
            )
        return self._http
