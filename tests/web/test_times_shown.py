"""Times on the dashboard and in the terminal proof read as people read them, exact on demand.

The replayed tenant lives in America/Chicago: pages and the terminal say how
long ago a run was and the wall clock there; the page's `<time>` carries the
instant and the exact time as its hover title; the JSON keeps ISO instants.
The sentences the proof writes name their moments on that clock too.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from rich.console import Console

from nexus import times
from nexus.proof.model import Proof
from nexus.proof.render import render
from nexus.sync.source_check import source_checks
from wallclock import exact, wall
from webkit import BEARER, Replayed

CHICAGO = ZoneInfo("America/Chicago")


def _proof(replayed: Replayed) -> Proof:
    return Proof.model_validate(replayed.proof)


def test_vitals_on_the_page_say_how_long_ago_with_the_exact_time_on_hover(
    web: TestClient, replayed: Replayed
) -> None:
    proof = _proof(replayed)
    page = web.get("/", headers=BEARER).text
    vitals = page[page.index('id="vitals"') : page.index('id="alerts"')]
    shown = [v for v in proof.vitals if v.last_success is not None]
    assert shown
    for v in shown:
        assert v.last_success is not None
        tag = (
            f'<time datetime="{v.last_success.isoformat()}" '
            f'title="{times.exact(v.last_success, CHICAGO)}">'
            f"{times.ago(v.last_success, proof.as_of)}</time>"
        )
        assert tag in vitals
        assert html.escape(times.local(v.last_success, CHICAGO)) in vitals
    # Every time on the page carries its exact instant on hover, none is bare ISO text.
    tags = re.findall(r"<time [^>]*>", page)
    assert tags and all('datetime="' in t and 'title="' in t for t in tags)
    assert "+00:00<" not in page and "+00:00 " not in page


def test_the_json_twin_keeps_exact_iso_instants(web: TestClient) -> None:
    served = web.get("/proof.json", headers=BEARER).json()
    assert served["timezone"] == "America/Chicago"
    assert datetime.fromisoformat(served["as_of"]).utcoffset() is not None
    for vital in served["vitals"]:
        if vital["last_success"] is not None:
            assert datetime.fromisoformat(vital["last_success"]).utcoffset() is not None


def test_the_terminal_proof_says_how_long_ago_in_the_tenants_wall_clock(
    replayed: Replayed,
) -> None:
    proof = _proof(replayed)
    console = Console(record=True, width=240, color_system=None)
    render(proof, console)
    text = console.export_text()
    assert f"as of {times.local(proof.as_of, CHICAGO)} (America/Chicago)" in text
    assert times.local(proof.as_of, CHICAGO).endswith(" CDT")
    for v in proof.vitals:
        assert times.readable(v.last_success, proof.as_of, CHICAGO) in text
    for o in proof.orphans:
        assert times.readable(o.since, proof.as_of, CHICAGO, "unknown") in text
    assert not re.search(r"\d\d:\d\d:\d\d\.\d+\+00:00", text)
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text)


def test_the_proofs_sentences_name_their_moments_on_the_tenants_wall_clock(
    web: TestClient, replayed: Replayed
) -> None:
    proof = _proof(replayed)
    # invoice_sync was retired at Apr 01 00:00 UTC (scenario-web.yaml): the evening before
    # in Chicago, and that is the moment its evidence and the story name.
    retired = next(g for g in proof.causes if g.kind == "producer_retired")
    assert retired.since == datetime(2026, 4, 1, tzinfo=UTC)
    assert "invoice_sync was retired on Mar 31, 19:00 CDT" in retired.evidence
    assert any("orphaned since Mar 31, 19:00 CDT" in line for line in proof.story), proof.story
    assert not any(re.search(r"\d\d:\d\d UTC", line) for line in proof.story), proof.story
    # The last source check of jobs, in the proof and on the product's page alike.
    (asked,) = [
        f for f in proof.freshness if f.product == "titan.jobs" and f.measured_by == "source"
    ]
    with replayed.db.connect() as conn:
        check = source_checks(conn, replayed.tenant, replayed.until)["jobs"]
    when = f"when asked on {wall(check.checked_at, 'America/Chicago')} (run {check.run_id})"
    assert asked.detail.endswith(when), asked.detail
    page = web.get("/products/titan.jobs", headers=BEARER).text
    assert asked.detail in html.unescape(page)


def test_the_freshness_chart_reads_its_axis_and_events_on_the_tenants_wall_clock(
    web: TestClient,
) -> None:
    path = "/products/titan.jobs.invoice_total"
    data = web.get(f"{path}.json", headers=BEARER).json()
    page = web.get(path, headers=BEARER).text
    chart = page[page.index('class="chart freshness-chart"') :]
    chart = html.unescape(chart[: chart.index("</svg>")])
    start, now = (datetime.fromisoformat(data["history"][k]) for k in ("from", "to"))
    ticks = re.findall(r'class="tick-label"[^>]*>([^<]*)<', chart)
    assert wall(start, "America/Chicago") in ticks and wall(now, "America/Chicago") in ticks
    # Each event on the chart names its kind and its exact moment on hover.
    shown = [e for e in data["events"] if start <= datetime.fromisoformat(e["at"]) <= now]
    assert shown
    titles = re.findall(r'class="marker"[^>]*><title>([^<]*)</title>', chart)
    expected = [
        f"{e['kind']} ({exact(datetime.fromisoformat(e['at']), 'America/Chicago')})" for e in shown
    ]
    assert sorted(titles) == sorted(expected)
    assert "+00:00" not in chart
