"""The loader: idempotent upserts, derived invoice totals, and bad records refused whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import export_records as records
from export_records import iso, load_page, whole_rows
from nexus.errors import BadRecordError, WriteRefused
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.store.guard import mark_sync_run
from nexus.store.loader import SMALL_PAGE_ROWS, STAGE_FILE_ROWS, Loader
from nexus.store.rows import TABLES

JOBS, INVOICES = TABLES["jobs"], TABLES["invoices"]

T0 = datetime(2026, 4, 1, 12, tzinfo=UTC)
TENANT = 7


def job(job_id: int, **kw: Any) -> dict[str, Any]:
    return records.job(job_id, at=T0, **kw)


def invoice(inv_id: int, job_id: int, amount: str, **kw: Any) -> dict[str, Any]:
    return records.invoice(inv_id, job_id, amount, at=T0, **kw)


def load(db: Database, spec: Any, page: list[dict], now: datetime = T0) -> int:
    with db.connect(autocommit=True) as conn:
        return load_page(conn, spec, TENANT, page, now)


def jobs_state(db: Database) -> dict[int, tuple[Any, ...]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, invoice_total, job_status, updated_at FROM titan.jobs WHERE tenant_id = %s",
            (TENANT,),
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_reloading_the_same_records_changes_nothing(db: Database) -> None:
    records = [job(1), job(2), job(3)]
    assert load(db, JOBS, records) == 3
    before = jobs_state(db)
    assert load(db, JOBS, records, now=T0 + timedelta(hours=1)) == 0
    assert jobs_state(db) == before


def test_a_newer_version_updates_and_an_older_one_never_overwrites(db: Database) -> None:
    load(db, JOBS, [job(1, status="InProgress")])
    newer = job(1, status="Completed", modified=T0 + timedelta(hours=2))
    assert load(db, JOBS, [newer], now=T0 + timedelta(hours=2)) == 1
    stale = job(1, status="Hold", modified=T0 + timedelta(hours=1))
    assert load(db, JOBS, [stale], now=T0 + timedelta(hours=3)) == 0
    assert jobs_state(db)[1][1] == "Completed"
    assert jobs_state(db)[1][2] == T0 + timedelta(hours=2)


def test_a_record_repeated_within_a_page_keeps_its_newest_version(db: Database) -> None:
    page = [job(1, status="Completed", modified=T0 + timedelta(hours=1)), job(1, status="Hold")]
    assert load(db, JOBS, page) == 1
    assert jobs_state(db)[1][1] == "Completed"


def test_pages_on_one_loader_merge_only_their_own_rows_and_the_stage_file_stays_small(
    db: Database,
) -> None:
    # Small pages empty the stage with a DELETE, which leaves the rows in its file until a
    # TRUNCATE; each page must still merge its own rows only, a page rolled back included.
    pages = STAGE_FILE_ROWS * 3 // 4
    with db.connect(autocommit=True) as conn:
        loader = Loader(conn, JOBS, TENANT)
        with conn.transaction():
            mark_sync_run(conn, 1)
            loader.load([job(i) for i in range(1, 4)], T0)
        for n in range(pages):
            when = T0 + timedelta(minutes=n + 1)
            page = [job(1 + n % 3, modified=when, summary=f"page {n}"), job(100 + n)]
            with conn.transaction():
                mark_sync_run(conn, 1)
                assert loader.load(page, when).changed == 2, n
            if n == pages // 2:
                with pytest.raises(RuntimeError), conn.transaction():
                    mark_sync_run(conn, 1)
                    loader.load([job(1, modified=when, summary="rolled back"), job(999)], when)
                    raise RuntimeError("the page's transaction fails after the merge")
        stage_bytes = conn.execute("SELECT pg_relation_size('stage_jobs')").fetchone()
        staged = conn.execute("SELECT count(*) FROM stage_jobs").fetchone()
        summaries = dict(
            conn.execute(
                "SELECT id, summary FROM titan.jobs WHERE tenant_id = %s AND id <= 3", (TENANT,)
            ).fetchall()
        )
        count = conn.execute(
            "SELECT count(*) FROM titan.jobs WHERE tenant_id = %s", (TENANT,)
        ).fetchone()
    assert count == (3 + pages,), "each page's new job once, the rolled-back one not at all"
    last = {1 + n % 3: f"page {n}" for n in range(pages)}
    assert summaries == last
    assert staged == (2,), "the stage holds the last page's rows, no earlier page's"
    # At most STAGE_FILE_ROWS rows stay in the file, not every page's since the start.
    assert stage_bytes is not None and stage_bytes[0] <= 8192 * STAGE_FILE_ROWS // 16


def test_invoice_total_is_derived_whichever_feed_arrives_first(db: Database) -> None:
    # Invoices first: job 2 does not exist yet, so its total waits for the job.
    load(db, INVOICES, [invoice(11, 1, "0.00"), invoice(12, 2, "250.00")])
    load(db, JOBS, [job(1), job(2), job(3)])
    totals = {k: v[0] for k, v in jobs_state(db).items()}
    assert totals == {1: Decimal("0.00"), 2: Decimal("250.00"), 3: Decimal("0")}
    # The invoice is finished later, an adjustment lands, an inactive one is ignored.
    load(
        db,
        INVOICES,
        [
            invoice(11, 1, "380.50", modifiedOn=iso(T0 + timedelta(hours=1))),
            invoice(13, 1, "-30.50", adjustmentToId=11),
            invoice(14, 1, "999.00", active=False),
        ],
    )
    assert jobs_state(db)[1][0] == Decimal("350.00")


def test_a_bad_record_fails_the_whole_page_and_names_feed_record_and_field(db: Database) -> None:
    page = [invoice(11, 1, "10.00"), invoice(12, 2, "7.00", total="abc"), invoice(13, 3, "5.00")]
    with pytest.raises(BadRecordError) as info:
        load(db, INVOICES, page)
    message = str(info.value)
    assert "invoices feed" in message and "id=12" in message and "'total'" in message
    assert "'abc'" in message
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM titan.invoices").fetchone()[0] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("id", "17", "expected an integer id"),
        ("createdOn", None, "is missing"),
        ("completedOn", "yesterday", "ISO 8601"),
        ("noCharge", "no", "true or false"),
        ("customerId", 1.5, "expected an integer"),
        # Past bigint: refused here, by name, not by the COPY as an overflow of no field.
        ("customerId", 2**63, "expected an integer (64-bit), got 9223372036854775808"),
        ("id", -(2**63) - 1, "expected an integer id (64-bit)"),
    ],
)
def test_each_kind_of_bad_job_field_is_named(field: str, value: Any, expected: str) -> None:
    record = job(5)
    record[field] = value
    with pytest.raises(BadRecordError) as info:
        JOBS.flatten(record)
    assert info.value.field == field
    assert expected in str(info.value)


def test_concurrent_job_and_invoice_pages_never_lose_a_derived_total(db: Database) -> None:
    """Each load reads the other feed's rows; the loader makes them take turns."""
    import threading

    rounds = 40
    for r in range(rounds):
        base = 1000 * (r + 1)
        jobs = [job(base + i) for i in range(20)]
        invoices = [invoice(base + 500 + i, base + i, f"{i + 1}.00") for i in range(20)]
        barrier = threading.Barrier(2)

        def run(spec: Any, records: list[dict], barrier: threading.Barrier) -> None:
            with db.connect(autocommit=True) as conn:
                loader = Loader(conn, spec, TENANT)
                with conn.transaction():
                    mark_sync_run(conn, 1)
                    barrier.wait()
                    loader.load(records, T0)

        threads = [
            threading.Thread(target=run, args=(JOBS, jobs, barrier)),
            threading.Thread(target=run, args=(INVOICES, invoices, barrier)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    totals = {k: v[0] for k, v in jobs_state(db).items()}
    expected = {
        1000 * (r + 1) + i: Decimal(f"{i + 1}.00") for r in range(rounds) for i in range(20)
    }
    assert totals == expected


# -- the two paths: new keys copied straight in, others merged ------------------------

APPOINTMENTS = TABLES["appointments"]


def appointment(app_id: int, job_id: int, start: datetime, *, active: bool = True) -> dict:
    return {"id": app_id, "jobId": job_id, "start": iso(start), "active": active}


def staged(conn: Connection, spec: Any) -> int:
    """Rows in the session's stage table: the merge leaves its page there, the copy none."""
    return conn.execute(f"SELECT count(*) FROM pg_temp.stage_{spec.feed}").fetchone()[0]  # type: ignore[index]


def test_new_keys_are_copied_straight_in_with_the_rows_a_merge_writes(db: Database) -> None:
    """Typed columns, raw record, load times and derived values are the same either way."""
    sources = {
        INVOICES: [
            invoice(11, 1, "120.00"),
            invoice(12, 1, "30.50"),
            invoice(13, 2, "9.99"),
            invoice(14, 2, "500.00", active=False),
        ],
        APPOINTMENTS: [
            appointment(21, 1, T0 + timedelta(days=2)),
            appointment(22, 1, T0 + timedelta(days=1)),
            appointment(23, 3, T0 - timedelta(days=1), active=False),
        ],
    }
    page = [job(1), job(2, status="Scheduled"), job(3), job(4, noCharge=True), job(99)]
    straight, merged, in_one_batch = TENANT + 1, TENANT + 2, TENANT + 3
    with db.connect(autocommit=True) as conn:
        for spec, records in sources.items():
            for tenant in (straight, merged, in_one_batch):
                load_page(conn, spec, tenant, records, T0)
    with db.connect(autocommit=True) as conn:
        assert load_page(conn, JOBS, straight, page, T0, one_batch_rows=0) == 5
        assert staged(conn, JOBS) == 0, "a page of new keys is copied straight in"
    with db.connect(autocommit=True) as conn:
        load_page(conn, JOBS, merged, [job(99)], T0)  # one key of the page is already there
        assert load_page(conn, JOBS, merged, page, T0, one_batch_rows=0) == 4
        assert staged(conn, JOBS) == 5, "a page with a key the tenant has is merged"
    with db.connect(autocommit=True) as conn:
        assert load_page(conn, JOBS, in_one_batch, page, T0) == 5
        assert staged(conn, JOBS) == 5, "a small page is staged from its JSON document"
    assert whole_rows(db, JOBS, straight) == whole_rows(db, JOBS, merged)
    assert whole_rows(db, JOBS, in_one_batch) == whole_rows(db, JOBS, straight)
    with db.connect() as conn:
        found = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, invoice_total, scheduled_at, job_status, no_charge, raw,"
                " created_at, updated_at FROM titan.jobs WHERE tenant_id = %s",
                (straight,),
            )
        }
    assert found[1][:2] == (Decimal("150.50"), T0 + timedelta(days=1))
    assert found[2][:3] == (Decimal("9.99"), None, "Scheduled")
    assert found[3][:2] == (Decimal("0"), None)  # its one appointment is inactive
    assert found[4][3] is True and found[4][4] == job(4, noCharge=True)
    assert found[4][5:] == (T0, T0)


