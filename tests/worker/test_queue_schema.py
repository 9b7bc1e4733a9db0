"""The task queue's schema is part of `nexus db upgrade` and follows procrastinate upgrades."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from nexus.errors import SchemaOutOfDate
from nexus.store.connection import Connection
from nexus.store.database import MIGRATIONS, Database
from nexus.worker import (
    _comment,
    ensure_worker_schema,
    pending_queue_migrations,
    procrastinate_version,
    queue_schema_version,
)


def run_migration(db: Database, name: str, step: str) -> None:
    """Run one step (`upgrade` or `downgrade`) of one migration, as alembic would."""
    spec = importlib.util.spec_from_file_location(name, MIGRATIONS / "versions" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    engine = create_engine(db.url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
            getattr(module, step)()
    finally:
        engine.dispose()


def test_the_schema_upgrade_installs_the_queue_in_the_nexus_schema(db: Database) -> None:
    with db.connect() as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'nexus'"
                " AND tablename LIKE 'procrastinate%'"
            )
        }
        assert tables == {
            "procrastinate_jobs",
            "procrastinate_events",
            "procrastinate_periodic_defers",
            "procrastinate_workers",
        }
        assert (queue_schema_version(conn) or ()) >= (3, 10, 0)  # frozen in migration 0003
        public = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename LIKE 'procrastinate%'"
        ).fetchone()
    assert public == (0,)


def test_ensure_worker_schema_is_idempotent(db: Database) -> None:
    ensure_worker_schema(db)
    ensure_worker_schema(db)
    with db.connect() as conn:
        assert queue_schema_version(conn) == procrastinate_version()


def test_a_queue_newer_than_the_installed_procrastinate_is_refused(db: Database) -> None:
    with db.connect() as conn:
        conn.execute(_comment((99, 0, 0)))
        conn.commit()
    try:
        with pytest.raises(SchemaOutOfDate, match=r"procrastinate 99\.0\.0, newer than"):
            ensure_worker_schema(db)
    finally:
        with db.connect() as conn:
            conn.execute(_comment(procrastinate_version()))
            conn.commit()


def test_an_older_queue_without_auto_upgrade_says_what_to_run(db: Database) -> None:
    with db.connect() as conn:
        conn.execute(_comment((3, 3, 0)))
        conn.commit()
    try:
        with pytest.raises(SchemaOutOfDate, match=r"run `nexus db upgrade`"):
            ensure_worker_schema(db, upgrade=False)
    finally:
        with db.connect() as conn:
            conn.execute(_comment(procrastinate_version()))
            conn.commit()


def test_pending_migrations_are_those_after_the_recorded_version(tmp_path: Path) -> None:
    for name in (
        "03.02.00_01_pre_batch.sql",
        "03.02.00_50_post_batch.sql",
        "03.03.00_01_pre_lock.sql",
        "03.04.00_01_pre_retry.sql",
        "03.04.00_50_post_retry.sql",
        "03.10.00_01_pre_future.sql",
    ):
        (tmp_path / name).write_text("SELECT 1;")
    pending = pending_queue_migrations((3, 2, 0), (3, 4, 0), tmp_path)
    assert [p.name for p in pending] == [
        "03.03.00_01_pre_lock.sql",
        "03.04.00_01_pre_retry.sql",
        "03.04.00_50_post_retry.sql",
    ]
    assert pending_queue_migrations((3, 10, 0), (3, 10, 0), tmp_path) == []


def test_the_downgrade_removes_every_queue_object_and_the_upgrade_brings_them_back(
    db: Database,
) -> None:
    def objects(conn: Connection) -> int:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            "        WHERE n.nspname = 'nexus' AND c.relname LIKE 'procrastinate%%')"
            " + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            "        WHERE n.nspname = 'nexus' AND p.proname LIKE 'procrastinate%%')"
            " + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            "        WHERE n.nspname = 'nexus' AND t.typname LIKE 'procrastinate%%')"
        ).fetchone()
        assert row is not None
        return int(row[0])

    with db.connect() as conn:
        installed = objects(conn)
    assert installed > 20
    run_migration(db, "0003_worker", "downgrade")
    with db.connect() as conn:
        assert objects(conn) == 0
    run_migration(db, "0003_worker", "upgrade")
    with db.connect() as conn:
        assert objects(conn) == installed
        assert queue_schema_version(conn) == (3, 10, 0)  # as frozen in the migration
