"""`nexus demo`: a short story replayed into a fresh embedded database, then the dashboard.

The story (`demo.yaml`): one healthy feed, one orphaned product, one
small-sample warning. The demo keeps its own embedded database under
``NEXUS_HOME/demo``, emptied each time, so it never mixes with a real mirror.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from nexus.mirror import summary
from nexus.replay import ReplayResult, WebApp, run_replay
from nexus.scenario import Scenario, load_scenario
from nexus.store.database import Database
from nexus.store.embedded import embedded_url

STORY = Path(__file__).with_name("demo.yaml")


def demo_database(home: Path) -> Database:
    """The demo's own embedded database under `home/demo`, emptied and migrated afresh."""
    db = Database(embedded_url(home / "demo"))
    db.reset()
    return db


def demo_scenario() -> Scenario:
    return load_scenario(STORY)


def run_demo(
    db: Database,
    on_tick: Callable[[datetime], None] | None = None,
    web_app: WebApp | None = None,
) -> tuple[Scenario, ReplayResult, dict[str, Any]]:
    """Replay the demo story into `db`; return the scenario, the replay and a summary."""
    scenario = demo_scenario()
    result = run_replay(scenario, db, on_tick=on_tick, web_app=web_app)
    report = summary(db, scenario.tenant)
    report["verdict"] = result.proof.verdict
    report["story"] = list(result.proof.story)
    report["runs_replayed"] = result.runs
    report["database"] = db.safe_url
    return scenario, result, report
