"""What the simulator serves for each catalog feed: its records and how each endpoint shapes them.

A `Source` pairs a feed's change log with a renderer per endpoint (export,
list, by-id). The modeled feeds (jobs, invoices, appointments, …) are shaped
by `records.py`; a modeled feed whose schema has fields the business does not
model gets them drawn from the schema first. Every other feed is drawn
entirely from its schema (`generate.py`), around the ids and joins its rows
keep. Renderers hold the feed logs, never the business, so a business that
is dropped is freed at once rather than at the next garbage collection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus.catalog import FEEDS, Feed
from nexus.simulator import records
from nexus.simulator.feedlog import FeedLog
from nexus.simulator.generate import Generator
from nexus.simulator.generated import layout

Render = Callable[[Any], records.Record]


@dataclass(frozen=True)
class Source:
    """One feed as the API serves it."""

    feed: Feed
    log: FeedLog[Any]
    export: Render | None
    list: Render | None
    item: Render | None
    #: record fields read straight from a row, for filters and sorting without rendering
    fields: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def truth(self) -> Render:
        """The shape the ground truth is given in: the export's, or the list's without one."""
        render = self.export or self.list
        assert render is not None
        return render

    def key(self, record: Mapping[str, Any]) -> Any:
        """The record's key: its id, the one field of a natural key, or a tuple of them."""
        key = self.feed.key
        if len(key) == 1:
            return record[key[0]]
        return tuple(record[k] for k in key)


def _filled(name: str, seed: int, tenant: int, shape: Render) -> Render:
    """`shape`'s fields over a record drawn from the schema (for the fields it leaves out)."""
    lay = layout(name)
    generator = Generator(lay.shape, lay.special, (seed, tenant, name))

    def render(row: Any) -> records.Record:
        record = generator.record(row)
        record.update(shape(row))
        return record

    return render


def _projected(name: str, which: str, export: Render) -> Render | None:
    lay = layout(name)
    projection = lay.list_projection if which == "list" else lay.item_projection
    if projection is None:
        return None

    def render(row: Any) -> records.Record:
        return projection(export(row), row, getattr(row, "refs", ()))

    return render


def _generated(name: str, seed: int, tenant: int, log: FeedLog[Any]) -> Source:
    lay = layout(name)
    feed = lay.feed
    generator = Generator(lay.shape, lay.special, (seed, tenant, name))
    overlay = records.OVERLAYS.get(name)
    props = {p.name for p in lay.shape.props}

    def draw(row: Any) -> records.Record:
        record = generator.record(row, row.refs)
        if overlay is not None:
            record.update({k: v for k, v in overlay(row).items() if k in props})
        return record

    if feed.export is None:  # a reference list: the record schema is the list's
        item = _projected(name, "item", draw)
        return Source(feed, log, None, draw, item)
    return Source(feed, log, draw, _projected(name, "list", draw), _projected(name, "item", draw))


def build(logs: Mapping[str, FeedLog[Any]], seed: int, tenant: int) -> dict[str, Source]:
    """A Source for every catalog feed of one tenant."""
    invoices = logs["invoices"]

    def invoice_item(row: Any) -> records.Record:
        return records.invoice_item(row, invoices.rows[row.invoice_id])

    def job_list(row: Any) -> records.Record:
        return records.job(row, export=False)

    modeled: dict[str, tuple[Render | None, Render | None, Render | None]] = {
        "jobs": (records.job, job_list, job_list),
        "invoices": (records.invoice, records.invoice, None),
        "customers": (records.customer, records.customer, records.customer),
        "estimates": (records.estimate, records.estimate, records.estimate),
        "job_types": (None, records.job_type, records.job_type),
    }
    shaped: dict[str, Render] = {
        "appointments": records.appointment,
        "appointment_assignments": records.assignment,
        "invoice_items": invoice_item,
        "payments": records.payment,
        "locations": records.location,
        "memberships": records.membership,
    }
    fields: dict[str, dict[str, Callable[[Any], Any]]] = {
        "invoices": {"jobId": lambda row: row.job.id},
        "estimates": {"jobId": lambda row: None if row.job is None else row.job.id},
        "appointments": {
            "jobId": lambda row: row.job.id,
            "start": lambda row: row.start,
            "status": lambda row: row.status,
        },
        "appointment_assignments": {
            "jobId": lambda row: row.appointment.job.id,
            "appointmentId": lambda row: row.appointment.id,
            "technicianId": lambda row: row.technician_id,
        },
        "locations": {"customerId": lambda row: row.customer.id},
        "memberships": {"customerId": lambda row: row.customer.id},
    }
    sources: dict[str, Source] = {}
    for name, feed in FEEDS.items():
        log = logs[name]
        if name in modeled:
            export, list_, item = modeled[name]
            sources[name] = Source(
                feed,
                log,
                export if feed.export else None,
                list_ if feed.list_path else None,
                item if feed.by_id_path else None,
                fields.get(name, {}),
            )
        elif name in shaped:
            export = _filled(name, seed, tenant, shaped[name])
            sources[name] = Source(
                feed,
                log,
                export,
                _projected(name, "list", export),
                _projected(name, "item", export),
                fields.get(name, {}),
            )
        else:
            sources[name] = _generated(name, seed, tenant, log)
    return sources
