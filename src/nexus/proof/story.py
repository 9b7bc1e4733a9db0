"""The story in plain words and the ranked next actions, built from evidence by templates.

Nothing here guesses: every sentence restates a measurement, a root cause
found in the ledger or timeline, or an exclusion the checks made. The story
reads like a good debrief: one opening sentence naming each real problem and
its cause, then what is only a symptom or noise and since when — at most
`MAX_ITEMS` items, none repeated. There is one action per distinct fix.
"""

from __future__ import annotations

from nexus import times
from nexus.checks.alert import Alert, Cause
from nexus.checks.by_technician import loudest_small_sample
from nexus.checks.freshness import duration_text
from nexus.proof.model import Action, CauseGroup, Level, Proof

MAX_ITEMS = 8
IMPACT = {"high": 3, "medium": 2, "low": 1}
EFFORT = {"low": 3, "medium": 2, "high": 1}
REAL = ("critical", "warning")

#: How a cause reads after "because".
CAUSE_WORDS = {
    "st_auth_failing": "ServiceTitan refuses Nexus's credentials",
    "st_unreachable": "ServiceTitan does not answer",
    "st_rate_limited": "ServiceTitan keeps throttling Nexus",
    "producer_retired": "{producer} was retired",
    "producer_stopped": "{producer} stopped running",
    "producer_failing": "{producer} fails",
    "feed_stuck": "the {feed} export stopped delivering",
    "feed_losing_changes": "the {feed} export loses changes",
    "writes_quarantined": "a suspect batch is held in quarantine",
    "sync_miss": "the {feed} feed missed changes",
    "not_invoiced": "the work was not invoiced in ServiceTitan",
}


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{value * 100:.0f} %"


def cause_words(cause: Cause) -> str:
    template = CAUSE_WORDS.get(cause.kind, cause.kind.replace("_", " "))
    return template.format(producer=cause.producer or "its producer", feed=cause.feed or "a")


def measured(alert: Alert) -> str:
    """The measurement in words, a rate always with its n and interval."""
    m = alert.measurement
    if m.has_interval:
        threshold = f", threshold {_pct(alert.threshold)}" if alert.threshold is not None else ""
        return (
            f"{m.k} of {m.n} {m.counts} ({_pct(m.rate)}, 95 % CI "
            f"{_pct(m.ci_low)}–{_pct(m.ci_high)}{threshold})"
        )
    if m.max_age_s is not None:
        shown = "never measured" if m.age_s is None else duration_text(m.age_s)
        how = (m.measured_by or "").replace("_", " ")
        return f"{shown} by {how}, limit {duration_text(m.max_age_s)}"
    return m.counts


def _problem(alert: Alert) -> str:
    """The problem an alert measures, with its numbers, for the opening sentence."""
    m = alert.measurement
    if m.has_interval and m.n:
        return (
            f"the {alert.label} ({m.k} of {m.n} {m.counts}, {_pct(m.rate)}, 95 % CI "
            f"{_pct(m.ci_low)}–{_pct(m.ci_high)})"
        )
    return alert.label


def story_for(proof: Proof) -> list[str]:
    groups = [g for g in proof.causes if g.severity in REAL]
    lonely = [
        a for a in proof.alerts if a.grouped_under is None and a.severity in REAL
    ]  # real alerts no cause explains
    items = [_opening(proof, groups, lonely)]
    for group in groups:
        items.append(group_line(proof, group))
    for alert in lonely:
        items.append(
            f"{alert.label} is {alert.severity}: {measured(alert)}; no upstream cause "
            "was found in the ledger or the timeline."
        )
    items += _noise(proof)
    items += _behind(proof, groups)
    items += _orphans(proof)
    if proof.alerts:
        items.append(_database_line(proof))
    # the money before the fine print: the last settled week, then what coverage left out
    settled = [w for w in proof.revenue.weeks if not w.provisional and w.capture]
    if settled:
        last = settled[-1]
        items.append(
            f"In {last.week} the mirror holds ${last.mirror:,.0f} against "
            f"${last.reference or 0:,.0f} in the {proof.revenue.reference} "
            f"({_pct(last.capture)} captured)."
        )
    coverage = proof.coverage
    if coverage.excluded_recent:
        items.append(
            f"{coverage.excluded_recent} job(s) completed in the last "
            f"{coverage.grace_s // 3600} h are left out of coverage while their invoices are "
            "normally still being written."
        )
    return list(dict.fromkeys(items))[:MAX_ITEMS]


