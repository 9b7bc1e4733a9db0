"""What each reconciliation found the export had lost, record by record, and what it repaired.

`nexus.reconcile_losses` holds one row per record a reconciliation found
missing in the mirror or differing from ServiceTitan, with a change older than
the feed's last sync (the export should have delivered it): the feed, the
record's key, ServiceTitan's `modifiedOn` for the change the mirror lacked, and
whether that reconciliation's repair loaded it. Counting distinct keys over
several reconciliations counts a change left unrepaired, and so found again,
once. Reconciliations from before this table have no rows here; their
per-feed counts stay in `nexus.reconciliations.feeds`.

Revision ID: 0010
Revises: 0009
"""

from nexus.store.migrations.sql import run_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE nexus.reconcile_losses (
    tenant_id bigint NOT NULL,
    reconciliation_id bigint NOT NULL REFERENCES nexus.reconciliations (id) ON DELETE CASCADE,
    feed text NOT NULL,
    key bigint[] NOT NULL,
    class text NOT NULL CHECK (class IN ('missing_in_mirror', 'field_mismatch')),
    modified_on timestamptz,
    repaired boolean NOT NULL,
    PRIMARY KEY (reconciliation_id, feed, key)
);
CREATE INDEX reconciliations_finished_idx ON nexus.reconciliations (tenant_id, finished_at, id);
"""

DOWNGRADE = """
DROP INDEX nexus.reconciliations_finished_idx;
DROP TABLE nexus.reconcile_losses;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
