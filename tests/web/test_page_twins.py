"""Every declared page is served twice from its one view: as HTML and as its `.json` twin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from nexus.clock import VirtualClock
from nexus.registry.config import default_config_text, parse_config
from nexus.store.database import Database
from nexus.web import create_app
from nexus.web.pages import PAGES
from nexus.web.site import Asked, NotFound, Page, Site
from webkit import BEARER, PAGE_EXAMPLES, PASSWORD, TENANT, USER, shown_at, web_settings

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}


def as_json(data: Any) -> Any:
    """The data as the twin serves it: a pydantic model as its JSON dump, dates as strings."""
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    return json.loads(json.dumps(data, default=str))


@pytest.fixture
def signed_in(app: FastAPI) -> Iterator[TestClient]:
    """A person signed in through the login form: the session cookie opens every page."""
    with TestClient(app, follow_redirects=False) as person:
        assert person.post("/login", data={"user": USER, "password": PASSWORD}).status_code == 303
        yield person


def test_every_page_is_registered_with_its_twin_and_nothing_else_by_hand(app: FastAPI) -> None:
    routes = [r for r in app.routes if isinstance(r, APIRoute) and "GET" in r.methods]
    gets = {r.path for r in routes}
    declared = {p for page in PAGES for p in (page.path, page.twin, *page.aliases)}
    assert declared <= gets
    shows = {page.shows for page in PAGES}
    assert {r.summary for r in routes if r.path in declared} == shows
    assert gets - declared == {"/healthz", "/login", "/metrics"}
    assert len({page.path for page in PAGES}) == len(PAGES)


@pytest.mark.parametrize("page", PAGES, ids=[p.path for p in PAGES])
def test_a_signed_in_person_reads_the_page_and_its_twin_from_the_one_view(
    app: FastAPI, signed_in: TestClient, page: Page[Any]
) -> None:
    path, *aliases = shown_at(page)
    site: Site = app.state.site
    for shown in (path, *aliases):
        html = signed_in.get(shown, headers=HTML)
        assert html.status_code == 200, (shown, html.text[:300])
        assert html.headers["content-type"].startswith("text/html")
        assert html.headers["Content-Security-Policy"] == site.csp
        assert "<h1" in html.text and 'name="viewport"' in html.text
    twin = signed_in.get(f"{path}.json")
    assert twin.status_code == 200, twin.text[:300]
    assert twin.headers["content-type"].startswith("application/json")
    assert twin.headers["Content-Security-Policy"] == site.csp
    assert twin.headers["Cache-Control"] == "no-store"
    # The twin is what the view returns, as of the same moment (the replay's end).
    params = {page.name_param: PAGE_EXAMPLES[page.path]} if page.name_param else {}
    viewed = page.view(Asked(site, TENANT, site.clock.now()), **params)
    assert twin.json() == as_json(viewed)


@pytest.mark.parametrize("page", PAGES, ids=[p.path for p in PAGES])
def test_without_signing_in_a_browser_is_sent_to_log_in_and_a_script_refused(
    web: TestClient, page: Page[Any]
) -> None:
    path, *aliases = shown_at(page)
    for shown in (path, *aliases):
        sent = web.get(f"{shown}?tenant={TENANT}", headers=HTML)
        assert sent.status_code == 303
        assert sent.headers["location"] == "/login?next=" + quote(
            f"{shown}?tenant={TENANT}", safe=""
        )
        assert "Content-Security-Policy" in sent.headers
    for headers in (HTML, JSON):
        refused = web.get(f"{path}.json", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="nexus"'
        assert "sign in at /login" in refused.json()["error"]
        assert "Content-Security-Policy" in refused.headers


# -- the helper on a page of its own ---------------------------------------------------------

KNOWN = {"ab", "cache.json"}


def shout(asked: Asked, word: str, times: int = 1) -> dict[str, Any]:
    """A word, repeated: a page with a path parameter, a typed query parameter and a 404."""
    if word not in KNOWN:
        raise NotFound(f"no word '{word}' (known: {', '.join(sorted(KNOWN))})")
    return {"tenant": asked.tenant, "as_of": asked.now, "word": word * times}


SHOUT = Page(
    "/shout/{word}",
    "error.html",
    shout,
    "a word, repeated",
    name="said",
    extras=lambda _asked, said: {"title": said["word"], "message": "said"},
)


@pytest.fixture
def shouting(db: Database) -> Iterator[TestClient]:
    now = datetime(2026, 4, 6, tzinfo=UTC)
    app = create_app(web_settings(), parse_config(default_config_text()), db, VirtualClock(now))
    app.state.site.serve(app, SHOUT)
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_the_helper_parses_the_views_parameters_for_both_twins(shouting: TestClient) -> None:
    data = shouting.get("/shout/ab.json?times=3", headers=BEARER).json()
    assert data == {"tenant": TENANT, "as_of": "2026-04-06T00:00:00+00:00", "word": "ababab"}
    page = shouting.get("/shout/ab?times=2", headers={**BEARER, **HTML})
    assert page.status_code == 200 and "<h1>abab</h1>" in page.text
    refused = shouting.get("/shout/ab.json?times=many", headers=BEARER)
    assert refused.status_code == 422
    assert refused.json()["error"].startswith("query.times: ")


def test_a_name_the_view_does_not_know_is_a_404_naming_what_there_is(
    shouting: TestClient,
) -> None:
    for path, word in (("/shout/zz.json", "zz"), ("/shout/zz.json.json", "zz.json")):
        missing = shouting.get(path, headers=BEARER)
        assert missing.status_code == 404
        assert missing.json() == {"error": f"no word '{word}' (known: ab, cache.json)"}
    page = shouting.get("/shout/zz", headers={**BEARER, **HTML})
    assert page.status_code == 404 and "no word &#39;zz&#39;" in page.text


def test_a_name_ending_in_json_is_that_things_page_and_its_twin_adds_json(
    shouting: TestClient,
) -> None:
    page = shouting.get("/shout/cache.json", headers=BEARER)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>cache.json</h1>" in page.text
    twin = shouting.get("/shout/cache.json.json", headers=BEARER)
    assert twin.json()["word"] == "cache.json"


def test_a_file_product_named_like_json_keeps_its_page_and_twin(db: Database) -> None:
    config = parse_config(
        default_config_text() + '\n[[products]]\nname = "st_jobs_cache.json"\nkind = "file"\n'
        'owner = "jobs_cache_export"\nmax_age = "1h"\npath = "st_jobs_cache.json"\n'
    )
    app = create_app(web_settings(), config, db, VirtualClock(datetime(2026, 4, 6, tzinfo=UTC)))
    with TestClient(app) as client:
        page = client.get("/products/st_jobs_cache.json", headers=BEARER)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "st_jobs_cache.json" in page.text
        twin = client.get("/products/st_jobs_cache.json.json", headers=BEARER).json()
        assert twin["product"] == "st_jobs_cache.json" and twin["kind"] == "file"