def _opening(proof: Proof, groups: list[CauseGroup], lonely: list[Alert]) -> str:
    coverage = proof.coverage
    if proof.verdict == "ok":
        return (
            "Nothing needs attention: every producer is alive and "
            f"{_pct(1 - coverage.rate)} of {coverage.n} completed chargeable jobs carry an "
            f"invoice total (gap 95 % CI {_pct(coverage.ci_low)}–{_pct(coverage.ci_high)})."
        )
    if proof.verdict == "insufficient_data":
        return (
            "Nothing is wrong yet, but there is too little to judge: only "
            f"{coverage.n} completed chargeable jobs in the window (the minimum is "
            f"{coverage.min_n})."
        )
    problems = []
    for group in groups:
        primary = next(a for a in proof.alerts if a.grouped_under == proof.causes.index(group))
        problems.append(f"{_problem(primary)}, because {cause_words(group)}")
    problems += [f"{_problem(a)}, with no upstream cause found" for a in lonely]
    count = len(problems)
    head = "One real problem" if count == 1 else f"{count} real problems"
    return f"{head}: " + "; ".join(problems) + "."


def group_line(proof: Proof, group: CauseGroup) -> str:
    """The story's item for one cause group: its measurement, its cause, its symptoms."""
    index = proof.causes.index(group)
    members = [a for a in proof.alerts if a.grouped_under == index]
    primary = members[0]
    # A gap in the mirror's numbers reads like a field problem; say plainly it is not.
    field = "This is not a field problem: " if primary.check == "invoice_coverage" else ""
    since = times.when(group.since, proof.zone)
    line = (
        f"{primary.label} is {group.severity}: {measured(primary)}. {field}"
        f"The cause, since {since}: {cause_words(group)} — {group.evidence}"
    )
    symptoms = [a.label for a in members[1:]]
    if symptoms:
        shown = "; ".join(symptoms[:4]) + (
            f"; and {len(symptoms) - 4} more" if len(symptoms) > 4 else ""
        )
        line += (
            f" {len(symptoms)} other alert(s) ({shown}) are symptoms of this cause since "
            f"{since}, not separate problems."
        )
    return line


def _noise(proof: Proof) -> list[str]:
    lines = []
    for alert in proof.alerts:
        if alert.grouped_under is None and alert.status == "insufficient_data":
            m = alert.measurement
            if alert.check == "invoice_coverage_by_technician":
                lines.append(_technician_noise(proof, alert))
                continue
            lines.append(
                f"{alert.label} is noise for now: only n={m.n} completed chargeable jobs in the "
                f"window, too few to judge (minimum {proof.coverage.min_n}); the rate of "
                f"{_pct(m.rate)} (95 % CI {_pct(m.ci_low)}–{_pct(m.ci_high)}) is a hint, not a "
                "verdict."
            )
    return lines


def _technician_noise(proof: Proof, alert: Alert) -> str:
    """Why a per-technician rate on a handful of jobs blames nobody."""
    slices = proof.coverage_by_technician
    min_n = proof.coverage.min_n
    named = loudest_small_sample(slices, alert.threshold or 0.0)
    if named is not None and any(s.status != "insufficient_data" for s in slices):
        return (
            f"{alert.label} is noise for {named.name}: {named.k} of {named.n} completed "
            f"chargeable jobs without a total ({_pct(named.rate)}, 95 % CI "
            f"{_pct(named.ci_low)}–{_pct(named.ci_high)}) are too few to judge anyone on "
            f"(minimum {min_n}). The tenant-wide invoice coverage is the measurement to read."
        )
    busiest = max(slices, key=lambda s: s.n)
    return (
        f"{alert.label} is noise: no technician can be blamed on so few jobs — each of the "
        f"{len(slices)} technicians has fewer than {min_n} completed chargeable "
        f"jobs in the window (the busiest, {busiest.name}, has n={busiest.n}, "
        f"{_pct(busiest.rate)} without a total, 95 % CI {_pct(busiest.ci_low)}–"
        f"{_pct(busiest.ci_high)}). The tenant-wide invoice coverage is the measurement to read."
    )


