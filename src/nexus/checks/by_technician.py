"""Invoice coverage by technician: the whole-tenant coverage gap, sliced by who did the work.

The population is the invoice coverage check's (completed chargeable jobs in
its window, past its grace period), joined to the mirrored technician
assignments; a job worked by two technicians counts for each. Every
technician's share of jobs without an invoice total is judged with the
coverage check's own threshold and minimum n, so the slice declares no
settings of its own.

The slice gives at most two alerts, never one per technician: its verdict,
and the noise beside it. A technician whose gap is past the threshold beyond
doubt (its whole 95 % interval) on enough jobs is a warning that names them —
and, when lineage finds a cause upstream (a retired invoice sync), it carries
that cause, so it is grouped as one more symptom of it. When every technician
has fewer jobs than the minimum, the verdict is `insufficient_data`: noise,
since nobody can be blamed on so few jobs. Beside technicians with enough
jobs, the highest rate past the threshold on fewer jobs than the minimum (an
apprentice's 3 of 5) is the noise alert: the rate a per-technician table
would blame someone for, labelled too few to judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from nexus.checks.alert import NONE_FOUND, Alert, Measurement, Model, interval, questions
from nexus.checks.coverage import CHARGEABLE, JOIN_TYPES
from nexus.checks.inputs import CheckInputs, CheckResult
from nexus.registry.config import InvoiceCoverageCheck
from nexus.stats import Rate, Severity, severity_above, wilson
from nexus.store.connection import Connection

LABEL = "ST mirror invoice coverage gap by technician"
COUNTS = "completed jobs without an invoice total"
RANK = {
    Severity.CRITICAL: 4,
    Severity.WARNING: 3,
    Severity.OK: 2,
    Severity.INFO: 2,
    Severity.INSUFFICIENT_DATA: 1,
}


class TechnicianCoverage(Model):
    """One technician's completed chargeable jobs in the window, and how many lack a total."""

    technician_id: int
    name: str
    status: Severity
    n: int
    k: int
    rate: float
    ci_low: float
    ci_high: float


class ByTechnicianResult(CheckResult):
    coverage_by_technician: tuple[TechnicianCoverage, ...]


def coverage_by_technician(
    conn: Connection, tenant: int, now: datetime, params: InvoiceCoverageCheck
) -> list[TechnicianCoverage]:
    """Each assigned technician's coverage gap, worst first, then by sample size."""
    rows = conn.execute(
        "SELECT a.technician_id, coalesce(max(t.name), max(a.technician_name)),"
        " count(DISTINCT j.id), count(DISTINCT j.id) FILTER (WHERE j.invoice_total = 0)"
        + JOIN_TYPES
        + " JOIN titan.appointment_assignments a ON a.tenant_id = j.tenant_id"
        " AND a.job_id = j.id AND a.active"
        " LEFT JOIN titan.technicians t ON t.tenant_id = a.tenant_id AND t.id = a.technician_id"
        " WHERE" + CHARGEABLE + " AND j.completed_on <= %(cutoff)s GROUP BY a.technician_id",
        {
            "tenant": tenant,
            "start": now - params.window,
            "now": now,
            "cutoff": now - params.grace,
        },
    ).fetchall()
    slices = []
    for technician_id, name, n, k in rows:
        gap = wilson(int(k), int(n))
        slices.append(
            TechnicianCoverage(
                technician_id=int(technician_id),
                name=name or f"technician {technician_id}",
                status=_judged(gap, params),
                n=gap.n,
                k=gap.k,
                **interval(gap),
            )
        )
    return sorted(slices, key=lambda s: (-RANK[s.status], -s.rate, -s.n, s.technician_id))


def _judged(gap: Rate, params: InvoiceCoverageCheck) -> Severity:
    """A technician is named only when their gap is past the threshold beyond doubt.

    With a dozen technicians, one of them lands above the threshold by chance
    most weeks; naming them on a point estimate is the label that blamed the
    technicians. Their 95 % interval must lie wholly above it, and even then it is
    a warning: the tenant-wide check carries the critical.
    """
    severity = severity_above(gap, params.threshold, params.min_n)
    if severity is Severity.CRITICAL:
        return Severity.WARNING
    if severity is Severity.WARNING:
        return Severity.OK
    return severity


