"""Small pages, as a replay's sync runs load them: what a page costs in round trips.

A replay's runs load pages of a few rows each, where a page's cost is mostly its
round trips to the server, not its rows. Each page here is four new jobs in a
transaction of its own, started and committed with the loader's first and last
statements as a sync sends them (`before` and `after`): the straight copy of
new keys. Then the same keys again, changed: the merge. The baseline, timed in
the same run on the same connection, is one round trip (`SELECT 1`); each
page's cost is reported in those.

Usage: python bench/page_round_trips.py [--pages 1500] [--runs 3]
The last line is `RESULT copy_page_round_trips=… merge_page_round_trips=…` (medians).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _common import BASE, bench_database, job_record

from nexus.store.connection import Connection
from nexus.store.guard import mark_sync_run
from nexus.store.loader import Loader
from nexus.store.rows import TABLES

#: Rows a page: a replay's pages are a few changed jobs.
PAGE_ROWS = 4


def round_trip(conn: Connection, times: int) -> float:
    """Seconds one `SELECT 1` takes, over `times` of them."""
    start = time.perf_counter()
    for _ in range(times):
        conn.execute("SELECT 1").fetchone()
    return (time.perf_counter() - start) / times


def pages(conn: Connection, loader: Loader, first: int, count: int, rng: random.Random) -> float:
    """Seconds a page of `PAGE_ROWS` jobs takes, keys from `first` on, each in its transaction."""

    def begin() -> None:
        conn.execute("BEGIN")
        mark_sync_run(conn, "bench", lock=loader.lock)

    def commit() -> None:
        conn.execute("COMMIT")

    start = time.perf_counter()
    for page in range(count):
        ids = range(first + page * PAGE_ROWS, first + (page + 1) * PAGE_ROWS)
        records = [job_record(i, rng) for i in ids]
        result = loader.load(records, BASE, before=begin, after=commit)
        assert result.changed == PAGE_ROWS, result
    return (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=1500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    copied, merged = [], []
    for run in range(args.runs):
        db = bench_database(durable=False)  # a fresh server each run: tables as small
        rng = random.Random(run)
        with db.connect(autocommit=True) as conn:
            loader = Loader(conn, TABLES["jobs"], 1)
            trip = round_trip(conn, 2000)
            copy_s = pages(conn, loader, 0, args.pages, rng)
            merge_s = pages(conn, loader, 0, args.pages, random.Random(run + 1000))
            trip = (trip + round_trip(conn, 2000)) / 2
        copied.append(copy_s / trip)
        merged.append(merge_s / trip)
        print(
            f"run {run + 1}: round trip {trip * 1e6:.0f} µs; copy page {copy_s * 1e6:.0f} µs"
            f" ({copied[-1]:.1f} round trips); merge page {merge_s * 1e6:.0f} µs"
            f" ({merged[-1]:.1f})"
        )
    print(
        f"RESULT copy_page_round_trips={statistics.median(copied):.1f}"
        f" merge_page_round_trips={statistics.median(merged):.1f}"
    )


if __name__ == "__main__":
    main()
