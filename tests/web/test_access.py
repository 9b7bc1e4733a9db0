"""Access: every route but /healthz needs the token or a session, and refusals change nothing."""

from __future__ import annotations

import re
import time

import pytest
from dbstate import fingerprint
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from nexus.errors import ConfigError
from nexus.web.auth import SESSION_COOKIE, Access, LoginThrottle, safe_next
from nexus.web.serve import check_bind, is_loopback, with_access
from webkit import BEARER, PASSWORD, TOKEN, USER, Replayed, replay_app, web_settings

OPEN = {"/healthz", "/login", "/logout"}
EXAMPLES = {"name": "invoice_sync", "tenant": "1001"}


def protected_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of the app except the open ones, with example params."""
    found = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path in OPEN:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: EXAMPLES[m.group(1)], route.path)
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, path))
    return found


def test_the_app_has_the_routes_the_dashboard_promises(app: FastAPI) -> None:
    routes = set(protected_routes(app))
    for path in (
        "/",
        "/proof",
        "/proof.json",
        "/producers",
        "/producers.json",
        "/producers/invoice_sync",
        "/producers/invoice_sync.json",
        "/products",
        "/products.json",
        "/timeline",
        "/timeline.json",
        "/webhooks",
        "/webhooks.json",
        "/metrics",
    ):
        assert ("GET", path) in routes
    assert ("POST", "/webhooks/servicetitan/1001") in routes


def test_every_route_but_healthz_refuses_anonymous_requests_and_changes_nothing(
    app: FastAPI, web: TestClient, replayed: Replayed
) -> None:
    before = fingerprint(replayed.db)
    routes = protected_routes(app)
    assert len(routes) >= 15
    for method, path in routes:
        # A script (JSON) gets 401 with a Bearer challenge ...
        r = web.request(method, path, headers={"Accept": "application/json"})
        assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
        if not path.startswith("/webhooks/servicetitan/"):
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        # ... a person's browser is sent to the login form, coming back afterwards.
        r = web.request(method, path, headers={"Accept": "text/html"})
        if method == "GET" and not path.endswith(".json") and path != "/metrics":
            assert r.status_code == 303, (method, path)
            assert r.headers["location"].startswith("/login?next=")
        else:
            assert r.status_code == 401, (method, path, r.status_code)
    # Unknown paths do not reveal themselves either.
    assert web.get("/no-such-page").status_code == 401
    assert web.get("/healthz").status_code == 200
    assert fingerprint(replayed.db) == before


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer " + "A" * 500,
    ],
)
def test_a_wrong_bearer_token_is_refused(web: TestClient, header: str) -> None:
    assert web.get("/proof.json", headers={"Authorization": header}).status_code == 401


def test_the_bearer_token_opens_pages_and_json(web: TestClient) -> None:
    assert web.get("/proof.json", headers=BEARER).status_code == 200
    assert web.get("/", headers=BEARER).status_code == 200
    assert web.get("/proof.json", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def login(web: TestClient, **form: str) -> object:
    return web.post("/login", data=form)


def test_logging_in_sets_a_signed_session_that_opens_the_dashboard(web: TestClient) -> None:
    page = web.get("/login?next=/producers")
    assert page.status_code == 200
    assert 'for="user"' in page.text and 'for="password"' in page.text
    r = web.post("/login", data={"user": USER, "password": PASSWORD, "next": "/producers"})
    assert r.status_code == 303
    assert r.headers["location"] == "/producers"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert web.get("/producers").status_code == 200
    assert web.get("/proof.json").status_code == 200
    # Signing out ends the session.
    assert web.post("/logout").status_code == 303
    assert web.get("/proof.json").status_code == 401


def test_the_token_also_works_in_the_login_form(web: TestClient) -> None:
    r = web.post("/login", data={"token": TOKEN})
    assert r.status_code == 303
    assert web.get("/proof.json").status_code == 200


@pytest.mark.parametrize(
    "form",
    [
        {"user": USER, "password": PASSWORD + "!"},
        {"user": USER + "x", "password": PASSWORD},
        {"user": "", "password": ""},
        {"token": TOKEN + "x"},
        {"user": USER, "password": "", "token": ""},
    ],
)
def test_wrong_credentials_are_refused_and_change_nothing(
    web: TestClient, replayed: Replayed, form: dict[str, str]
) -> None:
    before = fingerprint(replayed.db)
    r = web.post("/login", data=form)
    assert r.status_code == 401
    assert "Wrong user name, password or token" in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert web.get("/proof.json").status_code == 401
    assert fingerprint(replayed.db) == before


def test_a_tampered_or_foreign_session_cookie_is_refused(
    web: TestClient, replayed: Replayed
) -> None:
    good = Access(web_settings()).issue(USER)
    payload, _, signature = good.partition(".")
    forged = Access(web_settings(web_password=None, web_token=None, web_user=None)).issue(USER)
    other = Access(web_settings(web_token="another-token")).issue(USER)
    for cookie in (
        f"{payload}.{'0' * len(signature)}",
        f"{payload}x.{signature}",
        payload,
        forged,
        other,
        "garbage",
    ):
        web.cookies.set(SESSION_COOKIE, cookie)
        assert web.get("/proof.json").status_code == 401, cookie
    web.cookies.set(SESSION_COOKIE, good)
    assert web.get("/proof.json").status_code == 200


def test_sessions_expire() -> None:
    now = [time.time()]
    access = Access(web_settings(), now=lambda: now[0])
    cookie = access.issue(USER)
    assert access.session_user(cookie) == USER
    now[0] += 13 * 3600
    assert access.session_user(cookie) is None


def test_login_redirects_only_within_the_site() -> None:
    assert safe_next("/producers/invoice_sync#run-3") == "/producers/invoice_sync#run-3"
    for target in ("//evil.example", "https://evil.example/", "/\\evil", "evil", "", None, "/\nx"):
        assert safe_next(target) == "/"


def test_the_login_form_slows_down_guessing(web: TestClient) -> None:
    for _ in range(10):
        assert web.post("/login", data={"user": USER, "password": "guess"}).status_code == 401
    r = web.post("/login", data={"user": USER, "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_the_throttle_forgets_after_its_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(failures=2, window_s=60, now=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.retry_after("a") > 0
    assert throttle.retry_after("b") == 0
    now[0] = 61
    assert throttle.retry_after("a") == 0


def test_metrics_need_the_token_unless_configured_open(replayed: Replayed) -> None:
    with TestClient(replay_app(replayed)) as closed:
        assert closed.get("/metrics").status_code == 401
        assert closed.get("/metrics", headers=BEARER).status_code == 200
    with TestClient(replay_app(replayed, metrics_open=True)) as opened:
        assert opened.get("/metrics").status_code == 200
        assert opened.get("/proof.json").status_code == 401


def test_without_credentials_nobody_gets_in(replayed: Replayed) -> None:
    app = replay_app(replayed, web_token=None, web_user=None, web_password=None)
    with TestClient(app, follow_redirects=False) as anonymous:
        assert anonymous.get("/proof.json").status_code == 401
        assert "No credentials are configured" in anonymous.get("/login").text
        assert anonymous.post("/login", data={"user": "", "password": ""}).status_code == 401


def test_responses_forbid_scripts_framing_and_outside_requests(web: TestClient) -> None:
    r = web.get("/", headers=BEARER)
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.5", "[::1]"])
def test_serving_on_loopback_needs_no_credentials(host: str) -> None:
    assert is_loopback(host)
    check_bind(web_settings(web_token=None, web_user=None, web_password=None), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "dashboard.example.com"])
def test_serve_refuses_other_addresses_without_credentials(host: str) -> None:
    bare = web_settings(web_token=None, web_user=None, web_password=None)
    with pytest.raises(ConfigError, match=r"refusing to serve on .* without credentials"):
        check_bind(bare, host)
    # A user without a password is not a credential either.
    with pytest.raises(ConfigError):
        check_bind(web_settings(web_token=None, web_password=None), host)
    check_bind(web_settings(), host)
    check_bind(web_settings(web_user=None, web_password=None), host)


def test_serving_on_loopback_without_credentials_makes_a_token_for_the_run() -> None:
    said: list[str] = []
    settings = with_access(
        web_settings(web_token=None, web_user=None, web_password=None), said.append
    )
    assert settings.web_token is not None
    token = settings.web_token.get_secret_value()
    assert len(token) >= 24 and said[-1].strip() == token
    configured = web_settings()
    assert with_access(configured, said.append) is configured
