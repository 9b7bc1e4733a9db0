"""Every ServiceTitan feed Nexus mirrors, declared once.

One line per feed: its name (the `titan` table it lands in), its document,
and its export path when that is not `export/<name with hyphens>`. Reference
lists without an export (job types, payment types, campaigns, zones) name
their list path instead; they are small and reloaded whole. Columns, list
and by-id endpoints, filters and joins are derived from the document (see
`feed.py`). A feed's producer is its module's: one sync run per module and
cycle, whatever number of feeds the module has.

To mirror a new feed, add its line here and a migration for its table
(`nexus.catalog.ddl.create_table` writes the statement).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nexus.catalog.feed import TENANT_PREFIX, Feed

#: The sync producer of each document: today's names for the core modules.
PRODUCER_OF_DOC = {
    "jpm-v2": "job_sync",
    "accounting-v2": "invoice_sync",
    "crm-v2": "customer_sync",
    "salestech-v2": "estimate_sync",
    "dispatch-v2": "dispatch_sync",
    "settings-v2": "settings_sync",
    "memberships-v2": "membership_sync",
    "payroll-v2": "payroll_sync",
    "pricebook-v2": "pricebook_sync",
    "inventory-v2": "inventory_sync",
    "timesheets-v2": "timesheet_sync",
    "telecom": "call_sync",
    "service-agreements-v2": "service_agreement_sync",
    "equipment-systems-v2": "equipment_sync",
    "customer-interactions-v2": "rating_sync",
    "marketing-v2": "marketing_sync",
}


def export(name: str, doc: str, tail: str | None = None, **declared: Any) -> Feed:
    """A feed with an export endpoint, `export/<name-with-hyphens>` unless `tail` says."""
    path = TENANT_PREFIX + (tail or "export/" + name.replace("_", "-"))
    if doc == "telecom":  # its base path stops at /telecom; the version is in each path
        path = "/v2" + path
    return Feed(name, doc, path, PRODUCER_OF_DOC[doc], **declared)


def reference(name: str, doc: str, **declared: Any) -> Feed:
    """A reference list without an export, read whole from its list endpoint."""
    path = TENANT_PREFIX + name.replace("_", "-")
    return Feed(name, doc, None, PRODUCER_OF_DOC[doc], list=path, **declared)


_DECLARED = (
    # job management
    export(
        "jobs",
        "jpm-v2",
        require=("jobStatus", "createdOn", "modifiedOn"),
        defaults={"noCharge": False},
        joins_declared={"recall_for_id": "jobs", "warranty_id": "jobs"},
    ),
    export("projects", "jpm-v2"),
    export("appointments", "jpm-v2", require=("jobId", "start")),
    export("job_canceled_logs", "jpm-v2"),
    export("job_notes", "jpm-v2"),
    export("project_notes", "jpm-v2"),
    export("job_history", "jpm-v2", key=("jobId",)),
    reference(
        "job_types", "jpm-v2", require=("createdOn", "modifiedOn"), defaults={"noCharge": False}
    ),
    # accounting
    export(
        "invoices",
        "accounting-v2",
        require=("createdOn",),
        joins_declared={"adjustment_to_id": "invoices"},
    ),
    export("invoice_items", "accounting-v2", require=("invoiceId",)),
    export("payments", "accounting-v2"),
    export("inventory_bills", "accounting-v2"),
    reference("payment_types", "accounting-v2"),
    # CRM
    export(
        "customers",
        "crm-v2",
        require=("createdOn", "modifiedOn"),
        joins_declared={"merged_to_id": "customers"},
    ),
    export("customer_contacts", "crm-v2", "export/customers/contacts"),
    export("locations", "crm-v2", joins_declared={"merged_to_id": "locations"}),
    export("location_contacts", "crm-v2", "export/locations/contacts"),
    export("leads", "crm-v2"),
    export("bookings", "crm-v2"),
    # sales
    export(
        "estimates",
        "salestech-v2",
        "estimates/export",
        require=("createdOn", "modifiedOn"),
        renames={"status.name": "status"},
    ),
    # dispatch
    export("appointment_assignments", "dispatch-v2"),
    reference("zones", "dispatch-v2"),
    # settings
    export("technicians", "settings-v2"),
    export("employees", "settings-v2"),
    export("business_units", "settings-v2"),
    export("tag_types", "settings-v2"),
    # memberships and recurring services
    export("memberships", "memberships-v2"),
    export("membership_types", "memberships-v2"),
    export("membership_status_changes", "memberships-v2"),
    export("recurring_services", "memberships-v2"),
    export("recurring_service_types", "memberships-v2"),
    export("recurring_service_events", "memberships-v2"),
    export("invoice_templates", "memberships-v2"),
    # payroll
    export("job_splits", "payroll-v2", "export/jobs/splits"),
    export("job_timesheets", "payroll-v2", "export/jobs/timesheets"),
    export("payroll_adjustments", "payroll-v2"),
    export("activity_codes", "payroll-v2"),
    export("timesheet_codes", "payroll-v2"),
    export(
        "gross_pay_items", "payroll-v2", key=("payrollId", "sourceEntityId", "grossPayItemType")
    ),
    export("payroll_settings", "payroll-v2", key=("employeeId",)),
    # pricebook
    export("categories", "pricebook-v2"),
    export("services", "pricebook-v2"),
    export("materials", "pricebook-v2"),
    export("equipment", "pricebook-v2"),
    # inventory
    export("purchase_orders", "inventory-v2"),
    export("adjustments", "inventory-v2"),
    export("returns", "inventory-v2"),
    export("transfers", "inventory-v2"),
    # timesheets
    export("activities", "timesheets-v2"),
    export("activity_categories", "timesheets-v2"),
    export(
        "activity_types", "timesheets-v2", joins_declared={"category_id": "activity_categories"}
    ),
    # calls, agreements, equipment, ratings, marketing
    export("calls", "telecom"),
    export("service_agreements", "service-agreements-v2"),
    export("installed_equipment", "equipment-systems-v2"),
    export("technician_ratings", "customer-interactions-v2", key=("technicianId", "jobId")),
    reference("campaigns", "marketing-v2"),
)

#: every feed, by name
FEEDS: Mapping[str, Feed] = {feed.name: feed for feed in _DECLARED}
