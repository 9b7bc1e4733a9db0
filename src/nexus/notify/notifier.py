"""Evaluate a proof and send what is due: the core of `nexus notify` and of the `notifier` producer.

One evaluation, for one tenant at the proof's `as_of`:

1. the proof's causes worth telling (`policy.notices`) meet the open episodes,
   the active silences and the `[notify]` rules (`policy.due`);
2. episodes are opened, kept and closed; each due message is rendered
   (`message`) and sent to the channels its severity is routed to, each send
   claimed first in the send log so no two notifiers send it twice;
3. at the morning hour, the morning report goes to the channels that ask for it.

A message is done when every channel it is routed to took it; until then it is
due again on the next evaluation, and the channels that already have it are
skipped. A channel that keeps failing is reported (`NotifyReport.failed`),
never raised: the caller decides (the producer fails its run, so the vitals
show it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from nexus.notify import state
from nexus.notify.channels import Channel, Sleep, routed, send
from nexus.notify.message import (
    Message,
    cause_message,
    headline,
    morning_message,
    resolved_message,
)
from nexus.notify.policy import Due, Plan, due, notices
from nexus.notify.silences import record_ended, silences
from nexus.proof.model import Proof
from nexus.registry.config import Config
from nexus.store.connection import Connection

MORNING_KEY = "morning-report"
#: Who the timeline names for what the notifier records on its own (a silence that ran out).
ACTOR = "nexus"
#: Where links point when `[web] public_url` is not set: `nexus serve`'s own address.
LOCAL_DASHBOARD = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Outcome:
    """One message to one channel, as it went (or would go, in a dry run)."""

    kind: str
    cause: str
    severity: str | None
    channel: str
    service: str
    title: str
    sent: bool
    error: str | None = None


@dataclass
class NotifyReport:
    tenant: int
    as_of: datetime
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    silenced: list[str] = field(default_factory=list)
    #: the title of every message due, whichever channels it goes to
    due: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.sent and not self.dry_run]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "due": self.due,
            "messages": [o.__dict__ for o in self.outcomes],
            "pending": self.pending,
            "silenced": self.silenced,
        }


def evaluate(
    conn: Connection,
    config: Config,
    proof: Proof,
    channels: Sequence[Channel],
    *,
    dry_run: bool = False,
    sleep: Sleep | None = None,
) -> NotifyReport:
    """Evaluate `proof` against what was sent before; send what is due (`conn` in autocommit)."""
    tenant, now, rules = proof.tenant, proof.as_of, config.notify
    zone = config.tenant(tenant).timezone
    if not dry_run:
        record_ended(conn, tenant, now, actor=ACTOR)
    plan = due(
        notices(proof),
        state.open_episodes(conn, tenant),
        silences(conn, tenant, now),
        rules,
        now,
        zone,
    )
    report = NotifyReport(tenant, now, dry_run, silenced=list(plan.silenced))
    firing = {d.key for d in plan.send if d.kind == "firing"}
    report.pending = [n.key for n in plan.opened] + [
        n.key for n, e in plan.held if e.fired_at is None and n.key not in firing
    ]
    public_url = config.web.public_url or LOCAL_DASHBOARD
    deliver = _Deliverer(conn, tenant, now, report, dry_run, sleep)
    if not dry_run:
        _track(conn, tenant, plan, now, close_fired=not rules.send_resolved)
    for item in plan.send:
        message = (
            resolved_message(proof, item, public_url)
            if item.kind == "resolved"
            else cause_message(proof, item, public_url)
        )
        report.due.append(message.title)
        wanted = rules.critical if item.severity == "critical" else rules.warning
        done = deliver(routed(channels, wanted), item.key, _fingerprint(item), item, message)
        if done and not dry_run and item.episode is not None:
            if item.kind == "resolved":
                state.resolve(conn, item.episode, now)
            else:
                assert item.notice is not None
                state.mark_sent(conn, item.episode, item.severity, headline(item.notice), now)
    if rules.morning_report and _morning_due(now, zone, rules.morning_hour):
        day = now.astimezone(ZoneInfo(zone)).date().isoformat()
        morning = morning_message(proof, public_url)
        channels_asking = routed(channels, rules.morning_report)
        if channels_asking:
            deliver(channels_asking, MORNING_KEY, f"morning:{day}", None, morning)
    return report


def _track(conn: Connection, tenant: int, plan: Plan, now: datetime, *, close_fired: bool) -> None:
    """Open episodes for new causes, note the ones still holding, close the cleared ones.

    A cleared episode that fired stays open until its resolved notice is delivered,
    unless no notice is sent (`close_fired`).
    """
    for notice in plan.opened:
        state.begin_episode(conn, tenant, notice.key, notice.severity, now)
    for notice, episode in plan.held:
        state.seen(conn, episode, notice.severity, now)
    for episode in plan.resolved:
        if episode.fired_at is None or close_fired:
            state.resolve(conn, episode, now)  # nothing to tell


def _fingerprint(item: Due) -> str:
    assert item.episode is not None
    if item.kind == "repeat":
        return f"{item.episode.id}:repeat:{item.episode.sends}"
    return f"{item.episode.id}:{item.kind}"


def _morning_due(now: datetime, zone: str, hour: int) -> bool:
    return now.astimezone(ZoneInfo(zone)).hour >= hour


@dataclass
class _Deliverer:
    conn: Connection
    tenant: int
    now: datetime
    report: NotifyReport
    dry_run: bool
    sleep: Sleep | None

    def __call__(
        self,
        channels: Sequence[Channel],
        key: str,
        fingerprint: str,
        item: Due | None,
        message: Message,
    ) -> bool:
        """Send `message` to each channel that does not have it yet; whether all now have it."""
        kind = item.kind if item is not None else "morning"
        severity = item.severity if item is not None else None
        done = True
        for channel in channels:
            outcome = Outcome(
                kind, key, severity, channel.name, channel.service, message.title, True
            )
            if self.dry_run:
                self.report.outcomes.append(outcome)
                continue
            row = state.claim(
                self.conn,
                self.tenant,
                cause_key=key,
                fingerprint=fingerprint,
                kind=kind,
                severity=severity,
                channel=channel.name,
                service=channel.service,
                title=message.title,
                now=self.now,
            )
            if row is None:
                continue  # sent already, by this notifier or another
            delivery = send(channel, message.title, message.text, message.html, sleep=self.sleep)
            state.record_outcome(
                self.conn, row, ok=delivery.ok, attempts=delivery.attempts, error=delivery.error
            )
            done = done and delivery.ok
            self.report.outcomes.append(
                Outcome(
                    kind,
                    key,
                    severity,
                    channel.name,
                    channel.service,
                    message.title,
                    delivery.ok,
                    delivery.error,
                )
            )
        return done
