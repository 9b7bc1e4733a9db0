"""Connections to the Nexus database and its schema version.

`Database` is the one place that knows how to reach Postgres: the embedded
server by default, or any server given by NEXUS_DATABASE_URL. Its connections
translate psycopg's errors (`nexus.store.errors`); failing to connect at all is
a `DatabaseUnavailable` whose message names the fix. Its `patience` says how
long producers wait for it when it is unavailable (`nexus.store.patience`).

Every command checks the schema's revision before it starts, so the check
reads Alembic's version table with psycopg and the migrations' revisions from
their files; Alembic (and SQLAlchemy under it, half a second of a command's
start) is imported only to migrate.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg

from nexus.errors import DatabaseUnavailable, FatalDatabaseError, SchemaOutOfDate
from nexus.settings import Settings
from nexus.store import connection
from nexus.store.connection import Connection
from nexus.store.errors import database_error
from nexus.store.patience import Patience

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: Alembic's version table, in the schema `migrations/env.py` gives it.
VERSION_TABLE = "nexus.alembic_version"
#: A password given as a parameter, quoted or not: `?password=…&` or `password='…' host=…`.
_PASSWORD_PARAMETER = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")
# Serialises concurrent `db upgrade` calls from several processes.
_MIGRATION_LOCK = 0x6E657875


class Database:
    """A Postgres server holding the `titan` and `nexus` schemas."""

    def __init__(
        self, url: str, *, auto_upgrade: bool = True, patience: Patience | None = None
    ) -> None:
        self.url = url
        self.auto_upgrade = auto_upgrade
        #: how producers wait for this database when it refuses or drops connections
        self.patience = patience or Patience()
        self._checked = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        patience = Patience(settings.database_retry_s)
        if settings.database_url is not None:
            url = settings.database_url.get_secret_value()
        else:
            from nexus.store.embedded import embedded_url

            url = embedded_url(settings.home)
        return cls(url, auto_upgrade=settings.auto_upgrade, patience=patience)

    @property
    def safe_url(self) -> str:
        """The URL without its password (in its user part or a `password=` parameter)."""
        password = self._password()
        url = self.url.replace(f":{password}@", ":***@", 1) if password else self.url
        return _PASSWORD_PARAMETER.sub(r"\1***", url)

    def connect(self, *, autocommit: bool = False) -> Connection:
        """Open a connection whose errors are Nexus's; failing that, say how to fix the URL."""
        try:
            return connection.connect(self.url, autocommit=autocommit)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot connect to the database at {self.safe_url}: {_first_line(exc)}. "
                "Unset NEXUS_DATABASE_URL to use the embedded server, or check that the server "
                "is running and the URL is right."
            ) from None
        except psycopg.ProgrammingError as exc:  # the URL itself does not parse
            raise FatalDatabaseError(
                f"bad database URL {self.safe_url}: {self._redacted(_first_line(exc))}. "
                "Correct NEXUS_DATABASE_URL (postgresql://user:password@host:port/database)."
            ) from None

    def ping(self) -> None:
        """Have the server answer a trivial statement, or raise the `DatabaseError` it meets."""
        with self.connect(autocommit=True) as conn:
            conn.execute("SELECT 1")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in one transaction: committed on success, rolled back on error."""
        with self.connect() as conn, conn.transaction():
            yield conn

    # -- schema ---------------------------------------------------------------

    def _alembic(self) -> AlembicConfig:
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return cfg

    def head_revision(self) -> str:
        """The newest migration's revision: the one no other migration follows."""
        return head_of(MIGRATIONS / "versions") or self._alembic_head()

    def _alembic_head(self) -> str:
        """Alembic's own answer, for a history that is not one line (it names the problem)."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic()).get_current_head()
        assert head is not None
        return head

    def current_revision(self) -> str | None:
        """The revision the database's schema is at, or None before its first upgrade."""
        with self.connect(autocommit=True) as conn:
            table = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
            if table is None or table[0] is None:
                return None
            rows = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
        if len(rows) > 1:
            raise FatalDatabaseError(
                f"the database at {self.safe_url} records {len(rows)} schema revisions in "
                f"{VERSION_TABLE} ({', '.join(r[0] for r in rows)}); Nexus keeps one: "
                "restore the table to its newest revision, then run `nexus db upgrade`."
            )
        return rows[0][0] if rows else None

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn SQLAlchemy's (and migrations' own psycopg) failures into Nexus errors."""
        import sqlalchemy.exc

        try:
            yield
        except psycopg.Error as exc:
            raise database_error(exc) from exc
        except sqlalchemy.exc.DBAPIError as exc:
            original = exc.orig if exc.orig is not None else exc
            if isinstance(original, psycopg.Error) and original.sqlstate is not None:
                raise database_error(original) from exc  # the server answered: say what it said
            if isinstance(exc, sqlalchemy.exc.OperationalError):
                raise DatabaseUnavailable(
                    f"cannot connect to the database at {self.safe_url}: "
                    f"{_first_line(original)}. Unset NEXUS_DATABASE_URL to use the embedded "
                    "server, or check that the server is running and the URL is right."
                ) from None
            raise FatalDatabaseError(
                f"the database at {self.safe_url} refused a schema step: {_first_line(original)}"
            ) from None

    def upgrade(self) -> tuple[str | None, str]:
        """Apply pending migrations; return (revision before, revision after)."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        cfg = self._alembic()
        engine = self._engine()
        with self._translated(), engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS nexus")
            before = MigrationContext.configure(
                conn, opts={"version_table_schema": "nexus"}
            ).get_current_revision()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        after = self.current_revision()
        assert after is not None
        self._checked = True
        return before, after

    def reset(self) -> None:
        """Drop everything Nexus keeps in this database and migrate afresh (demos, replays)."""
        with self.connect(autocommit=True) as conn:
            for schema in ("titan", "nexus", "procrastinate"):
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        self._checked = False
        self.upgrade()

    def ensure_schema(self) -> None:
        """Make sure the schema is current: upgrade it, or say what to run."""
        if self._checked:
            return
        current = self.current_revision()
        if current != self.head_revision():
            if not self.auto_upgrade:
                raise SchemaOutOfDate(
                    f"the database at {self.safe_url} is at schema revision {current or 'none'} "
                    f"but this Nexus needs {self.head_revision()}: run `nexus db upgrade`."
                )
            before, after = self.upgrade()
            log.info("database schema upgraded from %s to %s", before or "empty", after)
        self._checked = True

    def _engine(self) -> Engine:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        url = self.url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
            "postgres://", "postgresql+psycopg://", 1
        )
        try:
            return create_engine(url, poolclass=NullPool)
        except Exception as exc:
            raise FatalDatabaseError(
                f"bad database URL {self.safe_url}: {self._redacted(str(exc))}"
            ) from None

    def _password(self) -> str | None:
        try:
            return urlsplit(self.url).password
        except ValueError:  # not a URL at all: only a `password=` parameter can give one
            return None

    def _redacted(self, message: str) -> str:
        """A parser's `message` about the URL, without the password it may quote."""
        password = self._password()
        return _PASSWORD_PARAMETER.sub(
            r"\1***", message.replace(password, "***") if password else message
        )


@functools.cache
def head_of(versions: Path) -> str | None:
    """The head of the migrations in `versions`, read from their `revision` and
    `down_revision` assignments; None unless their history is one line. Read once a
    folder: the installed migrations do not change under a running process."""
    revisions: dict[str, object] = {}
    for path in versions.glob("*.py"):
        assigned = {
            target.id: node.value
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision")
        }
        if "revision" in assigned:
            down = assigned.get("down_revision")
            revisions[ast.literal_eval(assigned["revision"])] = (
                ast.literal_eval(down) if down is not None else None
            )
    followed = set(revisions.values())
    heads = [r for r in revisions if r not in followed]
    linear = all(isinstance(d, str | None) for d in revisions.values())
    return heads[0] if linear and len(heads) == 1 and len(followed) == len(revisions) else None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
