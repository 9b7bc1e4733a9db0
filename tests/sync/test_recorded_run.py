"""`recorded_run`: one lock, one ledger row and one outcome for every producer run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nexus.clock import VirtualClock
from nexus.errors import BadRecordError
from nexus.store.database import Database
from nexus.sync.recorded_run import ProducerBusy, lock_key, recorded_run

TENANT = 1001


def runs(db: Database) -> list[tuple[object, ...]]:
    with db.connect() as conn:
        return conn.execute(
            "SELECT producer, status, rows_read, rows_changed, error_kind FROM nexus.runs"
            " ORDER BY id"
        ).fetchall()


def test_a_run_is_recorded_with_its_counts_and_its_failure_kind(db: Database) -> None:
    clock = VirtualClock(datetime(2026, 4, 1, tzinfo=UTC))
    with db.connect(autocommit=True) as conn:
        with recorded_run(conn, TENANT, "probe", clock) as run:
            assert run.started_at == clock.now()
            run.rows_read, run.rows_changed = 5, 2
        with pytest.raises(BadRecordError), recorded_run(conn, TENANT, "probe", clock):
            raise BadRecordError("jobs", 7, "total", "not a number")
    assert runs(db) == [
        ("probe", "succeeded", 5, 2, None),
        ("probe", "failed", 0, 0, "bad_record"),
    ]


def test_a_held_lock_skips_the_run_without_a_ledger_row(db: Database) -> None:
    clock = VirtualClock(datetime(2026, 4, 1, tzinfo=UTC))
    with db.connect(autocommit=True) as other, db.connect(autocommit=True) as conn:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key(TENANT, "probe"),))
        with (
            pytest.raises(ProducerBusy, match="probe is already running"),
            recorded_run(conn, TENANT, "probe", clock, wait_s=0.1),
        ):
            pass
    assert runs(db) == []