#: Versions of invoices 1–3 as a page may repeat them: (id, hours after T0 it was
#: modified or None when the record has no modification time, its total).
versions = st.lists(
    st.tuples(st.integers(1, 3), st.none() | st.integers(0, 3), st.integers(1, 99).map(str)),
    min_size=1,
    max_size=8,
)
_tenants = iter(range(1_000, 1_000_000, 3))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=versions)
def test_a_repeated_record_keeps_the_version_a_merge_keeps(
    db: Database, page: list[tuple[int, int | None, str]]
) -> None:
    """Newest modification first, then one without a time, then the later in the page."""
    records = []
    for inv_id, hours, amount in page:
        record = invoice(inv_id, inv_id, f"{amount}.00")
        record["modifiedOn"] = None if hours is None else iso(T0 + timedelta(hours=hours))
        records.append(record)
    straight = next(_tenants)
    merged, in_one_batch = straight + 1, straight + 2
    with db.connect(autocommit=True) as conn:
        load_page(conn, INVOICES, straight, records, T0, one_batch_rows=0)
        assert staged(conn, INVOICES) == 0
    with db.connect(autocommit=True) as conn:
        load_page(conn, INVOICES, merged, [invoice(50, 50, "1.00")], T0)
        load_page(conn, INVOICES, merged, [*records, invoice(50, 50, "1.00")], T0, one_batch_rows=0)
        assert staged(conn, INVOICES) == len(records) + 1
    with db.connect(autocommit=True) as conn:
        load_page(conn, INVOICES, in_one_batch, records, T0)
    merged_rows = whole_rows(db, INVOICES, merged)
    del merged_rows[(50,)]
    assert whole_rows(db, INVOICES, straight) == merged_rows
    assert whole_rows(db, INVOICES, in_one_batch) == merged_rows


