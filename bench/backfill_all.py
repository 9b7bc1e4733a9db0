"""Backfill of the default feed set: rows/s per feed and overall, and peak RSS by tenant size.

Starts a simulated tenant in its own process, then runs `nexus sync --json`
(the real CLI, every default feed, over real HTTP, into a fresh database) and
reads the per-feed rows and seconds it reports and the sync process's peak
RSS. Repeats for each size; peak RSS must not grow with the tenant.

Usage: python bench/backfill_all.py [--jobs 50000 500000]
The last line is `RESULT backfill_all_rows_per_s=<overall, largest tenant>
backfill_all_peak_rss_ratio=<largest / smallest>` (on one line).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import bench_database
from backfill_memory import _watch_peak_rss, simulated_tenant, sync_env


def measure(jobs: int) -> tuple[int, float, float, list[dict[str, object]]]:
    """(jobs in the tenant, seconds, peak RSS MiB of the sync process, per-feed results)."""
    with simulated_tenant(jobs) as (base_url, total):
        db = bench_database()
        start = time.perf_counter()
        sync = subprocess.Popen(
            [sys.executable, "-m", "nexus.cli", "sync", "--json"],
            env=sync_env(db.url, base_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        peak = _watch_peak_rss(sync)
        seconds = time.perf_counter() - start
        out = sync.stdout.read() if sync.stdout else b""
        if sync.returncode != 0:
            raise SystemExit(f"sync failed: {sync.stderr.read() if sync.stderr else ''}")
        return total, seconds, peak, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, nargs="+", default=[50_000, 500_000])
    args = parser.parse_args()
    peaks = []
    overall = 0.0
    for size in sorted(args.jobs):
        total, seconds, peak, feeds = measure(size)
        peaks.append(peak)
        rows = sum(int(f["rows_read"]) for f in feeds)  # type: ignore[call-overload]
        overall = rows / seconds
        print(
            f"jobs={total} rows={rows} seconds={seconds:.1f} rows_per_s={overall:,.0f} "
            f"peak_rss_mib={peak:.0f}"
        )
        for f in feeds:
            feed_s = float(f["seconds"])  # type: ignore[arg-type]
            feed_rows = int(f["rows_read"])  # type: ignore[call-overload]
            rate = feed_rows / feed_s if feed_s > 0 else 0.0
            print(
                f"  {f['feed']:<24} rows={feed_rows:>9} seconds={feed_s:7.1f} "
                f"rows_per_s={rate:,.0f}"
            )
    print(
        f"RESULT backfill_all_rows_per_s={overall:.0f} "
        f"backfill_all_peak_rss_ratio={peaks[-1] / peaks[0]:.2f}"
    )


if __name__ == "__main__":
    main()