def check(inputs: CheckInputs) -> ByTechnicianResult:
    """The coverage gap per technician: the slice's verdict, and the noise beside it."""
    params = inputs.settings.invoice_coverage
    slices = coverage_by_technician(inputs.conn, inputs.tenant, inputs.now, params)
    alerts = (_verdict(slices, params, inputs), _noise(slices, params, inputs))
    return ByTechnicianResult(
        alerts=tuple(a for a in alerts if a is not None), coverage_by_technician=tuple(slices)
    )


def _verdict(
    slices: list[TechnicianCoverage], params: InvoiceCoverageCheck, inputs: CheckInputs
) -> Alert | None:
    """A technician past the threshold beyond doubt; or noise when every one has too few jobs."""
    if not slices:
        return None
    worst = slices[0]
    if worst.status in (Severity.CRITICAL, Severity.WARNING):
        flagged = [s for s in slices if s.status is worst.status]
        others = f" ({len(flagged) - 1} more at {worst.status.value})" if len(flagged) > 1 else ""
        counts = f"{COUNTS} by {worst.name}, the worst of {len(slices)} technicians{others}"
        sample = f"{worst.name} has n={worst.n} completed chargeable jobs; the minimum is "
        return _slice_alert(worst, worst.status, counts, sample, params, inputs)
    if all(s.status is Severity.INSUFFICIENT_DATA for s in slices):
        largest = max(slices, key=lambda s: (s.n, -s.technician_id))
        counts = (
            f"{COUNTS} by {largest.name}, the busiest of {len(slices)} technicians — noise: "
            f"every technician has n < {params.min_n}"
        )
        sample = f"the busiest technician, {largest.name}, has n={largest.n}; the minimum is "
        return _slice_alert(largest, Severity.INSUFFICIENT_DATA, counts, sample, params, inputs)
    return None


def _noise(
    slices: list[TechnicianCoverage], params: InvoiceCoverageCheck, inputs: CheckInputs
) -> Alert | None:
    """Beside technicians with enough jobs, a rate past the threshold on too few to judge."""
    if all(s.status is Severity.INSUFFICIENT_DATA for s in slices):
        return None  # the verdict says it already: the whole slice is noise
    shown = loudest_small_sample(slices, params.threshold)
    if shown is None:
        return None
    small = sum(1 for s in slices if s.status is Severity.INSUFFICIENT_DATA)
    others = f"; {small - 1} more technicians have too few jobs" if small > 1 else ""
    counts = (
        f"{COUNTS} by {shown.name}, {shown.k} of {shown.n} — noise: n={shown.n} < "
        f"{params.min_n}{others}"
    )
    sample = f"{shown.name} has n={shown.n} completed chargeable jobs; the minimum is "
    return _slice_alert(shown, Severity.INSUFFICIENT_DATA, counts, sample, params, inputs)


def loudest_small_sample(
    slices: Sequence[TechnicianCoverage], threshold: float
) -> TechnicianCoverage | None:
    """The highest rate past `threshold` on too few jobs to judge: what a table would blame."""
    small = [s for s in slices if s.status is Severity.INSUFFICIENT_DATA and s.rate > threshold]
    return max(small, key=lambda s: (s.rate, s.n, -s.technician_id), default=None)


def _slice_alert(
    shown: TechnicianCoverage,
    status: Severity,
    counts: str,
    sample: str,
    params: InvoiceCoverageCheck,
    inputs: CheckInputs,
) -> Alert:
    insufficient = status is Severity.INSUFFICIENT_DATA
    # Lineage explains a gap on enough jobs; a sample too small to judge explains nothing.
    cause = NONE_FOUND if insufficient else inputs.cause(params.product)
    start, end = inputs.now - params.window, inputs.now - params.grace
    return Alert(
        check="invoice_coverage_by_technician",
        severity="info" if insufficient else status.value,
        status=status.value,
        label=LABEL,
        product=params.product,
        measurement=Measurement(
            counts=counts,
            n=shown.n,
            k=shown.k,
            rate=shown.rate,
            ci_low=shown.ci_low,
            ci_high=shown.ci_high,
            window=f"{start.isoformat()}/{end.isoformat()}",
        ),
        threshold=params.threshold,
        probable_cause=cause,
        questions=questions(inputs.db_fresh, not insufficient, f"{sample}{params.min_n}", cause),
    )
