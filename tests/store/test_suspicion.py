"""The checks a page meets before it is loaded: a surge of new jobs, a revenue spike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import export_records as records
from export_records import iso, load_page
from nexus.store.database import Database
from nexus.store.loader import flatten
from nexus.store.rows import TABLES, TableSpec
from nexus.store.suspicion import SuspicionParams, suspect

JOBS, INVOICES = TABLES["jobs"], TABLES["invoices"]
TENANT = 7
#: a Monday noon: the weeks below start on the Mondays before it
T0 = datetime(2026, 4, 6, 12, tzinfo=UTC)


def job(job_id: int, *, created: datetime, completed: datetime | None = None) -> dict[str, Any]:
    """A job created `created`, and completed `completed` if given (else scheduled)."""
    return records.job(
        job_id,
        at=completed or created,
        modified=created,
        status="Completed" if completed else "Scheduled",
        createdOn=iso(created),
        completedOn=None if completed is None else iso(completed),
    )


def invoice(inv_id: int, job_id: int, total: int, *, created: datetime) -> dict[str, Any]:
    return records.invoice(inv_id, job_id, f"{total}.00", at=created)


def load(db: Database, spec: TableSpec, page: list[dict[str, Any]]) -> None:
    with db.connect(autocommit=True) as conn:
        load_page(conn, spec, TENANT, page, T0)


def judged(db: Database, spec: TableSpec, records: list[dict[str, Any]], **kw: Any) -> Any:
    with db.connect(autocommit=True) as conn:
        return suspect(conn, spec, TENANT, flatten(spec, records), backfill=False, **kw)


def staggered_jobs(ids: range) -> list[dict[str, Any]]:
    """Jobs created a minute apart: no shared created timestamp."""
    return [job(i, created=T0 - timedelta(minutes=i)) for i in ids]


FLOOR = SuspicionParams().new_jobs_floor


@pytest.mark.parametrize(
    ("in_run", "page", "already", "surge"),
    [
        (FLOOR - 41, 40, 0, False),  # all new, one short of the floor
        (FLOOR - 40, 40, 0, False),  # all new, at the floor exactly: not above it
        (FLOOR - 39, 40, 0, True),  # all new, one above
        (FLOOR - 20, 40, 30, False),  # above the floor were every row new; 30 are not
        (FLOOR - 29, 40, 10, True),  # 30 of 40 new: one above
    ],
)
def test_new_jobs_above_the_floor_in_one_run_are_a_surge(
    db: Database, in_run: int, page: int, already: int, surge: bool
) -> None:
    records = staggered_jobs(range(1, page + 1))
    if already:
        load(db, JOBS, records[:already])
    found = judged(db, JOBS, records, run_new_jobs=in_run)
    assert (found is not None and found.kind == "new_jobs_surge") is surge
    if surge:
        assert f"would add {FLOOR + 1} new jobs" in found.reason


def test_a_surge_is_judged_against_what_the_feed_normally_brings(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO nexus.runs (tenant_id, producer, started_at, finished_at, status,"
            " rows_read, rows_changed) SELECT %s, 'job_sync', %s - n * interval '15 minutes',"
            " %s, 'succeeded', 40, 40 FROM generate_series(1, 20) n",
            (TENANT, T0, T0),
        )
    records = staggered_jobs(range(1, 41))
    # Usually 40 a run: the limit is 20 × 40 = 800 new jobs, not the floor of 500.
    assert judged(db, JOBS, records, run_new_jobs=760) is None
    found = judged(db, JOBS, records, run_new_jobs=761)
    assert found is not None and found.kind == "new_jobs_surge"


def completed_weeks(db: Database, weekly: list[int]) -> None:
    """One completed job a week with an invoice of `weekly[k]`, k weeks before T0's week."""
    jobs, invoices = [], []
    for k, total in enumerate(weekly, start=1):
        when = T0 - timedelta(weeks=k)
        jobs.append(job(100 + k, created=when - timedelta(hours=k), completed=when))
        invoices.append(invoice(200 + k, 100 + k, total, created=when))
    load(db, JOBS, jobs)
    load(db, INVOICES, invoices)


def this_weeks_job(db: Database, job_id: int = 1) -> None:
    load(db, JOBS, [job(job_id, created=T0 - timedelta(hours=3), completed=T0)])


@pytest.mark.parametrize(("total", "spike"), [(3000, False), (3101, True)])
def test_invoices_lifting_a_week_far_above_its_trailing_median_are_a_spike(
    db: Database, total: int, spike: bool
) -> None:
    completed_weeks(db, [1000, 1000, 1100, 900, 1000])  # trailing median 1,000
    this_weeks_job(db)
    # The week would hold `total`; a spike needs more than 3 × 1,000 (and more than 1,000 added).
    found = judged(db, INVOICES, [invoice(1, 1, total, created=T0)])
    assert (found is not None and found.kind == "revenue_spike") is spike
    if spike:
        assert "week of 2026-04-06" in found.reason and "median of $1,000" in found.reason


def test_a_spike_counts_only_what_an_invoice_adds_over_its_mirrored_version(
    db: Database,
) -> None:
    completed_weeks(db, [1000, 1000, 1000, 1000])
    this_weeks_job(db)
    load(db, INVOICES, [invoice(1, 1, 2500, created=T0)])
    # Re-sent at 3,500 the week goes from 2,500 to 3,500, but it adds only 1,000: not more
    # than the median.
    assert judged(db, INVOICES, [invoice(1, 1, 3500, created=T0)]) is None
    assert judged(db, INVOICES, [invoice(2, 1, 1001, created=T0)]) is not None


def test_no_spike_without_enough_weeks_of_history(db: Database) -> None:
    completed_weeks(db, [1000, 1000, 1000])  # three trailing weeks; four are needed
    this_weeks_job(db)
    assert judged(db, INVOICES, [invoice(1, 1, 50_000, created=T0)]) is None


def test_a_spike_looks_back_eight_weeks_only(db: Database) -> None:
    # Weeks 9–12 back were large; within the eight weeks before, four ordinary ones.
    completed_weeks(db, [1000, 1000, 1000, 1000, 0, 0, 0, 0, 9000, 9000, 9000, 9000])
    this_weeks_job(db)
    assert judged(db, INVOICES, [invoice(1, 1, 3500, created=T0)]) is not None
