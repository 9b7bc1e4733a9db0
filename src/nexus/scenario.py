"""Scenario files for `nexus replay`: parsed strictly, with file, line and reason on errors.

The format is the contract in DESIGN.md::

    name: orphaned-invoice-sync
    seed: 7
    start: 2026-03-01T00:00:00Z
    until: 2026-04-18T02:42:00Z
    timezone: America/Chicago
    config: nexus.toml            # optional, relative to the scenario file
    business: {completed_jobs_per_day: 9, canceled_share: 0.05, no_charge_share: 0.08,
               ticket: {median: 380, p90: 1800}, invoice_lag_hours: {median: 18, p90: 120},
               invoice_edit_share: 0.25}
    events:
      - {at: 2026-04-03T04:07:00Z, bulk_insert: {rows: 10461, same_created_at: true}}
      - {at: 2026-04-12T00:00:00Z, retire: invoice_sync}
      - {at: 2026-04-14T09:00:00Z, st_outage: {hours: 6, status: 503}}
      - {at: 2026-04-15T00:00:00Z, rate_limit: {hours: 2, per_second: 5}}
      - {at: 2026-04-16T00:00:00Z, webhooks: off}
      - {at: 2026-04-16T12:00:00Z, restore: invoice_sync}

Besides the contract's keys, a scenario accepts `history_days: N` (the business
has already run N days before `start`; Nexus's first runs at `start` backfill
them) and `step: DURATION` (how far the virtual clock moves per tick, 15m by
default; a producer due more often runs once per tick), `business` accepts
`uninvoiced_share` (chargeable work never invoiced) and `technicians` (the crew,
12 sharing the work evenly by default: a count, or a list with one relative
workload per technician — `[1, 1, 1, 1, 1, 0.5, 0.2]` is five full-timers, a
part-timer doing half as much and an apprentice doing a fifth; each job's
technicians, and each sold estimate's, are drawn in those proportions) and
events accept
`phantom_jobs: {rows: N, same_created_at: true}` (a bad bulk write inside
ServiceTitan that reaches Nexus through the jobs and invoices feeds, unlike
`bulk_insert`, which writes into the mirror itself), `stop: NAME` (a producer
silently stops running), `drop_export_share: {FEED: SHARE, …, hours: H}` (that share of
each feed's changes never reaches its export; with `hours`, for that long —
the changes it hid stay lost to the feed's cursor, as in life, until a
reconcile finds them) and `credentials_rotated: {hours: H}` (the client secret
is rotated in ServiceTitan, which refuses Nexus's credentials and every token
issued so far until the new secret is set H hours later). A quarter of invoice
changes lost for three weeks::

      - {at: 2026-03-02T00:00:00Z, drop_export_share: {invoices: 0.25, hours: 504}}
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from nexus import times
from nexus.catalog import FEEDS
from nexus.duration import parse_duration
from nexus.errors import ConfigError

TOP_KEYS = {
    "name",
    "seed",
    "start",
    "until",
    "timezone",
    "business",
    "events",
    "config",
    "tenant",
    "history_days",
    "step",
}
REQUIRED = ("name", "seed", "start", "until")
BUSINESS_KEYS = {
    "completed_jobs_per_day",
    "canceled_share",
    "no_charge_share",
    "ticket",
    "invoice_lag_hours",
    "invoice_edit_share",
    "uninvoiced_share",
    "technicians",
}
#: The largest crew a scenario may have.
MAX_TECHNICIANS = 1_000
#: How far the virtual clock moves per tick unless the scenario says otherwise.
DEFAULT_STEP = timedelta(minutes=15)
#: The key of `drop_export_share` that says how long the drop lasts (it is no feed's name).
DROP_HOURS = "hours"
EVENT_KINDS = {
    "bulk_insert",
    "phantom_jobs",
    "retire",
    "restore",
    "stop",
    "st_outage",
    "credentials_rotated",
    "rate_limit",
    "webhooks",
    "drop_export_share",
}


@dataclass(frozen=True)
class Business:
    completed_jobs_per_day: float = 9.0
    canceled_share: float = 0.05
    no_charge_share: float = 0.08
    ticket_median: float = 380.0
    ticket_p90: float = 1800.0
    invoice_lag_median_hours: float = 18.0
    invoice_lag_p90_hours: float = 120.0
    invoice_edit_share: float = 0.25
    uninvoiced_share: float = 0.0
    #: how many technicians share the work evenly, or each one's relative workload
    technicians: int | tuple[float, ...] = 12


@dataclass(frozen=True)
class ScenarioEvent:
    at: datetime
    kind: str
    value: Any
    line: int


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    start: datetime
    until: datetime
    timezone: str
    business: Business
    events: list[ScenarioEvent] = field(default_factory=list)
    config: Path | None = None
    tenant: int = 1001
    path: Path | None = None
    history_days: int = 0
    step: timedelta = DEFAULT_STEP

    def span(self) -> str:
        """From `start` to `until` on the wall clock of the scenario's zone."""
        zone = ZoneInfo(self.timezone)
        return f"{times.local(self.start, zone)} → {times.local(self.until, zone)}"


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, node: yaml.Node | None, key: str, reason: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.items.append(f"{self.path}:{line}: {key}: {reason}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(
                f"{self.path}: {len(self.items)} problem(s) in the scenario:\n"
                + "\n".join(self.items)
            )


