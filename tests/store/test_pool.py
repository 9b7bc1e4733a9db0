"""The webhook endpoint's connection pool (psycopg_pool) against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexus.errors import DatabaseUnavailable
from nexus.store.database import Database
from nexus.store.pool import Pool


@pytest.fixture
def pool(db: Database) -> Iterator[Pool]:
    leased = Pool(db, max_size=2, wait_s=0.5)
    yield leased
    leased.close()


def _pid(pool: Pool) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])


def test_a_returned_connection_is_lent_again(pool: Pool) -> None:
    assert _pid(pool) == _pid(pool)


def test_a_connection_killed_while_idle_in_the_pool_is_replaced_not_lent(
    pool: Pool, db: Database
) -> None:
    first = _pid(pool)
    with db.connect(autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    second = _pid(pool)  # no error: the pool checked the dead one and made a new one
    assert second != first


def test_a_connection_returned_inside_a_transaction_comes_back_rolled_back(pool: Pool) -> None:
    with pool.connection() as conn:
        conn.execute("CREATE TEMP TABLE scratch (n int)")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO scratch VALUES (1)")
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM scratch").fetchone() == (0,)


def test_with_every_connection_busy_a_lease_connects_directly(pool: Pool) -> None:
    with pool.connection() as a, pool.connection() as b, pool.connection() as c:
        pids = {
            int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
            for conn in (a, b, c)
        }
    assert len(pids) == 3


def test_an_unreachable_database_is_the_databases_own_error_with_its_fix() -> None:
    down = Pool(Database("postgresql://nexus:hunter2@127.0.0.1:1/nexus"), wait_s=0.2)
    try:
        with pytest.raises(DatabaseUnavailable) as refused, down.connection():
            pass
    finally:
        down.close()
    message = str(refused.value)
    assert message.startswith(
        "cannot connect to the database at postgresql://nexus:***@127.0.0.1:1"
    )
    assert "NEXUS_DATABASE_URL" in message and "hunter2" not in message


def test_after_close_a_lease_still_works_on_a_direct_connection(pool: Pool) -> None:
    _pid(pool)
    pool.close()
    assert _pid(pool) > 0
