"""The store translates psycopg's errors into Nexus's, classified by whether a retry helps."""

from __future__ import annotations

import psycopg
import pytest

from nexus.errors import FatalDatabaseError, RetriableDatabaseError
from nexus.store.database import Database


def test_a_lost_session_is_retriable(db: Database) -> None:
    with db.connect(autocommit=True) as victim, db.connect(autocommit=True) as admin:
        row = victim.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
        with pytest.raises(RetriableDatabaseError) as info:
            victim.execute("SELECT 1")
    assert isinstance(info.value.__cause__, psycopg.OperationalError)


def test_a_refused_statement_is_fatal_with_its_sqlstate(db: Database) -> None:
    with db.connect() as conn, pytest.raises(FatalDatabaseError) as info:
        conn.execute("SELEC 1")
    assert info.value.sqlstate == "42601"
    assert "syntax error" in str(info.value)
    assert isinstance(info.value.__cause__, psycopg.errors.SyntaxError)


def test_copy_and_commit_failures_are_translated_too(db: Database) -> None:
    with db.connect() as conn:
        conn.execute(
            "CREATE TEMP TABLE t (id int, CONSTRAINT u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        with pytest.raises(FatalDatabaseError), conn.cursor().copy("COPY t (id) FROM STDIN") as c:
            c.write_row(("not a number",))
        conn.rollback()
        conn.execute(
            "CREATE TEMP TABLE t (id int, CONSTRAINT u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        conn.execute("INSERT INTO t VALUES (1), (1)")
        with pytest.raises(FatalDatabaseError) as info:
            conn.commit()
    assert info.value.sqlstate == "23505"  # unique_violation, found at commit


def test_a_failed_transaction_block_raises_a_nexus_error(db: Database) -> None:
    with db.connect() as conn:
        conn.execute(
            "CREATE TEMP TABLE t (id int, CONSTRAINT u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        conn.commit()
        with pytest.raises(FatalDatabaseError), conn.transaction():
            conn.execute("INSERT INTO t VALUES (2), (2)")
