"""Webhook hints: every accepted ServiceTitan webhook, and what its refresh did.

A webhook is only a hint ("these ids changed"); each row is one accepted
delivery: the ids it named per feed (`targets`, e.g. {"invoices": [12, 13]}),
and whether the targeted refresh loaded them, in which run. The
unique keys are the replay protection: a body, or a delivery id, seen before
is refused.

Revision ID: 0004
Revises: 0003
"""

from nexus.store.migrations.sql import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE nexus.webhook_hints (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    received_at timestamptz NOT NULL,
    body_sha256 bytea NOT NULL,
    delivery_id text,
    event_type text,
    targets jsonb NOT NULL DEFAULT '{}'::jsonb,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'refreshed', 'ignored', 'failed')),
    refreshed_at timestamptz,
    run_id bigint,
    rows_changed integer,
    error text,
    UNIQUE (tenant_id, body_sha256)
);
CREATE UNIQUE INDEX webhook_hints_delivery_idx
    ON nexus.webhook_hints (tenant_id, delivery_id) WHERE delivery_id IS NOT NULL;
CREATE INDEX webhook_hints_pending_idx
    ON nexus.webhook_hints (received_at) WHERE status = 'pending';
CREATE INDEX webhook_hints_received_idx ON nexus.webhook_hints (tenant_id, received_at DESC);
"""

DOWNGRADE = """
DROP TABLE nexus.webhook_hints;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
