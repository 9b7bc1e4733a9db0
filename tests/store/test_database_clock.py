"""The database's clock: production's "now", asked of the server once per run or proof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nexus.clock import VirtualClock, fresh_now
from nexus.servicetitan.feeds import JOBS
from nexus.simulator import Simulator
from nexus.store.clock import DatabaseClock
from nexus.store.database import Database
from nexus.sync.feed_sync import sync_feed
from stsim import TENANT, client_for

#: Far more than any round trip, far less than the skews the clock is there for.
CLOSE = timedelta(minutes=1)


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


class CountingClock(DatabaseClock):
    """A database clock that counts how often it asks the server."""

    reads = 0

    def read(self) -> datetime:
        self.reads += 1
        return super().read()


def server_now(db: Database) -> datetime:
    with db.connect(autocommit=True) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0].astimezone(UTC)  # type: ignore[no-any-return]


def test_it_tells_the_servers_time_and_counts_on_without_asking(db: Database) -> None:
    monotonic = Monotonic()
    clock = CountingClock(db, monotonic=monotonic)
    first = clock.now()  # the first answer asks the server
    assert abs(first - server_now(db)) < CLOSE
    assert first.tzinfo == UTC
    monotonic.value += 90
    assert clock.now() == first + timedelta(seconds=90)
    assert clock.reads == 1


def test_it_never_goes_back_when_asked_again(db: Database) -> None:
    monotonic = Monotonic()
    clock = DatabaseClock(db, monotonic=monotonic)
    ahead = clock.now() + timedelta(seconds=600)
    monotonic.value += 600  # as if ten minutes passed here but not on the server
    assert clock.now() == ahead
    assert clock.read() == ahead  # the server is behind that now: the clock waits for it
    monotonic.value += 1
    assert clock.now() == ahead


def test_fresh_now_asks_a_sourced_clock_and_leaves_a_virtual_one_alone(db: Database) -> None:
    clock = CountingClock(db)
    fresh_now(clock)
    fresh_now(clock)
    assert clock.reads == 2
    virtual = VirtualClock(datetime(2026, 4, 1, tzinfo=UTC))
    assert fresh_now(virtual) == datetime(2026, 4, 1, tzinfo=UTC)


def test_a_run_asks_the_server_once_and_is_recorded_on_its_time(
    db: Database, sim: Simulator
) -> None:
    clock = CountingClock(db)
    before = server_now(db)
    with sim.serve() as server, client_for(server) as client:
        result = sync_feed(db, client, TENANT, JOBS, clock)
    after = server_now(db)
    assert result.rows_changed > 0
    assert clock.reads == 1  # the run's start; every page and the finish count on from it
    with db.connect() as conn:
        row = conn.execute(
            "SELECT started_at, finished_at FROM nexus.runs WHERE id = %s", (result.run_id,)
        ).fetchone()
        loaded = conn.execute("SELECT min(created_at), max(created_at) FROM titan.jobs").fetchone()
    assert row is not None and loaded is not None
    assert before <= row[0] <= loaded[0] <= loaded[1] <= row[1] <= after
