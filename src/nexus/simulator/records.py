"""Shape the simulated records exactly as the official API returns them.

Field names, types and required fields follow the ServiceTitan v2 OpenAPI
documents (tests/openapi): invoice money is a JSON string, estimate money is
a number, invoices nest `job`, `customer`, `location` and `businessUnit`.
Export records carry `active`; the job list and by-id responses do not have
that field in their schema, so `job(..., export=False)` leaves it out.
"""

from __future__ import annotations

import time
from typing import Any

from nexus.simulator.entities import (
    ESTIMATE_STATUS,
    Address,
    Customer,
    Estimate,
    Invoice,
    InvoiceItem,
    Job,
    JobType,
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
        "appointmentCount": 1,
        "firstAppointmentId": row.appointment_id,
        "lastAppointmentId": row.appointment_id,
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


def _invoice_item(item: InvoiceItem, invoice: Invoice, order: int) -> Record:
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
        "modifiedOn": iso(item.created),
        "serviceDate": iso_or_none(invoice.job.completed),
        "order": order,
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
        "items": [_invoice_item(item, row, n) for n, item in enumerate(row.items)],
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
