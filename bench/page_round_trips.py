"""Small pages, as a replay's sync runs load them: what a page costs in round trips.

A replay's runs load pages of a few rows each, where a page's cost is mostly its
round trips to the server, not its rows. Each page here is `--rows` new jobs in a
transaction of its own, started and committed with the loader's first and last
statements as a sync sends them (`before` and `after`): new keys. Then the same
keys again, changed: the merge. Both go once the way a small page goes (in one
batch, staged from a JSON document, up to `SMALL_PAGE_ROWS`) and
once the way a big page goes (`one_batch_rows=0`: the look, then a binary `COPY`
straight in or into the stage), alternating on one server. The baseline, timed
in the same run on the same connection, is one round trip (`SELECT 1`); each
page's cost is reported in those.

Usage: python bench/page_round_trips.py [--pages 1500] [--rows 4] [--runs 3]
The last line is `RESULT new_page_round_trips=… merge_page_round_trips=…
copied_new_page_round_trips=… copied_merge_page_round_trips=…` (medians): the
first two as a page of that size goes, the last two by `COPY`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _common import BASE, bench_database, job_record

from nexus.store.connection import Connection
from nexus.store.guard import mark_sync_run
from nexus.store.loader import SMALL_PAGE_ROWS, Loader
from nexus.store.rows import TABLES


def round_trip(conn: Connection, times: int) -> float:
    """Seconds one `SELECT 1` takes, over `times` of them."""
    start = time.perf_counter()
    for _ in range(times):
        conn.execute("SELECT 1").fetchone()
    return (time.perf_counter() - start) / times


def pages(
    conn: Connection, loader: Loader, first: int, count: int, rows: int, rng: random.Random
) -> float:
    """Seconds a page of `rows` jobs takes, keys from `first` on, each in its transaction."""

    def begin() -> None:
        conn.execute("BEGIN")
        mark_sync_run(conn, "bench", lock=loader.lock)

    def commit() -> None:
        conn.execute("COMMIT")

    start = time.perf_counter()
    for page in range(count):
        ids = range(first + page * rows, first + (page + 1) * rows)
        records = [job_record(i, rng) for i in ids]
        result = loader.load(records, BASE, before=begin, after=commit)
        assert result.changed == rows, result
    return (time.perf_counter() - start) / count


#: The two ways a page goes (`Loader`'s `one_batch_rows`): as its size sends it, and as a
#: big page goes.
WAYS = {"": SMALL_PAGE_ROWS, "copied_": 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=1500)
    parser.add_argument("--rows", type=int, default=4, help="rows a page")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    found: dict[str, list[float]] = {}
    for run in range(args.runs):
        db = bench_database(durable=False)  # a fresh server each run: tables as small
        with db.connect(autocommit=True) as conn:
            trip = round_trip(conn, 2000)
            seconds: dict[str, float] = {}
            for n, (way, one_batch_rows) in enumerate(WAYS.items()):
                # A tenant each way.
                loader = Loader(conn, TABLES["jobs"], 1 + n, one_batch_rows=one_batch_rows)
                rng = random.Random(run)
                seconds[way + "new"] = pages(conn, loader, 0, args.pages, args.rows, rng)
                seconds[way + "merge"] = pages(conn, loader, 0, args.pages, args.rows, rng)
            trip = (trip + round_trip(conn, 2000)) / 2
        shown = []
        for part, s in seconds.items():
            found.setdefault(part, []).append(s / trip)
            shown.append(f"{part} page {s * 1e6:.0f} µs ({s / trip:.1f} round trips)")
        print(
            f"run {run + 1}: {args.rows} rows a page, round trip {trip * 1e6:.0f} µs; "
            + "; ".join(shown)
        )
    print(
        "RESULT "
        + " ".join(
            f"{part}_page_round_trips={statistics.median(v):.1f}" for part, v in found.items()
        )
    )


if __name__ == "__main__":
    main()
