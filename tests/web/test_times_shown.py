"""Times on the dashboard and in the terminal proof read as people read them, exact on demand.

The replayed tenant lives in America/Chicago: pages and the terminal say how
long ago a run was and the wall clock there; the page's `<time>` carries the
instant and the exact time as its hover title; the JSON keeps ISO instants.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from rich.console import Console

from nexus import times
from nexus.proof.model import Proof
from nexus.proof.render import render
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
