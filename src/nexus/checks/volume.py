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

from nexus.stats import Severity
from nexus.store.connection import Connection


@dataclass(frozen=True)
class VolumeParams:
    window_days: int = 28
    min_days: int = 14
    drop_ratio: float = 0.5
    p_value: float = 0.001


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
    params: VolumeParams = VolumeParams(),
) -> Volume:
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    day = today - timedelta(days=1)
    start = day - timedelta(days=params.window_days)
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
    elif ratio is not None and ratio < params.drop_ratio and p_value < params.p_value:
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
