"""The failed runs of each producer, by start: the proof reads a failure's runs from here.

A producer's vitals count its failed runs since its last success. Through the
status index that meant reading every failure the producer ever had; this
partial index holds failed runs only, ordered by start, so the proof reads
exactly those since the last success. Failures are rare: the index stays small.

Revision ID: 0014
Revises: 0013
"""

from nexus.store.migrations.sql import run_sql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(
        "CREATE INDEX runs_failed_idx ON nexus.runs (tenant_id, producer, started_at DESC)"
        " WHERE status = 'failed'"
    )


def downgrade() -> None:
    run_sql("DROP INDEX nexus.runs_failed_idx")
