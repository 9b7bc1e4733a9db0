"""Probable causes, found by following lineage, and collapsed to their root.

A cause is never guessed from a label. It is a fact in the ledger or the
timeline — a retirement event, failed runs and their error kind, a silence
longer than twice the schedule, a reconcile's findings — and it carries that
evidence and its onset.

Causes form a tree: ServiceTitan refusing the credentials, not answering or
throttling is one cause for the whole tenant, however many producers fail
for it; a producer's cause explains every alert on its products. Each alert
is given its root, so one root is one group, one story item and one action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from nexus import times
from nexus.checks.alert import NONE_FOUND, TENANT_WIDE, Cause, CauseKind
from nexus.registry.ownership import Ownership
from nexus.registry.timeline import Event
from nexus.registry.vitals import LedgerEntry, Vital
from nexus.sync.diagnose import ClassShare, Diagnosis

#: error_kind of a producer's failing runs → the cause kind, where it is not the producer's own
FAILURE_CAUSES: dict[str, CauseKind] = {
    "auth": "st_auth_failing",
    "unreachable": "st_unreachable",
    "rate_limited": "st_rate_limited",
    # a feed waits before a batch held in quarantine: the held writes are the root
    "quarantined": "writes_quarantined",
}
TENANT_WORDS = {
    "st_auth_failing": "ServiceTitan refuses Nexus's credentials",
    "st_unreachable": "ServiceTitan does not answer",
    "st_rate_limited": "ServiceTitan keeps throttling Nexus",
}


def _tenant_links(entries: list[LedgerEntry]) -> dict[str, str]:
    """Each failing producer, and its latest failed run, as evidence."""
    links = {}
    for entry in entries[:5]:
        links[f"producer {entry.producer}"] = f"/producers/{entry.producer}"
        if entry.failed_run_ids:
            run = entry.failed_run_ids[0]
            links[f"run {run}"] = f"/producers/{entry.producer}#run-{run}"
    return links


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


@dataclass(frozen=True)
class Lineage:
    """What the ledger and the timeline say, read once per proof."""

    state: Ownership
    vitals: Mapping[str, Vital]
    entries: Mapping[str, LedgerEntry]
    events: Sequence[Event]
    run_error_kinds: Mapping[int, str | None]
    gaps: Mapping[str, FeedGap]
    #: the tenant's zone, in which the evidence reads its moments
    zone: ZoneInfo

    def failure_kind(self, producer: str) -> CauseKind:
        """What a failing producer's latest failed run met."""
        entry = self.entries.get(producer)
        runs = entry.failed_run_ids if entry else ()
        kind = self.run_error_kinds.get(runs[0]) if runs else None
        return FAILURE_CAUSES.get(kind or "", "producer_failing")

    def tenant_causes(self) -> dict[str, Cause]:
        """The tenant-wide root cause of each producer failing for ServiceTitan's reasons."""
        failing: dict[CauseKind, list[Vital]] = {}
        for vital in self.vitals.values():
            if vital.status == "failing":
                kind = self.failure_kind(vital.producer)
                if kind in TENANT_WIDE:
                    failing.setdefault(kind, []).append(vital)
        roots = {}
        for kind, vitals in failing.items():
            root = self._tenant_cause(kind, vitals)
            roots.update({v.producer: root for v in vitals})
        return roots

    def _tenant_cause(self, kind: CauseKind, vitals: list[Vital]) -> Cause:
        names = tuple(v.producer for v in vitals)
        since = min((v.since for v in vitals if v.since), default=None)
        known = [self.entries[n] for n in names if n in self.entries]
        runs = sum(entry.failures_since_success for entry in known)
        run_ids = tuple(r for entry in known for r in entry.failed_run_ids)
        latest = next((v.error for v in vitals if v.error), None)
        error = f"; latest error: {latest.splitlines()[0]}" if latest else ""
        return Cause(
            kind=kind,
            producer=None,
            since=since,
            scope="tenant",
            producers=names,
            evidence=f"{TENANT_WORDS[kind]}: {len(names)} producer(s) ({', '.join(names)}) have "
            f"failed every run since {times.when(since, self.zone)} ({runs} runs){error}",
            run_ids=run_ids[:10],
            links=_tenant_links(known),
        )

    def cause_of(self, product: str, roots: Mapping[str, Cause]) -> Cause:
        """The root cause behind a symptom on `product`, with its evidence."""
        owner = self.state.owners.get(product)
        if owner is None:
            return NONE_FOUND
        if owner in roots:
            return roots[owner]
        vital = self.vitals.get(owner)
        if owner in self.state.retired_producers:
            return self._retired(owner, product)
        if owner not in self.state.declared:
            entry = self.entries.get(owner)
            return Cause(
                kind="producer_stopped",
                producer=owner,
                since=entry.last_success if entry else None,
                scope="producer",
                evidence=f"{owner} owns {product} but is no longer declared in nexus.toml, so "
                "nothing schedules it.",
                links=_links(owner),
            )
        if vital is not None and vital.status == "failing":
            entry = self.entries.get(owner)
            runs = entry.failed_run_ids if entry else ()
            count = entry.failures_since_success if entry else 0
            return Cause(
                kind=self.failure_kind(owner),
                producer=owner,
                since=vital.since,
                scope="producer",
                evidence=f"{owner} has failed {count} run(s) in a row since "
                f"{times.when(vital.since, self.zone)} (latest run {vital.last_run_id}): "
                f"{(vital.error or '').splitlines()[0] if vital.error else 'no error text'}",
                run_ids=runs,
                links=_links(owner, runs),
            )
        if vital is not None and vital.status == "late":
            last = vital.last_success
            since = times.local(last, self.zone) if last else "it was declared"
            return Cause(
                kind="producer_stopped",
                producer=owner,
                since=vital.since,
                scope="producer",
                evidence=f"{owner} runs every {vital.every_s // 60} min but has not succeeded "
                f"since {since}; no failure is recorded, so it is not running at all.",
                run_ids=(vital.last_run_id,) if vital.last_run_id else (),
                links=_links(owner),
            )
        gap = self.gaps.get(owner)
        if gap is not None and gap.missing > 0:
            return _feed_stuck(gap, self.zone)
        return NONE_FOUND

    def _retired(self, owner: str, product: str) -> Cause:
        event = next(
            (
                e
                for e in self.events
                if e.producer == owner and e.kind.startswith("producer_retired")
            ),
            None,
        )
        since = self.state.retired_producers[owner]
        who = f" by {event.actor}" if event else ""
        why = f" ({event.reason})" if event and event.reason else ""
        return Cause(
            kind="producer_retired",
            producer=owner,
            since=since,
            scope="producer",
            evidence=f"{owner} was retired on {times.local(since, self.zone)}{who}{why} and still "
            f"owns {product}; no run of {owner} has written it since.",
            event_id=event.id if event else None,
            links={**_links(owner), **({"event": f"/timeline#event-{event.id}"} if event else {})},
        )


