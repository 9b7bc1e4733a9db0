"""A feed sync survives the database restarting, terminating it mid-page, refusing it, or
cancelling its statement — and its token never moves past rows that were not applied.

Each fault lands on the third page of the jobs export (of five or so): two pages
are applied with their tokens, the third is in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import quote

import pytest
from hooked import Hooked, ids_of, mirrored_ids, saved_token
from pgfault import Faults, FaultServer

from mirror_check import assert_feed_equals_truth
from nexus.catalog import FEEDS, Feed
from nexus.clock import VirtualClock
from nexus.errors import StatementTimeout
from nexus.servicetitan import ServiceTitanClient
from nexus.servicetitan.pages import ListPage
from nexus.simulator import SimServer, Simulator
from nexus.store.database import Database
from nexus.store.patience import Patience
from nexus.sync.feed_sync import Syncer
from stsim import TENANT, client_options

#: The page the faults land on (0-based): the two before it are applied.
FAULTY_PAGE = 2


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim(seed=3, history_days=20, page_size=40)


def runs(db: Database) -> list[tuple[str, str | None, str | None]]:
    with db.connect(autocommit=True) as conn:
        return conn.execute(
            "SELECT status, error_kind, error FROM nexus.runs WHERE tenant_id = %s ORDER BY id",
            (TENANT,),
        ).fetchall()


def assert_resumed_after_the_applied_pages(hooked: Hooked) -> None:
    """The second export began at the last applied page's token, with exactly those rows."""
    first, again = hooked.exports
    assert len(first.pages) == FAULTY_PAGE + 1, "the fault did not land on the faulty page"
    applied = first.pages[:FAULTY_PAGE]
    assert again.began_from == applied[-1].continue_from
    assert again.mirrored == ids_of(applied)
    assert ids_of(first.pages[FAULTY_PAGE:]) - again.mirrored, "the faulty page had new rows"


def test_a_backend_terminated_between_copy_and_upsert_is_retried_from_the_applied_pages(
    db: Database,
    faults: Faults,
    sim: Simulator,
    client: ServiceTitanClient,
    clock: VirtualClock,
) -> None:
    hooked = Hooked(client, db)
    # The upsert of the third page into titan.jobs ends its own session as it begins.
    faults.arm("titan.jobs", "terminate", at=FAULTY_PAGE + 1)
    with Syncer(db, hooked, TENANT, clock) as syncer:  # type: ignore[arg-type]
        result = syncer.run(FEEDS["jobs"])
    assert faults.fired()
    assert_resumed_after_the_applied_pages(hooked)
    assert_feed_equals_truth(db, sim, "jobs")
    assert result.rows_read == len(ids_of(hooked.exports[1].pages))
    # Only the load connection died: the ledger says why the first attempt failed.
    (failed, failed_kind, error), succeeded = runs(db)
    assert (failed, failed_kind) == ("failed", "database")
    assert error is not None and "57P01" in error and "was not applied" in error
    assert succeeded[0] == "succeeded"


def test_a_server_restarted_mid_sync_resumes_where_the_applied_pages_end(
    db: Database,
    pg: FaultServer,
    sim: Simulator,
    client: ServiceTitanClient,
    clock: VirtualClock,
) -> None:
    def restart_before_the_faulty_page(n: int) -> None:
        if n == FAULTY_PAGE:
            pg.restart()

    hooked = Hooked(client, db, before_page=restart_before_the_faulty_page)
    with Syncer(db, hooked, TENANT, clock) as syncer:  # type: ignore[arg-type]
        syncer.run(FEEDS["jobs"])
        assert_resumed_after_the_applied_pages(hooked)
        assert_feed_equals_truth(db, sim, "jobs")
        # The same Syncer keeps working on its new connections.
        sim.advance(timedelta(days=1))
        syncer.run(FEEDS["jobs"])
    assert_feed_equals_truth(db, sim, "jobs")
    # The restart took the ledger's connection too: the next attempt closed the run it left.
    statuses = [status for status, _, _ in runs(db)]
    assert statuses == ["abandoned", "succeeded", "succeeded"]


