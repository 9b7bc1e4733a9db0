"""The data behind each page: one function per page, returning plain JSON-able dicts.

The HTML page and its `.json` twin are both made from the function's result,
so what a person reads and what a monitor reads cannot drift apart. The
proof page uses `nexus.proof.service.current_proof` and the producers list
`nexus.registry.producers.producers_report` — the very functions behind
`nexus proof --json` and `nexus producers list --json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python

from nexus.checks.coverage import invoice_coverage
from nexus.checks.freshness import is_fresh, product_freshness
from nexus.registry.config import Config
from nexus.registry.ownership import ownership
from nexus.registry.producers import producers_report
from nexus.registry.timeline import events
from nexus.registry.vitals import ledger, orphans, vitals
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.sync.refresh import PRODUCER as WEBHOOK_PRODUCER
from nexus.sync.source_check import SourceCheck, source_checks

RECENT_RUNS = 100
RECENT_FAILURES = 50
HISTORY = timedelta(days=7)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


# -- producers ----------------------------------------------------------------------------


def producers_list(db: Database, config: Config, tenant: int, now: datetime) -> dict[str, Any]:
    """`nexus producers list --json`, exactly."""
    return producers_report(db, config, tenant, now)


def producer_detail(
    db: Database, config: Config, tenant: int, name: str, now: datetime
) -> dict[str, Any] | None:
    """One producer: schedule, vitals, owned products, runs with errors, its events.

    None when the name is neither declared nor ever ran for this tenant.
    """
    report = producers_report(db, config, tenant, now)
    row = next((p for p in report["producers"] if p["producer"] == name), None)
    with db.connect(autocommit=True) as conn:
        runs = _runs(conn, tenant, name, now)
        totals = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'failed'),"
            " count(*) FILTER (WHERE status = 'succeeded'), coalesce(sum(rows_read), 0),"
            " coalesce(sum(rows_changed), 0), min(started_at)"
            " FROM nexus.runs WHERE tenant_id = %s AND producer = %s AND started_at <= %s",
            (tenant, name, now),
        ).fetchone()
        history = [e.as_dict() for e in events(conn, tenant=tenant, producer=name, until=now)]
        retired = conn.execute(
            "SELECT since, reason, forced, event_id FROM nexus.retired_producers"
            " WHERE producer = %s",
            (name,),
        ).fetchone()
    assert totals is not None
    declared = config.producers.get(name)
    if row is None and not runs and not history:
        return None
    schedule = declared.model_dump(mode="json", exclude_none=True) if declared else None
    return {
        "tenant": tenant,
        "as_of": now.isoformat(),
        "producer": name,
        "declared": declared is not None,
        "description": _describe(name, declared.description if declared else None),
        "schedule": schedule,
        "status": row["status"] if row else ("undeclared" if runs else "never_ran"),
        "last_success": row["last_success"] if row else _last_success(runs),
        "error": row["error"] if row else None,
        "products": row["products"] if row else [],
        "orphans": [o for o in report["orphans"] if o["last_producer"] == name],
        "retired": None
        if retired is None
        else {
            "since": _iso(retired[0]),
            "reason": retired[1],
            "forced": retired[2],
            "event_id": retired[3],
        },
        "run_counts": {
            "runs": totals[0],
            "failed": totals[1],
            "succeeded": totals[2],
            "rows_read": int(totals[3]),
            "rows_changed": int(totals[4]),
            "first_run": _iso(totals[5]),
        },
        "runs": runs,
        "events": history,
    }


def _describe(name: str, described: str | None) -> str | None:
    if described:
        return described
    if name == WEBHOOK_PRODUCER:
        return "Targeted refreshes of the ids named by ServiceTitan webhooks."
    return None


def _last_success(runs: list[dict[str, Any]]) -> str | None:
    return next((r["finished_at"] for r in runs if r["status"] == "succeeded"), None)


def _runs(conn: Connection, tenant: int, producer: str, now: datetime) -> list[dict[str, Any]]:
    """The latest runs, plus the latest failures even when older: evidence links land on them."""
    columns = (
        "id, started_at, finished_at, status, rows_read, rows_changed, error, error_kind"
        " FROM nexus.runs WHERE tenant_id = %(tenant)s AND producer = %(producer)s"
        " AND started_at <= %(now)s"
    )
    rows = conn.execute(
        f"(SELECT {columns} ORDER BY started_at DESC, id DESC LIMIT %(recent)s)"
        f" UNION (SELECT {columns} AND status = 'failed'"
        " ORDER BY started_at DESC, id DESC LIMIT %(failures)s)"
        " ORDER BY started_at DESC, id DESC",
        {
            "tenant": tenant,
            "producer": producer,
            "now": now,
            "recent": RECENT_RUNS,
            "failures": RECENT_FAILURES,
        },
    ).fetchall()
    return [
        {
            "id": r[0],
            "started_at": _iso(r[1]),
            "finished_at": _iso(r[2]),
            "duration_s": None if r[2] is None else round((r[2] - r[1]).total_seconds(), 3),
            "status": r[3],
            "rows_read": r[4],
            "rows_changed": r[5],
            "error": r[6],
            "error_kind": r[7],
        }
        for r in rows
    ]


# -- products -------------------------------------------------------------------------------


def _measure(
    conn: Any,
    config: Config,
    product: Any,
    tenant: int,
    now: datetime,
    owner: str | None,
    retired: bool,
    entries: dict[str, Any],
    sources: Mapping[str, SourceCheck],
) -> list[Any]:
    """A product's freshness measures now; none for a retired or ownerless product."""
    if retired or owner is None:
        return []
    path = config.resolve_path(product.path) if product.path else None
    return product_freshness(conn, product, tenant, now, entries.get(owner), owner, path, sources)


