"""The run ledger's summary per producer: the same answer as reading every run, from a few.

`ledger` reads each producer's newest runs through the indexes instead of
aggregating the whole ledger. The property test compares it with a plain
reading of every run, in Python, over random ledgers and moments; the plan
test shows that a long ledger is not read whole.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus.registry import vitals
from nexus.registry.vitals import LedgerEntry, ledger
from nexus.store.database import Database

TENANT = 1001
T0 = datetime(2026, 4, 1, tzinfo=UTC)
PRODUCERS = ("job_sync", "invoice_sync", "reconcile")
STATUSES = ("running", "succeeded", "failed", "abandoned")

Run = tuple[str, int, int | None, str, str | None]  # producer, start min, length min, status, error

runs_strategy = st.lists(
    st.tuples(
        st.sampled_from(PRODUCERS),
        st.integers(0, 120),
        st.one_of(st.none(), st.integers(0, 30)),
        st.sampled_from(STATUSES),
        st.one_of(st.none(), st.sampled_from(("HTTP 503", "token refused"))),
    ),
    max_size=30,
)


def insert(db: Database, runs: list[Run], tenant: int = TENANT) -> list[int]:
    with db.connect(autocommit=True) as conn:
        return [
            conn.execute(
                "INSERT INTO nexus.runs (tenant_id, producer, started_at, finished_at, status, error)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    tenant,
                    producer,
                    T0 + timedelta(minutes=start),
                    None if length is None else T0 + timedelta(minutes=start + length),
                    status,
                    error,
                ),
            ).fetchone()[0]
            for producer, start, length, status, error in runs
        ]


def by_reading_every_run(runs: list[Run], ids: list[int], now: datetime) -> dict[str, Any]:
    """What the ledger says, computed from every run started by `now`."""
    found: dict[str, Any] = {}
    started = [
        (producer, T0 + timedelta(minutes=start), run_id, length, status, error)
        for (producer, start, length, status, error), run_id in zip(runs, ids, strict=True)
        if T0 + timedelta(minutes=start) <= now
    ]
    for name in {r[0] for r in started}:
        mine = [r for r in started if r[0] == name]

        def finished(r: Any) -> datetime | None:
            return None if r[3] is None else r[1] + timedelta(minutes=r[3])

        successes = [finished(r) for r in mine if r[4] == "succeeded" and finished(r)]
        last_success = max(successes) if successes else None
        done = max(
            (r for r in mine if r[4] in ("succeeded", "failed")),
            key=lambda r: (r[1], r[2]),
            default=None,
        )
        failed = sorted(
            (r for r in mine if r[4] == "failed" and (last_success is None or r[1] > last_success)),
            key=lambda r: (r[1], r[2]),
            reverse=True,
        )
        found[name] = {
            "last_success": last_success,
            "last_run_id": done[2] if done else None,
            "last_status": done[4] if done else None,
            "last_finished": finished(done) if done else None,
            "last_error": done[5] if done else None,
            "failures_since_success": len(failed),
            "failed_run_ids": tuple(r[2] for r in failed[:5]),
            "failing_since": min((r[1] for r in failed), default=None),
        }
    return found


def as_dicts(entries: dict[str, LedgerEntry]) -> dict[str, Any]:
    return {
        name: {k: v for k, v in vars(e).items() if k != "producer"} for name, e in entries.items()
    }


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=runs_strategy, at=st.integers(-5, 160))
def test_the_ledger_says_what_reading_every_run_says(
    db: Database, runs: list[Run], at: int
) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute("DELETE FROM nexus.runs")
    ids = insert(db, runs)
    insert(db, [("job_sync", 0, 1, "failed", "another tenant's")], tenant=TENANT + 1)
    now = T0 + timedelta(minutes=at)
    with db.connect() as conn:
        got = as_dicts(ledger(conn, TENANT, now))
    assert got == by_reading_every_run(runs, ids, now)


def test_a_long_ledger_is_not_read_whole(db: Database) -> None:
    """A year of 15-minute runs of three producers: the summary reads a few rows of each producer."""
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO nexus.runs (tenant_id, producer, started_at, finished_at, status)"
            " SELECT %s, p, %s + n * interval '15 minutes', %s + n * interval '15 minutes' + interval '1 minute',"
            "        CASE WHEN n %% 97 = 0 THEN 'failed' ELSE 'succeeded' END"
            " FROM unnest(%s::text[]) p, generate_series(0, 35039) n",
            (TENANT, T0, T0, list(PRODUCERS)),
        )
        conn.execute("ANALYZE nexus.runs")
        now = T0 + timedelta(days=365)
        plan = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + vitals._LEDGER, {"tenant": TENANT, "now": now}
        ).fetchone()[0]
        with db.connect() as c2:
            entries = ledger(c2, TENANT, now)
    assert set(entries) == set(PRODUCERS)
    assert all(e.last_status == "succeeded" for e in entries.values())
    read = rows_read(plan if isinstance(plan, list) else json.loads(plan))
    total = 3 * 35040
    assert read < 100, f"the summary read {read} rows of a {total}-run ledger"


def rows_read(plan: list[dict[str, Any]]) -> int:
    """Rows every scan of a plan returned or filtered away, over all its loops."""

    def walk(node: dict[str, Any]) -> int:
        here = 0
        if "Scan" in node["Node Type"]:
            loops = node.get("Actual Loops", 1)
            here = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
        return here + sum(walk(child) for child in node.get("Plans", ()))

    return sum(walk(p["Plan"]) for p in plan)
