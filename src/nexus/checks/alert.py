"""What a check says: an alert, its measurement, its probable cause and the three questions.

These are the words every check, the proof, the story, the pages and the
notifications share. They are frozen pydantic models, so the proof's JSON
Schema is generated from them (`nexus.proof.schema`) and every reader uses
attributes, never string keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus.stats import Rate

AlertSeverity = Literal["critical", "warning", "info"]
AlertStatus = Literal["critical", "warning", "info", "insufficient_data"]
CheckName = Literal[
    "invoice_coverage",
    "invoice_coverage_by_technician",
    "freshness",
    "volume",
    "revenue_capture",
    "revenue_spike",
    "action_modules",
    "quarantine",
    "feed_losses",
]
CauseKind = Literal[
    # tenant-wide: ServiceTitan itself
    "st_auth_failing",
    "st_unreachable",
    "st_rate_limited",
    # one producer
    "producer_retired",
    "producer_stopped",
    "producer_failing",
    # one feed
    "feed_stuck",
    "feed_losing_changes",
    "writes_quarantined",
    # what a diagnosis found
    "sync_miss",
    "not_invoiced",
    "none_found",
]
CauseScope = Literal["tenant", "producer", "feed", "business", "none"]

#: Causes that are ServiceTitan's for the whole tenant, whichever producer met them.
TENANT_WIDE: frozenset[str] = frozenset({"st_auth_failing", "st_unreachable", "st_rate_limited"})
#: Causes that are one group whichever producer met them: the tenant-wide ones, and held
#: writes (the quarantine check's alert, and every product whose feed waits before them).
KEYED_BY_KIND: frozenset[str] = TENANT_WIDE | {"writes_quarantined"}
SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}


def interval(rate: Rate) -> dict[str, float]:
    """A rate and its 95 % interval as the proof shows them, to four places."""
    return {
        "rate": round(rate.rate, 4),
        "ci_low": round(rate.ci_low, 4),
        "ci_high": round(rate.ci_high, 4),
    }


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cause(Model):
    """A probable cause found by lineage, with its evidence. Never guessed from a label."""

    kind: CauseKind
    producer: str | None = Field(description="The producer it concerns; None when tenant-wide.")
    since: datetime | None = Field(
        description="The onset: first failed run after the last success, the retirement, "
        "the first reconcile that found losses — never the reading time."
    )
    evidence: str
    scope: CauseScope = "none"
    feed: str | None = Field(default=None, description="The feed it concerns, when one does.")
    producers: tuple[str, ...] = Field(
        default=(), description="Every producer the cause explains (tenant-wide causes)."
    )
    run_ids: tuple[int, ...] = ()
    event_id: int | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str | None]:
        """Alerts with the same key share one cause group."""
        return (self.kind, None if self.kind in KEYED_BY_KIND else self.producer)

    @property
    def found(self) -> bool:
        return self.kind != "none_found"


NONE_FOUND = Cause(
    kind="none_found",
    producer=None,
    since=None,
    evidence="no retired, failing or silent producer upstream",
)


class Measurement(Model):
    """What an alert measured, always with what it counts; rates with their n and interval."""

    counts: str = Field(description="What is counted, in words.")
    n: int | None = None
    k: int | None = None
    rate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    window: str | None = None
    excluded_recent: int | None = None
    age_s: int | None = None
    max_age_s: int | None = None
    lag_s: int | None = None
    measured_by: str | None = None
    baseline: float | None = None
    ratio: float | None = None
    history_days: int | None = None
    weeks: tuple[str, ...] = ()
    worst_week: str | None = None
    mirror: float | None = None
    reference: float | None = None
    week: str | None = None
    stale: tuple[str, ...] = ()
    batches: tuple[int, ...] = ()
    feeds: tuple[str, ...] = ()

    @property
    def has_interval(self) -> bool:
        return None not in (self.k, self.n, self.rate, self.ci_low, self.ci_high)


class Evidence(Model):
    db_fresh: str
    sample_sufficient: str
    label: str


class Questions(Model):
    """The three questions every alert answers."""

    db_fresh: bool
    sample_sufficient: bool | None
    label_names_cause: Literal[False] = False
    evidence: Evidence


class DbFresh(Model):
    """Is the database itself stale? Asked once per proof, answered in every alert."""

    fresh: bool
    evidence: str


class Alert(Model):
    check: CheckName
    severity: AlertSeverity
    status: AlertStatus
    label: str = Field(description="Names what is measured, never a cause.")
    product: str | None
    measurement: Measurement
    threshold: float | None = None
    probable_cause: Cause = NONE_FOUND
    questions: Questions
    grouped_under: int | None = Field(
        default=None, description="Index into `causes` of the group this alert belongs to."
    )


def questions(db_fresh: DbFresh, sufficient: bool | None, sample: str, cause: Cause) -> Questions:
    """The three answers for one alert."""
    label = (
        f"the label names what is measured; the probable cause ({cause.kind}) is reported "
        "separately"
        if cause.found
        else "the label names what is measured; no upstream cause was found"
    )
    return Questions(
        db_fresh=db_fresh.fresh,
        sample_sufficient=sufficient,
        evidence=Evidence(db_fresh=db_fresh.evidence, sample_sufficient=sample, label=label),
    )
