"""`nexus notify` and `nexus silence`, run as the real command against the test database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cli import Result, nexus
from nexus.store.database import Database
from notifykit import receivers
from wallclock import wall

#: A zone other than the default, half an hour off the hour: a slip to UTC or to Chicago shows.
ZONE = "Asia/Kolkata"


def test_notify_without_channels_says_which_variable_to_set(db: Database, tmp_path: Path) -> None:
    done = nexus("notify", db_url=db.url, home=tmp_path)
    assert done.code == 1
    assert "no notification channel: set NEXUS_NOTIFY_URLS" in done.err


def test_notify_dry_run_on_a_quiet_mirror_has_nothing_due(db: Database, tmp_path: Path) -> None:
    done = nexus("notify", "--dry-run", "--json", db_url=db.url, home=tmp_path)
    assert done.code == 0, done.err
    report = done.json()
    assert (report["tenant"], report["dry_run"], report["due"]) == (1001, True, [])


def test_notify_test_reports_each_channel_and_fails_for_a_dead_one(
    db: Database, tmp_path: Path
) -> None:
    with receivers() as r:
        urls = r.urls + ",dead=json://127.0.0.1:9/nothing-listens"
        done = nexus(
            "notify", "test", db_url=db.url, home=tmp_path, env={"NEXUS_NOTIFY_URLS": urls}
        )
        assert r.hook.titles == ["Nexus test notification"]
        assert r.inbox.subjects == ["Nexus test notification"]
    assert done.code == 1
    lines = done.out.splitlines()
    assert "hook: delivered" in lines and "mailto: delivered" in lines
    assert any(
        line.startswith("dead: failed (dead (json) refused or did not answer") for line in lines
    )
    assert "127.0.0.1" not in done.out  # channels by name, never their URL


def test_silence_add_list_expire(db: Database, tmp_path: Path) -> None:
    added = nexus(
        "silence",
        "add",
        "--cause",
        "producer_retired",
        "--producer",
        "invoice_sync",
        "--for",
        "2h",
        "--reason",
        "handing invoices to the new sync",
        db_url=db.url,
        home=tmp_path,
    )
    assert added.code == 0, added.err
    assert added.out.startswith("silence 1: producer_retired quiet until ")
    listed = nexus("silence", "list", "--json", db_url=db.url, home=tmp_path).json()
    assert [(s["id"], s["cause"], s["producer"], s["reason"]) for s in listed] == [
        (1, "producer_retired", "invoice_sync", "handing invoices to the new sync")
    ]
    expired = nexus("silence", "expire", "1", db_url=db.url, home=tmp_path)
    assert (expired.code, expired.out.strip()) == (0, "silence 1 ended")
    assert nexus("silence", "list", "--json", db_url=db.url, home=tmp_path).json() == []
    again = nexus("silence", "expire", "1", db_url=db.url, home=tmp_path)
    assert again.code == 1 and "silence 1 already ended at" in again.err
    wrong = nexus(
        "silence",
        "add",
        "--cause",
        "techs",
        "--for",
        "1h",
        "--reason",
        "x",
        db_url=db.url,
        home=tmp_path,
    )
    assert wrong.code == 1 and "'techs' is not a kind of cause — use one of:" in wrong.err


def test_a_silence_names_its_end_on_the_wall_clock_of_the_tenants_zone(
    db: Database, tmp_path: Path
) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text('[[tenants]]\nid = 1001\ntimezone = "Asia/Kolkata"\n')
    env = {"NEXUS_CONFIG": str(config)}

    def silence(*args: str) -> Result:
        return nexus("silence", *args, db_url=db.url, home=tmp_path, env=env)

    added = silence("add", "--cause", "producer_failing", "--for", "2h", "--reason", "upgrade")
    assert added.code == 0, added.err
    [listed] = silence("list", "--json").json()
    ends = datetime.fromisoformat(listed["ends_at"])
    assert added.out.strip() == f"silence 1: producer_failing quiet until {wall(ends, ZONE)}"
    table = silence("list").out
    assert wall(ends, ZONE) in table and "UTC" not in table
    assert silence("expire", "1").code == 0
    [ended] = silence("list", "--all", "--json").json()
    again = silence("expire", "1")
    assert again.code == 1
    expired = wall(datetime.fromisoformat(ended["expired_at"]), ZONE)
    assert again.err.strip() == f"error: silence 1 already ended at {expired}; nothing to do"
