"""Probable causes, found by following lineage: product → owning producer → its vitals and events.

A cause is never guessed from a label. It is a fact in the ledger or the
timeline — a retirement event, failed runs and their error kind, a silence
longer than twice the schedule — and it carries that evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nexus.registry.ownership import Ownership
from nexus.registry.timeline import Event
from nexus.registry.vitals import LedgerEntry, Vital
from nexus.sync.diagnose import ClassShare, Diagnosis

#: error_kind of the failing runs → cause kind
FAILURE_CAUSES = {
    "auth": "st_auth_failing",
    "unreachable": "st_unreachable",
    "rate_limited": "st_unreachable",
}


@dataclass(frozen=True)
class Cause:
    kind: str
    producer: str | None
    since: datetime | None
    evidence: str
    run_ids: tuple[int, ...] = ()
    event_id: int | None = None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.kind, self.producer)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "producer": self.producer,
            "since": None if self.since is None else self.since.isoformat(),
            "evidence": self.evidence,
            "run_ids": list(self.run_ids),
            "event_id": self.event_id,
            "links": self.links,
        }


NONE_FOUND = Cause("none_found", None, None, "no retired, failing or silent producer upstream")


def _links(producer: str | None, run_ids: tuple[int, ...] = ()) -> dict[str, str]:
    links = {}
    if producer:
        links["producer"] = f"/producers/{producer}"
    for run_id in run_ids[:3]:
        links[f"run {run_id}"] = f"/producers/{producer}#run-{run_id}"
    return links


@dataclass(frozen=True)
class FeedGap:
    """What the latest reconciliation found a feed's export failed to deliver."""

    feed: str
    producer: str
    missing: int  # in ServiceTitan, older than the sync horizon, not in the mirror (or differing)
    reconcile_run: int
    reconciled_at: datetime
    token_moved_at: datetime | None


def cause_for_product(
    product: str,
    state: Ownership,
    vitals: dict[str, Vital],
    entries: dict[str, LedgerEntry],
    events: list[Event],
    run_error_kinds: dict[int, str | None],
    gaps: dict[str, FeedGap] | None = None,
) -> Cause:
    """The probable cause behind a symptom on `product`, with its evidence."""
    owner = state.owners.get(product)
    if owner is None:
        return NONE_FOUND
    vital = vitals.get(owner)
    if owner in state.retired_producers:
        event = next(
            (e for e in events if e.producer == owner and e.kind.startswith("producer_retired")),
            None,
        )
        since = state.retired_producers[owner]
        who = f" by {event.actor}" if event else ""
        why = f" ({event.reason})" if event and event.reason else ""
        return Cause(
            "producer_retired",
            owner,
            since,
            f"{owner} was retired on {since:%b %d %H:%M} UTC{who}{why} and still owns "
            f"{product}; no run of {owner} has written it since.",
            event_id=event.id if event else None,
            links={**_links(owner), **({"event": f"/timeline#event-{event.id}"} if event else {})},
        )
    if owner not in state.declared:
        return Cause(
            "producer_stopped",
            owner,
            entries[owner].last_success if owner in entries else None,
            f"{owner} owns {product} but is no longer declared in nexus.toml, so nothing "
            "schedules it.",
            links=_links(owner),
        )
    if vital is not None and vital.status == "failing":
        entry = entries.get(owner)
        runs = entry.failed_run_ids if entry else ()
        kind = FAILURE_CAUSES.get(run_error_kinds.get(runs[0]) or "", "producer_failing")
        count = entry.failures_since_success if entry else 0
        return Cause(
            kind,
            owner,
            vital.since,
            f"{owner} has failed {count} run(s) in a row (latest run {vital.last_run_id}): "
            f"{(vital.error or '').splitlines()[0] if vital.error else 'no error text'}",
            run_ids=runs,
            links=_links(owner, runs),
        )
    if vital is not None and vital.status == "late":
        last = vital.last_success
        return Cause(
            "producer_stopped",
            owner,
            last,
            f"{owner} runs every {vital.every_s // 60} min but has not succeeded since "
            + (f"{last:%b %d %H:%M} UTC" if last else "it was declared")
            + "; no failure is recorded, so it is not running at all.",
            run_ids=(vital.last_run_id,) if vital.last_run_id else (),
            links=_links(owner),
        )
    gap = (gaps or {}).get(owner)
    if gap is not None and gap.missing > 0:
        moved = (
            f"its token last moved {gap.token_moved_at:%b %d %H:%M} UTC"
            if gap.token_moved_at
            else "its token never moved"
        )
        return Cause(
            "feed_stuck",
            owner,
            gap.token_moved_at,
            f"{owner} runs, but the {gap.feed} export is not delivering what ServiceTitan has: "
            f"reconcile run {gap.reconcile_run} ({gap.reconciled_at:%b %d %H:%M} UTC) found "
            f"{gap.missing} {gap.feed} records older than the last sync that the mirror lacks "
            f"or holds differently; {moved}.",
            run_ids=(gap.reconcile_run,),
            links=_links(owner, (gap.reconcile_run,)),
        )
    return NONE_FOUND


def diagnosis_cause(d: Diagnosis) -> Cause | None:
    """The probable cause a diagnosis points to, or None when it found neither signal.

    Sync misses point at the invoice feed (the mirror lost changes ServiceTitan
    has); genuinely-zero jobs point at the business (work was not invoiced). The
    larger of the two is the probable cause; a diagnosis that found neither
    explains nothing.
    """
    misses, unbilled = d.classes["sync_miss"], d.classes["genuinely_zero"]
    if misses.count == 0 and unbilled.count == 0:
        return None
    head = (
        f"diagnosis {d.id} on {d.at:%b %d %H:%M} UTC asked ServiceTitan about {d.sampled} of "
        f"{d.population} completed $0 jobs"
    )
    if misses.count >= unbilled.count:
        examples = ", ".join(
            f"job {j.id} (${j.evidence.get('st_total')})"
            for j in [j for j in d.jobs if j.klass == "sync_miss"][:3]
        )
        repaired = f"; {d.repaired} were repaired" if d.repaired else ""
        return Cause(
            "sync_miss",
            "invoice_sync",
            d.at,
            f"{head}: {misses.count} ({_pct(misses)}) are invoiced there but not in the "
            f"mirror, e.g. {examples}{repaired}. The invoice feed missed changes; "
            "`nexus reconcile --feed invoices --repair` finds and loads all of them.",
        )
    return Cause(
        "not_invoiced",
        None,
        d.at,
        f"{head}: {unbilled.count} ({_pct(unbilled)}) are chargeable, completed more than "
        f"{d.expected_lag.total_seconds() / 86400:g} days ago and still $0 in ServiceTitan. "
        "The mirror is right: the work was not invoiced.",
    )


def _pct(share: ClassShare) -> str:
    return f"{share.share:.0%}, 95 % CI {share.ci_low:.0%}–{share.ci_high:.0%}"
