"""Causes collapse to their root: ServiceTitan's own trouble is one cause for the tenant.

Each replay runs the simulated tenant over real HTTP and Nexus's producers on
the virtual clock; the proofs are read as JSON (validated against the schema).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from nexus.replay import run_replay
from nexus.scenario import load_scenario
from nexus.store.database import Database
from proofjson import assert_one_tenant_wide_root, assert_quiet

HERE = Path(__file__).parent


@pytest.mark.slow
def test_a_credential_rotation_is_one_cause_for_the_tenant_from_its_onset_then_nothing(
    db: Database,
) -> None:
    scenario = load_scenario(HERE / "scenarios" / "rotation.yaml")
    rotation = next(e for e in scenario.events if e.kind == "credentials_rotated")
    young = scenario.start + timedelta(days=2)
    during = rotation.at + timedelta(hours=20)
    result = run_replay(scenario, db, observe_at=[young, during])
    # A healthy business, two days after Nexus backfilled its first week: nothing to say.
    young_proof = result.checkpoints[young].to_json()
    assert_quiet(young_proof)
    # Freshness is lag behind ServiceTitan: every checked table held its newest change, and a
    # quiet table whose newest row is older than its limit is fresh all the same.
    source = [f for f in young_proof["freshness"] if f["measured_by"] == "source"]
    assert len(source) >= 10 and all(f["age_s"] == 0 and f["fresh"] for f in source)
    quiet = [
        f["product"]
        for f in young_proof["freshness"]
        if f["measured_by"] == "db" and (f["age_s"] or 0) > f["max_age_s"]
    ]
    assert quiet, "a quiet table whose rows are older than its limit"
    mid = result.checkpoints[during].to_json()
    assert_one_tenant_wide_root(mid, "st_auth_failing", rotation.at)
    assert "NEXUS_ST_CLIENT_SECRET" in mid["actions"][0]["do"]
    # Once the new secret is set, every feed catches up and nothing remains.
    assert_quiet(result.proof.to_json())
