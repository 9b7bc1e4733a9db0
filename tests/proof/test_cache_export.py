"""The optional jobs_cache_export producer and a file product measured by its mtime."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from nexus.registry.config import default_config_text
from nexus.replay import run_replay
from nexus.scenario import load_scenario
from nexus.store.database import Database

FILE_PRODUCT = """
[[products]]
name = "st_jobs_cache.json"
kind = "file"
owner = "jobs_cache_export"
max_age = "1h"
path = "st_jobs_cache.json"
"""


def scenario(tmp_path: Path, events: str) -> Path:
    config = default_config_text().replace(
        'kind = "cache_export"\nenabled = false', 'kind = "cache_export"\nenabled = true'
    )
    (tmp_path / "nexus.toml").write_text(config + FILE_PRODUCT)
    path = tmp_path / "scenario.yaml"
    path.write_text(
        # Half a day of cycles after the first sync backfills three days: the file is
        # written every 15 minutes, and a writer stopped at 04:00 is hours behind by noon.
        "name: cache\nseed: 4\nstart: 2026-04-01T00:00:00Z\nhistory_days: 3\n"
        "until: 2026-04-01T12:00:00Z\n"
        f"config: nexus.toml\nevents:\n{events}"
    )
    return path


def test_the_cache_file_is_written_each_cycle_and_stamped_with_the_run_time(
    db: Database, tmp_path: Path
) -> None:
    path = scenario(tmp_path, "  []\n")
    (tmp_path / "scenario.yaml").write_text(path.read_text().replace("events:\n  []\n", ""))
    parsed = load_scenario(path)
    proof = run_replay(parsed, db).proof.to_json()
    cache = tmp_path / "st_jobs_cache.json"
    snapshot = json.loads(cache.read_bytes())
    assert snapshot["tenant"] == parsed.tenant and snapshot["days"] == 7
    with db.connect() as conn:
        jobs = conn.execute("SELECT count(*) FROM titan.jobs").fetchone()[0]  # type: ignore[index]
    assert len(snapshot["jobs"]) == jobs > 0
    mtime = datetime.fromtimestamp(cache.stat().st_mtime, UTC)
    assert parsed.until.timestamp() - mtime.timestamp() <= 15 * 60
    measured = [f for f in proof["freshness"] if f["product"] == "st_jobs_cache.json"]
    assert [(f["measured_by"], f["fresh"]) for f in measured] == [("file_mtime", True)]
    vital = next(v for v in proof["vitals"] if v["producer"] == "jobs_cache_export")
    assert vital["status"] == "alive"


def test_a_stopped_cache_writer_is_a_stale_file_not_a_stale_database(
    db: Database, tmp_path: Path
) -> None:
    path = scenario(tmp_path, "  - {at: 2026-04-01T04:00:00Z, stop: jobs_cache_export}\n")
    proof = run_replay(load_scenario(path), db).proof.to_json()
    alert = next(a for a in proof["alerts"] if a["product"] == "st_jobs_cache.json")
    assert alert["label"] == "st_jobs_cache.json freshness (file mtime)"
    assert alert["measurement"]["measured_by"] == "file_mtime"
    assert alert["questions"]["db_fresh"] is True, "the database itself is fresh"
    assert alert["probable_cause"]["kind"] == "producer_stopped"
    assert alert["probable_cause"]["producer"] == "jobs_cache_export"
    loud = [
        a["label"]
        for a in proof["alerts"]
        if a["check"] == "freshness" and (a["product"] or "").startswith("titan.")
    ]
    assert loud == [], "no mirrored table is stale: only the file is"
