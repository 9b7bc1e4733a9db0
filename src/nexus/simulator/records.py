"""Shape the simulated records exactly as the official API returns them.

Field names, types and required fields follow the ServiceTitan v2 OpenAPI
documents (`nexus/catalog/openapi`): invoice money is a JSON string, estimate money is
a number, invoices nest `job`, `customer`, `location` and `businessUnit`.
Export records carry `active`; the job list and by-id responses do not have
that field in their schema, so `job(..., export=False)` leaves it out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nexus.simulator.catalog import (
    BUSINESS_UNITS,
    CAMPAIGN_NAMES,
    FIRST,
    LAST,
    MEMBERSHIP_TYPES,
    PAYMENT_TYPES,
    UNITS_BY_ID,
    USERS,
)
from nexus.simulator.entities import (
    ESTIMATE_STATUS,
    Address,
    Appointment,
    Assignment,
    Customer,
    Estimate,
    Generated,
    Invoice,
    InvoiceItem,
    Job,
    JobType,
    Location,
    Membership,
    Payment,
)

Record = dict[str, Any]


def iso(when: int) -> str:
    """Format epoch seconds the way the API does (UTC, ISO 8601)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def iso_or_none(when: int | None) -> str | None:
    return None if when is None else iso(when)


def money(cents: int) -> str:
    """Format cents as the API's decimal string, e.g. "-12.05"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def job(row: Job, export: bool = True) -> Record:
    record: Record = {
        "id": row.id,
        "jobNumber": row.number,
        "projectId": None,
        "customerId": row.customer.id,
        "locationId": row.customer.location_id,
        "jobStatus": row.status,
        "completedOn": iso_or_none(row.completed),
        "businessUnitId": row.business_unit.id,
        "jobTypeId": row.job_type.id,
        "priority": row.priority,
        "campaignId": row.campaign_id,
        "appointmentCount": row.appointment_count,
        "firstAppointmentId": row.appointment_id,
        "lastAppointmentId": row.last_appointment_id,
        "recallForId": row.recall_for,
        "warrantyId": row.warranty_of,
        "jobGeneratedLeadSource": None,
        "noCharge": row.no_charge,
        "notificationsEnabled": True,
        "createdOn": iso(row.created),
        "createdById": row.created_by,
        "modifiedOn": iso(row.modified),
        "tagTypeIds": [],
        "leadCallId": None,
        "partnerLeadCallId": None,
        "bookingId": None,
        "soldById": None,
        "customerPo": "",
        "invoiceId": row.invoice_id,
        "membershipId": None,
        "total": None,
        "createdFromEstimateId": None,
        "estimateIds": list(row.estimate_ids),
        "equipmentIds": [],
        "isAutoDispatched": False,
        "summary": row.summary,
        "customFields": [],
        "externalData": [],
        "summaryOfWork": None,
    }
    if export:
        record["active"] = row.active
    return record


def _address(address: Address) -> Record:
    return {
        "street": address.street,
        "unit": address.unit,
        "city": address.city,
        "state": address.state,
        "zip": address.zip,
        "country": address.country,
    }


def _invoice_item(item: InvoiceItem, invoice: Invoice) -> Record:
    unit = invoice.job.business_unit
    return {
        "id": item.id,
        "description": item.description,
        "quantity": f"{item.quantity}.00",
        "cost": "0.00",
        "totalCost": "0.00",
        "budgetCodeId": None,
        "inventoryLocationId": None,
        "inventoryLocation": None,
        "price": money(item.total_cents),
        "type": "Service",
        "skuName": item.sku_name,
        "skuId": item.sku_id,
        "total": money(item.total_cents),
        "inventory": False,
        "taxable": True,
        "isChargeable": True,
        "generalLedgerAccount": None,
        "costOfSaleAccount": None,
        "assetAccount": None,
        "membershipTypeId": 0,
        "itemGroup": None,
        "displayName": item.sku_name,
        "soldHours": None,
        "createdOn": iso(item.created),
        "modifiedOn": iso(item.modified),
        "serviceDate": iso_or_none(invoice.job.completed),
        "order": item.order,
        "businessUnit": {"id": unit.id, "name": unit.name},
        "createdById": None,
        "displayInAmount": None,
        "importId": None,
        "exportId": None,
        "inventoryStatus": None,
        "addOn": False,
        "memberPrice": None,
        "technicianId": None,
        "installedEquipmentId": None,
        "estimateItemId": None,
    }


def invoice(row: Invoice) -> Record:
    """Shape an invoice; the export and list schemas have the same fields."""
    job_row = row.job
    customer = job_row.customer
    unit = job_row.business_unit
    address = _address(customer.address)
    return {
        "id": row.id,
        "syncStatus": None,
        "budgetCodeId": None,
        "referenceNumber": row.number,
        "invoiceDate": iso_or_none(row.invoice_date),
        "dueDate": iso_or_none(
            None if row.invoice_date is None else row.invoice_date + 30 * 86_400
        ),
        "subTotal": money(row.subtotal_cents),
        "salesTax": money(row.tax_cents),
        "salesTaxCode": None,
        "taxZoneId": None,
        "total": money(row.total_cents),
        "balance": money(row.total_cents - row.paid_cents),
        "invoiceType": None,
        "customer": {"id": customer.id, "name": customer.name},
        "customerAddress": address,
        "location": {"id": customer.location_id, "name": customer.address.street},
        "locationAddress": dict(address),
        "businessUnit": {"id": unit.id, "name": unit.name},
        "termName": "Due Upon Receipt",
        "createdBy": row.created_by,
        "batch": None,
        "depositedOn": None,
        "createdOn": iso(row.created),
        "modifiedOn": iso(row.modified),
        "adjustmentToId": row.adjustment_to,
        "job": {"id": job_row.id, "number": job_row.number, "type": job_row.job_type.name},
        "projectId": None,
        "royalty": None,
        "employeeInfo": None,
        "commissionEligibilityDate": None,
        "sentStatus": row.sent_status,
        "reviewStatus": row.review_status,
        "assignedTo": None,
        "summary": job_row.summary,
        "items": [_invoice_item(item, row) for item in row.items if item.active],
        "customFields": [],
        "active": row.active,
        "discountTotal": "0.00",
        "importId": None,
        "exportId": None,
        "materialSkuId": None,
        "membershipId": None,
        "paidOn": iso_or_none(row.paid_on),
        "invoiceConfiguration": "JobInvoice",
    }


def customer(row: Customer) -> Record:
    address = _address(row.address)
    address["latitude"] = None
    address["longitude"] = None
    return {
        "id": row.id,
        "active": row.active,
        "name": row.name,
        "type": row.kind,
        "address": address,
        "customFields": [],
        "balance": 0.0,
        "taxExempt": False,
        "tagTypeIds": [],
        "doNotMail": False,
        "doNotService": False,
        "nationalAccount": False,
        "createdOn": iso(row.created),
        "createdById": row.created_by,
        "modifiedOn": iso(row.modified),
        "mergedToId": row.merged_to,
        "paymentTermId": None,
        "creditLimit": None,
        "creditLimitBalance": None,
        "externalData": [],
    }


def estimate(row: Estimate) -> Record:
    """Shape an estimate; the export and list schemas have the same fields."""
    subtotal = row.subtotal_cents / 100
    created = iso(row.created)
    job_row = row.job
    item = {
        "id": row.id,
        "sku": {
            "id": 9200,
            "name": row.sku_name,
            "displayName": row.sku_name,
            "type": "Service",
            "soldHours": 0.0,
            "generalLedgerAccountId": 1,
            "generalLedgerAccountName": "Income",
            "modifiedOn": created,
        },
        "skuAccount": "Income",
        "description": row.name,
        "membershipTypeId": None,
        "qty": 1.0,
        "unitRate": subtotal,
        "total": subtotal,
        "unitCost": 0.0,
        "totalCost": 0.0,
        "itemGroupName": "",
        "itemGroupRootId": None,
        "createdOn": created,
        "modifiedOn": created,
        "chargeable": True,
        "invoiceItemId": None,
        "budgetCodeId": None,
    }
    return {
        "id": row.id,
        "jobId": job_row.id if job_row is not None else None,
        "projectId": None,
        "locationId": row.customer.location_id,
        "customerId": row.customer.id,
        "name": row.name,
        "jobNumber": job_row.number if job_row is not None else None,
        "status": {"value": ESTIMATE_STATUS[row.status], "name": row.status},
        "reviewStatus": "None",
        "summary": None,
        "createdOn": created,
        "modifiedOn": iso(row.modified),
        "soldOn": iso_or_none(row.sold_on),
        "soldBy": row.sold_by,
        "active": row.active,
        "items": [item],
        "externalLinks": [],
        "subtotal": subtotal,
        "tax": row.tax_cents / 100,
        "businessUnitId": row.business_unit.id,
        "businessUnitName": row.business_unit.name,
        "isRecommended": False,
        "budgetCodeId": None,
        "isChangeOrder": False,
        "proposalTagName": None,
        "depositAmount": None,
        "depositPercent": None,
        "requireDepositOnSignature": None,
    }


def job_type(row: JobType) -> Record:
    return {
        "id": row.id,
        "name": row.name,
        "businessUnitIds": list(row.business_unit_ids),
        "skills": [],
        "tagTypeIds": [],
        "priority": "Normal",
        "duration": row.duration_s,
        "soldThreshold": None,
        "class": row.type_class,
        "summary": "",
        "noCharge": row.no_charge,
        "enforceRecurringServiceEventSelection": None,
        "invoiceSignaturesRequired": False,
        "modifiedOn": iso(row.modified),
        "createdOn": iso(row.created),
        "externalData": [],
        "active": row.active,
        "isSmartDispatched": False,
        "defaultEstimateSoldAction": "None",
        "customFieldTypeIds": [],
    }


def invoice_item(row: InvoiceItem, invoice: Invoice) -> Record:
    """Shape a line of the invoice-items export: the invoice's line, its invoice and `active`."""
    record = _invoice_item(row, invoice)
    record["active"] = row.active
    record["invoiceId"] = row.invoice_id
    return record


