"""What Nexus would have sent in the shipped scenarios, received by real channels on loopback.

Each scenario is replayed once, with the notifier running on the virtual clock
like every producer and sending to an SMTP server and a JSON webhook inside
the test; every assertion about that scenario reads the one replay. The
notifier evaluates every 2 h here (production: every 15 min) to keep the
replays affordable, and repeats after 30 days, so what arrives is each
cause's firing, escalation and resolution, not its 4-hourly reminders.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from nexus.notify.state import send_log
from nexus.registry.config import default_config_text
from nexus.replay import run_replay
from nexus.scenario import load_scenario
from nexus.store.database import Database
from notifykit import Receivers, receivers, text_of

ROOT = Path(__file__).parents[2]
LINK = "http://127.0.0.1:8080/proof?tenant=1001"  # `nexus serve`, no [web] public_url
#: A replay with the notifier building a proof every 2 h takes minutes on a shared machine.
REPLAY_TIMEOUT = pytest.mark.timeout(1800)
NOTIFY = """
[producers.notifier]
kind = "notifier"
every = "2h"

[notify]
repeat_interval = "30d"
"""


def replayed(db: Database, tmp_path: Path, name: str) -> Receivers:
    """Replay a shipped scenario with the notifier sending to loopback channels."""
    config = tmp_path / "nexus.toml"
    config.write_text(default_config_text() + NOTIFY)
    scenario = dataclasses.replace(
        load_scenario(ROOT / "scenarios" / f"{name}.yaml"), config=config
    )
    with receivers() as r:
        run_replay(scenario, db, channels=r.channels)
    return r


@pytest.mark.slow
@REPLAY_TIMEOUT
def test_the_incident_month_sends_one_critical_for_the_retired_invoice_sync(
    db: Database, tmp_path: Path
) -> None:
    r = replayed(db, tmp_path, "incident-april")
    titles = r.hook.titles
    assert r.inbox.subjects == titles  # both channels got the same messages
    # One notification, for the root cause, critical; the small-sample coverage of the
    # first days and the refused bulk write send nothing of their own.
    assert len(titles) == 1, titles
    assert titles[0].startswith("[CRITICAL] tenant 1001: "), titles
    assert titles[0].endswith("invoice_sync was retired"), titles
    body = r.hook.posts[0]["message"]
    assert "Symptoms of this cause (not separate problems):" in body
    assert body.count("\n  - ") >= 2  # its symptoms listed inside it
    assert "Since: Apr 12 00:00 UTC" in body
    assert "$ nexus producers restore invoice_sync" in body
    assert f"Dashboard: {LINK}" in body
    plain, html = text_of(r.inbox.messages[0])
    for part in (plain, html):
        assert "invoice_sync was retired" in part
        assert "nexus producers restore invoice_sync" in part
        assert LINK in part


@pytest.mark.slow
@REPLAY_TIMEOUT
def test_an_outage_that_recovers_sends_one_firing_and_one_resolved(
    db: Database, tmp_path: Path
) -> None:
    r = replayed(db, tmp_path, "st-outage")
    titles = r.hook.titles
    assert r.inbox.subjects == titles
    with db.connect() as conn:
        log = [s for s in reversed(send_log(conn, 1001)) if s.channel == "hook"]
    # One cause, ServiceTitan not answering: it fires, and resolves once ServiceTitan is back.
    # The only other message allowed is its escalation, when the tables fell four times
    # their limit behind while it lasted (a severity that rises is sent at once).
    assert {s.cause_key for s in log} == {"st_unreachable:*"}, titles
    kinds = [(s.kind, s.severity) for s in log]
    assert kinds in (
        [("firing", "warning"), ("resolved", "warning")],
        [("firing", "critical"), ("resolved", "critical")],
        [("firing", "warning"), ("repeat", "critical"), ("resolved", "critical")],
    ), titles
    assert "ServiceTitan does not answer" in titles[0], titles
    assert titles[-1] == "[RESOLVED] tenant 1001: st_unreachable has cleared", titles
    assert "$ nexus sync" in r.hook.posts[0]["message"]


@pytest.mark.slow
@REPLAY_TIMEOUT
def test_the_healthy_scenario_sends_nothing(db: Database, tmp_path: Path) -> None:
    r = replayed(db, tmp_path, "healthy")
    assert r.received() == []
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM nexus.runs"
            " WHERE producer = 'notifier'"
        ).fetchone()
    assert row is not None
    runs, succeeded = row
    assert runs > 500 and succeeded == runs  # it ran every cycle, and had nothing to say
