"""The shipped scenarios replayed end to end: the proof catches the real gap and nothing else,
and the owner is told once, by cause.

Each replay runs the simulated tenant over real HTTP and Nexus's producers on
the virtual clock into the real test database; every proof is validated
against the published JSON Schema. The notifier runs in the same replay, sending
to an SMTP server and a JSON webhook inside the test, so each scenario is
replayed once for both. It repeats after 30 days, so what arrives is each
cause's firing, escalation and resolution, not its 4-hourly reminders.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mirror_check import assert_derived_equal_truth, assert_feed_equals_truth
from nexus.catalog import DEFAULT_FEEDS
from nexus.notify.state import send_log
from nexus.registry.config import default_config_text
from nexus.replay import run_replay
from nexus.scenario import Scenario, load_scenario
from nexus.simulator import Simulator
from nexus.store.database import Database
from notifykit import Receivers, receivers, text_of
from proofjson import assert_one_tenant_wide_root, assert_quiet

ROOT = Path(__file__).parents[2]


LINK = "http://127.0.0.1:8080/proof?tenant=1001"  # `nexus serve`, no [web] public_url
#: A replay with the notifier building a proof every 2 h takes minutes on a shared machine.
REPLAY_TIMEOUT = pytest.mark.timeout(1800)
#: How often the replays' notifier evaluates. Production's cycle is 15 minutes; a proof
#: per cycle is most of a weeks-long replay's time, so those evaluate every 2 hours. The
#: outage replay keeps production's cycle: three hours of outage are a handful of them.
NOTIFY_EVERY = timedelta(hours=2)
OUTAGE_NOTIFY_EVERY = timedelta(minutes=15)


def notify_config(every: timedelta) -> str:
    minutes = int(every.total_seconds() // 60)
    return f"""
[producers.notifier]
kind = "notifier"
every = "{minutes}m"

[notify]
repeat_interval = "30d"
"""


@dataclass(frozen=True)
class Replayed:
    """A replay's proofs as JSON (each validated against the schema on the way), and what
    the notifier sent."""

    proof: dict[str, Any]
    checkpoints: dict[datetime, dict[str, Any]]
    simulator: Simulator | None
    told: Receivers


def replay(
    db: Database,
    tmp_path: Path,
    name: str | Scenario,
    notify_every: timedelta = NOTIFY_EVERY,
    **kwargs: Any,
) -> Replayed:
    config = tmp_path / "nexus.toml"
    config.write_text(default_config_text() + notify_config(notify_every))
    scenario = shipped(name) if isinstance(name, str) else name
    with receivers() as told:
        result = run_replay(
            dataclasses.replace(scenario, config=config), db, channels=told.channels, **kwargs
        )
    return Replayed(
        result.proof.to_json(),
        {at: proof.to_json() for at, proof in result.checkpoints.items()},
        result.simulator,
        told,
    )


def shipped(name: str) -> Scenario:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml")


def severities(proof: dict[str, Any]) -> set[str]:
    return {a["severity"] for a in proof["alerts"]}


@pytest.mark.slow
@REPLAY_TIMEOUT
def test_incident_month_ends_with_one_critical_cause_the_retired_invoice_sync(
    db: Database, tmp_path: Path
) -> None:
    replayed = replay(db, tmp_path, "incident-april")
    proof = replayed.proof
    critical = [c for c in proof["causes"] if c["severity"] == "critical"]
    assert len(critical) == 1
    cause = critical[0]
    assert (cause["kind"], cause["producer"], cause["primary"]) == (
        "producer_retired",
        "invoice_sync",
        "invoice_coverage",
    )
    assert cause["since"].startswith("2026-04-12T00:00")
    # Retired at midnight UTC, which in the tenant's Chicago was the evening before.
    assert "invoice_sync was retired on Apr 11, 19:00 CDT" in cause["evidence"]
    assert any(
        "The cause, since Apr 11, 19:00 CDT: invoice_sync was retired — " in s
        for s in proof["story"]
    )
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

    # The owner was told once, by both channels: one critical, for the root cause, with
    # its symptoms inside; the small-sample coverage of the first days and the refused
    # bulk write sent nothing of their own.
    told = replayed.told
    titles = told.hook.titles
    assert told.inbox.subjects == titles
    assert len(titles) == 1, titles
    assert titles[0].startswith("[CRITICAL] tenant 1001: "), titles
    assert titles[0].endswith("invoice_sync was retired"), titles
    body = told.hook.posts[0]["message"]
    assert "Symptoms of this cause (not separate problems):" in body
    assert body.count("\n  - ") >= 2
    assert "Since: Apr 11, 19:00 CDT" in body
    assert "$ nexus producers restore invoice_sync" in body
    assert f"Dashboard: {LINK}" in body
    plain, html = text_of(told.inbox.messages[0])
    for part in (plain, html):
        assert "invoice_sync was retired" in part
        assert "nexus producers restore invoice_sync" in part
        assert LINK in part


@pytest.mark.slow
@REPLAY_TIMEOUT
def test_healthy_business_raises_nothing_tells_nobody_and_captures_its_revenue(
    db: Database, tmp_path: Path
) -> None:
    replayed = replay(db, tmp_path, "healthy")
    scenario = load_scenario(ROOT / "scenarios" / "healthy.yaml")
    proof = replayed.proof
    assert_quiet(proof)
    settled = [w for w in proof["revenue"]["weeks"] if not w["provisional"] and w["reference"]]
    assert len(settled) >= 3
    for week in settled:
        assert 0.95 <= week["capture"] <= 1.05, week
    assert {v["status"] for v in proof["vitals"] if v["producer"].endswith("_sync")} == {"alive"}
    assert replayed.told.received() == []
    with db.connect() as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM nexus.runs"
            " WHERE producer = 'notifier'"
        ).fetchone()
    assert row is not None
    runs, succeeded = row
    # It ran on every one of its cycles, and had nothing to say.
    assert runs == (scenario.until - scenario.start) // NOTIFY_EVERY + 1
    assert succeeded == runs


@pytest.mark.slow
def test_slow_fortnight_is_insufficient_data_never_critical(db: Database, tmp_path: Path) -> None:
    replayed = replay(db, tmp_path, "slow-fortnight")
    proof = replayed.proof
    coverage = next(a for a in proof["alerts"] if a["check"] == "invoice_coverage")
    assert coverage["status"] == "insufficient_data"
    assert coverage["measurement"]["n"] < 20
    assert coverage["questions"]["sample_sufficient"] is False
    assert all(
        a["severity"] != "critical" for a in proof["alerts"] if a["check"] == "invoice_coverage"
    )
    # The retired invoice_sync is told once (its tables go stale); the coverage, too small
    # to judge, never has a message of its own.
    titles = replayed.told.hook.titles
    assert replayed.told.inbox.subjects == titles
    assert titles == [
        "[CRITICAL] tenant 1001: titan.invoices freshness (run ledger): invoice_sync was retired"
    ], titles


@pytest.mark.slow
@REPLAY_TIMEOUT
def test_outage_shows_in_vitals_is_told_once_then_the_mirror_recovers_equal_to_the_source(
    db: Database, tmp_path: Path
) -> None:
    scenario = shipped("st-outage")
    outage = next(e for e in scenario.events if e.kind == "st_outage")
    throttled = next(e for e in scenario.events if e.kind == "rate_limit")
    # The quiet days before the outage and after the throttling prove nothing more, and the
    # notifier's 15-minute proofs make each of them cost: the replay starts the day before
    # the outage (the business opened as shipped) and ends six hours after the throttling.
    start = outage.at.replace(hour=0) - timedelta(days=1)
    scenario = dataclasses.replace(
        scenario,
        start=start,
        history_days=scenario.history_days + (start - scenario.start).days,
        until=throttled.at + timedelta(hours=throttled.value["hours"] + 6),
    )
    # Read while ServiceTitan is still down, two hours in: one cause for the whole tenant.
    during = outage.at + timedelta(hours=2)
    result = replay(db, tmp_path, scenario, notify_every=OUTAGE_NOTIFY_EVERY, observe_at=[during])
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

    # One cause, ServiceTitan not answering: it fires once it has held for `for`, and its
    # resolved notice follows once ServiceTitan is back; nothing else. (Three hours never
    # take the tables four times their limit behind, so it does not escalate to critical;
    # tests/notify/test_notifier.py shows a cause that does.)
    titles = result.told.hook.titles
    assert result.told.inbox.subjects == titles
    with db.connect() as conn:
        log = [s for s in reversed(send_log(conn, 1001)) if s.channel == "hook"]
    assert [(s.cause_key, s.kind, s.severity) for s in log] == [
        ("st_unreachable:*", "firing", "warning"),
        ("st_unreachable:*", "resolved", "warning"),
    ], titles
    fired, resolved = log
    assert outage.at + timedelta(minutes=15) <= fired.at <= outage.at + timedelta(hours=3)
    assert outage.at + timedelta(hours=3) <= resolved.at
    headline = titles[0].removeprefix("[WARNING] tenant 1001: ")
    assert headline.endswith(": ServiceTitan does not answer"), titles
    assert titles[1] == f"[RESOLVED] tenant 1001: {headline}", titles
    assert "$ nexus sync" in result.told.hook.posts[0]["message"]
    assert "This has cleared" in result.told.hook.posts[1]["message"]


def test_checkpoint_times_are_datetimes() -> None:
    assert isinstance(load_scenario(ROOT / "scenarios" / "healthy.yaml").until, datetime)