def technician_name(technician_id: int) -> str:
    return f"{FIRST[technician_id % len(FIRST)]} {LAST[(technician_id // 3) % len(LAST)]}"


def appointment(row: Appointment) -> Record:
    job_row = row.job
    return {
        "id": row.id,
        "jobId": job_row.id,
        "appointmentNumber": row.number,
        "start": iso(row.start),
        "end": iso(row.end),
        "arrivalWindowStart": iso(row.start),
        "arrivalWindowEnd": iso(row.start + 2 * 3600),
        "status": row.status,
        "specialInstructions": None,
        "createdOn": iso(row.created),
        "modifiedOn": iso(row.modified),
        "customerId": job_row.customer.id,
        "unused": False,
        "createdById": job_row.created_by,
        "isConfirmed": row.status != "Scheduled" or row.version > 1,
        "active": row.active,
    }


def assignment(row: Assignment) -> Record:
    appointment_row = row.appointment
    return {
        "id": row.id,
        "technicianId": row.technician_id,
        "technicianName": technician_name(row.technician_id),
        "assignedById": USERS[row.id % len(USERS)],
        "assignedOn": iso(row.created),
        "status": row.status,
        "isPaused": False,
        "jobId": appointment_row.job.id,
        "appointmentId": appointment_row.id,
        "createdOn": iso(row.created),
        "modifiedOn": iso(row.modified),
        "active": row.active,
    }


