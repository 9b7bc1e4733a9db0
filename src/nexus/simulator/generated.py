"""Feeds the business does not model: how many records each has, and when they change.

Every catalog feed the business model does not build from its own events
(projects, calls, pricebook services, payroll, …) is populated here. Each
feed's size is declared relative to the business: a reference list has a
handful of records made before the business opens; a feed of daily work
grows with the jobs a day. Records are created, changed now and then, and
some deactivated, as timed events drawn from their own random streams
(`derive_seed(seed, tenant, day, "generated", feed)`), so the modeled
business draws exactly what it drew before these feeds existed.

A record's fields are drawn from its schema when it is served (see
`generate.py`); only its ids, times and the ids it joins to are kept, which
keeps memory small as the tenant grows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from random import Random
from typing import Any

from nexus.catalog import FEEDS, Feed
from nexus.catalog.feed import join_target
from nexus.catalog.spec import record_schema, response_schema
from nexus.simulator.catalog import (
    BUSINESS_UNITS,
    CAMPAIGN_NAMES,
    EPOCH_DAY,
    FORMER_TECHNICIANS,
    GENERATED_BASE,
    GENERATED_RANGE,
    MEMBERSHIP_TYPES,
    PAYMENT_TYPES,
    SLOTS_PER_DAY,
    TECHNICIAN_IDS,
    TECHNICIANS,
)
from nexus.simulator.entities import Generated
from nexus.simulator.feedlog import FeedLog
from nexus.simulator.generate import Projection, Shape, Special, compile_shape
from nexus.simulator.plan import (
    DAY,
    HOUR,
    LN_2_DAYS,
    LN_7_DAYS,
    MAX_DELAY,
    Event,
    Op,
    derive_seed,
    poisson,
)


@dataclass(frozen=True)
class Population:
    """How many records a generated feed has, and whether they change later."""

    #: records made before the business opens
    count: int = 0
    #: records a working day, per job of the day (at least a few a month, however small)
    per_job: float = 0.0
    #: fixed ids, for reference lists other records already point at (campaigns, …)
    ids: tuple[int, ...] = ()
    #: fixed ids deactivated before the business opens
    retired: tuple[int, ...] = ()
    #: whether records are changed and deactivated now and then
    changes: bool = True


#: The feeds the business model builds itself (see business.py).
MODELED = frozenset(
    {
        "jobs",
        "invoices",
        "customers",
        "estimates",
        "job_types",
        "appointments",
        "appointment_assignments",
        "invoice_items",
        "payments",
        "locations",
        "memberships",
    }
)

POPULATION: dict[str, Population] = {
    # reference lists, made before the business opens
    "business_units": Population(ids=tuple(u.id for u in BUSINESS_UNITS), changes=False),
    "technicians": Population(ids=TECHNICIAN_IDS, retired=FORMER_TECHNICIANS, changes=False),
    "campaigns": Population(ids=tuple(CAMPAIGN_NAMES), changes=False),
    "membership_types": Population(ids=tuple(MEMBERSHIP_TYPES), changes=False),
    "payment_types": Population(ids=tuple(PAYMENT_TYPES), changes=False),
    "zones": Population(count=5),
    "tag_types": Population(count=8),
    "employees": Population(count=10),
    "payroll_settings": Population(count=8),
    "recurring_service_types": Population(count=4),
    "invoice_templates": Population(count=4),
    "activity_codes": Population(count=6),
    "timesheet_codes": Population(count=6),
    "categories": Population(count=8),
    "services": Population(count=20),
    "materials": Population(count=20),
    "equipment": Population(count=10),
    "activity_categories": Population(count=4),
    "activity_types": Population(count=8),
    "service_agreements": Population(count=5),
    # daily work, sized by the jobs of the day
    "projects": Population(per_job=0.005),
    "job_canceled_logs": Population(per_job=0.015),
    "job_notes": Population(per_job=0.05),
    "project_notes": Population(per_job=0.005),
    "job_history": Population(per_job=0.025),
    "inventory_bills": Population(per_job=0.005),
    "customer_contacts": Population(per_job=0.025),
    "location_contacts": Population(per_job=0.015),
    "leads": Population(per_job=0.015),
    "bookings": Population(per_job=0.015),
    "membership_status_changes": Population(per_job=0.005),
    "recurring_services": Population(per_job=0.005),
    "recurring_service_events": Population(per_job=0.005),
    "job_splits": Population(per_job=0.025),
    "job_timesheets": Population(per_job=0.025),
    "payroll_adjustments": Population(per_job=0.005),
    "gross_pay_items": Population(per_job=0.015),
    "purchase_orders": Population(per_job=0.005),
    "adjustments": Population(per_job=0.005),
    "returns": Population(per_job=0.0025),
    "transfers": Population(per_job=0.0025),
    "activities": Population(per_job=0.015),
    "calls": Population(per_job=0.075),
    "installed_equipment": Population(per_job=0.005),
    "technician_ratings": Population(per_job=0.015),
}
#: a daily feed has at least this many records a working day on average
MIN_PER_DAY = 0.5
CHANGE_SHARE = 0.3
DEACTIVATE_SHARE = 0.15
#: refs are picked among this many of the target feed's latest changes (recent records)
RECENT = 2000
NULL_REF_SHARE = 0.2

#: A feed declared without a size of its own: a short reference list, or a trickle of work.
DEFAULT_REFERENCE = Population(count=5)
DEFAULT_DAILY = Population(per_job=0.01)


def generated_feeds() -> tuple[str, ...]:
    """The catalog feeds the business model does not build itself, in catalog order."""
    return tuple(name for name in FEEDS if name not in MODELED)


def population(name: str) -> Population:
    """How big the generated feed `name` is; a newly declared feed gets a modest default."""
    found = POPULATION.get(name)
    if found is not None:
        return found
    return DEFAULT_REFERENCE if FEEDS[name].reference else DEFAULT_DAILY


@dataclass(frozen=True)
class Layout:
    """What the generator needs to know about one feed's records, derived from the catalog."""

    feed: Feed
    number: int
    shape: Shape
    special: Special
    #: the feed each ref slot points at, and whether the slot may be null
    targets: tuple[str, ...]
    nullable: tuple[bool, ...]
    #: ref slots that together make the natural key (empty when the key is unique anyway)
    key_slots: tuple[int, ...]
    list_projection: Projection | None
    item_projection: Projection | None


