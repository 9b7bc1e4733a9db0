"""The one connection type of Nexus: psycopg's, with its errors translated.

Code above the store types its connections as `Connection` and gets them from
`Database.connect`. Every statement, COPY, commit and rollback on them raises
`DatabaseError`s (see `nexus.store.errors`), never psycopg's own errors.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any, Self

import psycopg
import psycopg.conninfo
from psycopg import sql
from psycopg.abc import Params, Query
from psycopg.copy import Copy, Writer
from psycopg_pool import ConnectionPool

from nexus.store.errors import database_error, translated

#: A connection to the Nexus database, as every module above the store names it.
Connection = psycopg.Connection[Any]
#: A cursor of a `Connection`.
Cursor = psycopg.Cursor[Any]


class _Cursor(psycopg.Cursor[Any]):
    """A client-side cursor whose statements and COPYs raise Nexus errors."""

    def execute(
        self,
        query: Query,
        params: Params | None = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> Self:
        # psycopg overloads `execute` on template strings; one signature covers both forms.
        untyped: Any = query
        # Not `translated()`: a replay makes tens of thousands of statements, and the
        # generator of a context manager cost more than the rest of this wrapper.
        try:
            return super().execute(untyped, params, prepare=prepare, binary=binary)
        except psycopg.Error as exc:
            raise database_error(exc) from exc

    def executemany(
        self, query: Query, params_seq: Iterable[Params], *, returning: bool = False
    ) -> None:
        with translated():
            super().executemany(query, params_seq, returning=returning)

    @contextlib.contextmanager
    def copy(
        self, statement: Query, params: Params | None = None, *, writer: Writer | None = None
    ) -> Iterator[Copy]:
        with translated(), super().copy(statement, params, writer=writer) as copy:
            yield copy


class _Connection(psycopg.Connection[Any]):
    """A connection whose cursors, commits, rollbacks and transactions raise Nexus errors."""

    def _check_connection_ok(self) -> None:
        # psycopg asks this before any cursor, statement or transaction; it refuses a
        # connection the server closed with its own error, which must not escape either.
        try:
            super()._check_connection_ok()
        except psycopg.Error as exc:
            raise database_error(exc) from exc

    def commit(self) -> None:
        with translated():
            super().commit()

    def rollback(self) -> None:
        with translated():
            super().rollback()

    @contextlib.contextmanager
    def pipeline(self) -> Iterator[psycopg.Pipeline]:
        with translated(), super().pipeline() as pipeline:
            yield pipeline

    @contextlib.contextmanager
    def transaction(
        self, savepoint_name: str | None = None, force_rollback: bool = False
    ) -> Iterator[psycopg.Transaction]:
        with translated(), super().transaction(savepoint_name, force_rollback) as tx:
            yield tx


@contextlib.contextmanager
def rolled_back(conn: Connection) -> Iterator[None]:
    """Roll back a transaction its block began and did not end, should the block raise."""
    try:
        yield
    except BaseException:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                psycopg.Connection.rollback(conn)
        raise


def rendered(statement: sql.Composable) -> bytes:
    """A statement composed once, as the bytes every execute of it sends.

    psycopg renders a `sql.Composed` again on each execute, escaping every
    identifier in it: the loader's statements name each column of their table,
    and in a replay that rendering was the largest single cost of the client.
    Nexus's identifiers come from its catalog and are ASCII, so they escape the
    same without a connection.
    """
    text = statement.as_bytes()
    assert text.isascii(), f"a statement to render once must be ASCII: {text[:80]!r}"
    return text


#: How Nexus's sessions name themselves in `pg_stat_activity`, unless the URL or PGAPPNAME does.
APPLICATION_NAME = "nexus"


def _named(url: str) -> dict[str, Any]:
    """The session's `application_name`, when neither the URL nor PGAPPNAME gives one."""
    if "application_name" in psycopg.conninfo.conninfo_to_dict(url) or os.environ.get("PGAPPNAME"):
        return {}
    return {"application_name": APPLICATION_NAME}


def connect(url: str, *, autocommit: bool = False) -> Connection:
    """Open a translating connection to `url` (psycopg's errors on connecting are the caller's)."""
    return _Connection.connect(url, autocommit=autocommit, cursor_factory=_Cursor, **_named(url))


def pool(url: str, *, max_size: int, name: str) -> ConnectionPool[Connection]:
    """A closed psycopg pool of translating autocommit connections to `url`, grown on demand."""
    return ConnectionPool(
        url,
        connection_class=_Connection,
        kwargs={"autocommit": True, "cursor_factory": _Cursor, **_named(url)},
        min_size=0,
        max_size=max_size,
        open=False,
        check=ConnectionPool.check_connection,
        name=name,
    )