def payment(row: Payment) -> Record:
    invoice_row = row.invoice
    job_row = invoice_row.job
    unit = job_row.business_unit
    amount = money(row.amount_cents)
    return {
        "id": row.id,
        "active": row.active,
        "appliedTo": [
            {
                "appliedId": row.id,
                "appliedTo": invoice_row.id,
                "appliedAmount": amount,
                "appliedOn": iso(row.created),
                "appliedBy": "office",
                "appliedToReferenceNumber": invoice_row.number,
            }
        ],
        "authCode": None,
        "batch": None,
        "businessUnit": {"id": unit.id, "name": unit.name},
        "checkNumber": None,
        "createdBy": "office",
        "createdOn": iso(row.created),
        "customer": {"id": job_row.customer.id, "name": job_row.customer.name},
        "customFields": [],
        "date": iso(row.created),
        "deposit": None,
        "generalLedgerAccount": None,
        "memo": None,
        "modifiedOn": iso(row.modified),
        "referenceNumber": f"P{invoice_row.number}",
        "refundedPaymentId": None,
        "syncStatus": None,
        "total": amount,
        "type": PAYMENT_TYPES[row.type_id],
        "typeId": str(row.type_id),
        "unappliedAmount": "0.00",
    }


def location(row: Location) -> Record:
    customer_row = row.customer
    address = _address(customer_row.address)
    address["latitude"] = None
    address["longitude"] = None
    return {
        "taxZoneId": None,
        "id": row.id,
        "customerId": customer_row.id,
        "active": row.active,
        "name": customer_row.address.street,
        "address": address,
        "customFields": [],
        "createdOn": iso(row.created),
        "createdById": customer_row.created_by,
        "modifiedOn": iso(row.modified),
        "mergedToId": row.merged_to,
        "zoneId": None,
        "taxExempt": False,
        "tagTypeIds": [],
        "externalData": [],
    }


