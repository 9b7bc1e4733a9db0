"""The schema check every command makes reads the revisions without Alembic, and agrees with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from nexus.errors import FatalDatabaseError
from nexus.store.database import MIGRATIONS, Database, head_of


def alembic_head() -> str | None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_the_head_read_from_the_migration_files_is_alembics_and_the_migrated_schemas(
    db: Database,
) -> None:
    head = head_of(MIGRATIONS / "versions")
    assert head is not None and head == alembic_head()
    assert db.current_revision() == db.head_revision() == head


def migrations(folder: Path, *chain: tuple[str, str]) -> Path:
    folder.mkdir()
    for revision, down in chain:
        (folder / f"{revision}_step.py").write_text(
            f'"""step {revision}"""\n\nrevision = {revision!r}\ndown_revision = {down}\n'
        )
    return folder


def test_only_a_history_in_one_line_has_a_head_read_from_the_files(tmp_path: Path) -> None:
    line = migrations(tmp_path / "line", ("a", "None"), ("b", "'a'"), ("c", "'b'"))
    assert head_of(line) == "c"
    branch = migrations(tmp_path / "branch", ("a", "None"), ("b", "'a'"), ("c", "'a'"))
    assert head_of(branch) is None  # two heads: Alembic's own answer names them
    merged = migrations(
        tmp_path / "merge", ("a", "None"), ("b", "'a'"), ("c", "'a'"), ("d", "('b', 'c')")
    )
    assert head_of(merged) is None


@pytest.fixture
def fresh(pg_url: str) -> Iterator[Database]:
    """A database of its own on the test server, dropped afterwards."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS nexus_revision_test")
        conn.execute("CREATE DATABASE nexus_revision_test")
    try:
        yield Database(urlsplit(pg_url)._replace(path="/nexus_revision_test").geturl())
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS nexus_revision_test WITH (FORCE)")


def test_the_recorded_revision_is_none_before_the_first_upgrade_and_one_row_after(
    fresh: Database,
) -> None:
    assert fresh.current_revision() is None  # not even the nexus schema yet
    with fresh.connect(autocommit=True) as conn:
        conn.execute("CREATE SCHEMA nexus")
        conn.execute("CREATE TABLE nexus.alembic_version (version_num varchar(32) PRIMARY KEY)")
        assert fresh.current_revision() is None  # the table, still empty
        conn.execute("INSERT INTO nexus.alembic_version VALUES ('0007')")
        assert fresh.current_revision() == "0007"
        conn.execute("INSERT INTO nexus.alembic_version VALUES ('0009')")
    with pytest.raises(FatalDatabaseError) as refused:
        fresh.current_revision()
    assert "records 2 schema revisions in nexus.alembic_version (0007, 0009)" in str(refused.value)
    assert "`nexus db upgrade`" in str(refused.value)