def _mapping(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    assert isinstance(node, yaml.MappingNode)
    return {str(k.value): (k, v) for k, v in node.value}


def _unknown(
    problems: _Problems, where: str, key_node: yaml.Node, key: str, known: set[str]
) -> None:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = (
        f" — did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(known))}"
    )
    problems.add(key_node, f"{where}{key}", f"unknown key{hint}")


def _value(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _time(problems: _Problems, node: yaml.Node, key: str) -> datetime | None:
    raw = _value(node)
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(str(raw))
        except ValueError:
            problems.add(node, key, f"'{raw}' is not a date-time like 2026-04-12T00:00:00Z")
            return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _number(
    problems: _Problems, node: yaml.Node, key: str, lo: float, hi: float | None = None
) -> float | None:
    raw = _value(node)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.add(node, key, f"expected a number, got {raw!r}")
        return None
    if raw < lo or (hi is not None and raw > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        problems.add(node, key, f"{raw!r} must be {bound}")
        return None
    return float(raw)


def load_scenario(path: Path) -> Scenario:
    """Parse and validate a scenario file; every problem is reported with its line."""
    problems = _Problems(path)
    try:
        root = yaml.compose(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(
            f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:1: a scenario is a mapping of keys (name, seed, start, …)")
    top = _mapping(root)
    for key, (knode, _) in top.items():
        if key not in TOP_KEYS:
            _unknown(problems, "", knode, key, TOP_KEYS)
    for key in REQUIRED:
        if key not in top:
            problems.add(root, key, "is required")
    name = str(_value(top["name"][1])) if "name" in top else ""
    seed = 0
    if "seed" in top:
        raw = _value(top["seed"][1])
        if isinstance(raw, bool) or not isinstance(raw, int):
            problems.add(top["seed"][1], "seed", f"expected an integer, got {raw!r}")
        else:
            seed = raw
    start = _time(problems, top["start"][1], "start") if "start" in top else None
    until = _time(problems, top["until"][1], "until") if "until" in top else None
    if start and until and until <= start:
        problems.add(top["until"][1], "until", f"must be after start ({start.isoformat()})")
    if start and until and until - start > timedelta(days=400):
        problems.add(top["until"][1], "until", "a replay may span at most 400 days")
    timezone = "America/Chicago"
    if "timezone" in top:
        timezone = str(_value(top["timezone"][1]))
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(top["timezone"][1], "timezone", f"unknown time zone '{timezone}'")
    tenant = 1001
    if "tenant" in top:
        raw = _value(top["tenant"][1])
        if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
            problems.add(top["tenant"][1], "tenant", f"expected a positive integer, got {raw!r}")
        else:
            tenant = raw
    history_days = 0
    if "history_days" in top:
        raw = _value(top["history_days"][1])
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 400:
            problems.add(
                top["history_days"][1], "history_days", f"expected 0 to 400 days, got {raw!r}"
            )
        else:
            history_days = raw
    step = DEFAULT_STEP
    if "step" in top:
        raw = _value(top["step"][1])
        try:
            step = parse_duration(str(raw))
        except ValueError as exc:
            problems.add(top["step"][1], "step", str(exc))
        else:
            if not timedelta(minutes=1) <= step <= timedelta(days=1):
                problems.add(top["step"][1], "step", f"{raw!r} must be from 1m to 1d")
                step = DEFAULT_STEP
    config = None
    if "config" in top:
        config = (path.parent / str(_value(top["config"][1]))).resolve()
        if not config.exists():
            problems.add(top["config"][1], "config", f"{config} does not exist")
    business = _business(problems, top["business"][1]) if "business" in top else Business()
    events = _events(problems, top["events"][1], start, until) if "events" in top else []
    problems.raise_if_any()
    assert start is not None and until is not None
    return Scenario(
        name,
        seed,
        start,
        until,
        timezone,
        business,
        events,
        config,
        tenant,
        path,
        history_days,
        step,
    )


def _business(problems: _Problems, node: yaml.Node) -> Business:
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, "business", "expected a mapping of business parameters")
        return Business()
    values: dict[str, Any] = {}  # numbers; the crew a count or workloads
    for key, (knode, vnode) in _mapping(node).items():
        where = f"business.{key}"
        if key not in BUSINESS_KEYS:
            _unknown(problems, "business.", knode, key, BUSINESS_KEYS)
        elif key in ("ticket", "invoice_lag_hours"):
            if not isinstance(vnode, yaml.MappingNode):
                problems.add(vnode, where, "expected {median: …, p90: …}")
                continue
            parts = _mapping(vnode)
            for sub, (sk, sv) in parts.items():
                if sub not in ("median", "p90"):
                    _unknown(problems, f"{where}.", sk, sub, {"median", "p90"})
                    continue
                number = _number(problems, sv, f"{where}.{sub}", 0.01)
                if number is not None:
                    prefix = "ticket" if key == "ticket" else "invoice_lag"
                    suffix = "_hours" if key == "invoice_lag_hours" else ""
                    values[f"{prefix}_{sub}{suffix}"] = number
            med, p90 = parts.get("median"), parts.get("p90")
            if med and p90:
                m, p = _value(med[1]), _value(p90[1])
                if isinstance(m, int | float) and isinstance(p, int | float) and p < m:
                    problems.add(p90[1], f"{where}.p90", f"{p} must not be below the median {m}")
        elif key == "technicians":
            crew = _technicians(problems, vnode)
            if crew is not None:
                values[key] = crew
        elif key == "completed_jobs_per_day":
            number = _number(problems, vnode, where, 0, 10_000)
            if number is not None:
                values[key] = number
        else:
            number = _number(problems, vnode, where, 0, 1)
            if number is not None:
                values[key] = number
    return Business(**values)


def _technicians(problems: _Problems, node: yaml.Node) -> int | tuple[float, ...] | None:
    """`business.technicians`: a count sharing the work evenly, or one workload per technician."""
    where = "business.technicians"
    example = (
        "e.g. 7, or [1, 1, 1, 1, 1, 0.5, 0.2] for five full-timers, a part-timer and an apprentice"
    )
    if isinstance(node, yaml.SequenceNode):
        if not node.value:
            problems.add(
                node,
                where,
                f"an empty list has no technician — give a count or workloads, {example}",
            )
            return None
        if len(node.value) > MAX_TECHNICIANS:
            problems.add(node, where, f"{len(node.value)} technicians; at most {MAX_TECHNICIANS}")
            return None
        workloads = []
        for i, item in enumerate(node.value):
            raw = _value(item)
            if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
                problems.add(
                    item,
                    f"{where}[{i}]",
                    "expected a positive number, this technician's share of the work "
                    f"relative to the others' (e.g. 0.5 for half as much), got {raw!r}",
                )
                continue
            workloads.append(float(raw))
        return tuple(workloads) if len(workloads) == len(node.value) else None
    raw = _value(node)
    if isinstance(raw, bool) or not isinstance(raw, int):
        problems.add(
            node,
            where,
            f"expected a whole number of technicians or a list of workloads ({example}), "
            f"got {raw!r}",
        )
        return None
    if not 1 <= raw <= MAX_TECHNICIANS:
        problems.add(node, where, f"{raw!r} must be between 1 and {MAX_TECHNICIANS}")
        return None
    return raw


def _events(
    problems: _Problems, node: yaml.Node, start: datetime | None, until: datetime | None
) -> list[ScenarioEvent]:
    if not isinstance(node, yaml.SequenceNode):
        problems.add(node, "events", "expected a list of events")
        return []
    events = []
    previous: datetime | None = None
    for i, item in enumerate(node.value):
        where = f"events[{i}]"
        if not isinstance(item, yaml.MappingNode):
            problems.add(item, where, "expected {at: …, <event>: …}")
            continue
        parts = _mapping(item)
        at = _time(problems, parts["at"][1], f"{where}.at") if "at" in parts else None
        if "at" not in parts:
            problems.add(item, f"{where}.at", "is required")
        kinds = [k for k in parts if k != "at"]
        for key in kinds:
            if key not in EVENT_KINDS:
                _unknown(problems, f"{where}.", parts[key][0], key, EVENT_KINDS)
        known = [k for k in kinds if k in EVENT_KINDS]
        if len(known) != 1:
            if len(kinds) == len(known):
                problems.add(item, where, f"needs exactly one event kind, found {len(known)}")
            continue
        kind = known[0]
        value = _event_value(problems, kind, parts[kind][1], f"{where}.{kind}")
        if at is not None:
            if start and until and not start <= at <= until:
                problems.add(parts["at"][1], f"{where}.at", "must lie between start and until")
            if previous and at < previous:
                problems.add(parts["at"][1], f"{where}.at", "events must be in time order")
            previous = at
            events.append(ScenarioEvent(at, kind, value, item.start_mark.line + 1))
    return events


def _event_value(problems: _Problems, kind: str, node: yaml.Node, where: str) -> Any:
    raw = _value(node)
    if kind in ("retire", "restore", "stop"):
        if not isinstance(raw, str) or not raw:
            problems.add(node, where, "expected a producer name, e.g. invoice_sync")
        return raw
    if kind == "webhooks":
        # YAML 1.1 reads a bare on/off as a boolean.
        if isinstance(raw, bool):
            return raw
        if raw in ("on", "off"):
            return raw == "on"
        problems.add(node, where, f"expected on or off, got {raw!r}")
        return None
    specs: dict[str, dict[str, tuple[float, float | None, bool]]] = {
        "bulk_insert": {"rows": (1, 10_000_000, True), "same_created_at": (0, 1, False)},
        "phantom_jobs": {"rows": (1, 100_000, True), "same_created_at": (0, 1, False)},
        "st_outage": {"hours": (0.01, 24 * 60, True), "status": (400, 599, False)},
        "credentials_rotated": {"hours": (0.01, 24 * 400, True)},
        "rate_limit": {"hours": (0.01, 24 * 60, True), "per_second": (0.1, 1000, True)},
    }
    if kind == "drop_export_share":
        if not isinstance(node, yaml.MappingNode):
            problems.add(node, where, "expected {FEED: SHARE}, e.g. {invoices: 0.25, hours: 504}")
            return {}
        feeds = {name for name, feed in FEEDS.items() if not feed.reference}
        drop: dict[str, float] = {}
        for key, (knode, vnode) in _mapping(node).items():
            if key == DROP_HOURS:
                drop[key] = _number(problems, vnode, f"{where}.{key}", 0.01, 24 * 400) or 0.0
            elif key not in feeds:
                _unknown(problems, f"{where}.", knode, key, feeds | {DROP_HOURS})
            else:
                drop[key] = _number(problems, vnode, f"{where}.{key}", 0, 1) or 0.0
        if not set(_mapping(node)) - {DROP_HOURS}:
            problems.add(node, where, "names no feed — write e.g. {invoices: 0.25, hours: 504}")
        return drop
    spec = specs[kind]
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, where, f"expected a mapping with {', '.join(spec)}")
        return {}
    out: dict[str, Any] = {}
    for key, (knode, vnode) in _mapping(node).items():
        if key not in spec:
            _unknown(problems, f"{where}.", knode, key, set(spec))
            continue
        if key == "same_created_at":
            value = _value(vnode)
            if not isinstance(value, bool):
                problems.add(vnode, f"{where}.{key}", f"expected true or false, got {value!r}")
            out[key] = value
            continue
        lo, hi, _ = spec[key]
        number = _number(problems, vnode, f"{where}.{key}", lo, hi)
        if number is not None:
            out[key] = int(number) if key in ("rows", "status") else number
    for key, (_, _, required) in spec.items():
        if required and key not in out and key not in _mapping(node):
            problems.add(node, f"{where}.{key}", "is required")
    return out
