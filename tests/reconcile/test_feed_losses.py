"""`feed_losses` over several weekly reconciles: counts, n, onset, the runs that found and repaired.

A simulated tenant's invoice export loses a quarter of its changes for two
weeks, recovers for a week, then loses them again. Reconciles run weekly (two
report only, then one repairs) and the losses each should find are worked out
from the simulator's truth and the mirror before it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from mirror_check import mirror, truth
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.registry.config import parse_config
from nexus.servicetitan import ServiceTitanClient
from nexus.simulator import Simulator
from nexus.stats import wilson
from nexus.store.database import Database
from nexus.sync.losses import FeedLoss, feed_losses
from nexus.sync.reconcile import run_reconcile
from stsim import TENANT, client_for

CONFIG = parse_config('[mirror]\nfeeds = ["jobs", "invoices"]\n')
FEEDS = list(CONFIG.enabled_feeds)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Found:
    """One reconcile: its run, when it finished, the invoices it should find lost, of how many."""

    run_id: int
    at: datetime
    lost: frozenset[int]
    records: int


def reconcile(
    db: Database, sim: Simulator, client: ServiceTitanClient, clock: VirtualClock, repair: bool
) -> Found:
    before = {i: dict(r) for i, r in mirror(db, "invoices").items()}
    report = run_reconcile(db, client, TENANT, clock, FEEDS, repair=repair, repair_pending=False)
    horizon = report.feeds["invoices"].horizon
    assert horizon is not None and report.finished_at is not None
    expected = truth(sim, "invoices")
    lost = frozenset(
        int(i)
        for i, record in expected.items()
        if before.get(i) != record and datetime.fromisoformat(record["modifiedOn"]) <= horizon
    )
    assert report.feeds["invoices"].lost == len(lost)
    assert report.feeds["jobs"].lost == 0
    return Found(report.run_id, report.finished_at, lost, len(expected))


def week_of_business(
    db: Database, sim: Simulator, client: ServiceTitanClient, clock: VirtualClock
) -> None:
    """A week passes with a sync every twelve hours."""
    for _ in range(14):
        sim.advance(timedelta(hours=12))
        sync_all(db, client, TENANT, clock, config=CONFIG)


def losses(db: Database, now: datetime, window: timedelta = WEEK) -> list[FeedLoss]:
    with db.connect() as conn:
        return feed_losses(conn, TENANT, now, window)


def test_losses_count_distinct_records_with_their_n_onset_and_repairs(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=31, history_days=14)
    faults = sim.tenant(TENANT).faults
    faults.drop_export_share({"invoices": 0.25})
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock, config=CONFIG)
        r1 = reconcile(db, sim, client, clock, repair=False)
        week_of_business(db, sim, client, clock)
        r2 = reconcile(db, sim, client, clock, repair=False)
        sim.advance(timedelta(hours=1))
        # A look at the last hour's changes only finds nothing, and ends no streak.
        recent = run_reconcile(db, client, TENANT, clock, ["invoices"], since=clock.now())
        assert recent.feeds["invoices"].lost == 0
        r3 = reconcile(db, sim, client, clock, repair=True)
        faults.clear()
        week_of_business(db, sim, client, clock)
        r4 = reconcile(db, sim, client, clock, repair=False)
        faults.drop_export_share({"invoices": 0.25})
        week_of_business(db, sim, client, clock)
        r5 = reconcile(db, sim, client, clock, repair=True)
    assert r1.lost and r2.lost and r5.lost and not r4.lost
    assert r3.lost == r2.lost, "nothing synced between them: the same records"
    assert r1.lost - r2.lost, "some losses of the first week surfaced with a later change"

    # Nothing had finished yet; then the first reconcile found losses and left them.
    assert losses(db, r1.at - timedelta(seconds=1)) == []
    assert losses(db, r1.at) == [
        FeedLoss("invoices", len(r1.lost), r1.records, r1.at, (r1.run_id,), (), False)
    ]
    # A week on, the window holds the second one only; the streak began with the first.
    # (The repairing reconcile an hour later has not finished as of then.)
    assert losses(db, r2.at) == [
        FeedLoss("invoices", len(r2.lost), r2.records, r1.at, (r2.run_id,), (), False)
    ]
    # Over two weeks, a record left unrepaired and found again counts once.
    both = losses(db, r2.at, window=2 * WEEK)
    assert both == [
        FeedLoss(
            "invoices",
            len(r1.lost | r2.lost),
            max(r1.records, r2.records),
            r1.at,
            (r1.run_id, r2.run_id),
            (),
            False,
        )
    ]
    assert both[0].lost < len(r1.lost) + len(r2.lost)
    # The repair: everything found is repaired, by the third run.
    assert losses(db, r3.at) == [
        FeedLoss(
            "invoices", len(r2.lost), r3.records, r1.at, (r2.run_id, r3.run_id), (r3.run_id,), True
        )
    ]
    # Records the first found and a later full reconcile no longer found count as healed.
    since_start = losses(db, r3.at, window=2 * WEEK)
    assert since_start[0].lost == len(r1.lost | r2.lost) and since_start[0].repaired is True
    # The export recovered: the next reconcile found nothing, and the streak is over.
    assert losses(db, r4.at) == []
    assert losses(db, r4.at, window=WEEK + timedelta(minutes=30)) == [
        FeedLoss("invoices", len(r3.lost), r4.records, r1.at, (r3.run_id,), (r3.run_id,), True)
    ]
    # Losses again: a new streak, with its own onset.
    (again,) = losses(db, r5.at)
    assert again == FeedLoss(
        "invoices", len(r5.lost), r5.records, r5.at, (r5.run_id,), (r5.run_id,), True
    )
    assert again.rate == wilson(len(r5.lost), r5.records)
    assert 0 < again.rate.ci_low < again.rate.rate < again.rate.ci_high < 1


@pytest.mark.parametrize(
    ("now", "window", "message"),
    [
        (datetime(2026, 4, 1), WEEK, "naive"),
        (datetime(2026, 4, 1, tzinfo=UTC), timedelta(0), "longer than zero"),
    ],
)
def test_a_bad_now_or_window_is_refused(
    db: Database, now: datetime, window: timedelta, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        losses(db, now, window)
