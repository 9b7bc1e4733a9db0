"""The root of every error Nexus raises on purpose.

Errors are classified by what the caller should do, never by message text::

    NexusError
    ├── ConfigError                 fix the configuration or environment, then rerun
    ├── DatabaseError               (nexus.store.errors translates psycopg's) the database failed
    │   ├── RetriableDatabaseError  serialization failure, deadlock: the same work may pass
    │   │   │                       when retried
    │   │   ├── DatabaseUnavailable refused or lost the connection (server down, restarting,
    │   │   │                       session terminated): wait for it, then run the work again
    │   │   └── StatementTimeout    the server cancelled a statement (statement_timeout):
    │   │                           a later attempt may pass; raise the limit if it recurs
    │   └── FatalDatabaseError      the database refused the statement: retrying will not help
    │       ├── WriteRefused        a permission or the write guard refused a write
    │       └── SchemaOutOfDate     run `nexus db upgrade`
    ├── ServiceTitanError           (nexus.servicetitan.errors) talking to ST failed
    │   ├── RetriableAPIError       429, 5xx, timeouts: try again later
    │   │   ├── RateLimited
    │   │   └── Unreachable
    │   └── FatalAPIError           other 4xx: retrying will not help
    │       └── AuthError           credentials refused: fix the setting it names
    └── BadRecordError              one record broke the contract: the page is refused

Messages say what failed, where, and the fix. They never contain secrets.
"""

from __future__ import annotations


class NexusError(Exception):
    """Base class for errors Nexus raises deliberately, with a message meant for people."""


class ConfigError(NexusError):
    """The configuration or environment is wrong; the message names the fix."""


class DatabaseError(NexusError):
    """The database is unreachable or refused a statement.

    Errors translated from the driver carry the server's SQLSTATE, detail and
    hint when it sent them.
    """

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint


class RetriableDatabaseError(DatabaseError):
    """The connection or the transaction was lost, not refused: retrying may pass."""


class DatabaseUnavailable(RetriableDatabaseError):
    """The server refused the connection or ended the session: wait for it, then run again.

    Whatever transaction was in progress was rolled back by the server, whole.
    """


class StatementTimeout(RetriableDatabaseError):
    """The server cancelled a statement (statement_timeout, or an administrator's cancel).

    Its transaction was rolled back whole. Retrying at once would likely meet the same
    limit; a later attempt may pass.
    """


class FatalDatabaseError(DatabaseError):
    """The database refused the statement itself: retrying the same work will not help."""


class WriteRefused(FatalDatabaseError):
    """A permission, or the database's write guard, refused a write."""


class SchemaOutOfDate(FatalDatabaseError):
    """The schema is behind the code; `nexus db upgrade` fixes it."""


class BadRecordError(NexusError):
    """A record from ServiceTitan does not match the contract.

    Raised before anything of the page it came in is written.
    """

    def __init__(self, feed: str, record_id: object, field: str, problem: str) -> None:
        self.feed = feed
        self.record_id = record_id
        self.field = field
        self.problem = problem
        super().__init__(
            f"{feed} feed: record id={record_id} has a bad field '{field}': {problem}. "
            "Nothing of this page was applied and the feed's token did not move; "
            "report the record to ServiceTitan or run `nexus reconcile` once it is fixed."
        )
