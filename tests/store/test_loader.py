"""The loader: idempotent upserts, derived invoice totals, and bad records refused whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from nexus.errors import BadRecordError
from nexus.store.database import Database
from nexus.store.guard import mark_sync_run
from nexus.store.loader import Loader
from nexus.store.rows import TABLES

JOBS, INVOICES = TABLES["jobs"], TABLES["invoices"]

T0 = datetime(2026, 4, 1, 12, tzinfo=UTC)
TENANT = 7


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def job(job_id: int, *, modified: datetime = T0, status: str = "Completed", **extra: Any) -> dict:
    return {
        "id": job_id,
        "jobNumber": str(job_id),
        "customerId": 1,
        "locationId": 2,
        "jobStatus": status,
        "completedOn": iso(T0),
        "createdOn": iso(T0 - timedelta(days=1)),
        "modifiedOn": iso(modified),
        "businessUnitId": 3,
        "jobTypeId": 4,
        "noCharge": False,
        "recallForId": None,
        "warrantyId": None,
        "invoiceId": job_id + 1000,
        "active": True,
        **extra,
    }


def invoice(inv_id: int, job_id: int, amount: str, *, active: bool = True, **extra: Any) -> dict:
    return {
        "id": inv_id,
        "referenceNumber": str(job_id),
        "createdOn": iso(T0),
        "modifiedOn": iso(T0),
        "subTotal": amount,
        "salesTax": "0.00",
        "total": amount,
        "balance": amount,
        "job": {"id": job_id, "number": str(job_id), "type": "Service"},
        "customer": {"id": 1, "name": "Ada"},
        "businessUnit": {"id": 3, "name": "Plumbing"},
        "active": active,
        "invoiceConfiguration": "JobInvoice",
        **extra,
    }


def load(db: Database, spec: Any, records: list[dict], now: datetime = T0) -> int:
    with db.connect(autocommit=True) as conn:
        loader = Loader(conn, spec, TENANT)
        with conn.transaction():
            mark_sync_run(conn, 1)
            return loader.load(records, now).changed


def jobs_state(db: Database) -> dict[int, tuple[Any, ...]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, invoice_total, job_status, updated_at FROM titan.jobs WHERE tenant_id = %s",
            (TENANT,),
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_reloading_the_same_records_changes_nothing(db: Database) -> None:
    records = [job(1), job(2), job(3)]
    assert load(db, JOBS, records) == 3
    before = jobs_state(db)
    assert load(db, JOBS, records, now=T0 + timedelta(hours=1)) == 0
    assert jobs_state(db) == before


def test_a_newer_version_updates_and_an_older_one_never_overwrites(db: Database) -> None:
    load(db, JOBS, [job(1, status="InProgress")])
    newer = job(1, status="Completed", modified=T0 + timedelta(hours=2))
    assert load(db, JOBS, [newer], now=T0 + timedelta(hours=2)) == 1
    stale = job(1, status="Hold", modified=T0 + timedelta(hours=1))
    assert load(db, JOBS, [stale], now=T0 + timedelta(hours=3)) == 0
    assert jobs_state(db)[1][1] == "Completed"
    assert jobs_state(db)[1][2] == T0 + timedelta(hours=2)


def test_a_record_repeated_within_a_page_keeps_its_newest_version(db: Database) -> None:
    page = [job(1, status="Completed", modified=T0 + timedelta(hours=1)), job(1, status="Hold")]
    assert load(db, JOBS, page) == 1
    assert jobs_state(db)[1][1] == "Completed"


def test_invoice_total_is_derived_whichever_feed_arrives_first(db: Database) -> None:
    # Invoices first: job 2 does not exist yet, so its total waits for the job.
    load(db, INVOICES, [invoice(11, 1, "0.00"), invoice(12, 2, "250.00")])
    load(db, JOBS, [job(1), job(2), job(3)])
    totals = {k: v[0] for k, v in jobs_state(db).items()}
    assert totals == {1: Decimal("0.00"), 2: Decimal("250.00"), 3: Decimal("0")}
    # The invoice is finished later, an adjustment lands, an inactive one is ignored.
    load(
        db,
        INVOICES,
        [
            invoice(11, 1, "380.50", modifiedOn=iso(T0 + timedelta(hours=1))),
            invoice(13, 1, "-30.50", adjustmentToId=11),
            invoice(14, 1, "999.00", active=False),
        ],
    )
    assert jobs_state(db)[1][0] == Decimal("350.00")


def test_a_bad_record_fails_the_whole_page_and_names_feed_record_and_field(db: Database) -> None:
    page = [invoice(11, 1, "10.00"), invoice(12, 2, "7.00", total="abc"), invoice(13, 3, "5.00")]
    with pytest.raises(BadRecordError) as info:
        load(db, INVOICES, page)
    message = str(info.value)
    assert "invoices feed" in message and "id=12" in message and "'total'" in message
    assert "'abc'" in message
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM titan.invoices").fetchone()[0] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("id", "17", "expected an integer id"),
        ("createdOn", None, "is missing"),
        ("completedOn", "yesterday", "ISO 8601"),
        ("noCharge", "no", "true or false"),
        ("customerId", 1.5, "expected an integer"),
    ],
)
def test_each_kind_of_bad_job_field_is_named(field: str, value: Any, expected: str) -> None:
    record = job(5)
    record[field] = value
    with pytest.raises(BadRecordError) as info:
        JOBS.flatten(record)
    assert info.value.field == field
    assert expected in str(info.value)


def test_concurrent_job_and_invoice_pages_never_lose_a_derived_total(db: Database) -> None:
    """Each load reads the other feed's rows; the loader makes them take turns."""
    import threading

    rounds = 40
    for r in range(rounds):
        base = 1000 * (r + 1)
        jobs = [job(base + i) for i in range(20)]
        invoices = [invoice(base + 500 + i, base + i, f"{i + 1}.00") for i in range(20)]
        barrier = threading.Barrier(2)

        def run(spec: Any, records: list[dict], barrier: threading.Barrier) -> None:
            with db.connect(autocommit=True) as conn:
                loader = Loader(conn, spec, TENANT)
                with conn.transaction():
                    mark_sync_run(conn, 1)
                    barrier.wait()
                    loader.load(records, T0)

        threads = [
            threading.Thread(target=run, args=(JOBS, jobs, barrier)),
            threading.Thread(target=run, args=(INVOICES, invoices, barrier)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    totals = {k: v[0] for k, v in jobs_state(db).items()}
    expected = {
        1000 * (r + 1) + i: Decimal(f"{i + 1}.00") for r in range(rounds) for i in range(20)
    }
    assert totals == expected
