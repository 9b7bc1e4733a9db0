"""One simulated tenant: its business, its faults, and the queries the API answers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from nexus.clock import Clock
from nexus.simulator import records
from nexus.simulator.business import Business, BusinessConfig
from nexus.simulator.entities import Tracked
from nexus.simulator.faults import Faults
from nexus.simulator.feedlog import BadToken, decode_token, encode_token
from nexus.simulator.problems import ApiProblem

Render = Callable[[Any], records.Record]

EXPORT_RENDER: dict[str, Render] = {
    "jobs": records.job,
    "invoices": records.invoice,
    "customers": records.customer,
    "estimates": records.estimate,
}
LIST_RENDER: dict[str, Render] = {
    "jobs": lambda row: records.job(row, export=False),
    "invoices": records.invoice,
    "customers": records.customer,
    "estimates": records.estimate,
    "job_types": records.job_type,
}


@dataclass(frozen=True)
class ListQuery:
    """The parsed parameters of a list request (see `api.py`)."""

    page: int = 1
    page_size: int = 50
    include_total: bool = False
    ids: tuple[int, ...] | None = None
    modified_on_or_after: int | None = None
    modified_before: int | None = None
    created_on_or_after: int | None = None
    created_before: int | None = None
    active: bool | None = None  # None: both active and inactive
    job_id: int | None = None


def parse_when(text: str) -> int | None:
    """Return epoch seconds for a date or date-time string, or None if it is neither."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


class Tenant:
    """A tenant's business and faults, guarded by the simulator's lock."""

    def __init__(
        self,
        tenant_id: int,
        config: BusinessConfig,
        clock: Clock,
        lock: threading.RLock,
        history_days: int = 0,
    ) -> None:
        self.id = tenant_id
        self.config = config
        self._clock = clock
        self._lock = lock
        with lock:
            self.business = Business(tenant_id, config, clock.now(), history_days)
        self.faults = Faults(tenant_id, config.seed, clock, lock, self.business)
        self._requests: Counter[str] = Counter()

    def catch_up(self) -> None:
        """Apply the business events the clock has passed (it may be moved from outside)."""
        with self._lock:
            self.business.advance_to(int(self._clock.now().timestamp()))

    # -- ground truth ----------------------------------------------------------

    def truth_jobs(self) -> dict[int, records.Record]:
        """Return every job as the export returns it (with `active`), keyed by id."""
        with self._lock:
            self.catch_up()
            return self.business.truth_jobs()

    def truth_invoices(self) -> dict[int, records.Record]:
        with self._lock:
            self.catch_up()
            return self.business.truth_invoices()

    def truth_customers(self) -> dict[int, records.Record]:
        with self._lock:
            self.catch_up()
            return self.business.truth_customers()

    def truth_estimates(self) -> dict[int, records.Record]:
        with self._lock:
            self.catch_up()
            return self.business.truth_estimates()

    def truth_job_types(self) -> dict[int, records.Record]:
        with self._lock:
            self.catch_up()
            return self.business.truth_job_types()

    def job_invoice_total(self, job_id: int) -> Decimal:
        """Return the sum of `total` over the job's active invoices (0 if none)."""
        with self._lock:
            self.catch_up()
            return self.business.job_invoice_total(job_id)

    def revenue_by_day(self) -> dict[date, Decimal]:
        """Return the sales ledger: revenue of chargeable completed jobs per local day."""
        with self._lock:
            self.catch_up()
            return self.business.revenue_by_day()

    def job_truth_class(self, job_id: int) -> str:
        """Return canceled, no_charge, not_finished, uninvoiced or invoiced."""
        with self._lock:
            self.catch_up()
            return self.business.job_truth_class(job_id)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            self.catch_up()
            summary = self.business.summary()
        summary["now"] = self._clock.now().isoformat()
        summary["faults"] = self.faults.describe()
        return summary

    # -- request accounting ----------------------------------------------------

    def count_request(self, path: str) -> None:
        with self._lock:
            self._requests[path] += 1

    def request_counts(self) -> dict[str, int]:
        """Return how many API calls reached each path (refused ones included)."""
        with self._lock:
            return dict(self._requests)

    def reset_request_counts(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- what the API answers --------------------------------------------------

    def export_page(self, feed: str, start: str | None, page_size: int) -> dict[str, Any]:
        """Return the export page after `start` (a token, a date, or None for the beginning)."""
        with self._lock:
            self.catch_up()
            log = self.business.feed(feed)
            position = self._position(feed, start, log.end, log.position_at)
            rows, position = log.read(position, page_size, self.faults.dropper(feed))
            render = EXPORT_RENDER[feed]
            data = [render(row) for row in rows]
            self.faults.spoil(feed, data)
            return {
                "hasMore": position < log.end,
                "continueFrom": encode_token(self.id, feed, position),
                "data": data,
            }

    def _position(
        self, feed: str, start: str | None, end: int, position_at: Callable[[int], int]
    ) -> int:
        if not start:
            return 0
        when = parse_when(start)
        if when is not None:
            return position_at(when)
        try:
            return decode_token(start, self.id, feed, end)
        except BadToken as error:
            raise ApiProblem(400, "Invalid continuation token", {"from": [str(error)]}) from None

    def list_page(self, feed: str, query: ListQuery) -> dict[str, Any]:
        """Return one page of a list endpoint, ordered by id."""
        keep = _filter(query)
        with self._lock:
            self.catch_up()
            rows = self.business.feed(feed).select(keep, query.ids)
            first = (query.page - 1) * query.page_size
            chunk = rows[first : first + query.page_size]
            render = LIST_RENDER[feed]
            return {
                "page": query.page,
                "pageSize": query.page_size,
                "hasMore": first + query.page_size < len(rows),
                "totalCount": len(rows) if query.include_total else None,
                "data": [render(row) for row in chunk],
            }

    def record(self, feed: str, record_id: int) -> records.Record | None:
        """Return one record as the by-id endpoint does, or None if there is none."""
        with self._lock:
            self.catch_up()
            row = self.business.feed(feed).get(record_id)
            return None if row is None else LIST_RENDER[feed](row)


def _filter(query: ListQuery) -> Callable[[Tracked], bool] | None:
    tests: list[Callable[[Tracked], bool]] = []
    if query.active is not None:
        wanted = query.active
        tests.append(lambda row: row.active is wanted)
    if query.modified_on_or_after is not None:
        low = query.modified_on_or_after
        tests.append(lambda row: row.modified >= low)
    if query.modified_before is not None:
        high = query.modified_before
        tests.append(lambda row: row.modified < high)
    if query.created_on_or_after is not None:
        created_low = query.created_on_or_after
        tests.append(lambda row: row.created >= created_low)
    if query.created_before is not None:
        created_high = query.created_before
        tests.append(lambda row: row.created < created_high)
    if query.job_id is not None:
        job_id = query.job_id
        tests.append(lambda row: _job_id(row) == job_id)
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda row: all(test(row) for test in tests)


def _job_id(row: Tracked) -> int | None:
    job = getattr(row, "job", None)
    return None if job is None else int(job.id)
