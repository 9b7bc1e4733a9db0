"""`nexus diagnose invoices` as a user runs it: JSON shape, repair, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli import Result, nexus
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.simulator import BusinessConfig, SimServer, Simulator
from nexus.store.database import Database
from nexus.sync.diagnose import CLASSES, latest_diagnosis
from stsim import CREDENTIALS, TENANT, client_for, st_env
from wallclock import wall


@pytest.fixture
def lossy(db: Database) -> Iterator[tuple[Simulator, SimServer]]:
    """A mirrored tenant (on today's date) whose invoice feed lost a third of its changes."""
    clock = VirtualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
    sim = Simulator(clock=clock, credentials=CREDENTIALS, export_page_size=500)
    business = BusinessConfig(seed=52, completed_jobs_per_day=15, uninvoiced_share=0.1)
    sim.add_tenant(TENANT, business, history_days=35)
    sim.tenant(TENANT).faults.drop_export_share({"invoices": 0.3})
    with sim.serve() as server:
        with client_for(server) as client:
            sync_all(db, client, TENANT, clock)
        yield sim, server


def run(server: SimServer, db: Database, home: Path, *args: str) -> Result:
    env = st_env(server, NEXUS_ST_RATE_LIMIT="500", NEXUS_ST_MAX_ATTEMPTS="1")
    return nexus(*args, db_url=db.url, home=home, env=env)


def test_json_shape_then_repair(
    db: Database, lossy: tuple[Simulator, SimServer], tmp_path: Path
) -> None:
    sim, server = lossy
    looked = run(server, db, tmp_path, "diagnose", "invoices", "--sample", "25", "--json")
    assert looked.code == 0, looked.err
    d = looked.json()
    assert d["sampled"] == 25 and d["population"] >= 25
    assert list(d["classes"]) == list(CLASSES)
    for share in d["classes"].values():
        assert set(share) == {"count", "share", "ci_low", "ci_high"}
    assert sum(s["count"] for s in d["classes"].values()) == 25
    assert len(d["jobs"]) == 25
    assert all(set(j) == {"id", "class", "evidence"} for j in d["jobs"])
    misses = [j["id"] for j in d["jobs"] if j["class"] == "sync_miss"]
    assert misses and d["repaired"] == 0

    seed = str(d["seed"])
    fixed = run(
        server,
        db,
        tmp_path,
        "diagnose",
        "invoices",
        "--sample",
        "25",
        "--seed",
        seed,
        "--repair",
        "--json",
    )
    assert fixed.code == 0, fixed.err
    # (The same seed draws the same sample — unless the window's edge, which moves
    # with the wall clock, passed a job in between; so only the repair is checked.)
    misses = [j["id"] for j in fixed.json()["jobs"] if j["class"] == "sync_miss"]
    assert fixed.json()["repaired"] == len(misses) > 0
    tenant = sim.tenant(TENANT)
    with db.connect() as conn:
        totals = dict(
            conn.execute(
                "SELECT id, invoice_total FROM titan.jobs WHERE id = ANY(%s)", (misses,)
            ).fetchall()
        )
    assert all(totals[j] == tenant.job_invoice_total(j) for j in misses)

    text = run(server, db, tmp_path, "diagnose", "invoices", "--sample", "10")
    assert text.code == 0, text.err
    assert "genuinely_zero" in text.out and "asked ServiceTitan about 10" in text.out
    # The window it looked at, on the tenant's clock (Chicago: nexus.toml declares no zone).
    with db.connect() as conn:
        latest = latest_diagnosis(conn, TENANT)
    assert latest is not None
    start, end = (wall(t, "America/Chicago") for t in (latest.window_start, latest.window_end))
    assert f"completed jobs with a $0 invoice total between {start} and {end};" in text.out


def test_a_sample_of_zero_is_a_usage_error(
    db: Database, lossy: tuple[Simulator, SimServer], tmp_path: Path
) -> None:
    _, server = lossy
    result = run(server, db, tmp_path, "diagnose", "invoices", "--sample", "0")
    assert result.code == 2


def test_st_down_is_one_clear_error(
    db: Database, lossy: tuple[Simulator, SimServer], tmp_path: Path
) -> None:
    sim, server = lossy
    sim.tenant(TENANT).faults.outage(503)
    result = run(server, db, tmp_path, "diagnose", "invoices", "--json")
    assert result.code == 1
    assert result.err.startswith("error:") and "503" in result.err
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM nexus.diagnoses").fetchone() == (0,)
