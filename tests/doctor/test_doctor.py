"""`nexus doctor` on a healthy installation, then with one mistake at a time.

Each mistake is made for real — a wrong secret sent to the simulated tenant over
HTTP, a database port nothing listens on, a database never migrated, a dropped
guard trigger, a producer whose last run is an hour old — and the doctor must
name it with its exact message, exit 1, and pass everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli import Result, nexus
from nexus.registry.config import load_config
from nexus.registry.run_ledger import record_outside_run
from nexus.simulator import SimServer
from nexus.store.database import Database
from notifykit import _free_port, json_receiver, smtp_server
from stsim import st_env
from wallclock import wall

TENANT = 1001
DEAD_URL = "postgresql://nexus@127.0.0.1:1/nexus"


def doctor(
    db_url: str, home: Path, server: SimServer, *args: str, **env: str
) -> tuple[Result, dict[str, Any]]:
    result = nexus(
        "doctor", *args, "--json", db_url=db_url, home=home, env={**st_env(server), **env}
    )
    return result, result.json()


def by_check(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in report["checks"]}


def problems(report: dict[str, Any]) -> list[str]:
    return [p["message"] for c in report["checks"] for p in c["problems"]]


def db_now(db: Database) -> datetime:
    with db.connect() as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def every_producer_ran(db: Database, *, late: dict[str, timedelta] | None = None) -> None:
    """Record a run of each enabled producer now (or `late[name]` ago), as a worker would."""
    now = db_now(db)
    with db.connect(autocommit=True) as conn:
        for name, producer in load_config(None).producers.items():
            if producer.enabled:
                ago = (late or {}).get(name, timedelta(0))
                record_outside_run(conn, TENANT, name, now - ago)


def test_a_healthy_installation_passes_every_check(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    every_producer_ran(db)
    result, report = doctor(db.url, tmp_path, server)
    assert result.code == 0, result.out + result.err
    assert report["ok"] is True
    checks = by_check(report)
    assert list(checks) == ["config", "database", "servicetitan", "schedules", "notify"]
    assert {c["status"] for c in checks.values()} == {"ok"}
    assert "serves tenant 1001" in checks["config"]["passed"]
    assert (
        f"schema at revision {db.head_revision()}, the one this Nexus needs"
        in checks["database"]["passed"]
    )
    assert checks["servicetitan"]["passed"] == [
        "tenant 1001: ServiceTitan issued a token for NEXUS_ST_CLIENT_ID and "
        "NEXUS_ST_CLIENT_SECRET",
        "tenant 1001: read one page of each of the 16 mirrored feeds",
    ]
    assert checks["schedules"]["passed"] == [
        "tenant 1001: each of 8 producers ran within its last 2 slots"
    ]
    assert checks["notify"]["notes"][0].startswith("no channels configured: set NEXUS_NOTIFY_URLS")


def test_the_terminal_report_says_each_check_and_that_nothing_is_wrong(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    every_producer_ran(db)
    result = nexus("doctor", db_url=db.url, home=tmp_path, env=st_env(server))
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert [line for line in lines if not line.startswith("  ")] == [
        "config: ok",
        "database: ok",
        "servicetitan: ok",
        "schedules: ok",
        "notify: ok",
        "no problems found",
    ]


def test_a_bad_secret_is_named_with_the_setting_to_fix(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    every_producer_ran(db)
    result, report = doctor(db.url, tmp_path, server, NEXUS_ST_CLIENT_SECRET="not-the-secret")
    assert result.code == 1
    assert problems(report) == [
        "tenant 1001: ServiceTitan refused the token request (401 invalid_client) — check "
        "NEXUS_ST_CLIENT_ID and NEXUS_ST_CLIENT_SECRET"
    ]
    assert "not-the-secret" not in result.out + result.err
    assert by_check(report)["servicetitan"]["problems"][0]["kind"] == "AuthError"
    assert by_check(report)["schedules"]["status"] == "ok"


def test_a_database_that_is_down_is_named_and_what_needs_it_is_skipped(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    result, report = doctor(DEAD_URL, tmp_path, server)
    assert result.code == 1
    assert problems(report) == [
        "cannot connect to the database at postgresql://nexus@127.0.0.1:1/nexus: connection "
        'failed: connection to server at "127.0.0.1", port 1 failed: Connection refused. '
        "Unset NEXUS_DATABASE_URL to use the embedded server, or check that the server is "
        "running and the URL is right."
    ]
    checks = by_check(report)
    assert checks["database"]["problems"][0]["kind"] == "DatabaseUnavailable"
    assert checks["schedules"]["status"] == "skipped"
    assert checks["schedules"]["skipped"] == (
        "not checked until the database connection is fixed: see database above"
    )
    assert checks["servicetitan"]["status"] == "ok"


def test_the_schedules_check_alone_names_the_database_itself(
    tmp_path: Path, server: SimServer
) -> None:
    result, report = doctor(DEAD_URL, tmp_path, server, "schedules")
    assert result.code == 1
    assert [c["check"] for c in report["checks"]] == ["schedules"]
    assert problems(report)[0].startswith(
        "cannot connect to the database at postgresql://nexus@127.0.0.1:1/nexus"
    )


@pytest.fixture
def unmigrated(db: Database) -> Iterator[str]:
    """An empty database on the test server: reachable, never migrated."""
    with psycopg.connect(db.url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS nexus_unmigrated")
        admin.execute("CREATE DATABASE nexus_unmigrated")
    yield db.url.replace("/postgres?", "/nexus_unmigrated?")
    with psycopg.connect(db.url, autocommit=True) as admin:
        admin.execute("DROP DATABASE nexus_unmigrated (FORCE)")


def test_an_unmigrated_schema_says_to_run_db_upgrade(
    db: Database, unmigrated: str, tmp_path: Path, server: SimServer
) -> None:
    result, report = doctor(unmigrated, tmp_path, server)
    assert result.code == 1
    shown = Database(unmigrated).safe_url
    assert problems(report) == [
        f"the database at {shown} is at schema revision none but this Nexus needs "
        f"{db.head_revision()}: run `nexus db upgrade`"
    ]
    checks = by_check(report)
    assert checks["database"]["passed"] == [f"reachable at {shown}"]
    assert checks["schedules"]["skipped"] == (
        "not checked until the database schema is fixed: see database above"
    )


@pytest.fixture
def without_jobs_trigger(db: Database) -> Iterator[Database]:
    with psycopg.connect(db.url, autocommit=True) as admin:
        admin.execute("DROP TRIGGER write_guard ON titan.jobs")
    yield db
    with psycopg.connect(db.url, autocommit=True) as admin:
        admin.execute("DROP TRIGGER IF EXISTS write_guard ON titan.jobs")
        admin.execute(
            "CREATE TRIGGER write_guard AFTER INSERT ON titan.jobs"
            " REFERENCING NEW TABLE AS new_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION nexus.refuse_bulk_insert()"
        )


def test_a_missing_guard_names_the_table_and_the_command_with_the_fix(
    without_jobs_trigger: Database, tmp_path: Path, server: SimServer
) -> None:
    db = without_jobs_trigger
    every_producer_ran(db)
    result, report = doctor(db.url, tmp_path, server)
    assert result.code == 1
    assert problems(report) == [
        "write guard: no write guard trigger on titan.jobs — run `nexus db guard` for the SQL "
        "that fixes it (to be run by the owner of the Nexus tables (the user that ran "
        "`nexus db upgrade`))"
    ]
    assert by_check(report)["database"]["problems"][0]["kind"] == "guard"


@pytest.mark.parametrize("zone", ["America/Chicago", "Asia/Kolkata"])
def test_a_producer_whose_slots_passed_without_a_run_is_a_dead_schedule(
    db: Database, tmp_path: Path, server: SimServer, zone: str
) -> None:
    every_producer_ran(db, late={"job_sync": timedelta(hours=1)})
    # The message tells when it last ran on the wall clock of the tenant's declared zone.
    config = tmp_path / "nexus.toml"
    config.write_text(f'[[tenants]]\nid = {TENANT}\ntimezone = "{zone}"\n')
    result, report = doctor(db.url, tmp_path, server, "schedules", NEXUS_CONFIG=str(config))
    assert result.code == 1
    [message] = problems(report)
    with db.connect() as conn:
        row = conn.execute("SELECT max(started_at) FROM nexus.runs WHERE producer = 'job_sync'")
        started = row.fetchone()[0]  # type: ignore[index]
    assert message.startswith("tenant 1001: producers.job_sync runs every 15m, but ")
    assert message.endswith(
        " whole slots passed without a run (its last run started "
        f"{wall(started, zone)}) — start `nexus worker` "
        "(`nexus deploy systemd` writes a service for it), or see the worker's log for why "
        "it stopped"
    )
    # An hour is four slots of 15 minutes: three or four of them whole, by where now falls.
    missed = int(message.split(", but ")[1].split()[0])
    assert missed in (3, 4)
    assert by_check(report)["schedules"]["problems"][0]["kind"] == "dead_schedule"


def test_a_notifier_without_channels_is_not_a_dead_schedule_but_with_them_it_is(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    every_producer_ran(db, late={"notifier": timedelta(hours=1)})
    result, _ = doctor(db.url, tmp_path, server, "schedules")
    assert result.code == 0, result.out  # nowhere to send: it records no runs
    urls = "owner=json://127.0.0.1:9/notify"
    result, report = doctor(db.url, tmp_path, server, "schedules", NEXUS_NOTIFY_URLS=urls)
    assert result.code == 1
    [message] = problems(report)
    assert message.startswith("tenant 1001: producers.notifier runs every 15m, but ")


def test_before_any_run_the_schedules_say_what_to_start(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    result, report = doctor(db.url, tmp_path, server, "schedules")
    assert result.code == 0, result.out
    assert by_check(report)["schedules"]["notes"] == [
        "tenant 1001: no producer has run yet — run `nexus sync` once, then keep "
        "`nexus worker` running (`nexus deploy systemd` writes a service for it)"
    ]


def test_notification_urls_parse_or_are_named_without_their_secrets(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    with json_receiver() as (_, port):
        urls = (
            f"json://user:hunter2@127.0.0.1:{port}/nexus, nosuchservice://token-12345@x,"
            f" owner=json://127.0.0.1:{port}/owner"
        )
        result, report = doctor(db.url, tmp_path, server, "notify", NEXUS_NOTIFY_URLS=urls)
    assert result.code == 1
    notify = by_check(report)["notify"]
    # The doctor reads the setting as the notifier does: a named channel (name=url) parses.
    assert notify["passed"][0] == (
        f"2 of 3 channel(s) parse: json json://user:****@127.0.0.1:{port}/nexus, "
        f"owner json://127.0.0.1:{port}/owner"
    )
    assert [(p["source"], p["message"]) for p in notify["problems"]] == [
        (
            "NEXUS_NOTIFY_URLS",
            "NEXUS_NOTIFY_URLS entry 2 (nosuchservice://…) is not a URL apprise can send to — "
            "check its scheme and form against apprise's list of services "
            "(e.g. mailto://user:pass@host?to=owner@example.com, json://host/path)",
        )
    ]
    assert "token-12345" not in result.out + result.err
    assert "hunter2" not in result.out + result.err


def test_each_channel_is_reached_without_sending_and_a_dead_one_is_named(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    with smtp_server() as (inbox, smtp_port), json_receiver() as (hook, http_port):
        dead = _free_port()  # nothing listens here
        urls = (
            f"hook=json://127.0.0.1:{http_port}/notify,"
            f"mailto://127.0.0.1:{smtp_port}?from=nexus@example.com&to=owner@example.com"
            f"&mode=insecure, pager=json://pager:s3cret-777@127.0.0.1:{dead}/page"
        )
        result, report = doctor(db.url, tmp_path, server, "notify", NEXUS_NOTIFY_URLS=urls)
    assert result.code == 1
    notify = by_check(report)["notify"]
    assert notify["passed"][1:] == [
        f"hook (json) accepts connections at 127.0.0.1:{http_port}",
        f"mailto (mailto) accepts connections at 127.0.0.1:{smtp_port}",
    ]
    [problem] = notify["problems"]
    assert problem["message"] == (
        f"pager (json) cannot be reached at 127.0.0.1:{dead}: Connection refused — check the "
        "host and port in its NEXUS_NOTIFY_URLS entry and that the service is up, then run "
        "`nexus notify test` to send it a test message"
    )
    # Nothing was sent to anyone, and the refused channel's secret is nowhere.
    assert hook.posts == [] and inbox.messages == []
    assert "s3cret-777" not in result.out + result.err


def test_a_bad_setting_is_named_by_its_variable(
    db: Database, tmp_path: Path, server: SimServer
) -> None:
    result, report = doctor(db.url, tmp_path, server, "config", NEXUS_ST_RATE_LIMIT="fast")
    assert result.code == 1
    assert problems(report) == [
        "NEXUS_ST_RATE_LIMIT: Input should be a valid number, unable to parse string as a "
        "number — fix the variable or unset it"
    ]
