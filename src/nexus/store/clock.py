"""The database server's clock: the one "now" of every Nexus process in production.

Workers on several machines must agree about slots and ages, and machines'
clocks drift or are simply set wrong; the database's clock is the one they
all share. Asking it costs a round trip, so `DatabaseClock` asks once per run,
proof and scheduler pass (`read`, called through `nexus.clock.fresh_now`) and
in between counts on with this process's monotonic clock, which measures
elapsed time and is not moved by a wrong or reset wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from nexus.store.database import Database


class DatabaseClock:
    """The time of the database server behind `db`, read afresh by `read`; never goes back."""

    def __init__(self, db: Database, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._monotonic = monotonic
        self._lock = threading.Lock()
        #: the server's time, and this process's monotonic clock at that moment
        self._anchor: tuple[datetime, float] | None = None
        self._last: datetime | None = None

    def read(self) -> datetime:
        """Ask the server what time it is, and go on from its answer."""
        with self._db.connect(autocommit=True) as conn:
            before = self._monotonic()
            row = conn.execute("SELECT clock_timestamp()").fetchone()
            after = self._monotonic()
        assert row is not None
        # The server read its clock somewhere within the round trip: take the middle.
        anchor = (row[0].astimezone(UTC), (before + after) / 2)
        with self._lock:
            self._anchor = anchor
        return self.now()

    def now(self) -> datetime:
        anchor = self._anchor
        if anchor is None:
            return self.read()
        server, at = anchor
        now = server + timedelta(seconds=self._monotonic() - at)
        with self._lock:
            # A fresh reading may land a little behind the last answer; a run's
            # finish must never come before its start.
            if self._last is not None and now < self._last:
                now = self._last
            self._last = now
        return now
