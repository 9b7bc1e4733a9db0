"""Loader throughput against the fastest raw loads, measured in the same run.

(a) raw COPY, primary key only: binary COPY with psycopg's `write_row` of the
    already-flattened rows (raw record kept as jsonb) into a plain table with
    titan.jobs's columns and only its primary key, made by this script: the
    limit of getting the bytes into Postgres;
(b) raw COPY into `titan.jobs`: the same rows into the mirror's table, with its
    indexes and the write guard's trigger;
(c) Nexus backfill: a run of the `job_sync` producer (`Syncer`, as `nexus
    sync` runs it) over the JSON export pages, each parsed as the API client
    parses it, into an empty tenant: parse, flatten, the phantom checks, the
    load and the page's token in one transaction per page;
(d) Nexus re-load: the same run over the same pages again, from the first
    (its tokens forgotten), over the rows (c) left: none changed.

Each part starts from a checkpoint, so one part's writes are not flushed in
the next one's time. Each run is framed by the calibration workload of
`_common` and the load average, before and after: on a shared machine the
ratios move with the load. Usage: python bench/loader.py [--records 200000] [--runs 3]
With several runs every run is printed, then the medians. The last line is
`RESULT loader_vs_copy=… loader_vs_titan_copy=… reload_vs_copy=…`: (c)'s rows/s
over (a)'s and over (b)'s, and (d)'s over (a)'s (medians over the runs).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import orjson
from _common import bench_database, calibration, job_pages
from psycopg.types.json import Jsonb, set_json_dumps

from nexus.catalog import FEEDS, Feed
from nexus.clock import SystemClock
from nexus.servicetitan.pages import ExportPage, parse_export_page
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.store.guard import mark_sync_run
from nexus.store.loader import flatten
from nexus.store.rows import TABLES, Row
from nexus.sync.feed_sync import Syncer

JOBS = TABLES["jobs"]
TENANT = 1
#: The primary-key-only twin of titan.jobs that baseline (a) loads.
PLAIN = "bench_jobs_pk_only"
COLUMNS = ("tenant_id", *JOBS.names, "raw", "created_at", "updated_at")
TYPES = ["int8", *JOBS.types, "jsonb", "timestamptz", "timestamptz"]
PARTS = ("copy", "titan_copy", "backfill", "reload")


def flattened(pages: Sequence[bytes]) -> list[Row]:
    """Every record of the pages as the row a raw COPY writes (parse time not measured)."""
    now = datetime.now(UTC)
    rows: list[Row] = []
    for page in pages:
        data = orjson.loads(page)["data"]
        rows += [
            (TENANT, *r, Jsonb(rec), now, now)
            for r, rec in zip(flatten(JOBS, data), data, strict=True)
        ]
    return rows


def fresh(conn: Connection, table: str) -> None:
    """Empty `table` and flush everything written so far, outside the time measured."""
    conn.execute(f"TRUNCATE {table}")
    conn.commit()
    conn.execute("CHECKPOINT")
    conn.commit()


def raw_copy(db: Database, pages: Sequence[bytes], table: str) -> float:
    """Seconds to COPY the pages' rows, flattened beforehand, into `table` in one transaction.

    The rows exist only for this part: a heap of a million parsed objects left
    alive would slow every garbage collection in the parts after it. While
    they are copied the collector leaves them alone (`gc.freeze`).
    """
    rows = flattened(pages)
    gc.freeze()
    try:
        return _copy(db, rows, table)
    finally:
        gc.unfreeze()


def _copy(db: Database, rows: Sequence[Row], table: str) -> float:
    with db.connect() as conn:
        # The same fast JSON encoder the loader uses, so the baseline is not handicapped.
        set_json_dumps(orjson.dumps, context=conn)
        fresh(conn, table)
        start = time.perf_counter()
        with conn.transaction():
            if table.startswith("titan."):
                mark_sync_run(conn, "bench")  # the guard lets a bulk COPY through to no one else
            copy_sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            with conn.cursor().copy(copy_sql) as copy:
                copy.set_types(TYPES)
                for row in rows:
                    copy.write_row(row)
        return time.perf_counter() - start


class Export:
    """The bench's pages as ServiceTitan's export of jobs, each parsed as the client parses it."""

    def __init__(self) -> None:
        self.pages: Sequence[bytes] = ()

    def export_pages(self, feed: Feed, continue_from: str | None = None) -> Iterator[ExportPage]:
        for raw in self.pages:
            body = orjson.loads(raw)
            yield parse_export_page(
                body, tenant=TENANT, endpoint="bench export", requested_from=continue_from
            )

    def reference_pages(self, feed: Feed) -> Iterator[ExportPage]:
        return iter(())

    def newest_change(self, feed: Feed) -> None:
        return None


def nexus_sync(db: Database, pages: Sequence[bytes], records: int, *, backfill: bool) -> float:
    """Seconds for one run of the jobs feed's sync over every page, from the first.

    The run's connections and loader are made by a run over no pages first,
    outside the time measured.
    """
    with db.connect() as conn:
        conn.execute("TRUNCATE nexus.feeds")  # every run reads the export from its start
        if backfill:
            fresh(conn, "titan.jobs")
        else:
            conn.execute("CHECKPOINT")
        conn.commit()
    export = Export()
    with Syncer(db, export, TENANT, SystemClock()) as syncer:
        syncer.run(FEEDS["jobs"])
        with db.connect() as conn:
            conn.execute("TRUNCATE nexus.feeds")
            conn.commit()
        export.pages = pages
        start = time.perf_counter()
        result = syncer.run(FEEDS["jobs"])
        elapsed = time.perf_counter() - start
    if result.rows_read != records:
        raise SystemExit(f"the sync read {result.rows_read} rows, not the pages' {records}")
    return elapsed


def measure(db: Database, pages: Sequence[bytes], records: int) -> dict[str, float]:
    """Rows/s of each part, in the order of the module's docstring."""
    seconds = {
        "copy": raw_copy(db, pages, PLAIN),
        "titan_copy": raw_copy(db, pages, "titan.jobs"),
        "backfill": nexus_sync(db, pages, records, backfill=True),
        "reload": nexus_sync(db, pages, records, backfill=False),
    }
    with db.connect() as conn:
        (loaded,) = conn.execute("SELECT count(*) FROM titan.jobs").fetchone() or (0,)
    if loaded != records:
        raise SystemExit(f"the loader left {loaded} rows in titan.jobs, not {records}")
    return {part: records / s for part, s in seconds.items()}


