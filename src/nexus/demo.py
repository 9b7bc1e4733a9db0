"""`nexus demo`: the incident's story replayed into a fresh embedded database, then the dashboard.

The story (`demo.yaml`): six weeks of a business doing about ten jobs a day,
a retired invoice sync that orphans `titan.jobs.invoice_total`, and a phantom
batch held in quarantine, with weekly revenue against the sales ledger. The
demo keeps its own embedded database under ``NEXUS_HOME/demo``, emptied each
time and stopped when the demo ends, so it never mixes with a real mirror.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from nexus.mirror import summary
from nexus.replay import ReplayResult, WebApp, run_replay
from nexus.scenario import Scenario, load_scenario
from nexus.store.database import Database
from nexus.store.embedded import embedded_server

STORY = Path(__file__).with_name("demo.yaml")


@contextlib.contextmanager
def demo_database(home: Path) -> Iterator[Database]:
    """The demo's own embedded database under `home/demo`, emptied and migrated afresh.

    Its server runs for the length of the block and stops when the block ends.
    """
    with embedded_server(home / "demo", durable=False) as url:
        db = Database(url)
        db.reset()
        yield db


def demo_scenario() -> Scenario:
    return load_scenario(STORY)


def run_demo(
    db: Database,
    on_tick: Callable[[datetime], None] | None = None,
    web_app: WebApp | None = None,
) -> tuple[ReplayResult, dict[str, Any]]:
    """Replay the demo story into `db`; return the replay and a summary of the mirror."""
    scenario = demo_scenario()
    result = run_replay(scenario, db, on_tick=on_tick, web_app=web_app)
    report = summary(db, scenario.tenant)
    report["runs_replayed"] = result.runs
    report["database"] = db.safe_url
    return result, report
