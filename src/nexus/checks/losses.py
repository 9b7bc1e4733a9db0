"""Feed losses: an export that loses changes is a real problem, even once reconcile healed it.

The scheduled reconcile compares each feed with ServiceTitan's list and
repairs what the export lost (`nexus.sync.losses`). The proof keeps a warning
while losses recur within a reconcile interval (and a day) of now: how many
changes were lost, out of how many compared, since the first reconcile that
found them, and which runs found and repaired them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nexus import times
from nexus.catalog import FEEDS
from nexus.checks.alert import Alert, Cause, Measurement, Model, interval, questions
from nexus.checks.inputs import CheckInputs, CheckResult
from nexus.sync.losses import FeedLoss, feed_losses

#: Losses found this long before a reconcile interval still count, for a reconcile running late.
SLACK = timedelta(days=1)


class FeedLossReport(Model):
    feed: str
    lost: int
    compared: int
    rate: float
    ci_low: float
    ci_high: float
    since: datetime
    found_by: tuple[int, ...]
    repaired_by: tuple[int, ...]
    repaired: bool


class LossesResult(CheckResult):
    losses: tuple[FeedLossReport, ...]


def window(inputs: CheckInputs) -> timedelta:
    """One reconcile interval and a day: the losses the latest reconcile found stay in view."""
    every = [p.every for p in inputs.config.producers.values() if p.kind == "reconcile"]
    return max(every, default=timedelta(days=7)) + SLACK


def check(inputs: CheckInputs) -> LossesResult:
    span = window(inputs)
    losses = feed_losses(inputs.conn, inputs.tenant, inputs.now, span)
    reports = tuple(_report(loss) for loss in losses)
    alerts = tuple(_alert(loss, span, inputs) for loss in losses if loss.lost)
    return LossesResult(alerts=alerts, losses=reports)


def _report(loss: FeedLoss) -> FeedLossReport:
    rate = loss.rate
    return FeedLossReport(
        feed=loss.feed,
        lost=loss.lost,
        compared=loss.compared,
        **interval(rate),
        since=loss.since,
        found_by=loss.found_by,
        repaired_by=loss.repaired_by,
        repaired=loss.repaired,
    )


def _alert(loss: FeedLoss, span: timedelta, inputs: CheckInputs) -> Alert:
    rate = loss.rate
    producer = inputs.config.syncer_of(loss.feed)
    found = ", ".join(str(r) for r in loss.found_by)
    healed = (
        f"found and repaired by reconcile run(s) {', '.join(str(r) for r in loss.repaired_by)}"
        if loss.repaired
        else f"found by reconcile run(s) {found}; not all of them are repaired yet"
    )
    cause = Cause(
        kind="feed_losing_changes",
        producer=producer,
        since=loss.since,
        scope="feed",
        feed=loss.feed,
        evidence=f"the {loss.feed} export lost {loss.lost} changes in the last "
        f"{span.days} days ({healed}); ServiceTitan's list has them, its export did not "
        f"deliver them, first found by reconcile on {times.local(loss.since, inputs.zone)}",
        run_ids=loss.found_by,
        links={f"run {r}": f"/producers/reconcile#run-{r}" for r in loss.found_by[:3]},
    )
    # An unrepaired gap is already the feed's cause by lineage (feed_stuck): one root, one group.
    lineage = inputs.cause(FEEDS[loss.feed].table)
    if lineage.kind == "feed_stuck" and lineage.feed == loss.feed:
        cause = lineage
    return Alert(
        check="feed_losses",
        severity="warning",
        status="warning",
        label=f"Changes the {loss.feed} export lost",
        product=FEEDS[loss.feed].table,
        measurement=Measurement(
            counts=f"{loss.feed} records reconcile found lost, of those it compared",
            n=loss.compared,
            k=loss.lost,
            **interval(rate),
        ),
        probable_cause=cause,
        questions=questions(
            inputs.db_fresh,
            None,
            f"a census of the {loss.compared} records reconcile compared, not a sample",
            cause,
        ),
    )
