"""Plan a tenant's business one tenant-local day at a time.

Each day's jobs and their whole future (booking, visit, completion, invoice
total, edits, payments, adjustments, estimates) are drawn from a random
generator seeded by (seed, tenant, day) and returned as timed events. The
business applies an event once the clock passes it, so the records are the
same however the clock is moved. Ids are derived from the day and the job's
place in it, so they are deterministic too.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from enum import IntEnum
from itertools import accumulate
from random import Random
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from nexus.simulator.catalog import (
    ADJUSTMENT_BASE,
    APPOINTMENT_BASE,
    ASSIGNMENT_BASE,
    BUSINESS_UNITS,
    CAMPAIGNS,
    CHARGEABLE_TYPES,
    CITIES,
    COMPANY,
    CUSTOMER_BASE,
    EPOCH_DAY,
    ESTIMATE_BASE,
    ESTIMATE_NAMES,
    FIRST,
    INVOICE_BASE,
    ITEM_BASE,
    JOB_BASE,
    JOB_TYPES,
    LAST,
    LOCATION_OFFSET,
    MEMBERSHIP_BASE,
    MEMBERSHIP_TYPES,
    NO_CHARGE_TYPES,
    SECOND_APPOINTMENT,
    SKUS,
    SLOTS_PER_DAY,
    STREETS,
    TAX_RATE,
    UNITS_BY_ID,
    USERS,
    crew,
)
from nexus.simulator.entities import (
    CANCELED,
    CHARGEABLE,
    NO_CHARGE,
    UNINVOICED,
    Address,
    Appointment,
    Assignment,
    Customer,
    Estimate,
    Invoice,
    InvoiceItem,
    Job,
    JobType,
    Membership,
)

if TYPE_CHECKING:
    from nexus.simulator.business import BusinessConfig


class Op(IntEnum):
    """What an event does to the business."""

    ADD_JOB_TYPE = 0
    ADD_CUSTOMER = 1
    DEACTIVATE_CUSTOMER = 2
    BOOK = 3
    STATUS = 4
    COMPLETE = 5
    CANCEL = 6
    SET_TOTAL = 7
    FINALIZE_ZERO = 8
    EDIT_TOTAL = 9
    PAY = 10
    ADD_ADJUSTMENT = 11
    VOID = 12
    ADD_ESTIMATE = 13
    ESTIMATE_STATUS = 14
    DEACTIVATE_ESTIMATE = 15
    DEACTIVATE_JOB_TYPE = 16
    ADD_GENERATED = 17
    TOUCH_GENERATED = 18
    DEACTIVATE_GENERATED = 19
    ADD_APPOINTMENT = 20
    RESCHEDULE = 21
    REPLACE_APPOINTMENT = 22
    FINISH_APPOINTMENT = 23
    CANCEL_APPOINTMENT = 24
    ADD_MEMBERSHIP = 25
    MEMBERSHIP_STATUS = 26


# (time, op, subject, argument); equal times apply in the order they were planned.
Event = tuple[int, Op, Any, Any]

HOUR = 3600
DAY = 86_400
MAX_DELAY = 60 * DAY
LN_2_DAYS = math.log(2 * DAY)
LN_3_DAYS = math.log(3 * DAY)
LN_7_DAYS = math.log(7 * DAY)
LN_30_DAYS = math.log(30 * DAY)
LN_1500_DOLLARS = math.log(150_000)  # cents
# A job is booked at most this long before its visit, so a day is planned this early.
LEAD_S = 8 * DAY
Z90 = 1.2815515655446004  # the standard normal's 90th percentile
RESCHEDULE_SHARE = 0.12  # appointments moved before the visit
TWO_TECHNICIANS_SHARE = 0.2
MEMBERSHIP_SHARE = 0.1  # customers who take a membership


Uniform = Callable[[], float]
S = TypeVar("S")


def pick(u: Uniform, options: Sequence[S]) -> S:
    """Return one of `options`, uniformly (faster than Random.choice)."""
    return options[int(u() * len(options))]


class Crew:
    """The working technicians, and how the work is shared among them.

    `workloads` holds one relative share of the work per technician, in crew
    order: (1, 1, 0.25) is two full-timers and an apprentice given a quarter
    of what each of them gets. A crew sharing evenly draws exactly as a plain
    uniform pick does.
    """

    def __init__(self, workloads: Sequence[float]) -> None:
        self.ids = crew(len(workloads))
        total = sum(workloads)
        self._even = len(set(workloads)) == 1
        self._bounds = tuple(accumulate(w / total for w in workloads))

    def pick(self, u: Uniform) -> int:
        """One technician, each as likely as their share of the work."""
        if self._even:
            return pick(u, self.ids)
        return self.ids[min(bisect_right(self._bounds, u()), len(self.ids) - 1)]


def derive_seed(*parts: object) -> int:
    """Return a stable 64-bit seed from the parts (independent of PYTHONHASHSEED)."""
    text = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def lognormal(median: float, p90: float) -> tuple[float, float]:
    """Return (mu, sigma) of the lognormal with this median and 90th percentile."""
    mu = math.log(median)
    sigma = max(math.log(p90) - mu, 1e-9) / Z90
    return mu, sigma


def poisson(rng: Random, mean: float) -> int:
    """Draw from a Poisson distribution (normal approximation for large means)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def split_total(total_cents: int) -> tuple[int, int]:
    """Split a total into subtotal and sales tax, so that they add up exactly."""
    subtotal = round(total_cents / (1 + TAX_RATE))
    return subtotal, total_cents - subtotal


