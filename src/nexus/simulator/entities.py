"""The simulated tenant's records as plain objects, before they are shaped for the API.

Times are whole seconds since the Unix epoch (UTC) and money is integer cents:
both are cheap to compare and exact. `records.py` turns these objects into
the JSON the official API returns.
"""

from __future__ import annotations

from typing import NamedTuple


class Tracked:
    """A record that lives in a feed: it has an id, timestamps and a change history."""

    __slots__ = ("active", "created", "id", "modified", "seq", "version")

    def __init__(self, record_id: int, created: int) -> None:
        self.id = record_id
        self.created = created
        self.modified = created
        self.active = True
        self.seq = -1  # position of the latest change in the feed's change log
        self.version = 0  # how many changes the record has had


class Address(NamedTuple):
    street: str
    city: str
    state: str
    zip: str
    unit: str | None = None
    country: str = "USA"


class BusinessUnit(NamedTuple):
    id: int
    name: str


class Customer(Tracked):
    __slots__ = ("address", "created_by", "kind", "location_id", "merged_to", "name")

    def __init__(
        self,
        record_id: int,
        created: int,
        name: str,
        kind: str,
        address: Address,
        location_id: int,
        created_by: int,
    ) -> None:
        super().__init__(record_id, created)
        self.name = name
        self.kind = kind
        self.address = address
        self.location_id = location_id
        self.created_by = created_by
        self.merged_to: int | None = None


class JobType(Tracked):
    __slots__ = ("business_unit_ids", "duration_s", "name", "no_charge", "type_class")

    def __init__(
        self,
        record_id: int,
        created: int,
        name: str,
        type_class: str,
        no_charge: bool,
        business_unit_ids: tuple[int, ...],
        duration_s: int,
    ) -> None:
        super().__init__(record_id, created)
        self.name = name
        self.type_class = type_class
        self.no_charge = no_charge
        self.business_unit_ids = business_unit_ids
        self.duration_s = duration_s


# Why a job is worth what it is worth; decides its truth class and its invoice.
CHARGEABLE = "chargeable"
NO_CHARGE = "no_charge"
UNINVOICED = "uninvoiced"
CANCELED = "canceled"
PHANTOM = "phantom"


class Job(Tracked):
    __slots__ = (
        "appointment_count",
        "appointment_id",
        "business_unit",
        "campaign_id",
        "category",
        "completed",
        "created_by",
        "customer",
        "estimate_ids",
        "invoice_id",
        "job_type",
        "last_appointment_id",
        "no_charge",
        "number",
        "priority",
        "recall_for",
        "status",
        "summary",
        "warranty_of",
    )

    def __init__(
        self,
        record_id: int,
        created: int,
        number: str,
        customer: Customer,
        job_type: JobType,
        business_unit: BusinessUnit,
        category: str,
    ) -> None:
        super().__init__(record_id, created)
        self.number = number
        self.customer = customer
        self.job_type = job_type
        self.business_unit = business_unit
        self.category = category
        self.status = "Scheduled"
        self.completed: int | None = None
        self.no_charge = False
        self.recall_for: int | None = None
        self.warranty_of: int | None = None
        self.priority = "Normal"
        self.campaign_id = 0
        self.created_by = 0
        # The first and last of the job's active appointments, and how many it has.
        self.appointment_id = 0
        self.last_appointment_id = 0
        self.appointment_count = 1
        self.summary = ""
        self.estimate_ids: tuple[int, ...] = ()
        # The id, not the object: invoices point at their job, and a reference back
        # would make every job a cycle that only the garbage collector can free.
        self.invoice_id = 0

    @property
    def chargeable(self) -> bool:
        """Say whether the work is billable (not recall, warranty or no-charge)."""
        return self.category in (CHARGEABLE, UNINVOICED, PHANTOM)


class InvoiceItem(Tracked):
    """One line of an invoice; an edit of the invoice updates, adds or deactivates lines."""

    __slots__ = (
        "description",
        "invoice_id",
        "order",
        "quantity",
        "sku_id",
        "sku_name",
        "total_cents",
    )

    def __init__(
        self,
        record_id: int,
        invoice_id: int,
        sku_id: int,
        sku_name: str,
        description: str,
        quantity: int,
        total_cents: int,
        created: int,
        order: int = 0,
    ) -> None:
        super().__init__(record_id, created)
        self.invoice_id = invoice_id
        self.sku_id = sku_id
        self.sku_name = sku_name
        self.description = description
        self.quantity = quantity
        self.total_cents = total_cents
        self.order = order