def test_a_key_committed_after_the_look_turns_the_page_into_a_merge(db: Database) -> None:
    """A writer's uncommitted row is invisible to the look; the copy then meets its key."""
    import threading

    other = db.connect()
    other.execute(
        "INSERT INTO titan.jobs (tenant_id, id, job_status, created_on, modified_on, raw,"
        " created_at, updated_at) VALUES (%s, 5, 'Hold', %s, %s, '{}', %s, %s)",
        (TENANT, T0, T0, T0, T0),
    )
    page = [job(5, modified=T0 + timedelta(hours=1)), job(6)]
    result: list[int] = []
    errors: list[BaseException] = []

    def load_in_thread() -> None:
        try:
            with db.connect(autocommit=True) as conn:
                result.append(load_page(conn, JOBS, TENANT, page, T0, one_batch_rows=0))
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    loading = threading.Thread(target=load_in_thread)
    loading.start()
    try:
        with db.connect(autocommit=True) as watch:
            for _ in range(3000):
                waiting = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE 'COPY titan.jobs%%'"
                ).fetchone()
                if waiting and waiting[0]:
                    break
                threading.Event().wait(0.01)
            else:
                pytest.fail("the page's copy never waited for the other writer's key")
        other.commit()
    finally:
        other.close()
        loading.join()
    assert errors == []
    assert result == [2]
    states = jobs_state(db)
    assert set(states) == {5, 6} and states[5][1] == "Completed"


