"""Export-shaped ServiceTitan records for the store's tests, and a page loaded as a sync loads it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.store.guard import mark_sync_run
from nexus.store.loader import SMALL_PAGE_ROWS, Loader
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
    conn: Connection,
    spec: TableSpec,
    tenant: int,
    records: list[dict[str, Any]],
    now: datetime,
    *,
    one_batch_rows: int = SMALL_PAGE_ROWS,
) -> int:
    """Load one page on `conn` as Nexus's loader does, in a transaction of its own; rows changed.

    `one_batch_rows` as for `Loader`: 0 sends even a small page the way a big one goes."""
    loader = Loader(conn, spec, tenant, one_batch_rows=one_batch_rows)
    with conn.transaction():
        mark_sync_run(conn, 1)
        return loader.load(records, now).changed


def whole_rows(
    db: Database, spec: TableSpec, tenant: int | None = None, *, leave_out: tuple[str, ...] = ()
) -> dict[Any, tuple[Any, ...]]:
    """Every column of `spec`'s table but `leave_out`, by key.

    With `tenant`, that tenant's rows without their `tenant_id`, so two tenants' rows
    compare; without, every tenant's, keyed by `tenant_id` and the feed's key.
    """
    schema, table = spec.table.split(".")
    skipped = (*leave_out, "tenant_id") if tenant is not None else leave_out
    with db.connect() as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (schema, table),
            )
            if r[0] not in skipped
        ]
        columns = ", ".join(f'"{n}"' for n in names)
        if tenant is None:
            rows = conn.execute(f"SELECT {columns} FROM {spec.table}").fetchall()
        else:
            query = f"SELECT {columns} FROM {spec.table} WHERE tenant_id = %s"
            rows = conn.execute(query, (tenant,)).fetchall()
    key = spec.key if tenant is not None else ("tenant_id", *spec.key)
    index = [names.index(k) for k in key]
    return {tuple(r[i] for i in index): tuple(r) for r in rows}
