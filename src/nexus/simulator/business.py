"""A seeded home-service business that runs on the virtual clock.

`Business` applies the planned events (see `plan.py`) whose time has come,
keeps every feed's records and change log, and answers ground-truth questions
for tests and replays: what each record really is, what each job's invoices
add up to, the sales-ledger revenue per day, and why a job shows $0.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nexus.simulator import records
from nexus.simulator.catalog import BUSINESS_UNITS, PHANTOM_BASE, PHANTOM_INVOICE_BASE
from nexus.simulator.entities import (
    CHARGEABLE,
    NO_CHARGE,
    PHANTOM,
    UNINVOICED,
    Customer,
    Estimate,
    Invoice,
    Job,
    JobType,
)
from nexus.simulator.feedlog import FeedLog
from nexus.simulator.plan import (
    Event,
    Op,
    Planner,
    derive_seed,
    split_total,
)

TRUTH_CLASSES = ("canceled", "no_charge", "not_finished", "uninvoiced", "invoiced")


@dataclass(frozen=True)
class BusinessConfig:
    """How the simulated business behaves; mirrors `business:` in scenario files."""

    seed: int
    timezone: str = "America/Chicago"
    completed_jobs_per_day: float = 9
    canceled_share: float = 0.05
    no_charge_share: float = 0.08
    ticket_median: float = 380
    ticket_p90: float = 1800
    invoice_lag_median_hours: float = 18
    invoice_lag_p90_hours: float = 120
    invoice_edit_share: float = 0.25
    uninvoiced_share: float = 0.0
    adjustment_share: float = 0.02
    inactive_share: float = 0.02

    def __post_init__(self) -> None:
        for name in (
            "canceled_share",
            "no_charge_share",
            "invoice_edit_share",
            "uninvoiced_share",
            "adjustment_share",
            "inactive_share",
        ):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"business.{name} is {value}: give a share between 0 and 1")
        if self.canceled_share >= 1:
            raise ValueError("business.canceled_share must be below 1")
        if self.completed_jobs_per_day < 0:
            raise ValueError("business.completed_jobs_per_day cannot be negative")
        for median, p90 in (
            ("ticket_median", "ticket_p90"),
            ("invoice_lag_median_hours", "invoice_lag_p90_hours"),
        ):
            if not 0 < getattr(self, median) <= getattr(self, p90):
                raise ValueError(f"business.{median} must be positive and at most {p90}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"business.timezone '{self.timezone}' is not a known time zone"
            ) from None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BusinessConfig:
        """Build a config from plain values, naming any unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown business setting(s): {', '.join(unknown)}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many long-lived objects are made.

    None of them is garbage, and repeated collections over a growing heap
    would otherwise cost a third of the time of a large backfill.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _sort_time(event: Event) -> int:
    # Offsetting keeps the keys small ints, which CPython sorts much faster.
    return event[0] - 1_500_000_000


def cents_to_decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