def test_a_big_page_of_new_keys_passes_the_guard_only_as_the_writer_role(db: Database) -> None:
    page = [job(i) for i in range(1, 1002)]
    with db.connect(autocommit=True) as conn:
        loader = Loader(conn, JOBS, TENANT)
        with pytest.raises(WriteRefused) as info, conn.transaction():
            loader.load(page, T0)
        assert "refused to insert 1001 rows into titan.jobs" in str(info.value)
        assert jobs_state(db) == {}
        with conn.transaction():
            mark_sync_run(conn, 1)
            assert loader.load(page, T0).changed == 1001
    assert len(jobs_state(db)) == 1001


@pytest.mark.parametrize("one_batch_rows", [0, SMALL_PAGE_ROWS], ids=["copied", "one batch"])
def test_a_duplicate_key_in_the_callers_own_statements_is_raised_as_such(
    db: Database, one_batch_rows: int
) -> None:
    """A copy beaten by another writer is undone to its savepoint and merged; the same
    error from the caller's `after`, sent after the savepoint's release, is the caller's."""
    from psycopg import sql

    from nexus.errors import DatabaseError
    from nexus.store.guard import share_with_writer

    with db.connect(autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE taken (id int PRIMARY KEY)")
        conn.execute("INSERT INTO taken VALUES (1)")
        share_with_writer(conn, sql.Identifier("taken"))
        loader = Loader(conn, JOBS, TENANT, one_batch_rows=one_batch_rows)

        def begin() -> None:
            conn.execute("BEGIN")
            mark_sync_run(conn, 1)

        def after() -> None:
            conn.execute("INSERT INTO taken VALUES (1)")
            conn.execute("COMMIT")

        with pytest.raises(DatabaseError) as info:
            loader.load([job(1), job(2)], T0, before=begin, after=after)
        assert info.value.sqlstate == "23505"
        assert "taken_pkey" in str(info.value)
        conn.rollback()
    assert jobs_state(db) == {}


def test_a_look_at_few_keys_is_never_a_generic_plan_made_on_a_small_table(db: Database) -> None:
    """Prepared on an empty table, the look's generic plan filtered every row of the tenant."""
    with db.connect(autocommit=True) as conn:
        loader = Loader(conn, JOBS, TENANT, one_batch_rows=0)
        for page in range(12):  # past psycopg's and the server's thresholds for preparing
            with conn.transaction():
                mark_sync_run(conn, 1)
                loader.load([job(page * 12 + i) for i in range(1, 13)], T0)
        prepared = conn.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE statement LIKE 'SELECT EXISTS (SELECT FROM titan.jobs%%'"
        ).fetchone()
    assert prepared == (0,)
    assert len(jobs_state(db)) == 144