def products_list(db: Database, config: Config, tenant: int, now: datetime) -> dict[str, Any]:
    """Every declared product with its owner, freshness and orphan state."""
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        state = ownership(conn, config)
        entries = ledger(conn, tenant, now)
        orphan_of = {o.product: o for o in orphans(conn, config, tenant, now, state, entries)}
        sources = source_checks(conn, tenant, now)
        rows = []
        for product in config.products:
            retired = product.name in state.retired_products
            owner = state.owners.get(product.name)
            measured = _measure(
                conn, config, product, tenant, now, owner, retired, entries, sources
            )
            orphan = orphan_of.get(product.name)
            rows.append(
                {
                    "product": product.name,
                    "kind": product.kind,
                    "owner": owner,
                    "declared_owner": product.owner,
                    "retired": retired,
                    "max_age_s": int(product.max_age.total_seconds()),
                    "fresh": is_fresh(measured) if measured else None,
                    "freshness": [to_jsonable_python(f) for f in measured],
                    "orphaned": None if orphan is None else to_jsonable_python(orphan),
                }
            )
    return {"tenant": tenant, "as_of": now.isoformat(), "products": rows}


def product_detail(
    db: Database, config: Config, tenant: int, name: str, now: datetime
) -> dict[str, Any] | None:
    """One product: owner, freshness now and over the last week, the checks watching it."""
    product = config.product(name)
    if product is None:
        return None
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        state = ownership(conn, config)
        entries = ledger(conn, tenant, now)
        retired = name in state.retired_products
        owner = state.owners.get(name)
        sources = source_checks(conn, tenant, now)
        measured = _measure(conn, config, product, tenant, now, owner, retired, entries, sources)
        orphan = next(
            (o for o in orphans(conn, config, tenant, now, state, entries) if o.product == name),
            None,
        )
        owner_vital = next(
            (v for v in vitals(conn, config, tenant, now, state, entries) if v.producer == owner),
            None,
        )
        start = now - HISTORY
        successes = _successes(conn, tenant, owner or product.owner, start, now)
        history = _product_events(conn, tenant, name, {product.owner, owner or product.owner}, now)
        checks = _checks_watching(conn, config, tenant, name, now, product.max_age)
    limit = int(product.max_age.total_seconds())
    gaps = [
        {"from": _iso(a), "to": _iso(b), "seconds": int((b - a).total_seconds())}
        for a, b in zip(successes, [*successes[1:], now], strict=True)
        if (b - a).total_seconds() > limit
    ]
    return {
        "tenant": tenant,
        "as_of": now.isoformat(),
        "product": name,
        "kind": product.kind,
        "description": product.description,
        "path": None if product.path is None else str(product.path),
        "owner": owner,
        "declared_owner": product.owner,
        "owner_status": owner_vital.status if owner_vital else None,
        "retired": retired,
        "max_age_s": limit,
        "fresh": is_fresh(measured) if measured else None,
        "freshness": [to_jsonable_python(f) for f in measured],
        "orphaned": None if orphan is None else to_jsonable_python(orphan),
        "history": {
            "measured_by": "run_ledger",
            "from": start.isoformat(),
            "to": now.isoformat(),
            "successes": [s.isoformat() for s in successes],
            "stale_gaps": gaps,
        },
        "checks": checks,
        "events": history,
    }


def _successes(
    conn: Connection, tenant: int, producer: str, start: datetime, now: datetime
) -> list[datetime]:
    """Successful finishes of `producer` in the window, and the last one before it."""
    rows = conn.execute(
        "(SELECT finished_at FROM nexus.runs WHERE tenant_id = %(t)s AND producer = %(p)s"
        " AND status = 'succeeded' AND finished_at <= %(start)s"
        " ORDER BY finished_at DESC LIMIT 1)"
        " UNION ALL (SELECT finished_at FROM nexus.runs WHERE tenant_id = %(t)s"
        " AND producer = %(p)s AND status = 'succeeded' AND finished_at > %(start)s"
        " AND finished_at <= %(now)s AND started_at <= %(now)s)"
        " ORDER BY finished_at",
        {"t": tenant, "p": producer, "start": start, "now": now},
    ).fetchall()
    return [r[0] for r in rows]


