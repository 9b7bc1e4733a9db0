"""ServiceTitan's token endpoint and v2 read endpoints, as the simulator serves them.

Paths, parameters and envelopes follow the official documents. Every API call
goes through `guard`: unknown tenant → 404, then the tenant's faults (outage,
rate limit), then authentication (bearer token → 401, app key → 403), then
any configured slowness.

The read endpoints (138 of them, from the catalog) are found by one dictionary
lookup in `ApiRoutes`, the outermost app, not by FastAPI's router: matching each
request against every route and solving its dependencies cost about twice what
answering it did, and a replay makes tens of thousands of requests.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from nexus.catalog import FEEDS, Feed, spec
from nexus.catalog.columns import snake
from nexus.simulator.generated import bare_list, list_record_schema
from nexus.simulator.problems import (
    ApiProblem,
    html_response,
    json_response,
    problem_body,
    problem_response,
)
from nexus.simulator.tenant import ListQuery, Tenant, parse_when_ms

if TYPE_CHECKING:
    from nexus.simulator.sim import Simulator

SCOPE = "tn.jpm.jobs:r tn.accounting.invoices:r tn.crm.customers:r tn.sales.estimates:r"
MAX_IDS = 50
MAX_PAGE_SIZE = 5000


class Refusal(Exception):
    """Stop a request with a ready-made response (a fault or an auth failure)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def simulator_of(request: Request) -> Simulator:
    """Return the simulator behind the app that received `request`."""
    # Handlers find the simulator here rather than in a closure: FastAPI keeps
    # endpoint functions in module-level caches, which would keep it alive.
    sim: Simulator = request.app.state.sim
    return sim


# -- the token endpoint ------------------------------------------------------------


token_router = APIRouter()


@token_router.post("/connect/token")
async def issue_token(request: Request) -> Response:
    """Issue a bearer token for the client credentials grant."""
    sim = simulator_of(request)
    form = await request.form()
    sim.count_token_request()
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Use client_credentials")
    creds = sim.credentials
    given = (form.get("client_id"), form.get("client_secret"))
    if given != (creds.client_id, creds.client_secret) or sim.refuses_new_tokens():
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    return json_response(
        {
            "access_token": sim.tokens.issue(),
            "expires_in": math.ceil(sim.tokens.ttl_s),
            "token_type": "Bearer",
            "scope": SCOPE,
        }
    )


def _oauth_error(status: int, code: str, title: str) -> Response:
    """Answer with an RFC 7807 body that also carries the OAuth `error` code."""
    body = problem_body(status, title)
    body["error"] = code
    return json_response(body, status)


# -- the API -------------------------------------------------------------------------


async def guard(sim: Simulator, request: Request, tenant: int) -> Tenant:
    """Admit an API call: known tenant, no fault in the way, valid token and app key."""
    found = sim.tenants.get(tenant)
    if found is None:
        raise ApiProblem(404, f"Tenant {tenant} not found")
    found.count_request(request.scope["path"])  # as routed; building `request.url` costs more
    faults = found.faults
    outage = faults.current_outage()
    if outage is not None:
        if outage.html:
            raise Refusal(html_response(outage.status))
        raise Refusal(problem_response(outage.status, "The service is unavailable"))
    retry_after = faults.admit()
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
        raise Refusal(problem_response(429, "Too many requests", headers=headers))
    _authenticate(sim, found, request)
    delay = faults.delay_s()
    if delay > 0:
        await asyncio.sleep(delay)
    return found


#: What answers one read endpoint, once `guard` has admitted the call: (simulator,
#: tenant, request, the `{id}` of an item path or None).
Handler = Callable[["Simulator", Tenant, Request, "str | None"], Response]


def _export_handler(feed: str) -> Handler:
    def export(sim: Simulator, tenant: Tenant, request: Request, _id: str | None) -> Response:
        # includeRecentChanges only makes real ST repeat rows sooner; the simulator
        # always serves every applied change, so it checks and ignores the flag.
        _flag_arg(request, "includeRecentChanges")
        start = request.query_params.get("from")
        return json_response(tenant.export_page(feed, start, sim.export_page_size))

    return export


def _list_handler(feed: Feed) -> Handler:
    rules = ListRules.of(feed)
    bare = bare_list(feed)
    always_total = _total_required(feed)

    def list_records(
        _sim: Simulator, tenant: Tenant, request: Request, _id: str | None
    ) -> Response:
        query = rules.query(request)
        if always_total and not query.include_total:
            query = replace(query, include_total=True)
        page = tenant.list_page(feed.name, query)
        return json_response(page["data"] if bare else page)

    return list_records


