"""Revenue: weekly revenue in the mirror against a reference, and phantom spikes.

Mirror revenue is the invoice total of completed, chargeable jobs, by the
tenant-local ISO week they were completed. The reference (the "sales ledger")
comes from a CSV file, a SQL query, or `nexus.reference_revenue`. Weeks whose
end is still inside the settlement lag are `provisional`.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from nexus import times
from nexus.checks.alert import NONE_FOUND, Alert, Measurement, Model, questions
from nexus.checks.inputs import CheckInputs, CheckResult
from nexus.errors import ConfigError, DatabaseError
from nexus.registry.config import RevenueCheck
from nexus.stats import Severity
from nexus.store.connection import Connection

SETTINGS = "revenue"
DEFAULTS = RevenueCheck()
#: Weeks shown, and the trailing weeks a spike is measured against.
WEEKS = 8
BASELINE_WEEKS = 4
#: A created timestamp shared by at least this many jobs in this many days is looked at.
SAME_CREATED_MIN_ROWS = 100
SAME_CREATED_DAYS = 28


class WeekRevenue(Model):
    week: str = Field(pattern=r"^[0-9]{4}-W[0-9]{2}$", description="ISO week, e.g. 2026-W15.")
    mirror: float
    reference: float | None
    capture: float | None
    provisional: bool


class Spike(Model):
    kind: Literal["week_above_median", "shared_created_timestamp"]
    detail: str
    week: str | None = None
    rows: int | None = None


class RevenueReport(Model):
    reference: str | None
    weeks: tuple[WeekRevenue, ...]
    spikes: tuple[Spike, ...]


@dataclass(frozen=True)
class Revenue:
    weeks: list[WeekRevenue]
    reference_name: str | None
    capture_severity: Severity
    low_weeks: list[str]
    spikes: list[Spike]


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_end(week: str) -> date:
    year, _, num = week.partition("-W")
    return date.fromisocalendar(int(year), int(num), 7)


def mirror_weekly(
    conn: Connection, tenant: int, start: datetime, now: datetime, timezone: str
) -> dict[str, float]:
    rows = conn.execute(
        "SELECT (completed_on AT TIME ZONE %(tz)s)::date, sum(invoice_total) FROM titan.jobs"
        " WHERE tenant_id = %(tenant)s AND active AND job_status = 'Completed'"
        " AND completed_on >= %(start)s AND completed_on <= %(now)s GROUP BY 1",
        {"tz": timezone, "tenant": tenant, "start": start, "now": now},
    ).fetchall()
    weeks: dict[str, float] = defaultdict(float)
    for day, total in rows:
        weeks[iso_week(day)] += float(total or 0)
    return dict(weeks)


def read_reference_csv(path: Path) -> dict[str, float]:
    """Revenue per ISO week from a CSV with a `day` or `week` column and `revenue`."""
    weeks: dict[str, float] = defaultdict(float)
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = set(reader.fieldnames or ())
            if "revenue" not in fields or not fields & {"day", "week"}:
                raise ConfigError(
                    f"{path}: the reference revenue CSV needs a 'revenue' column and a 'day' "
                    f"or 'week' column; it has {', '.join(sorted(fields)) or 'none'}"
                )
            for line, row in enumerate(reader, start=2):
                weeks[_period(row.get("day") or row.get("week") or "", path, line)] += _amount(
                    row["revenue"], path, line
                )
    except OSError as exc:
        raise ConfigError(
            f"cannot read the reference revenue CSV {path}: {exc.strerror}; "
            "fix [reference_revenue].csv in nexus.toml"
        ) from None
    return dict(weeks)


def read_reference_sql(conn: Connection, query: str, tenant: int) -> dict[str, float]:
    """Revenue per ISO week from a query returning (day or 'YYYY-Www', revenue)."""
    weeks: dict[str, float] = defaultdict(float)
    try:
        with conn.transaction():
            rows = conn.execute(query, {"tenant": tenant}).fetchall()
    except DatabaseError as exc:
        raise ConfigError(
            f"the reference revenue query failed: {str(exc).strip().splitlines()[0]}; "
            "fix [reference_revenue].sql in nexus.toml"
        ) from None
    for period, revenue in rows:
        key = iso_week(period) if isinstance(period, date) else _period(str(period), None, 0)
        weeks[key] += float(revenue or 0)
    return dict(weeks)


def read_reference_table(conn: Connection, tenant: int) -> dict[str, float]:
    weeks: dict[str, float] = defaultdict(float)
    for day, revenue in conn.execute(
        "SELECT day, revenue FROM nexus.reference_revenue WHERE tenant_id = %s", (tenant,)
    ):
        weeks[iso_week(day)] += float(revenue)
    return dict(weeks)


def _period(text: str, path: Path | None, line: int) -> str:
    text = text.strip()
    try:
        if "-W" in text:
            week_end(text)
            return text
        return iso_week(date.fromisoformat(text))
    except ValueError:
        where = f"{path}:{line}: " if path else ""
        raise ConfigError(
            f"{where}'{text}' is neither a day (2026-04-13) nor an ISO week (2026-W16)"
        ) from None


def _amount(text: str, path: Path, line: int) -> float:
    try:
        return float(Decimal(text.strip().replace(",", "").lstrip("$")))
    except (InvalidOperation, AttributeError):
        raise ConfigError(f"{path}:{line}: revenue '{text}' is not an amount") from None


def revenue(
    conn: Connection,
    tenant: int,
    now: datetime,
    timezone: str,
    reference: Mapping[str, float] | None,
    reference_name: str | None,
    params: RevenueCheck = DEFAULTS,
) -> Revenue:
    tz = ZoneInfo(timezone)
    local_today = now.astimezone(tz).date()
    first_day = local_today - timedelta(days=local_today.weekday() + 7 * (WEEKS - 1))
    start = datetime.combine(first_day, datetime.min.time(), tz)
    # A little more history than the weeks shown, for the spike baseline.
    history = mirror_weekly(conn, tenant, start - timedelta(weeks=BASELINE_WEEKS), now, timezone)
    weeks = []
    day = first_day
    while day <= local_today:
        week = iso_week(day)
        mirror = round(history.get(week, 0.0), 2)
        ref = None if reference is None else round(reference.get(week, 0.0), 2)
        end = datetime.combine(week_end(week) + timedelta(days=1), datetime.min.time(), tz)
        provisional = end + params.settlement_lag > now
        capture = round(mirror / ref, 4) if ref else None
        weeks.append(
            WeekRevenue(
                week=week, mirror=mirror, reference=ref, capture=capture, provisional=provisional
            )
        )
        day += timedelta(days=7)
    low = [
        w.week
        for w in weeks
        if not w.provisional and w.capture is not None and w.capture < params.min_capture
    ]
    settled = [w for w in weeks if not w.provisional and w.capture is not None]
    severity = Severity.INSUFFICIENT_DATA if not settled else Severity.OK
    if low:
        severity = Severity.CRITICAL if len(low) >= 2 else Severity.WARNING
    found = spikes(conn, tenant, now, history, params, tz)
    return Revenue(weeks, reference_name, severity, low, found)


def spikes(
    conn: Connection,
    tenant: int,
    now: datetime,
    history: Mapping[str, float],
    params: RevenueCheck,
    zone: ZoneInfo,
) -> list[Spike]:
    """Weeks far above their trailing median, and jobs sharing one created timestamp.

    The details are sentences for people: a moment in them reads in `zone`, the tenant's.
    """
    found = []
    ordered = sorted(history)
    for i, week in enumerate(ordered):
        trailing = [history[w] for w in ordered[max(0, i - BASELINE_WEEKS) : i] if history[w] > 0]
        if len(trailing) >= max(2, BASELINE_WEEKS - 1):
            median = statistics.median(trailing)
            if median > 0 and history[week] > params.spike_ratio * median:
                found.append(
                    Spike(
                        kind="week_above_median",
                        detail=f"{week}: ${history[week]:,.0f} is {history[week] / median:.1f}× "
                        f"the trailing median ${median:,.0f}",
                        week=week,
                    )
                )
    days = SAME_CREATED_DAYS
    # The largest group of jobs sharing one created timestamp, and how many jobs were
    # created on that day: no real business books most of a day in the same instant.
    row = conn.execute(
        "WITH stamp AS (SELECT created_on, count(*) AS rows FROM titan.jobs"
        " WHERE tenant_id = %(tenant)s AND created_on > %(start)s AND created_on <= %(now)s"
        " GROUP BY created_on HAVING count(*) >= %(min_rows)s ORDER BY 2 DESC LIMIT 1)"
        " SELECT stamp.created_on, stamp.rows, (SELECT count(*) FROM titan.jobs j"
        "   WHERE j.tenant_id = %(tenant)s AND j.created_on >= stamp.created_on - interval '12h'"
        "   AND j.created_on < stamp.created_on + interval '12h') FROM stamp",
        {
            "tenant": tenant,
            "start": now - timedelta(days=days),
            "now": now,
            "min_rows": SAME_CREATED_MIN_ROWS,
        },
    ).fetchone()
    if row is not None and int(row[1]) >= params.same_created_share * int(row[2]):
        stamp, rows, around = row[0], int(row[1]), int(row[2])
        found.append(
            Spike(
                kind="shared_created_timestamp",
                detail=f"{rows:,} of the {around:,} jobs created within 12 h of "
                f"{times.local(stamp, zone)} share that one created timestamp",
                rows=rows,
            )
        )
    return found


class RevenueResult(CheckResult):
    revenue: RevenueReport


def check(inputs: CheckInputs) -> RevenueResult:
    """Settled weeks whose mirror revenue falls short of the reference; phantom spikes."""
    weeks, name = inputs.reference(inputs.conn)
    rev = revenue(
        inputs.conn,
        inputs.tenant,
        inputs.now,
        inputs.timezone,
        weeks,
        name,
        inputs.settings.revenue,
    )
    report = RevenueReport(
        reference=rev.reference_name, weeks=tuple(rev.weeks), spikes=tuple(rev.spikes)
    )
    return RevenueResult(alerts=tuple(_alerts(rev, inputs)), revenue=report)


def _alerts(rev: Revenue, inputs: CheckInputs) -> list[Alert]:
    alerts = []
    if rev.low_weeks:
        settled = [w for w in rev.weeks if w.week in rev.low_weeks]
        worst = min(settled, key=lambda w: w.capture or 0.0)
        product = inputs.settings.invoice_coverage.product
        cause = inputs.cause(product)
        severity = "critical" if rev.capture_severity is Severity.CRITICAL else "warning"
        alerts.append(
            Alert(
                check="revenue_capture",
                severity=severity,
                status=severity,
                label=f"ST mirror revenue capture vs {rev.reference_name}",
                product=product,
                measurement=Measurement(
                    counts="mirror revenue / reference revenue per settled week",
                    weeks=tuple(rev.low_weeks),
                    worst_week=worst.week,
                    rate=worst.capture,
                    mirror=worst.mirror,
                    reference=worst.reference,
                ),
                probable_cause=cause,
                questions=questions(
                    inputs.db_fresh,
                    True,
                    f"{len(settled)} settled week(s) below the minimum",
                    cause,
                ),
            )
        )
    for spike in rev.spikes:
        alerts.append(
            Alert(
                check="revenue_spike",
                severity="critical",
                status="critical",
                label="Mirror revenue spike"
                if spike.kind == "week_above_median"
                else "Mirror rows sharing one created timestamp",
                product="titan.jobs",
                measurement=Measurement(counts=spike.detail, week=spike.week, n=spike.rows),
                questions=questions(inputs.db_fresh, None, "not a sampled rate", NONE_FOUND),
            )
        )
    return alerts
