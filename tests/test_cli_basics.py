"""The CLI as a user first meets it: init, demo, db and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

from cli import nexus
from nexus.registry.config import default_config_text, load_config
from nexus.store.database import Database
from nexus.store.embedded import stop_embedded


def test_init_writes_the_default_file_and_refuses_to_overwrite(
    db: Database, tmp_path: Path
) -> None:
    target = tmp_path / "nexus.toml"
    done = nexus("init", str(target), db_url=db.url, home=tmp_path)
    assert done.code == 0, done.err
    assert target.read_text() == default_config_text()
    assert load_config(target).producers.keys() >= {"job_sync", "invoice_sync", "reconcile"}
    again = nexus("init", str(target), db_url=db.url, home=tmp_path)
    assert again.code == 1 and "exists; pass --force" in again.err


def test_a_bad_config_file_stops_every_command_with_its_location(
    db: Database, tmp_path: Path
) -> None:
    bad = tmp_path / "nexus.toml"
    bad.write_text(default_config_text().replace('every = "15m"', 'evry = "15m"', 1))
    result = nexus(
        "producers", "list", db_url=db.url, home=tmp_path, env={"NEXUS_CONFIG": str(bad)}
    )
    assert result.code == 1
    assert f"{bad}:" in result.err and "unknown key 'evry' — did you mean 'every'?" in result.err


def test_sync_without_credentials_names_the_variables(db: Database, tmp_path: Path) -> None:
    result = nexus("sync", db_url=db.url, home=tmp_path, env={"NEXUS_ST_TENANT": "1001"})
    assert result.code == 1
    for name in ("NEXUS_ST_CLIENT_ID", "NEXUS_ST_CLIENT_SECRET", "NEXUS_ST_APP_KEY"):
        assert name in result.err


def test_an_unreachable_database_says_how_to_fix_it(tmp_path: Path) -> None:
    result = nexus(
        "db", "status", db_url="postgresql://nexus:hunter2@127.0.0.1:1/nexus", home=tmp_path
    )
    assert result.code == 1
    assert "cannot connect to the database" in result.err
    assert "NEXUS_DATABASE_URL" in result.err
    assert "hunter2" not in result.err


def test_demo_tells_its_story_as_json(tmp_path: Path) -> None:
    try:
        check_demo(tmp_path)
    finally:
        # The demo leaves its embedded server running for later commands; not in tests.
        stop_embedded(tmp_path / "demo")


def check_demo(tmp_path: Path) -> None:
    result = nexus(
        "demo", "--no-serve", "--json", db_url="", home=tmp_path, env={"NEXUS_DATABASE_URL": ""}
    )
    assert result.code == 0, result.err
    report = result.json()
    assert report["rows"]["jobs"] > 0 and report["rows"]["invoices"] > 0
    assert report["verdict"] == "critical"
    story = " ".join(report["story"])
    assert "titan.estimates has been orphaned" in story
    assert "too few to judge" in story
    assert {r["producer"]: r["status"] for r in report["runs"]}["job_sync"] == "succeeded"