def _product_events(
    conn: Connection, tenant: int, product: str, producers: set[str], now: datetime
) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id FROM nexus.events WHERE (tenant_id IS NULL OR tenant_id = %s) AND at <= %s"
        " AND (product = %s OR (product IS NULL AND producer = ANY(%s)))"
        " ORDER BY at DESC, id DESC LIMIT 100",
        (tenant, now, product, sorted(producers)),
    ).fetchall()
    wanted = {r[0] for r in rows}
    if not wanted:
        return []
    return [
        e.as_dict() for e in events(conn, tenant=tenant, until=now, limit=1000) if e.id in wanted
    ]


def _checks_watching(
    conn: Connection, config: Config, tenant: int, name: str, now: datetime, max_age: timedelta
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [
        {
            "check": "freshness",
            "watches": "how far the mirror is behind ServiceTitan's newest change (tables), "
            "and the age of the owner's last successful run",
            "threshold": int(max_age.total_seconds()),
            "unit": "seconds",
        }
    ]
    coverage = config.checks.invoice_coverage
    if coverage.product == name:
        result = invoice_coverage(conn, tenant, now, coverage)
        gap = result.gap
        checks.append(
            {
                "check": "invoice_coverage",
                "watches": "completed chargeable jobs without an invoice total",
                "threshold": coverage.threshold,
                "min_n": coverage.min_n,
                "n": gap.n,
                "k": gap.k,
                "rate": round(gap.rate, 4),
                "ci_low": round(gap.ci_low, 4),
                "ci_high": round(gap.ci_high, 4),
                "severity": result.severity.value,
                "excluded_recent": result.excluded_recent,
            }
        )
    if name == coverage.product:
        checks.append(
            {
                "check": "revenue_capture",
                "watches": "weekly mirror revenue against the reference revenue",
                "threshold": config.checks.revenue.min_capture,
            }
        )
    if name == "titan.jobs":
        checks.append(
            {
                "check": "volume",
                "watches": "jobs completed per day against the trailing baseline",
                "threshold": config.checks.volume.drop_ratio,
            }
        )
        checks.append(
            {
                "check": "revenue_spike",
                "watches": "a week far above the recent median, or rows sharing one created time",
                "threshold": config.checks.revenue.spike_ratio,
            }
        )
    return checks


# -- timeline and webhooks ----------------------------------------------------------------------


def timeline(
    db: Database, tenant: int, now: datetime, producer: str | None = None, kind: str | None = None
) -> dict[str, Any]:
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        found = events(conn, tenant=tenant, producer=producer or None, until=now, limit=500)
        kinds = [r[0] for r in conn.execute("SELECT DISTINCT kind FROM nexus.events ORDER BY 1")]
        producers = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT producer FROM nexus.events WHERE producer IS NOT NULL ORDER BY 1"
            )
        ]
    listed = [e.as_dict() for e in found if not kind or e.kind == kind]
    return {
        "tenant": tenant,
        "as_of": now.isoformat(),
        "filter": {"producer": producer or None, "kind": kind or None},
        "kinds": kinds,
        "producers": producers,
        "events": listed,
    }


def webhook_hints(db: Database, tenant: int, now: datetime, limit: int = 200) -> dict[str, Any]:
    """The latest accepted webhooks, what each asked for and whether its refresh landed."""
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, received_at, delivery_id, event_type, targets, status, refreshed_at,"
            " run_id, rows_changed, error FROM nexus.webhook_hints"
            " WHERE tenant_id = %s AND received_at <= %s"
            " ORDER BY received_at DESC, id DESC LIMIT %s",
            (tenant, now, limit),
        ).fetchall()
        counts = dict(
            conn.execute(
                "SELECT status, count(*) FROM nexus.webhook_hints WHERE tenant_id = %s"
                " GROUP BY status",
                (tenant,),
            ).fetchall()
        )
        latency = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY s), count(*) FROM ("
            " SELECT extract(epoch FROM refreshed_at - received_at) AS s"
            " FROM nexus.webhook_hints WHERE tenant_id = %s AND status = 'refreshed'"
            " ORDER BY received_at DESC LIMIT 1000) x",
            (tenant,),
        ).fetchone()
    assert latency is not None
    return {
        "tenant": tenant,
        "as_of": now.isoformat(),
        "counts": {s: int(counts.get(s, 0)) for s in ("pending", "refreshed", "ignored", "failed")},
        "latency_s": {
            "p50": None if latency[0] is None else round(float(latency[0]), 3),
            "p99": None if latency[1] is None else round(float(latency[1]), 3),
            "of": int(latency[2]),
        },
        "hints": [
            {
                "id": r[0],
                "received_at": _iso(r[1]),
                "delivery_id": r[2],
                "event_type": r[3],
                "targets": r[4],
                "status": r[5],
                "refreshed_at": _iso(r[6]),
                "run_id": r[7],
                "rows_changed": r[8],
                "error": r[9],
            }
            for r in rows
        ],
    }
