"""Assemble the Evolution Proof for one tenant as of one moment.

Every number comes from the database (or a file's mtime for file products),
read as of `now` from the injected clock, so a replayed month reads exactly
like a real one. Lineage gives every product its root cause; the registry of
checks (`nexus.checks.CHECKS`) gives the alerts and the sections they
measure; alerts sharing a root become one cause group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from nexus.checks import CHECKS
from nexus.checks.alert import SEVERITY_RANK, Alert, Cause
from nexus.checks.freshness import Freshness, database_fresh, newest_rows, product_freshness
from nexus.checks.inputs import CheckInputs, Reference
from nexus.checks.revenue import read_reference_table
from nexus.proof.causes import FeedGap, Lineage, diagnosis_cause
from nexus.proof.model import Behind, CauseGroup, Proof, TimelineEvent, Verdict
from nexus.proof.story import actions_for, story_for
from nexus.registry.config import Config
from nexus.registry.ownership import Ownership, ownership
from nexus.registry.timeline import events
from nexus.registry.vitals import LedgerEntry, Vital, ledger, orphans, vitals
from nexus.servicetitan.feeds import EXPORT_FEEDS
from nexus.store.connection import Connection
from nexus.sync.diagnose import latest_diagnosis
from nexus.sync.source_check import source_checks

TIMELINE_SHOWN = 50


def table_reference(conn: Connection, tenant: int) -> tuple[Mapping[str, float] | None, str | None]:
    """The sales ledger kept in `nexus.reference_revenue`, when it holds anything for `tenant`."""
    weeks = read_reference_table(conn, tenant)
    return (weeks, "sales ledger") if weeks else (None, None)


@dataclass(frozen=True)
class ProofInputs:
    config: Config
    tenant: int
    timezone: str
    reference: Reference
    sync_miss_ids: frozenset[int] = frozenset()


def build_proof(conn: Connection, inputs: ProofInputs, now: datetime) -> Proof:
    config, tenant, zone = inputs.config, inputs.tenant, ZoneInfo(inputs.timezone)
    state = ownership(conn, config)
    entries = ledger(conn, tenant, now)
    vital_list = vitals(conn, config, tenant, now, state, entries)
    timeline = events(conn, tenant=tenant, until=now)
    lineage = Lineage(
        state=state,
        vitals={v.producer: v for v in vital_list},
        entries=entries,
        events=timeline,
        run_error_kinds=_error_kinds(conn, [i for e in entries.values() for i in e.failed_run_ids]),
        gaps=_feed_gaps(conn, config, tenant, now),
        zone=zone,
    )
    roots = lineage.tenant_causes()
    # The latest diagnosis says which sampled $0 jobs ServiceTitan has invoiced, and
    # what its sample points to when lineage finds no cause.
    diagnosis = latest_diagnosis(conn, tenant)
    if diagnosis is not None and diagnosis.at > now:
        diagnosis = None
    diagnosed = diagnosis_cause(diagnosis, zone) if diagnosis is not None else None
    coverage_product = config.checks.invoice_coverage.product

    def cause(product: str) -> Cause:
        found = lineage.cause_of(product, roots)
        if not found.found and product == coverage_product and diagnosed:
            return diagnosed
        return found

    freshness = _freshness(conn, config, tenant, now, state, entries, zone)
    diagnosed_misses = diagnosis.sync_miss_ids if diagnosis else frozenset()
    check_inputs = CheckInputs(
        conn=conn,
        config=config,
        tenant=tenant,
        now=now,
        timezone=inputs.timezone,
        freshness=freshness,
        db_fresh=database_fresh(freshness),
        cause=cause,
        reference=inputs.reference,
        sync_miss_ids=inputs.sync_miss_ids | diagnosed_misses,
    )
    found: list[Alert] = []
    sections: dict[str, Any] = {}
    for check in CHECKS:
        result = check(check_inputs)
        found += result.alerts
        sections.update(result.sections())
    groups, alerts = group_by_root(found)
    draft = Proof(
        as_of=now,
        tenant=tenant,
        timezone=inputs.timezone,
        verdict=_verdict(alerts, sections["coverage"].status),
        alerts=tuple(alerts),
        causes=tuple(groups),
        vitals=tuple(vital_list),
        freshness=freshness,
        orphans=tuple(orphans(conn, config, tenant, now, state, entries)),
        behind=_behind(vital_list, cause),
        timeline=tuple(
            TimelineEvent(**{**dataclasses.asdict(e), "detail": e.detail or {}})
            for e in timeline[:TIMELINE_SHOWN]
        ),
        story=(),
        actions=(),
        **sections,
    )
    return draft.model_copy(
        update={"story": tuple(story_for(draft)), "actions": tuple(actions_for(draft))}
    )


def _freshness(
    conn: Connection,
    config: Config,
    tenant: int,
    now: datetime,
    state: Ownership,
    entries: Mapping[str, LedgerEntry],
    zone: ZoneInfo,
) -> tuple[Freshness, ...]:
    measured: list[Freshness] = []
    sources = source_checks(conn, tenant, now)
    products = [p for p in config.products if p.name not in state.retired_products]
    newest = newest_rows(conn, [p.name for p in products if p.kind == "table"], tenant)
    for product in products:
        owner = state.owners.get(product.name, product.owner)
        path = config.resolve_path(product.path) if product.path else None
        measured += product_freshness(
            conn, product, tenant, now, entries.get(owner), owner, path, sources, newest, zone=zone
        )
    return tuple(measured)


def group_by_root(alerts: list[Alert]) -> tuple[list[CauseGroup], list[Alert]]:
    """One group per root cause, most severe first; every alert points at its group.

    Alerts keep their check order within a severity; the first (most severe)
    alert of a group is its primary.
    """
    order = sorted(alerts, key=lambda a: -SEVERITY_RANK[a.severity])
    members: dict[tuple[str, str | None], list[Alert]] = {}
    for alert in order:
        if alert.probable_cause.found:
            members.setdefault(alert.probable_cause.key, []).append(alert)
    groups = [
        CauseGroup(
            **group[0].probable_cause.model_dump(),
            severity=group[0].severity,
            primary=group[0].check,
            alerts=tuple(a.label for a in group),
        )
        for group in members.values()
    ]
    index = {key: i for i, key in enumerate(members)}
    grouped = [
        a.model_copy(update={"grouped_under": index[a.probable_cause.key]})
        if a.probable_cause.found
        else a
        for a in order
    ]
    return groups, grouped


def _behind(vital_list: list[Vital], cause: Any) -> tuple[Behind, ...]:
    return tuple(
        Behind(product=product, producer=v.producer, because=cause(product).kind, since=v.since)
        for v in vital_list
        if v.status in ("failing", "late")
        for product in v.products
    )


def _verdict(alerts: list[Alert], coverage_status: str) -> Verdict:
    severities = {a.severity for a in alerts}
    if "critical" in severities:
        return "critical"
    if "warning" in severities:
        return "warning"
    if coverage_status == "insufficient_data":
        return "insufficient_data"
    return "ok"


def _feed_gaps(conn: Connection, config: Config, tenant: int, now: datetime) -> dict[str, FeedGap]:
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
