"""The write guard in the database stops bulk inserts from outside Nexus."""

from __future__ import annotations

import pytest

from nexus.errors import FatalDatabaseError, WriteRefused
from nexus.store.database import Database
from nexus.store.guard import set_guard_limit
from nexus.store.loader import mark_sync_run

ROGUE = (
    "INSERT INTO titan.jobs (tenant_id, id, job_status, created_on, modified_on, raw,"
    " created_at, updated_at)"
    " SELECT 1, g, 'Completed', now(), now(), '{}'::jsonb, now(), now()"
    " FROM generate_series(1, %s) g"
)


def count_jobs(db: Database) -> int:
    with db.connect() as conn:
        return conn.execute("SELECT count(*) FROM titan.jobs").fetchone()[0]  # type: ignore[index]


def test_rogue_insert_select_of_10461_rows_is_refused_with_the_reason(db: Database) -> None:
    with db.connect() as conn, pytest.raises(WriteRefused) as info:
        conn.execute(ROGUE, (10461,))
    error = info.value
    assert "refused to insert 10461 rows into titan.jobs" in str(error)
    assert error.hint is not None and "nexus sync" in error.hint
    assert "1000 rows" in (error.detail or "")
    assert count_jobs(db) == 0


def test_small_inserts_pass_and_the_limit_is_exact(db: Database) -> None:
    with db.connect() as conn:
        conn.execute(ROGUE, (1000,))
        conn.commit()
        conn.execute("DELETE FROM titan.jobs")
        conn.commit()
        with pytest.raises(WriteRefused):
            conn.execute(ROGUE, (1001,))
    assert count_jobs(db) == 0


def test_a_transaction_that_names_itself_a_sync_run_may_bulk_insert(db: Database) -> None:
    with db.connect() as conn:
        mark_sync_run(conn, 42)
        conn.execute(ROGUE, (10461,))
        conn.commit()
        # The mark is local to its transaction: the next one is guarded again.
        with pytest.raises(WriteRefused):
            conn.execute(ROGUE.replace("g, 'Completed'", "g + 20000, 'Completed'"), (5000,))
    assert count_jobs(db) == 10461


def test_the_limit_is_configurable(db: Database) -> None:
    set_guard_limit(db, 10)
    with db.connect() as conn, pytest.raises(WriteRefused) as info:
        conn.execute(ROGUE, (11,))
    assert "refused to insert 11 rows" in str(info.value)


def test_created_at_has_no_default_so_forgetting_it_fails(db: Database) -> None:
    with db.connect() as conn, pytest.raises(FatalDatabaseError) as info:
        conn.execute(
            "INSERT INTO titan.jobs (tenant_id, id, job_status, created_on, modified_on, raw,"
            " updated_at) VALUES (1, 1, 'Completed', now(), now(), '{}', now())"
        )
    assert "created_at" in str(info.value)
    assert info.value.sqlstate == "23502"  # not_null_violation
