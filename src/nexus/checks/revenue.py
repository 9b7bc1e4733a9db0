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
from typing import Any
from zoneinfo import ZoneInfo

from nexus.errors import ConfigError, DatabaseError
from nexus.stats import Severity
from nexus.store.connection import Connection


@dataclass(frozen=True)
class RevenueParams:
    settlement_lag: timedelta = timedelta(days=7)
    spike_ratio: float = 3.0
    same_created_min_rows: int = 100
    min_capture: float = 0.9
    weeks: int = 8
    baseline_weeks: int = 4
    same_created_days: int = 28


@dataclass(frozen=True)
class WeekRevenue:
    week: str  # ISO week, e.g. 2026-W15
    mirror: float
    reference: float | None
    capture: float | None
    provisional: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "mirror": self.mirror,
            "reference": self.reference,
            "capture": self.capture,
            "provisional": self.provisional,
        }


@dataclass(frozen=True)
class Spike:
    kind: str  # week_above_median | shared_created_timestamp
    detail: str
    week: str | None = None
    rows: int | None = None


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
    params: RevenueParams = RevenueParams(),
) -> Revenue:
    tz = ZoneInfo(timezone)
    local_today = now.astimezone(tz).date()
    first_day = local_today - timedelta(days=local_today.weekday() + 7 * (params.weeks - 1))
    start = datetime.combine(first_day, datetime.min.time(), tz)
    # A little more history than the weeks shown, for the spike baseline.
    history = mirror_weekly(
        conn, tenant, start - timedelta(weeks=params.baseline_weeks), now, timezone
    )
    weeks = []
    day = first_day
    while day <= local_today:
        week = iso_week(day)
        mirror = round(history.get(week, 0.0), 2)
        ref = None if reference is None else round(reference.get(week, 0.0), 2)
        end = datetime.combine(week_end(week) + timedelta(days=1), datetime.min.time(), tz)
        provisional = end + params.settlement_lag > now
        capture = round(mirror / ref, 4) if ref else None
        weeks.append(WeekRevenue(week, mirror, ref, capture, provisional))
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
    return Revenue(weeks, reference_name, severity, low, spikes(conn, tenant, now, history, params))


def spikes(
    conn: Connection,
    tenant: int,
    now: datetime,
    history: Mapping[str, float],
    params: RevenueParams,
) -> list[Spike]:
    found = []
    ordered = sorted(history)
    for i, week in enumerate(ordered):
        trailing = [
            history[w] for w in ordered[max(0, i - params.baseline_weeks) : i] if history[w] > 0
        ]
        if len(trailing) >= max(2, params.baseline_weeks - 1):
            median = statistics.median(trailing)
            if median > 0 and history[week] > params.spike_ratio * median:
                found.append(
                    Spike(
                        "week_above_median",
                        f"{week}: ${history[week]:,.0f} is {history[week] / median:.1f}× the "
                        f"trailing median ${median:,.0f}",
                        week=week,
                    )
                )
    days = params.same_created_days
    row = conn.execute(
        "SELECT created_on, count(*) FROM titan.jobs"
        " WHERE tenant_id = %s AND created_on > %s AND created_on <= %s"
        " GROUP BY created_on HAVING count(*) >= %s ORDER BY 2 DESC LIMIT 1",
        (tenant, now - timedelta(days=days), now, params.same_created_min_rows),
    ).fetchone()
    if row is not None:
        # No real business books a hundred jobs in the same instant.
        stamp, rows = row[0], int(row[1])
        found.append(
            Spike(
                "shared_created_timestamp",
                f"{rows:,} jobs created in the last {days} days share one created "
                f"timestamp ({stamp.isoformat()})",
                rows=rows,
            )
        )
    return found
