"""The store translates psycopg's errors into Nexus's, classified by whether a retry helps."""

from __future__ import annotations

import psycopg
import pytest

from nexus.errors import (
    DatabaseUnavailable,
    FatalDatabaseError,
    RetriableDatabaseError,
    StatementTimeout,
)
from nexus.store.database import Database


def test_a_terminated_session_is_an_unavailable_database_and_stays_translated(
    db: Database,
) -> None:
    with db.connect(autocommit=True) as victim, db.connect(autocommit=True) as admin:
        row = victim.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
        with pytest.raises(DatabaseUnavailable) as info:
            victim.execute("SELECT 1")
        assert info.value.sqlstate == "57P01"
        assert "an administrator ended the session" in str(info.value)
        assert isinstance(info.value.__cause__, psycopg.OperationalError)
        # The connection is closed now; every later use says so in Nexus's terms too.
        for use in (
            lambda: victim.execute("SELECT 1"),
            victim.cursor,
            lambda: victim.transaction().__enter__(),
        ):
            with pytest.raises(DatabaseUnavailable, match="connection was lost"):
                use()


def test_a_cancelled_statement_is_a_timeout_not_a_lost_connection(db: Database) -> None:
    with db.connect() as conn:
        conn.execute("SET statement_timeout = 50")
        with pytest.raises(StatementTimeout) as info:
            conn.execute("SELECT pg_sleep(5)")
        conn.rollback()
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the session itself is fine
    assert info.value.sqlstate == "57014"
    assert isinstance(info.value, RetriableDatabaseError)
    assert "statement_timeout" in str(info.value)


def test_a_refused_connection_names_the_server_and_the_fix() -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        Database("postgresql://nexus:hunter2@127.0.0.1:1/nexus").connect()
    message = str(info.value)
    assert "cannot connect to the database at postgresql://nexus:***@127.0.0.1:1/nexus" in message
    assert "check that the server is running" in message and "hunter2" not in message


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
