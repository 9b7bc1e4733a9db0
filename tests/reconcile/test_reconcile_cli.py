"""`nexus reconcile` as a user runs it: JSON shape, exit codes, a clear error when ST is down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cli import Result, nexus
from nexus.catalog import DEFAULT_FEEDS
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.simulator import BusinessConfig, SimServer, Simulator
from nexus.store.database import Database
from nexus.sync.reconcile import CLASSES, reconcilable
from stsim import CREDENTIALS, TENANT, client_for, st_env
from wallclock import wall


@pytest.fixture
def lossy(db: Database) -> Iterator[tuple[Simulator, SimServer]]:
    """A mirrored tenant whose invoice feed lost a third of its changes, served over HTTP."""
    clock = VirtualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    sim = Simulator(clock=clock, credentials=CREDENTIALS, export_page_size=500)
    sim.add_tenant(TENANT, BusinessConfig(seed=51), history_days=20)
    sim.tenant(TENANT).faults.drop_export_share({"invoices": 0.3})
    with sim.serve() as server:
        with client_for(server) as client:
            sync_all(db, client, TENANT, clock)
        yield sim, server


def run(server: SimServer, db: Database, home: Path, *args: str, **env: str) -> Result:
    env = st_env(server, NEXUS_ST_RATE_LIMIT="500", NEXUS_ST_MAX_ATTEMPTS="1", **env)
    return nexus(*args, db_url=db.url, home=home, env=env)


def runs(db: Database) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(
            "SELECT status, error_kind FROM nexus.runs WHERE producer = 'reconcile' ORDER BY id"
        ).fetchall()


def test_json_report_then_repair(
    db: Database, lossy: tuple[Simulator, SimServer], tmp_path: Path
) -> None:
    _, server = lossy
    looked = run(server, db, tmp_path, "reconcile", "--no-repair", "--json")
    assert looked.code == 0, looked.err
    report = looked.json()
    # Every mirrored feed with a list endpoint (invoice items have none), in catalog order.
    assert list(report["feeds"]) == reconcilable(DEFAULT_FEEDS)
    for counts in report["feeds"].values():
        for key in (*CLASSES, "api_calls"):
            assert isinstance(counts[key], int)
        assert counts["api_calls"] == 1
    assert report["repaired"] == 0
    invoices = report["feeds"]["invoices"]
    assert invoices["missing_in_mirror"] > 0
    lost = invoices["missing_in_mirror"] + invoices["field_mismatch"] + invoices["timing_only"]

    fixed = run(server, db, tmp_path, "reconcile", "--feed", "invoices", "--repair", "--json")
    assert fixed.code == 0, fixed.err
    assert list(fixed.json()["feeds"]) == ["invoices"]
    assert fixed.json()["repaired"] == lost

    kolkata = tmp_path / "kolkata.toml"
    kolkata.write_text(f'[[tenants]]\nid = {TENANT}\ntimezone = "Asia/Kolkata"\n')
    args = ("reconcile", "--feed", "invoices", "--since", "2020-01-01")
    text = run(server, db, tmp_path, *args, NEXUS_CONFIG=str(kolkata))
    assert text.code == 0, text.err
    assert "invoices:" in text.out and "0 missing in the mirror" in text.out
    # --since is a date on the tenant's clock, and the summary names it there.
    since = wall(datetime(2020, 1, 1, tzinfo=ZoneInfo("Asia/Kolkata")), "Asia/Kolkata")
    assert f"tenant 1001: reconciled changes since {since} of invoices" in text.out
    assert runs(db) == [("succeeded", None)] * 3


def test_without_a_flag_it_repairs_as_nexus_toml_says(
    db: Database, lossy: tuple[Simulator, SimServer], tmp_path: Path
) -> None:
    _, server = lossy
    report_only = tmp_path / "nexus.toml"
    report_only.write_text("[reconcile]\nrepair = false\n")
    looked = run(
        server,
        db,
        tmp_path,
        "reconcile",
        "--feed",
        "invoices",
        "--json",
        NEXUS_CONFIG=str(report_only),
    )
    assert looked.code == 0, looked.err
    assert (looked.json()["repair"], looked.json()["repaired"]) == (False, 0)
    invoices = looked.json()["feeds"]["invoices"]
    differing = invoices["missing_in_mirror"] + invoices["field_mismatch"] + invoices["timing_only"]
    assert invoices["missing_in_mirror"] > 0

    # The default configuration repairs.
    fixed = run(server, db, tmp_path, "reconcile", "--feed", "invoices", "--json")
    assert fixed.code == 0, fixed.err
    assert (fixed.json()["repair"], fixed.json()["repaired"]) == (True, differing)


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ("paymnets", "unknown feed 'paymnets': did you mean 'payments'?"),
        ("calls", "feed 'calls' is not mirrored — add it to [mirror] feeds"),
        ("invoice_items", "invoice_items: ServiceTitan has no list endpoint to reconcile"),
    ],
)
def test_a_feed_that_cannot_be_reconciled_is_a_usage_error(
    db: Database, lossy: tuple[Simulator, SimServer], tmp_path: Path, feed: str, message: str
) -> None:
    _, server = lossy
    result = run(server, db, tmp_path, "reconcile", "--feed", feed)
    assert result.code == 2
    assert message in " ".join(result.err.split())
    assert runs(db) == []


def test_st_down_is_one_clear_error_and_a_failed_run(
    db: Database, lossy: tuple[Simulator, SimServer], tmp_path: Path
) -> None:
    sim, server = lossy
    sim.tenant(TENANT).faults.outage(503)
    result = run(server, db, tmp_path, "reconcile", "--repair", "--json")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith("error:") and "503" in result.err
    assert "Traceback" not in result.err
    assert runs(db) == [("failed", "unreachable")]
