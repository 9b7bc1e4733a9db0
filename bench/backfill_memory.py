"""Peak memory of a backfill must not grow with the size of the tenant.

Starts a simulated tenant in its own process, then runs `nexus sync --feed jobs`
(the real CLI, over real HTTP, into a fresh database) and reads the sync
process's peak RSS. Repeats for each size.

Usage: python bench/backfill_memory.py [--jobs 50000 500000]
The last line is `RESULT backfill_peak_rss_ratio=<largest / smallest>`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from _common import bench_database

ROOT = Path(__file__).resolve().parents[1]
HISTORY_DAYS = 70

SIMULATOR = """
import sys, time
from datetime import UTC, datetime
from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, Credentials, Simulator
per_day = float(sys.argv[1])
sim = Simulator(clock=VirtualClock(datetime(2026, 4, 1, tzinfo=UTC)),
                credentials=Credentials("bench", "bench-secret", "bench-app"))
sim.add_tenant(1001, BusinessConfig(seed=1, completed_jobs_per_day=per_day), history_days={days})
server = sim.serve().start()
print(server.base_url, len(sim.tenant(1001).truth_jobs()), flush=True)
while True:
    time.sleep(3600)
"""


@contextlib.contextmanager
def simulated_tenant(jobs: int) -> Iterator[tuple[str, int]]:
    """A simulated tenant of about `jobs` jobs in its own process: (base URL, jobs made)."""
    per_day = jobs / (HISTORY_DAYS * 6 / 7) / 1.1  # Mon–Sat, plus canceled and open jobs
    sim = subprocess.Popen(
        [sys.executable, "-c", SIMULATOR.format(days=HISTORY_DAYS), str(per_day)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        base_url, total = sim.stdout.readline().split()
        yield base_url, int(total)
    finally:
        sim.kill()
        sim.wait()


def sync_env(db_url: str, base_url: str) -> dict[str, str]:
    """The environment of a `nexus sync` pointed at the simulated tenant and `db_url`."""
    return {
        **os.environ,
        "NEXUS_DATABASE_URL": db_url,
        "NEXUS_ST_API_URL": base_url,
        "NEXUS_ST_AUTH_URL": f"{base_url}/connect/token",
        "NEXUS_ST_TENANT": "1001",
        "NEXUS_ST_CLIENT_ID": "bench",
        "NEXUS_ST_CLIENT_SECRET": "bench-secret",
        "NEXUS_ST_APP_KEY": "bench-app",
        "NEXUS_ST_RATE_LIMIT": "1000",
    }


def measure(jobs: int) -> tuple[int, float, float]:
    """(jobs mirrored, seconds, peak RSS MiB of the sync process)."""
    with simulated_tenant(jobs) as (base_url, total):
        db = bench_database()
        start = time.perf_counter()
        sync = subprocess.Popen(
            [sys.executable, "-m", "nexus.cli", "sync", "--feed", "jobs", "--json"],
            env=sync_env(db.url, base_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        peak = _watch_peak_rss(sync)
        seconds = time.perf_counter() - start
        if sync.returncode != 0:
            raise SystemExit(f"sync failed: {sync.stderr.read() if sync.stderr else ''}")
        return total, seconds, peak


def _watch_peak_rss(proc: subprocess.Popen[bytes]) -> float:
    """Poll the process's resident set every 20 ms until it exits; return the peak in MiB."""
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, nargs="+", default=[50_000, 500_000])
    args = parser.parse_args()
    peaks = []
    for size in sorted(args.jobs):
        total, seconds, peak = measure(size)
        peaks.append(peak)
        print(
            f"jobs={total} seconds={seconds:.1f} rows_per_s={total / seconds:,.0f} "
            f"peak_rss_mib={peak:.0f}"
        )
    print(f"RESULT backfill_peak_rss_ratio={peaks[-1] / peaks[0]:.2f}")


if __name__ == "__main__":
    main()
