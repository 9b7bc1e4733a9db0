"""What every page shares: configuration, templates, formatting, responses, and `Page`.

A page is declared once (`Page`: its path, template and view) and `Site.serve`
registers it twice, as HTML at its path and as its `.json` twin: both call the
one view, so what a person reads and what a monitor reads cannot drift apart.
Access, tenant selection, error pages and the security headers (CSP included)
are the app's, the same for every route.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import BaseModel

from nexus import times
from nexus.clock import Clock, fresh_now
from nexus.registry.config import Config
from nexus.settings import Settings
from nexus.store.database import Database
from nexus.web import charts
from nexus.web.auth import Access

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STYLESHEET = HERE / "static" / "nexus.css"

KIND_WORDS = {
    "producer_retired": "producer retired",
    "producer_stopped": "producer stopped",
    "producer_failing": "producer failing",
    "feed_stuck": "feed stuck",
    "st_auth_failing": "ServiceTitan refuses the credentials",
    "st_unreachable": "ServiceTitan unreachable",
    "writes_quarantined": "writes quarantined",
    "none_found": "no upstream cause found",
    "insufficient_data": "insufficient data",
    "never_ran": "never ran",
}


class JSONResponse(Response):
    """JSON as the CLI prints it (dates as ISO strings), encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str, option=orjson.OPT_INDENT_2)


class Formatter:
    """Times in the tenant's zone, relative to the proof's moment; numbers for people."""

    def __init__(self, zone: ZoneInfo, now: datetime, query: str) -> None:
        self.zone = zone
        self.now = now
        self.query = query

    @staticmethod
    def _parse(value: str | datetime | None) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None

    def _time(self, when: datetime, text: str) -> Markup:
        """`text` in a `<time>` whose datetime is the instant and whose title is the exact time."""
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            when.isoformat(), times.exact(when, self.zone), text
        )

    def when(self, value: str | datetime | None, missing: str = "never") -> Markup | str:
        """The tenant's wall clock ("Apr 17, 21:42 CDT"), the exact time on hover."""
        when = self._parse(value)
        return missing if when is None else self._time(when, times.local(when, self.zone))

    def iso(self, value: str | datetime | None) -> str:
        when = self._parse(value)
        return "" if when is None else when.isoformat()

    def ago(self, value: str | datetime | None) -> Markup | str:
        """How long before the page's moment ("12 min ago"), the exact time on hover."""
        when = self._parse(value)
        return "never" if when is None else self._time(when, times.ago(when, self.now))

    def url(self, path: str) -> str:
        """A link on this site, keeping the tenant being looked at."""
        if not self.query:
            return path
        base, hash_, fragment = path.partition("#")
        joiner = "&" if "?" in base else "?"
        return f"{base}{joiner}{self.query}{hash_}{fragment}"

    pct = staticmethod(charts.pct)
    dur = staticmethod(times.duration)
    money_short = staticmethod(charts.money_short)

    @staticmethod
    def money(value: float | None) -> str:
        return "—" if value is None else f"${value:,.0f}"

    @staticmethod
    def num(value: int | float | None) -> str:
        return "—" if value is None else f"{value:,}"

    @staticmethod
    def words(kind: str | None) -> str:
        if not kind:
            return "—"
        return KIND_WORDS.get(kind, kind.replace("_", " "))