@cache
def layout(name: str) -> Layout:
    """The generator layout of the catalog feed `name`."""
    feed = FEEDS[name]
    shape = compile_shape(feed.doc, feed.record_schema)
    props = {p.name: p for p in shape.props}
    fields: dict[str, str] = {}
    nested: dict[tuple[str, str], int] = {}
    targets: list[str] = []
    nullable: list[bool] = []
    by_column = {c.name: c for c in feed.columns}
    joins = dict(feed.joins)
    for key in feed.key:  # a natural key like jobId joins its feed too
        column = next(c for c in feed.columns if c.source == key)
        target = join_target(column.name, FEEDS)
        if key != "id" and target is not None:
            joins.setdefault(column.name, target)
    key_slots: list[int] = []
    for column_name, target in joins.items():
        column = by_column[column_name]
        outer = props.get(column.path[0])
        if outer is None:
            continue
        slot = len(targets)
        if len(column.path) == 1:
            fields[column.path[0]] = f"ref:{slot}"
            may_be_null = outer.shape.nullable
        else:
            inner = next((p for p in outer.shape.props if p.name == column.path[1]), None)
            if inner is None:
                continue
            nested[(column.path[0], column.path[1])] = slot
            may_be_null = outer.shape.nullable or inner.shape.nullable
        targets.append(target)
        nullable.append(may_be_null and column.source not in feed.key)
        if column.source in feed.key:
            key_slots.append(slot)
    for key in feed.key:
        if key not in fields and key in props and props[key].shape.kind == "integer":
            fields[key] = "id"
    if any(fields.get(k) == "id" for k in feed.key):
        key_slots = []  # the row's own id makes the key unique
    for name_, what in (("createdOn", "created"), ("modifiedOn", "modified"), ("active", "active")):
        prop = props.get(name_)
        if prop is not None and name_ not in fields:
            kind_ok = prop.shape.kind == ("boolean" if what == "active" else "string")
            if kind_ok:
                fields[name_] = what
    special = Special(fields, nested)
    seed = ("generated", name)
    list_projection = item_projection = None
    if feed.list_path is not None and feed.export is not None:
        listed = compile_shape(feed.doc, list_record_schema(feed))
        list_projection = Projection(shape, listed, special, (*seed, "list"))
    if feed.by_id_path is not None:
        one = compile_shape(feed.doc, record_schema(feed.doc, feed.by_id_path))
        item_projection = Projection(shape, one, special, (*seed, "item"))
    return Layout(
        feed,
        list(FEEDS).index(name),
        shape,
        special,
        tuple(targets),
        tuple(nullable),
        tuple(key_slots),
        list_projection,
        item_projection,
    )


def list_record_schema(feed: Feed) -> dict[str, Any]:
    """The schema of one record of the feed's list (whose answer is an array for a few)."""
    assert feed.list_record_schema is not None, f"{feed.name} has no list endpoint"
    return feed.list_record_schema


def bare_list(feed: Feed) -> bool:
    """Say whether the list answers a bare array instead of the paging envelope."""
    assert feed.list_path is not None
    return response_schema(feed.doc, feed.list_path).get("type") == "array"


# -- planning -------------------------------------------------------------------------


def _rank(name: str, seen: tuple[str, ...] = ()) -> int:
    """How deep a reference feed sits in the joins among reference feeds (0: joins none)."""
    deps = [
        t
        for t in layout(name).targets
        if t != name and t not in seen and t not in MODELED and population(t).per_job == 0
    ]
    return 1 + max((_rank(t, (*seen, name)) for t in deps), default=-1)


