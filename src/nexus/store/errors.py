"""Translate psycopg's errors into Nexus's, once, at the store boundary.

::

    no server answer, class 08,     DatabaseUnavailable      the server is down, restarting,
    57P01-57P05, InterfaceError                              or ended the session
                                                             (pg_terminate_backend)
    57014 query_canceled            StatementTimeout         statement_timeout, or a cancel
    other OperationalError          RetriableDatabaseError   serialization failure, deadlock
    InsufficientPrivilege           WriteRefused             a permission or the write guard
                                                             (its own message, verbatim)
    any other psycopg.Error         FatalDatabaseError       the statement itself was refused

Connections from `nexus.store.connection` translate every statement, COPY,
commit and rollback, so nothing above `nexus.store` sees a psycopg error.
The original error stays attached as `__cause__`. The classes are chosen by
SQLSTATE, never by message text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import errors as pg

from nexus.errors import (
    DatabaseError,
    DatabaseUnavailable,
    FatalDatabaseError,
    RetriableDatabaseError,
    StatementTimeout,
    WriteRefused,
)

#: Driver errors after which the same work may pass: the session or transaction was lost.
RETRIABLE: tuple[type[psycopg.Error], ...] = (psycopg.OperationalError, psycopg.InterfaceError)

#: SQLSTATEs of a session the server ended or would not begin, with what they mean.
ENDED_SESSION = {
    "57P01": "the server was shut down or restarted, or an administrator ended the session",
    "57P02": "the server crashed",
    "57P03": "the server is starting up or shutting down",
    "57P04": "the server lost its database",
    "57P05": "the server ended an idle session",
}
#: The SQLSTATE of a cancelled statement: statement_timeout, or pg_cancel_backend.
CANCELLED = "57014"


def database_error(exc: psycopg.Error) -> DatabaseError:
    """The Nexus error for a psycopg error, with the server's SQLSTATE, detail and hint."""
    diag = exc.diag
    primary = diag.message_primary or _first_line(exc)
    options = {"sqlstate": exc.sqlstate, "detail": diag.message_detail, "hint": diag.message_hint}
    if isinstance(exc, pg.InsufficientPrivilege):
        return WriteRefused(primary, **options)
    if _unavailable(exc):
        why = ENDED_SESSION.get(exc.sqlstate or "", "the server stopped answering")
        return DatabaseUnavailable(
            f"the database connection was lost ({_name(exc)}: {primary}): {why}. "
            "The transaction in progress was not applied (or, if its commit had already "
            "reached the server, applied whole); the work can run again once the database "
            "answers",
            **options,
        )
    if exc.sqlstate == CANCELLED:
        return StatementTimeout(
            f"the database cancelled a statement ({_name(exc)}: {primary}). Nothing of its "
            "transaction was applied. If it happens again, raise statement_timeout for the role "
            "Nexus connects as (ALTER ROLE … SET statement_timeout = '10min') or find what the "
            "statement waited for (pg_stat_activity, pg_locks)",
            **options,
        )
    if isinstance(exc, RETRIABLE):
        return RetriableDatabaseError(
            f"the database could not finish a transaction ({_name(exc)}): {primary}; "
            "nothing of it was applied and running the work again may pass",
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


def _unavailable(exc: psycopg.Error) -> bool:
    """Whether the connection itself was refused, lost or ended (not only the statement)."""
    if isinstance(exc, psycopg.InterfaceError):
        return True  # the connection was already closed or broken
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ENDED_SESSION


def _name(exc: psycopg.Error) -> str:
    return f"{exc.sqlstate} {type(exc).__name__}" if exc.sqlstate else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
