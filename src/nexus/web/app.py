"""The dashboard, its JSON twin, the webhook endpoint and /metrics, as one FastAPI app.

Routes (every one needs access except /healthz, the login form and the
HMAC-signed webhook endpoint; /metrics is open only with NEXUS_METRICS_OPEN):

    GET  every page of `nexus.web.pages.PAGES` (/proof, /producers, /products/{name}, …)
         as HTML at its path and as JSON at its `.json` twin, both from the page's view
    POST /webhooks/servicetitan/{tenant}
    GET  /metrics   GET /healthz   GET|POST /login   POST /logout

Every page takes `?tenant=` when more than one tenant is served.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from urllib.parse import quote

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from nexus.clock import Clock
from nexus.errors import (
    DatabaseError,
    DatabaseUnavailable,
    NexusError,
    RetriableDatabaseError,
    StatementTimeout,
)
from nexus.registry.config import Config
from nexus.settings import Settings
from nexus.store.database import Database
from nexus.sync.refresh import ClientFactory, IdSource, Refresher
from nexus.web.auth import SESSION_COOKIE, SESSION_TTL_S, LoginThrottle, safe_next
from nexus.web.metrics import NexusCollector, WebhookMetrics
from nexus.web.pages import PAGES
from nexus.web.site import Site
from nexus.web.webhook_route import add_webhook_routes

log = logging.getLogger(__name__)


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


def _page_routes(app: FastAPI, site: Site) -> None:
    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    def healthz() -> Response:
        try:
            site.db.ping()
        except NexusError as exc:
            return site.json({"status": "unavailable", "database": str(exc)}, 503)
        return site.json({"status": "ok", "database": "ok"})

    for page in PAGES:
        site.serve(app, page)