def _item_handler(feed: Feed) -> Handler:
    what = feed.name.replace("_", " ")

    def get_record(_sim: Simulator, tenant: Tenant, request: Request, id: str | None) -> Response:
        try:
            record_id = int(id or "")
        except ValueError:
            if _documented(feed.doc, feed.base, request.url.path):
                raise _not_served(request.url.path) from None
            raise _bad("id", f"The value '{id}' is not valid: give an integer id") from None
        record = tenant.record(feed.name, record_id)
        if record is None:
            raise ApiProblem(404, f"No {what} record with id {record_id}", {"id": [str(record_id)]})
        return json_response(record)

    return get_record


def _total_required(feed: Feed) -> bool:
    """Say whether the list's envelope documents `totalCount` as never null (telecom's)."""
    assert feed.list_path is not None
    envelope = spec.response_schema(feed.doc, feed.list_path)
    total = envelope.get("properties", {}).get("totalCount")
    if total is None:
        return False
    kind = spec.resolve(feed.doc, total).get("type")
    return kind == "integer" or (isinstance(kind, list) and "null" not in kind)


def served_paths() -> list[tuple[str, str, Feed]]:
    """Every API path the simulator serves: (kind, path as routed, feed), from the catalog.

    The estimates export is documented at two paths; both are served.
    """
    paths: list[tuple[str, str, Feed]] = []
    items: list[tuple[str, str, Feed]] = []  # routed last, so `…/customers/contacts` wins
    for feed in FEEDS.values():
        if feed.export is not None:
            paths.append(("export", feed.base + feed.export, feed))
            twin = _export_twin(feed.export)
            if twin is not None and spec.operation(feed.doc, twin) is not None:
                paths.append(("export", feed.base + twin, feed))
        if feed.list_path is not None:
            paths.append(("list", feed.base + feed.list_path, feed))
        if feed.by_id_path is not None:
            item = feed.by_id_path.rsplit("/", 1)[0] + "/{id}"
            items.append(("item", feed.base + item, feed))
    return paths + items


def _export_twin(path: str) -> str | None:
    """`…/estimates/export` ↔ `…/export/estimates`."""
    head, _, tail = path.rpartition("/tenant/{tenant}/")
    prefix = head + "/tenant/{tenant}/"
    if tail.endswith("/export"):
        return prefix + "export/" + tail.removesuffix("/export")
    if tail.startswith("export/") and "/" not in tail.removeprefix("export/"):
        return prefix + tail.removeprefix("export/") + "/export"
    return None


def _not_served(path: str) -> ApiProblem:
    return ApiProblem(
        404, "Not Found", {"path": [f"{path} is not an endpoint the simulator serves"]}
    )


@cache
def _other_operations(doc: str, base: str) -> tuple[re.Pattern[str], ...]:
    """Patterns of the document's paths that do not end in a parameter (`…/custom-fields`)."""
    patterns = []
    for path in spec.document(doc)["paths"]:
        if re.search(r"/\{[^/]+\}$", path):
            continue
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(base + path))
        patterns.append(re.compile(f"^{regex}$"))
    return tuple(patterns)


def _documented(doc: str, base: str, path: str) -> bool:
    """Say whether `path` is another operation of the document than a by-id read."""
    return any(p.match(path) for p in _other_operations(doc, base))