#: Why a live producer's products are behind, by its cause; any other cause is a failure.
_WHY_BEHIND = {
    "producer_stopped": "is late",
    "writes_quarantined": "waits before writes held in quarantine",
}


def _behind(proof: Proof, groups: list[CauseGroup]) -> list[str]:
    """Products of failing or late producers no group speaks for: behind, not orphaned."""
    told = {p for g in groups for p in (g.producers or (g.producer,))}
    by_producer: dict[str, list[str]] = {}
    for b in proof.behind:
        if b.producer not in told:
            by_producer.setdefault(b.producer, []).append(b.product)
    lines = []
    for producer, products in by_producer.items():
        first = next(b for b in proof.behind if b.producer == producer)
        lines.append(
            f"{', '.join(products)} {'is' if len(products) == 1 else 'are'} behind because "
            f"{producer} {_WHY_BEHIND.get(first.because, 'is failing')} since "
            f"{times.when(first.since, proof.zone)}; "
            f"{'it is' if len(products) == 1 else 'they are'} not orphaned."
        )
    return lines


def _orphans(proof: Proof) -> list[str]:
    by_owner: dict[tuple[str, str], list[str]] = {}
    for orphan in proof.orphans:
        by_owner.setdefault((orphan.last_producer, orphan.why), []).append(orphan.product)
    lines = []
    for (producer, why), products in by_owner.items():
        since = next(o.since for o in proof.orphans if o.last_producer == producer)
        state = {
            "producer_retired": "was retired",
            "producer_missing": "is no longer declared in nexus.toml",
            "producer_never_ran": "has never run",
        }[why]
        lines.append(
            f"{', '.join(products)} {'has' if len(products) == 1 else 'have'} been orphaned "
            f"since {times.when(since, proof.zone)}, with no live owner: {producer} {state}."
        )
    return lines


def _database_line(proof: Proof) -> str:
    first = proof.alerts[0].questions
    state = "current" if first.db_fresh else "behind"
    return f"The database itself is {state}: {first.evidence.db_fresh}."


# -- actions ---------------------------------------------------------------------


def actions_for(proof: Proof) -> list[Action]:
    actions: list[Action] = []
    for group in proof.causes:
        actions += cause_actions(group, proof)
    # Real alerts only: a check's noise beside its verdict (the slice by technician) adds no action.
    lonely = {a.check: a for a in proof.alerts if a.grouped_under is None and a.severity in REAL}
    coverage = lonely.get("invoice_coverage")
    if coverage and coverage.severity in REAL:
        actions.append(
            _action(
                "Find out which $0 jobs are sync misses and which are genuinely unbilled",
                "nexus diagnose invoices --sample 30",
                "asks ServiceTitan directly about a sample of the zero-invoice jobs before any fix",
                "high",
                "low",
                "low",
            )
        )
    technician = lonely.get("invoice_coverage_by_technician")
    if technician and technician.severity in REAL:
        actions.append(
            _action(
                "Ask ServiceTitan about the $0 jobs before asking the technician",
                "nexus diagnose invoices --sample 30",
                f"one technician's jobs lack invoice totals ({measured(technician)}) while "
                "the tenant's do not; the diagnosis tells a sync miss from unbilled work",
                "medium",
                "low",
                "low",
            )
        )
    if "revenue_spike" in lonely:
        actions.append(
            _action(
                "Review the suspect bulk write before it counts as revenue",
                "nexus quarantine list",
                "rows sharing one created timestamp or a week far above its median look like "
                "a phantom write",
                "high",
                "low",
                "low",
            )
        )
    for alert in proof.alerts:
        if (
            alert.check == "freshness"
            and alert.grouped_under is None
            and alert.measurement.measured_by == "file_mtime"
        ):
            actions.append(
                _action(
                    f"Check who writes {alert.product}",
                    "nexus doctor schedules",
                    "a file product is stale; its producer's schedule may point at a missing "
                    "or quarantined script",
                    "medium",
                    "low",
                    "low",
                )
            )
    if proof.verdict == "insufficient_data":
        actions.append(
            _action(
                "Wait for more completed jobs before judging coverage",
                "nexus proof",
                "too few jobs to tell a gap from noise; nothing is wrong yet",
                "low",
                "low",
                "low",
            )
        )
    unique = list({a.command: a for a in reversed(actions)}.values())[::-1]
    return sorted(unique, key=lambda a: (-IMPACT[a.impact], -EFFORT[a.effort], a.risk != "low"))


