"""Alembic environment: run migrations on the connection Nexus hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, version_table_schema="nexus")
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, version_table_schema="nexus")
    with context.begin_transaction():
        context.run_migrations()
