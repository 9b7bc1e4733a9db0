"""The `webhooks: on|off` scenario event: hints keep the mirror current while sync is stopped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from nexus.replay import run_replay
from nexus.scenario import load_scenario
from nexus.store.database import Database
from nexus.web.app import create_app

SCENARIO = """\
name: webhooks-carry-invoices
seed: 9
start: 2026-04-01T00:00:00Z
history_days: 3
until: 2026-04-02T12:00:00Z
business: {completed_jobs_per_day: 12}
events:
  - {at: 2026-04-01T00:00:00Z, webhooks: on}
  - {at: 2026-04-01T06:00:00Z, stop: invoice_sync}
  - {at: 2026-04-01T18:00:00Z, webhooks: off}
"""


def test_webhooks_refresh_invoices_until_switched_off(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    result = run_replay(scenario, db, web_app=create_app)
    assert result.simulator is not None
    tenant = result.simulator.tenant(scenario.tenant)
    with db.connect() as conn:
        refreshes = conn.execute(
            "SELECT count(*), min(started_at), max(started_at) FROM nexus.runs"
            " WHERE producer = 'webhook_refresh' AND status = 'succeeded'"
        ).fetchone()
        invoice_runs = conn.execute(
            "SELECT max(started_at) FROM nexus.runs WHERE producer = 'invoice_sync'"
        ).fetchone()
        totals = dict(conn.execute("SELECT id, invoice_total FROM titan.jobs").fetchall())
        kinds = [r[0] for r in conn.execute("SELECT kind FROM nexus.events ORDER BY at")]
    assert refreshes is not None and refreshes[0] > 0
    assert invoice_runs is not None and invoice_runs[0] < scenario.events[1].at
    # Refreshes happened while invoice_sync was stopped, and only while webhooks were on.
    assert scenario.events[1].at < refreshes[2] < scenario.events[2].at
    assert kinds[:1] == ["webhooks_on"] and "webhooks_off" in kinds
    # With invoice_sync stopped, webhooks alone kept totals right until they went off;
    # afterwards the mirror falls behind the source.
    wrong = [j for j, t in totals.items() if t != tenant.job_invoice_total(j)]
    assert wrong, "after webhooks went off some totals should lag the source"
    off_at = scenario.events[2].at
    changed_after_off = {
        inv["job"]["id"]
        for inv in tenant.truth_invoices().values()
        if inv.get("job") and datetime.fromisoformat(inv["modifiedOn"]) >= off_at
    }
    assert set(wrong) <= changed_after_off, "only changes made after webhooks went off may lag"