def cause_actions(cause: CauseGroup, proof: Proof) -> list[Action]:
    """The fix for one cause group, first the one to do first."""
    producer = cause.producer
    producers = ", ".join(cause.producers)
    feed = cause.feed or "invoices"
    match cause.kind:
        case "producer_retired":
            owned = [o.product for o in proof.orphans if o.last_producer == producer]
            products = ", ".join(owned) or "its products"
            return [
                _action(
                    f"Give {products} a live producer again",
                    f"nexus producers restore {producer}",
                    f"{producer} was retired but still owns {products}; restoring it resumes "
                    "them (or hand them over with `nexus producers hand-over PRODUCT OTHER`)",
                    "high",
                    "low",
                    "low",
                )
            ]
        case "feed_losing_changes" if all(
            loss.repaired for loss in proof.losses if loss.feed == feed
        ):
            return [
                _action(
                    f"Keep the weekly reconcile while the {feed} export loses changes",
                    f"nexus reconcile --feed {feed}",
                    "reconcile found and repaired every lost change, so the numbers are whole; "
                    "run it now to see whether the export still loses them, and report it to "
                    "ServiceTitan if it does",
                    "medium",
                    "low",
                    "low",
                )
            ]
        case "sync_miss" | "feed_stuck" | "feed_losing_changes":
            return [
                _action(
                    f"Load what the {feed} export did not deliver",
                    f"nexus reconcile --feed {feed} --repair",
                    "reconcile compares every record with ServiceTitan's list and loads what "
                    "the mirror lacks through the normal loader (no sync window to widen)",
                    "high",
                    "medium" if cause.kind == "sync_miss" else "low",
                    "low",
                )
            ]
        case "not_invoiced":
            return [
                _action(
                    "Follow up the completed work that was never invoiced",
                    "nexus diagnose invoices --sample 30 --json",
                    "the mirror is right: ServiceTitan itself shows these chargeable jobs at $0 "
                    "past the usual invoice lag — a business follow-up, not a data fix",
                    "high",
                    "medium",
                    "low",
                )
            ]
        case "writes_quarantined":
            return [
                _action(
                    "Review the quarantined batches, then release or drop them",
                    "nexus quarantine list",
                    "batches that look like phantom writes are held; their feeds wait until a "
                    "person decides (`nexus quarantine show ID`, then `release ID` or `drop ID`)",
                    "high",
                    "low",
                    "low",
                )
            ]
        case "producer_stopped":
            return [
                _action(
                    f"Get {producer} running again",
                    "nexus doctor schedules",
                    f"{producer} stopped without recording a failure; check that `nexus worker` "
                    "runs and that its schedule exists",
                    "high",
                    "low",
                    "low",
                )
            ]
        case "st_auth_failing":
            return [
                _action(
                    "Set NEXUS_ST_CLIENT_SECRET to the tenant's current secret, then run "
                    "`nexus sync`",
                    "nexus sync",
                    f"ServiceTitan refuses the credentials for {producers or producer}; once "
                    "they are right every feed resumes from its saved token, nothing is lost",
                    "high",
                    "low",
                    "low",
                )
            ]
        case "st_unreachable" | "st_rate_limited":
            return [
                _action(
                    "Let the next runs catch up once ServiceTitan answers",
                    "nexus sync",
                    "ServiceTitan is unreachable or throttling; every feed resumes from its "
                    "saved token, nothing is lost",
                    "medium",
                    "low",
                    "low",
                )
            ]
        case "producer_failing":
            return [
                _action(
                    f"Read why {producer} fails",
                    f"nexus producers show {producer}",
                    "its latest runs failed; the error names the record or setting to fix",
                    "high",
                    "low",
                    "low",
                )
            ]
    return []


def _action(do: str, command: str, why: str, impact: Level, effort: Level, risk: Level) -> Action:
    return Action(do=do, command=command, why=why, impact=impact, effort=effort, risk=risk)
