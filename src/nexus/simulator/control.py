"""The `/_sim` control routes: move the clock, add tenants, switch faults, read the truth.

These are for tests, replays and demos; they need no credentials and are
never refused by a fault.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

from nexus.simulator.api import simulator_of
from nexus.simulator.business import BusinessConfig
from nexus.simulator.faults import AS_STRING, DEFAULT, REMOVE
from nexus.simulator.problems import ApiProblem, json_response
from nexus.simulator.tenant import Tenant

if TYPE_CHECKING:
    from nexus.simulator.sim import Simulator


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClockMove(_Body):
    advance_s: float | None = Field(default=None, ge=0)
    set: datetime | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ClockMove:
        if (self.advance_s is None) == (self.set is None):
            raise ValueError("give exactly one of advance_s or set")
        return self


class NewTenant(_Body):
    tenant: int
    business: dict[str, Any] = Field(default_factory=lambda: {"seed": 1})
    history_days: int = Field(default=0, ge=0)


class OutageSpec(_Body):
    status: int = Field(default=503, ge=400, le=599)
    html: bool = False
    until: datetime | None = None


class RateLimitSpec(_Body):
    per_second: int = Field(ge=1)
    until: datetime | None = None


class SlowSpec(_Body):
    delay_s: float = Field(ge=0)
    until: datetime | None = None


class MalformedSpec(_Body):
    feed: str
    field: str | None = None
    value: Any = None
    remove: bool = False
    as_string: bool = False
    times: int | None = Field(default=1, ge=1)


class TokenRejectionSpec(_Body):
    token_endpoint: bool = True
    revoke_issued: bool = False
    until: datetime | None = None


class FaultSpec(_Body):
    outage: OutageSpec | None = None
    rate_limit: RateLimitSpec | None = None
    slow: SlowSpec | None = None
    malformed_record: MalformedSpec | None = None
    token_rejection: TokenRejectionSpec | None = None
    drop_export_share: dict[str, float] | None = None


class PhantomSpec(_Body):
    rows: int = Field(ge=1, le=1_000_000)
    same_created_at: bool = True
    total_each: Decimal = Decimal("2500.00")


control_router = APIRouter(prefix="/_sim")


def _tenant(request: Request, tenant: int) -> Tenant:
    found = simulator_of(request).tenants.get(tenant)
    if found is None:
        raise ApiProblem(404, f"Tenant {tenant} not found")
    return found


def _clock(sim: Simulator) -> Response:
    return json_response({"now": sim.now().isoformat()})


@control_router.get("/clock")
async def get_clock(request: Request) -> Response:
    """Say what time it is in the simulation."""
    return _clock(simulator_of(request))


@control_router.post("/clock")
async def move_clock(request: Request, move: ClockMove) -> Response:
    """Move the virtual clock forward by `advance_s` seconds or to `set`."""
    sim = simulator_of(request)
    try:
        if move.set is not None:
            sim.advance_to(move.set)
        else:
            sim.advance(timedelta(seconds=move.advance_s or 0))
    except ValueError as error:
        raise ApiProblem(400, str(error)) from None
    return _clock(sim)


@control_router.get("/tenants")
async def list_tenants(request: Request) -> Response:
    tenants = [
        {
            "tenant": t.id,
            "start_day": t.business.start_day.isoformat(),
            "business": t.config.as_dict(),
        }
        for t in simulator_of(request).tenants.values()
    ]
    return json_response({"tenants": tenants})


@control_router.post("/tenants", status_code=201)
async def add_tenant(request: Request, spec: NewTenant) -> Response:
    """Add a tenant whose business has run for `history_days` before now."""
    sim = simulator_of(request)
    if spec.tenant in sim.tenants:
        raise ApiProblem(400, f"Tenant {spec.tenant} already exists")
    try:
        config = BusinessConfig.from_dict(spec.business)
    except (TypeError, ValueError) as error:
        raise ApiProblem(400, f"Bad business settings: {error}") from None
    tenant = sim.add_tenant(spec.tenant, config, history_days=spec.history_days)
    return json_response(tenant.summary(), status=201)


@control_router.get("/tenants/{tenant}/faults")
async def get_faults(request: Request, tenant: int) -> Response:
    return json_response(_tenant(request, tenant).faults.describe())


@control_router.post("/tenants/{tenant}/faults")
async def set_faults(request: Request, tenant: int, spec: FaultSpec) -> Response:
    """Switch on the faults named in the body (others stay as they are)."""
    faults = _tenant(request, tenant).faults
    try:
        if spec.outage:
            faults.outage(spec.outage.status, spec.outage.html, spec.outage.until)
        if spec.rate_limit:
            faults.rate_limit(spec.rate_limit.per_second, spec.rate_limit.until)
        if spec.slow:
            faults.slow(spec.slow.delay_s, spec.slow.until)
        if spec.malformed_record:
            bad = spec.malformed_record
            faults.malformed_record(bad.feed, bad.field, _malformed_value(bad), bad.times)
        if spec.token_rejection:
            rejection = spec.token_rejection
            faults.token_rejection(
                rejection.token_endpoint, rejection.revoke_issued, rejection.until
            )
        if spec.drop_export_share is not None:
            faults.drop_export_share(spec.drop_export_share)
    except ValueError as error:
        raise ApiProblem(400, str(error)) from None
    return json_response(faults.describe())


@control_router.delete("/tenants/{tenant}/faults")
async def clear_faults(request: Request, tenant: int) -> Response:
    faults = _tenant(request, tenant).faults
    faults.clear()
    return json_response(faults.describe())


@control_router.post("/tenants/{tenant}/phantom-jobs", status_code=201)
async def phantom_jobs(request: Request, tenant: int, spec: PhantomSpec) -> Response:
    """Bulk-write phantom jobs (and invoices) that share one createdOn."""
    faults = _tenant(request, tenant).faults
    ids = faults.phantom_jobs(spec.rows, spec.same_created_at, spec.total_each)
    return json_response({"count": len(ids), "job_ids": ids}, status=201)


@control_router.get("/tenants/{tenant}/truth/summary")
async def truth_summary(request: Request, tenant: int) -> Response:
    return json_response(_tenant(request, tenant).summary())


@control_router.get("/tenants/{tenant}/truth/revenue")
async def truth_revenue(request: Request, tenant: int) -> Response:
    """Return the sales ledger: revenue per tenant-local day of completion."""
    revenue = _tenant(request, tenant).revenue_by_day()
    days = [{"day": day.isoformat(), "revenue": str(total)} for day, total in revenue.items()]
    return json_response({"days": days})


@control_router.get("/tenants/{tenant}/truth/jobs/{job_id}")
async def truth_job(request: Request, tenant: int, job_id: int) -> Response:
    """Say why a job's invoice total is what it is."""
    found = _tenant(request, tenant)
    try:
        truth_class = found.job_truth_class(job_id)
    except KeyError:
        raise ApiProblem(404, f"Job {job_id} not found") from None
    total = found.job_invoice_total(job_id)
    return json_response(
        {"job_id": job_id, "truth_class": truth_class, "invoice_total": str(total)}
    )


@control_router.get("/tenants/{tenant}/requests")
async def request_counts(request: Request, tenant: int) -> Response:
    """Return how many API calls reached each path, and how many tokens were asked for."""
    counts = _tenant(request, tenant).request_counts()
    return json_response({"paths": counts, "token_requests": simulator_of(request).token_requests})


@control_router.delete("/tenants/{tenant}/requests")
async def reset_request_counts(request: Request, tenant: int) -> Response:
    _tenant(request, tenant).reset_request_counts()
    return json_response({"paths": {}, "token_requests": simulator_of(request).token_requests})


def _malformed_value(spec: MalformedSpec) -> Any:
    if spec.remove:
        return REMOVE
    if spec.as_string:
        return AS_STRING
    if "value" in spec.model_fields_set:
        return spec.value
    return DEFAULT
