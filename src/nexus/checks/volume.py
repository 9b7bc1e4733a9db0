"""Volume: jobs completed on the last full day against a trailing baseline.

The baseline is the median of the preceding business days (days with at
least one completed job) and never includes the day under test. A day is a
warning only when it is both far below the baseline and improbable under a
Poisson count with the baseline's mean — so an ordinary slow Thursday stays
quiet. Too little history is `insufficient_data`, not a verdict.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from nexus.checks.alert import NONE_FOUND, Alert, Measurement, Model, questions
from nexus.checks.inputs import CheckInputs, CheckResult
from nexus.registry.config import VolumeCheck
from nexus.stats import Severity
from nexus.store.connection import Connection

SETTINGS = "volume"
DEFAULTS = VolumeCheck()
#: A drop must also be this improbable under a Poisson count with the baseline's mean.
P_VALUE = 0.001


@dataclass(frozen=True)
class Volume:
    day: date
    completed: int
    baseline: float | None
    history_days: int
    ratio: float | None
    p_value: float | None
    severity: Severity


def volume(
    conn: Connection,
    tenant: int,
    now: datetime,
    timezone: str,
    params: VolumeCheck = DEFAULTS,
) -> Volume:
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    day = today - timedelta(days=1)
    start = day - timedelta(days=max(1, params.window.days))
    rows = conn.execute(
        "SELECT (completed_on AT TIME ZONE %(tz)s)::date AS d, count(*) FROM titan.jobs"
        " WHERE tenant_id = %(tenant)s AND active AND job_status = 'Completed'"
        " AND completed_on >= %(lo)s AND completed_on < %(hi)s GROUP BY 1",
        {
            "tz": timezone,
            "tenant": tenant,
            "lo": datetime.combine(start, datetime.min.time(), tz),
            "hi": datetime.combine(today, datetime.min.time(), tz),
        },
    ).fetchall()
    counts = {r[0]: int(r[1]) for r in rows}
    tested = counts.get(day, 0)
    history = [c for d, c in counts.items() if d < day and c > 0]
    weekday_open = any(d.weekday() == day.weekday() and c > 0 for d, c in counts.items() if d < day)
    if len(history) < params.min_days:
        return Volume(day, tested, None, len(history), None, None, Severity.INSUFFICIENT_DATA)
    baseline = float(statistics.median(history))
    ratio = tested / baseline if baseline else None
    p_value = poisson_cdf(tested, baseline)
    if not weekday_open and tested == 0:
        severity = Severity.OK  # a day the business is normally closed
    elif ratio is not None and ratio < params.drop_ratio and p_value < P_VALUE:
        severity = Severity.WARNING
    else:
        severity = Severity.OK
    return Volume(day, tested, baseline, len(history), ratio, p_value, severity)


def poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean)."""
    term = math.exp(-mean)
    total = term
    for i in range(1, k + 1):
        term *= mean / i
        total += term
    return min(1.0, total)


class VolumeReport(Model):
    day: date
    completed: int
    baseline: float | None
    history_days: int
    ratio: float | None
    p_value: float | None
    severity: Severity


class VolumeResult(CheckResult):
    volume: VolumeReport


def check(inputs: CheckInputs) -> VolumeResult:
    """A warning when yesterday's completed jobs fell far and improbably below the baseline."""
    vol = volume(inputs.conn, inputs.tenant, inputs.now, inputs.timezone, inputs.settings.volume)
    report = VolumeReport(
        day=vol.day,
        completed=vol.completed,
        baseline=vol.baseline,
        history_days=vol.history_days,
        ratio=None if vol.ratio is None else round(vol.ratio, 3),
        p_value=None if vol.p_value is None else round(vol.p_value, 6),
        severity=vol.severity,
    )
    if vol.severity is not Severity.WARNING:
        return VolumeResult(volume=report)
    alert = Alert(
        check="volume",
        severity="warning",
        status="warning",
        label="Jobs completed per day vs trailing baseline",
        product="titan.jobs",
        measurement=Measurement(
            counts=f"{vol.completed} jobs completed on {vol.day.isoformat()} against a "
            f"baseline of {vol.baseline:g} a day (p = {vol.p_value:.4f})",
            n=vol.completed,
            baseline=vol.baseline,
            ratio=vol.ratio,
            history_days=vol.history_days,
        ),
        questions=questions(
            inputs.db_fresh, True, f"baseline from {vol.history_days} business days", NONE_FOUND
        ),
    )
    return VolumeResult(alerts=(alert,), volume=report)
