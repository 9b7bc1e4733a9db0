"""Source checks: a sync run asks ServiceTitan for each feed's newest change and records the lag.

Every test runs the simulated tenant over real HTTP and a real Postgres. The
simulator's request log counts the checks (a feed's list path is read by
nothing else in these runs); a transport in front of the real one breaks only
the checks (the requests that sort), to show a failed check costs the export
nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest

from mirror_check import assert_feed_equals_truth, truth
from nexus.catalog import FEEDS, Feed
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.registry.config import ConfigFileError, parse_config
from nexus.simulator import Simulator
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.sync.feed_sync import Syncer
from nexus.sync.source_check import (
    SourceAnswer,
    SourceCheck,
    record_check,
    record_checks,
    source_checks,
)
from stsim import CREDENTIALS, TENANT, client_for

JOB_SYNC = tuple(FEEDS[n] for n in ("jobs", "projects", "appointments", "job_types"))


def newest_in_truth(sim: Simulator, feed: str) -> datetime | None:
    """ServiceTitan's newest modifiedOn of the feed, from the simulated tenant's own records."""
    stamps = [r["modifiedOn"] for r in truth(sim, feed).values() if r.get("modifiedOn")]
    return max(map(datetime.fromisoformat, stamps)) if stamps else None


def mirror_newest(db: Database, feed: str) -> datetime | None:
    with db.connect() as conn:
        row = conn.execute(
            f"SELECT max(modified_on) FROM titan.{feed} WHERE tenant_id = %s", (TENANT,)
        ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def checks(db: Database, now: datetime) -> dict[str, SourceCheck]:
    with db.connect() as conn:
        return source_checks(conn, TENANT, now)


def list_requests(sim: Simulator, feed: Feed) -> int:
    return sim.tenant(TENANT).request_counts().get(feed.list_url_path(TENANT), 0)


def last_run(db: Database) -> tuple[int, str, str | None]:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT id, status, error_kind FROM nexus.runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    return row  # type: ignore[return-value]


def feed_row(db: Database, feed: str) -> tuple[str | None, datetime | None]:
    """The feed's token and when it was last checked against the source."""
    with db.connect() as conn:
        row = conn.execute(
            "SELECT token, source_checked_at FROM nexus.feeds WHERE tenant_id = %s AND feed = %s",
            (TENANT, feed),
        ).fetchone()
    assert row is not None, f"{feed} was never synced"
    return row  # type: ignore[return-value]


