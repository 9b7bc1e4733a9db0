"""Run the sync producers for a tenant and summarise what the mirror holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from nexus.clock import Clock
from nexus.servicetitan.feeds import EXPORT_FEEDS
from nexus.store.database import Database
from nexus.sync.feed_sync import ExportSource, Progress, Syncer, SyncResult

#: the order a full sync runs in: invoices right after jobs, so totals are complete early
SYNC_ORDER = ("jobs", "invoices", "customers", "estimates")
TABLES = ("jobs", "invoices", "customers", "estimates", "job_types")


def sync_all(
    db: Database,
    client: ExportSource,
    tenant: int,
    clock: Clock,
    feeds: Iterable[str] = SYNC_ORDER,
    on_progress: Callable[[Progress], None] | None = None,
) -> list[SyncResult]:
    """Sync the named feeds one after another; stop at the first failure."""
    with Syncer(db, client, tenant, clock) as syncer:
        return [syncer.run(EXPORT_FEEDS[name], on_progress) for name in feeds]


def summary(db: Database, tenant: int) -> dict[str, Any]:
    """Rows per mirrored table and the latest run of each producer, for people and JSON."""
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        rows = {
            table: conn.execute(
                f"SELECT count(*) FROM titan.{table} WHERE tenant_id = %s", (tenant,)
            ).fetchone()[0]  # type: ignore[index]
            for table in TABLES
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


def results_as_dicts(results: Iterable[SyncResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
