"""The story in plain words and the ranked next actions, built from evidence by templates.

Nothing here guesses: every sentence restates a measurement, a cause found
in the ledger or timeline, or an exclusion the checks made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nexus.checks.coverage import Coverage, CoverageParams

IMPACT = {"high": 3, "medium": 2, "low": 1}
EFFORT = {"low": 3, "medium": 2, "high": 1}


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{value * 100:.0f} %"


def _when(iso: str | None) -> str:
    if not iso:
        return "an unknown time"
    return datetime.fromisoformat(iso).strftime("%b %d %H:%M UTC")


def story_for(proof: dict[str, Any], coverage: Coverage, params: CoverageParams) -> list[str]:
    lines: list[str] = []
    alerts = proof["alerts"]
    causes = proof["causes"]
    for cause in causes:
        if cause["severity"] not in ("critical", "warning"):
            continue
        primary = next(a for a in alerts if a["check"] == cause["primary"])
        # A gap in the mirror's numbers reads like a field problem; say plainly it is not.
        field = "This is not a field problem; " if primary["check"] == "invoice_coverage" else ""
        lines.append(
            f"{primary['label']} is {cause['severity']}: {_measured(primary)}. "
            f"{field}The probable cause is {cause['kind'].replace('_', ' ')}"
            f" since {_when(cause['since'])}: {cause['evidence']}"
        )
        symptoms = [label for label in cause["alerts"] if label != primary["label"]]
        if symptoms:
            lines.append(
                f"{len(symptoms)} other alert(s) — {'; '.join(symptoms)} — are symptoms of the "
                "same cause and are grouped under it, not separate problems."
            )
    for alert in alerts:
        if alert["grouped_under"] is not None:
            continue
        if alert["status"] == "insufficient_data":
            m = alert["measurement"]
            lines.append(
                f"{alert['label']}: only n={m['n']} completed chargeable jobs in the window — "
                f"too few to judge (minimum {params.min_n}); the rate of "
                f"{_pct(m['rate'])} is a hint, not a verdict."
            )
        elif alert["severity"] in ("critical", "warning"):
            lines.append(f"{alert['label']} is {alert['severity']}: {_measured(alert)}.")
    fresh_q = _db_question(proof)
    if fresh_q:
        lines.append(fresh_q)
    if coverage.excluded_recent:
        lines.append(
            f"{coverage.excluded_recent} job(s) completed in the last "
            f"{int(params.grace.total_seconds() // 3600)} h are left out of coverage while their "
            "invoices are normally still being written."
        )
    for orphan in proof["orphans"]:
        lines.append(
            f"{orphan['product']} has been orphaned since {_when(orphan['since'])}: its producer "
            f"{orphan['last_producer']} is {orphan['why'].replace('producer_', '')}."
        )
    settled = [w for w in proof["revenue"]["weeks"] if not w["provisional"] and w["capture"]]
    if settled:
        last = settled[-1]
        lines.append(
            f"In {last['week']} the mirror holds ${last['mirror']:,.0f} against "
            f"${last['reference']:,.0f} in the {proof['revenue']['reference']} "
            f"({_pct(last['capture'])} captured)."
        )
    if proof["verdict"] == "ok":
        gap = coverage.gap
        lines.insert(
            0,
            "Nothing needs attention: every producer is alive and "
            f"{_pct(1 - gap.rate)} of {gap.n} completed chargeable jobs carry an invoice total "
            f"(gap 95 % CI {_pct(gap.ci_low)}–{_pct(gap.ci_high)}).",
        )
    return lines


def _measured(alert: dict[str, Any]) -> str:
    m = alert["measurement"]
    if "k" in m and "n" in m and m.get("ci_low") is not None:
        return (
            f"{m['k']} of {m['n']} {m['counts']} ({_pct(m['rate'])}, 95 % CI "
            f"{_pct(m['ci_low'])}–{_pct(m['ci_high'])}, threshold {_pct(alert['threshold'])})"
        )
    if "age_s" in m:
        age = m["age_s"]
        shown = "never written" if age is None else f"{age / 3600:.1f} h old"
        return f"{shown} by {m['measured_by'].replace('_', ' ')}, limit {m['max_age_s'] / 3600:g} h"
    return str(m.get("counts", ""))


def _db_question(proof: dict[str, Any]) -> str | None:
    if not proof["alerts"]:
        return None
    q = proof["alerts"][0]["questions"]
    state = "fresh" if q["db_fresh"] else "stale"
    return f"The database itself is {state}: {q['evidence']['db_fresh']}."


def actions_for(proof: dict[str, Any]) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    for cause in proof["causes"]:
        actions += _cause_actions(cause, proof)
    checks = {a["check"]: a for a in proof["alerts"] if a["grouped_under"] is None}
    coverage = checks.get("invoice_coverage")
    if coverage and coverage["severity"] in ("critical", "warning"):
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
        actions.append(
            _action(
                "Reconcile invoices against ServiceTitan and repair what the feed missed",
                "nexus reconcile --feed invoices --repair",
                "a full comparison catches what a cursor missed; no sync window to widen",
                "high",
                "medium",
                "low",
            )
        )
    if any(a["check"] == "revenue_spike" for a in proof["alerts"]):
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
    for alert in proof["alerts"]:
        if (
            alert["check"] == "freshness"
            and alert["grouped_under"] is None
            and alert["measurement"]["measured_by"] == "file_mtime"
        ):
            actions.append(
                _action(
                    f"Check who writes {alert['product']}",
                    "nexus doctor schedules",
                    "a file product is stale; its producer's schedule may point at a missing "
                    "or quarantined script",
                    "medium",
                    "low",
                    "low",
                )
            )
    if proof["verdict"] == "insufficient_data":
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
    unique = list({a["command"]: a for a in reversed(actions)}.values())[::-1]
    return sorted(
        unique, key=lambda a: (-IMPACT[a["impact"]], -EFFORT[a["effort"]], a["risk"] != "low")
    )


def _cause_actions(cause: dict[str, Any], proof: dict[str, Any]) -> list[dict[str, Any]]:
    producer = cause["producer"]
    kind = cause["kind"]
    if kind == "producer_retired":
        owned = [o["product"] for o in proof["orphans"] if o["last_producer"] == producer]
        products = ", ".join(owned) or "its products"
        return [
            _action(
                f"Give {products} a live producer again",
                f"nexus producers restore {producer}",
                f"{producer} was retired but still owns {products}; restoring it resumes them "
                "(or hand them over with `nexus producers hand-over PRODUCT OTHER`)",
                "high",
                "low",
                "low",
            )
        ]
    if kind == "sync_miss":
        return [
            _action(
                "Load the invoices the feed missed",
                "nexus reconcile --feed invoices --repair",
                "a diagnosis found completed jobs invoiced in ServiceTitan but $0 in the mirror; "
                "a full reconciliation finds and loads every one of them",
                "high",
                "medium",
                "low",
            )
        ]
    if kind == "not_invoiced":
        return [
            _action(
                "Follow up the completed work that was never invoiced",
                "nexus diagnose invoices --sample 30 --json",
                "the mirror is right: ServiceTitan itself shows these chargeable jobs at $0 past "
                "the usual invoice lag — a business follow-up, not a data fix",
                "high",
                "medium",
                "low",
            )
        ]
    if kind == "feed_stuck":
        feed = _feed_of(producer)
        return [
            _action(
                f"Load what the {feed} export did not deliver",
                f"nexus reconcile --feed {feed} --repair",
                "the latest reconciliation found records ServiceTitan has and the mirror lacks; "
                "a repair loads them through the normal loader (no sync window to widen)",
                "high",
                "low",
                "low",
            )
        ]
    if kind == "writes_quarantined":
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
    if kind == "producer_stopped":
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
    if kind == "st_auth_failing":
        return [
            _action(
                "Fix the ServiceTitan credentials",
                f"nexus sync --feed {_feed_of(producer)}",
                "ServiceTitan refuses the token; check NEXUS_ST_CLIENT_ID and "
                "NEXUS_ST_CLIENT_SECRET, then run one sync to confirm",
                "high",
                "low",
                "low",
            )
        ]
    if kind == "st_unreachable":
        return [
            _action(
                "Let the next runs catch up once ServiceTitan answers",
                f"nexus sync --feed {_feed_of(producer)}",
                "ServiceTitan is unreachable or throttling; the feed resumes from its saved "
                "token, nothing is lost",
                "medium",
                "low",
                "low",
            )
        ]
    if kind == "producer_failing":
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


def _feed_of(producer: str | None) -> str:
    """invoice_sync → invoices."""
    return (producer or "job_sync").removesuffix("_sync") + "s"


def _action(do: str, command: str, why: str, impact: str, effort: str, risk: str) -> dict[str, Any]:
    return {
        "do": do,
        "command": command,
        "why": why,
        "impact": impact,
        "effort": effort,
        "risk": risk,
    }
