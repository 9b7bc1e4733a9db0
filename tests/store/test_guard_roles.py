"""The writer role on a server shared with other users: who can take it, and who cannot.

The test server's own user is a superuser, like the embedded server's. These
tests log in as ordinary roles too: a stranger with insert rights but no
membership, and the owner of a database of its own, as on an external server
where Nexus is not a superuser.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from nexus.clock import VirtualClock
from nexus.errors import FatalDatabaseError, WriteRefused
from nexus.servicetitan.feeds import JOBS
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.store.guard import WRITER_ROLE, check_guard, mark_sync_run, role_refused
from nexus.sync.feed_sync import sync_feed
from stsim import TENANT, client_for

STRANGER = "nexus_test_stranger"
OWNER = "nexus_test_owner"
OWNED_DB = "nexus_guard_owned"

ROGUE = (
    "INSERT INTO titan.jobs (tenant_id, id, job_status, created_on, modified_on, raw,"
    " created_at, updated_at)"
    " SELECT 1, g, 'Completed', now(), now(), '{}'::jsonb, now(), now()"
    " FROM generate_series(1, %s) g"
)


def as_user(url: str, user: str, database: str | None = None) -> str:
    """The same server's URL for another user (the test server trusts local logins)."""
    parts = urlsplit(url)
    path = f"/{database}" if database else parts.path
    return parts._replace(netloc=f"{user}@{parts.hostname or ''}", path=path).geturl()


def make_login_role(admin: psycopg.Connection, name: str) -> None:
    """A login role, made once per server whatever ran before (roles are server-wide)."""
    admin.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN"
        f" CREATE ROLE {name} LOGIN; END IF; END $$"
    )


@pytest.fixture
def stranger(db: Database) -> Iterator[Database]:
    """A role that may insert into titan.jobs, as a migration script's role might."""
    with psycopg.connect(db.url, autocommit=True) as admin:
        make_login_role(admin, STRANGER)
        admin.execute(f"GRANT USAGE ON SCHEMA titan, nexus TO {STRANGER}")
        admin.execute(f"GRANT SELECT, INSERT ON titan.jobs TO {STRANGER}")
        admin.execute(f"GRANT SELECT ON nexus.write_guard TO {STRANGER}")
    try:
        yield Database(as_user(db.url, STRANGER))
    finally:
        with psycopg.connect(db.url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {STRANGER}")
            admin.execute(f"DROP ROLE {STRANGER}")


def test_a_role_without_membership_cannot_take_the_writer_role(stranger: Database) -> None:
    with stranger.connect() as conn, pytest.raises(WriteRefused) as info:
        mark_sync_run(conn, 42)
    message = str(info.value)
    assert f"cannot act as {WRITER_ROLE}" in message
    assert f'permission denied to set role "{WRITER_ROLE}"' in message
    assert "Run `nexus db guard`" in message and "nothing was written" in message


def test_in_a_pipeline_a_refused_role_is_named_and_the_guards_refusal_left_alone(
    stranger: Database,
) -> None:
    """A page's statements go in one round trip: its refusal comes back when it syncs."""
    rogue = (
        "INSERT INTO titan.jobs (tenant_id, id, job_status, created_on, modified_on, raw,"
        " created_at, updated_at) SELECT 1, g, 'Completed', now(), now(), '{}'::jsonb,"
        " now(), now() FROM generate_series(1, 5000) g"
    )
    with stranger.connect() as conn:
        with pytest.raises(FatalDatabaseError) as role, conn.pipeline():
            conn.execute("SELECT set_config('role', %s, true)", (WRITER_ROLE,))
            conn.execute("SELECT 1")
        conn.rollback()
        with pytest.raises(FatalDatabaseError) as guard, conn.pipeline():
            conn.execute("SELECT 1")
            conn.execute(rogue)
    named = role_refused(role.value)
    assert isinstance(named, WriteRefused)
    assert f"cannot act as {WRITER_ROLE}" in str(named) and "nexus db guard" in str(named)
    assert f'permission denied to set role "{WRITER_ROLE}"' in str(named)
    # The guard's trigger refuses with the same SQLSTATE; its own words are kept.
    assert guard.value.sqlstate == role.value.sqlstate == "42501"
    assert role_refused(guard.value) is None
    assert "refused to insert 5000 rows into titan.jobs" in str(guard.value)


def test_a_stranger_with_insert_rights_meets_the_guard_even_naming_a_run(
    stranger: Database,
) -> None:
    with stranger.connect() as conn:
        conn.execute(ROGUE, (10,))  # small writes are the stranger's own business
        conn.commit()
        with pytest.raises(WriteRefused) as info:
            conn.execute("SELECT set_config('nexus.sync_run', '42', true)")
            conn.execute(ROGUE.replace("g, 'Completed'", "g + 100, 'Completed'"), (5000,))
    assert f"as role {STRANGER}" in str(info.value)


@pytest.fixture
def owned(pg_url: str, _migrated: Database) -> Iterator[Database]:
    """A database owned by an ordinary role that has not been given the writer role.

    The server's first migration (`_migrated`) made the writer role, as it is on an
    external server where Nexus was set up once: run alone, the test found no role.
    """
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {OWNED_DB} WITH (FORCE)")
        make_login_role(admin, OWNER)
        admin.execute(f"CREATE DATABASE {OWNED_DB} OWNER {OWNER}")
    try:
        yield Database(as_user(pg_url, OWNER, OWNED_DB))
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {OWNED_DB} WITH (FORCE)")
            admin.execute(f"DROP ROLE {OWNER}")


def test_an_ordinary_owner_migrates_is_told_the_fix_and_then_syncs_through_the_role(
    owned: Database, pg_url: str, sim: Simulator, clock: VirtualClock
) -> None:
    """An external server: Nexus's user owns its tables but is neither superuser nor member."""
    owned.upgrade()  # the role exists on the server already: the migration only grants
    setup = check_guard(owned)
    assert (setup.user, setup.superuser, setup.role_exists) == (OWNER, False, True)
    assert not setup.can_take_role and not setup.unguarded and not setup.unwritable
    (fix,) = setup.fixes
    assert fix.sql == f'GRANT {WRITER_ROLE} TO "{OWNER}";'
    assert "ADMIN OPTION" in fix.run_by

    with sim.serve() as server, client_for(server) as client:
        with pytest.raises(WriteRefused) as info:
            sync_feed(owned, client, TENANT, JOBS, clock)
        assert "Run `nexus db guard`" in str(info.value)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(fix.sql)  # what an administrator is told to run
        assert check_guard(owned).ok
        result = sync_feed(owned, client, TENANT, JOBS, clock)
    jobs = len(sim.tenant(TENANT).truth_jobs())
    assert result.rows_changed == jobs > 0
    with owned.connect() as conn:
        assert conn.execute("SELECT count(*) FROM titan.jobs").fetchone() == (jobs,)
        # The owner itself meets the guard when it writes in bulk without the role ...
        with pytest.raises(WriteRefused):
            conn.execute(ROGUE, (5000,))
        conn.rollback()
        # ... and passes it acting as the role, as the loader does.
        mark_sync_run(conn, "bulk")
        conn.execute(ROGUE, (5000,))
        conn.commit()
        assert conn.execute("SELECT count(*) FROM titan.jobs").fetchone() == (jobs + 5000,)
