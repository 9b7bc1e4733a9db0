"""The pages and their JSON twins, against a replayed incident and a hand-made failing producer."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from nexus.clock import VirtualClock
from nexus.proof.service import current_proof
from nexus.registry.config import Config
from nexus.registry.producers import producers_report
from nexus.registry.run_ledger import finish_run, start_run
from nexus.servicetitan.errors import AuthError
from nexus.store.database import Database
from nexus.sync.recorded_run import describe_error, error_kind
from nexus.web import create_app
from nexus.web.pages import PAGES
from webkit import BEARER, TENANT, Replayed, shown_at, web_settings

ROOT = Path(__file__).parents[2]
SCHEMA = json.loads((ROOT / "src/nexus/proof/proof.schema.json").read_text())


def as_json(data: Any) -> Any:
    """What a dict looks like after a trip through JSON (dates as strings)."""
    return json.loads(json.dumps(data, default=str))


def test_proof_json_is_the_cli_proof_and_follows_the_schema(
    web: TestClient, replayed: Replayed
) -> None:
    served = web.get("/proof.json", headers=BEARER)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    proof = served.json()
    jsonschema.validate(proof, SCHEMA, format_checker=jsonschema.FormatChecker())
    expected = current_proof(replayed.db, Config(), TENANT, VirtualClock(replayed.until)).to_json()
    assert proof == as_json(expected)
    assert proof["verdict"] == "critical"


def test_producers_json_is_the_cli_producers_list(web: TestClient, replayed: Replayed) -> None:
    served = web.get("/producers.json", headers=BEARER).json()
    assert served == as_json(producers_report(replayed.db, Config(), TENANT, replayed.until))


def test_the_proof_page_opens_with_verdict_story_and_actions(web: TestClient) -> None:
    page = web.get("/", headers=BEARER).text
    verdict = page.index('id="verdict"')
    actions = page.index('id="actions"')
    vitals = page.index('id="vitals"')
    alerts = page.index('id="alerts"')
    assert verdict < actions < vitals < alerts
    head = page[verdict:actions]
    assert "critical" in head
    assert "ST mirror invoice coverage gap is critical" in head
    assert "nexus producers restore invoice_sync" in page[actions:vitals]
    # Vitals carry each producer's last heartbeat.
    assert re.search(r'<time datetime="2026-04-06T02:\d\d', page[vitals:alerts])


def test_alerts_show_n_rate_interval_questions_and_cause_evidence(
    web: TestClient, replayed: Replayed
) -> None:
    page = web.get("/", headers=BEARER).text
    coverage = next(a for a in replayed.proof["alerts"] if a["check"] == "invoice_coverage")
    m = coverage["measurement"]
    assert "ST mirror invoice coverage gap" in page
    assert f"n = {m['n']}" in page
    assert f"{round(m['rate'] * 100)} %" in page
    assert page.count('class="chart whisker-chart"') >= 1
    assert 'class="thr"' in page
    for question in (
        "Is the database itself stale?",
        "Is the sample big enough?",
        "Does the label name the cause?",
    ):
        assert question in page
    assert "Probable cause: producer retired" in page
    assert 'href="/producers/invoice_sync"' in page
    assert f'href="/timeline#event-{coverage["probable_cause"]["event_id"]}"' in page
    # Symptoms of the same cause sit under it rather than beside it.
    assert "more symptom(s) of the same cause" in page


def test_the_proof_page_draws_coverage_revenue_orphans_and_timeline(web: TestClient) -> None:
    page = web.get("/", headers=BEARER).text
    assert 'class="chart coverage-chart"' in page
    assert page.count('class="interval"') >= 3
    assert 'class="chart revenue-chart"' in page
    assert "sales ledger" in page
    assert "% = capture" in page
    orphans = page[page.index('id="orphans"') :]
    assert "titan.jobs.invoice_total" in orphans and "producer retired" in orphans
    timeline = page[page.index('id="timeline"') :]
    assert "producer retired forced" in timeline and "bulk write refused" in timeline


#: Anything a browser would fetch from elsewhere: a scheme, a scheme-relative URL, an import.
OUTSIDE = re.compile(
    r"https?://|(src|href|action|srcset|poster|data)=[\"']?//|url\(\s*[\"']?//|@import"
)


def test_pages_load_nothing_from_anywhere_and_run_no_script(web: TestClient) -> None:
    declared = [path for page in PAGES for path in shown_at(page)]
    errors = ["/producers/nope", "/products/nope?tenant=999"]
    assert {"/", "/producers/invoice_sync", "/products/titan.jobs.invoice_total"} <= set(declared)
    for path in (*declared, *errors, "/login"):
        served = web.get(
            path, headers={} if path == "/login" else {**BEARER, "Accept": "text/html"}
        )
        page = served.text
        assert served.headers["content-type"].startswith("text/html"), path
        assert "<script" not in page.lower(), path
        outside = OUTSIDE.search(page)
        assert outside is None, (path, page[max(outside.start() - 80, 0) : outside.end() + 80])
        assert 'name="viewport"' in page
        csp = served.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp, path


def test_the_producer_page_shows_schedule_products_runs_and_events(web: TestClient) -> None:
    page = web.get("/producers/invoice_sync", headers=BEARER).text
    assert "Retired" in page and "nexus producers restore invoice_sync" in page
    assert "every" in page and "15m" in page
    assert "titan.jobs.invoice_total" in page
    assert re.search(r'<tr id="run-\d+">', page)
    assert "producer retired forced" in page
    data = web.get("/producers/invoice_sync.json", headers=BEARER).json()
    assert data["status"] == "retired"
    assert data["schedule"]["every"] == "15m"
    assert data["runs"] and all(f'id="run-{r["id"]}"' in page for r in data["runs"])
    assert data["run_counts"]["runs"] >= len(data["runs"])


def test_the_product_page_shows_owner_freshness_history_and_checks(web: TestClient) -> None:
    page = web.get("/products/titan.jobs.invoice_total", headers=BEARER).text
    assert 'class="chart freshness-chart"' in page
    assert "Orphaned since" in page
    assert "invoice_coverage" in page and "revenue_capture" in page
    data = web.get("/products/titan.jobs.invoice_total.json", headers=BEARER).json()
    assert data["owner"] == "invoice_sync" and data["owner_status"] == "retired"
    assert data["fresh"] is False
    assert data["history"]["stale_gaps"]
    coverage = next(c for c in data["checks"] if c["check"] == "invoice_coverage")
    assert coverage["severity"] == "critical" and coverage["n"] >= 20
    jobs = web.get("/products/titan.jobs.json", headers=BEARER).json()
    assert {c["check"] for c in jobs["checks"]} >= {"freshness", "volume"}


def test_timeline_anchors_every_event_and_filters(web: TestClient, replayed: Replayed) -> None:
    page = web.get("/timeline", headers=BEARER).text
    data = web.get("/timeline.json", headers=BEARER).json()
    assert data["events"]
    for event in data["events"]:
        assert f'id="event-{event["id"]}"' in page
    only = web.get("/timeline.json?kind=bulk_write_refused", headers=BEARER).json()
    assert [e["kind"] for e in only["events"]] == ["bulk_write_refused"]
    assert '<label for="f-producer">' in page and '<select id="f-producer"' in page


def test_unknown_names_and_tenants_are_404(web: TestClient) -> None:
    assert web.get("/producers/nope.json", headers=BEARER).status_code == 404
    r = web.get("/products/nope", headers={**BEARER, "Accept": "text/html"})
    assert r.status_code == 404 and "no product named" in r.text
    assert web.get("/proof.json?tenant=999", headers=BEARER).status_code == 404
    assert web.get("/proof.json?tenant=abc", headers=BEARER).status_code == 404


def test_webhooks_page_lists_no_hint_yet(web: TestClient) -> None:
    data = web.get("/webhooks.json", headers=BEARER).json()
    assert data["hints"] == [] and data["counts"]["refreshed"] == 0
    assert "No webhook accepted yet" in web.get("/webhooks", headers=BEARER).text


def test_healthz_is_open_and_says_whether_the_database_answers(web: TestClient) -> None:
    assert web.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_failed_runs_are_evidence_the_producer_page_anchors(db: Database) -> None:
    """A failing producer: the proof links its failed runs and each link lands on a row."""
    start = datetime(2026, 4, 6, 9, tzinfo=UTC)
    with db.connect(autocommit=True) as conn:
        ok = start_run(conn, TENANT, "job_sync", start)
        finish_run(conn, ok, start + timedelta(seconds=5))
        failed = []
        for i in range(3):
            at = start + timedelta(minutes=15 * (i + 1))
            run = start_run(conn, TENANT, "job_sync", at)
            refused = AuthError(
                "ST refused the token", tenant=TENANT, endpoint="POST /connect/token", status=401
            )
            finish_run(
                conn,
                run,
                at + timedelta(seconds=2),
                error=describe_error(refused),
                error_kind=error_kind(refused),
            )
            failed.append(run.id)
    app = create_app(
        web_settings(), Config(), db, VirtualClock(start + timedelta(hours=3)), tenants=[TENANT]
    )
    with TestClient(app) as web:
        proof = web.get("/proof.json", headers=BEARER).json()
        links = [
            href
            for alert in proof["alerts"]
            for name, href in alert["probable_cause"]["links"].items()
            if name.startswith("run ")
        ]
        assert links, proof["alerts"]
        page = web.get("/", headers=BEARER).text
        producer = web.get("/producers/job_sync", headers=BEARER).text
        for href in links:
            assert f'href="{href}"' in page
            path, _, anchor = href.partition("#")
            assert path == "/producers/job_sync"
            assert f'<tr id="{anchor}">' in producer
        assert "ST refused the token" in producer
        assert "ServiceTitan refuses the credentials" in page


@pytest.mark.parametrize("tenant_query", ["", "?tenant=1001"])
def test_several_tenants_keep_the_tenant_in_links(db: Database, tenant_query: str) -> None:
    app = create_app(
        web_settings(),
        Config(),
        db,
        VirtualClock(datetime(2026, 4, 6, tzinfo=UTC)),
        tenants=[1001, 2002],
    )
    with TestClient(app) as web:
        page = web.get("/producers?tenant=2002", headers=BEARER).text
        assert 'href="/producers/job_sync?tenant=2002"' in page
        assert web.get(f"/proof.json{tenant_query}", headers=BEARER).json()["tenant"] == 1001
        assert web.get("/proof.json?tenant=2002", headers=BEARER).json()["tenant"] == 2002
