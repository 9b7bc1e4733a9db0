"""`nexus db guard`: says the setup is whole, or names what is missing and the SQL that fixes it.

Each broken setup is repaired by running exactly the SQL the command printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cli import Result, nexus
from nexus.store.database import Database
from nexus.store.guard import WRITER_ROLE

AWAY = "nexus_writer_away"


def guard(db: Database, home: Path) -> Result:
    return nexus("db", "guard", db_url=db.url, home=home)


def printed_sql(out: str) -> list[str]:
    """The fix statements: the indented lines under each "fix, run by …"."""
    return [line.strip() for line in out.splitlines() if line.startswith("    ")]


def run_as_admin(db: Database, statements: list[str]) -> None:
    with psycopg.connect(db.url, autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)  # type: ignore[arg-type]


def test_reports_ok_on_the_test_database(db: Database, tmp_path: Path) -> None:
    result = guard(db, tmp_path)
    assert result.code == 0, result.err
    assert "at most 1000 rows per insert into titan.jobs" in result.out
    assert "  ok  guard trigger on" in result.out
    assert f"  ok  postgres can take the role {WRITER_ROLE}" in result.out
    assert "  no  " not in result.out and "problem:" not in result.out
    assert "is a superuser, who can take any role" in result.out


@pytest.fixture
def without_invoice_trigger(db: Database) -> Iterator[Database]:
    run_as_admin(db, ["DROP TRIGGER write_guard ON titan.invoices"])
    yield db
    run_as_admin(
        db,
        [
            "DROP TRIGGER IF EXISTS write_guard ON titan.invoices",
            "CREATE TRIGGER write_guard AFTER INSERT ON titan.invoices"
            " REFERENCING NEW TABLE AS new_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION nexus.refuse_bulk_insert()",
        ],
    )


def test_a_dropped_trigger_is_named_with_the_sql_that_puts_it_back(
    without_invoice_trigger: Database, tmp_path: Path
) -> None:
    db = without_invoice_trigger
    result = guard(db, tmp_path)
    assert result.code == 1
    assert "  no  guard trigger on" in result.out
    assert "problem: no write guard trigger on titan.invoices" in result.out
    assert "fix, run by the owner of the Nexus tables" in result.out
    fix = printed_sql(result.out)
    assert fix == [
        "DROP TRIGGER IF EXISTS write_guard ON titan.invoices; CREATE TRIGGER write_guard"
        " AFTER INSERT ON titan.invoices REFERENCING NEW TABLE AS new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION nexus.refuse_bulk_insert();"
    ]
    run_as_admin(db, fix)
    assert guard(db, tmp_path).code == 0


@pytest.fixture
def without_writer_role(db: Database) -> Iterator[Database]:
    """The server without `nexus_writer`: the real one is renamed for the test, then back.

    Roles belong to the whole server and other test databases hold grants to it,
    so it cannot simply be dropped; a role the test makes in its place can.
    """
    run_as_admin(db, [f"ALTER ROLE {WRITER_ROLE} RENAME TO {AWAY}"])
    yield db
    with psycopg.connect(db.url, autocommit=True) as admin:
        if admin.execute("SELECT to_regrole(%s)", (WRITER_ROLE,)).fetchone() != (None,):
            admin.execute(f"DROP OWNED BY {WRITER_ROLE}")
            admin.execute(f"DROP ROLE {WRITER_ROLE}")
        admin.execute(f"ALTER ROLE {AWAY} RENAME TO {WRITER_ROLE}")


def test_a_missing_role_is_named_with_the_sql_that_makes_and_grants_it(
    without_writer_role: Database, tmp_path: Path
) -> None:
    db = without_writer_role
    result = guard(db, tmp_path)
    assert result.code == 1
    assert f"  no  role {WRITER_ROLE} exists on this server" in result.out
    assert f"problem: the role {WRITER_ROLE} does not exist on this server" in result.out
    assert "fix, run by a superuser, or a role with CREATEROLE" in result.out
    fix = printed_sql(result.out)
    assert fix[0] == f"CREATE ROLE {WRITER_ROLE} NOLOGIN;"
    assert f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA titan TO {WRITER_ROLE};" in fix
    run_as_admin(db, fix)
    after = guard(db, tmp_path)
    assert after.code == 0, after.out