def _feed_stuck(gap: FeedGap, zone: ZoneInfo) -> Cause:
    moved = (
        f"its token last moved {times.local(gap.token_moved_at, zone)}"
        if gap.token_moved_at
        else "its token never moved"
    )
    return Cause(
        kind="feed_stuck",
        producer=gap.producer,
        since=gap.token_moved_at,
        scope="feed",
        feed=gap.feed,
        evidence=f"{gap.producer} runs, but the {gap.feed} export is not delivering what "
        f"ServiceTitan has: reconcile run {gap.reconcile_run} "
        f"({times.local(gap.reconciled_at, zone)}) found {gap.missing} {gap.feed} records older "
        f"than the last sync that the mirror lacks or holds differently; {moved}.",
        run_ids=(gap.reconcile_run,),
        links=_links(gap.producer, (gap.reconcile_run,)),
    )


def diagnosis_cause(d: Diagnosis, zone: ZoneInfo) -> Cause | None:
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
        f"diagnosis {d.id} on {times.local(d.at, zone)} asked ServiceTitan about {d.sampled} of "
        f"{d.population} completed $0 jobs"
    )
    if misses.count >= unbilled.count:
        examples = ", ".join(
            f"job {j.id} (${j.evidence.get('st_total')})"
            for j in [j for j in d.jobs if j.klass == "sync_miss"][:3]
        )
        repaired = f"; {d.repaired} were repaired" if d.repaired else ""
        return Cause(
            kind="sync_miss",
            producer="invoice_sync",
            since=d.at,
            scope="feed",
            feed="invoices",
            evidence=f"{head}: {misses.count} ({_pct(misses)}) are invoiced there but not in the "
            f"mirror, e.g. {examples}{repaired}. The invoice feed missed changes; "
            "`nexus reconcile --feed invoices --repair` finds and loads all of them.",
        )
    return Cause(
        kind="not_invoiced",
        producer=None,
        since=d.at,
        scope="business",
        evidence=f"{head}: {unbilled.count} ({_pct(unbilled)}) are chargeable, completed more "
        f"than {d.expected_lag.total_seconds() / 86400:g} days ago and still $0 in "
        "ServiceTitan. The mirror is right: the work was not invoiced.",
    )


def _pct(share: ClassShare) -> str:
    return f"{share.share:.0%}, 95 % CI {share.ci_low:.0%}–{share.ci_high:.0%}"
