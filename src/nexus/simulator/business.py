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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nexus.catalog import FEEDS
from nexus.simulator import generated, records, sources
from nexus.simulator.catalog import (
    BUSINESS_UNITS,
    INVOICE_BASE,
    LOCATION_OFFSET,
    PAYMENT_BASE,
    PAYMENT_TYPES,
    PHANTOM_BASE,
    PHANTOM_INVOICE_BASE,
)
from nexus.simulator.entities import (
    CHARGEABLE,
    NO_CHARGE,
    PHANTOM,
    UNINVOICED,
    Appointment,
    Assignment,
    Customer,
    Estimate,
    Generated,
    Invoice,
    InvoiceItem,
    Job,
    JobType,
    Location,
    Membership,
    Payment,
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
    #: the crew: how many technicians share the work evenly, or each one's relative workload
    technicians: int | tuple[float, ...] = 12

    def __post_init__(self) -> None:
        crew = self.technicians
        if isinstance(crew, int) and not isinstance(crew, bool):
            if crew < 1:
                raise ValueError(f"business.technicians is {crew}: give 1 or more")
        elif (
            not isinstance(crew, tuple | list)
            or not crew
            or not all(isinstance(w, int | float) and not isinstance(w, bool) for w in crew)
            or min(crew) <= 0
        ):
            raise ValueError(
                f"business.technicians is {crew!r}: give a count, or one positive relative "
                "workload per technician, e.g. [1, 1, 0.25]"
            )
        else:  # from JSON a list: kept as a tuple of floats, so the config stays hashable
            object.__setattr__(self, "technicians", tuple(float(w) for w in crew))
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

    @property
    def workloads(self) -> tuple[float, ...]:
        """Each working technician's relative share of the work, in crew order."""
        crew = self.technicians
        return (1.0,) * crew if isinstance(crew, int) else crew

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
        #: every catalog feed's records and change log, by feed name
        self.logs: dict[str, FeedLog[Any]] = {name: FeedLog(name) for name in FEEDS}
        self.jobs: FeedLog[Job] = self.logs["jobs"]
        self.invoices: FeedLog[Invoice] = self.logs["invoices"]
        self.customers: FeedLog[Customer] = self.logs["customers"]
        self.estimates: FeedLog[Estimate] = self.logs["estimates"]
        self.job_types: FeedLog[JobType] = self.logs["job_types"]
        self.appointments: FeedLog[Appointment] = self.logs["appointments"]
        self.assignments: FeedLog[Assignment] = self.logs["appointment_assignments"]
        self.invoice_items: FeedLog[InvoiceItem] = self.logs["invoice_items"]
        self.payments: FeedLog[Payment] = self.logs["payments"]
        self.locations: FeedLog[Location] = self.logs["locations"]
        self.memberships: FeedLog[Membership] = self.logs["memberships"]
        self.now = -(2**62)
        self._heap: list[tuple[int, int, Event]] = []
        self._order = 0
        self._by_job: dict[int, list[Invoice]] = {}
        self._phantom_batches = 0
        # natural keys taken so far, for generated feeds keyed by the records they join
        self._keys_used: dict[str, set[tuple[int | None, ...]]] = {}
        self._scheduled: tuple[int, dict[int, int]] = (-1, {})
        #: how each feed is served (renderers hold the logs, not the business)
        self.sources = sources.build(self.logs, config.seed, tenant_id)
        opening = self.planner.day_start(start_day)
        setup = self.planner.setup() + generated.setup_events(
            config.seed, tenant_id, opening, self.planner.crew.ids
        )
        self._apply(self._due(setup, self.now))
        self.advance_to(int(opened.timestamp()))

    @property
    def start_day(self) -> date:
        return self.planner.start_day

    def feed(self, name: str) -> FeedLog[Any]:
        """Return the records and change log of the catalog feed called `name`."""
        return self.logs[name]

    # -- time ------------------------------------------------------------------

    def advance_to(self, now: int) -> None:
        """Plan the days that have come into view and apply every event due by `now`."""
        if now <= self.now:
            return
        with _collector_paused():
            planner = self.planner
            new: list[Event] = []
            cfg = self.config
            while planner.due(now):
                day = planner.next_day
                new.extend(planner.plan_next_day())
                if day.weekday() != 6:  # closed on Sundays
                    new.extend(
                        generated.day_events(
                            cfg.seed,
                            self.tenant_id,
                            day,
                            planner.day_start(day),
                            cfg.completed_jobs_per_day,
                        )
                    )
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
        self.locations.touch(Location(customer.location_id, customer.created, customer), when)

    def _deactivate_customer(self, when: int, customer: Customer, merged_to: int | None) -> None:
        customer.active = False
        customer.merged_to = merged_to
        self.customers.touch(customer, when)
        location = self.locations.get(customer.location_id)
        if location is not None:
            location.active = False
            location.merged_to = None if merged_to is None else merged_to + LOCATION_OFFSET
            self.locations.touch(location, when)

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
        self._set_items(when, invoice, items)
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
        self._set_items(when, invoice, items)
        self.invoices.touch(invoice, when)

    def _set_items(self, when: int, invoice: Invoice, items: tuple[InvoiceItem, ...]) -> None:
        """Give the invoice these lines: update those it has, add new ones, deactivate the rest."""
        log = self.invoice_items
        kept: list[InvoiceItem] = []
        for item in items:
            have = log.get(item.id)
            if have is None:
                have = item
            else:
                have.sku_id, have.sku_name = item.sku_id, item.sku_name
                have.description, have.quantity = item.description, item.quantity
                have.total_cents, have.order = item.total_cents, item.order
                have.active = True
            log.touch(have, when)
            kept.append(have)
        ids = {item.id for item in kept}
        for old in invoice.items:
            if old.id not in ids and old.active:
                old.active = False
                log.touch(old, when)
        invoice.items = tuple(kept)

    def _pay(self, when: int, invoice: Invoice, _: None) -> None:
        invoice.paid_cents = invoice.total_cents
        invoice.paid_on = when
        self.invoices.touch(invoice, when)
        kinds = tuple(PAYMENT_TYPES)
        kind = kinds[(invoice.id // 7) % len(kinds)]
        payment_id = PAYMENT_BASE + invoice.id - INVOICE_BASE
        self.payments.touch(Payment(payment_id, when, invoice, invoice.total_cents, kind), when)

    def _add_adjustment(self, when: int, invoice: Invoice, _: None) -> None:
        items, invoice.items = invoice.items, ()
        self._set_items(when, invoice, items)
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

    def _add_appointment(
        self, when: int, appointment: Appointment, assigned: tuple[Assignment, ...]
    ) -> None:
        self.appointments.touch(appointment, when)
        self._assign(when, appointment, assigned)
        job = appointment.job
        if appointment.id != job.appointment_id:  # a second visit after a hold
            job.last_appointment_id = appointment.id
            job.appointment_count += 1
            self.jobs.touch(job, when)

    def _reschedule(self, when: int, appointment: Appointment, times: tuple[int, int]) -> None:
        appointment.start, appointment.end = times
        self.appointments.touch(appointment, when)

    def _replace_appointment(
        self, when: int, old: Appointment, new: tuple[Appointment, tuple[Assignment, ...]]
    ) -> None:
        """Cancel an appointment and book the visit as a new one, with its own technicians."""
        appointment, assigned = new
        old.active = False
        old.status = "Canceled"
        self.appointments.touch(old, when)
        self._drop_assignments(when, old)
        self.appointments.touch(appointment, when)
        self._assign(when, appointment, assigned)
        job = appointment.job
        job.appointment_id = job.last_appointment_id = appointment.id
        self.jobs.touch(job, when)

    def _finish_appointment(self, when: int, appointment: Appointment, _: None) -> None:
        # Its assignments keep their status: one change fewer per visit, for memory's sake.
        appointment.status = "Done"
        self.appointments.touch(appointment, when)

    def _cancel_appointment(self, when: int, appointment: Appointment, _: None) -> None:
        appointment.status = "Canceled"
        self.appointments.touch(appointment, when)
        self._drop_assignments(when, appointment)

    def _drop_assignments(self, when: int, appointment: Appointment) -> None:
        for assignment_id in appointment.assignment_ids:
            assignment = self.assignments.rows[assignment_id]
            if assignment.active:
                assignment.active = False
                self.assignments.touch(assignment, when)

    def _assign(
        self, when: int, appointment: Appointment, assigned: tuple[Assignment, ...]
    ) -> None:
        appointment.assignment_ids = tuple(a.id for a in assigned)
        for assignment in assigned:
            self.assignments.touch(assignment, when)

    def _add_membership(self, when: int, membership: Membership, _: None) -> None:
        self.memberships.touch(membership, when)

    def _membership_status(self, when: int, membership: Membership, status: str) -> None:
        if not membership.active:
            return
        membership.status = status
        if status == "Deleted":
            membership.active = False
        elif status == "Canceled":
            membership.end = when
        self.memberships.touch(membership, when)

    def _add_generated(self, when: int, row: Generated, feed: str) -> None:
        lay = generated.layout(feed)
        used = self._keys_used.setdefault(feed, set()) if lay.key_slots else None
        refs = generated.pick_refs(lay, row, self.logs, self.config.seed, self.tenant_id, used)
        if refs is None:  # nothing real to point at yet, or its natural key is taken
            return
        row.refs = refs
        self.logs[feed].touch(row, when)

    def _touch_generated(self, when: int, row: Generated, feed: str) -> None:
        log = self.logs[feed]
        if log.get(row.id) is row and row.active:
            log.touch(row, when)

    def _deactivate_generated(self, when: int, row: Generated, feed: str) -> None:
        log = self.logs[feed]
        if log.get(row.id) is row and row.active:
            row.active = False
            log.touch(row, when)

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
            job.appointment_count = 0  # a bad bulk write: no visits behind it
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

    def truth(self, feed: str) -> dict[Any, records.Record]:
        """Every record of `feed` as its export returns it (its list, for a reference list).

        Keyed by the feed's key: the id, the one field of a natural key
        (job history's `jobId`), or a tuple of the fields of a longer one.
        """
        source = self.sources[feed]
        render = source.truth
        out: dict[Any, records.Record] = {}
        for row in source.log:
            record = render(row)
            out[source.key(record)] = record
        return out

    def truth_jobs(self) -> dict[int, records.Record]:
        return self.truth("jobs")

    def truth_invoices(self) -> dict[int, records.Record]:
        return self.truth("invoices")

    def truth_customers(self) -> dict[int, records.Record]:
        return self.truth("customers")

    def truth_estimates(self) -> dict[int, records.Record]:
        return self.truth("estimates")

    def truth_job_types(self) -> dict[int, records.Record]:
        return self.truth("job_types")

    def job_scheduled_at(self, job_id: int) -> datetime | None:
        """Return the earliest `start` of the job's active appointments (None when it has none)."""
        end, earliest = self._scheduled
        if end != self.appointments.end:  # rebuilt only when appointments changed
            earliest = {}
            for row in self.appointments.rows.values():
                if row.active:
                    job = row.job.id
                    have = earliest.get(job)
                    if have is None or row.start < have:
                        earliest[job] = row.start
            self._scheduled = (self.appointments.end, earliest)
        when = earliest.get(job_id)
        return None if when is None else datetime.fromtimestamp(when, UTC)

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
        for name in FEEDS:
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
    Op.ADD_GENERATED: Business._add_generated,
    Op.TOUCH_GENERATED: Business._touch_generated,
    Op.DEACTIVATE_GENERATED: Business._deactivate_generated,
    Op.ADD_APPOINTMENT: Business._add_appointment,
    Op.RESCHEDULE: Business._reschedule,
    Op.REPLACE_APPOINTMENT: Business._replace_appointment,
    Op.FINISH_APPOINTMENT: Business._finish_appointment,
    Op.CANCEL_APPOINTMENT: Business._cancel_appointment,
    Op.ADD_MEMBERSHIP: Business._add_membership,
    Op.MEMBERSHIP_STATUS: Business._membership_status,
}