def test_each_checkable_feed_is_asked_once_an_hour_and_records_the_sources_newest(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(history_days=10)
    checked = [f for f in JOB_SYNC if f.newest_first is not None]
    assert [f.name for f in checked] == ["jobs", "projects", "appointments"]
    asked_at: dict[str, datetime] = {}
    with (
        sim.serve() as server,
        client_for(server) as client,
        Syncer(db, client, TENANT, clock) as s,
    ):
        for minute in range(0, 121, 15):
            s.run_producer("job_sync", JOB_SYNC)
            run_id, status, _ = last_run(db)
            assert status == "succeeded"
            found = checks(db, clock.now())
            assert set(found) == {f.name for f in checked}, "job_types' list cannot be sorted"
            for feed in checked:
                check = found[feed.name]
                if minute % 60 == 0:  # due: asked in this run, before its export was read
                    asked_at[feed.name] = clock.now()
                    assert check.run_id == run_id
                    assert check.source_newest == newest_in_truth(sim, feed.name)
                    assert check.mirror_newest == mirror_newest(db, feed.name)
                    assert check.mirror_newest == check.source_newest
                    assert (check.lag_s, check.behind) == (0, False)
                assert check.checked_at == asked_at[feed.name]
            sim.advance(timedelta(minutes=15))
    # Runs at 0, 15, …, 120 minutes: asked at 0, 60 and 120 only, one request each time.
    assert {f.name: list_requests(sim, f) for f in checked} == {f.name: 3 for f in checked}


def test_a_quiet_feed_after_a_successful_sync_has_no_lag_however_old_its_rows(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    memberships = FEEDS["memberships"]
    with (
        sim.serve() as server,
        client_for(server) as client,
        Syncer(db, client, TENANT, clock) as s,
    ):
        s.run_producer("membership_sync", [memberships])
        sim.advance(timedelta(hours=2))
        s.run_producer("membership_sync", [memberships])
    newest = mirror_newest(db, "memberships")
    assert newest is not None and clock.now() - newest > timedelta(days=10), "a quiet table"
    check = checks(db, clock.now())["memberships"]
    assert check.checked_at == clock.now()
    assert check.source_newest == check.mirror_newest == newest
    assert (check.lag_s, check.behind) == (0, False)


def test_a_feed_whose_export_misses_changes_shows_how_far_the_mirror_is_behind(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    jobs = FEEDS["jobs"]
    with (
        sim.serve() as server,
        client_for(server) as client,
        Syncer(db, client, TENANT, clock) as s,
    ):
        s.run(jobs)
        held = mirror_newest(db, "jobs")
        # From now on the export loses every change of jobs; the list still shows them.
        sim.tenant(TENANT).faults.drop_export_share({"jobs": 1.0})
        sim.advance(timedelta(days=1))
        s.run(jobs)
    assert last_run(db)[1] == "succeeded"
    source = newest_in_truth(sim, "jobs")
    assert held is not None and source is not None and source > held
    check = checks(db, clock.now())["jobs"]
    assert (check.source_newest, check.mirror_newest) == (source, held)
    assert check.lag_s == math.ceil((source - held).total_seconds()) > 0
    assert check.behind


def test_a_mirror_holding_none_of_a_feed_st_has_is_behind_by_everything(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(history_days=10)
    sim.tenant(TENANT).faults.drop_export_share({"projects": 1.0})
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock, feeds=["projects"])
    check = checks(db, clock.now())["projects"]
    assert check.source_newest == newest_in_truth(sim, "projects") is not None
    assert (check.mirror_newest, check.lag_s, check.behind) == (None, None, True)


def test_feeds_whose_list_cannot_be_sorted_by_modified_time_record_nothing(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    unsortable = {
        "invoice_items": "invoice_sync",  # no list at all
        "job_types": "job_sync",  # a reference list without sort
        "technicians": "settings_sync",  # a list without sort
    }
    assert all(FEEDS[name].newest_first is None for name in unsortable)
    with (
        sim.serve() as server,
        client_for(server) as client,
        Syncer(db, client, TENANT, clock) as s,
    ):
        for name, producer in unsortable.items():
            s.run_producer(producer, [FEEDS[name]])
    assert checks(db, clock.now()) == {}
    assert all(feed_row(db, name)[1] is None for name in unsortable)
    assert list_requests(sim, FEEDS["technicians"]) == 0


def test_every_checkable_feeds_newest_change_is_the_simulated_sources(
    sim: Simulator, client: object
) -> None:
    from nexus.servicetitan import ServiceTitanClient

    assert isinstance(client, ServiceTitanClient)
    checkable = [f for f in FEEDS.values() if f.newest_first is not None]
    assert len(checkable) > 30
    for feed in checkable:
        record = client.newest_change(feed)
        newest = newest_in_truth(sim, feed.name)
        if newest is None:
            assert record is None, feed.name
        else:
            assert record is not None, feed.name
            assert datetime.fromisoformat(record["modifiedOn"]) == newest, feed.name
    with pytest.raises(ValueError, match="technicians's list cannot be sorted by its modified"):
        client.newest_change(FEEDS["technicians"])


# -- a check that fails -------------------------------------------------------------------


class BrokenChecks(httpx.BaseTransport):
    """The real transport, except that the source checks (requests that sort) meet `fault`."""

    def __init__(self) -> None:
        self._real = httpx.HTTPTransport()
        self.fault: Callable[[httpx.Request], httpx.Response] | None = None
        self.faulted = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.fault is not None and "sort" in request.url.params:
            self.faulted += 1
            return self.fault(request)
        return self._real.handle_request(request)

    def close(self) -> None:
        self._real.close()


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _answer(status: int, body: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body, request=request)


FAULTS = {
    "503": _answer(503, {"title": "Service Unavailable", "status": 503}),
    "timeout": _timeout,
    "malformed page": _answer(200, {"page": 1, "pageSize": 1, "hasMore": False, "data": "x"}),
    "bad modifiedOn": _answer(
        200, {"page": 1, "pageSize": 1, "hasMore": False, "data": [{"id": 7, "modifiedOn": "?"}]}
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failed_check_leaves_the_export_and_token_intact_and_is_asked_again_next_run(
    db: Database,
    sim: Simulator,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    invoices = FEEDS["invoices"]
    transport = BrokenChecks()
    with (
        sim.serve() as server,
        client_for(server, transport=transport) as client,
        Syncer(db, client, TENANT, clock) as s,
    ):
        s.run(invoices)
        first = checks(db, clock.now())["invoices"]
        token_before, _ = feed_row(db, "invoices")
        sim.advance(timedelta(hours=2))  # new invoices, and the check is due
        transport.fault = FAULTS[fault]
        with caplog.at_level(logging.WARNING, logger="nexus.sync.source_check"):
            s.run(invoices)
        # The export ran as usual: every invoice mirrored, the token moved on.
        assert last_run(db)[1] == "succeeded"
        assert_feed_equals_truth(db, sim, "invoices")
        token_after, _ = feed_row(db, "invoices")
        assert token_after is not None and token_after != token_before
        assert checks(db, clock.now())["invoices"] == first, "the failed check recorded nothing"
        (warning,) = [r.getMessage() for r in caplog.records if r.name.endswith("source_check")]
        assert "could not ask ServiceTitan for the newest change of invoices" in warning
        assert "the next run asks again" in warning
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert CREDENTIALS.client_secret not in logged and CREDENTIALS.app_key not in logged
        # One minute later, not an hour: the next run asks again and records the answer.
        transport.fault = None
        sim.advance(timedelta(minutes=1))
        asked = list_requests(sim, invoices)
        s.run(invoices)
    assert list_requests(sim, invoices) == asked + 1
    check = checks(db, clock.now())["invoices"]
    assert check.checked_at == clock.now()
    assert check.source_newest == newest_in_truth(sim, "invoices") == check.mirror_newest


def test_after_a_check_meets_a_5xx_the_run_asks_no_more_and_syncs_every_feed(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    transport = BrokenChecks()
    transport.fault = FAULTS["503"]
    with (
        sim.serve() as server,
        client_for(server, transport=transport, max_attempts=3) as client,
        Syncer(db, client, TENANT, clock) as s,
    ):
        s.run_producer("job_sync", JOB_SYNC)
    assert transport.faulted == 3, "one check's three attempts, not one check per feed"
    assert last_run(db)[1] == "succeeded"
    for feed in JOB_SYNC:
        assert_feed_equals_truth(db, sim, feed.name)
    assert checks(db, clock.now()) == {}


def test_a_check_refused_with_401_fails_the_run_as_the_export_would(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    jobs = FEEDS["jobs"]
    transport = BrokenChecks()
    transport.fault = _answer(401, {"title": "Unauthorized", "status": 401})
    with (
        sim.serve() as server,
        client_for(server, transport=transport) as client,
        Syncer(db, client, TENANT, clock) as s,
        pytest.raises(Exception, match="NEXUS_ST_CLIENT_SECRET") as info,
    ):
        s.run(jobs)
    assert CREDENTIALS.client_secret not in str(info.value)
    assert last_run(db)[1:] == ("failed", "auth")
    assert mirror_newest(db, "jobs") is None, "the run stopped before the export"
    assert checks(db, clock.now()) == {}


# -- the interval and the reader ----------------------------------------------------------


def test_the_configured_interval_decides_how_often_each_feed_is_asked(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    config = parse_config(
        '[mirror]\nfeeds = ["jobs", "invoices", "customers"]\nsource_check_every = "30m"\n'
    )
    assert config.mirror.source_check_every == timedelta(minutes=30)
    with sim.serve() as server, client_for(server) as client:
        for _ in range(5):  # at 0, 15, 30, 45 and 60 minutes
            sync_all(db, client, TENANT, clock, config=config)
            sim.advance(timedelta(minutes=15))
    assert {n: list_requests(sim, FEEDS[n]) for n in ("jobs", "invoices", "customers")} == {
        "jobs": 3,
        "invoices": 3,
        "customers": 3,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '"soon"',
            "nexus.toml:2: mirror: source_check_every 'soon' is not a duration — write a "
            'number and a unit: "90s", "15m", "1h" or "7d"',
        ),
        (
            '"0m"',
            "nexus.toml:2: mirror: source_check_every must be longer than zero — use e.g. "
            '"90s", "15m", "1h" or "7d"',
        ),
        (
            "60",
            "nexus.toml:2: mirror: source_check_every must be a duration in quotes, not the "
            'number 60 — write it with a unit, e.g. "90s", "15m", "1h" or "7d"',
        ),
    ],
    ids=["not a duration", "zero", "bare number"],
)
def test_a_bad_check_interval_gets_one_clear_message(value: str, expected: str) -> None:
    with pytest.raises(ConfigFileError) as caught:
        parse_config(f"[mirror]\nsource_check_every = {value}\n")
    assert str(caught.value) == expected


def test_the_reader_sees_only_checks_made_by_then(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    before = clock.now() - timedelta(seconds=1)
    with (
        sim.serve() as server,
        client_for(server) as client,
        Syncer(db, client, TENANT, clock) as s,
    ):
        s.run(FEEDS["customers"])
    assert checks(db, before) == {}
    assert set(checks(db, clock.now())) == {"customers"}


def test_checks_written_together_leave_what_writing_them_one_by_one_leaves(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
    feeds = [FEEDS[n] for n in ("jobs", "invoices", "customers", "appointments")]
    t0 = clock.now()
    with db.connect(autocommit=True) as conn:
        runs = [r for (r,) in conn.execute("SELECT id FROM nexus.runs ORDER BY id").fetchall()]
        conn.execute("DELETE FROM titan.appointments WHERE tenant_id = %s", (TENANT,))
    assert len(runs) >= 3
    # Several checks a feed, in order; a source holding nothing; a mirror holding nothing.
    written = [
        (SourceAnswer(feed, t0 - timedelta(hours=k + i), t0 + timedelta(minutes=15 * k)), run)
        for k, run in enumerate(runs[:3])
        for i, feed in enumerate(feeds)
    ] + [(SourceAnswer(feeds[1], None, t0 + timedelta(hours=2)), runs[0])]
    columns = "feed, source_newest, source_checked_at, source_check_run_id, mirror_newest"

    def left(write: Callable[[Connection], None]) -> list[tuple[object, ...]]:
        with db.connect(autocommit=True) as conn:
            conn.execute(
                "UPDATE nexus.feeds SET source_newest = NULL, source_checked_at = NULL,"
                " source_check_run_id = NULL, mirror_newest = NULL"
            )
            write(conn)
            return conn.execute(f"SELECT {columns} FROM nexus.feeds ORDER BY feed").fetchall()

    def one_by_one(conn: Connection) -> None:
        for answer, run in written:
            record_check(conn, TENANT, answer, run)

    expected = left(one_by_one)
    assert left(lambda conn: record_checks(conn, TENANT, written)) == expected
    by_feed = {row[0]: row for row in expected}
    assert by_feed["invoices"][1:4] == (None, t0 + timedelta(hours=2), runs[0])
    assert by_feed["appointments"][4] is None and by_feed["jobs"][4] is not None
    assert by_feed["jobs"][1:4] == (t0 - timedelta(hours=2), t0 + timedelta(minutes=30), runs[2])
