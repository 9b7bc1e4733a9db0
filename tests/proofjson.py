"""The proof's published JSON Schema, and a check that a proof's JSON follows it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads((Path(__file__).parents[1] / "src/nexus/proof/proof.schema.json").read_text())


def validated(proof: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate(proof, SCHEMA, format_checker=jsonschema.FormatChecker())
    return proof


#: the default sync interval: `since` may trail the real onset by at most one run
SYNC_EVERY = timedelta(minutes=15)


def assert_quiet(proof: dict[str, Any]) -> None:
    """No warning, no critical, no table behind, nobody orphaned."""
    assert proof["verdict"] == "ok", proof["story"]
    assert not [a for a in proof["alerts"] if a["severity"] in ("warning", "critical")]
    behind = [f["product"] for f in proof["freshness"] if f["judged"] and not f["fresh"]]
    assert behind == []
    assert proof["orphans"] == [] and proof["behind"] == [] and proof["causes"] == []


def assert_one_tenant_wide_root(proof: dict[str, Any], kind: str, onset: datetime) -> None:
    real = [c for c in proof["causes"] if c["severity"] in ("warning", "critical")]
    assert len(real) == 1, [(c["kind"], c["producer"]) for c in proof["causes"]]
    root = real[0]
    assert (root["kind"], root["producer"], root["scope"]) == (kind, None, "tenant")
    assert {"job_sync", "invoice_sync", "customer_sync", "estimate_sync"} <= set(root["producers"])
    since = datetime.fromisoformat(root["since"])
    assert onset <= since <= onset + SYNC_EVERY, (since, onset)
    # Every real alert is a symptom of that one root; no product is called orphaned.
    index = proof["causes"].index(root)
    for alert in proof["alerts"]:
        if alert["severity"] in ("warning", "critical"):
            assert alert["grouped_under"] == index, alert["label"]
    assert proof["orphans"] == []
    assert {b["because"] for b in proof["behind"]} == {kind}
    # The story tells it once; the fix is one action.
    story = proof["story"]
    assert len(story) <= 8 and len(set(story)) == len(story)
    assert story[0].startswith("One real problem:"), story[0]
    assert sum(1 for line in story if root["evidence"] in line) == 1
    dos = [a["do"] for a in proof["actions"]]
    assert len(set(dos)) == len(dos)
    assert proof["actions"][0]["command"] == "nexus sync"
