"""A feed whose export stops delivering what ServiceTitan has is named as the cause."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.proof.service import current_proof
from nexus.registry.config import load_config
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.diagnose import diagnose_invoices
from nexus.sync.reconcile import run_reconcile
from stsim import TENANT, client_for
from wallclock import wall

ZONE = "America/Chicago"  # the default tenant's

SCHEMA = json.loads((Path(__file__).parents[2] / "src/nexus/proof/proof.schema.json").read_text())


def coverage_alert(proof: dict) -> dict | None:
    return next((a for a in proof["alerts"] if a["check"] == "invoice_coverage"), None)


def test_reconcile_evidence_turns_an_unexplained_gap_into_a_stuck_feed(
    db: Database, sim: Simulator, clock: VirtualClock
) -> None:
    config = load_config(None)
    sim.tenant(TENANT).faults.drop_export_share({"invoices": 0.6})
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        before = current_proof(db, config, TENANT, clock).to_json()
        alert = coverage_alert(before)
        assert alert is not None and alert["severity"] == "critical"
        assert alert["probable_cause"]["kind"] == "none_found"

        # A diagnosis that finds sync misses becomes the probable cause...
        diagnosis = diagnose_invoices(db, client, TENANT, clock, sample=30, seed=3)
        diagnosed = current_proof(db, config, TENANT, clock).to_json()
        jsonschema.validate(diagnosed, SCHEMA)
        cause = coverage_alert(diagnosed)["probable_cause"]  # type: ignore[index]
        assert (cause["kind"], cause["producer"]) == ("sync_miss", "invoice_sync")
        assert cause["evidence"].startswith(
            f"diagnosis {diagnosis.id} on {wall(diagnosis.at, ZONE)} "
        )
        assert diagnosed["zero_invoice_split"]["sync_miss"] == len(diagnosis.sync_miss_ids) > 0
        assert diagnosed["actions"][0]["command"] == "nexus reconcile --feed invoices --repair"

        # ...and a reconciliation's evidence names the feed itself.
        report = run_reconcile(db, client, TENANT, clock, feeds=["invoices"])
        after = current_proof(db, config, TENANT, clock).to_json()
        jsonschema.validate(after, SCHEMA)
        cause = coverage_alert(after)["probable_cause"]  # type: ignore[index]
        assert (cause["kind"], cause["producer"]) == ("feed_stuck", "invoice_sync")
        assert cause["run_ids"] == [report.run_id]
        assert report.finished_at is not None
        ran = f"reconcile run {report.run_id} ({wall(report.finished_at, ZONE)}) found"
        assert ran in cause["evidence"], cause["evidence"]
        assert after["actions"][0]["command"] == "nexus reconcile --feed invoices --repair"

        run_reconcile(db, client, TENANT, clock, feeds=["invoices"], repair=True)
        repaired = current_proof(db, config, TENANT, clock).to_json()
    alert = coverage_alert(repaired)
    assert alert is None or alert["severity"] not in ("warning", "critical")
