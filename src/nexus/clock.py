"""One injectable clock, so replays and tests control time.

Code asks a `Clock` for `now()`; it never calls `datetime.now()`. In
production the clock is the database server's (`nexus.store.clock.DatabaseClock`),
so workers on machines with skewed clocks agree about slots and ages; a
`VirtualClock` is moved by replays, tests and the simulator, so a replayed
month ages exactly like a real one.

A clock that keeps another machine's time (`SourcedClock`) is asked afresh
once per run, per proof and per scheduler pass, through `fresh_now`; in
between its `now()` costs nothing.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


class Clock(Protocol):
    """Anything that can say what time it is (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


@runtime_checkable
class SourcedClock(Protocol):
    """A clock that keeps another machine's time and can ask it again."""

    def now(self) -> datetime: ...

    def read(self) -> datetime:
        """Ask the source what time it is; return that time."""
        ...


def fresh_now(clock: Clock) -> datetime:
    """The time now, asked afresh of a sourced clock; any other clock's `now()`."""
    # What `isinstance(clock, SourcedClock)` asks, without a runtime protocol check's
    # cost (tens of microseconds, once per run of every producer).
    read = getattr(clock, "read", None)
    return read() if callable(read) else clock.now()


class SystemClock:
    """This machine's clock, for tools without a database (benchmarks); not production's."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to; safe to share between threads."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Move to `when`; refuse to go backwards, which no real clock does."""
        when = _aware(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"virtual clock cannot go back from {self._now} to {when}")
            self._now = when

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            if delta < timedelta(0):
                raise ValueError("virtual clock cannot go backwards")
            self._now += delta
            return self._now


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: give a timezone (UTC)")
    return when.astimezone(UTC)
