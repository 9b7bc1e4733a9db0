"""One scaffold for every producer run: its lock, its ledger row and its outcome.

::

    with recorded_run(control, tenant, "reconcile", clock) as run:
        ...  # the work; count into run.rows_read and run.rows_changed

The run is recorded in the registry's run ledger as succeeded, or as failed
with its error's text and kind (the kind is read from the error's class, never
its text, for probable causes); the error is then raised again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator

from nexus.clock import Clock, fresh_now
from nexus.errors import BadRecordError, DatabaseError, NexusError
from nexus.registry.run_ledger import Run, finish_run, start_locked_run
from nexus.servicetitan import errors as st
from nexus.store.connection import Connection
from nexus.sync.quarantine import FeedHeld

_log = logging.getLogger(__name__)

#: How often a waiting run asks for its lock again.
LOCK_POLL_S = 0.05

#: Error classes → the kind recorded with a failed run, first match wins.
ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (FeedHeld, "quarantined"),
    (st.AuthError, "auth"),
    (st.RateLimited, "rate_limited"),
    (st.RetriableAPIError, "unreachable"),
    (BadRecordError, "bad_record"),
    (st.ServiceTitanError, "api"),
    (DatabaseError, "database"),
)


class ProducerBusy(NexusError):
    """Another process is running this producer for this tenant right now."""


def lock_key(tenant: int, producer: str) -> int:
    """A stable 64-bit advisory-lock key for (tenant, producer)."""
    digest = hashlib.blake2b(f"{tenant}:{producer}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _busy(tenant: int, producer: str) -> ProducerBusy:
    return ProducerBusy(
        f"tenant {tenant}: {producer} is already running in another process; "
        "this run was skipped (it will run on its next schedule)."
    )


def _polling(wait_s: float) -> Iterator[None]:
    """Yield once, then again every LOCK_POLL_S until `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    yield
    while time.monotonic() < deadline:
        time.sleep(LOCK_POLL_S)
        yield


@contextlib.contextmanager
def producer_lock(
    conn: Connection, tenant: int, producer: str, *, wait_s: float = 0.0
) -> Iterator[None]:
    """Hold the (tenant, producer) lock for the life of a run, or raise `ProducerBusy`.

    The lock is a session-level advisory lock on `conn` (which must be in
    autocommit mode), so it vanishes with the process if the process dies.
    `wait_s` is how long to keep asking while another process holds it.
    """
    key = lock_key(tenant, producer)
    for _ in _polling(wait_s):
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if row and row[0]:
            break
    else:
        raise _busy(tenant, producer)
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError):
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


@contextlib.contextmanager
def recorded_run(
    conn: Connection,
    tenant: int,
    producer: str,
    clock: Clock,
    *,
    wait_s: float = 0.0,
    log: logging.Logger | None = None,
) -> Iterator[Run]:
    """Run `producer` for `tenant` under its lock, recorded in the run ledger on `conn`.

    `conn` must be in autocommit mode and is best kept apart from the one the
    work writes on, so the ledger row commits whatever the work's transactions do.
    `wait_s` is how long to wait for the lock (as `producer_lock`); a failure is also
    logged on `log`, if given. Taking the lock and opening the run is one statement,
    and so are closing it and releasing the lock: a run that changes nothing costs
    two round trips to the ledger.
    """
    key = lock_key(tenant, producer)
    # A run asks a sourced clock (the database's) for the time once, as it starts.
    started = fresh_now(clock)
    for _ in _polling(wait_s):
        run = start_locked_run(conn, tenant, producer, started, key)
        if run is not None:
            break
    else:
        raise _busy(tenant, producer)
    try:
        yield run
    except BaseException as exc:
        try:
            finish_run(
                conn,
                run,
                clock.now(),
                error=describe_error(exc),
                error_kind=error_kind(exc),
                unlock=key,
            )
        except DatabaseError as lost:
            # The ledger's own connection went with the database: the run stays `running`
            # until the next run marks it abandoned. The work's error is the one to raise.
            _log.warning("tenant %s: %s could not record its failure: %s", tenant, producer, lost)
            _release(conn, key)
        if log is not None:
            log.warning("tenant %s: %s failed: %s", tenant, producer, describe_error(exc))
        raise
    try:
        finish_run(conn, run, clock.now(), unlock=key)
    except BaseException:
        _release(conn, key)
        raise


def _release(conn: Connection, key: int) -> None:
    """Release the run's lock after its closing statement failed (a lost session has none)."""
    with contextlib.suppress(DatabaseError):
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def describe_error(exc: BaseException) -> str:
    """The text stored for a failed run: our own messages verbatim, others with their type."""
    if isinstance(exc, NexusError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def error_kind(exc: BaseException) -> str:
    """Classify a failure by its class (never its text), for probable causes."""
    return next((kind for cls, kind in ERROR_KINDS if isinstance(exc, cls)), "other")
