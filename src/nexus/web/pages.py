"""Every page of the dashboard, declared once: path, template, view, and what HTML adds.

`Site.serve` registers each declared page as HTML at its path and as JSON at
the path plus `.json`, both from the page's view (`nexus.web.views`). What
only people need, charts and hints, is added to the HTML by the page's
`extras`, from the very data the JSON twin serves (the proof page adds the
notification status too). Every page takes `?tenant=` when more than one
tenant is served.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nexus import times
from nexus.checks.alert import Alert
from nexus.notify.status import notify_status
from nexus.proof.model import Proof
from nexus.servicetitan.webhook_signature import SignatureScheme
from nexus.web import charts, views
from nexus.web.site import Asked, Page

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _alert_chart(alert: Alert) -> Any:
    m = alert.measurement
    if m.ci_low is not None and m.ci_high is not None and m.rate is not None:
        return charts.whisker(m.rate, m.ci_low, m.ci_high, alert.threshold, label=alert.label)
    if m.max_age_s:
        return charts.age_gauge(m.age_s, m.max_age_s, label=alert.label)
    return None


def proof_context(proof: Proof, expected_coverage: float) -> dict[str, Any]:
    """What the proof page shows besides the proof itself: grouped alerts and charts."""
    groups: list[dict[str, Any]] = [
        {"index": i, "cause": cause, "alerts": []} for i, cause in enumerate(proof.causes)
    ]
    loose: list[dict[str, Any]] = []
    for i, alert in enumerate(proof.alerts):
        group = alert.grouped_under
        view = {
            "index": i,
            "alert": alert,
            "chart": _alert_chart(alert),
            "show_cause": group is None,
        }
        if group is not None and 0 <= group < len(groups):
            groups[group]["alerts"].append(view)
        else:
            loose.append(view)
    loose.sort(key=lambda v: SEVERITY_ORDER.get(v["alert"].severity, 3))
    days = [
        charts.DayBar(d.day.isoformat(), d.completed, d.with_total, d.rate, d.ci_low, d.ci_high)
        for d in proof.coverage_by_day
    ]
    weeks = [
        charts.WeekBars(w.week, w.mirror, w.reference, w.capture, w.provisional)
        for w in proof.revenue.weeks
    ]
    for shown in groups:
        # The cause's primary check leads; the other alerts are its symptoms, shown quietly.
        primary = shown["cause"].primary
        ordered = sorted(
            shown["alerts"],
            key=lambda v: (v["alert"].check != primary, SEVERITY_ORDER.get(v["alert"].severity, 3)),
        )
        shown["lead"], shown["more"] = (ordered[0], ordered[1:]) if ordered else (None, [])
    return {
        "groups": [g for g in groups if g["alerts"]],
        "loose": loose,
        "coverage_chart": charts.coverage_bars(days, expected_coverage),
        "revenue_chart": charts.revenue_bars(weeks, proof.revenue.reference or "reference"),
    }


def _proof_extras(asked: Asked, proof: Proof) -> dict[str, Any]:
    config = asked.config
    return {
        "timezone": config.tenant(asked.tenant).timezone,
        "notify": notify_status(asked.db, asked.tenant, proof.as_of),
        **proof_context(proof, 1 - config.checks.invoice_coverage.threshold),
    }


def _product_extras(asked: Asked, p: dict[str, Any]) -> dict[str, Any]:
    """The product's freshness over the week, and the interval of the check watching it."""
    zone = asked.config.zone(asked.tenant)
    events = [(datetime.fromisoformat(e["at"]), e["kind"]) for e in p["events"]]
    history = charts.freshness_history(
        [datetime.fromisoformat(s) for s in p["history"]["successes"]],
        datetime.fromisoformat(p["history"]["from"]),
        asked.now,
        p["max_age_s"],
        label=f"{p['product']} freshness",
        zone=zone,
        markers=[(at, f"{kind} ({times.exact(at, zone)})") for at, kind in events],
    )
    coverage = next((c for c in p["checks"] if c["check"] == "invoice_coverage"), None)
    coverage_chart = (
        charts.whisker(
            coverage["rate"],
            coverage["ci_low"],
            coverage["ci_high"],
            coverage["threshold"],
            label="completed jobs without an invoice total",
        )
        if coverage
        else None
    )
    return {"history_chart": history, "coverage_chart": coverage_chart}


def _webhooks_extras(asked: Asked, _: dict[str, Any]) -> dict[str, Any]:
    """How deliveries must be signed, for whoever sets up ServiceTitan's side."""
    return {"scheme": SignatureScheme.from_settings(asked.site.settings)}


#: The pages, each served as HTML at `path` and as JSON at `path` + `.json`.
PAGES: tuple[Page[Any], ...] = (
    Page(
        "/proof",
        "proof.html",
        views.proof,
        "the Evolution Proof",
        name="proof",
        extras=_proof_extras,
        aliases=("/",),
    ),
    Page("/producers", "producers.html", views.producers, "producers and vitals", name="report"),
    Page("/producers/{name}", "producer.html", views.producer, "runs, schedule, products", "p"),
    Page("/products", "products.html", views.products, "data products"),
    Page(
        "/products/{name}",
        "product.html",
        views.product,
        "freshness history, checks",
        name="p",
        extras=_product_extras,
    ),
    Page("/timeline", "timeline.html", views.timeline, "events (?producer=, ?kind=)"),
    Page(
        "/webhooks",
        "webhooks.html",
        views.webhooks,
        "accepted webhook hints",
        extras=_webhooks_extras,
    ),
)
