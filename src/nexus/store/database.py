"""Connections to the Nexus database and its schema version.

`Database` is the one place that knows how to reach Postgres: the embedded
server by default, or any server given by NEXUS_DATABASE_URL. Its connections
translate psycopg's errors (`nexus.store.errors`); failing to connect at all is
a `DatabaseUnavailable` whose message names the fix. Its `patience` says how
long producers wait for it when it is unavailable (`nexus.store.patience`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import sqlalchemy.exc
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from nexus.errors import DatabaseUnavailable, FatalDatabaseError, SchemaOutOfDate
from nexus.settings import Settings
from nexus.store import connection
from nexus.store.connection import Connection
from nexus.store.errors import database_error
from nexus.store.patience import Patience

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
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
        """The URL without its password, for messages."""
        parts = urlsplit(self.url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.url

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
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return cfg

    def head_revision(self) -> str:
        head = ScriptDirectory.from_config(self._alembic()).get_current_head()
        assert head is not None
        return head

    def current_revision(self) -> str | None:
        with self._translated(), self._engine().connect() as conn:
            return MigrationContext.configure(
                conn, opts={"version_table_schema": "nexus"}
            ).get_current_revision()

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn SQLAlchemy's (and migrations' own psycopg) failures into Nexus errors."""
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
        url = self.url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
            "postgres://", "postgresql+psycopg://", 1
        )
        try:
            return create_engine(url, poolclass=NullPool)
        except Exception as exc:
            raise FatalDatabaseError(f"bad database URL {self.safe_url}: {exc}") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
