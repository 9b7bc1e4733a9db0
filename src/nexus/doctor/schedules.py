"""The `schedules` check: no producer's slots pass without a run, and no schedule is dead.

A producer with `every = 15m` owns a slot every quarter hour (`nexus.scheduling`).
Its schedule is dead when two whole slots after the one of its last run have
passed without a run: no worker runs it (none is running, or all are stuck), or,
for an external producer, its cron line or unit no longer calls it. A producer
that never ran is measured from the tenant's first run of any producer; before
any run at all nothing has been started yet, which is a note.

Given a crontab or a directory of systemd units, the schedules in them are
checked too (`nexus.registry.hygiene`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nexus import times
from nexus.doctor.report import CheckReport, Installation
from nexus.duration import format_duration
from nexus.registry.config import Config, ProducerConfig
from nexus.registry.hygiene import check_schedules
from nexus.scheduling import slot_start
from nexus.store.clock import DatabaseClock
from nexus.store.connection import Connection

#: Whole slots that may pass after a run's own before the schedule counts as dead.
DEAD_AFTER_SLOTS = 2

_RUNS = """
SELECT producer, max(started_at), min(min(started_at)) OVER ()
FROM nexus.runs WHERE tenant_id = %s GROUP BY producer
"""


def check(installation: Installation, report: CheckReport) -> None:
    """Check that every producer ran within its last slots, and that no schedule is dead."""
    config = installation.config()
    tenants = installation.tenants()
    db = installation.migrated()
    now = DatabaseClock(db).now()
    with db.connect(autocommit=True) as conn:
        retired = {r[0] for r in conn.execute("SELECT producer FROM nexus.retired_producers")}
        unwatched = set(retired)
        urls = installation.settings().notify_urls
        if urls is None or not urls.get_secret_value().strip():
            # With no channel the notifier has nowhere to send and records no runs.
            unwatched |= {n for n, p in config.producers.items() if p.kind == "notifier"}
        for tenant in tenants:
            _ledger(conn, config, tenant, unwatched, now, report)
    findings = check_schedules(config, installation.crontab, installation.systemd, retired)
    for finding in findings:
        report.problem(finding.kind, finding.message, source=finding.source)
    for given in (installation.crontab, installation.systemd):
        if given is not None and not findings:
            report.passed.append(f"{given}: every schedule runs a live, executable producer")


def _ledger(
    conn: Connection,
    config: Config,
    tenant: int,
    retired: set[str],
    now: datetime,
    report: CheckReport,
) -> None:
    rows = conn.execute(_RUNS, (tenant,)).fetchall()
    last = {str(r[0]): r[1] for r in rows}
    if not rows:
        report.notes.append(
            f"tenant {tenant}: no producer has run yet — run `nexus sync` once, then keep "
            "`nexus worker` running (`nexus deploy systemd` writes a service for it)"
        )
        return
    first: datetime = rows[0][2]
    zone = config.zone(tenant)
    watched = 0
    for name, producer in config.producers.items():
        if not producer.enabled or name in retired:
            continue
        if name not in last and not producer.run_by_nexus:
            continue  # an outside producer that never sent a heartbeat: hygiene speaks for it
        watched += 1
        since = last.get(name, first)
        missed = _whole_slots_between(since, now, producer.every)
        if missed >= DEAD_AFTER_SLOTS:
            report.problem(
                "dead_schedule",
                _dead(tenant, name, producer, missed, name in last, times.local(since, zone)),
                source=config.location("producers", name) if config.source_path else None,
            )
    if watched and not any(p.kind == "dead_schedule" for p in report.problems):
        report.passed.append(
            f"tenant {tenant}: each of {watched} producers ran within its last "
            f"{DEAD_AFTER_SLOTS} slots"
        )


def _whole_slots_between(since: datetime, now: datetime, every: timedelta) -> int:
    """Slots that began and ended after the slot holding `since`, up to `now`."""
    return max(0, (slot_start(now, every) - slot_start(since, every)) // every - 1)


def _dead(
    tenant: int, name: str, producer: ProducerConfig, missed: int, ran: bool, when: str
) -> str:
    history = f"its last run started {when}" if ran else f"it never ran; the first run was {when}"
    fix = (
        "start `nexus worker` (`nexus deploy systemd` writes a service for it), or see the "
        "worker's log for why it stopped"
        if producer.run_by_nexus
        else f"its cron line or unit no longer calls `nexus heartbeat {name}`: check them with "
        "`nexus doctor schedules --crontab FILE` or `--systemd DIR`"
    )
    return (
        f"tenant {tenant}: producers.{name} runs every {format_duration(producer.every)}, but "
        f"{missed} whole slots passed without a run ({history}) — {fix}"
    )
