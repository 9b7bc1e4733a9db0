"""Freshness of data products, measured where the data lives.

A table is measured in the database (now against its newest row) and in the
run ledger (now against its owner's last successful run); a derived column by
its owner's ledger; a file by its mtime — and every result says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql

from nexus.registry.model import ProductLike
from nexus.registry.vitals import LedgerEntry
from nexus.store.connection import Connection


@dataclass(frozen=True)
class Freshness:
    product: str
    measured_by: str  # db | run_ledger | file_mtime
    age_s: int | None  # None: nothing to measure (empty table, missing file, never ran)
    max_age_s: int
    fresh: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "measured_by": self.measured_by,
            "age_s": self.age_s,
            "max_age_s": self.max_age_s,
            "fresh": self.fresh,
            "detail": self.detail,
        }


def _age(now: datetime, then: datetime | None) -> int | None:
    return None if then is None else max(0, int((now - then).total_seconds()))


def newest_row(conn: Connection, table: str, tenant: int) -> datetime | None:
    schema, _, name = table.partition(".")
    row = conn.execute(
        sql.SQL("SELECT max(updated_at) FROM {} WHERE tenant_id = %s").format(
            sql.Identifier(schema, name)
        ),
        (tenant,),
    ).fetchone()
    return None if row is None else row[0]


def product_freshness(
    conn: Connection,
    product: ProductLike,
    tenant: int,
    now: datetime,
    owner_entry: LedgerEntry | None,
    owner: str,
    file_path: Path | None = None,
) -> list[Freshness]:
    """How fresh `product` is; a file product is read at `file_path` (resolved by the caller)."""
    limit = int(product.max_age.total_seconds())
    if product.kind == "file":
        return [_file_freshness(product.name, file_path or product.path, now, limit)]
    results = []
    if product.kind == "table":
        newest = newest_row(conn, product.name, tenant)
        age = _age(now, newest)
        results.append(
            Freshness(
                product.name,
                "db",
                age,
                limit,
                age is not None and age <= limit,
                "newest row written by Nexus (max updated_at)"
                if newest
                else "the table holds no rows for this tenant",
            )
        )
    last = owner_entry.last_success if owner_entry else None
    age = _age(now, last)
    results.append(
        Freshness(
            product.name,
            "run_ledger",
            age,
            limit,
            age is not None and age <= limit,
            f"last successful run of {owner}" if last else f"{owner} has never succeeded",
        )
    )
    return results


def _file_freshness(name: str, path: Path | None, now: datetime, limit: int) -> Freshness:
    if path is None or not path.exists():
        return Freshness(
            name, "file_mtime", None, limit, False, f"file mtime: {path} does not exist"
        )
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    age = _age(now, mtime)
    assert age is not None
    return Freshness(name, "file_mtime", age, limit, age <= limit, f"file mtime of {path}")


def is_fresh(results: list[Freshness]) -> bool | None:
    """A product is fresh if any honest measure says so; None when nothing was measured."""
    if not results:
        return None
    return any(r.fresh for r in results)


def max_age(results: list[Freshness]) -> timedelta | None:
    ages = [r.age_s for r in results if r.age_s is not None]
    return timedelta(seconds=min(ages)) if ages else None
