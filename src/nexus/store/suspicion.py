"""Look at a batch before it is upserted: does it look like a phantom write?

The incident behind Nexus was 10,461 jobs written in one go, all stamped with
the same created time, lifting a week's revenue to $6.4M. A batch is suspect
when it shows any of the signs:

- rows without a created timestamp;
- a large share of rows sharing one created timestamp;
- invoice totals that would lift a week's revenue far above its trailing median;
- far more new jobs in one run than the feed normally brings.

A suspect batch is not loaded: the caller holds it in quarantine.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from nexus import times
from nexus.store.connection import Connection
from nexus.store.rows import Row, TableSpec


@dataclass(frozen=True)
class SuspicionParams:
    shared_created_min_rows: int = 50
    shared_created_share: float = 0.5
    spike_ratio: float = 3.0
    spike_min_weeks: int = 4
    new_jobs_floor: int = 500
    new_jobs_factor: float = 20.0


@dataclass(frozen=True)
class Suspicion:
    kind: str  # missing_created | shared_created | revenue_spike | new_jobs_surge
    reason: str


def _index(spec: TableSpec, column: str) -> int | None:
    try:
        return spec.names.index(column)
    except ValueError:
        return None


def suspect(
    conn: Connection,
    spec: TableSpec,
    tenant: int,
    rows: Sequence[Row],
    *,
    backfill: bool,
    run_new_jobs: int = 0,
    params: SuspicionParams = SuspicionParams(),
    zone: ZoneInfo = times.UTC,
) -> Suspicion | None:
    """The first sign of a phantom write in this batch, or None when it looks normal.

    The reason is for people: it names moments in `zone`, the tenant's.
    """
    if not rows or spec.feed not in ("jobs", "invoices"):
        return None
    created = _index(spec, "created_on")
    if created is not None:
        missing = [row[0] for row in rows if row[created] is None]
        if missing:
            return Suspicion(
                "missing_created",
                f"{len(missing)} of {len(rows)} {spec.feed} have no created timestamp "
                f"(e.g. id {missing[0]})",
            )
        stamp, count = Counter(row[created] for row in rows).most_common(1)[0]
        if count >= params.shared_created_min_rows and count >= params.shared_created_share * len(
            rows
        ):
            return Suspicion(
                "shared_created",
                f"{count} of {len(rows)} {spec.feed} share one created timestamp "
                f"({times.local(stamp, zone)})",
            )
    if spec.feed == "invoices" and not backfill:
        found = _revenue_spike(conn, spec, tenant, rows, params)
        if found:
            return found
    if spec.feed == "jobs" and not backfill:
        return _new_jobs_surge(conn, tenant, rows, run_new_jobs, params)
    return None


#: What a page of invoices adds to each week's revenue (`true` rows: the week, the
#: change), then each week's completed revenue from nine weeks before the first of those
#: weeks (`false` rows): one round trip. A week is the session's `date_trunc('week')`.
_SPIKE_SQL = (
    "WITH added AS ("
    " SELECT date_trunc('week', coalesce(j.completed_on, b.created_on)) AS week,"
    " sum(b.total - coalesce(i.total, 0)) AS delta FROM"
    " unnest(%(ids)s::int8[], %(jobs)s::int8[], %(totals)s::numeric[],"
    " %(created)s::timestamptz[]) AS b(id, job_id, total, created_on)"
    " LEFT JOIN titan.invoices i ON i.tenant_id = %(tenant)s AND i.id = b.id"
    " LEFT JOIN titan.jobs j ON j.tenant_id = %(tenant)s AND j.id = b.job_id"
    " GROUP BY 1)"
    " SELECT true, week, delta FROM added"
    " UNION ALL"
    " SELECT false, date_trunc('week', completed_on), sum(invoice_total) FROM titan.jobs"
    " WHERE tenant_id = %(tenant)s AND job_status = 'Completed'"
    " AND completed_on >= (SELECT min(week) FROM added) - interval '1512 hours'"
    " GROUP BY 2"
)


def _revenue_spike(
    conn: Connection,
    spec: TableSpec,
    tenant: int,
    rows: Sequence[Row],
    params: SuspicionParams,
) -> Suspicion | None:
    i_id, i_job, i_total, i_created = (
        spec.names.index(c) for c in ("id", "job_id", "total", "created_on")
    )
    ids = [r[i_id] for r in rows]
    jobs = [r[i_job] for r in rows]
    totals = [r[i_total] or Decimal(0) for r in rows]
    created = [r[i_created] for r in rows]
    found = conn.execute(
        _SPIKE_SQL,
        {"ids": ids, "jobs": jobs, "totals": totals, "created": created, "tenant": tenant},
    ).fetchall()
    added = [(week, value) for is_added, week, value in found if is_added]
    weeks = {week: value for is_added, week, value in found if not is_added}
    for week, delta in added:
        if week is None or delta is None or delta <= 0:
            continue
        trailing = [v for w, v in weeks.items() if week - timedelta(weeks=8) <= w < week and v > 0]
        if len(trailing) < params.spike_min_weeks:
            continue
        median = Decimal(statistics.median(trailing))
        after = weeks.get(week, Decimal(0)) + delta
        if after > Decimal(params.spike_ratio) * median and delta > median:
            return Suspicion(
                "revenue_spike",
                f"these invoices would add ${delta:,.0f} to the week of {week:%Y-%m-%d}, "
                f"lifting it to ${after:,.0f} against a trailing median of ${median:,.0f}",
            )
    return None


def _new_jobs_surge(
    conn: Connection,
    tenant: int,
    rows: Sequence[Row],
    run_new_jobs: int,
    params: SuspicionParams,
) -> Suspicion | None:
    if run_new_jobs + len(rows) < params.new_jobs_floor:
        return None  # even were every row new, the run would stay under the floor: not asked
    row = conn.execute(
        "SELECT count(*) FROM unnest(%s::int8[]) AS b(id)"
        " WHERE NOT EXISTS (SELECT 1 FROM titan.jobs j WHERE j.tenant_id = %s AND j.id = b.id)",
        ([r[0] for r in rows], tenant),
    ).fetchone()
    new = int(row[0]) if row else 0
    if run_new_jobs + new < params.new_jobs_floor:
        return None
    normal = conn.execute(
        "SELECT coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY rows_changed), 0)"
        " FROM (SELECT rows_changed FROM nexus.runs WHERE tenant_id = %s"
        " AND producer = 'job_sync' AND status = 'succeeded'"
        " ORDER BY started_at DESC LIMIT 500) r",
        (tenant,),
    ).fetchone()
    usual = float(normal[0]) if normal else 0.0
    limit = max(params.new_jobs_floor, params.new_jobs_factor * usual)
    if run_new_jobs + new > limit:
        return Suspicion(
            "new_jobs_surge",
            f"this run would add {run_new_jobs + new} new jobs; the feed normally changes "
            f"at most {usual:.0f} per run",
        )
    return None
