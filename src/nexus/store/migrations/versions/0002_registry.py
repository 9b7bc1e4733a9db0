"""The registry's memory: the timeline of events, retirements and hand-overs.

Revision ID: 0002
Revises: 0001
"""

from nexus.store.migrations.sql import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- Every retirement, hand-over, forced retirement, restoration, outage and
-- quarantine: who, when, why. The dashboard's timeline reads it.
CREATE TABLE nexus.events (
    id bigserial PRIMARY KEY,
    tenant_id bigint,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    producer text,
    product text,
    actor text NOT NULL,
    reason text,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_at_idx ON nexus.events (at DESC);
CREATE INDEX events_producer_idx ON nexus.events (producer, at DESC);

-- Producers retired by `nexus producers retire` (absent = active).
CREATE TABLE nexus.retired_producers (
    producer text PRIMARY KEY,
    since timestamptz NOT NULL,
    reason text NOT NULL,
    forced boolean NOT NULL DEFAULT false,
    event_id bigint NOT NULL REFERENCES nexus.events (id)
);

-- Ownership decided at run time, overriding nexus.toml: hand-overs and
-- retired products. One row per product.
CREATE TABLE nexus.product_owners (
    product text PRIMARY KEY,
    owner text,
    retired boolean NOT NULL DEFAULT false,
    previous_owner text,
    since timestamptz NOT NULL,
    event_id bigint NOT NULL REFERENCES nexus.events (id)
);

-- What kind of failure a failed run met, so causes never parse error text:
-- auth | unreachable | rate_limited | bad_record | api | database | other.
ALTER TABLE nexus.runs ADD COLUMN error_kind text;

-- Reference revenue per tenant-local day (the "sales ledger"), when it is
-- loaded into the database rather than read from a CSV file or a query.
CREATE TABLE nexus.reference_revenue (
    tenant_id bigint NOT NULL,
    day date NOT NULL,
    revenue numeric(14, 2) NOT NULL,
    source text NOT NULL DEFAULT 'sales ledger',
    PRIMARY KEY (tenant_id, day)
);

-- Freshness needs "the newest row" quickly on big tenants.
CREATE INDEX jobs_updated_idx ON titan.jobs (tenant_id, updated_at);
CREATE INDEX invoices_updated_idx ON titan.invoices (tenant_id, updated_at);
CREATE INDEX customers_updated_idx ON titan.customers (tenant_id, updated_at);
CREATE INDEX estimates_updated_idx ON titan.estimates (tenant_id, updated_at);
CREATE INDEX runs_status_idx ON nexus.runs (tenant_id, producer, status, finished_at DESC);
"""

DOWNGRADE = """
DROP TABLE nexus.product_owners, nexus.retired_producers, nexus.events, nexus.reference_revenue;
ALTER TABLE nexus.runs DROP COLUMN error_kind;
DROP INDEX titan.jobs_updated_idx, titan.invoices_updated_idx, titan.customers_updated_idx,
    titan.estimates_updated_idx, nexus.runs_status_idx;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
