"""With every feed enabled, one sync mirrors every record of every feed, field for field."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from mirror_check import assert_derived_equal_truth, assert_feed_equals_truth, truth
from nexus.catalog import FEEDS
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.registry.config import parse_config
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.feed_sync import Syncer
from stsim import TENANT, client_for

ALL = parse_config('[mirror]\nfeeds = "all"\n')


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_sync_of_all_feeds_mirrors_every_record_then_a_second_changes_nothing(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock, seed: int
) -> None:
    sim = make_sim(seed=seed, history_days=10, inactive_share=0.1)
    with sim.serve() as server, client_for(server) as client:
        first = sync_all(db, client, TENANT, clock, config=ALL)
        assert {r.feed for r in first} == set(FEEDS)
        for feed in FEEDS:
            assert_feed_equals_truth(db, sim, feed)
        assert_derived_equal_truth(db, sim)
        inactive = sum(1 for f in FEEDS for r in truth(sim, f).values() if r.get("active") is False)
        assert inactive > 0, "the source should hold inactive rows"
        again = sync_all(db, client, TENANT, clock, config=ALL)
    assert sum(r.rows_changed for r in again) == 0
    with db.connect() as conn:
        runs = conn.execute("SELECT producer, status, feeds FROM nexus.runs ORDER BY id").fetchall()
    producers = list(dict.fromkeys(r[0] for r in runs))
    assert producers == list(dict.fromkeys(f.producer for f in FEEDS.values()))
    assert all(status == "succeeded" for _, status, _ in runs)
    # Each run's ledger row holds its feeds' counts; together they are every record read.
    read = {
        feed: counts["read"]
        for _, _, feeds in runs[: len(producers)]
        for feed, counts in feeds.items()
    }
    assert read == {r.feed: r.rows_read for r in first}


def test_derived_values_are_right_after_any_order_of_feed_loads(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=5, history_days=12)
    feeds = [FEEDS["jobs"], FEEDS["invoices"], FEEDS["appointments"]]
    rng = random.Random(7)
    with (
        sim.serve() as server,
        client_for(server) as client,
        Syncer(db, client, TENANT, clock) as syncer,
    ):
        for _ in range(4):
            order = rng.sample(feeds, len(feeds))
            for feed in order:
                syncer.run(feed)
            assert_derived_equal_truth(db, sim)
            # Time moves on: visits are rescheduled, invoices finished and edited.
            sim.advance(timedelta(days=rng.choice([1, 2, 3])))
            clock.advance(timedelta(minutes=1))
        # One feed alone can also be behind: the derived values follow what is mirrored.
        syncer.run(FEEDS["appointments"])
        syncer.run(FEEDS["jobs"])
        syncer.run(FEEDS["invoices"])
    assert_derived_equal_truth(db, sim)


def test_a_new_feed_is_one_declaration_mirrored_end_to_end(
    db: Database,
    make_sim: Callable[..., Simulator],
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nexus.catalog import feeds as declared
    from nexus.catalog.ddl import create_table

    # Project types are in ServiceTitan's documents but not in the catalog: declare them.
    feed = declared.reference("project_types", "jpm-v2")
    monkeypatch.setitem(declared.FEEDS, feed.name, feed)  # type: ignore[index]
    assert [c.name for c in feed.columns][:1] == ["id"]
    with db.connect(autocommit=True) as conn:
        conn.execute(create_table(feed))  # what its migration would hold
    try:
        sim = make_sim(seed=3, history_days=5)
        with (
            sim.serve() as server,
            client_for(server) as client,
            Syncer(db, client, TENANT, clock) as syncer,
        ):
            (result,) = syncer.run_producer("job_sync", [feed])
        assert result.rows_read == len(truth(sim, "project_types")) > 0
        assert_feed_equals_truth(db, sim, "project_types")
    finally:
        with db.connect(autocommit=True) as conn:
            conn.execute("DROP TABLE titan.project_types")
