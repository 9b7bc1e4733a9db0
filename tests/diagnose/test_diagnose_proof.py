"""The latest diagnosis feeds the proof: its sync misses leave `unexplained` for `sync_miss`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.proof.causes import diagnosis_cause
from nexus.proof.service import current_proof
from nexus.registry.config import Config
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.diagnose import diagnose_invoices
from stsim import TENANT, client_for
from wallclock import wall


def test_the_proof_counts_the_diagnosed_sync_misses(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=41, history_days=35, completed_jobs_per_day=15)
    sim.tenant(TENANT).faults.drop_export_share({"invoices": 0.4})
    with sim.serve() as server, client_for(server) as client:
        sync_all(db, client, TENANT, clock)
        sim.advance(timedelta(days=1))
        sync_all(db, client, TENANT, clock)
        before = current_proof(db, Config(), TENANT, clock).to_json()["zero_invoice_split"]
        assert before["sync_miss"] == 0 and before["unexplained"] > 0
        d = diagnose_invoices(db, client, TENANT, clock, sample=500, seed=1)
    after = current_proof(db, Config(), TENANT, clock).to_json()["zero_invoice_split"]
    misses = d.classes["sync_miss"].count
    assert misses > 0
    # Every miss the diagnosis found among the proof's $0 jobs is now named as one.
    assert after["sync_miss"] == misses
    # They were counted as unexplained, or as not finished when still within the lag.
    waiting = ("unexplained", "not_finished")
    assert sum(after[k] for k in waiting) == sum(before[k] for k in waiting) - misses
    assert after["unexplained"] < before["unexplained"]
    cause = diagnosis_cause(d, ZoneInfo("Asia/Kolkata"))
    assert cause is not None and cause.kind == "sync_miss" and cause.producer == "invoice_sync"
    assert "nexus reconcile --feed invoices --repair" in cause.evidence
    # The evidence names the diagnosis's moment on the tenant's clock.
    assert f"diagnosis {d.id} on {wall(d.at, 'Asia/Kolkata')} asked" in cause.evidence
