"""Values Nexus derives from other feeds, declared once.

A derived column lives on one feed's table (`titan.jobs.invoice_total`) and
is computed from the rows of another feed that point at it (the job's active
invoices). The loader keeps it right in the same transaction as whichever of
the two feeds it loads, so no separate job exists that could be orphaned.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Derived:
    """`target.column` = `value` over the `source` rows whose `via` column is the target's id."""

    target: str
    column: str
    pg_type: str
    source: str
    via: str
    #: an aggregate over the source rows, which the SQL calls `src`
    value: str
    #: the column's DDL default and NOT NULL, when the value is never NULL
    default: str | None = None

    @property
    def product(self) -> str:
        return f"titan.{self.target}.{self.column}"


DERIVED = (
    Derived(
        "jobs",
        "invoice_total",
        "numeric(14, 2)",
        "invoices",
        "job_id",
        "coalesce(sum(src.total) FILTER (WHERE src.active), 0)",
        default="0",
    ),
    Derived(
        "jobs",
        "scheduled_at",
        "timestamptz",
        "appointments",
        "job_id",
        "min(src.start) FILTER (WHERE src.active)",
    ),
)


def derived_on(feed: str) -> tuple[Derived, ...]:
    """The derived columns that live on `feed`'s table."""
    return tuple(d for d in DERIVED if d.target == feed)


def derived_from(feed: str) -> tuple[Derived, ...]:
    """The derived columns computed from `feed`'s rows."""
    return tuple(d for d in DERIVED if d.source == feed)


#: Feeds whose loads read each other's rows to derive a value: they take turns per tenant.
DERIVING_FEEDS = frozenset({d.target for d in DERIVED} | {d.source for d in DERIVED})
