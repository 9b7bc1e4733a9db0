"""One injectable clock, so replays and tests control time.

Production code asks a `Clock` for `now()`; it never calls `datetime.now()`.
The system clock is the default; a `VirtualClock` is moved by replays, tests
and the simulator, so a replayed month ages exactly like a real one.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can say what time it is (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

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
