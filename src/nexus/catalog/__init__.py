"""Every ServiceTitan feed, declared once and derived from ServiceTitan's own documents.

`FEEDS` holds the declarations (`feeds.py`); each `Feed` derives its table,
typed columns, endpoints and joins from its OpenAPI document (`feed.py`,
`columns.py`), and `parse.py` builds the function that flattens its records.
"""

from __future__ import annotations

from collections.abc import Iterable

from nexus.catalog.feed import Feed
from nexus.catalog.feeds import FEEDS, PRODUCER_OF_DOC

#: What a home-service business's dashboards need, and what `[mirror] feeds` defaults to:
#: the work (jobs, their appointments and who is assigned, projects, job types), the money
#: (invoices, what was sold on them, what was collected, and how), the customers and the
#: places the work happens, estimates, the technicians and business units the work is
#: booked under, and memberships with their types.
_DEFAULT = {
    "jobs",
    "appointments",
    "job_types",
    "projects",
    "invoices",
    "invoice_items",
    "payments",
    "payment_types",
    "customers",
    "locations",
    "estimates",
    "appointment_assignments",
    "technicians",
    "business_units",
    "memberships",
    "membership_types",
}
DEFAULT_FEEDS: tuple[str, ...] = tuple(name for name in FEEDS if name in _DEFAULT)

__all__ = ["DEFAULT_FEEDS", "FEEDS", "PRODUCER_OF_DOC", "Feed", "feed_named", "feeds_of"]


def feed_named(name: str) -> Feed:
    """The feed called `name`, or a ValueError that lists the known ones."""
    try:
        return FEEDS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(FEEDS), 1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ValueError(
            f"unknown feed '{name}': {hint}known feeds are {', '.join(sorted(FEEDS))}"
        ) from None


def feeds_of(producer: str, enabled: Iterable[str] | None = None) -> tuple[Feed, ...]:
    """The feeds `producer` syncs, in declaration order (only the `enabled` ones, if given)."""
    wanted = None if enabled is None else set(enabled)
    return tuple(
        feed
        for feed in FEEDS.values()
        if feed.producer == producer and (wanted is None or feed.name in wanted)
    )
