"""The data behind each page: one view per page, shaping what the core answers.

Each view takes the page's `Asked` (tenant and moment) and its path or query
parameters, and returns what the `.json` twin serves and the HTML page renders
(see `nexus.web.pages`). The proof page uses `nexus.proof.service` and the
producers list `nexus.registry.producers.producers_report`, the very functions
behind `nexus proof --json` and `nexus producers list --json`. Every query is
the core's; nothing here speaks SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import to_jsonable_python

from nexus.checks.coverage import invoice_coverage
from nexus.checks.freshness import is_fresh, product_freshness
from nexus.proof.model import Proof
from nexus.proof.service import proof_as_of
from nexus.registry.config import Config
from nexus.registry.ownership import ownership, retirement_of
from nexus.registry.producers import producers_report
from nexus.registry.run_history import RunRecord, recent_runs, run_totals, successes
from nexus.registry.timeline import event_kinds, event_producers, events, product_events
from nexus.registry.vitals import ledger, orphans, vitals
from nexus.store.connection import Connection
from nexus.sync.hints import hint_counts, recent_hints, refresh_latency
from nexus.sync.refresh import PRODUCER as WEBHOOK_PRODUCER
from nexus.sync.source_check import SourceCheck, source_checks
from nexus.web.site import Asked, NotFound

#: How far back a product's page draws its freshness.
HISTORY = timedelta(days=7)
#: How many of the latest webhook deliveries the webhooks page lists.
HINTS_SHOWN = 200


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def proof(asked: Asked) -> Proof:
    """The Evolution Proof, as `nexus proof --json` gives it."""
    return proof_as_of(asked.db, asked.config, asked.tenant, asked.now)


# -- producers ----------------------------------------------------------------------------


def producers(asked: Asked) -> dict[str, Any]:
    """`nexus producers list --json`, exactly."""
    return producers_report(asked.db, asked.config, asked.tenant, asked.now)


def producer(asked: Asked, name: str) -> dict[str, Any]:
    """One producer: schedule, vitals, owned products, runs with errors, its events.

    Not found when the name is neither declared nor ever ran for this tenant.
    """
    db, config, tenant, now = asked.db, asked.config, asked.tenant, asked.now
    report = producers_report(db, config, tenant, now)
    row = next((p for p in report["producers"] if p["producer"] == name), None)
    with db.connect(autocommit=True) as conn:
        runs = [_run(r) for r in recent_runs(conn, tenant, name, now)]
        totals = run_totals(conn, tenant, name, now)
        history = [e.as_dict() for e in events(conn, tenant=tenant, producer=name, until=now)]
        retired = retirement_of(conn, name)
    declared = config.producers.get(name)
    if row is None and not runs and not history:
        known = ", ".join(config.producers) or "none"
        raise NotFound(f"no producer named '{name}' (declared: {known})")
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
            "since": _iso(retired.since),
            "reason": retired.reason,
            "forced": retired.forced,
            "event_id": retired.event_id,
        },
        "run_counts": {
            "runs": totals.runs,
            "failed": totals.failed,
            "succeeded": totals.succeeded,
            "rows_read": totals.rows_read,
            "rows_changed": totals.rows_changed,
            "first_run": _iso(totals.first_run),
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


def _run(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": run.duration_s,
        "status": run.status,
        "rows_read": run.rows_read,
        "rows_changed": run.rows_changed,
        "error": run.error,
        "error_kind": run.error_kind,
    }


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
    zone = ZoneInfo(config.tenant(tenant).timezone)
    return product_freshness(
        conn, product, tenant, now, entries.get(owner), owner, path, sources, zone=zone
    )


def products(asked: Asked) -> dict[str, Any]:
    """Every declared product with its owner, freshness and orphan state."""
    db, config, tenant, now = asked.db, asked.config, asked.tenant, asked.now
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        state = ownership(conn, config)
        entries = ledger(conn, tenant, now)
        orphan_of = {o.product: o for o in orphans(conn, config, tenant, now, state, entries)}
        sources = source_checks(conn, tenant, now)
        rows = []
        for declared in config.products:
            retired = declared.name in state.retired_products
            owner = state.owners.get(declared.name)
            measured = _measure(
                conn, config, declared, tenant, now, owner, retired, entries, sources
            )
            orphan = orphan_of.get(declared.name)
            rows.append(
                {
                    "product": declared.name,
                    "kind": declared.kind,
                    "owner": owner,
                    "declared_owner": declared.owner,
                    "retired": retired,
                    "max_age_s": int(declared.max_age.total_seconds()),
                    "fresh": is_fresh(measured) if measured else None,
                    "freshness": [to_jsonable_python(f) for f in measured],
                    "orphaned": None if orphan is None else to_jsonable_python(orphan),
                }
            )
    return {"tenant": tenant, "as_of": now.isoformat(), "products": rows}


def product(asked: Asked, name: str) -> dict[str, Any]:
    """One product: owner, freshness now and over the last week, the checks watching it."""
    db, config, tenant, now = asked.db, asked.config, asked.tenant, asked.now
    declared = config.product(name)
    if declared is None:
        known = ", ".join(p.name for p in config.products) or "none"
        raise NotFound(f"no product named '{name}' (declared: {known})")
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        state = ownership(conn, config)
        entries = ledger(conn, tenant, now)
        retired = name in state.retired_products
        owner = state.owners.get(name)
        sources = source_checks(conn, tenant, now)
        measured = _measure(conn, config, declared, tenant, now, owner, retired, entries, sources)
        orphan = next(
            (o for o in orphans(conn, config, tenant, now, state, entries) if o.product == name),
            None,
        )
        owner_vital = next(
            (v for v in vitals(conn, config, tenant, now, state, entries) if v.producer == owner),
            None,
        )
        start = now - HISTORY
        succeeded = successes(conn, tenant, owner or declared.owner, start, now)
        about = product_events(conn, tenant, name, {declared.owner, owner or declared.owner}, now)
        checks = _checks_watching(conn, config, tenant, name, now, declared.max_age)
    limit = int(declared.max_age.total_seconds())
    gaps = [
        {"from": _iso(a), "to": _iso(b), "seconds": int((b - a).total_seconds())}
        for a, b in pairwise([*succeeded, now])
        if (b - a).total_seconds() > limit
    ]
    return {
        "tenant": tenant,
        "as_of": now.isoformat(),
        "product": name,
        "kind": declared.kind,
        "description": declared.description,
        "path": None if declared.path is None else str(declared.path),
        "owner": owner,
        "declared_owner": declared.owner,
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
            "successes": [s.isoformat() for s in succeeded],
            "stale_gaps": gaps,
        },
        "checks": checks,
        "events": [e.as_dict() for e in about],
    }


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


def timeline(asked: Asked, producer: str = "", kind: str = "") -> dict[str, Any]:
    """The latest events, of one producer or kind if asked (`?producer=`, `?kind=`)."""
    db, tenant, now = asked.db, asked.tenant, asked.now
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        found = events(conn, tenant=tenant, producer=producer or None, until=now, limit=500)
        kinds = event_kinds(conn)
        named = event_producers(conn)
    listed = [e.as_dict() for e in found if not kind or e.kind == kind]
    return {
        "tenant": tenant,
        "as_of": now.isoformat(),
        "filter": {"producer": producer or None, "kind": kind or None},
        "kinds": kinds,
        "producers": named,
        "events": listed,
    }


def webhooks(asked: Asked) -> dict[str, Any]:
    """The latest accepted webhooks, what each asked for and whether its refresh landed."""
    db, tenant, now = asked.db, asked.tenant, asked.now
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        hints = recent_hints(conn, tenant, now, HINTS_SHOWN)
        counts = hint_counts(conn, tenant)
        latency = refresh_latency(conn, tenant)
    return {
        "tenant": tenant,
        "as_of": now.isoformat(),
        "counts": counts,
        "latency_s": {"p50": latency.p50, "p99": latency.p99, "of": latency.of},
        "hints": [
            {
                "id": h.id,
                "received_at": _iso(h.received_at),
                "delivery_id": h.delivery_id,
                "event_type": h.event_type,
                "targets": h.targets,
                "status": h.status,
                "refreshed_at": _iso(h.refreshed_at),
                "run_id": h.run_id,
                "rows_changed": h.rows_changed,
                "error": h.error,
            }
            for h in hints
        ],
    }
