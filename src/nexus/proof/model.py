"""The Evolution Proof as a typed model: what `nexus proof --json`, /proof.json and replays print.

`proof.schema.json` is generated from `Proof` (`python -m nexus.proof.schema`);
the story, the terminal, the pages, /metrics and the notifications read its
attributes. The words every check shares (alerts, measurements, causes, the
three questions) are declared in `nexus.checks.alert`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from nexus.checks.alert import (
    Alert,
    AlertSeverity,
    Cause,
    CauseKind,
    CheckName,
    Measurement,
    Model,
    Questions,
)
from nexus.checks.by_technician import TechnicianCoverage
from nexus.checks.coverage import CoverageDay, CoverageSummary, ZeroInvoiceSplit
from nexus.checks.freshness import Freshness
from nexus.checks.losses import FeedLossReport
from nexus.checks.modules import ActionModules
from nexus.checks.revenue import RevenueReport
from nexus.checks.volume import VolumeReport
from nexus.registry.vitals import Orphan, Vital

Verdict = Literal["ok", "warning", "critical", "insufficient_data"]
Level = Literal["high", "medium", "low"]

__all__ = [
    "Action",
    "Alert",
    "Behind",
    "Cause",
    "CauseGroup",
    "Measurement",
    "Proof",
    "Questions",
    "TimelineEvent",
]


class CauseGroup(Cause):
    """One root cause with every alert it explains: one story item, one action."""

    severity: AlertSeverity
    primary: CheckName = Field(description="The check of the most severe alert it explains.")
    alerts: tuple[str, ...] = Field(description="Labels of the alerts it explains.")


class Behind(Model):
    """A product whose owner is alive but failing or late: behind, not orphaned."""

    product: str
    producer: str
    because: CauseKind
    since: datetime | None


class TimelineEvent(Model):
    id: int
    at: datetime
    kind: str
    actor: str
    tenant: int | None = None
    producer: str | None = None
    product: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Action(Model):
    do: str
    command: str = Field(description="The exact command to run.")
    why: str
    impact: Level
    effort: Level
    risk: Level


class Proof(Model):
    """Whether a tenant's ServiceTitan mirror can be trusted, why not, and what to do."""

    as_of: datetime = Field(description="The moment the proof describes (the injected clock).")
    tenant: int
    timezone: str = Field(
        description="The tenant's IANA zone: its days, and the wall clock people are shown."
    )
    verdict: Verdict
    alerts: tuple[Alert, ...]
    causes: tuple[CauseGroup, ...] = Field(
        description="Root causes, each with the alerts it explains."
    )
    vitals: tuple[Vital, ...]
    freshness: tuple[Freshness, ...]
    orphans: tuple[Orphan, ...]
    behind: tuple[Behind, ...]
    coverage: CoverageSummary
    coverage_by_day: tuple[CoverageDay, ...]
    coverage_by_technician: tuple[TechnicianCoverage, ...] = Field(
        description="Each assigned technician's coverage gap in the coverage window, worst first."
    )
    revenue: RevenueReport
    volume: VolumeReport
    zero_invoice_split: ZeroInvoiceSplit
    action_modules: ActionModules
    losses: tuple[FeedLossReport, ...] = Field(
        description="Feeds whose export lost changes that reconcile found (and repaired)."
    )
    timeline: tuple[TimelineEvent, ...]
    story: tuple[str, ...] = Field(description="At most 8 plain sentences, the first one first.")
    actions: tuple[Action, ...] = Field(description="Ranked, one per distinct fix.")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's zone, in which every sentence of the proof reads its moments."""
        return ZoneInfo(self.timezone)

    def alert(self, check: str) -> Alert | None:
        """The first alert of `check`, if any."""
        return next((a for a in self.alerts if a.check == check), None)

    def group_of(self, alert: Alert) -> CauseGroup | None:
        return None if alert.grouped_under is None else self.causes[alert.grouped_under]
