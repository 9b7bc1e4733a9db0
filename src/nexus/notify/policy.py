"""Which causes of a proof are worth telling, and which messages are due: Alertmanager's rules.

- One notice per root cause: a cause group of the proof, its symptoms inside.
  Only root causes notify: an alert lineage explains by none stays on the
  dashboard (it is a measurement, not yet a cause), and `insufficient_data`
  and `info` never notify.
- A cause fires once it has held for `for` (seen by the notifier that long),
  so one failed run pages nobody.
- It is sent again after `repeat_interval`, or as soon as its severity rises.
- When it clears, a resolved notice goes out (if it had fired and
  `send_resolved` is on).
- A silenced cause is held back; so is a warning in quiet hours (criticals
  always go). Held-back messages go once the silence or the quiet ends, if the
  cause still holds.

Nothing here touches the database: `due` gets the open episodes and returns
what to send and how each episode moves on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from nexus.checks.alert import SEVERITY_RANK, Alert
from nexus.notify.silences import Silence
from nexus.notify.state import Episode
from nexus.proof.model import CauseGroup, Proof
from nexus.registry.config import NotifyConfig, clock_range

REAL = ("critical", "warning")
MessageKind = Literal["firing", "repeat", "resolved"]


@dataclass(frozen=True)
class Notice:
    """One root cause as the notifier tells it: its group and its alerts, primary first."""

    key: str
    kind: str
    producer: str | None
    severity: str
    group: CauseGroup
    alerts: tuple[Alert, ...]

    @property
    def primary(self) -> Alert:
        return self.alerts[0]

    @property
    def symptoms(self) -> tuple[Alert, ...]:
        return self.alerts[1:]


def notices(proof: Proof) -> list[Notice]:
    """The proof's causes worth telling, most severe first."""
    found = []
    for index, group in enumerate(proof.causes):
        members = tuple(
            a
            for a in proof.alerts
            if a.grouped_under == index and a.severity in REAL and a.status != "insufficient_data"
        )
        if group.severity in REAL and members:
            kind, producer = group.key
            found.append(
                Notice(
                    f"{kind}:{producer or '*'}",
                    group.kind,
                    producer,
                    group.severity,
                    group,
                    members,
                )
            )
    return sorted(found, key=lambda n: -SEVERITY_RANK[n.severity])


@dataclass(frozen=True)
class Due:
    """A message to send now."""

    kind: MessageKind
    notice: Notice | None  # None for a resolved cause no longer in the proof
    episode: Episode | None  # None for a cause seen for the first time
    severity: str
    key: str


@dataclass(frozen=True)
class Plan:
    """What one evaluation does: episodes to open, messages to send, episodes to close."""

    opened: tuple[Notice, ...]
    held: tuple[tuple[Notice, Episode], ...]
    send: tuple[Due, ...]
    resolved: tuple[Episode, ...]
    silenced: tuple[str, ...]


def due(
    found: Sequence[Notice],
    episodes: Mapping[str, Episode],
    silences: Sequence[Silence],
    rules: NotifyConfig,
    now: datetime,
    zone: str,
) -> Plan:
    """What is due at `now`, given what the proof found and what the notifier remembers."""
    opened, held, send, silenced = [], [], [], []
    quiet = in_quiet_hours(clock_range(rules.quiet_hours), now, zone)
    for notice in found:
        episode = episodes.get(notice.key)
        if episode is None:
            opened.append(notice)
            continue
        held.append((notice, episode))
        if any(s.mutes(notice.kind, notice.producer, now) for s in silences):
            silenced.append(notice.key)
            continue
        if quiet and notice.severity != "critical":
            continue
        if episode.fired_at is None:
            if now - episode.first_seen >= rules.hold:
                send.append(Due("firing", notice, episode, notice.severity, notice.key))
            continue
        rose = SEVERITY_RANK[notice.severity] > SEVERITY_RANK[episode.fired_severity or "warning"]
        last = episode.last_sent_at or episode.fired_at
        if rose or now - last >= rules.repeat_interval:
            send.append(Due("repeat", notice, episode, notice.severity, notice.key))
    keys = {n.key for n in found}
    resolved = tuple(e for key, e in episodes.items() if key not in keys)
    if rules.send_resolved:
        send += [
            Due("resolved", None, e, e.fired_severity or e.severity, e.cause_key)
            for e in resolved
            if e.fired_at is not None
        ]
    return Plan(tuple(opened), tuple(held), tuple(send), resolved, tuple(silenced))


def in_quiet_hours(quiet: tuple[time, time] | None, now: datetime, zone: str) -> bool:
    """Whether `now`, read in `zone`, falls in the quiet hours (which may span midnight)."""
    if quiet is None:
        return False
    start, end = quiet
    local = now.astimezone(ZoneInfo(zone)).time()
    return start <= local < end if start <= end else local >= start or local < end
