"""Translate psycopg's errors into Nexus's, once, at the store boundary.

::

    psycopg.OperationalError        RetriableDatabaseError   connection lost, admin shutdown,
    psycopg.InterfaceError                                   serialization failure, deadlock,
                                                             statement cancelled
    psycopg InsufficientPrivilege   WriteRefused             a permission or the write guard
                                                             (its own message, verbatim)
    any other psycopg.Error         FatalDatabaseError       the statement itself was refused

Connections from `nexus.store.connection` translate every statement, COPY,
commit and rollback, so nothing above `nexus.store` sees a psycopg error.
The original error stays attached as `__cause__`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import errors as pg

from nexus.errors import (
    DatabaseError,
    FatalDatabaseError,
    RetriableDatabaseError,
    WriteRefused,
)

#: Driver errors after which the same work may pass: the session or transaction was lost.
RETRIABLE: tuple[type[psycopg.Error], ...] = (psycopg.OperationalError, psycopg.InterfaceError)


def database_error(exc: psycopg.Error) -> DatabaseError:
    """The Nexus error for a psycopg error, with the server's SQLSTATE, detail and hint."""
    diag = exc.diag
    primary = diag.message_primary or _first_line(exc)
    options = {"sqlstate": exc.sqlstate, "detail": diag.message_detail, "hint": diag.message_hint}
    if isinstance(exc, pg.InsufficientPrivilege):
        return WriteRefused(primary, **options)
    if isinstance(exc, RETRIABLE):
        return RetriableDatabaseError(
            f"the database connection or transaction was lost ({_name(exc)}): {primary}; "
            "the work can be run again",
            **options,
        )
    return FatalDatabaseError(
        f"the database refused a statement ({_name(exc)}): {primary}", **options
    )


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Raise psycopg errors from the block as `DatabaseError`s."""
    try:
        yield
    except psycopg.Error as exc:
        raise database_error(exc) from exc


def _name(exc: psycopg.Error) -> str:
    return f"{exc.sqlstate} {type(exc).__name__}" if exc.sqlstate else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
