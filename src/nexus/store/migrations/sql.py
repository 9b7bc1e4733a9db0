"""Run a migration's SQL verbatim on the driver connection.

SQLAlchemy would treat ``%`` and ``:name`` in plpgsql bodies as placeholders;
migrations are plain SQL, so they bypass it.
"""

from __future__ import annotations

from alembic import op


def run_sql(sql: str) -> None:
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute(sql)
