"""A phantom batch arriving through the feed is quarantined, not loaded; release loads it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from cli import Result, nexus
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.proof.service import current_proof
from nexus.registry.config import load_config
from nexus.servicetitan.feeds import INVOICES, JOBS
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync import quarantine
from nexus.sync.feed_sync import sync_feed
from nexus.sync.quarantine import FeedHeld
from stsim import TENANT, client_for
from wallclock import wall

SCHEMA = json.loads((Path(__file__).parents[2] / "src/nexus/proof/proof.schema.json").read_text())


def weekly_revenue(db: Database) -> dict[object, Decimal]:
    with db.connect() as conn:
        return dict(
            conn.execute(
                "SELECT date_trunc('week', completed_on), sum(invoice_total) FROM titan.jobs"
                " WHERE job_status = 'Completed' GROUP BY 1"
            ).fetchall()
        )


def token(db: Database, feed: str) -> str | None:
    with db.connect() as conn:
        row = conn.execute("SELECT token FROM nexus.feeds WHERE feed = %s", (feed,)).fetchone()
    return None if row is None else row[0]


def test_phantom_batch_is_quarantined_revenue_unchanged_and_release_loads_it(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    tenant = sim.tenant(TENANT)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        sim.advance(timedelta(hours=6))
        phantom_ids = tenant.faults.phantom_jobs(3000, same_created_at=True)
        revenue_before = weekly_revenue(db)
        jobs_token = token(db, "jobs")

        with pytest.raises(FeedHeld) as held_jobs:
            sync_feed(db, client, TENANT, JOBS, clock)
        with pytest.raises(FeedHeld):
            sync_feed(db, client, TENANT, INVOICES, clock)
        assert "share one created timestamp" in str(held_jobs.value)
        assert f"nexus quarantine show {held_jobs.value.held_id}" in str(held_jobs.value)

        assert weekly_revenue(db) == revenue_before
        assert token(db, "jobs") == jobs_token, "the feed's token stays before the batch"
        with db.connect() as conn:
            loaded = conn.execute(
                "SELECT count(*) FROM titan.jobs WHERE id = ANY(%s)", (phantom_ids,)
            ).fetchone()[0]  # type: ignore[index]
            assert loaded == 0
            held = quarantine.listing(conn, TENANT, "held")
            runs = conn.execute(
                "SELECT producer, status, error_kind FROM nexus.runs ORDER BY id DESC LIMIT 2"
            ).fetchall()
            kinds = [r[0] for r in conn.execute("SELECT kind FROM nexus.events")]
        assert {h.feed for h in held} == {"jobs", "invoices"}
        assert sum(h.rows for h in held if h.feed == "jobs") >= 3000
        assert all(r[1:] == ("failed", "quarantined") for r in runs)
        assert kinds.count("writes_quarantined") == 2

        # A second run stops at the same batch again and does not hold it twice, even
        # once the business moved on and real changes follow the batch in the export.
        sim.advance(timedelta(hours=12))
        with pytest.raises(FeedHeld) as again:
            sync_feed(db, client, TENANT, JOBS, clock)
        assert again.value.held_id == held_jobs.value.held_id
        with db.connect() as conn:
            assert len(quarantine.listing(conn, TENANT, "held")) == 2

        # After review, release loads both batches through the normal loader.
        with db.connect(autocommit=True) as conn:
            for h in held:
                quarantine.release(conn, h.id, actor="reviewer", now=clock.now())
        sync_all(db, client, TENANT, clock)
    with db.connect() as conn:
        loaded = conn.execute(
            "SELECT count(*), sum(invoice_total) FROM titan.jobs WHERE id = ANY(%s)",
            (phantom_ids,),
        ).fetchone()
    assert loaded is not None and loaded[0] == 3000
    assert loaded[1] == sum(tenant.job_invoice_total(j) for j in phantom_ids)
    with db.connect() as conn:
        assert quarantine.listing(conn, TENANT, "held") == []


def test_drop_moves_the_feed_past_the_batch_without_loading_it(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    tenant = sim.tenant(TENANT)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        phantom_ids = tenant.faults.phantom_jobs(200, same_created_at=True)
        with pytest.raises(FeedHeld) as held:
            sync_feed(db, client, TENANT, JOBS, clock)
        with db.connect(autocommit=True) as conn:
            quarantine.drop(conn, held.value.held_id, actor="reviewer", now=clock.now())
            with pytest.raises(quarantine.QuarantineError, match="already dropped by reviewer"):
                quarantine.release(conn, held.value.held_id, actor="someone", now=clock.now())
        sync_feed(db, client, TENANT, JOBS, clock)
    with db.connect() as conn:
        loaded = conn.execute(
            "SELECT count(*) FROM titan.jobs WHERE id = ANY(%s)", (phantom_ids,)
        ).fetchone()[0]  # type: ignore[index]
    assert loaded == 0


def test_the_proof_and_the_cli_show_held_writes(
    db: Database, sim: Simulator, clock: VirtualClock, tmp_path: Path
) -> None:
    tenant = sim.tenant(TENANT)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        tenant.faults.phantom_jobs(500, same_created_at=True)
        with pytest.raises(FeedHeld) as held:
            sync_feed(db, client, TENANT, JOBS, clock)
    proof = current_proof(db, load_config(None), TENANT, clock).to_json()
    jsonschema.validate(proof, SCHEMA)
    alert = next(a for a in proof["alerts"] if a["check"] == "quarantine")
    assert (alert["severity"], alert["label"]) == ("critical", "Writes quarantined")
    assert alert["probable_cause"]["kind"] == "writes_quarantined"
    assert proof["verdict"] == "critical"
    assert any(a["command"] == "nexus quarantine list" for a in proof["actions"])

    listed = nexus("quarantine", "list", "--json", db_url=db.url, home=tmp_path)
    assert listed.code == 0, listed.err
    assert [h["id"] for h in listed.json()] == [held.value.held_id]
    shown = nexus(
        "quarantine", "show", str(held.value.held_id), "--json", db_url=db.url, home=tmp_path
    )
    assert shown.json()["rows"] == 500 and len(shown.json()["records"]) == 5
    missing = nexus("quarantine", "release", "999", db_url=db.url, home=tmp_path)
    assert missing.code == 1 and "no quarantined batch #999" in missing.err
    released = nexus("quarantine", "release", str(held.value.held_id), db_url=db.url, home=tmp_path)
    assert released.code == 0, released.err
    again = nexus("quarantine", "release", str(held.value.held_id), db_url=db.url, home=tmp_path)
    assert again.code == 1 and "already released" in again.err


def test_feeds_stale_behind_held_writes_are_symptoms_of_them_not_causes_of_their_own(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    config = load_config(None)
    tenant = sim.tenant(TENANT)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        tenant.faults.phantom_jobs(500, same_created_at=True)  # jobs, and their invoices
        for _ in range(8):  # four hours of 30-minute cycles: jobs and invoices stop at it
            sim.advance(timedelta(minutes=30))
            for producer in ("job_sync", "invoice_sync"):
                with pytest.raises(FeedHeld):
                    sync_all(db, client, TENANT, clock, feeds=config.feeds_of(producer))
            held = {"job_sync", "invoice_sync"}
            others = [f for p in config.producers if p not in held for f in config.feeds_of(p)]
            sync_all(db, client, TENANT, clock, feeds=others)
    proof = current_proof(db, config, TENANT, clock)
    stale = [a for a in proof.alerts if a.check == "freshness"]
    assert {a.product for a in stale} >= {"titan.jobs", "titan.invoices"}
    (group,) = [g for g in proof.causes if g.kind == "writes_quarantined"]
    assert {a.grouped_under for a in stale} == {proof.causes.index(group)}
    assert group.primary == "quarantine" and "quarantine #" not in group.evidence
    assert "#1 jobs" in group.evidence and "#2 invoices" in group.evidence
    assert [g.kind for g in proof.causes] == ["writes_quarantined"], proof.causes
    assert {b.because for b in proof.behind} == {"writes_quarantined"}
    behind = [line for line in proof.story if "behind because" in line]
    assert behind and all("waits before writes held in quarantine" in line for line in behind)


def test_a_held_batch_names_its_moments_on_the_wall_clock_of_the_tenants_zone(
    db: Database, sim: Simulator, clock: VirtualClock, tmp_path: Path
) -> None:
    zone = "Asia/Kolkata"
    path = tmp_path / "nexus.toml"
    path.write_text(f'[[tenants]]\nid = {TENANT}\ntimezone = "{zone}"\n')
    config = load_config(path)
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock, config=config)
        sim.tenant(TENANT).faults.phantom_jobs(500, same_created_at=True)
        with pytest.raises(FeedHeld) as held:
            sync_all(db, client, TENANT, clock, feeds=["jobs"], config=config)
    held_id = held.value.held_id
    with db.connect() as conn:
        batch, records = quarantine.get(conn, held_id)
    [(created, _)] = Counter(r["createdOn"] for r in records).most_common(1)
    shared = f"share one created timestamp ({wall(datetime.fromisoformat(created), zone)})"
    assert shared in str(held.value) and batch.reason.endswith(shared)

    def run(*args: str) -> Result:
        env = {"NEXUS_CONFIG": str(path), "NEXUS_ACTOR": "reviewer"}
        return nexus("quarantine", *args, db_url=db.url, home=tmp_path, env=env)

    listed = run("list")
    assert listed.code == 0, listed.err
    [row] = [line for line in listed.out.splitlines() if line.startswith(f"│ {held_id} ")]
    assert wall(batch.held_at, zone) in row
    assert run("drop", str(held_id)).code == 0
    with db.connect() as conn:
        decided, _ = quarantine.get(conn, held_id)
    assert decided.decided_at is not None
    again = run("release", str(held_id))
    assert again.code == 1
    assert again.err.strip() == (
        f"error: quarantined batch #{held_id} was already dropped by reviewer at "
        f"{wall(decided.decided_at, zone)}; nothing to do"
    )