def setup_events(
    seed: int, tenant: int, opened: int, technicians: tuple[int, ...] = TECHNICIANS
) -> list[Event]:
    """Events that make the reference records, before the business opens at `opened`.

    `technicians` are the crew's working technicians; the former ones are always there.
    """
    events: list[Event] = []
    order = sorted(
        (name for name in generated_feeds() if population(name).per_job == 0),
        key=lambda n: (_rank(n), list(FEEDS).index(n)),
    )
    for rank, name in enumerate(order):
        pop = population(name)
        rng = Random(derive_seed(seed, tenant, "setup", "generated", name))
        u = rng.random
        base = GENERATED_BASE + layout(name).number * GENERATED_RANGE
        ids = pop.ids or tuple(base + 1 + k for k in range(pop.count))
        if name == "technicians":
            ids = (*technicians, *FORMER_TECHNICIANS)
        made = opened - 2 * DAY - (len(order) - rank) * 600
        for k, record_id in enumerate(ids):
            row = Generated(record_id, made + k)
            events.append((row.created, Op.ADD_GENERATED, row, name))
            # Fixed lists retire whom they say; others retire their last record.
            last = k == len(ids) - 1 and len(ids) > 2 and pop.changes
            if record_id in pop.retired or last:
                events.append((made + DAY, Op.DEACTIVATE_GENERATED, row, name))
            if not pop.changes:
                continue
            if u() < CHANGE_SHARE:
                when = opened - 30 * DAY + int(u() * 150 * DAY)
                events.append((max(when, made + k + 1), Op.TOUCH_GENERATED, row, name))
            if u() < DEACTIVATE_SHARE:
                when = opened - 20 * DAY + int(u() * 150 * DAY)
                events.append((max(when, made + k + 2), Op.DEACTIVATE_GENERATED, row, name))
    return events


def day_events(seed: int, tenant: int, day: date, start: int, jobs_per_day: float) -> list[Event]:
    """Events of one working day's records of the daily feeds."""
    events: list[Event] = []
    day_no = (day - EPOCH_DAY).days
    for name in generated_feeds():
        pop = population(name)
        if pop.per_job == 0:
            continue
        rng = Random(derive_seed(seed, tenant, day.isoformat(), "generated", name))
        u = rng.random
        base = GENERATED_BASE + layout(name).number * GENERATED_RANGE + day_no * SLOTS_PER_DAY
        count = min(SLOTS_PER_DAY, poisson(rng, max(MIN_PER_DAY, pop.per_job * jobs_per_day)))
        for k in range(count):
            created = start + 8 * HOUR + int(u() * 10 * HOUR)
            row = Generated(base + k, created)
            events.append((created, Op.ADD_GENERATED, row, name))
            if u() < CHANGE_SHARE:
                when = created + 1 + int(min(MAX_DELAY, rng.lognormvariate(LN_2_DAYS, 1.0)))
                events.append((when, Op.TOUCH_GENERATED, row, name))
            if u() < DEACTIVATE_SHARE:
                when = created + 2 + int(min(MAX_DELAY, rng.lognormvariate(LN_7_DAYS, 0.8)))
                events.append((when, Op.DEACTIVATE_GENERATED, row, name))
    return events


_MASK = 0xFFFFFFFFFFFFFFFF


def _stream(*parts: int) -> Callable[[], float]:
    """A cheap deterministic stream of numbers in [0, 1) (splitmix64), seeded by the parts.

    Seeding a `Random` for every record would cost more than the rest of its making.
    """
    state = 0x9E3779B97F4A7C15
    for part in parts:
        state = ((state ^ (part & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK

    def draw() -> float:
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return (z ^ (z >> 31)) / 2**64

    return draw


# -- applying -------------------------------------------------------------------------


def pick_recent(log: FeedLog[Any], u: Callable[[], float]) -> int | None:
    """An id among the latest changes of `log` (None when it has none yet)."""
    ids = log.log_ids
    end = len(ids)
    if not end:
        return None
    return ids[end - 1 - int(u() * (end if end < RECENT else RECENT))]


def pick_refs(
    lay: Layout,
    row: Generated,
    logs: Mapping[str, FeedLog[Any]],
    seed: int,
    tenant: int,
    used: set[tuple[int | None, ...]] | None,
) -> tuple[int | None, ...] | None:
    """The ids `row` joins to, picked among real records; None if its natural key is taken."""
    u = _stream(seed, tenant, lay.number, row.id)
    fixed = bool(population(lay.feed.name).ids)
    refs: list[int | None] = []
    for _attempt in range(8):
        refs = []
        for target, may_be_null in zip(lay.targets, lay.nullable, strict=True):
            if may_be_null and u() < NULL_REF_SHARE:
                refs.append(None)
                continue
            picked = pick_recent(logs[target], u)
            if picked is None and not may_be_null:
                if not fixed:
                    return None
                picked = 0
            refs.append(picked)
        if used is None or not lay.key_slots:
            return tuple(refs)
        key = tuple(refs[s] for s in lay.key_slots)
        if None not in key and key not in used:
            used.add(key)
            return tuple(refs)
    if used is not None and len(lay.key_slots) == 1:  # one field: the first target not yet used
        slot = lay.key_slots[0]
        for record_id in logs[lay.targets[slot]].rows:
            if (record_id,) not in used:
                used.add((record_id,))
                refs[slot] = record_id
                return tuple(refs)
    return None
