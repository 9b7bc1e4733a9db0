"""The shipped scenarios replayed end to end: the proof catches the real gap and nothing else.

Each replay runs the simulated tenant over real HTTP and Nexus's producers on
the virtual clock into the real test database; every proof is validated
against the published JSON Schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mirror_check import assert_derived_equal_truth, assert_feed_equals_truth
from nexus.catalog import DEFAULT_FEEDS
from nexus.replay import run_replay
from nexus.scenario import load_scenario
from nexus.simulator import Simulator
from nexus.store.database import Database
from proofjson import assert_one_tenant_wide_root, assert_quiet

ROOT = Path(__file__).parents[2]


@dataclass(frozen=True)
class Replayed:
    """A replay's proofs as JSON (each validated against the schema on the way)."""

    proof: dict[str, Any]
    checkpoints: dict[datetime, dict[str, Any]]
    simulator: Simulator | None


def replay(db: Database, name: str, **kwargs: Any) -> Replayed:
    result = run_replay(load_scenario(ROOT / "scenarios" / f"{name}.yaml"), db, **kwargs)
    return Replayed(
        result.proof.to_json(),
        {at: proof.to_json() for at, proof in result.checkpoints.items()},
        result.simulator,
    )


def severities(proof: dict[str, Any]) -> set[str]:
    return {a["severity"] for a in proof["alerts"]}


@pytest.mark.slow
def test_incident_month_ends_with_one_critical_cause_the_retired_invoice_sync(db: Database) -> None:
    proof = replay(db, "incident-april").proof
    critical = [c for c in proof["causes"] if c["severity"] == "critical"]
    assert len(critical) == 1
    cause = critical[0]
    assert (cause["kind"], cause["producer"], cause["primary"]) == (
        "producer_retired",
        "invoice_sync",
        "invoice_coverage",
    )
    assert cause["since"].startswith("2026-04-12T00:00")
    coverage = next(a for a in proof["alerts"] if a["check"] == "invoice_coverage")
    assert coverage["label"] == "ST mirror invoice coverage gap"
    assert coverage["severity"] == "critical"
    m = coverage["measurement"]
    assert m["ci_low"] > coverage["threshold"] and m["n"] >= 20
    assert coverage["questions"]["label_names_cause"] is False
    # Every other critical alert is a symptom grouped under that one cause.
    for alert in proof["alerts"]:
        if alert["severity"] == "critical":
            assert alert["grouped_under"] == 0
    assert proof["actions"][0]["command"] == "nexus producers restore invoice_sync"
    # The phantom bulk insert met the write guard: no phantom row counts as revenue.
    kinds = [e["kind"] for e in proof["timeline"]]
    assert "bulk_write_refused" in kinds
    assert not proof["revenue"]["spikes"]
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM titan.jobs WHERE id < 0 OR job_number LIKE 'PH%'"
        ).fetchone()
    assert row is not None
    phantoms = row[0]
    assert phantoms == 0
    assert all(w["mirror"] < 150_000 for w in proof["revenue"]["weeks"])


@pytest.mark.slow
def test_healthy_business_raises_nothing_and_captures_its_revenue(db: Database) -> None:
    proof = replay(db, "healthy").proof
    assert_quiet(proof)
    settled = [w for w in proof["revenue"]["weeks"] if not w["provisional"] and w["reference"]]
    assert len(settled) >= 3
    for week in settled:
        assert 0.95 <= week["capture"] <= 1.05, week
    assert {v["status"] for v in proof["vitals"] if v["producer"].endswith("_sync")} == {"alive"}


@pytest.mark.slow
def test_slow_fortnight_is_insufficient_data_never_critical(db: Database) -> None:
    proof = replay(db, "slow-fortnight").proof
    coverage = next(a for a in proof["alerts"] if a["check"] == "invoice_coverage")
    assert coverage["status"] == "insufficient_data"
    assert coverage["measurement"]["n"] < 20
    assert coverage["questions"]["sample_sufficient"] is False
    assert all(
        a["severity"] != "critical" for a in proof["alerts"] if a["check"] == "invoice_coverage"
    )


@pytest.mark.slow
def test_outage_shows_in_vitals_then_the_mirror_recovers_equal_to_the_source(
    db: Database,
) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "st-outage.yaml")
    outage = next(e for e in scenario.events if e.kind == "st_outage")
    # Read while ServiceTitan is still down, five hours in: one cause for the whole tenant.
    during = outage.at + timedelta(hours=5)
    result = replay(db, "st-outage", observe_at=[during])
    mid = result.checkpoints[during]
    failing = {v["producer"]: v for v in mid["vitals"] if v["status"] == "failing"}
    assert set(failing) >= {"job_sync", "invoice_sync", "customer_sync", "estimate_sync"}
    assert_one_tenant_wide_root(mid, "st_unreachable", outage.at)
    proof = result.proof
    assert "critical" not in severities(proof)
    assert {v["status"] for v in proof["vitals"] if v["producer"].endswith("_sync")} == {"alive"}
    assert result.simulator is not None
    # Every mirrored feed equals the source, field for field, and so do the derived values.
    for feed in DEFAULT_FEEDS:
        assert_feed_equals_truth(db, result.simulator, feed)
    assert_derived_equal_truth(db, result.simulator)


def test_checkpoint_times_are_datetimes() -> None:
    assert isinstance(load_scenario(ROOT / "scenarios" / "healthy.yaml").until, datetime)
