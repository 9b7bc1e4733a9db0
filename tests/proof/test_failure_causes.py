"""Failing producers are named by what their failures were: auth, reachability, or other.

The tenant keeps Asia/Kolkata's clock (UTC+05:30): the evidence, the story and
the freshness details name every moment on it, while the JSON keeps the instant.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from nexus.catalog import FEEDS
from nexus.clock import VirtualClock
from nexus.errors import NexusError
from nexus.mirror import sync_all
from nexus.proof.service import current_proof
from nexus.registry.config import default_config_text, parse_config
from nexus.servicetitan.feeds import INVOICES
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.feed_sync import sync_feed
from nexus.sync.source_check import source_checks
from stsim import TENANT, client_for
from wallclock import wall

ZONE = "Asia/Kolkata"
CONFIG = parse_config(
    default_config_text() + f'\n[[tenants]]\nid = {TENANT}\ntimezone = "{ZONE}"\n'
)
FEED_OF_TABLE = {feed.table: feed.name for feed in FEEDS.values()}


def invoice_cause(proof: dict) -> dict:
    alert = next(a for a in proof["alerts"] if a["product"] == "titan.invoices")
    return alert["probable_cause"]


@pytest.mark.parametrize(
    ("fault", "kind"),
    [("token", "st_auth_failing"), ("outage", "st_unreachable"), ("record", "producer_failing")],
)
def test_the_cause_of_a_stale_table_follows_its_producers_failures(
    db: Database, sim: Simulator, clock: VirtualClock, fault: str, kind: str
) -> None:
    faults = sim.tenant(TENANT).faults
    with sim.serve() as server, client_for(server, max_attempts=2) as client:
        sync_all(db, client, TENANT, clock)
        sim.advance(timedelta(hours=1))
        if fault == "token":
            faults.token_rejection(revoke_issued=True)
        elif fault == "outage":
            faults.outage(503)
        else:
            faults.malformed_record("invoices", times=None)
        onset = clock.now() + timedelta(minutes=15)  # the first run to meet the fault
        for _ in range(20):  # five hours of failing runs every 15 minutes
            sim.advance(timedelta(minutes=15))
            with pytest.raises(NexusError):
                sync_feed(db, client, TENANT, INVOICES, clock)
    proof = current_proof(db, CONFIG, TENANT, clock).to_json()
    cause = invoice_cause(proof)
    if kind == "producer_failing":  # the producer's own trouble: its cause is the producer
        assert (cause["kind"], cause["producer"], cause["scope"]) == (
            kind,
            "invoice_sync",
            "producer",
        )
        assert f"failed 20 run(s) in a row since {wall(onset, ZONE)} (latest" in cause["evidence"]
    else:  # ServiceTitan's trouble: one cause for the tenant, naming every producer it stops
        assert (cause["kind"], cause["producer"], cause["scope"]) == (kind, None, "tenant")
        assert cause["producers"] == ["invoice_sync"]
        assert f"failed every run since {wall(onset, ZONE)} (20 runs)" in cause["evidence"]
    assert len(cause["run_ids"]) >= 1
    # `since` is the onset — the first failed run — not the moment the proof was read.
    assert datetime.fromisoformat(cause["since"]) == onset
    # The story tells the onset on the tenant's clock, and so does every source check's detail.
    story = proof["story"]
    assert any(f"The cause, since {wall(onset, ZONE)}: " in line for line in story), story
    with db.connect() as conn:
        checks = source_checks(conn, TENANT, clock.now())
    asked = [f for f in proof["freshness"] if f["measured_by"] == "source"]
    assert asked
    for measured in asked:
        check = checks[FEED_OF_TABLE[measured["product"]]]
        when = f"when asked on {wall(check.checked_at, ZONE)} (run {check.run_id})"
        assert measured["detail"].endswith(when), measured