def membership(row: Membership) -> Record:
    canceled = row.status == "Canceled"
    return {
        "id": row.id,
        "createdOn": iso(row.created),
        "createdById": row.customer.created_by,
        "modifiedOn": iso(row.modified),
        "followUpOn": iso(row.end - 30 * 86_400),
        "cancellationDate": iso(row.end) if canceled else None,
        "from": iso(row.start),
        "nextScheduledBillDate": None if canceled else iso(row.start + 365 * 86_400),
        "to": iso(row.end),
        "billingFrequency": "Annual",
        "renewalBillingFrequency": None,
        "status": row.status,
        "followUpStatus": "NotAttempted",
        "active": row.active,
        "initialDeferredRevenue": 0.0,
        "duration": 12,
        "renewalDuration": None,
        "businessUnitId": row.business_unit_id,
        "customerId": row.customer.id,
        "membershipTypeId": row.type_id,
        "activatedById": None,
        "activatedFromId": None,
        "billingTemplateId": None,
        "cancellationBalanceInvoiceId": None,
        "cancellationInvoiceId": None,
        "followUpCustomStatusId": None,
        "locationId": row.customer.location_id,
        "paymentMethodId": None,
        "paymentTypeId": None,
        "recurringLocationId": None,
        "renewalMembershipTaskId": None,
        "renewedById": None,
        "soldById": None,
        "customerPo": None,
        "importId": None,
        "memo": None,
        "customFields": [],
    }


# The fields of generated reference records the rest of the business relies on.


def _named(names: dict[int, str]) -> Callable[[Generated], Record]:
    def overlay(row: Generated) -> Record:
        return {"name": names.get(row.id, f"#{row.id}")}

    return overlay


def _technician(row: Generated) -> Record:
    unit = BUSINESS_UNITS[row.id % len(BUSINESS_UNITS)]
    return {"name": technician_name(row.id), "businessUnitId": unit.id}


def _business_unit(row: Generated) -> Record:
    name = UNITS_BY_ID[row.id].name
    return {"name": name, "officialName": f"{name} LLC"}


OVERLAYS: dict[str, Callable[[Generated], Record]] = {
    "technicians": _technician,
    "business_units": _business_unit,
    "campaigns": _named(CAMPAIGN_NAMES),
    "membership_types": _named(MEMBERSHIP_TYPES),
    "payment_types": _named(PAYMENT_TYPES),
}
