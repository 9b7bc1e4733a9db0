"""Compare the mirror with the simulated ServiceTitan's truth, feed by feed, field by field."""

from __future__ import annotations

from collections.abc import Iterable
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


def mirror(db: Database, feed: str) -> dict[Key, dict[str, Any]]:
    """The raw records of one feed's table, by key."""
    spec = TABLES[feed]
    keys = ", ".join(spec.key)
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT {keys}, raw FROM {spec.table} WHERE tenant_id = %s", (TENANT,)
        ).fetchall()
    width = len(spec.key)
    return {_key(tuple(r[:width])): r[width] for r in rows}


def typed(db: Database, feed: str) -> dict[Key, tuple[Any, ...]]:
    """The typed columns of one feed's table, by key, in the catalog's column order."""
    spec = TABLES[feed]
    columns = ", ".join(f'"{n}"' for n in spec.names)
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT {columns} FROM {spec.table} WHERE tenant_id = %s", (TENANT,)
        ).fetchall()
    index = spec.key_index
    return {_key(tuple(r[i] for i in index)): tuple(r) for r in rows}


def truth(sim: Simulator, feed: str) -> dict[Key, dict[str, Any]]:
    """Every record of the feed as ServiceTitan's export returns it, by key."""
    found: dict[Any, dict[str, Any]] = sim.tenant(TENANT).truth(feed)
    return {(k if not isinstance(k, list) else tuple(k)): v for k, v in found.items()}


def invoice_totals(db: Database) -> dict[int, Decimal]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, invoice_total FROM titan.jobs WHERE tenant_id = %s", (TENANT,)
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def assert_feed_equals_truth(db: Database, sim: Simulator, feed: str) -> None:
    """Same keys, same raw records, and typed columns equal to the record's flattening."""
    expected = truth(sim, feed)
    got = mirror(db, feed)
    assert got.keys() == expected.keys(), (
        f"{feed}: keys differ: {len(set(expected) - set(got))} missing, "
        f"{len(set(got) - set(expected))} extra"
    )
    different = [k for k in expected if got[k] != expected[k]]
    assert not different, f"{feed}: {len(different)} records differ, e.g. {different[:3]}"
    columns = typed(db, feed)
    flatten = TABLES[feed].flatten
    wrong = [k for k, record in expected.items() if columns[k] != flatten(record)]
    assert not wrong, f"{feed}: typed columns differ from the records for {wrong[:3]}"


def assert_derived_equal_truth(db: Database, sim: Simulator) -> None:
    tenant = sim.tenant(TENANT)
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, invoice_total, scheduled_at FROM titan.jobs WHERE tenant_id = %s",
            (TENANT,),
        ).fetchall()
    wrong_total = [r[0] for r in rows if r[1] != tenant.job_invoice_total(r[0])]
    assert not wrong_total, f"invoice_total differs from the truth for jobs {wrong_total[:5]}"
    if "appointments" in mirrored(db):
        wrong_start = [r[0] for r in rows if r[2] != tenant.job_scheduled_at(r[0])]
        assert not wrong_start, f"scheduled_at differs from the truth for jobs {wrong_start[:5]}"


def mirrored(db: Database) -> set[str]:
    """The feeds the mirror holds rows of."""
    with db.connect() as conn:
        return {
            r[0]
            for r in conn.execute("SELECT feed FROM nexus.feeds WHERE tenant_id = %s", (TENANT,))
        }


def assert_mirror_equals_truth(
    db: Database, sim: Simulator, feeds: Iterable[str] = FIRST_FEEDS
) -> None:
    for feed in feeds:
        assert feed in FEEDS
        assert_feed_equals_truth(db, sim, feed)
    assert_derived_equal_truth(db, sim)
