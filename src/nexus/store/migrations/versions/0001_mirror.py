"""The mirror: titan tables, the feed ledger, the run ledger and the write guard.

Revision ID: 0001
Revises:
"""

from nexus.store.migrations.sql import run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Timestamps from ServiceTitan keep their names (created_on, modified_on, ...).
# created_at / updated_at are Nexus's own: when the row was first stored and
# last changed by a Nexus run. created_at has no default on purpose: a writer
# that forgets it fails instead of stamping thousands of rows with one time.
BOOKKEEPING = """
    raw jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
"""

UPGRADE = f"""
CREATE SCHEMA IF NOT EXISTS titan;
CREATE SCHEMA IF NOT EXISTS nexus;

CREATE TABLE titan.jobs (
    tenant_id bigint NOT NULL,
    id bigint NOT NULL,
    job_number text,
    customer_id bigint,
    location_id bigint,
    job_status text NOT NULL,
    completed_on timestamptz,
    created_on timestamptz NOT NULL,
    modified_on timestamptz NOT NULL,
    business_unit_id bigint,
    job_type_id bigint,
    no_charge boolean NOT NULL DEFAULT false,
    recall_for_id bigint,
    warranty_id bigint,
    invoice_id bigint,
    project_id bigint,
    total numeric(14, 2),
    active boolean NOT NULL DEFAULT true,
    invoice_total numeric(14, 2) NOT NULL DEFAULT 0,
    {BOOKKEEPING}
);
CREATE INDEX jobs_completed_idx ON titan.jobs (tenant_id, completed_on);
CREATE INDEX jobs_created_idx ON titan.jobs (tenant_id, created_on);

CREATE TABLE titan.invoices (
    tenant_id bigint NOT NULL,
    id bigint NOT NULL,
    reference_number text,
    invoice_date timestamptz,
    created_on timestamptz NOT NULL,
    modified_on timestamptz,
    sub_total numeric(14, 2),
    sales_tax numeric(14, 2),
    total numeric(14, 2),
    balance numeric(14, 2),
    job_id bigint,
    job_number text,
    customer_id bigint,
    location_id bigint,
    business_unit_id bigint,
    adjustment_to_id bigint,
    project_id bigint,
    invoice_configuration text,
    active boolean NOT NULL,
    {BOOKKEEPING}
);
CREATE INDEX invoices_job_idx ON titan.invoices (tenant_id, job_id);

CREATE TABLE titan.customers (
    tenant_id bigint NOT NULL,
    id bigint NOT NULL,
    name text,
    type text,
    active boolean NOT NULL,
    merged_to_id bigint,
    balance numeric(14, 2),
    created_on timestamptz,
    modified_on timestamptz,
    {BOOKKEEPING}
);

CREATE TABLE titan.estimates (
    tenant_id bigint NOT NULL,
    id bigint NOT NULL,
    job_id bigint,
    project_id bigint,
    name text,
    status text,
    sold_on timestamptz,
    subtotal numeric(14, 2),
    tax numeric(14, 2),
    active boolean NOT NULL,
    created_on timestamptz,
    modified_on timestamptz,
    {BOOKKEEPING}
);
CREATE INDEX estimates_job_idx ON titan.estimates (tenant_id, job_id);

CREATE TABLE titan.job_types (
    tenant_id bigint NOT NULL,
    id bigint NOT NULL,
    name text,
    no_charge boolean NOT NULL DEFAULT false,
    active boolean NOT NULL,
    created_on timestamptz,
    modified_on timestamptz,
    {BOOKKEEPING}
);

CREATE TABLE nexus.feeds (
    tenant_id bigint NOT NULL,
    feed text NOT NULL,
    token text,
    pages bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, feed)
);

CREATE TABLE nexus.runs (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    producer text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
    rows_read bigint NOT NULL DEFAULT 0,
    rows_changed bigint NOT NULL DEFAULT 0,
    error text
);
CREATE INDEX runs_producer_idx ON nexus.runs (tenant_id, producer, started_at DESC);

-- The write guard: the last line of defence against bulk writers outside Nexus.
CREATE TABLE nexus.write_guard (
    table_name text PRIMARY KEY,
    max_rows integer NOT NULL CHECK (max_rows > 0)
);
INSERT INTO nexus.write_guard VALUES ('titan.jobs', 1000);

CREATE FUNCTION nexus.refuse_bulk_insert() RETURNS trigger
LANGUAGE plpgsql AS $guard$
DECLARE
    target text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
    max_rows integer;
    inserted bigint;
BEGIN
    -- A Nexus sync run names itself with SET LOCAL nexus.sync_run = '<run id>'.
    IF coalesce(current_setting('nexus.sync_run', true), '') <> '' THEN
        RETURN NULL;
    END IF;
    SELECT g.max_rows INTO max_rows FROM nexus.write_guard g WHERE g.table_name = target;
    SELECT count(*) INTO inserted FROM new_rows;
    IF inserted > coalesce(max_rows, 1000) THEN
        RAISE EXCEPTION 'nexus write guard: refused to insert % rows into % in one statement',
            inserted, target
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('The limit outside a Nexus sync run is %s rows per statement. '
                              'Bulk writes of this size are how phantom rows got into the '
                              'mirror before.', coalesce(max_rows, 1000)),
              HINT = 'Load ServiceTitan data with `nexus sync` (or release a reviewed batch '
                     'with `nexus quarantine release`); to change the limit run '
                     '`nexus db guard --max-rows N`.';
    END IF;
    RETURN NULL;
END
$guard$;

CREATE TRIGGER jobs_write_guard
    AFTER INSERT ON titan.jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION nexus.refuse_bulk_insert();
"""

DOWNGRADE = """
DROP SCHEMA titan CASCADE;
DROP TABLE nexus.runs, nexus.feeds, nexus.write_guard;
DROP FUNCTION nexus.refuse_bulk_insert();
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