class Invoice(Tracked):
    __slots__ = (
        "adjustment_to",
        "created_by",
        "invoice_date",
        "items",
        "job",
        "number",
        "paid_cents",
        "paid_on",
        "review_status",
        "sent_status",
        "subtotal_cents",
        "tax_cents",
        "total_set",
    )

    def __init__(self, record_id: int, created: int, job: Job, number: str) -> None:
        super().__init__(record_id, created)
        self.job = job
        self.number = number
        self.subtotal_cents = 0
        self.tax_cents = 0
        self.paid_cents = 0
        self.paid_on: int | None = None
        self.invoice_date: int | None = None
        self.adjustment_to: int | None = None
        self.items: tuple[InvoiceItem, ...] = ()
        self.sent_status = "NotSent"
        self.review_status = "NeedsReview"
        self.created_by = "office"
        self.total_set = False

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents


ESTIMATE_STATUS = {"Open": 0, "Sold": 1, "Dismissed": 2}


class Estimate(Tracked):
    __slots__ = (
        "business_unit",
        "customer",
        "job",
        "name",
        "sku_name",
        "sold_by",
        "sold_on",
        "status",
        "subtotal_cents",
        "tax_cents",
    )

    def __init__(
        self,
        record_id: int,
        created: int,
        customer: Customer,
        job: Job | None,
        name: str,
        sku_name: str,
        subtotal_cents: int,
        tax_cents: int,
    ) -> None:
        super().__init__(record_id, created)
        self.customer = customer
        self.job = job
        self.name = name
        self.sku_name = sku_name
        self.subtotal_cents = subtotal_cents
        self.tax_cents = tax_cents
        self.status = "Open"
        self.sold_on: int | None = None
        self.sold_by: int | None = None
        self.business_unit = BusinessUnit(0, "")


class Appointment(Tracked):
    """One visit booked for a job: `start` and `end` are when the work is scheduled."""

    __slots__ = ("assignment_ids", "end", "job", "number", "start", "status")

    def __init__(
        self, record_id: int, created: int, job: Job, number: str, start: int, end: int
    ) -> None:
        super().__init__(record_id, created)
        self.job = job
        # Ids, not objects: assignments point at their appointment, and a reference
        # back would make a cycle only the garbage collector can free.
        self.assignment_ids: tuple[int, ...] = ()
        self.number = number
        self.start = start
        self.end = end
        self.status = "Scheduled"


class Assignment(Tracked):
    """A technician assigned to an appointment."""

    __slots__ = ("appointment", "status", "technician_id")

    def __init__(
        self, record_id: int, created: int, appointment: Appointment, technician_id: int
    ) -> None:
        super().__init__(record_id, created)
        self.appointment = appointment
        self.technician_id = technician_id
        self.status = "Dispatched"


class Payment(Tracked):
    """A payment applied to one invoice."""

    __slots__ = ("amount_cents", "invoice", "type_id")

    def __init__(
        self, record_id: int, created: int, invoice: Invoice, amount_cents: int, type_id: int
    ) -> None:
        super().__init__(record_id, created)
        self.invoice = invoice
        self.amount_cents = amount_cents
        self.type_id = type_id


class Location(Tracked):
    """The service location of a customer (one each); merged and closed with its customer."""

    __slots__ = ("customer", "merged_to")

    def __init__(self, record_id: int, created: int, customer: Customer) -> None:
        super().__init__(record_id, created)
        self.customer = customer
        self.merged_to: int | None = None


class Membership(Tracked):
    """A customer's membership of one membership type, for a year from `start`."""

    __slots__ = ("business_unit_id", "customer", "end", "start", "status", "type_id")

    def __init__(
        self,
        record_id: int,
        created: int,
        customer: Customer,
        type_id: int,
        business_unit_id: int,
        start: int,
        end: int,
    ) -> None:
        super().__init__(record_id, created)
        self.customer = customer
        self.type_id = type_id
        self.business_unit_id = business_unit_id
        self.start = start
        self.end = end
        self.status = "Active"


class Generated(Tracked):
    """A record of a feed the business does not model; its fields are drawn from the schema.

    `refs` holds the ids it joins to (in the order of its feed's joins), picked
    among real records when it was made, so the joins of the catalog hold.
    """

    __slots__ = ("refs",)

    def __init__(self, record_id: int, created: int) -> None:
        super().__init__(record_id, created)
        self.refs: tuple[int | None, ...] = ()
