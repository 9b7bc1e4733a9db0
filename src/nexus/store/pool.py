"""A few ready connections to the Nexus database, kept by psycopg_pool, for one statement each.

A handler that runs a statement or two per request (the webhook endpoint)
leases an autocommit connection here instead of opening one every time. The
pool checks each connection before lending it, so one that died with a
database restart is replaced rather than lent; it rolls back or discards what
comes back mid-transaction or broken, and retires idle connections. It opens
on first use, so an app that never leases starts no pool threads.

When no connection comes within `wait_s` (all are busy, or the database is
down), the lease connects directly instead: the caller gets a connection, or
the database's own `DatabaseUnavailable` naming the fix, never the pool's bare
timeout.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Literal

from psycopg_pool import PoolClosed, PoolTimeout

from nexus.store import connection
from nexus.store.connection import Connection
from nexus.store.database import Database


class Pool:
    """Autocommit connections to `db`, at most `max_size` kept, leased with `connection()`."""

    def __init__(self, db: Database, *, max_size: int = 8, wait_s: float = 1.0) -> None:
        self.db = db
        self.wait_s = wait_s
        self._pool = connection.pool(db.url, max_size=max_size, name="nexus-webhooks")
        self._state: Literal["new", "open", "closed"] = "new"
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection for the block, back in the pool (or discarded) after it."""
        leased = self._lease()
        if leased is None:
            with self.db.connect(autocommit=True) as direct:
                yield direct
            return
        try:
            yield leased
        finally:
            self._pool.putconn(leased)

    def _lease(self) -> Connection | None:
        with self._lock:
            if self._state == "new":
                self._pool.open()
                self._state = "open"
            if self._state == "closed":
                return None
        try:
            return self._pool.getconn(timeout=self.wait_s)
        except (PoolTimeout, PoolClosed):
            return None

    def close(self) -> None:
        """Close the pool and its threads; later leases connect directly."""
        with self._lock:
            if self._state == "open":
                self._pool.close()
            self._state = "closed"
