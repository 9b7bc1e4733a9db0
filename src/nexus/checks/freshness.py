"""Freshness of data products: is the mirror behind its source, and since when did we know?

A mirrored table is judged by how far its newest change is behind
ServiceTitan's newest, as of the last check a sync made (`source`), and by
how long ago its owner last succeeded (`run_ledger`). A quiet table that holds
ServiceTitan's newest change is fresh however old its rows are: the wall-clock
age of its newest row is shown (`db`), as information, never as staleness. A
derived column is judged by its owner's ledger, a file by its mtime — and
every result says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from psycopg import sql

from nexus import times
from nexus.catalog import FEEDS
from nexus.checks.alert import Alert, Cause, DbFresh, Measurement, questions
from nexus.checks.inputs import CheckInputs, CheckResult
from nexus.registry.model import ProductLike
from nexus.registry.vitals import LedgerEntry
from nexus.store.connection import Connection
from nexus.sync.source_check import SourceCheck

MeasuredBy = Literal["source", "run_ledger", "db", "file_mtime"]
#: A product more than this many times its limit behind is critical, not a warning.
STALE_CRITICAL_FACTOR = 4
#: Causes no run will heal: a product behind for one of them is critical at once. A
#: failing producer may recover on its next run; a retired one never runs again.
NEVER_HEALS: frozenset[str] = frozenset({"producer_retired"})


@dataclass(frozen=True)
class Freshness:
    product: str
    measured_by: MeasuredBy
    #: seconds: the lag behind the source (`source`), else the age; None when nothing
    #: could be measured (empty table, missing file, never ran, never checked)
    age_s: int | None
    max_age_s: int
    fresh: bool
    detail: str
    #: whether it counts towards the product's freshness, or is shown for information
    judged: bool = True


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


def newest_rows(conn: Connection, tables: Sequence[str], tenant: int) -> dict[str, datetime | None]:
    """`newest_row` of each of `tables`, in one statement (a proof asks it of every table)."""
    if not tables:
        return {}
    parts = [
        sql.SQL("SELECT {}, max(updated_at) FROM {} WHERE tenant_id = %(tenant)s").format(
            sql.Literal(table), sql.Identifier(*table.split(".", 1))
        )
        for table in tables
    ]
    rows = conn.execute(sql.SQL(" UNION ALL ").join(parts), {"tenant": tenant}).fetchall()
    return {name: newest for name, newest in rows}


def product_freshness(
    conn: Connection,
    product: ProductLike,
    tenant: int,
    now: datetime,
    owner_entry: LedgerEntry | None,
    owner: str,
    file_path: Path | None = None,
    sources: Mapping[str, SourceCheck] | None = None,
    newest: Mapping[str, datetime | None] | None = None,
    *,
    zone: ZoneInfo,
) -> list[Freshness]:
    """How fresh `product` is; a file product is read at `file_path` (resolved by the caller).

    `sources` are the recorded source checks by feed name (`nexus.sync.source_check`);
    `newest` the tables' newest rows when the caller read them at once (`newest_rows`);
    `zone` the tenant's, in which the details read their moments.
    """
    limit = int(product.max_age.total_seconds())
    if product.kind == "file":
        return [_file_freshness(product.name, file_path or product.path, now, limit)]
    results = []
    feed = FEED_OF_TABLE.get(product.name) if product.kind == "table" else None
    if feed is not None and feed.newest_first is not None:
        source = (sources or {}).get(feed.name)
        results.append(_source_freshness(product.name, source, limit, zone))
    last = owner_entry.last_success if owner_entry else None
    age = _age(now, last)
    results.append(
        Freshness(
            product.name,
            "run_ledger",
            age,
            limit,
            age is not None and age <= limit,
            f"last successful run of {owner}, which reads everything ServiceTitan changed "
            "since the one before"
            if last
            else f"{owner} has never succeeded",
        )
    )
    if product.kind == "table":
        newest_at = (
            newest[product.name]
            if newest is not None and product.name in newest
            else newest_row(conn, product.name, tenant)
        )
        age = _age(now, newest_at)
        results.append(
            Freshness(
                product.name,
                "db",
                age,
                limit,
                age is not None,
                "newest row written by Nexus (max updated_at): information only, a quiet "
                "table is not stale"
                if newest
                else "the table holds no rows for this tenant",
                judged=False,
            )
        )
    return results


#: the feed mirrored into each table
FEED_OF_TABLE = {feed.table: feed for feed in FEEDS.values()}


def _source_freshness(
    product: str, check: SourceCheck | None, limit: int, zone: ZoneInfo
) -> Freshness:
    """How far the mirror was behind ServiceTitan's newest change, as of the last check."""
    if check is None:
        return Freshness(
            product, "source", None, limit, False, "ServiceTitan has not been asked yet"
        )
    when = f"{times.local(check.checked_at, zone)} (run {check.run_id})"
    if check.lag_s is None:
        detail = f"the mirror held none of ServiceTitan's records when asked on {when}"
    elif check.source_newest is None:
        detail = f"ServiceTitan held no record when asked on {when}"
    elif check.lag_s == 0:
        detail = (
            "the mirror held ServiceTitan's newest change "
            f"({times.local(check.source_newest, zone)}) when asked on {when}"
        )
    else:
        detail = (
            f"the mirror's newest change was {duration_text(check.lag_s)} behind "
            f"ServiceTitan's ({times.local(check.source_newest, zone)}) when asked on {when}"
        )
    fresh = check.lag_s is not None and check.lag_s <= limit
    return Freshness(product, "source", check.lag_s, limit, fresh, detail)


