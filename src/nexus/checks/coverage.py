"""Invoice coverage: how many completed, chargeable jobs carry no invoice total.

The population is completed jobs in the window, minus canceled and no-charge
work (job flag, job type flag, recall, warranty), minus jobs completed within
the grace period (counted and reported, since their invoices are normally
still being written). k is the jobs without a non-zero `invoice_total`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from nexus.registry.config import INVOICE_COVERAGE_THRESHOLD
from nexus.stats import Rate, Severity, severity_above, wilson
from nexus.store.connection import Connection

#: Share of completed chargeable jobs without an invoice total above which the
#: gap is an alert; the configuration's default, reasoned there.
DEFAULT_THRESHOLD = INVOICE_COVERAGE_THRESHOLD
DEFAULT_MIN_N = 20
DEFAULT_GRACE = timedelta(hours=24)
DEFAULT_WINDOW = timedelta(days=30)
DEFAULT_EXPECTED_LAG = timedelta(days=5)

CHARGEABLE = """
    j.tenant_id = %(tenant)s AND j.active AND j.job_status = 'Completed'
    AND j.completed_on > %(start)s AND j.completed_on <= %(now)s
    AND NOT j.no_charge AND j.recall_for_id IS NULL AND j.warranty_id IS NULL
    AND NOT coalesce(jt.no_charge, false)
"""
JOIN_TYPES = (
    " FROM titan.jobs j LEFT JOIN titan.job_types jt"
    " ON jt.tenant_id = j.tenant_id AND jt.id = j.job_type_id"
)


@dataclass(frozen=True)
class CoverageParams:
    threshold: float = DEFAULT_THRESHOLD
    min_n: int = DEFAULT_MIN_N
    grace: timedelta = DEFAULT_GRACE
    window: timedelta = DEFAULT_WINDOW
    expected_lag: timedelta = DEFAULT_EXPECTED_LAG


@dataclass(frozen=True)
class Coverage:
    gap: Rate  # k = jobs without an invoice total, of n
    excluded_recent: int
    severity: Severity
    window_start: datetime
    window_end: datetime
    params: CoverageParams


@dataclass(frozen=True)
class DayCoverage:
    day: date
    completed: int
    with_total: int
    rate: Rate  # with_total of completed


def invoice_coverage(
    conn: Connection, tenant: int, now: datetime, params: CoverageParams = CoverageParams()
) -> Coverage:
    start = now - params.window
    cutoff = now - params.grace
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE j.completed_on <= %(cutoff)s),"
        " count(*) FILTER (WHERE j.completed_on <= %(cutoff)s AND j.invoice_total = 0),"
        " count(*) FILTER (WHERE j.completed_on > %(cutoff)s)" + JOIN_TYPES + " WHERE" + CHARGEABLE,
        {"tenant": tenant, "start": start, "now": now, "cutoff": cutoff},
    ).fetchone()
    assert row is not None
    n, k, recent = int(row[0]), int(row[1]), int(row[2])
    gap = wilson(k, n)
    return Coverage(
        gap=gap,
        excluded_recent=recent,
        severity=severity_above(gap, params.threshold, params.min_n),
        window_start=start,
        window_end=cutoff,
        params=params,
    )


def coverage_by_day(
    conn: Connection, tenant: int, now: datetime, timezone: str, days: int = 14
) -> list[DayCoverage]:
    """Completed chargeable jobs and how many carry a total, per tenant-local day."""
    rows = conn.execute(
        "SELECT (j.completed_on AT TIME ZONE %(tz)s)::date AS day, count(*),"
        " count(*) FILTER (WHERE j.invoice_total <> 0)"
        + JOIN_TYPES
        + " WHERE"
        + CHARGEABLE
        + " GROUP BY 1 ORDER BY 1 DESC",
        {"tenant": tenant, "start": now - timedelta(days=days), "now": now, "tz": timezone},
    ).fetchall()
    return [DayCoverage(r[0], int(r[1]), int(r[2]), wilson(int(r[2]), int(r[1]))) for r in rows]


@dataclass(frozen=True)
class ZeroSplit:
    not_finished: int
    no_charge: int
    canceled: int
    sync_miss: int
    unexplained: int

    def as_dict(self) -> dict[str, int]:
        return {
            "sync_miss": self.sync_miss,
            "not_finished": self.not_finished,
            "no_charge": self.no_charge,
            "canceled": self.canceled,
            "unexplained": self.unexplained,
        }


def zero_invoice_split(
    conn: Connection,
    tenant: int,
    now: datetime,
    params: CoverageParams = CoverageParams(),
    sync_miss_ids: frozenset[int] = frozenset(),
) -> ZeroSplit:
    """Split $0 jobs in the window by why they are $0.

    `sync_miss_ids` are jobs the latest diagnosis found invoiced in ServiceTitan
    but not in the mirror; the rest of the chargeable, past-lag $0 jobs are
    `unexplained` until a diagnosis looks at them.
    """
    row = conn.execute(
        "SELECT"
        " count(*) FILTER (WHERE kind = 'canceled'),"
        " count(*) FILTER (WHERE kind = 'no_charge'),"
        " count(*) FILTER (WHERE kind = 'sync_miss'),"
        " count(*) FILTER (WHERE kind = 'not_finished'),"
        " count(*) FILTER (WHERE kind = 'unexplained')"
        " FROM (SELECT CASE"
        "   WHEN j.job_status = 'Canceled' THEN 'canceled'"
        "   WHEN j.no_charge OR j.recall_for_id IS NOT NULL OR j.warranty_id IS NOT NULL"
        "        OR coalesce(jt.no_charge, false) THEN 'no_charge'"
        "   WHEN j.id = ANY(%(sync_miss)s) THEN 'sync_miss'"
        "   WHEN j.completed_on > %(lag_start)s THEN 'not_finished'"
        "   ELSE 'unexplained' END AS kind"
        + JOIN_TYPES
        + " WHERE j.tenant_id = %(tenant)s AND j.active AND j.invoice_total = 0"
        " AND j.job_status IN ('Completed', 'Canceled')"
        # Completed jobs by completion time, canceled ones (never completed) by booking
        # time: the partial index jobs_zero_total_idx holds exactly this expression.
        " AND coalesce(j.completed_on, j.created_on) > %(start)s"
        " AND coalesce(j.completed_on, j.created_on) <= %(now)s) AS zero",
        {
            "tenant": tenant,
            "start": now - params.window,
            "now": now,
            "lag_start": now - params.expected_lag,
            "sync_miss": sorted(sync_miss_ids),
        },
    ).fetchone()
    assert row is not None
    canceled, no_charge, sync_miss, not_finished, unexplained = (int(v) for v in row)
    return ZeroSplit(
        not_finished=not_finished,
        no_charge=no_charge,
        canceled=canceled,
        sync_miss=sync_miss,
        unexplained=unexplained,
    )
