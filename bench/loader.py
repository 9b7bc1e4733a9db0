"""Loader throughput against the fastest raw load, measured in the same run.

(a) baseline: binary COPY with psycopg's `write_row` of already-flattened rows
    (raw record kept as jsonb) straight into `titan.jobs`, parse time excluded;
(b) Nexus: JSON export pages → parse → flatten → COPY to stage → upsert,
    one transaction per page with the feed token, parse included.

Usage: python bench/loader.py [--records 200000]
The last line is `RESULT loader_vs_copy=<ratio>` (b's rows/s over a's).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import orjson
from _common import bench_database, job_pages
from psycopg.types.json import Jsonb, set_json_dumps

from nexus.store.guard import mark_sync_run
from nexus.store.loader import Loader, flatten
from nexus.store.rows import TABLES

JOBS = TABLES["jobs"]

TENANT = 1


def baseline(db, pages: list[bytes]) -> float:
    rows = []
    for page in pages:
        data = orjson.loads(page)["data"]
        rows.extend(
            (TENANT, *r, Jsonb(rec)) for r, rec in zip(flatten(JOBS, data), data, strict=True)
        )
    now = datetime.now(UTC)
    cols = ("tenant_id", *JOBS.names, "raw", "created_at", "updated_at")
    types = ["int8", *JOBS.types, "jsonb", "timestamptz", "timestamptz"]
    with db.connect() as conn:
        # The same fast JSON encoder the loader uses, so the baseline is not handicapped.
        set_json_dumps(orjson.dumps, context=conn)
        conn.execute("TRUNCATE titan.jobs")
        conn.commit()
        start = time.perf_counter()
        with conn.transaction():
            mark_sync_run(conn, "bench")
            cur = conn.cursor()
            with cur.copy(f"COPY titan.jobs ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(types)
                for row in rows:
                    cp.write_row((*row, now, now))
        elapsed = time.perf_counter() - start
    return len(rows) / elapsed


def nexus_loader(db, pages: list[bytes]) -> float:
    count = 0
    with db.connect() as conn:
        conn.execute("TRUNCATE titan.jobs")
        conn.commit()
        loader = Loader(conn, JOBS, TENANT)
        conn.commit()
        start = time.perf_counter()
        for page in pages:
            body = orjson.loads(page)
            with conn.transaction():
                mark_sync_run(conn, "bench")
                result = loader.load(body["data"], datetime.now(UTC))
                conn.execute(
                    "INSERT INTO nexus.feeds (tenant_id, feed, token, updated_at)"
                    " VALUES (%s, 'jobs', %s, now()) ON CONFLICT (tenant_id, feed)"
                    " DO UPDATE SET token = EXCLUDED.token, updated_at = EXCLUDED.updated_at",
                    (TENANT, body["continueFrom"]),
                )
            count += result.read
        elapsed = time.perf_counter() - start
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    db = bench_database()
    pages = list(job_pages(args.records))
    copy_rate = baseline(db, pages)
    loader_rate = nexus_loader(db, pages)
    print(f"records={args.records}")
    print(f"copy_rows_per_s={copy_rate:,.0f}")
    print(f"loader_rows_per_s={loader_rate:,.0f}")
    print(f"RESULT loader_vs_copy={loader_rate / copy_rate:.3f}")


if __name__ == "__main__":
    main()
