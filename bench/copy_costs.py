"""What each part of `titan.jobs` costs a raw COPY: the key, the guard, the indexes.

The same already-flattened job rows as `loader.py`'s raw COPYs (binary, raw record
as jsonb, one transaction, as the role `nexus_writer` the loader takes) go into:

- `pk_only`: a twin of titan.jobs with only its primary key (`loader.py`'s (a));
- `statement_guard`: the same, with the write guard's trigger as titan.jobs has it
  (after the statement, the inserted rows as a transition table);
- `row_guard`: the same, with the guard as a row trigger that only fires for
  roles other than `nexus_writer` (`WHEN (current_user <> 'nexus_writer')`) and
  counts the statement's rows itself: the cheaper form the guard could take;
- `indexes`: a twin with the primary key and titan.jobs's secondary indexes,
  no trigger;
- `titan.jobs` itself: key, indexes and guard (`loader.py`'s (b)).

Each COPY starts from an empty table after a checkpoint; the parts take turns,
round after round, so a slow minute of the machine falls on all of them. It
prints each round, then each part's median seconds, rows/s and µs a row, and
the difference from `pk_only`; the last line is `RESULT` with each part's µs a
row more than `pk_only`'s (`statement_guard_us=…`). Usage:
python bench/copy_costs.py [--records 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Sequence

import orjson
from _common import bench_database, job_pages
from loader import COLUMNS, TYPES, flattened, fresh
from psycopg.types.json import set_json_dumps

from nexus.store.database import Database
from nexus.store.guard import FUNCTION, WRITER_ROLE
from nexus.store.rows import Row

#: Each part and the table it loads; the twins are made by `make_twins`.
PARTS = {
    "pk_only": "bench_pk_only",
    "statement_guard": "bench_statement_guard",
    "row_guard": "bench_row_guard",
    "indexes": "bench_indexes",
    "titan.jobs": "titan.jobs",
}

#: The row form of the guard: a counter per statement, reset before it, checked per row.
ROW_GUARD = f"""
CREATE FUNCTION bench_guard_reset() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM set_config('bench.guard_rows', '0', true);
    RETURN NULL;
END $f$;
CREATE FUNCTION bench_guard_count() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
    n bigint := coalesce(nullif(current_setting('bench.guard_rows', true), ''), '0')::bigint + 1;
BEGIN
    PERFORM set_config('bench.guard_rows', n::text, true);
    IF n > 1000 THEN
        RAISE EXCEPTION 'bench guard: more than 1000 rows in one statement';
    END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER guard_reset BEFORE INSERT ON bench_row_guard
    FOR EACH STATEMENT EXECUTE FUNCTION bench_guard_reset();
CREATE TRIGGER guard_count AFTER INSERT ON bench_row_guard
    FOR EACH ROW WHEN (current_user <> '{WRITER_ROLE}') EXECUTE FUNCTION bench_guard_count();
"""


def make_twins(db: Database) -> None:
    with db.connect() as conn:
        for part, table in PARTS.items():
            if table.startswith("titan."):
                continue
            like = "INCLUDING DEFAULTS" + (" INCLUDING INDEXES" if part == "indexes" else "")
            conn.execute(f"CREATE TABLE {table} (LIKE titan.jobs {like})")
            if part != "indexes":
                conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (tenant_id, id)")
        conn.execute(
            f"CREATE TRIGGER guard AFTER INSERT ON {PARTS['statement_guard']}"
            f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
        conn.execute(ROW_GUARD)
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {WRITER_ROLE}")
        conn.commit()


def copy_seconds(db: Database, rows: Sequence[Row], table: str) -> float:
    with db.connect() as conn:
        set_json_dumps(orjson.dumps, context=conn)
        fresh(conn, table)
        start = time.perf_counter()
        with conn.transaction():
            conn.execute(f"SET LOCAL ROLE {WRITER_ROLE}")
            copy_sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            with conn.cursor().copy(copy_sql) as copy:
                copy.set_types(TYPES)
                for row in rows:
                    copy.write_row(row)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    db = bench_database()
    make_twins(db)
    rows = flattened(list(job_pages(args.records)))
    gc.freeze()  # the rows stay alive throughout; collections need not walk them
    seconds: dict[str, list[float]] = {part: [] for part in PARTS}
    for n in range(1, args.rounds + 1):
        for part, table in PARTS.items():
            seconds[part].append(copy_seconds(db, rows, table))
        print(f"round {n}: " + " ".join(f"{p}={s[-1]:.2f}s" for p, s in seconds.items()))
    base = statistics.median(seconds["pk_only"]) / args.records * 1e6
    extra = {}
    for part, runs in seconds.items():
        median = statistics.median(runs)
        per_row = median / args.records * 1e6
        extra[part] = per_row - base
        print(
            f"{part}: median {median:.2f} s, {args.records / median:,.0f} rows/s,"
            f" {per_row:.1f} µs a row ({extra[part]:+.1f} against pk_only)"
        )
    del extra["pk_only"]
    named = {part.replace("titan.jobs", "titan_jobs"): us for part, us in extra.items()}
    print("RESULT " + " ".join(f"{part}_us={us:.1f}" for part, us in named.items()))


if __name__ == "__main__":
    main()
