"""A fingerprint of everything Nexus stores, to show that a refused request changed nothing."""

from __future__ import annotations

from nexus.store.database import Database


def fingerprint(db: Database) -> dict[str, tuple[int, str]]:
    """Row count and a hash of every row, per table of the titan and nexus schemas."""
    with db.connect(autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                " WHERE schemaname IN ('titan', 'nexus') AND tablename <> 'alembic_version'"
                " ORDER BY 1"
            )
        ]
        found = {}
        for table in tables:
            row = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                f" FROM {table} t"
            ).fetchone()
            assert row is not None
            found[table] = (int(row[0]), str(row[1]))
    return found