def _authenticate(sim: Simulator, tenant: Tenant, request: Request) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    issued = sim.tokens.issued_at(presented.strip()) if scheme.lower() == "bearer" else None
    revoked_before = tenant.faults.revoked_before
    if issued is None or (revoked_before is not None and issued <= revoked_before):
        raise Refusal(
            problem_response(
                401,
                "Unauthorized",
                {"Authorization": ["A valid, unexpired bearer token is required"]},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        )
    if request.headers.get("st-app-key") != sim.credentials.app_key:
        raise Refusal(
            problem_response(
                403, "Forbidden", {"ST-App-Key": ["The app key is missing or unknown"]}
            )
        )
    tenant.faults.token_accepted(issued)


# -- parameters -------------------------------------------------------------------


def _bad(name: str, message: str) -> ApiProblem:
    return ApiProblem(400, "One or more validation errors occurred.", {name: [message]})


def _int_arg(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise _bad(name, f"'{text}' is not an integer") from None


def _bool_arg(request: Request, name: str) -> bool:
    text = request.query_params.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise _bad(name, f"'{text}' is not true or false")
    return text in ("true", "1")


#: How ASP.NET reads a boolean query parameter (and FastAPI did for `includeRecentChanges`).
FLAG_VALUES = {
    "true": True,
    "1": True,
    "on": True,
    "yes": True,
    "false": False,
    "0": False,
    "off": False,
    "no": False,
}


def _flag_arg(request: Request, name: str) -> bool:
    text = request.query_params.get(name)
    if text is None:
        return False
    value = FLAG_VALUES.get(text.lower())
    if value is None:
        raise _bad(name, f"'{text}' is not a valid boolean: give true or false")
    return value


def _tenant_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _bad(
            "tenant", f"The value '{text}' is not valid: give the tenant's integer id"
        ) from None


def _when_arg(request: Request, name: str) -> int | None:
    """A date-time parameter in epoch milliseconds (fractions of a second count)."""
    text = request.query_params.get(name)
    if not text:
        return None
    when = parse_when_ms(text)
    if when is None:
        raise _bad(name, f"'{text}' is not a date-time")
    return when


#: the active filters: parameter → {value: True (active) / False (inactive) / None (both)}
ACTIVE_VALUES: dict[str, dict[str, bool | None]] = {
    "active": {"true": True, "false": False, "any": None},
    "activeState": {"activeonly": True, "inactiveonly": False, "all": None},
}
ACTIVE_DEFAULTS = {"active": "True", "activeState": "ActiveOnly"}
ACTIVE_SHOWN = {"active": "True, Any, False", "activeState": "ActiveOnly, InactiveOnly, All"}
TIME_FILTERS = ("modifiedOnOrAfter", "modifiedBefore", "createdOnOrAfter", "createdBefore")


@dataclass(frozen=True)
class ListRules:
    """What one list endpoint accepts, read from its document."""

    feed: Feed
    active: str | None
    times: frozenset[str]
    #: sort name as written (lower case) → (record field, name as documented)
    sorts: dict[str, tuple[str, str]]
    #: query parameter → (field name, path in the record) it matches
    equals: dict[str, tuple[str, tuple[str, ...]]]

    @classmethod
    @cache
    def of(cls, feed: Feed) -> ListRules:
        assert feed.list_path is not None
        params = feed.list_filters
        active = next((p for p in ("activeState", "active") if p in params), None)
        record = list_record_schema(feed)
        fields = {
            name
            for name, sub in record.get("properties", {}).items()
            if spec.resolve(feed.doc, sub).get("type") not in ("array", "object")
        }
        sorts: dict[str, tuple[str, str]] = {}
        if "sort" in params:
            for shown in feed.list_sorts:
                field = shown[:1].lower() + shown[1:]
                if field in fields:
                    sorts[shown.lower()] = (field, shown)
        # A filter named after a column of the record: `jobId` → job.id, `customerIds` → customerId
        columns = {c.name: c.path for c in feed.columns}
        equals: dict[str, tuple[str, tuple[str, ...]]] = {}
        for param in params - {"ids", "active", "activeState", "sort", *TIME_FILTERS}:
            base = param[:-1] if param.endswith("Ids") else param
            path = columns.get(snake(base))
            if path is not None and (path[0] in fields or len(path) > 1):
                equals[param] = (base, path)
        times = frozenset(t for t in TIME_FILTERS if t in params)
        return cls(feed, active, times, sorts, equals)

    def query(self, request: Request) -> ListQuery:
        page = _int_arg(request, "page")
        page = 1 if page is None else page
        if page < 1:
            raise _bad("page", "page starts at 1")
        page_size = _int_arg(request, "pageSize")
        page_size = 50 if page_size is None else page_size
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _bad("pageSize", f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        args = request.query_params
        ids = None
        ids_text = args.get("ids")
        if ids_text:
            try:
                ids = tuple(int(part) for part in ids_text.split(",") if part.strip())
            except ValueError:
                raise _bad("ids", "ids must be comma-separated integers") from None
            if len(ids) > MAX_IDS:
                raise _bad("ids", f"at most {MAX_IDS} ids are allowed, got {len(ids)}")
        active: bool | None = None
        if self.active is not None:
            text = args.get(self.active, ACTIVE_DEFAULTS[self.active])
            values = ACTIVE_VALUES[self.active]
            if text.lower() not in values:
                shown = ACTIVE_SHOWN[self.active]
                raise _bad(self.active, f"'{text}' is not one of {shown}")
            active = values[text.lower()]
        equals = tuple(
            (name, path, frozenset(v.strip().lower() for v in args[param].split(",") if v.strip()))
            for param, (name, path) in self.equals.items()
            if args.get(param)
        )
        return ListQuery(
            page=page,
            page_size=page_size,
            include_total=_bool_arg(request, "includeTotal"),
            ids=ids,
            modified_on_or_after=self._when(request, "modifiedOnOrAfter"),
            modified_before=self._when(request, "modifiedBefore"),
            created_on_or_after=self._when(request, "createdOnOrAfter"),
            created_before=self._when(request, "createdBefore"),
            active=active,
            sort=self._sort(args.get("sort")) if self.sorts else None,
            equals=equals,
        )

    def _when(self, request: Request, name: str) -> int | None:
        return _when_arg(request, name) if name in self.times else None

    def _sort(self, text: str | None) -> tuple[str, bool] | None:
        """`-ModifiedOn` → (modifiedOn, descending); `+id` and `id` ascending."""
        if text is None or not text.strip():
            return None
        # A "+" left unescaped in a query string arrives as a space.
        name = text.strip()
        descending = name.startswith("-")
        name = name.lstrip("+-").strip()
        found = self.sorts.get(name.lower())
        if found is None:
            choices = ", ".join(shown for _, shown in self.sorts.values())
            raise _bad(
                "sort",
                f"'{text}' is not a field {self.feed.name} can be sorted by: "
                f"use one of {choices}, with + (ascending, the default) or - (descending)",
            )
        return found[0], descending


#: The path segment that stands for the tenant, and for a record's id.
TENANT_SEGMENT, ID_SEGMENT = "{tenant}", "{id}"


@dataclass(frozen=True)
class Route:
    """One read endpoint: how it was documented (`kind`, `feed`) and what answers it."""

    kind: str
    feed: Feed
    handler: Handler


def api_routes() -> dict[str, Route]:
    """The read endpoints of every catalog feed, keyed by path as documented."""
    routes: dict[str, Route] = {}
    for kind, path, feed in served_paths():
        if kind == "export":
            handler = _export_handler(feed.name)
        elif kind == "list":
            handler = _list_handler(feed)
        else:
            handler = _item_handler(feed)
        routes[path] = Route(kind, feed, handler)
    return routes


class ApiRoutes:
    """Serves the read endpoints, each found by path in one dictionary lookup.

    A path is keyed with its tenant segment (the one after `/tenant/`) written
    `{tenant}`; a path that matches no endpoint exactly is tried as an item path,
    its last segment written `{id}`. Exact paths therefore win over items, as
    ServiceTitan's own `…/customers/contacts` does over `…/customers/{id}`.
    Calls to anything else go on to `app` (the token endpoint, `/_sim`, and the
    404s of unserved paths), and so does the server's lifespan.
    """

    def __init__(self, app: ASGIApp, sim: Simulator, routes: dict[str, Route]) -> None:
        self.app = app
        self.sim = sim
        self.routes = routes

    def find(self, path: str) -> tuple[Route, str, str | None] | None:
        """The route serving `path`, with the tenant as written and the item's id if any."""
        head, marker, rest = path.partition("/tenant/")
        if not marker:
            return None
        tenant, slash, tail = rest.partition("/")
        if not tenant or not slash or not tail:
            return None
        key = f"{head}/tenant/{TENANT_SEGMENT}/{tail}"
        route = self.routes.get(key)
        if route is not None:
            return route, tenant, None
        parent, _, last = key.rpartition("/")
        route = self.routes.get(f"{parent}/{ID_SEGMENT}")
        if route is None or not last:
            return None
        return route, tenant, last

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.find(scope["path"]) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        route, tenant_text, record_id = found
        request = Request(scope, receive)
        try:
            if scope["method"] != "GET":
                raise ApiProblem(405, "Method Not Allowed", headers={"Allow": "GET"})
            tenant_id = _tenant_arg(tenant_text)
            tenant = await guard(self.sim, request, tenant_id)
            response = route.handler(self.sim, tenant, request, record_id)
        except Refusal as refused:
            response = refused.response
        except ApiProblem as problem:
            response = problem.response()
        await response(scope, receive, send)
