"""Run the sync producers for a tenant and summarise what the mirror holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from nexus.catalog import FEEDS, feed_named
from nexus.clock import Clock
from nexus.registry.config import Config, load_config
from nexus.store.database import Database
from nexus.sync.feed_sync import ExportSource, Progress, Syncer, SyncResult


def sync_all(
    db: Database,
    client: ExportSource,
    tenant: int,
    clock: Clock,
    feeds: Iterable[str] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    config: Config | None = None,
) -> list[SyncResult]:
    """Run each sync producer once over its feeds (the configured ones, or just `feeds`).

    Producers run in the configuration's order (jobs before invoices, so totals
    are complete early); a failing producer stops the sync.
    """
    config = config or load_config(None)
    wanted = None if feeds is None else set(feeds)
    results: list[SyncResult] = []
    every = config.mirror.source_check_every
    zone = config.zone(tenant)
    with Syncer(db, client, tenant, clock, source_check_every=every, zone=zone) as syncer:
        for name, producer in config.producers.items():
            if producer.kind != "sync" or (wanted is None and not producer.enabled):
                continue
            mine = [FEEDS[f] for f in config.feeds_of(name) if wanted is None or f in wanted]
            if mine:
                results += syncer.run_producer(name, mine, on_progress)
    return results


def check_feeds(config: Config, names: Iterable[str]) -> None:
    """Refuse feed names the catalog does not know or the configuration does not mirror."""
    for name in names:
        if name not in FEEDS:
            feed_named(name)  # raises, naming the closest feed
        if name not in config.enabled_feeds:
            raise ValueError(
                f"feed '{name}' is not mirrored — add it to [mirror] feeds in "
                f'{config.location("mirror")}, or set feeds = "all"'
            )


def summary(db: Database, tenant: int, config: Config | None = None) -> dict[str, Any]:
    """Rows per mirrored table and the latest run of each producer, for people and JSON."""
    config = config or load_config(None)
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        rows = {
            name: conn.execute(
                f"SELECT count(*) FROM {FEEDS[name].table} WHERE tenant_id = %s", (tenant,)
            ).fetchone()[0]  # type: ignore[index]
            for name in config.enabled_feeds
        }
        runs = [
            {
                "id": r[0],
                "producer": r[1],
                "status": r[2],
                "started_at": r[3].isoformat(),
                "finished_at": r[4].isoformat() if r[4] else None,
                "rows_read": r[5],
                "rows_changed": r[6],
                "error": r[7],
            }
            for r in conn.execute(
                "SELECT DISTINCT ON (producer) id, producer, status, started_at, finished_at,"
                " rows_read, rows_changed, error FROM nexus.runs WHERE tenant_id = %s"
                " ORDER BY producer, started_at DESC, id DESC",
                (tenant,),
            )
        ]
    return {"tenant": tenant, "rows": rows, "runs": runs}


def feeds_report(db: Database, config: Config, tenant: int) -> dict[str, Any]:
    """Every catalog feed: endpoint, table, enabled, producer, rows, when its token last moved."""
    db.ensure_schema()
    enabled = set(config.enabled_feeds)
    with db.connect(autocommit=True) as conn:
        moved = dict(
            conn.execute(
                "SELECT feed, updated_at FROM nexus.feeds WHERE tenant_id = %s", (tenant,)
            ).fetchall()
        )
        feeds = []
        for name, feed in FEEDS.items():
            row = conn.execute(
                f"SELECT count(*) FROM {feed.table} WHERE tenant_id = %s", (tenant,)
            ).fetchone()
            described = feed.describe()
            feeds.append(
                {
                    **described,
                    "endpoint": described["export"] or described["list"],
                    "enabled": name in enabled,
                    "producer": config.syncer_of(name) or feed.producer,
                    "rows": int(row[0]) if row else 0,
                    "token_moved_at": moved[name].isoformat() if name in moved else None,
                }
            )
    return {"tenant": tenant, "feeds": feeds}


def results_as_dicts(results: Iterable[SyncResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