@dataclass
class Site:
    settings: Settings
    config: Config
    db: Database
    clock: Clock
    tenants: list[int]
    access: Access
    env: jinja2.Environment
    css: Markup
    csp: str

    @classmethod
    def build(
        cls,
        settings: Settings,
        config: Config,
        db: Database,
        clock: Clock,
        tenants: list[int],
    ) -> Site:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(("html",)),
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        css = STYLESHEET.read_text(encoding="utf-8")
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        # No script at all, no request anywhere but here: the page cannot leak or load.
        csp = (
            "default-src 'none'; "
            f"style-src 'sha256-{digest}'; "
            "img-src 'self' data:; "
            "form-action 'self'; "
            "frame-ancestors 'none'; "
            "base-uri 'none'"
        )
        return cls(
            settings,
            config,
            db,
            clock,
            tenants,
            Access(settings),
            env,
            Markup(css),  # noqa: S704 - our own stylesheet, read from the package
            csp,
        )

    @property
    def default_tenant(self) -> int:
        return self.tenants[0]

    def tenant_of(self, request: Request) -> int:
        """The tenant a request is about: `?tenant=`, else the first one served."""
        given = request.query_params.get("tenant")
        if given is None or given == "":
            return self.default_tenant
        if not given.isdigit() or int(given) not in self.tenants:
            served = ", ".join(str(t) for t in self.tenants)
            raise HTTPException(404, f"tenant {given} is not served here (served: {served})")
        return int(given)

    def formatter(self, tenant: int, now: datetime) -> Formatter:
        zone = ZoneInfo(self.config.tenant(tenant).timezone)
        query = "" if tenant == self.default_tenant else urlencode({"tenant": tenant})
        return Formatter(zone, now, query)

    def render(
        self,
        request: Request,
        template: str,
        *,
        tenant: int | None = None,
        now: datetime | None = None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        tenant = self.default_tenant if tenant is None else tenant
        now = now or self.clock.now()
        page = self.env.get_template(template).render(
            css=self.css,
            tenant=tenant,
            tenants=self.tenants,
            fmt=self.formatter(tenant, now),
            path=request.url.path,
            user=getattr(request.state, "user", None),
            **context,
        )
        return HTMLResponse(page, status_code=status)

    @staticmethod
    def json(data: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(data, status_code=status)

    def asked(self, request: Request) -> Asked:
        """The tenant a page request is about, and its moment, asked afresh of the clock."""
        return Asked(self, self.tenant_of(request), fresh_now(self.clock))

    def serve(self, app: FastAPI, page: Page[Any]) -> None:
        """Register `page` as HTML at its path (and aliases) and as JSON at its `.json` twin.

        The twin is registered first: `/products/{name}` would take `/products/x.json` too.
        """
        app.add_api_route(
            page.twin,
            self._endpoint(page, self._twin),
            methods=["GET"],
            name=f"{page.path}.json",
            summary=page.shows,
            response_model=None,
        )
        for i, path in enumerate((page.path, *page.aliases)):
            app.add_api_route(
                path,
                self._endpoint(page, self._page),
                methods=["GET"],
                name=path,
                summary=page.shows,
                response_model=None,
                include_in_schema=i == 0,
            )

    def _page(self, request: Request, page: Page[Any], params: dict[str, Any]) -> Response:
        asked = self.asked(request)
        return self._html(request, page, asked, page.view(asked, **params))

    def _twin(self, request: Request, page: Page[Any], params: dict[str, Any]) -> Response:
        asked = self.asked(request)
        try:
            data = page.view(asked, **params)
        except NotFound:
            found = self._named_json(page, asked, params)
            if found is None:
                raise
            return self._html(request, page, asked, found)
        return self.json(data.model_dump(mode="json") if isinstance(data, BaseModel) else data)

    @staticmethod
    def _named_json(page: Page[Any], asked: Asked, params: dict[str, Any]) -> Any | None:
        """The data of a name that itself ends in .json, if there is such a name.

        A file product may be called `st_jobs_cache.json`: when nothing is called `x`
        but something is called `x.json`, `/products/x.json` is that thing's page.
        """
        name = page.name_param
        if name is None:
            return None
        try:
            return page.view(asked, **{**params, name: f"{params[name]}.json"})
        except NotFound:
            return None

    def _html(self, request: Request, page: Page[Any], asked: Asked, data: Any) -> HTMLResponse:
        extras = page.extras(asked, data) if page.extras else {}
        return self.render(
            request,
            page.template,
            tenant=asked.tenant,
            now=asked.now,
            **{page.name: data},
            **extras,
        )

    @staticmethod
    def _endpoint(
        page: Page[Any], answer: Callable[[Request, Page[Any], dict[str, Any]], Response]
    ) -> Callable[..., Response]:
        """A FastAPI endpoint taking the view's own parameters (path and query) by name."""

        def endpoint(request: Request, **params: Any) -> Response:
            return answer(request, page, params)

        # FastAPI reads the parameters to parse (and refuse with 422) from the signature.
        endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(
                    "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
                ),
                *page.params,
            ],
            return_annotation=Response,
        )
        return endpoint


@dataclass(frozen=True)
class Asked:
    """What a page is asked about: the tenant, and the one moment the page is read at."""

    site: Site
    tenant: int
    now: datetime

    @property
    def db(self) -> Database:
        return self.site.db

    @property
    def config(self) -> Config:
        return self.site.config


class NotFound(HTTPException):
    """Nothing by that name: a 404 whose message names what was asked and what there is."""

    def __init__(self, message: str) -> None:
        super().__init__(404, message)


Data = TypeVar("Data")

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Page(Generic[Data]):
    """One dashboard page, declared once; `Site.serve` registers its HTML and `.json` twin.

    `view(asked, **params)` returns the page's data; its parameters after `asked` are the
    path's `{names}` and the query's (FastAPI parses both from the signature). The twin
    answers that data as JSON (a pydantic model as its JSON dump); the HTML page renders
    it into `template` as `name`, with what `extras(asked, data)` adds for people, such
    as charts. A view raises `NotFound` for a name that is not there.
    """

    path: str
    template: str
    view: Callable[..., Data]
    #: what the page shows, in a few words (its routes' summary)
    shows: str
    #: what the template calls the view's data
    name: str = "data"
    extras: Callable[[Asked, Data], Mapping[str, Any]] | None = None
    #: further paths of the HTML page (no twin of their own)
    aliases: tuple[str, ...] = ()

    @property
    def twin(self) -> str:
        return f"{self.path}.json"

    @property
    def name_param(self) -> str | None:
        """The path's last parameter when the path ends in one (`/products/{name}`)."""
        found = _PARAM.findall(self.path)
        return found[-1] if found and self.path.endswith(f"{{{found[-1]}}}") else None

    @property
    def params(self) -> list[inspect.Parameter]:
        """The view's parameters after `asked`, by keyword, their annotations resolved."""
        view = list(inspect.signature(self.view, eval_str=True).parameters.values())[1:]
        return [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in view]