def test_connections_refused_for_a_while_are_waited_for_then_the_sync_completes(
    db: Database,
    pg: FaultServer,
    sim: Simulator,
    client: ServiceTitanClient,
    clock: VirtualClock,
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:  # the server comes back after the retries have begun
            pg.start()

    def stop_before_the_faulty_page(n: int) -> None:
        if n == FAULTY_PAGE:
            pg.stop()

    patient = Database(db.url, patience=Patience(wait_s=30, sleep=sleep))
    hooked = Hooked(client, patient, before_page=stop_before_the_faulty_page)
    with Syncer(patient, hooked, TENANT, clock) as syncer:  # type: ignore[arg-type]
        syncer.run(FEEDS["jobs"])
    assert len(waits) == 3, waits
    assert_resumed_after_the_applied_pages(hooked)
    assert_feed_equals_truth(db, sim, "jobs")


def test_a_statement_timeout_fails_the_run_clearly_and_applies_nothing_of_its_page(
    db: Database,
    faults: Faults,
    sim: Simulator,
    client: ServiceTitanClient,
    clock: VirtualClock,
) -> None:
    timed = Database(f"{db.url}&options={quote('-c statement_timeout=500')}")
    faults.arm("titan.jobs", "sleep 5", at=FAULTY_PAGE + 1)
    hooked = Hooked(client, timed)
    with Syncer(timed, hooked, TENANT, clock) as syncer:  # type: ignore[arg-type]
        with pytest.raises(StatementTimeout) as info:
            syncer.run(FEEDS["jobs"])
        message = str(info.value)
        assert "canceling statement due to statement timeout" in message
        assert "ALTER ROLE" in message and "statement_timeout" in message
        assert "Nothing of its transaction was applied" in message
        # Not retried at once: the same statement would meet the same limit.
        (export,) = hooked.exports
        applied = export.pages[:FAULTY_PAGE]
        assert saved_token(db, "jobs") == applied[-1].continue_from
        assert mirrored_ids(db) == ids_of(applied)
        ((status, kind, error),) = runs(db)
        assert (status, kind) == ("failed", "database")
        assert error is not None and "57014" in error
        # The next run (the worker's retry, or the next slot) resumes and completes.
        syncer.run(FEEDS["jobs"])
    assert hooked.exports[1].began_from == applied[-1].continue_from
    assert_feed_equals_truth(db, sim, "jobs")


class TwoARow(ServiceTitanClient):
    """Reads reference lists two records a page, as a list of thousands comes in pages."""

    def reference_pages(self, feed: Feed) -> Iterator[ListPage]:
        return self.list_pages(feed, page_size=2, all_states=True)


def test_a_reference_list_of_several_pages_reloads_whole_or_not_at_all(
    db: Database, faults: Faults, sim: Simulator, server: SimServer, clock: VirtualClock
) -> None:
    zones = FEEDS["zones"]
    pages = -(-len(sim.tenant(TENANT).truth("zones")) // 2)
    assert pages >= 3, "the list must come in more pages than the one that fails"
    timed = Database(f"{db.url}&options={quote('-c statement_timeout=500')}")
    faults.arm(zones.table, "sleep 5", at=2)  # the second page's merge
    with (
        TwoARow(**client_options(server)) as client,
        Syncer(timed, client, TENANT, clock) as syncer,
    ):  # type: ignore[arg-type]
        with pytest.raises(StatementTimeout):
            syncer.run(zones)
        assert faults.fired()
        # The first page's rows were merged in the same transaction: rolled back with it.
        assert mirrored_count(db, zones) == 0
        assert saved_token(db, "zones") is None, "no reload was recorded"
        clock.advance(timedelta(minutes=15))
        syncer.run(zones)
    assert_feed_equals_truth(db, sim, "zones")
    with db.connect(autocommit=True) as conn:
        reloaded = conn.execute(
            "SELECT token, updated_at FROM nexus.feeds WHERE tenant_id = %s AND feed = 'zones'",
            (TENANT,),
        ).fetchone()
    assert reloaded == ("", clock.now()), "the reload is recorded at its run's moment"


def mirrored_count(db: Database, feed: Feed) -> int:
    with db.connect(autocommit=True) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {feed.table} WHERE tenant_id = %s", (TENANT,)
        ).fetchone()
    assert row is not None
    return int(row[0])
