"""The dashboard, its JSON twin, the webhook endpoint and /metrics, as one FastAPI app.

Routes (every one needs access except /healthz, the login form and the
HMAC-signed webhook endpoint; /metrics is open only with NEXUS_METRICS_OPEN):

    GET  /  and /proof          the Evolution Proof          /proof.json
    GET  /producers             producers and vitals         /producers.json
    GET  /producers/{name}      runs, schedule, products     /producers/{name}.json
    GET  /products              data products                /products.json
    GET  /products/{name}       freshness history, checks    /products/{name}.json
    GET  /timeline              events (?producer=, ?kind=)  /timeline.json
    GET  /webhooks              accepted webhook hints       /webhooks.json
    POST /webhooks/servicetitan/{tenant}
    GET  /metrics   GET /healthz   GET|POST /login   POST /logout

Every page takes `?tenant=` when more than one tenant is served. Handlers
only parse, call one function of `nexus.web.views` (or the proof service),
and render the result as HTML or JSON.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from nexus.checks.alert import Alert
from nexus.clock import Clock
from nexus.errors import (
    DatabaseError,
    DatabaseUnavailable,
    NexusError,
    RetriableDatabaseError,
    StatementTimeout,
)
from nexus.notify.status import notify_status
from nexus.proof.model import Proof
from nexus.proof.service import current_proof
from nexus.registry.config import Config
from nexus.servicetitan.webhook_signature import SignatureScheme
from nexus.settings import Settings
from nexus.store.database import Database
from nexus.sync.refresh import ClientFactory, IdSource, Refresher
from nexus.web import charts, views
from nexus.web.auth import SESSION_COOKIE, SESSION_TTL_S, LoginThrottle, safe_next
from nexus.web.metrics import NexusCollector, WebhookMetrics
from nexus.web.site import Site
from nexus.web.webhook_route import add_webhook_routes

log = logging.getLogger(__name__)

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def default_clients(settings: Settings) -> ClientFactory:
    """ServiceTitan clients from each tenant's NEXUS_ST_* credentials, made on first use."""

    def make(tenant: int) -> IdSource:
        from nexus.tenants import client_for, credentials_for

        return client_for(settings, credentials_for(tenant, settings))

    return make


