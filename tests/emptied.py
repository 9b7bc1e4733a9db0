"""Empty a test database between tests, keeping its schema."""

from __future__ import annotations

from nexus.store.database import Database


def empty(db: Database) -> None:
    """Empty every mirror and Nexus table (not the schema version) and reset the guard.

    Only the tables holding rows are truncated: a TRUNCATE makes new files for a
    table and each of its indexes, and most tests touch a handful of the seventy.
    Every sequence that moved starts again, as `TRUNCATE … RESTART IDENTITY` would.
    """
    with db.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
            " WHERE schemaname = 'titan' OR (schemaname = 'nexus'"
            " AND tablename NOT IN ('alembic_version', 'write_guard'))"
        ).fetchall()
        tables = [r[0] for r in rows]
        held = " UNION ALL ".join(
            f"SELECT '{table}' WHERE EXISTS (SELECT FROM {table})" for table in tables
        )
        filled = [r[0] for r in conn.execute(held).fetchall()]
        if filled:
            conn.execute(f"TRUNCATE {', '.join(filled)} CASCADE")
        conn.execute(
            "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)"
            " FROM pg_sequences WHERE schemaname IN ('titan', 'nexus') AND last_value IS NOT NULL"
        )
        conn.execute("UPDATE nexus.write_guard SET max_rows = 1000")
