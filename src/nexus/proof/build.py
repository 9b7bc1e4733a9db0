"""Assemble the Evolution Proof for one tenant as of one moment.

Every number comes from the database (or a file's mtime for file products),
read as of `now` from the injected clock, so a replayed month reads exactly
like a real one. The result follows the contract in `proof.schema.json`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nexus.checks.coverage import (
    Coverage,
    CoverageParams,
    coverage_by_day,
    invoice_coverage,
    zero_invoice_split,
)
from nexus.checks.freshness import Freshness, product_freshness
from nexus.checks.revenue import Revenue, RevenueParams, read_reference_table, revenue
from nexus.checks.volume import Volume, VolumeParams, volume
from nexus.proof.causes import NONE_FOUND, Cause, FeedGap, cause_for_product, diagnosis_cause
from nexus.proof.story import actions_for, story_for
from nexus.registry.model import RegistryConfig
from nexus.registry.ownership import ownership
from nexus.registry.timeline import events
from nexus.registry.vitals import ledger, orphans, vitals
from nexus.servicetitan.feeds import EXPORT_FEEDS
from nexus.stats import Severity, wilson
from nexus.store.connection import Connection
from nexus.sync.diagnose import latest_diagnosis

Reference = Callable[[Connection], tuple[Mapping[str, float] | None, str | None]]

COVERAGE_PRODUCT = "titan.jobs.invoice_total"
STALE_CRITICAL_FACTOR = 4


def table_reference(conn: Connection, tenant: int) -> tuple[Mapping[str, float] | None, str | None]:
    """The sales ledger kept in `nexus.reference_revenue`, when it holds anything for `tenant`."""
    weeks = read_reference_table(conn, tenant)
    return (weeks, "sales ledger") if weeks else (None, None)


@dataclass(frozen=True)
class ProofInputs:
    config: RegistryConfig
    tenant: int
    timezone: str = "America/Chicago"
    coverage: CoverageParams = field(default_factory=CoverageParams)
    volume: VolumeParams = field(default_factory=VolumeParams)
    revenue: RevenueParams = field(default_factory=RevenueParams)
    reference: Reference | None = None
    sync_miss_ids: frozenset[int] = field(default_factory=frozenset)


@dataclass
class Alert:
    check: str
    severity: str
    label: str
    product: str | None
    measurement: dict[str, Any]
    threshold: float | None
    cause: Cause
    questions: dict[str, Any]
    status: str | None = None

    def as_dict(self, group: int | None) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "status": self.status or self.severity,
            "label": self.label,
            "measurement": self.measurement,
            "threshold": self.threshold,
            "product": self.product,
            "probable_cause": self.cause.as_dict(),
            "questions": self.questions,
            "grouped_under": group,
        }


def build_proof(conn: Connection, inputs: ProofInputs, now: datetime) -> dict[str, Any]:
    config, tenant = inputs.config, inputs.tenant
    state = ownership(conn, config)
    entries = ledger(conn, tenant, now)
    vital_list = vitals(conn, config, tenant, now, state, entries)
    by_producer = {v.producer: v for v in vital_list}
    orphan_list = orphans(conn, config, tenant, now, state, entries)
    timeline = events(conn, tenant=tenant, until=now)
    error_kinds = _error_kinds(conn, [i for e in entries.values() for i in e.failed_run_ids])

    gaps = _feed_gaps(conn, config, tenant, now)
    # The latest diagnosis says which sampled $0 jobs ServiceTitan has invoiced, and
    # what its sample points to when lineage finds no cause.
    diagnosis = latest_diagnosis(conn, tenant)
    if diagnosis is not None and diagnosis.at > now:
        diagnosis = None
    diagnosed = diagnosis_cause(diagnosis) if diagnosis is not None else None
    sync_misses = inputs.sync_miss_ids | (diagnosis.sync_miss_ids if diagnosis else frozenset())

    def cause(product: str) -> Cause:
        found = cause_for_product(product, state, by_producer, entries, timeline, error_kinds, gaps)
        if found.kind == "none_found" and product == COVERAGE_PRODUCT and diagnosed:
            return diagnosed
        return found

    freshness: list[Freshness] = []
    for product in config.products:
        if product.name in state.retired_products:
            continue
        owner = state.owners.get(product.name, product.owner)
        path = config.resolve_path(product.path) if product.path else None
        freshness += product_freshness(
            conn, product, tenant, now, entries.get(owner), owner, file_path=path
        )
    db_fresh = _db_fresh(freshness)

    coverage = invoice_coverage(conn, tenant, now, inputs.coverage)
    days = coverage_by_day(conn, tenant, now, inputs.timezone)
    split = zero_invoice_split(conn, tenant, now, inputs.coverage, sync_misses)
    vol = volume(conn, tenant, now, inputs.timezone, inputs.volume)
    reference, reference_name = (inputs.reference or (lambda c: table_reference(c, tenant)))(conn)
    rev = revenue(conn, tenant, now, inputs.timezone, reference, reference_name, inputs.revenue)

    alerts: list[Alert] = []
    alerts += _coverage_alerts(coverage, cause(COVERAGE_PRODUCT), db_fresh)
    alerts += _freshness_alerts(freshness, cause, db_fresh)
    alerts += _volume_alerts(vol, db_fresh)
    alerts += _revenue_alerts(rev, cause(COVERAGE_PRODUCT), db_fresh)
    modules = _action_modules(config, freshness)
    alerts += _module_alerts(modules, db_fresh)
    alerts += _quarantine_alerts(conn, tenant, now, db_fresh)

    causes, groups = _group(alerts)
    verdict = _verdict(alerts, coverage)
    proof: dict[str, Any] = {
        "as_of": now.isoformat(),
        "tenant": tenant,
        "verdict": verdict,
        "alerts": [a.as_dict(groups.get(i)) for i, a in enumerate(alerts)],
        "causes": causes,
        "vitals": [v.as_dict() for v in vital_list],
        "freshness": [f.as_dict() for f in freshness],
        "orphans": [o.as_dict() for o in orphan_list],
        "coverage_by_day": [
            {
                "day": d.day.isoformat(),
                "completed": d.completed,
                "with_total": d.with_total,
                "rate": round(d.rate.rate, 4),
                "ci_low": round(d.rate.ci_low, 4),
                "ci_high": round(d.rate.ci_high, 4),
            }
            for d in days
        ],
        "revenue": {
            "reference": rev.reference_name,
            "weeks": [w.as_dict() for w in rev.weeks],
            "spikes": [s.__dict__ for s in rev.spikes],
        },
        "volume": {
            "day": vol.day.isoformat(),
            "completed": vol.completed,
            "baseline": vol.baseline,
            "history_days": vol.history_days,
            "ratio": None if vol.ratio is None else round(vol.ratio, 3),
            "p_value": None if vol.p_value is None else round(vol.p_value, 6),
            "severity": vol.severity.value,
        },
        "zero_invoice_split": split.as_dict(),
        "action_modules": modules,
        "timeline": [e.as_dict() for e in timeline[:50]],
    }
    proof["story"] = story_for(proof, coverage, inputs.coverage)
    proof["actions"] = actions_for(proof)
    return proof


# -- alerts --------------------------------------------------------------------


def _questions(
    db_fresh: tuple[bool, str], sample: tuple[bool | None, str], cause: Cause
) -> dict[str, Any]:
    named = (
        f"the label names what is measured; the probable cause ({cause.kind}) is reported "
        "separately"
        if cause.kind != "none_found"
        else "the label names what is measured; no upstream cause was found"
    )
    return {
        "db_fresh": db_fresh[0],
        "sample_sufficient": sample[0],
        "label_names_cause": False,
        "evidence": {"db_fresh": db_fresh[1], "sample_sufficient": sample[1], "label": named},
    }


def _db_fresh(freshness: list[Freshness]) -> tuple[bool, str]:
    """Is the database itself stale? Per mirrored table: has it caught up with ServiceTitan lately?

    A table is current when its newest row, or its owner's last successful sync, is
    within the table's limit: a quiet evening writes no rows, yet a sync that just
    found nothing new proves the mirror holds everything the source had.
    """
    tables: dict[str, list[Freshness]] = {}
    for f in freshness:
        if f.measured_by in ("db", "run_ledger") and f.product.count(".") == 1:
            tables.setdefault(f.product, []).append(f)
    if not tables:
        return False, "no mirrored table is declared"
    stale = [name for name, results in tables.items() if not any(r.fresh for r in results)]
    parts = []
    for name, results in tables.items():
        ages = ", ".join(
            f"{'newest row' if r.measured_by == 'db' else 'last sync'} "
            + ("never" if r.age_s is None else _age_text(r.age_s))
            for r in results
        )
        parts.append(f"{name}: {ages}")
    verdict = f"stale: {', '.join(stale)}" if stale else "every mirrored table is current"
    return not stale, f"{verdict} ({'; '.join(parts)})"


def _age_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _coverage_alerts(coverage: Coverage, cause: Cause, db_fresh: tuple[bool, str]) -> list[Alert]:
    gap = coverage.gap
    params = coverage.params
    if coverage.severity is Severity.OK:
        return []
    sufficient = gap.n >= params.min_n
    sample = (
        sufficient,
        f"n={gap.n} completed chargeable jobs; the minimum is {params.min_n}",
    )
    severity = coverage.severity
    return [
        Alert(
            check="invoice_coverage",
            severity="info" if severity is Severity.INSUFFICIENT_DATA else severity.value,
            status=severity.value,
            label="ST mirror invoice coverage gap",
            product=COVERAGE_PRODUCT,
            measurement={
                "counts": "completed jobs without an invoice total",
                "n": gap.n,
                "k": gap.k,
                "rate": round(gap.rate, 4),
                "ci_low": round(gap.ci_low, 4),
                "ci_high": round(gap.ci_high, 4),
                "window": f"{coverage.window_start.isoformat()}/{coverage.window_end.isoformat()}",
                "excluded_recent": coverage.excluded_recent,
            },
            threshold=params.threshold,
            cause=cause if severity is not Severity.INSUFFICIENT_DATA else NONE_FOUND,
            questions=_questions(db_fresh, sample, cause),
        )
    ]


def _freshness_alerts(
    freshness: list[Freshness], cause: Callable[[str], Cause], db_fresh: tuple[bool, str]
) -> list[Alert]:
    by_product: dict[str, list[Freshness]] = {}
    for f in freshness:
        by_product.setdefault(f.product, []).append(f)
    alerts = []
    for product, results in by_product.items():
        if any(r.fresh for r in results):
            continue
        worst = max(results, key=lambda r: r.age_s if r.age_s is not None else -1)
        if worst.age_s is None and worst.measured_by != "file_mtime":
            continue  # never measured: the producer's vitals say never_ran
        too_old = worst.age_s is None or worst.age_s > STALE_CRITICAL_FACTOR * worst.max_age_s
        alerts.append(
            Alert(
                check="freshness",
                severity="critical" if too_old else "warning",
                label=f"{product} freshness ({worst.measured_by.replace('_', ' ')})",
                product=product,
                measurement={
                    "counts": worst.detail,
                    "age_s": worst.age_s,
                    "max_age_s": worst.max_age_s,
                    "measured_by": worst.measured_by,
                },
                threshold=float(worst.max_age_s),
                cause=cause(product),
                questions=_questions(db_fresh, (None, "not a sampled rate"), cause(product)),
            )
        )
    return alerts


def _volume_alerts(vol: Volume, db_fresh: tuple[bool, str]) -> list[Alert]:
    if vol.severity is not Severity.WARNING:
        return []
    return [
        Alert(
            check="volume",
            severity="warning",
            label="Jobs completed per day vs trailing baseline",
            product="titan.jobs",
            measurement={
                "counts": f"{vol.completed} jobs completed on {vol.day.isoformat()} against a "
                f"baseline of {vol.baseline:g} a day (p = {vol.p_value:.4f})",
                "n": vol.completed,
                "baseline": vol.baseline,
                "ratio": vol.ratio,
                "history_days": vol.history_days,
            },
            threshold=None,
            cause=NONE_FOUND,
            questions=_questions(
                db_fresh, (True, f"baseline from {vol.history_days} business days"), NONE_FOUND
            ),
        )
    ]


def _revenue_alerts(rev: Revenue, cause: Cause, db_fresh: tuple[bool, str]) -> list[Alert]:
    alerts = []
    if rev.low_weeks:
        settled = [w for w in rev.weeks if w.week in rev.low_weeks]
        worst = min(settled, key=lambda w: w.capture or 0.0)
        alerts.append(
            Alert(
                check="revenue_capture",
                severity=rev.capture_severity.value,
                label=f"ST mirror revenue capture vs {rev.reference_name}",
                product=COVERAGE_PRODUCT,
                measurement={
                    "counts": "mirror revenue / reference revenue per settled week",
                    "weeks": rev.low_weeks,
                    "worst_week": worst.week,
                    "rate": worst.capture,
                    "mirror": worst.mirror,
                    "reference": worst.reference,
                },
                threshold=None,
                cause=cause,
                questions=_questions(
                    db_fresh, (True, f"{len(settled)} settled week(s) below the minimum"), cause
                ),
            )
        )
    for spike in rev.spikes:
        alerts.append(
            Alert(
                check="revenue_spike",
                severity="critical",
                label="Mirror revenue spike"
                if spike.kind == "week_above_median"
                else "Mirror rows sharing one created timestamp",
                product="titan.jobs",
                measurement={"counts": spike.detail, "week": spike.week, "n": spike.rows},
                threshold=None,
                cause=NONE_FOUND,
                questions=_questions(db_fresh, (None, "not a sampled rate"), NONE_FOUND),
            )
        )
    return alerts


def _action_modules(config: RegistryConfig, freshness: list[Freshness]) -> dict[str, Any]:
    outside = {name for name, p in config.producers.items() if p.kind == "external" and p.enabled}
    fresh_by_product: dict[str, bool] = {}
    for f in freshness:
        fresh_by_product[f.product] = fresh_by_product.get(f.product, False) or f.fresh
    products = [p for p in config.products if p.owner in outside]
    breakdown = [
        {
            "producer": p.owner,
            "product": p.name,
            "fresh": fresh_by_product.get(p.name, False),
            "measured_by": "file_mtime" if p.kind == "file" else "db",
        }
        for p in products
    ]
    fresh = sum(1 for b in breakdown if b["fresh"])
    rate = wilson(fresh, len(breakdown)) if breakdown else None
    return {
        "declared": len(breakdown),
        "fresh": fresh,
        "share": None if rate is None else round(rate.rate, 4),
        "breakdown": breakdown,
    }


def _module_alerts(modules: dict[str, Any], db_fresh: tuple[bool, str]) -> list[Alert]:
    stale = [b for b in modules["breakdown"] if not b["fresh"]]
    if not stale:
        return []
    return [
        Alert(
            check="action_modules",
            severity="warning",
            label="Outside producers with fresh output",
            product=None,
            measurement={
                "counts": "declared outside producers whose products are fresh",
                "n": modules["declared"],
                "k": modules["fresh"],
                "rate": modules["share"],
                "stale": [b["product"] for b in stale],
            },
            threshold=None,
            cause=NONE_FOUND,
            questions=_questions(db_fresh, (None, "a census, not a sample"), NONE_FOUND),
        )
    ]


def _quarantine_alerts(
    conn: Connection, tenant: int, now: datetime, db_fresh: tuple[bool, str]
) -> list[Alert]:
    held = conn.execute(
        "SELECT id, feed, kind, reason, rows, held_at FROM nexus.quarantine"
        " WHERE tenant_id = %s AND status = 'held' AND held_at <= %s ORDER BY id",
        (tenant, now),
    ).fetchall()
    if not held:
        return []
    ids = [r[0] for r in held]
    cause = Cause(
        "writes_quarantined",
        None,
        held[0][5],
        "; ".join(f"#{r[0]} {r[1]}: {r[3]}" for r in held),
        links={f"quarantine {i}": f"/quarantine#q-{i}" for i in ids},
    )
    return [
        Alert(
            check="quarantine",
            severity="critical",
            label="Writes quarantined",
            product=None,
            measurement={
                "counts": f"{len(held)} batch(es) held back from the mirror, "
                f"{sum(r[4] for r in held):,} rows; their feeds wait before them",
                "n": sum(r[4] for r in held),
                "batches": ids,
                "feeds": sorted({r[1] for r in held}),
            },
            threshold=None,
            cause=cause,
            questions=_questions(db_fresh, (None, "a census of held batches"), cause),
        )
    ]


# -- grouping and verdict --------------------------------------------------------

SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}


def _group(alerts: list[Alert]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """One entry per active cause, with the alerts it explains; symptoms point at it."""
    causes: list[dict[str, Any]] = []
    index: dict[tuple[str, str | None], int] = {}
    groups: dict[int, int] = {}
    order = sorted(range(len(alerts)), key=lambda i: -SEVERITY_RANK[alerts[i].severity])
    for i in order:
        alert = alerts[i]
        if alert.cause.kind == "none_found":
            continue
        key = alert.cause.key
        if key not in index:
            index[key] = len(causes)
            causes.append(
                {
                    **alert.cause.as_dict(),
                    "severity": alert.severity,
                    "primary": alert.check,
                    "alerts": [],
                }
            )
        causes[index[key]]["alerts"].append(alert.label)
        groups[i] = index[key]
    return causes, groups


def _verdict(alerts: list[Alert], coverage: Coverage) -> str:
    severities = {a.severity for a in alerts}
    if "critical" in severities:
        return "critical"
    if "warning" in severities:
        return "warning"
    if coverage.severity is Severity.INSUFFICIENT_DATA:
        return "insufficient_data"
    return "ok"


def _feed_gaps(
    conn: Connection, config: RegistryConfig, tenant: int, now: datetime
) -> dict[str, FeedGap]:
    """Per sync producer: what the latest reconciliation (if not repaired since) found missing.

    A producer with several feeds is judged by the feed with the most records missing.
    """
    row = conn.execute(
        "SELECT run_id, finished_at, feeds, repair FROM nexus.reconciliations"
        " WHERE tenant_id = %s AND finished_at <= %s ORDER BY finished_at DESC, id DESC LIMIT 1",
        (tenant, now),
    ).fetchone()
    if row is None or row[3]:  # none, or the latest one repaired what it found
        return {}
    run_id, at, feeds, _ = row
    moved = dict(
        conn.execute(
            "SELECT feed, updated_at FROM nexus.feeds WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    )
    gaps: dict[str, FeedGap] = {}
    for name, counts in feeds.items():
        producer = config.syncer_of(name)
        if producer is None or name not in EXPORT_FEEDS:
            continue
        missing = int(counts.get("missing_in_mirror", 0)) + int(counts.get("field_mismatch", 0))
        if producer not in gaps or missing > gaps[producer].missing:
            gaps[producer] = FeedGap(name, producer, missing, run_id, at, moved.get(name))
    return gaps


def _error_kinds(conn: Connection, run_ids: list[int]) -> dict[int, str | None]:
    if not run_ids:
        return {}
    return dict(
        conn.execute(
            "SELECT id, error_kind FROM nexus.runs WHERE id = ANY(%s)", (run_ids,)
        ).fetchall()
    )
