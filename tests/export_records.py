"""Export-shaped ServiceTitan records for the store's tests, and a page loaded as a sync loads it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from nexus.store.connection import Connection
from nexus.store.guard import mark_sync_run
from nexus.store.loader import Loader
from nexus.store.rows import TableSpec


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def job(
    job_id: int,
    *,
    at: datetime,
    modified: datetime | None = None,
    status: str = "Completed",
    **extra: Any,
) -> dict[str, Any]:
    """A job completed `at`, created a day before, modified `modified` (else `at`)."""
    return {
        "id": job_id,
        "jobNumber": str(job_id),
        "customerId": 1,
        "locationId": 2,
        "jobStatus": status,
        "completedOn": iso(at),
        "createdOn": iso(at - timedelta(days=1)),
        "modifiedOn": iso(modified or at),
        "businessUnitId": 3,
        "jobTypeId": 4,
        "noCharge": False,
        "recallForId": None,
        "warrantyId": None,
        "invoiceId": job_id + 1000,
        "active": True,
        **extra,
    }


def invoice(
    inv_id: int, job_id: int, amount: str, *, at: datetime, active: bool = True, **extra: Any
) -> dict[str, Any]:
    """An invoice of `amount` for job `job_id`, created and modified `at`."""
    return {
        "id": inv_id,
        "referenceNumber": str(job_id),
        "createdOn": iso(at),
        "modifiedOn": iso(at),
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


def load_page(
    conn: Connection, spec: TableSpec, tenant: int, records: list[dict[str, Any]], now: datetime
) -> int:
    """Load one page on `conn` as Nexus's loader does, in a transaction of its own; rows changed."""
    loader = Loader(conn, spec, tenant)
    with conn.transaction():
        mark_sync_run(conn, 1)
        return loader.load(records, now).changed
