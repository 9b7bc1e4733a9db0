"""The write guard in the database stops bulk inserts from outside Nexus.

Only a transaction acting as the role `nexus_writer` passes; Nexus's loader
takes it with `mark_sync_run`, and only the role's members can.
"""

from __future__ import annotations

import pytest

from nexus.errors import FatalDatabaseError, WriteRefused
from nexus.store.database import Database
from nexus.store.guard import WRITER_ROLE, mark_sync_run, set_guard_limit
from nexus.store.rows import TABLES

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


def test_a_transaction_acting_as_the_writer_role_may_bulk_insert(db: Database) -> None:
    with db.connect() as conn:
        mark_sync_run(conn, 42)
        assert conn.execute("SELECT current_user").fetchone() == (WRITER_ROLE,)
        conn.execute(ROGUE, (10461,))
        conn.commit()
        # The role is local to its transaction: the next one is guarded again.
        assert conn.execute("SELECT current_user").fetchone() != (WRITER_ROLE,)
        with pytest.raises(WriteRefused):
            conn.execute(ROGUE.replace("g, 'Completed'", "g + 20000, 'Completed'"), (5000,))
    assert count_jobs(db) == 10461


def test_naming_a_sync_run_without_the_role_no_longer_passes(db: Database) -> None:
    """The old pass, a setting any session can make, is refused and told so."""
    with db.connect() as conn, pytest.raises(WriteRefused) as info:
        conn.execute("SELECT set_config('nexus.sync_run', '42', true)")
        conn.execute(ROGUE, (10461,))
    error = info.value
    assert "refused to insert 10461 rows into titan.jobs in one statement as role" in str(error)
    assert "nexus_writer" in (error.detail or "")
    assert "nexus.sync_run = '42', which no longer lets a write through" in (error.detail or "")
    assert count_jobs(db) == 0


def test_every_titan_table_is_guarded(db: Database) -> None:
    rogue_invoices = (
        "INSERT INTO titan.invoices (tenant_id, id, created_on, active, raw, created_at,"
        " updated_at) SELECT 1, g, now(), true, '{}'::jsonb, now(), now()"
        " FROM generate_series(1, 1001) g"
    )
    with db.connect() as conn, pytest.raises(WriteRefused) as info:
        conn.execute(rogue_invoices)
    assert "refused to insert 1001 rows into titan.invoices" in str(info.value)
    with db.connect() as conn:
        guarded = conn.execute(
            "SELECT count(DISTINCT tgrelid) FROM pg_trigger WHERE tgname = 'write_guard'"
            " AND tgrelid::regclass::text LIKE 'titan.%'"
        ).fetchone()
    assert guarded == (len({spec.table for spec in TABLES.values()}),)


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
