"""One simulated tenant: its business, its faults, and the queries the API answers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from nexus.catalog import FEEDS
from nexus.clock import Clock
from nexus.simulator import records
from nexus.simulator.business import Business, BusinessConfig
from nexus.simulator.entities import Tracked
from nexus.simulator.faults import Faults
from nexus.simulator.feedlog import BadToken, decode_token, encode_token
from nexus.simulator.problems import ApiProblem
from nexus.simulator.sources import Source

#: record fields read from every row without rendering it
_ROW_FIELDS: dict[str, Callable[[Tracked], Any]] = {
    "id": lambda row: row.id,
    "createdOn": lambda row: row.created,
    "modifiedOn": lambda row: row.modified,
    "active": lambda row: row.active,
}


@dataclass(frozen=True)
class ListQuery:
    """The parsed parameters of a list request (see `api.py`); times in epoch milliseconds."""

    page: int = 1
    page_size: int = 50
    include_total: bool = False
    ids: tuple[int, ...] | None = None
    modified_on_or_after: int | None = None
    modified_before: int | None = None
    created_on_or_after: int | None = None
    created_before: int | None = None
    active: bool | None = None  # None: both active and inactive
    #: (record field, descending); None: by id
    sort: tuple[str, bool] | None = None
    #: (field, its path in the record, accepted values as text): `jobId=5`, `customerIds=1,2`
    equals: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...] = ()


def parse_when_ms(text: str) -> int | None:
    """Return epoch milliseconds for a date or date-time string, or None if it is neither."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_when(text: str) -> int | None:
    """Return epoch seconds (rounded down) for a date or date-time string, or None."""
    ms = parse_when_ms(text)
    return None if ms is None else ms // 1000


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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

    def truth(self, feed: str) -> dict[Any, records.Record]:
        """Return every record of a catalog feed as its export returns it, keyed by its key.

        The key is the record's id, or for the few feeds without one the value
        of their natural key (`jobId` of job history) or a tuple of its fields
        (`(technicianId, jobId)` of technician ratings). Reference lists
        without an export give their list records.
        """
        _check_feed(feed)
        with self._lock:
            self.catch_up()
            return self.business.truth(feed)

    def job_scheduled_at(self, job_id: int) -> datetime | None:
        """Return the earliest `start` of the job's active appointments (None when none)."""
        with self._lock:
            self.catch_up()
            return self.business.job_scheduled_at(job_id)

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

    def source(self, feed: str) -> Source:
        return self.business.sources[feed]

    def export_page(self, feed: str, start: str | None, page_size: int) -> dict[str, Any]:
        """Return the export page after `start` (a token, a date, or None for the beginning)."""
        with self._lock:
            self.catch_up()
            source = self.source(feed)
            render = source.export
            if render is None:
                raise ApiProblem(404, f"{feed} has no export endpoint")
            log = source.log
            position = self._position(feed, start, log.end, log.position_at)
            rows, position = log.read(position, page_size, self.faults.dropper(feed))
            data = [render(row) for row in rows]
            self.faults.spoil(feed, data)
            return {
                "hasMore": position < log.end,
                "continueFrom": encode_token(self.id, feed, position),
                "data": data,
            }

    def version(self, feed: str) -> int:
        """A number that grows with every change to `feed`'s records.

        While it stands and no fault is on (see `Faults.calm`), an export read to
        its end reads nothing more and the newest change stays the newest. A replay
        asks it in process, to know which runs would find nothing new.
        """
        with self._lock:
            self.catch_up()
            return self.source(feed).log.end

    def calm(self) -> bool:
        """Say whether the API answers as it would with no fault switched on."""
        return self.faults.calm()

    def _position(
        self, feed: str, start: str | None, end: int, position_at: Callable[[int], int]
    ) -> int:
        if not start:
            return 0
        when = parse_when_ms(start)
        if when is not None:
            return position_at(-(-when // 1000))  # the first change at or after that millisecond
        try:
            return decode_token(start, self.id, feed, end)
        except BadToken as error:
            raise ApiProblem(400, "Invalid continuation token", {"from": [str(error)]}) from None

    def list_page(self, feed: str, query: ListQuery) -> dict[str, Any]:
        """Return one page of a list endpoint, ordered by id unless `query.sort` says otherwise."""
        with self._lock:
            self.catch_up()
            source = self.source(feed)
            render = source.list
            if render is None:
                raise ApiProblem(404, f"{feed} has no list endpoint")
            rows = source.log.select(_filter(source, query, render), query.ids)
            if query.sort is not None:
                rows = _sorted(source, rows, query.sort, render)
            first = (query.page - 1) * query.page_size
            chunk = rows[first : first + query.page_size]
            data = [render(row) for row in chunk]
            if source.feed.reference:  # a reference list has no export to spoil
                self.faults.spoil(feed, data)
            return {
                "page": query.page,
                "pageSize": query.page_size,
                "hasMore": first + query.page_size < len(rows),
                "totalCount": len(rows) if query.include_total else None,
                "data": data,
            }

    def record(self, feed: str, record_id: int) -> records.Record | None:
        """Return one record as the by-id endpoint does, or None if there is none."""
        with self._lock:
            self.catch_up()
            source = self.source(feed)
            render = source.item
            if render is None:
                raise ApiProblem(404, f"{feed} has no by-id endpoint")
            row = source.log.get(record_id)
            return None if row is None else render(row)


def _check_feed(feed: str) -> None:
    if feed not in FEEDS:
        from nexus.catalog import feed_named

        feed_named(feed)  # raises a ValueError naming the known feeds


def _accessor(
    source: Source,
    name: str,
    render: Callable[[Any], records.Record],
    path: tuple[str, ...] | None = None,
) -> Callable[[Any], Any]:
    """Read the record field `name` (at `path`) from a row: straight from it when possible."""
    direct = _ROW_FIELDS.get(name) if name != "id" or source.feed.key == ("id",) else None
    direct = direct or source.fields.get(name)
    if direct is not None:
        return direct
    where = path or (name,)

    def read(row: Any) -> Any:
        value: Any = render(row)
        for part in where:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return read


def _filter(
    source: Source, query: ListQuery, render: Callable[[Any], records.Record]
) -> Callable[[Tracked], bool] | None:
    tests: list[Callable[[Tracked], bool]] = []
    if query.active is not None:
        wanted = query.active
        tests.append(lambda row: row.active is wanted)
    # Times are compared to the millisecond; records carry whole seconds.
    if query.modified_on_or_after is not None:
        low = query.modified_on_or_after
        tests.append(lambda row: row.modified * 1000 >= low)
    if query.modified_before is not None:
        high = query.modified_before
        tests.append(lambda row: row.modified * 1000 < high)
    if query.created_on_or_after is not None:
        created_low = query.created_on_or_after
        tests.append(lambda row: row.created * 1000 >= created_low)
    if query.created_before is not None:
        created_high = query.created_before
        tests.append(lambda row: row.created * 1000 < created_high)
    for name, path, accepted in query.equals:
        tests.append(_equals(_accessor(source, name, render, path), accepted))
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda row: all(test(row) for test in tests)


def _equals(read: Callable[[Any], Any], accepted: frozenset[str]) -> Callable[[Tracked], bool]:
    return lambda row: _text(read(row)) in accepted


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value).lower()


def _sorted(
    source: Source,
    rows: list[Any],
    sort: tuple[str, bool],
    render: Callable[[Any], records.Record],
) -> list[Any]:
    """Order rows by one record field (ties by id), nulls last either way."""
    name, descending = sort
    read = _accessor(source, name, render)
    keyed = [(read(row), row.id, row) for row in rows]
    present = [k for k in keyed if k[0] is not None]
    missing = [k for k in keyed if k[0] is None]
    present.sort(key=lambda k: (k[0], k[1]), reverse=descending)
    return [k[2] for k in present] + [k[2] for k in missing]
