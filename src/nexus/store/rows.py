"""How a ServiceTitan record becomes a mirror row.

Each mirrored table is declared once: its typed columns and a function that
flattens one API record into them. Money strings become `Decimal`, nested refs
(`invoice.job.id`, `invoice.customer.id`) become flat ids, and any value that
breaks the contract raises `BadRecordError` naming the feed, record and field —
before anything of its page reaches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from nexus.errors import BadRecordError

Record = Mapping[str, Any]
Row = tuple[Any, ...]


@dataclass(frozen=True)
class TableSpec:
    """A mirrored table: its name, typed columns (with Postgres types) and flattener."""

    feed: str
    table: str
    columns: tuple[tuple[str, str], ...]
    flatten: Callable[[Record], Row]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(kind for _, kind in self.columns)


class _Reader:
    """Typed field access on one record; failures name the feed, record and field."""

    __slots__ = ("feed", "rec")

    def __init__(self, feed: str, rec: Record) -> None:
        self.feed = feed
        self.rec = rec

    def fail(self, field: str, problem: str) -> BadRecordError:
        return BadRecordError(self.feed, self.rec.get("id", "?"), field, problem)

    def id(self) -> int:
        value = self.rec.get("id")
        if type(value) is not int:
            raise self.fail("id", f"expected an integer id, got {_show(value)}")
        return value

    def integer(self, field: str, required: bool = False) -> int | None:
        value = self.rec.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is missing")
            return None
        if type(value) is not int:
            raise self.fail(field, f"expected an integer, got {_show(value)}")
        return value

    def ref(self, field: str) -> int | None:
        """The id inside a nested ref such as `job: {id, number}`."""
        value = self.rec.get(field)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(field, f"expected an object with an id, got {_show(value)}")
        ref_id = value.get("id")
        if ref_id is not None and type(ref_id) is not int:
            raise self.fail(f"{field}.id", f"expected an integer, got {_show(ref_id)}")
        return ref_id

    def ref_text(self, field: str, key: str) -> str | None:
        value = self.rec.get(field)
        if not isinstance(value, dict):
            return None
        inner = value.get(key)
        return None if inner is None else str(inner)

    def text(self, field: str) -> str | None:
        value = self.rec.get(field)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise self.fail(field, f"expected text, got {_show(value)}")

    def flag(self, field: str, default: bool | None = None) -> bool:
        value = self.rec.get(field, default)
        if value is None and default is not None:
            return default
        if type(value) is not bool:
            raise self.fail(field, f"expected true or false, got {_show(value)}")
        return value

    def time(self, field: str, required: bool = False) -> datetime | None:
        value = self.rec.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is missing")
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"expected an ISO 8601 date-time, got {_show(value)}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(field, f"expected an ISO 8601 date-time, got {_show(value)}") from None
        if parsed.tzinfo is None:
            # The API documents every timestamp as UTC, with or without the "Z".
            from datetime import UTC

            parsed = parsed.replace(tzinfo=UTC)
        return parsed

    def money(self, field: str) -> Decimal | None:
        """Money arrives as a JSON string ("123.45") or, on some endpoints, a number."""
        value = self.rec.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(field, f"expected an amount, got {_show(value)}")
        try:
            amount = Decimal(value) if isinstance(value, str) else Decimal(str(value))
        except InvalidOperation:
            raise self.fail(
                field, f'expected an amount such as "12.50", got {_show(value)}'
            ) from None
        if not amount.is_finite():
            raise self.fail(field, f"expected a finite amount, got {_show(value)}")
        return amount

    def status_name(self, field: str) -> str | None:
        """Estimate status arrives as `{value, name}`; older payloads send a bare string."""
        value = self.rec.get(field)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, dict):
            name = value.get("name")
            return None if name is None else str(name)
        raise self.fail(field, f"expected a status, got {_show(value)}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _job(rec: Record) -> Row:
    r = _Reader("jobs", rec)
    return (
        r.id(),
        r.text("jobNumber"),
        r.integer("customerId"),
        r.integer("locationId"),
        r.text("jobStatus") or _missing(r, "jobStatus"),
        r.time("completedOn"),
        r.time("createdOn", required=True),
        r.time("modifiedOn", required=True),
        r.integer("businessUnitId"),
        r.integer("jobTypeId"),
        r.flag("noCharge", default=False),
        r.integer("recallForId"),
        r.integer("warrantyId"),
        r.integer("invoiceId"),
        r.integer("projectId"),
        r.money("total"),
        r.flag("active", default=True),
    )


def _invoice(rec: Record) -> Row:
    r = _Reader("invoices", rec)
    return (
        r.id(),
        r.text("referenceNumber"),
        r.time("invoiceDate"),
        r.time("createdOn", required=True),
        r.time("modifiedOn"),
        r.money("subTotal"),
        r.money("salesTax"),
        r.money("total"),
        r.money("balance"),
        r.ref("job"),
        r.ref_text("job", "number"),
        r.ref("customer"),
        r.ref("location"),
        r.ref("businessUnit"),
        r.integer("adjustmentToId"),
        r.integer("projectId"),
        r.text("invoiceConfiguration"),
        r.flag("active", default=True),
    )


def _customer(rec: Record) -> Row:
    r = _Reader("customers", rec)
    return (
        r.id(),
        r.text("name"),
        r.text("type"),
        r.flag("active", default=True),
        r.integer("mergedToId"),
        r.money("balance"),
        r.time("createdOn", required=True),
        r.time("modifiedOn", required=True),
    )


def _estimate(rec: Record) -> Row:
    r = _Reader("estimates", rec)
    return (
        r.id(),
        r.integer("jobId"),
        r.integer("projectId"),
        r.text("name"),
        r.status_name("status"),
        r.time("soldOn"),
        r.money("subtotal"),
        r.money("tax"),
        r.flag("active", default=True),
        r.time("createdOn", required=True),
        r.time("modifiedOn", required=True),
    )


def _job_type(rec: Record) -> Row:
    r = _Reader("job_types", rec)
    return (
        r.id(),
        r.text("name"),
        r.flag("noCharge", default=False),
        r.flag("active", default=True),
        r.time("createdOn", required=True),
        r.time("modifiedOn", required=True),
    )


def _missing(r: _Reader, field: str) -> str:
    raise r.fail(field, "is missing")


JOBS = TableSpec(
    "jobs",
    "titan.jobs",
    (
        ("id", "int8"),
        ("job_number", "text"),
        ("customer_id", "int8"),
        ("location_id", "int8"),
        ("job_status", "text"),
        ("completed_on", "timestamptz"),
        ("created_on", "timestamptz"),
        ("modified_on", "timestamptz"),
        ("business_unit_id", "int8"),
        ("job_type_id", "int8"),
        ("no_charge", "bool"),
        ("recall_for_id", "int8"),
        ("warranty_id", "int8"),
        ("invoice_id", "int8"),
        ("project_id", "int8"),
        ("total", "numeric"),
        ("active", "bool"),
    ),
    _job,
)
INVOICES = TableSpec(
    "invoices",
    "titan.invoices",
    (
        ("id", "int8"),
        ("reference_number", "text"),
        ("invoice_date", "timestamptz"),
        ("created_on", "timestamptz"),
        ("modified_on", "timestamptz"),
        ("sub_total", "numeric"),
        ("sales_tax", "numeric"),
        ("total", "numeric"),
        ("balance", "numeric"),
        ("job_id", "int8"),
        ("job_number", "text"),
        ("customer_id", "int8"),
        ("location_id", "int8"),
        ("business_unit_id", "int8"),
        ("adjustment_to_id", "int8"),
        ("project_id", "int8"),
        ("invoice_configuration", "text"),
        ("active", "bool"),
    ),
    _invoice,
)
CUSTOMERS = TableSpec(
    "customers",
    "titan.customers",
    (
        ("id", "int8"),
        ("name", "text"),
        ("type", "text"),
        ("active", "bool"),
        ("merged_to_id", "int8"),
        ("balance", "numeric"),
        ("created_on", "timestamptz"),
        ("modified_on", "timestamptz"),
    ),
    _customer,
)
ESTIMATES = TableSpec(
    "estimates",
    "titan.estimates",
    (
        ("id", "int8"),
        ("job_id", "int8"),
        ("project_id", "int8"),
        ("name", "text"),
        ("status", "text"),
        ("sold_on", "timestamptz"),
        ("subtotal", "numeric"),
        ("tax", "numeric"),
        ("active", "bool"),
        ("created_on", "timestamptz"),
        ("modified_on", "timestamptz"),
    ),
    _estimate,
)
JOB_TYPES = TableSpec(
    "job_types",
    "titan.job_types",
    (
        ("id", "int8"),
        ("name", "text"),
        ("no_charge", "bool"),
        ("active", "bool"),
        ("created_on", "timestamptz"),
        ("modified_on", "timestamptz"),
    ),
    _job_type,
)

TABLES: dict[str, TableSpec] = {
    spec.feed: spec for spec in (JOBS, INVOICES, CUSTOMERS, ESTIMATES, JOB_TYPES)
}
