"""The task queue: procrastinate's tables and functions, in the nexus schema.

`nexus worker` schedules producer runs on procrastinate. Its objects live next
to the run ledger. The schema installed is procrastinate 3.10.0's, frozen in
`0003_worker.sql` beside this file; the version is recorded as the comment of
`nexus.procrastinate_jobs`, and `nexus worker` applies procrastinate's own
migrations on top when the package is newer.

Revision ID: 0003
Revises: 0002
"""

from pathlib import Path

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = Path(__file__).with_suffix(".sql")
VERSION = "procrastinate 3.10.0"

DOWNGRADE = r"""
DROP TABLE IF EXISTS nexus.procrastinate_events, nexus.procrastinate_periodic_defers,
    nexus.procrastinate_jobs, nexus.procrastinate_workers CASCADE;
DO $$
DECLARE f text;
BEGIN
    FOR f IN SELECT p.oid::regprocedure::text FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'nexus' AND p.proname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || f || ' CASCADE';
    END LOOP;
END $$;
DROP TYPE IF EXISTS nexus.procrastinate_job_to_defer_v1,
    nexus.procrastinate_job_event_type, nexus.procrastinate_job_status;
"""


def upgrade() -> None:
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    # procrastinate's SQL names its objects without a schema: put `nexus` first
    # on the search path for this transaction only.
    row = driver.execute("SELECT current_setting('search_path')").fetchone()
    assert row is not None
    driver.execute("SELECT set_config('search_path', 'nexus', true)")
    driver.execute(SCHEMA.read_bytes())
    driver.execute(f"COMMENT ON TABLE nexus.procrastinate_jobs IS '{VERSION}'")
    driver.execute("SELECT set_config('search_path', %s, true)", (row[0],))


def downgrade() -> None:
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute(DOWNGRADE)
