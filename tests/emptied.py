"""Empty a test database between tests, keeping its schema."""

from __future__ import annotations

from nexus.store.database import Database


def empty(db: Database) -> None:
    """Truncate every mirror and Nexus table (not the schema version) and reset the guard."""
    with db.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
            " WHERE schemaname = 'titan' OR (schemaname = 'nexus'"
            " AND tablename NOT IN ('alembic_version', 'write_guard'))"
        ).fetchall()
        tables = [r[0] for r in rows]
        conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        conn.execute("UPDATE nexus.write_guard SET max_rows = 1000")
