"""Run `nexus worker` in a process whose own clock is SKEW_S seconds off the real one.

Usage: skewed_worker_main.py CONFIG SKEW_S. Nexus reads this machine's time only
through `time.time()` and `nexus.clock.SystemClock`; both are moved before
anything else is imported. The worker is given no clock: it uses production's.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta

SKEW_S = float(sys.argv[2])
_time, _time_ns = time.time, time.time_ns
time.time = lambda: _time() + SKEW_S
time.time_ns = lambda: _time_ns() + int(SKEW_S * 1e9)

import logging  # noqa: E402
from pathlib import Path  # noqa: E402

from nexus import clock  # noqa: E402

_now = clock.SystemClock.now


def _skewed_now(self: clock.SystemClock) -> datetime:
    return _now(self) + timedelta(seconds=SKEW_S)


clock.SystemClock.now = _skewed_now  # type: ignore[method-assign]

from nexus.registry.config import load_config  # noqa: E402
from nexus.settings import Settings  # noqa: E402
from nexus.worker import run_worker  # noqa: E402

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    run_worker(
        Settings(),
        load_config(Path(sys.argv[1])),
        concurrency=2,
        tick=0.2,
        heartbeat=0.5,
        stalled_after=3.0,
        name="skewed",
    )
