"""The database write guard's limit, kept in `nexus.write_guard`.

The guard itself is a trigger (see migration 0001): any statement that inserts
more rows than the limit into `titan.jobs` fails unless its transaction names
itself a Nexus sync run.
"""

from __future__ import annotations

from nexus.store.database import Database


def guard_limit(db: Database, table: str = "titan.jobs") -> int:
    with db.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT max_rows FROM nexus.write_guard WHERE table_name = %s", (table,)
        ).fetchone()
    return int(row[0]) if row else 1000


def set_guard_limit(db: Database, max_rows: int, table: str = "titan.jobs") -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO nexus.write_guard (table_name, max_rows) VALUES (%s, %s)"
            " ON CONFLICT (table_name) DO UPDATE SET max_rows = EXCLUDED.max_rows",
            (table, max_rows),
        )