def ratios(rate: dict[str, float]) -> dict[str, float]:
    return {
        "loader_vs_copy": rate["backfill"] / rate["copy"],
        "loader_vs_titan_copy": rate["backfill"] / rate["titan_copy"],
        "reload_vs_copy": rate["reload"] / rate["copy"],
    }


def show(label: str, rate: dict[str, float], ratio: dict[str, float]) -> None:
    rates = " ".join(f"{part}_rows_per_s={rate[part]:,.0f}" for part in PARTS)
    print(f"{label}: {rates} " + " ".join(f"{k}={v:.3f}" for k, v in ratio.items()), flush=True)


def load_average() -> str:
    """The machine's load average over 1 minute, for judging how quiet a run was."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    db = bench_database()
    with db.connect() as conn:
        conn.execute(f"CREATE TABLE {PLAIN} (LIKE titan.jobs INCLUDING DEFAULTS)")
        conn.execute(f"ALTER TABLE {PLAIN} ADD PRIMARY KEY (tenant_id, id)")
        conn.commit()
    pages = list(job_pages(args.records))
    print(f"records={args.records} runs={args.runs}")
    rates = []
    for n in range(1, args.runs + 1):
        # A yardstick for the machine's speed, and its load, before and after each run.
        before = f"calibration_s={calibration():.3f} load={load_average()}"
        rates.append(measure(db, pages, args.records))
        after = f"calibration_s={calibration():.3f} load={load_average()}"
        print(f"run {n} before: {before}; after: {after}")
        show(f"run {n}", rates[-1], ratios(rates[-1]))
    median_rate = {part: statistics.median(r[part] for r in rates) for part in PARTS}
    median_ratio = {k: statistics.median(ratios(r)[k] for r in rates) for k in ratios(rates[0])}
    show("median", median_rate, median_ratio)
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in median_ratio.items()))


if __name__ == "__main__":
    main()
