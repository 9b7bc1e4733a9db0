"""ServiceTitan's token endpoint and v2 read endpoints, as the simulator serves them.

Paths, parameters and envelopes follow the official documents. Every API call
goes through `guard`: unknown tenant → 404, then the tenant's faults (outage,
rate limit), then authentication (bearer token → 401, app key → 403), then
any configured slowness.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from nexus.simulator.problems import (
    ApiProblem,
    html_response,
    json_response,
    problem_body,
    problem_response,
)
from nexus.simulator.tenant import ListQuery, Tenant, parse_when

if TYPE_CHECKING:
    from nexus.simulator.sim import Simulator

SCOPE = "tn.jpm.jobs:r tn.accounting.invoices:r tn.crm.customers:r tn.sales.estimates:r"
MAX_IDS = 50
MAX_PAGE_SIZE = 5000

EXPORT_PATHS = (
    ("/jpm/v2/tenant/{tenant}/export/jobs", "jobs"),
    ("/accounting/v2/tenant/{tenant}/export/invoices", "invoices"),
    ("/crm/v2/tenant/{tenant}/export/customers", "customers"),
    ("/sales/v2/tenant/{tenant}/estimates/export", "estimates"),
    ("/sales/v2/tenant/{tenant}/export/estimates", "estimates"),
)


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


async def guard(request: Request, tenant: Annotated[int, Path()]) -> Tenant:
    """Admit an API call: known tenant, no fault in the way, valid token and app key."""
    sim = simulator_of(request)
    found = sim.tenants.get(tenant)
    if found is None:
        raise ApiProblem(404, f"Tenant {tenant} not found")
    found.count_request(request.url.path)
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


TenantDep = Annotated[Tenant, Depends(guard)]


def _export_handler(feed: str) -> Callable[..., Awaitable[Response]]:
    async def export(
        tenant: TenantDep,
        request: Request,
        start: Annotated[str | None, Query(alias="from")] = None,
        include_recent_changes: Annotated[bool, Query(alias="includeRecentChanges")] = False,
    ) -> Response:
        # includeRecentChanges only makes real ST repeat rows sooner; the simulator
        # always serves every applied change, so it accepts and ignores the flag.
        page_size = simulator_of(request).export_page_size
        return json_response(tenant.export_page(feed, start, page_size))

    export.__name__ = f"export_{feed}"
    return export


api_router = APIRouter()
for _path, _feed in EXPORT_PATHS:
    api_router.add_api_route(_path, _export_handler(_feed), methods=["GET"])


@api_router.get("/jpm/v2/tenant/{tenant}/jobs")
async def list_jobs(tenant: TenantDep, request: Request) -> Response:
    return json_response(tenant.list_page("jobs", _list_query(request, active=None)))


@api_router.get("/jpm/v2/tenant/{tenant}/jobs/{id}")
async def get_job(tenant: TenantDep, id: int) -> Response:
    return _one(tenant, "jobs", id, "Job")


@api_router.get("/jpm/v2/tenant/{tenant}/job-types")
async def list_job_types(tenant: TenantDep, request: Request) -> Response:
    active = _active_arg(request)
    return json_response(tenant.list_page("job_types", _list_query(request, active=active)))


@api_router.get("/jpm/v2/tenant/{tenant}/job-types/{id}")
async def get_job_type(tenant: TenantDep, id: int) -> Response:
    return _one(tenant, "job_types", id, "Job type")


@api_router.get("/accounting/v2/tenant/{tenant}/invoices")
async def list_invoices(tenant: TenantDep, request: Request) -> Response:
    active = _active_state_arg(request)
    query = _list_query(request, active=active, job_id=_int_arg(request, "jobId"))
    return json_response(tenant.list_page("invoices", query))


@api_router.get("/crm/v2/tenant/{tenant}/customers")
async def list_customers(tenant: TenantDep, request: Request) -> Response:
    active = _active_arg(request)
    return json_response(tenant.list_page("customers", _list_query(request, active=active)))


@api_router.get("/crm/v2/tenant/{tenant}/customers/{id}")
async def get_customer(tenant: TenantDep, id: int) -> Response:
    return _one(tenant, "customers", id, "Customer")


@api_router.get("/sales/v2/tenant/{tenant}/estimates")
async def list_estimates(tenant: TenantDep, request: Request) -> Response:
    active = _active_arg(request)
    query = _list_query(request, active=active, job_id=_int_arg(request, "jobId"))
    return json_response(tenant.list_page("estimates", query))


@api_router.get("/sales/v2/tenant/{tenant}/estimates/{id}")
async def get_estimate(tenant: TenantDep, id: int) -> Response:
    return _one(tenant, "estimates", id, "Estimate")


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


def _one(tenant: Tenant, feed: str, record_id: int, what: str) -> Response:
    record = tenant.record(feed, record_id)
    if record is None:
        raise ApiProblem(404, f"{what} with id {record_id} not found", {"id": [str(record_id)]})
    return json_response(record)


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


def _when_arg(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if not text:
        return None
    when = parse_when(text)
    if when is None:
        raise _bad(name, f"'{text}' is not a date-time")
    return when


def _active_arg(request: Request) -> bool | None:
    text = request.query_params.get("active", "True")
    values = {"true": True, "false": False, "any": None}
    if text.lower() not in values:
        raise _bad("active", f"'{text}' is not one of True, Any, False")
    return values[text.lower()]


def _active_state_arg(request: Request) -> bool | None:
    text = request.query_params.get("activeState", "ActiveOnly")
    values = {"activeonly": True, "inactiveonly": False, "all": None}
    if text.lower() not in values:
        raise _bad("activeState", f"'{text}' is not one of ActiveOnly, InactiveOnly, All")
    return values[text.lower()]


def _list_query(request: Request, active: bool | None, job_id: int | None = None) -> ListQuery:
    page = _int_arg(request, "page")
    page = 1 if page is None else page
    if page < 1:
        raise _bad("page", "page starts at 1")
    page_size = _int_arg(request, "pageSize")
    page_size = 50 if page_size is None else page_size
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise _bad("pageSize", f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
    ids = None
    ids_text = request.query_params.get("ids")
    if ids_text:
        try:
            ids = tuple(int(part) for part in ids_text.split(",") if part.strip())
        except ValueError:
            raise _bad("ids", "ids must be comma-separated integers") from None
        if len(ids) > MAX_IDS:
            raise _bad("ids", f"at most {MAX_IDS} ids are allowed, got {len(ids)}")
    return ListQuery(
        page=page,
        page_size=page_size,
        include_total=_bool_arg(request, "includeTotal"),
        ids=ids,
        modified_on_or_after=_when_arg(request, "modifiedOnOrAfter"),
        modified_before=_when_arg(request, "modifiedBefore"),
        created_on_or_after=_when_arg(request, "createdOnOrAfter"),
        created_before=_when_arg(request, "createdBefore"),
        active=active,
        job_id=job_id,
    )