def _file_freshness(name: str, path: Path | None, now: datetime, limit: int) -> Freshness:
    if path is None or not path.exists():
        return Freshness(
            name, "file_mtime", None, limit, False, f"file mtime: {path} does not exist"
        )
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    age = _age(now, mtime)
    assert age is not None
    return Freshness(name, "file_mtime", age, limit, age <= limit, f"file mtime of {path}")


def is_fresh(results: list[Freshness]) -> bool:
    """A product is fresh when every measure that judges it says so."""
    judged = [r for r in results if r.judged]
    return bool(judged) and all(r.fresh for r in judged)


def by_product(freshness: tuple[Freshness, ...] | list[Freshness]) -> dict[str, list[Freshness]]:
    found: dict[str, list[Freshness]] = {}
    for f in freshness:
        found.setdefault(f.product, []).append(f)
    return found


def database_fresh(freshness: tuple[Freshness, ...] | list[Freshness]) -> DbFresh:
    """Is the database itself stale? Per mirrored table: is it behind ServiceTitan?"""
    tables = {
        name: results
        for name, results in by_product(freshness).items()
        if name.count(".") == 1 and results[0].measured_by != "file_mtime"
    }
    if not tables:
        return DbFresh(fresh=False, evidence="no mirrored table is declared")
    stale = [name for name, results in tables.items() if not is_fresh(results)]
    if not stale:
        oldest = max(
            (r for results in tables.values() for r in results if r.judged),
            key=lambda r: -1 if r.age_s is None else r.age_s,
        )
        return DbFresh(
            fresh=True,
            evidence=f"every one of the {len(tables)} mirrored tables has caught up lately "
            f"(the longest wait: {oldest.product}, {_MEASURE[oldest.measured_by]} "
            f"{_age_text(oldest)})",
        )
    parts = [
        f"{name}: "
        + ", ".join(f"{_MEASURE[r.measured_by]} {_age_text(r)}" for r in tables[name] if r.judged)
        for name in stale[:3]
    ] + ([f"and {len(stale) - 3} more"] if len(stale) > 3 else [])
    return DbFresh(
        fresh=False,
        evidence=f"{len(stale)} of the {len(tables)} mirrored tables are behind "
        f"({'; '.join(parts)})",
    )


_MEASURE = {
    "source": "behind ServiceTitan by",
    "run_ledger": "last sync",
    "db": "newest row",
    "file_mtime": "file written",
}


def _age_text(f: Freshness) -> str:
    if f.age_s is None:
        return "never"
    ago = "" if f.measured_by == "source" else " ago"
    return duration_text(f.age_s) + ago


def duration_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def check(inputs: CheckInputs) -> CheckResult:
    """An alert per product a judging measure finds behind its limit."""
    alerts = []
    for product, results in by_product(inputs.freshness).items():
        judged = [r for r in results if r.judged]
        if is_fresh(results) or not judged:
            continue
        worst = max(
            (r for r in judged if not r.fresh), key=lambda r: -1 if r.age_s is None else r.age_s
        )
        if worst.age_s is None and worst.measured_by != "file_mtime":
            continue  # never measured: the producer's vitals say never_ran
        too_old = worst.age_s is None or worst.age_s > STALE_CRITICAL_FACTOR * worst.max_age_s
        cause = inputs.cause(product)
        critical = too_old or cause.kind in NEVER_HEALS
        alerts.append(
            _alert(product, worst, "critical" if critical else "warning", cause, inputs.db_fresh)
        )
    return CheckResult(alerts=tuple(alerts))


def _alert(
    product: str,
    worst: Freshness,
    severity: Literal["critical", "warning"],
    cause: Cause,
    db_fresh: DbFresh,
) -> Alert:
    return Alert(
        check="freshness",
        severity=severity,
        status=severity,
        label=f"{product} freshness ({worst.measured_by.replace('_', ' ')})",
        product=product,
        measurement=Measurement(
            counts=worst.detail,
            age_s=worst.age_s,
            max_age_s=worst.max_age_s,
            measured_by=worst.measured_by,
        ),
        threshold=float(worst.max_age_s),
        probable_cause=cause,
        questions=questions(db_fresh, None, "not a sampled rate", cause),
    )
