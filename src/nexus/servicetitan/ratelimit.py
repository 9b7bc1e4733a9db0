"""A client-side rate limiter, so Nexus stays under ServiceTitan's limit by itself.

ServiceTitan allows 60 requests/s per app and tenant and answers 429 beyond
it; Nexus defaults to 20/s so several workers can share the allowance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Hand out evenly spaced request slots, `rate` per second; thread-safe.

    Even spacing (rather than a bucket that allows bursts) keeps the limit true
    over any window, which is what a per-second server limit counts.
    """

    def __init__(
        self,
        rate: float = 20.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        # Slots of the current busy stretch are anchor + n / rate, computed
        # afresh each time so float error does not pile up over long runs.
        self._anchor = 0.0
        self._taken = 0

    def acquire(self) -> float:
        """Wait for the next slot; return how long this caller waited."""
        with self._lock:
            now = self._monotonic()
            slot = self._anchor + self._taken / self.rate
            if self._taken == 0 or slot <= now:
                # Idle since the last slot: start a new stretch now, banking nothing.
                self._anchor, self._taken, slot = now, 0, now
            self._taken += 1
        # Sleep outside the lock: the slot is already reserved, so other
        # threads can take the following ones meanwhile.
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait
