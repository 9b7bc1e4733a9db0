"""Scenario files are parsed strictly: every key works, mistakes name file, line and reason."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus.clock import VirtualClock
from nexus.errors import ConfigError
from nexus.replay import business_config, replay_config
from nexus.scenario import load_scenario
from nexus.simulator import Simulator
from wallclock import wall

GOOD = """\
name: full
seed: 7
start: 2026-03-01T00:00:00Z
until: 2026-04-18T02:42:00Z
timezone: America/Chicago
tenant: 2002
business:
  completed_jobs_per_day: 9
  canceled_share: 0.05
  no_charge_share: 0.08
  ticket: {median: 380, p90: 1800}
  invoice_lag_hours: {median: 18, p90: 120}
  invoice_edit_share: 0.25
  uninvoiced_share: 0.1
events:
  - {at: 2026-04-03T04:07:00Z, bulk_insert: {rows: 10461, same_created_at: true}}
  - {at: 2026-04-12T00:00:00Z, retire: invoice_sync}
  - {at: 2026-04-13T00:00:00Z, stop: customer_sync}
  - {at: 2026-04-14T09:00:00Z, st_outage: {hours: 6, status: 503}}
  - {at: 2026-04-15T00:00:00Z, rate_limit: {hours: 2, per_second: 5}}
  - {at: 2026-04-15T06:00:00Z, drop_export_share: {invoices: 0.2, hours: 12}}
  - {at: 2026-04-16T00:00:00Z, webhooks: off}
  - {at: 2026-04-16T12:00:00Z, restore: invoice_sync}
  - {at: 2026-04-17T00:00:00Z, phantom_jobs: {rows: 3000, same_created_at: true}}
history_days: 14
step: 30m
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_every_key_of_the_format_is_read(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert (scenario.name, scenario.seed, scenario.tenant) == ("full", 7, 2002)
    b = scenario.business
    assert (b.ticket_median, b.ticket_p90) == (380, 1800)
    assert (b.invoice_lag_median_hours, b.invoice_lag_p90_hours) == (18, 120)
    assert b.uninvoiced_share == 0.1
    assert (scenario.history_days, scenario.step) == (14, timedelta(minutes=30))
    # A replay announces its span on the wall clock of the scenario's zone.
    assert scenario.span() == (
        f"{wall(scenario.start, 'America/Chicago')} → {wall(scenario.until, 'America/Chicago')}"
    )
    kinds = [(e.kind, e.value) for e in scenario.events]
    assert kinds == [
        ("bulk_insert", {"rows": 10461, "same_created_at": True}),
        ("retire", "invoice_sync"),
        ("stop", "customer_sync"),
        ("st_outage", {"hours": 6, "status": 503}),
        ("rate_limit", {"hours": 2, "per_second": 5}),
        ("drop_export_share", {"invoices": 0.2, "hours": 12}),
        ("webhooks", False),
        ("restore", "invoice_sync"),
        ("phantom_jobs", {"rows": 3000, "same_created_at": True}),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("seed: 7", "sead: 7"), ":2: sead: unknown key — did you mean 'seed'?"),
        (("seed: 7", "seed: seven"), ":2: seed: expected an integer, got 'seven'"),
        (
            ("until: 2026-04-18T02:42:00Z", "until: 2026-02-01T00:00:00Z"),
            ":4: until: must be after start",
        ),
        (
            ("timezone: America/Chicago", "timezone: Mars/Olympus"),
            ":5: timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            ("canceled_share: 0.05", "canceled_share: 5"),
            ":9: business.canceled_share: 5 must be between 0 and 1",
        ),
        (
            ("ticket: {median: 380, p90: 1800}", "ticket: {median: 380, p90: 100}"),
            ":11: business.ticket.p90: 100 must not be below the median 380",
        ),
        (
            ("invoice_edit_share", "invoice_edits"),
            ":13: business.invoice_edits: unknown key — did you mean 'invoice_edit_share'?",
        ),
        (
            ("rows: 10461", "rowz: 10461"),
            ":16: events[0].bulk_insert.rowz: unknown key — did you mean 'rows'?",
        ),
        (("retire: invoice_sync", "retire: 12"), ":17: events[1].retire: expected a producer name"),
        (
            ("status: 503", "status: 200"),
            ":19: events[3].st_outage.status: 200 must be between 400 and 599",
        ),
        (
            ("webhooks: off", "webhooks: maybe"),
            ":22: events[6].webhooks: expected on or off, got 'maybe'",
        ),
        (
            ("2026-04-16T12:00:00Z, restore", "2026-04-01T12:00:00Z, restore"),
            ":23: events[7].at: events must be in time order",
        ),
        (
            ("- {at: 2026-04-13T00:00:00Z, stop", "- {at: 2026-04-13T00:00:00Z, halt"),
            ":18: events[2].halt: unknown key",
        ),
        (
            ("invoices: 0.2, hours: 12", "invoices: 0.2, hour: 12"),
            ":21: events[5].drop_export_share.hour: unknown key — did you mean 'hours'?",
        ),
        (
            ("invoices: 0.2, hours: 12", "invoices: 0.2, hours: 0"),
            ":21: events[5].drop_export_share.hours: 0 must be between 0.01 and 9600",
        ),
        (
            ("invoices: 0.2, hours: 12", "hours: 12"),
            ":21: events[5].drop_export_share: names no feed — write e.g. {invoices: 0.25, "
            "hours: 504}",
        ),
        (
            ("rows: 3000", "rows: 0"),
            ":24: events[8].phantom_jobs.rows: 0 must be between 1 and 100000",
        ),
        (
            ("history_days: 14", "history_days: two weeks"),
            ":25: history_days: expected 0 to 400 days, got 'two weeks'",
        ),
        (("step: 30m", "step: 30 parsecs"), ":26: step: '30 parsecs' is not a duration"),
        (("step: 30m", "step: 2d"), ":26: step: '2d' must be from 1m to 1d"),
    ],
)
def test_each_mistake_names_file_line_key_and_reason(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert f"{path}{message}" in str(info.value)


def test_missing_required_keys_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="start: is required"):
        load_scenario(write(tmp_path, "name: x\nseed: 1\nuntil: 2026-01-01T00:00:00Z\n"))
    with pytest.raises(ConfigError, match=r"scenario.yaml:2: not valid YAML"):
        load_scenario(write(tmp_path, "name: x\n  seed: [1\n"))


CREW = """\
name: crew
seed: 3
start: 2026-03-01T00:00:00Z
until: 2026-03-02T00:00:00Z
business:
  completed_jobs_per_day: 12
  technicians: {crew}
"""
#: What every mistake in `business.technicians` shows as the way to write it.
CREW_EXAMPLE = (
    "e.g. 7, or [1, 1, 1, 1, 1, 0.5, 0.2] for five full-timers, a part-timer and an apprentice"
)


@pytest.mark.parametrize(
    ("crew", "technicians"),
    [
        ("7", 7),
        ("[1, 1, 0.25]", (1.0, 1.0, 0.25)),
        ("\n    - 2\n    - 1", (2.0, 1.0)),
    ],
)
def test_technicians_are_a_count_or_one_workload_per_technician(
    tmp_path: Path, crew: str, technicians: int | tuple[float, ...]
) -> None:
    scenario = load_scenario(write(tmp_path, CREW.format(crew=crew)))
    assert scenario.business.technicians == technicians
    assert load_scenario(write(tmp_path, GOOD)).business.technicians == 12  # the default crew


@pytest.mark.parametrize(
    ("crew", "message"),
    [
        (
            "[]",
            f":7: business.technicians: an empty list has no technician — give a count or "
            f"workloads, {CREW_EXAMPLE}",
        ),
        (
            "[1, 0, 0.5]",
            ":7: business.technicians[1]: expected a positive number, this technician's share "
            "of the work relative to the others' (e.g. 0.5 for half as much), got 0",
        ),
        (
            "\n    - 1\n    - apprentice",
            ":9: business.technicians[1]: expected a positive number, this technician's share "
            "of the work relative to the others' (e.g. 0.5 for half as much), got 'apprentice'",
        ),
        (
            "7.5",
            ":7: business.technicians: expected a whole number of technicians or a list of "
            f"workloads ({CREW_EXAMPLE}), got 7.5",
        ),
        (
            "{lead: 1}",
            ":7: business.technicians: expected a whole number of technicians or a list of "
            f"workloads ({CREW_EXAMPLE}), got {{'lead': 1}}",
        ),
        ("0", ":7: business.technicians: 0 must be between 1 and 1000"),
    ],
)
def test_a_wrong_crew_names_the_line_the_technician_and_how_to_write_it(
    tmp_path: Path, crew: str, message: str
) -> None:
    path = write(tmp_path, CREW.format(crew=crew))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: 1 problem(s) in the scenario:\n{path}{message}"


@pytest.mark.parametrize(
    ("crew", "shares"),
    [
        # Three technicians sharing evenly.
        ("3", (1 / 3, 1 / 3, 1 / 3)),
        # Three full-timers and an apprentice given a tenth of what each of them gets.
        ("[1, 1, 1, 0.1]", (1 / 3.1, 1 / 3.1, 1 / 3.1, 0.1 / 3.1)),
    ],
)
def test_the_simulated_crew_shares_the_work_as_the_scenario_says(
    tmp_path: Path, crew: str, shares: tuple[float, ...]
) -> None:
    scenario = load_scenario(write(tmp_path, CREW.format(crew=crew)))
    sim = Simulator(clock=VirtualClock(scenario.start))
    sim.add_tenant(scenario.tenant, business_config(scenario), history_days=60)
    tenant = sim.tenant(scenario.tenant)
    working = sorted(t for t, r in tenant.truth("technicians").items() if r["active"])
    assert len(working) == len(shares)
    assigned = Counter(a["technicianId"] for a in tenant.truth("appointment_assignments").values())
    assert set(assigned) == set(working)
    total = sum(assigned.values())
    assert total > 600
    for technician, share in zip(working, shares, strict=True):
        # Each technician's share of the assignments, within four standard errors of the draw.
        error = 4 * math.sqrt(share * (1 - share) / total)
        assert abs(assigned[technician] / total - share) < error, (technician, assigned)


def test_a_replay_declares_its_tenant_in_the_scenarios_zone_unless_its_config_does(
    tmp_path: Path,
) -> None:
    text = CREW.format(crew="7").replace("seed: 3\n", "seed: 3\ntimezone: Asia/Kolkata\n")
    scenario = load_scenario(write(tmp_path, text))
    # The dashboard served on it, the notifier and every message read the scenario's clock.
    assert replay_config(scenario).zone(scenario.tenant) == ZoneInfo("Asia/Kolkata")
    config = tmp_path / "nexus.toml"
    config.write_text('[[tenants]]\nid = 1001\ntimezone = "Europe/Lisbon"\n')
    declared = load_scenario(write(tmp_path, f"config: {config}\n{text}"))
    assert replay_config(declared).zone(declared.tenant) == ZoneInfo("Europe/Lisbon")
