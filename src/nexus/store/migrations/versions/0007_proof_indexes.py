"""Indexes that keep `nexus proof` under a second on a ten-million-job tenant.

The checks read completed jobs by completion time (coverage, volume, revenue):
a covering index answers them from the index alone. The zero-invoice split
reads only $0 jobs: a small partial index holds exactly those.

Revision ID: 0007
Revises: 0006
"""

from nexus.store.migrations.sql import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE INDEX jobs_completed_cover_idx ON titan.jobs (tenant_id, completed_on)
    INCLUDE (job_status, invoice_total, active, no_charge, recall_for_id, warranty_id,
             job_type_id);
DROP INDEX titan.jobs_completed_idx;
CREATE INDEX jobs_zero_total_idx ON titan.jobs (tenant_id, (coalesce(completed_on, created_on)))
    INCLUDE (job_status, active, no_charge, recall_for_id, warranty_id, job_type_id,
             completed_on)
    WHERE invoice_total = 0;
"""

DOWNGRADE = """
CREATE INDEX jobs_completed_idx ON titan.jobs (tenant_id, completed_on);
DROP INDEX titan.jobs_completed_cover_idx;
DROP INDEX titan.jobs_zero_total_idx;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
