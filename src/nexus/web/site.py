"""What every page handler shares: configuration, templates, formatting, responses."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
import orjson
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from nexus import times
from nexus.clock import Clock
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