def create_app(
    settings: Settings,
    config: Config,
    db: Database,
    clock: Clock,
    *,
    tenants: Sequence[int] | None = None,
    clients: ClientFactory | None = None,
) -> FastAPI:
    """Build the web app for `tenants` (default: those of nexus.toml, else NEXUS_ST_TENANT).

    `clients` gives the ServiceTitan client a webhook refresh reads through
    (default: from the environment's credentials, made when first needed).
    """
    if tenants is None:
        from nexus.tenants import tenant_ids

        tenants = tenant_ids(config, settings)
    if not tenants:
        raise ValueError("create_app needs at least one tenant")
    site = Site.build(settings, config, db, clock, list(tenants))
    registry = CollectorRegistry(auto_describe=False)
    hook_metrics = WebhookMetrics(registry)
    registry.register(NexusCollector(site))
    refresher = Refresher(
        db, clock, clients or default_clients(settings), on_done=hook_metrics.refreshed
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(refresher.start)
        try:
            yield
        finally:
            await run_in_threadpool(refresher.stop)
            connections.close()

    app = FastAPI(
        title="Nexus",
        summary="The Evolution Proof of a ServiceTitan mirror, its API, webhooks and metrics",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.site = site
    app.state.refresher = refresher
    app.state.registry = registry
    _gate(app, site)
    _errors(app, site)
    _database_errors(app, site)
    _login_routes(app, site)
    _page_routes(app, site)
    connections = add_webhook_routes(app, site, refresher, hook_metrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


# -- access ----------------------------------------------------------------------------------


def _is_open(site: Site, request: Request) -> bool:
    path, method = request.url.path, request.method
    if path in {"/healthz", "/login"}:
        return True
    if path == "/logout" and method == "POST":
        return True
    if path.startswith("/webhooks/servicetitan/") and method == "POST":
        return True  # signed with HMAC instead
    return path == "/metrics" and site.settings.metrics_open


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if request.method not in ("GET", "HEAD") or path.endswith(".json") or path == "/metrics":
        return False
    return "text/html" in request.headers.get("accept", "")


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _gate(app: FastAPI, site: Site) -> None:
    access = site.access

    @app.middleware("http")
    async def gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        user = access.session_user(request.cookies.get(SESSION_COOKIE))
        if user is None and access.bearer_ok(request.headers.get("authorization")):
            user = "token"
        request.state.user = user
        if user is None and not _is_open(site, request):
            response = _unauthenticated(request)
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", site.csp)
        # How long the server took, for people (browser dev tools) and benches alike.
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        if request.url.path != "/healthz":
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def _unauthenticated(request: Request) -> Response:
    """A person's browser goes to the login form; scripts and monitors get 401."""
    if _wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    response = Site.json(
        {
            "error": "authentication required: send `Authorization: Bearer <NEXUS_WEB_TOKEN>`"
            " or sign in at /login"
        },
        401,
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="nexus"'
    return response


def _login_routes(app: FastAPI, site: Site) -> None:
    access = site.access
    throttle = LoginThrottle()

    def page(request: Request, next_: str, message: str | None, status: int) -> Response:
        return site.render(
            request,
            "login.html",
            status=status,
            next=next_,
            message=message,
            configured=access.configured,
            has_password=access.has_password,
            has_token=access.token is not None,
        )

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        target = safe_next(next)
        if request.state.user is not None:
            return RedirectResponse(target, status_code=303)
        return page(request, target, None, 200)

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        user: str = Form(""),
        password: str = Form(""),
        token: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        target = safe_next(next)
        client = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(client)
        if wait:
            response = page(
                request, target, f"Too many failed sign-ins: try again in {wait} s.", 429
            )
            response.headers["Retry-After"] = str(wait)
            return response
        who = access.login_ok(user, password, token)
        if who is None:
            throttle.failed(client)
            log.warning("failed sign-in from %s", client)
            return page(request, target, "Wrong user name, password or token.", 401)
        throttle.succeeded(client)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            access.issue(who),
            max_age=SESSION_TTL_S,
            httponly=True,
            samesite="lax",
            # Secure when people reach the dashboard over https, even through a proxy.
            secure=(site.config.web.public_url or str(request.url)).startswith("https://"),
            path="/",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


# -- errors ------------------------------------------------------------------------------------


def _errors(app: FastAPI, site: Site) -> None:
    def answer(request: Request, status: int, title: str, message: str) -> Response:
        if _wants_html(request):
            return site.render(request, "error.html", status=status, title=title, message=message)
        return site.json({"error": message}, status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Sign in needed"}
        response = answer(
            request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return answer(request, 422, "Bad request", problems or "invalid request")

    @app.exception_handler(NexusError)
    async def nexus_error(request: Request, exc: NexusError) -> Response:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        return answer(request, 503, "Nexus cannot answer right now", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def starlette_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed"}
        return answer(
            request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)
        )


#: Seconds after which a page the database could not answer tries again (`Retry-After`).
DATABASE_RETRY_AFTER_S = 10


#: What a page says for each kind of database failure, the first that matches: title, fix.
_DATABASE_TROUBLE: dict[type[DatabaseError], tuple[str, str]] = {
    DatabaseUnavailable: (
        "The database is unavailable",
        "Start the database server, or wait for its restart to finish; if it runs "
        "elsewhere, check NEXUS_DATABASE_URL and the network to it.",
    ),
    StatementTimeout: (
        "The database took too long to answer",
        "Try again in a moment. If it keeps happening, raise statement_timeout for the role "
        "Nexus connects as, or find what the query waited for (pg_stat_activity, pg_locks).",
    ),
    RetriableDatabaseError: ("The database could not answer right now", "Try again in a moment."),
    DatabaseError: (
        "The database refused to answer this page",
        "Read the database's message above; it names what to change.",
    ),
}


def _database_errors(app: FastAPI, site: Site) -> None:
    """Answer 503 while the database is away: a page that says so and retries, or JSON.

    Every request opens its own connection, so the next one after the database is back
    simply works: nothing here needs resetting.
    """

    @app.exception_handler(DatabaseError)
    async def database_error(request: Request, exc: DatabaseError) -> Response:
        log.warning("%s %s: the database failed: %s", request.method, request.url.path, exc)
        passing = isinstance(exc, RetriableDatabaseError)
        where = site.db.safe_url
        title, fix = next(said for kind, said in _DATABASE_TROUBLE.items() if isinstance(exc, kind))
        retry_after = {"Retry-After": str(DATABASE_RETRY_AFTER_S)} if passing else {}
        if _wants_html(request):
            response: Response = site.render(
                request,
                "unavailable.html",
                status=503,
                title=title,
                message=str(exc),
                where=where,
                fix=fix,
                retry_after=DATABASE_RETRY_AFTER_S if passing else None,
            )
            if passing:  # browsers load the page again after this many seconds
                response.headers["Refresh"] = str(DATABASE_RETRY_AFTER_S)
        else:
            response = site.json(
                {
                    "error": f"{title.lower()}: {exc}",
                    "database": where,
                    "sqlstate": exc.sqlstate,
                    "fix": fix,
                    "retry_after_s": DATABASE_RETRY_AFTER_S if passing else None,
                },
                503,
            )
        response.headers.update(retry_after)
        return response


# -- pages -------------------------------------------------------------------------------------


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


def _page_routes(app: FastAPI, site: Site) -> None:
    db, config, clock = site.db, site.config, site.clock
    expected = 1 - config.checks.invoice_coverage.threshold

    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    def healthz() -> Response:
        try:
            db.ping()
        except NexusError as exc:
            return site.json({"status": "unavailable", "database": str(exc)}, 503)
        return site.json({"status": "ok", "database": "ok"})

    def proof_of(request: Request) -> tuple[int, Proof]:
        tenant = site.tenant_of(request)
        return tenant, current_proof(db, config, tenant, clock)

    @app.get("/proof.json")
    def proof_json(request: Request) -> Response:
        return site.json(proof_of(request)[1].to_json())

    @app.get("/", include_in_schema=False)
    @app.get("/proof")
    def proof_page(request: Request) -> Response:
        tenant, proof = proof_of(request)
        return site.render(
            request,
            "proof.html",
            tenant=tenant,
            now=proof.as_of,
            proof=proof,
            timezone=config.tenant(tenant).timezone,
            notify=notify_status(db, tenant, proof.as_of),
            **proof_context(proof, expected),
        )

    @app.get("/producers.json")
    def producers_json(request: Request) -> Response:
        tenant = site.tenant_of(request)
        return site.json(views.producers_list(db, config, tenant, clock.now()))

    @app.get("/producers")
    def producers_page(request: Request) -> Response:
        tenant, now = site.tenant_of(request), clock.now()
        report = views.producers_list(db, config, tenant, now)
        return site.render(request, "producers.html", tenant=tenant, now=now, report=report)

    def producer_of(request: Request, name: str) -> tuple[int, Any, dict[str, Any]]:
        tenant, now = site.tenant_of(request), clock.now()
        found = views.producer_detail(db, config, tenant, name, now)
        if found is None:
            known = ", ".join(config.producers) or "none"
            raise HTTPException(404, f"no producer named '{name}' (declared: {known})")
        return tenant, now, found

    @app.get("/producers/{name}.json")
    def producer_json(request: Request, name: str) -> Response:
        return site.json(producer_of(request, name)[2])

    @app.get("/producers/{name}")
    def producer_page(request: Request, name: str) -> Response:
        tenant, now, found = producer_of(request, name)
        return site.render(request, "producer.html", tenant=tenant, now=now, p=found)

    @app.get("/products.json")
    def products_json(request: Request) -> Response:
        tenant = site.tenant_of(request)
        return site.json(views.products_list(db, config, tenant, clock.now()))

    @app.get("/products")
    def products_page(request: Request) -> Response:
        tenant, now = site.tenant_of(request), clock.now()
        data = views.products_list(db, config, tenant, now)
        return site.render(request, "products.html", tenant=tenant, now=now, data=data)

    def product_of(request: Request, name: str) -> tuple[int, Any, dict[str, Any]]:
        tenant, now = site.tenant_of(request), clock.now()
        found = views.product_detail(db, config, tenant, name, now)
        if found is None:
            known = ", ".join(p.name for p in config.products) or "none"
            raise HTTPException(404, f"no product named '{name}' (declared: {known})")
        return tenant, now, found

    def product_html(request: Request, name: str) -> Response:
        tenant, now, p = product_of(request, name)
        start = datetime.fromisoformat(p["history"]["from"])
        history = charts.freshness_history(
            [datetime.fromisoformat(s) for s in p["history"]["successes"]],
            start,
            now,
            p["max_age_s"],
            label=f"{name} freshness",
            markers=[
                (datetime.fromisoformat(e["at"]), f"{e['kind']} ({e['at']})") for e in p["events"]
            ],
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
        return site.render(
            request,
            "product.html",
            tenant=tenant,
            now=now,
            p=p,
            history_chart=history,
            coverage_chart=coverage_chart,
        )

    @app.get("/products/{name}.json")
    def product_json(request: Request, name: str) -> Response:
        # A file product may itself end in .json (st_jobs_cache.json): its page wins.
        if config.product(name) is None and config.product(f"{name}.json") is not None:
            return product_html(request, f"{name}.json")
        return site.json(product_of(request, name)[2])

    @app.get("/products/{name}")
    def product_page(request: Request, name: str) -> Response:
        return product_html(request, name)

    @app.get("/timeline.json")
    def timeline_json(request: Request, producer: str = "", kind: str = "") -> Response:
        tenant = site.tenant_of(request)
        return site.json(views.timeline(db, tenant, clock.now(), producer, kind))

    @app.get("/timeline")
    def timeline_page(request: Request, producer: str = "", kind: str = "") -> Response:
        tenant, now = site.tenant_of(request), clock.now()
        data = views.timeline(db, tenant, now, producer, kind)
        return site.render(request, "timeline.html", tenant=tenant, now=now, data=data)

    @app.get("/webhooks.json")
    def webhooks_json(request: Request) -> Response:
        tenant = site.tenant_of(request)
        return site.json(views.webhook_hints(db, tenant, clock.now()))

    @app.get("/webhooks")
    def webhooks_page(request: Request) -> Response:
        tenant, now = site.tenant_of(request), clock.now()
        data = views.webhook_hints(db, tenant, now)
        scheme = SignatureScheme.from_settings(site.settings)
        return site.render(
            request, "webhooks.html", tenant=tenant, now=now, data=data, scheme=scheme
        )
