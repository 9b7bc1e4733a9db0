"""What each kind of producer runs: one table, used by the worker and the replay alike.

A producer's kind comes from `nexus.toml` (`[producers.<name>] kind = …`).
`external` producers are absent on purpose: Nexus watches them through their
heartbeats (`nexus producers heartbeat`) but never runs them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from nexus.catalog import FEEDS
from nexus.clock import Clock
from nexus.registry.config import ProducerConfig, ReconcileConfig
from nexus.store.database import Database
from nexus.sync.cache_export import export_jobs_cache
from nexus.sync.feed_sync import Syncer
from nexus.sync.reconcile import ListSource, reconcilable, run_reconcile


@dataclass
class ProducerRun:
    """What a producer implementation gets: who it runs for, and how to reach ST and the store."""

    tenant: int
    producer: str
    config: ProducerConfig
    db: Database
    clock: Clock
    #: A Syncer (with its ServiceTitan client as `.client`) for the run's length.
    syncer: Callable[[], contextlib.AbstractContextManager[Syncer]]
    #: Called between units of work (pages); raises to stop the run there.
    checkpoint: Callable[[], None] = lambda: None
    #: sync producers: the feeds it mirrors
    feeds: tuple[str, ...] = ()
    #: every feed the configuration mirrors (what reconcile compares)
    mirrored: tuple[str, ...] = ()
    #: reconcile producers: what to do with what they find (`[reconcile]`)
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)


ProducerTask = Callable[[ProducerRun], None]

#: Who the timeline names for what a scheduled producer does on its own.
ACTOR = "nexus"


def run_sync(run: ProducerRun) -> None:
    """Run a `sync` producer: pull each of its feeds from its saved token, page by page."""
    run.checkpoint()
    with run.syncer() as syncer:
        syncer.run_producer(
            run.producer,
            [FEEDS[name] for name in run.feeds],
            on_progress=lambda p: None if p.done else run.checkpoint(),
        )


def run_cache_export(run: ProducerRun) -> None:
    """Run a `cache_export` producer: write its snapshot file from the mirror."""
    assert run.config.path is not None
    run.checkpoint()
    export_jobs_cache(
        run.db, run.tenant, run.config.path, run.config.days, run.clock, producer=run.producer
    )


def run_reconcile_producer(run: ProducerRun) -> None:
    """Run the `reconcile` producer: the periodic full comparison that catches what a cursor missed.

    With `[reconcile] repair = true` (the default) it loads the changes the
    export lost and records each repair; changes newer than a feed's last sync
    are left to that feed's producer, so a retired or failing one stays visible.
    With `repair = false` it only reports.
    """
    run.checkpoint()
    with run.syncer() as syncer:
        # Syncers hold full ServiceTitan clients, which list pages too.
        client = cast(ListSource, syncer.client)
        feeds = reconcilable(run.mirrored)
        run_reconcile(
            run.db,
            client,
            run.tenant,
            run.clock,
            feeds,
            repair=run.reconcile.repair,
            repair_pending=False,
            checkpoint=run.checkpoint,
            actor=ACTOR,
        )


#: How each kind of producer runs; a kind missing here is logged and not scheduled.
PRODUCER_KINDS: dict[str, ProducerTask] = {
    "sync": run_sync,
    "cache_export": run_cache_export,
    "reconcile": run_reconcile_producer,
}
