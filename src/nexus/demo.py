"""`nexus demo`: an embedded database, a simulated tenant, a backfill and a summary.

The demo keeps its own embedded database under ``NEXUS_HOME/demo`` and starts
it afresh each time, so it never mixes with a real mirror.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from nexus.clock import VirtualClock
from nexus.mirror import results_as_dicts, summary, sync_all
from nexus.servicetitan import ServiceTitanClient
from nexus.simulator import BusinessConfig, Credentials, Simulator
from nexus.store.database import Database
from nexus.store.embedded import embedded_url
from nexus.sync.feed_sync import Progress

DEMO_TENANT = 1001


def demo_database(home: Path) -> Database:
    """The demo's own embedded database under `home/demo`, emptied and migrated afresh."""
    db = Database(embedded_url(home / "demo"))
    db.reset()
    return db


def run_demo(
    home: Path,
    *,
    seed: int = 1,
    history_days: int = 60,
    on_progress: Callable[[Progress], None] | None = None,
) -> dict[str, Any]:
    """Backfill a simulated tenant into a fresh demo database; return the summary."""
    db = demo_database(home)
    clock = VirtualClock(datetime.now(UTC).replace(microsecond=0))
    credentials = Credentials(
        client_id="demo-client",
        client_secret="demo-secret",  # noqa: S106 - the simulator's own demo credentials
        app_key="demo-app-key",
    )
    sim = Simulator(clock=clock, credentials=credentials)
    sim.add_tenant(DEMO_TENANT, BusinessConfig(seed=seed), history_days=history_days)
    with (
        sim.serve() as server,
        ServiceTitanClient(
            api_url=server.base_url,
            auth_url=server.auth_url,
            tenant=DEMO_TENANT,
            client_id=credentials.client_id,
            client_secret=SecretStr(credentials.client_secret),
            app_key=SecretStr(credentials.app_key),
            rate_limit=100.0,
        ) as client,
    ):
        results = sync_all(db, client, DEMO_TENANT, clock, on_progress=on_progress)
    report = summary(db, DEMO_TENANT)
    report["syncs"] = results_as_dicts(results)
    report["database"] = db.safe_url
    return report
