"""Quarantine: suspect batches held back from the mirror until someone reviews them.

Revision ID: 0005
Revises: 0004
"""

from nexus.store.migrations.sql import run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE nexus.quarantine (
    id bigserial PRIMARY KEY,
    tenant_id bigint NOT NULL,
    feed text NOT NULL,
    held_at timestamptz NOT NULL,
    run_id bigint REFERENCES nexus.runs (id),
    kind text NOT NULL,
    reason text NOT NULL,
    rows integer NOT NULL,
    records jsonb NOT NULL,
    token_before text,
    token_after text NOT NULL,
    fingerprint text NOT NULL,
    status text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'dropped')),
    decided_at timestamptz,
    decided_by text
);
CREATE INDEX quarantine_held_idx ON nexus.quarantine (tenant_id, feed) WHERE status = 'held';
CREATE UNIQUE INDEX quarantine_once_idx
    ON nexus.quarantine (tenant_id, feed, fingerprint) WHERE status = 'held';
"""

DOWNGRADE = "DROP TABLE nexus.quarantine;"


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
