"""Invoice coverage: how many completed, chargeable jobs carry no invoice total.

The population is completed jobs in the window, minus canceled and no-charge
work (job flag, job type flag, recall, warranty), minus jobs completed within
the grace period (counted and reported, since their invoices are normally
still being written). k is the jobs without a non-zero `invoice_total`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from nexus.checks.alert import NONE_FOUND, Alert, Measurement, Model, interval, questions
from nexus.checks.inputs import CheckInputs, CheckResult
from nexus.registry.config import InvoiceCoverageCheck
from nexus.stats import Rate, Severity, severity_above, wilson
from nexus.store.connection import Connection

SETTINGS = "invoice_coverage"
LABEL = "ST mirror invoice coverage gap"
DEFAULTS = InvoiceCoverageCheck()

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
class Coverage:
    gap: Rate  # k = jobs without an invoice total, of n
    excluded_recent: int
    severity: Severity
    window_start: datetime
    window_end: datetime
    params: InvoiceCoverageCheck


@dataclass(frozen=True)
class DayCoverage:
    day: date
    completed: int
    with_total: int
    rate: Rate  # with_total of completed


class CoverageDay(Model):
    day: date
    completed: int
    with_total: int
    rate: float
    ci_low: float
    ci_high: float


class CoverageSummary(Model):
    """The coverage measurement the story and the pages read, alert or not."""

    status: Severity
    n: int
    k: int
    rate: float
    ci_low: float
    ci_high: float
    threshold: float
    min_n: int
    window_start: datetime
    window_end: datetime
    excluded_recent: int
    grace_s: int


class ZeroInvoiceSplit(Model):
    sync_miss: int
    not_finished: int
    no_charge: int
    canceled: int
    unexplained: int


class CoverageResult(CheckResult):
    coverage: CoverageSummary
    coverage_by_day: tuple[CoverageDay, ...]
    zero_invoice_split: ZeroInvoiceSplit


def invoice_coverage(
    conn: Connection, tenant: int, now: datetime, params: InvoiceCoverageCheck = DEFAULTS
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


def zero_invoice_split(
    conn: Connection,
    tenant: int,
    now: datetime,
    params: InvoiceCoverageCheck = DEFAULTS,
    sync_miss_ids: frozenset[int] = frozenset(),
) -> ZeroInvoiceSplit:
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
    return ZeroInvoiceSplit(
        not_finished=not_finished,
        no_charge=no_charge,
        canceled=canceled,
        sync_miss=sync_miss,
        unexplained=unexplained,
    )


def check(inputs: CheckInputs) -> CoverageResult:
    """Completed, chargeable jobs without an invoice total, as a rate with its interval."""
    params = inputs.settings.invoice_coverage
    conn, tenant, now = inputs.conn, inputs.tenant, inputs.now
    coverage = invoice_coverage(conn, tenant, now, params)
    gap = coverage.gap
    days = coverage_by_day(conn, tenant, now, inputs.timezone)
    return CoverageResult(
        alerts=tuple(_alerts(coverage, inputs)),
        coverage=CoverageSummary(
            status=coverage.severity,
            n=gap.n,
            k=gap.k,
            **interval(gap),
            threshold=params.threshold,
            min_n=params.min_n,
            window_start=coverage.window_start,
            window_end=coverage.window_end,
            excluded_recent=coverage.excluded_recent,
            grace_s=int(params.grace.total_seconds()),
        ),
        coverage_by_day=tuple(
            CoverageDay(
                day=d.day,
                completed=d.completed,
                with_total=d.with_total,
                **interval(d.rate),
            )
            for d in days
        ),
        zero_invoice_split=zero_invoice_split(conn, tenant, now, params, inputs.sync_miss_ids),
    )


def _alerts(coverage: Coverage, inputs: CheckInputs) -> list[Alert]:
    severity = coverage.severity
    if severity is Severity.OK:
        return []
    gap, params = coverage.gap, coverage.params
    insufficient = severity is Severity.INSUFFICIENT_DATA
    cause = NONE_FOUND if insufficient else inputs.cause(params.product)
    return [
        Alert(
            check="invoice_coverage",
            severity="info" if insufficient else severity.value,
            status=severity.value,
            label=LABEL,
            product=params.product,
            measurement=Measurement(
                counts="completed jobs without an invoice total",
                n=gap.n,
                k=gap.k,
                **interval(gap),
                window=f"{coverage.window_start.isoformat()}/{coverage.window_end.isoformat()}",
                excluded_recent=coverage.excluded_recent,
            ),
            threshold=params.threshold,
            probable_cause=cause,
            questions=questions(
                inputs.db_fresh,
                gap.n >= params.min_n,
                f"n={gap.n} completed chargeable jobs; the minimum is {params.min_n}",
                cause,
            ),
        )
    ]