class Planner:
    """Draw the business of one tenant, day by day, in order."""

    def __init__(self, config: BusinessConfig, tenant_id: int, start_day: date) -> None:
        self.config = config
        self.crew = Crew(config.workloads)
        self.tenant_id = tenant_id
        self.start_day = start_day
        self.zone = ZoneInfo(config.timezone)
        self.next_day = start_day
        self._day_starts: dict[date, int] = {}
        self.job_types = [
            JobType(
                jt_id,
                self.day_start(start_day) - 3 * 365 * DAY,
                name,
                klass,
                no_charge,
                tuple(BUSINESS_UNITS[i].id for i in units),
                minutes * 60,
            )
            for jt_id, name, klass, no_charge, units, minutes, _ in JOB_TYPES
        ]
        self._customers: list[Customer] = []
        self._initial_customers = 0
        self._retired: set[int] = set()
        # (planned completion, job) of chargeable jobs of the last 30 planned days
        self._recent: deque[list[tuple[int, Job]]] = deque(maxlen=30)
        mu, sigma = lognormal(config.ticket_median, config.ticket_p90)
        self._ticket = (math.log(100) + mu, sigma)  # in cents
        self._lag = lognormal(
            config.invoice_lag_median_hours * HOUR, config.invoice_lag_p90_hours * HOUR
        )

    def day_start(self, day: date) -> int:
        """Return the epoch second at which the tenant-local day begins."""
        start = self._day_starts.get(day)
        if start is None:
            start = int(datetime(day.year, day.month, day.day, tzinfo=self.zone).timestamp())
            self._day_starts[day] = start
        return start

    def local_day(self, when: int) -> date:
        return datetime.fromtimestamp(when, self.zone).date()

    def due(self, now: int) -> bool:
        """Say whether the next day must be planned before the clock reaches `now`."""
        return self.day_start(self.next_day) - LEAD_S <= now

    # -- setup -----------------------------------------------------------------

    def setup(self) -> list[Event]:
        """Return the events that create what existed before the first planned day."""
        cfg = self.config
        rng = Random(derive_seed(cfg.seed, self.tenant_id, "setup"))
        u = rng.random
        start = self.day_start(self.start_day)
        events: list[Event] = []
        for jt, spec in zip(self.job_types, JOB_TYPES, strict=True):
            events.append((jt.created, Op.ADD_JOB_TYPE, jt, None))
            if not spec[6]:
                events.append((jt.created + 400 * DAY, Op.DEACTIVATE_JOB_TYPE, jt, None))
        count = max(50, round(cfg.completed_jobs_per_day * 30))
        for i in range(count):
            created = start - DAY - int(u() * 3 * 365 * DAY)
            customer = self._new_customer(u, CUSTOMER_BASE + i, created)
            events.append((created, Op.ADD_CUSTOMER, customer, None))
            if u() < cfg.inactive_share:
                when = created + HOUR + int(u() * (start - created - 2 * HOUR))
                events.append((when, *self._retire(u, customer)))
        self._initial_customers = len(self._customers)
        visits = Random(derive_seed(cfg.seed, self.tenant_id, "setup", "memberships"))
        self._plan_memberships(visits, self._customers, events)
        return events

    def _new_customer(self, u: Uniform, customer_id: int, created: int) -> Customer:
        city, zip_prefix = pick(u, CITIES)
        address = Address(
            f"{100 + int(u() * 9900)} {pick(u, STREETS)}",
            city,
            "TX",
            f"{zip_prefix}{int(u() * 100):02d}",
        )
        if u() < 0.15:
            name, kind = f"{pick(u, LAST)} {pick(u, COMPANY)}", "Commercial"
        else:
            name, kind = f"{pick(u, FIRST)} {pick(u, LAST)}", "Residential"
        customer = Customer(
            customer_id, created, name, kind, address, customer_id + LOCATION_OFFSET, pick(u, USERS)
        )
        self._customers.append(customer)
        return customer

    def _retire(self, u: Uniform, customer: Customer) -> tuple[Op, Customer, int | None]:
        """Plan a customer's deactivation: merged into an older customer, or just closed."""
        self._retired.add(customer.id)
        merged_to = None
        pool = self._initial_customers or len(self._customers)  # during setup: those so far
        if u() < 0.5:
            target = self._customers[int(u() * pool)]
            if target.id not in self._retired and target.id != customer.id:
                merged_to = target.id
        return Op.DEACTIVATE_CUSTOMER, customer, merged_to

    def pick_customer(self, u: Uniform, before: int) -> Customer:
        """Return an active customer created before `before`."""
        pool = self._customers
        for _ in range(8):
            customer = pool[int(u() * len(pool))]
            if customer.created < before and customer.id not in self._retired:
                return customer
        for customer in pool[: self._initial_customers]:
            if customer.id not in self._retired:
                return customer
        return pool[0]

    # -- one day ---------------------------------------------------------------

    def plan_next_day(self) -> list[Event]:
        """Return the events of the next unplanned day and move on to the day after."""
        day = self.next_day
        self.next_day = day + timedelta(days=1)
        if day.weekday() == 6:  # closed on Sundays
            self._recent.append([])
            return []
        cfg = self.config
        rng = Random(derive_seed(cfg.seed, self.tenant_id, day.isoformat()))
        u = rng.random
        day_no = (day - EPOCH_DAY).days
        start = self.day_start(day)
        mean = cfg.completed_jobs_per_day / max(1e-9, 1 - cfg.canceled_share)
        n = poisson(rng, mean)
        if n >= SLOTS_PER_DAY:
            raise ValueError(f"{n} jobs on {day}: at most {SLOTS_PER_DAY - 1} a day are supported")
        events: list[Event] = []
        completed: list[tuple[int, Job]] = []
        # Appointments and memberships draw from streams of their own, so that the
        # jobs, invoices, customers and estimates are what they were without them.
        visits = Random(derive_seed(cfg.seed, self.tenant_id, day.isoformat(), "appointments"))
        first_new = len(self._customers)
        for k in range(n):
            slot = day_no * SLOTS_PER_DAY + k
            self._plan_job(rng, visits, day, slot, start, events, completed)
        for k in range(n, min(SLOTS_PER_DAY, n + poisson(rng, cfg.completed_jobs_per_day * 0.03))):
            when = start + 8 * HOUR + int(u() * 10 * HOUR)
            customer = self.pick_customer(u, when)
            slot = day_no * SLOTS_PER_DAY + k
            self._plan_estimate(rng, self._estimate(rng, slot, when, customer, None), events)
        self._recent.append(completed)
        members = Random(derive_seed(cfg.seed, self.tenant_id, day.isoformat(), "memberships"))
        self._plan_memberships(members, self._customers[first_new:], events)
        return events

    def _plan_job(
        self,
        rng: Random,
        visits: Random,
        day: date,
        slot: int,
        start: int,
        events: list[Event],
        completed: list[tuple[int, Job]],
    ) -> None:
        cfg = self.config
        u = rng.random
        visit = start + 8 * HOUR + int(u() * 36) * 900
        lead = 0 if u() < 0.35 else min(7, 1 + int(rng.expovariate(0.5)))
        if lead == 0:
            booked = start + 6 * HOUR + int(u() * (visit - start - 6 * HOUR - 1800))
        else:
            booked = self.day_start(day - timedelta(days=lead)) + 7 * HOUR + int(u() * 12 * HOUR)

        roll = u()
        if roll < cfg.canceled_share:
            category = CANCELED
        elif roll < cfg.canceled_share + (1 - cfg.canceled_share) * cfg.no_charge_share:
            category = NO_CHARGE
        elif u() < cfg.uninvoiced_share:
            category = UNINVOICED
        else:
            category = CHARGEABLE

        if u() < 0.3:
            customer_created = booked - 60 - int(u() * 540)
            customer = self._new_customer(u, CUSTOMER_BASE + slot, customer_created)
            events.append((customer_created, Op.ADD_CUSTOMER, customer, None))
            if u() < cfg.inactive_share:
                when = customer_created + int(rng.lognormvariate(LN_30_DAYS, 0.8))
                events.append((when, *self._retire(u, customer)))
        else:
            customer = self.pick_customer(u, booked)

        job_type = self.job_types[pick(u, CHARGEABLE_TYPES)]
        job = Job(
            JOB_BASE + slot, booked, str(slot), customer, job_type, BUSINESS_UNITS[0], category
        )
        if category == NO_CHARGE:
            self._make_no_charge(u, job, booked)
            job_type = job.job_type
            customer = job.customer
        job.business_unit = UNITS_BY_ID[pick(u, job_type.business_unit_ids)]
        job.priority = "High" if u() < 0.1 else "Normal"
        job.campaign_id = pick(u, CAMPAIGNS)
        job.created_by = pick(u, USERS)
        job.appointment_id = job.last_appointment_id = APPOINTMENT_BASE + slot
        job.summary = f"{job_type.name} at {customer.address.street}"
        invoice = Invoice(INVOICE_BASE + slot, booked, job, job.number)
        job.invoice_id = invoice.id
        events.append((booked, Op.BOOK, job, invoice))

        if category == CANCELED:
            when = booked + 60 + int(u() * max(1, visit - booked - 120))
            events.append((when, Op.CANCEL, job, invoice if u() < 0.3 else None))
            legs = [(visit, visit + job_type.duration_s)]
            self._plan_visits(visits.random, job, booked, legs, when, events)
            return

        duration = int(
            min(6 * HOUR, max(1200, job_type.duration_s * math.exp(0.4 * rng.gauss(0, 1))))
        )
        events.append((visit, Op.STATUS, job, "InProgress"))
        if u() < 0.05:
            resume_day = day + timedelta(days=2 if day.weekday() == 5 else 1)
            resumed = self.day_start(resume_day) + 9 * HOUR + int(u() * 3 * HOUR)
            events.append((visit + duration // 2, Op.STATUS, job, "Hold"))
            events.append((resumed, Op.STATUS, job, "InProgress"))
            done = resumed + duration // 2
            legs = [(visit, visit + duration // 2), (resumed, done)]
        else:
            done = visit + duration
            legs = [(visit, done)]
        events.append((done, Op.COMPLETE, job, None))
        self._plan_visits(visits.random, job, booked, legs, None, events)

        if category != NO_CHARGE and u() < 0.25:
            estimate = self._estimate(rng, slot, visit + duration // 3, customer, job)
            self._plan_estimate(rng, estimate, events)

        lag = int(min(MAX_DELAY, rng.lognormvariate(*self._lag)))
        if category == NO_CHARGE:
            events.append((done + lag, Op.FINALIZE_ZERO, invoice, None))
            return
        if category != CHARGEABLE:
            return
        completed.append((done, job))
        total = max(2500, round(rng.lognormvariate(*self._ticket)))
        total_at = done + lag
        events.append(
            (total_at, Op.SET_TOTAL, invoice, (total, self._items(u, invoice, total, total_at)))
        )
        if u() < cfg.invoice_edit_share:
            edit_at = total_at + int(min(MAX_DELAY, rng.lognormvariate(LN_2_DAYS, 1.2)))
            new_total = max(2500, round(total * (0.75 + 0.55 * u())))
            items = self._items(u, invoice, new_total, edit_at)
            events.append((edit_at, Op.EDIT_TOTAL, invoice, (new_total, items)))
        if u() < 0.85:
            paid_at = total_at + int(min(MAX_DELAY, rng.lognormvariate(LN_3_DAYS, 1.0)))
            events.append((paid_at, Op.PAY, invoice, None))
        if u() < cfg.adjustment_share:
            adjusted = total_at + int(min(MAX_DELAY, rng.lognormvariate(LN_7_DAYS, 0.8)))
            adjustment = Invoice(ADJUSTMENT_BASE + slot, adjusted, job, f"{job.number}-1")
            adjustment.adjustment_to = invoice.id
            sign = -1 if u() < 0.7 else 1
            amount = sign * round(total * (0.05 + 0.25 * u()))
            adjustment.subtotal_cents, adjustment.tax_cents = split_total(amount)
            adjustment.items = self._items(u, adjustment, amount, adjusted)
            adjustment.invoice_date = adjusted
            adjustment.sent_status = "Sent"
            adjustment.review_status = "Reviewed"
            adjustment.total_set = True
            events.append((adjusted, Op.ADD_ADJUSTMENT, adjustment, None))
            if u() < 0.1:
                events.append((adjusted + HOUR + int(u() * 5 * DAY), Op.VOID, adjustment, None))

    def _make_no_charge(self, u: Uniform, job: Job, booked: int) -> None:
        """Turn a job into recall, warranty or no-charge work."""
        roll = u()
        target = self._earlier_job(u, booked) if roll < 0.5 else None
        if target is not None:
            if roll < 0.3:
                job.recall_for = target.id
            else:
                job.warranty_of = target.id
            job.job_type = target.job_type
            job.customer = target.customer
        elif roll < 0.75:
            job.no_charge = True
        else:
            job.job_type = self.job_types[pick(u, NO_CHARGE_TYPES)]

    def _earlier_job(self, u: Uniform, before: int) -> Job | None:
        """Return a chargeable job completed before `before`, if a recent one is found."""
        days = [d for d in self._recent if d]
        for _ in range(4):
            if not days:
                return None
            done, job = pick(u, pick(u, days))
            if done < before:
                return job
        return None

    def _items(
        self, u: Uniform, invoice: Invoice, total: int, when: int
    ) -> tuple[InvoiceItem, ...]:
        """Lines that add up to the invoice's subtotal (tax is on top of them).

        The draws are the same whatever the amounts, so the business after them is too.
        """
        base = ITEM_BASE + (invoice.id % 1_000_000_000) * 4
        subtotal = split_total(total)[0]
        sku_id, sku_name = pick(u, SKUS)
        if abs(total) < 20_000 or u() < 0.5:
            return (InvoiceItem(base, invoice.id, sku_id, sku_name, sku_name, 1, subtotal, when),)
        first = round(subtotal * (0.3 + 0.4 * u()))
        other_id, other_name = pick(u, SKUS)
        return (
            InvoiceItem(base, invoice.id, sku_id, sku_name, sku_name, 1, first, when),
            InvoiceItem(
                base + 1, invoice.id, other_id, other_name, other_name, 1, subtotal - first, when, 1
            ),
        )

    # -- appointments and memberships (their own random streams) -----------------

    def _plan_visits(
        self,
        u: Uniform,
        job: Job,
        booked: int,
        legs: list[tuple[int, int]],
        canceled_at: int | None,
        events: list[Event],
    ) -> None:
        """Plan the job's appointments: one per visit, some moved or replaced before it."""
        visit, first_end = legs[0]
        first = Appointment(job.appointment_id, booked, job, f"{job.number}-1", visit, first_end)
        events.append((booked, Op.ADD_APPOINTMENT, first, self._assignments(u, first, booked)))
        last = first
        room = visit - booked
        if canceled_at is None and room > 2 * HOUR and u() < RESCHEDULE_SHARE:
            at = booked + int(room * (0.1 + 0.3 * u()))
            planned = at + 600 + int((visit - at - 600) * 0.8 * u())  # first booked for earlier
            first.start, first.end = planned, planned + (first_end - visit)
            if len(legs) > 1 or u() < 0.5:
                events.append((at, Op.RESCHEDULE, first, (visit, first_end)))
            else:
                second_id = job.appointment_id + SECOND_APPOINTMENT
                last = Appointment(second_id, at, job, f"{job.number}-2", visit, first_end)
                replacement = (last, self._assignments(u, last, at))
                events.append((at, Op.REPLACE_APPOINTMENT, first, replacement))
        if canceled_at is not None:
            events.append((canceled_at, Op.CANCEL_APPOINTMENT, last, None))
            return
        events.append((first_end, Op.FINISH_APPOINTMENT, last, None))
        if len(legs) > 1:  # on hold: a second visit is booked when the first one ends
            resumed, done = legs[1]
            second_id = job.appointment_id + SECOND_APPOINTMENT
            second = Appointment(second_id, first_end, job, f"{job.number}-2", resumed, done)
            assigned = self._assignments(u, second, first_end)
            events.append((first_end, Op.ADD_APPOINTMENT, second, assigned))
            events.append((done, Op.FINISH_APPOINTMENT, second, None))

    def _assignments(
        self, u: Uniform, appointment: Appointment, made: int
    ) -> tuple[Assignment, ...]:
        """The technician (sometimes two) assigned when the appointment is booked."""
        base = ASSIGNMENT_BASE + 2 * (appointment.id - APPOINTMENT_BASE)
        first = self.crew.pick(u)
        if u() < TWO_TECHNICIANS_SHARE:
            second = self.crew.pick(u)
            if second != first:
                return (
                    Assignment(base, made, appointment, first),
                    Assignment(base + 1, made, appointment, second),
                )
        return (Assignment(base, made, appointment, first),)

    def _plan_memberships(self, v: Random, customers: list[Customer], events: list[Event]) -> None:
        """Plan the memberships some of these new customers take, and how they end."""
        u = v.random
        for customer in customers:
            if u() >= MEMBERSHIP_SHARE:
                continue
            start = customer.created + 60 + int(u() * 120 * DAY)
            membership = Membership(
                MEMBERSHIP_BASE + customer.id - CUSTOMER_BASE,
                start,
                customer,
                pick(u, tuple(MEMBERSHIP_TYPES)),
                pick(u, BUSINESS_UNITS).id,
                start,
                start + 365 * DAY,
            )
            events.append((start, Op.ADD_MEMBERSHIP, membership, None))
            roll = u()
            if roll < 0.15:
                when = start + DAY + int(u() * 300 * DAY)
                events.append((when, Op.MEMBERSHIP_STATUS, membership, "Canceled"))
            elif roll < 0.6:
                events.append((membership.end, Op.MEMBERSHIP_STATUS, membership, "Expired"))
            if u() < 0.05:
                when = start + HOUR + int(u() * 200 * DAY)
                events.append((when, Op.MEMBERSHIP_STATUS, membership, "Deleted"))

    def _estimate(
        self, rng: Random, slot: int, created: int, customer: Customer, job: Job | None
    ) -> Estimate:
        u = rng.random
        subtotal = round(rng.lognormvariate(LN_1500_DOLLARS, 0.9))
        sku_name = pick(u, ESTIMATE_NAMES)
        estimate = Estimate(
            ESTIMATE_BASE + slot,
            created,
            customer,
            job,
            f"{sku_name} option {pick(u, 'ABC')}",
            sku_name,
            subtotal,
            round(subtotal * TAX_RATE),
        )
        estimate.business_unit = job.business_unit if job is not None else BUSINESS_UNITS[0]
        return estimate

    def _plan_estimate(self, rng: Random, estimate: Estimate, events: list[Event]) -> None:
        u = rng.random
        events.append((estimate.created, Op.ADD_ESTIMATE, estimate, None))
        roll = u()
        decided = estimate.created + int(min(MAX_DELAY, rng.lognormvariate(LN_3_DAYS, 1.0)))
        if roll < 0.4:
            estimate.sold_by = self.crew.pick(u)
            events.append((decided, Op.ESTIMATE_STATUS, estimate, "Sold"))
        elif roll < 0.7:
            events.append((decided, Op.ESTIMATE_STATUS, estimate, "Dismissed"))
        if roll >= 0.4 and u() < self.config.inactive_share:
            when = decided + HOUR + int(u() * 10 * DAY)
            events.append((when, Op.DEACTIVATE_ESTIMATE, estimate, None))