class Business:
    """One tenant's records, advanced event by event as the clock moves."""

    def __init__(
        self, tenant_id: int, config: BusinessConfig, opened: datetime, history_days: int = 0
    ) -> None:
        if history_days < 0:
            raise ValueError("history_days cannot be negative")
        self.tenant_id = tenant_id
        self.config = config
        zone = ZoneInfo(config.timezone)
        start_day = opened.astimezone(zone).date() - timedelta(days=history_days)
        self.planner = Planner(config, tenant_id, start_day)
        self.jobs: FeedLog[Job] = FeedLog("jobs")
        self.invoices: FeedLog[Invoice] = FeedLog("invoices")
        self.customers: FeedLog[Customer] = FeedLog("customers")
        self.estimates: FeedLog[Estimate] = FeedLog("estimates")
        self.job_types: FeedLog[JobType] = FeedLog("job_types")
        self.now = -(2**62)
        self._heap: list[tuple[int, int, Event]] = []
        self._order = 0
        self._by_job: dict[int, list[Invoice]] = {}
        self._phantom_batches = 0
        self._apply(self._due(self.planner.setup(), self.now))
        self.advance_to(int(opened.timestamp()))

    @property
    def start_day(self) -> date:
        return self.planner.start_day

    def feed(self, name: str) -> FeedLog[Any]:
        """Return the feed called `name` (jobs, invoices, customers, estimates, job_types)."""
        feeds: dict[str, FeedLog[Any]] = {
            "jobs": self.jobs,
            "invoices": self.invoices,
            "customers": self.customers,
            "estimates": self.estimates,
            "job_types": self.job_types,
        }
        return feeds[name]

    # -- time ------------------------------------------------------------------

    def advance_to(self, now: int) -> None:
        """Plan the days that have come into view and apply every event due by `now`."""
        if now <= self.now:
            return
        with _collector_paused():
            planner = self.planner
            new: list[Event] = []
            while planner.due(now):
                new.extend(planner.plan_next_day())
            self._apply(self._due(new, now))
        self.now = now

    def _due(self, new: list[Event], now: int) -> list[Event]:
        """Return the events due by `now` in order, keeping the rest for later.

        Waiting events were planned before the new ones, so they go first and
        a stable sort by time keeps the planned order among equal times; the
        heap keeps that order with a counter.
        """
        heap = self._heap
        due = []
        while heap and heap[0][0] <= now:
            due.append(heapq.heappop(heap)[2])
        later = [event for event in new if event[0] > now]
        due.extend(event for event in new if event[0] <= now)
        order = self._order
        if len(later) > len(heap):
            heap.extend((event[0], order + n, event) for n, event in enumerate(later))
            heapq.heapify(heap)
        else:
            for n, event in enumerate(later):
                heapq.heappush(heap, (event[0], order + n, event))
        self._order = order + len(later)
        due.sort(key=_sort_time)
        return due

    def _apply(self, events: list[Event]) -> None:
        handlers = _HANDLERS
        for when, op, subject, argument in events:
            handlers[op](self, when, subject, argument)

    # -- event handlers --------------------------------------------------------

    def _add_job_type(self, when: int, job_type: JobType, _: None) -> None:
        self.job_types.touch(job_type, when)

    def _deactivate_job_type(self, when: int, job_type: JobType, _: None) -> None:
        job_type.active = False
        self.job_types.touch(job_type, when)

    def _add_customer(self, when: int, customer: Customer, _: None) -> None:
        self.customers.touch(customer, when)

    def _deactivate_customer(self, when: int, customer: Customer, merged_to: int | None) -> None:
        customer.active = False
        customer.merged_to = merged_to
        self.customers.touch(customer, when)

    def _book(self, when: int, job: Job, invoice: Invoice) -> None:
        self.jobs.touch(job, when)
        self._add_invoice(when, invoice)

    def _add_invoice(self, when: int, invoice: Invoice) -> None:
        self.invoices.touch(invoice, when)
        self._by_job.setdefault(invoice.job.id, []).append(invoice)

    def _status(self, when: int, job: Job, status: str) -> None:
        job.status = status
        self.jobs.touch(job, when)

    def _complete(self, when: int, job: Job, _: None) -> None:
        job.status = "Completed"
        job.completed = when
        self.jobs.touch(job, when)

    def _cancel(self, when: int, job: Job, void: Invoice | None) -> None:
        job.status = "Canceled"
        self.jobs.touch(job, when)
        if void is not None:
            self._void(when, void, None)

    def _set_total(self, when: int, invoice: Invoice, argument: Any) -> None:
        total, items = argument
        invoice.subtotal_cents, invoice.tax_cents = split_total(total)
        invoice.items = items
        invoice.invoice_date = invoice.job.completed or when
        invoice.sent_status = "Sent"
        invoice.review_status = "Reviewed"
        invoice.total_set = True
        self.invoices.touch(invoice, when)

    def _finalize_zero(self, when: int, invoice: Invoice, _: None) -> None:
        invoice.invoice_date = invoice.job.completed or when
        invoice.review_status = "Reviewed"
        self.invoices.touch(invoice, when)

    def _edit_total(self, when: int, invoice: Invoice, argument: Any) -> None:
        total, items = argument
        invoice.subtotal_cents, invoice.tax_cents = split_total(total)
        invoice.items = items
        self.invoices.touch(invoice, when)

    def _pay(self, when: int, invoice: Invoice, _: None) -> None:
        invoice.paid_cents = invoice.total_cents
        invoice.paid_on = when
        self.invoices.touch(invoice, when)

    def _add_adjustment(self, when: int, invoice: Invoice, _: None) -> None:
        self._add_invoice(when, invoice)

    def _void(self, when: int, invoice: Invoice, _: None) -> None:
        invoice.active = False
        self.invoices.touch(invoice, when)

    def _add_estimate(self, when: int, estimate: Estimate, _: None) -> None:
        self.estimates.touch(estimate, when)
        job = estimate.job
        if job is not None:
            job.estimate_ids = (*job.estimate_ids, estimate.id)
            self.jobs.touch(job, when)

    def _estimate_status(self, when: int, estimate: Estimate, status: str) -> None:
        estimate.status = status
        if status == "Sold":
            estimate.sold_on = when
        self.estimates.touch(estimate, when)

    def _deactivate_estimate(self, when: int, estimate: Estimate, _: None) -> None:
        estimate.active = False
        self.estimates.touch(estimate, when)

    # -- injected trouble ------------------------------------------------------

    def inject_phantom_jobs(
        self, rows: int, same_created_at: bool, total_each_cents: int
    ) -> list[int]:
        """Write `rows` completed jobs with large invoices at once, as a bad bulk write would."""
        if rows < 1:
            raise ValueError("phantom_jobs needs at least one row")
        batch = self._phantom_batches
        self._phantom_batches += 1
        rng = Random(derive_seed(self.config.seed, self.tenant_id, "phantom", batch))
        now = self.now
        first = batch * 1_000_000
        job_type = self.planner.job_types[0]
        ids = []
        for n in range(rows):
            created = now if same_created_at else now - rng.randrange(86_400)
            customer = self.planner.pick_customer(rng.random, created)
            job = Job(
                PHANTOM_BASE + first + n,
                created,
                f"P{batch}-{n}",
                customer,
                job_type,
                BUSINESS_UNITS[0],
                PHANTOM,
            )
            job.status = "Completed"
            job.completed = created
            invoice = Invoice(PHANTOM_INVOICE_BASE + first + n, created, job, job.number)
            invoice.subtotal_cents, invoice.tax_cents = split_total(total_each_cents)
            invoice.invoice_date = created
            invoice.total_set = True
            job.invoice_id = invoice.id
            self.jobs.touch(job, now)
            self._add_invoice(now, invoice)
            ids.append(job.id)
        return ids

    # -- ground truth ----------------------------------------------------------

    def truth_jobs(self) -> dict[int, records.Record]:
        return {row.id: records.job(row) for row in self.jobs}

    def truth_invoices(self) -> dict[int, records.Record]:
        return {row.id: records.invoice(row) for row in self.invoices}

    def truth_customers(self) -> dict[int, records.Record]:
        return {row.id: records.customer(row) for row in self.customers}

    def truth_estimates(self) -> dict[int, records.Record]:
        return {row.id: records.estimate(row) for row in self.estimates}

    def truth_job_types(self) -> dict[int, records.Record]:
        return {row.id: records.job_type(row) for row in self.job_types}

    def job_invoice_total(self, job_id: int) -> Decimal:
        """Return the sum of `total` over the job's active invoices (0 when it has none)."""
        cents = sum(inv.total_cents for inv in self._by_job.get(job_id, ()) if inv.active)
        return cents_to_decimal(cents)

    def revenue_by_day(self) -> dict[date, Decimal]:
        """Return the sales ledger: invoice totals of chargeable completed jobs per local day.

        Jobs count on the tenant-local day they were completed, with what their
        active invoices total now ($0 while not yet invoiced). Phantom jobs are
        a bad write, not sales, so the ledger leaves them out.
        """
        by_day: dict[date, int] = {}
        local_day = self.planner.local_day
        for job in self.jobs.rows.values():
            if job.completed is None or job.status != "Completed":
                continue
            if job.category not in (CHARGEABLE, UNINVOICED):
                continue
            day = local_day(job.completed)
            cents = sum(inv.total_cents for inv in self._by_job.get(job.id, ()) if inv.active)
            by_day[day] = by_day.get(day, 0) + cents
        return {day: cents_to_decimal(by_day[day]) for day in sorted(by_day)}

    def job_truth_class(self, job_id: int) -> str:
        """Say why a job's invoice total is what it is: one of TRUTH_CLASSES."""
        job = self.jobs.get(job_id)
        if job is None:
            raise KeyError(f"tenant {self.tenant_id} has no job {job_id}")
        if job.status == "Canceled":
            return "canceled"
        if job.category == NO_CHARGE:
            return "no_charge"
        if job.status != "Completed":
            return "not_finished"
        invoice = self.invoices.get(job.invoice_id)
        if invoice is not None and invoice.total_set:
            return "invoiced"
        if job.category == UNINVOICED:
            return "uninvoiced"
        return "not_finished"

    def summary(self) -> dict[str, Any]:
        """Return counts that describe the business as of now."""
        feeds = {}
        for name in ("jobs", "invoices", "customers", "estimates", "job_types"):
            rows = self.feed(name).rows.values()
            active = sum(1 for row in rows if row.active)
            feeds[name] = {"total": len(rows), "active": active, "inactive": len(rows) - active}
        classes = dict.fromkeys(TRUTH_CLASSES, 0)
        statuses: dict[str, int] = {}
        for job in self.jobs.rows.values():
            classes[self.job_truth_class(job.id)] += 1
            statuses[job.status] = statuses.get(job.status, 0) + 1
        revenue = self.revenue_by_day()
        return {
            "tenant": self.tenant_id,
            "start_day": self.start_day.isoformat(),
            "feeds": feeds,
            "job_status": dict(sorted(statuses.items())),
            "job_truth_class": classes,
            "phantom_jobs": sum(1 for j in self.jobs.rows.values() if j.category == PHANTOM),
            "revenue_total": str(sum(revenue.values(), Decimal("0.00"))),
            "config": self.config.as_dict(),
        }


# What each event does; plain functions, so the business holds no reference to itself.
_HANDLERS: dict[Op, Callable[[Business, int, Any, Any], None]] = {
    Op.ADD_JOB_TYPE: Business._add_job_type,
    Op.DEACTIVATE_JOB_TYPE: Business._deactivate_job_type,
    Op.ADD_CUSTOMER: Business._add_customer,
    Op.DEACTIVATE_CUSTOMER: Business._deactivate_customer,
    Op.BOOK: Business._book,
    Op.STATUS: Business._status,
    Op.COMPLETE: Business._complete,
    Op.CANCEL: Business._cancel,
    Op.SET_TOTAL: Business._set_total,
    Op.FINALIZE_ZERO: Business._finalize_zero,
    Op.EDIT_TOTAL: Business._edit_total,
    Op.PAY: Business._pay,
    Op.ADD_ADJUSTMENT: Business._add_adjustment,
    Op.VOID: Business._void,
    Op.ADD_ESTIMATE: Business._add_estimate,
    Op.ESTIMATE_STATUS: Business._estimate_status,
    Op.DEACTIVATE_ESTIMATE: Business._deactivate_estimate,
}
