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
        self._interval = 1.0 / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot: float | None = None

    def acquire(self) -> float:
        """Wait for the next slot; return how long this caller waited."""
        with self._lock:
            now = self._monotonic()
            slot = now if self._next_slot is None else max(now, self._next_slot)
            self._next_slot = slot + self._interval
        # Sleep outside the lock: the slot is already reserved, so other
        # threads can take the following ones meanwhile.
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait
