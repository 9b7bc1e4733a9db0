"""Compare the mirror with the simulated ServiceTitan's truth, feed by feed, field by field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nexus.catalog import FEEDS
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.store.rows import TABLES
from stsim import TENANT

#: The feeds of the first release, which most tests mirror.
FIRST_FEEDS = ("jobs", "invoices", "customers", "estimates", "job_types")

Key = int | tuple[int, ...]


def _key(values: tuple[Any, ...]) -> Key:
    return values[0] if len(values) == 1 else tuple(values)


def mirror(db: Database, feed: str, tenant: int = TENANT) -> dict[Key, dict[str, Any]]:
    """The raw records of one feed's table, by key."""
    spec = TABLES[feed]
    keys = ", ".join(spec.key)
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT {keys}, raw FROM {spec.table} WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    width = len(spec.key)
    return {_key(tuple(r[:width])): r[width] for r in rows}


def typed(db: Database, feed: str, tenant: int = TENANT) -> dict[Key, tuple[Any, ...]]:
    """The typed columns of one feed's table, by key, in the catalog's column order."""
    spec = TABLES[feed]
    columns = ", ".join(f'"{n}"' for n in spec.names)
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT {columns} FROM {spec.table} WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    index = spec.key_index
    return {_key(tuple(r[i] for i in index)): tuple(r) for r in rows}


def truth(sim: Simulator, feed: str, tenant: int = TENANT) -> dict[Key, dict[str, Any]]:
    """Every record of the feed as ServiceTitan's export returns it, by key."""
    found: dict[Any, dict[str, Any]] = sim.tenant(tenant).truth(feed)
    return {(k if not isinstance(k, list) else tuple(k)): v for k, v in found.items()}


def invoice_totals(db: Database, tenant: int = TENANT) -> dict[int, Decimal]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, invoice_total FROM titan.jobs WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    return {r[0]: r[1] for r in rows}


@dataclass(frozen=True)
class FeedDifference:
    """How one feed's table differs from ServiceTitan's truth, by key."""

    feed: str
    missing: list[Key]
    extra: list[Key]
    different: list[Key]  # the raw record differs
    mistyped: list[Key]  # the typed columns differ from the record's flattening

    @property
    def count(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.different) + len(self.mistyped)

    def __str__(self) -> str:
        return (
            f"{self.feed}: {len(self.missing)} missing (e.g. {self.missing[:3]}), "
            f"{len(self.extra)} extra (e.g. {self.extra[:3]}), "
            f"{len(self.different)} records differ (e.g. {self.different[:3]}), "
            f"{len(self.mistyped)} typed columns differ from the records "
            f"(e.g. {self.mistyped[:3]})"
        )


def feed_difference(
    db: Database, sim: Simulator, feed: str, tenant: int = TENANT
) -> FeedDifference:
    expected = truth(sim, feed, tenant)
    got = mirror(db, feed, tenant)
    columns = typed(db, feed, tenant)
    flatten = TABLES[feed].flatten
    both = [k for k in expected if k in got]
    return FeedDifference(
        feed,
        missing=[k for k in expected if k not in got],
        extra=[k for k in got if k not in expected],
        different=[k for k in both if got[k] != expected[k]],
        mistyped=[k for k in both if got[k] == expected[k] and columns[k] != flatten(expected[k])],
    )


def derived_differences(db: Database, sim: Simulator, tenant: int = TENANT) -> dict[str, list[int]]:
    """The jobs whose derived columns differ from the truth, by column."""
    truth_of = sim.tenant(tenant)
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, invoice_total, scheduled_at FROM titan.jobs WHERE tenant_id = %s",
            (tenant,),
        ).fetchall()
    wrong = {"invoice_total": [r[0] for r in rows if r[1] != truth_of.job_invoice_total(r[0])]}
    if "appointments" in mirrored(db, tenant):
        wrong["scheduled_at"] = [r[0] for r in rows if r[2] != truth_of.job_scheduled_at(r[0])]
    return wrong


def assert_feed_equals_truth(db: Database, sim: Simulator, feed: str, tenant: int = TENANT) -> None:
    """Same keys, same raw records, and typed columns equal to the record's flattening."""
    difference = feed_difference(db, sim, feed, tenant)
    assert not difference.count, f"tenant {tenant}: {difference}"


def assert_derived_equal_truth(db: Database, sim: Simulator, tenant: int = TENANT) -> None:
    for column, jobs in derived_differences(db, sim, tenant).items():
        assert not jobs, f"tenant {tenant}: {column} differs from the truth for jobs {jobs[:5]}"


def mirrored(db: Database, tenant: int = TENANT) -> set[str]:
    """The feeds the mirror holds rows of."""
    with db.connect() as conn:
        return {
            r[0]
            for r in conn.execute("SELECT feed FROM nexus.feeds WHERE tenant_id = %s", (tenant,))
        }


def assert_mirror_equals_truth(
    db: Database, sim: Simulator, feeds: Iterable[str] = FIRST_FEEDS, tenant: int = TENANT
) -> None:
    for feed in feeds:
        assert feed in FEEDS
        assert_feed_equals_truth(db, sim, feed, tenant)
    assert_derived_equal_truth(db, sim, tenant)
