# ruff: noqa: E501
"""Source checks: how far the mirror is behind ServiceTitan, recorded beside each feed's token.

A sync run asks ServiceTitan for a feed's newest change before reading its
export; when the feed syncs, the run records the answer (`source_newest`,
NULL when ServiceTitan holds no record), when it asked (`source_checked_at`),
the mirror's newest `modified_on` right after loading (`mirror_newest`) and
itself (`source_check_run_id`). The mirror's newest is read from an index on
each checked table, written from the catalog (`nexus.catalog.ddl.newest_index`).

Revision ID: 0009
Revises: 0008
"""

from nexus.store.migrations.sql import run_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE nexus.feeds
    ADD COLUMN source_newest timestamptz,
    ADD COLUMN source_checked_at timestamptz,
    ADD COLUMN mirror_newest timestamptz,
    ADD COLUMN source_check_run_id bigint REFERENCES nexus.runs (id);
CREATE INDEX jobs_modified_on_idx ON titan.jobs (tenant_id, "modified_on");
CREATE INDEX projects_modified_on_idx ON titan.projects (tenant_id, "modified_on");
CREATE INDEX appointments_modified_on_idx ON titan.appointments (tenant_id, "modified_on");
CREATE INDEX invoices_modified_on_idx ON titan.invoices (tenant_id, "modified_on");
CREATE INDEX payments_modified_on_idx ON titan.payments (tenant_id, "modified_on");
CREATE INDEX customers_modified_on_idx ON titan.customers (tenant_id, "modified_on");
CREATE INDEX locations_modified_on_idx ON titan.locations (tenant_id, "modified_on");
CREATE INDEX leads_modified_on_idx ON titan.leads (tenant_id, "modified_on");
CREATE INDEX bookings_modified_on_idx ON titan.bookings (tenant_id, "modified_on");
CREATE INDEX estimates_modified_on_idx ON titan.estimates (tenant_id, "modified_on");
CREATE INDEX appointment_assignments_modified_on_idx ON titan.appointment_assignments (tenant_id, "modified_on");
CREATE INDEX zones_modified_on_idx ON titan.zones (tenant_id, "modified_on");
CREATE INDEX tag_types_modified_on_idx ON titan.tag_types (tenant_id, "modified_on");
CREATE INDEX memberships_modified_on_idx ON titan.memberships (tenant_id, "modified_on");
CREATE INDEX membership_types_modified_on_idx ON titan.membership_types (tenant_id, "modified_on");
CREATE INDEX recurring_services_modified_on_idx ON titan.recurring_services (tenant_id, "modified_on");
CREATE INDEX recurring_service_types_modified_on_idx ON titan.recurring_service_types (tenant_id, "modified_on");
CREATE INDEX recurring_service_events_modified_on_idx ON titan.recurring_service_events (tenant_id, "modified_on");
CREATE INDEX job_splits_modified_on_idx ON titan.job_splits (tenant_id, "modified_on");
CREATE INDEX job_timesheets_modified_on_idx ON titan.job_timesheets (tenant_id, "modified_on");
CREATE INDEX payroll_adjustments_modified_on_idx ON titan.payroll_adjustments (tenant_id, "modified_on");
CREATE INDEX activity_codes_modified_on_idx ON titan.activity_codes (tenant_id, "modified_on");
CREATE INDEX timesheet_codes_modified_on_idx ON titan.timesheet_codes (tenant_id, "modified_on");
CREATE INDEX gross_pay_items_modified_on_idx ON titan.gross_pay_items (tenant_id, "modified_on");
CREATE INDEX services_modified_on_idx ON titan.services (tenant_id, "modified_on");
CREATE INDEX materials_modified_on_idx ON titan.materials (tenant_id, "modified_on");
CREATE INDEX equipment_modified_on_idx ON titan.equipment (tenant_id, "modified_on");
CREATE INDEX purchase_orders_modified_on_idx ON titan.purchase_orders (tenant_id, "modified_on");
CREATE INDEX adjustments_modified_on_idx ON titan.adjustments (tenant_id, "modified_on");
CREATE INDEX returns_modified_on_idx ON titan.returns (tenant_id, "modified_on");
CREATE INDEX transfers_modified_on_idx ON titan.transfers (tenant_id, "modified_on");
CREATE INDEX activities_modified_on_idx ON titan.activities (tenant_id, "modified_on");
CREATE INDEX activity_categories_modified_on_idx ON titan.activity_categories (tenant_id, "modified_on");
CREATE INDEX activity_types_modified_on_idx ON titan.activity_types (tenant_id, "modified_on");
CREATE INDEX service_agreements_modified_on_idx ON titan.service_agreements (tenant_id, "modified_on");
CREATE INDEX installed_equipment_modified_on_idx ON titan.installed_equipment (tenant_id, "modified_on");
CREATE INDEX technician_ratings_modified_on_idx ON titan.technician_ratings (tenant_id, "modified_on");
CREATE INDEX campaigns_modified_on_idx ON titan.campaigns (tenant_id, "modified_on");
"""

DOWNGRADE = """
DROP INDEX titan.jobs_modified_on_idx;
DROP INDEX titan.projects_modified_on_idx;
DROP INDEX titan.appointments_modified_on_idx;
DROP INDEX titan.invoices_modified_on_idx;
DROP INDEX titan.payments_modified_on_idx;
DROP INDEX titan.customers_modified_on_idx;
DROP INDEX titan.locations_modified_on_idx;
DROP INDEX titan.leads_modified_on_idx;
DROP INDEX titan.bookings_modified_on_idx;
DROP INDEX titan.estimates_modified_on_idx;
DROP INDEX titan.appointment_assignments_modified_on_idx;
DROP INDEX titan.zones_modified_on_idx;
DROP INDEX titan.tag_types_modified_on_idx;
DROP INDEX titan.memberships_modified_on_idx;
DROP INDEX titan.membership_types_modified_on_idx;
DROP INDEX titan.recurring_services_modified_on_idx;
DROP INDEX titan.recurring_service_types_modified_on_idx;
DROP INDEX titan.recurring_service_events_modified_on_idx;
DROP INDEX titan.job_splits_modified_on_idx;
DROP INDEX titan.job_timesheets_modified_on_idx;
DROP INDEX titan.payroll_adjustments_modified_on_idx;
DROP INDEX titan.activity_codes_modified_on_idx;
DROP INDEX titan.timesheet_codes_modified_on_idx;
DROP INDEX titan.gross_pay_items_modified_on_idx;
DROP INDEX titan.services_modified_on_idx;
DROP INDEX titan.materials_modified_on_idx;
DROP INDEX titan.equipment_modified_on_idx;
DROP INDEX titan.purchase_orders_modified_on_idx;
DROP INDEX titan.adjustments_modified_on_idx;
DROP INDEX titan.returns_modified_on_idx;
DROP INDEX titan.transfers_modified_on_idx;
DROP INDEX titan.activities_modified_on_idx;
DROP INDEX titan.activity_categories_modified_on_idx;
DROP INDEX titan.activity_types_modified_on_idx;
DROP INDEX titan.service_agreements_modified_on_idx;
DROP INDEX titan.installed_equipment_modified_on_idx;
DROP INDEX titan.technician_ratings_modified_on_idx;
DROP INDEX titan.campaigns_modified_on_idx;
ALTER TABLE nexus.feeds
    DROP COLUMN source_newest,
    DROP COLUMN source_checked_at,
    DROP COLUMN mirror_newest,
    DROP COLUMN source_check_run_id;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
