"""The task queue: procrastinate's tables and functions, in the nexus schema.

`nexus worker` schedules producer runs on procrastinate. Its objects live next
to the run ledger; the procrastinate version they match is recorded as the
comment of `nexus.procrastinate_jobs`, and `nexus.worker.ensure_worker_schema`
applies procrastinate's own migrations when the package is upgraded later.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from nexus.worker import install_queue_schema

    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    install_queue_schema(driver)


def downgrade() -> None:
    from nexus.worker import drop_queue_schema

    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    drop_queue_schema(driver)
