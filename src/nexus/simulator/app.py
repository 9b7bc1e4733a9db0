"""The simulator's one app: ServiceTitan's endpoints, the token endpoint and `/_sim` control.

The read endpoints are answered by `ApiRoutes` before anything else sees the
request; it hands every other request (the token endpoint, `/_sim`, the 404s of
unserved paths) to one FastAPI app. Errors leave in ServiceTitan's shapes:
fault refusals as built, API problems and validation errors as RFC 7807 bodies
(FastAPI's 422 becomes ST's 400).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from nexus.simulator.api import ApiRoutes, Refusal, api_routes, token_router
from nexus.simulator.control import control_router
from nexus.simulator.problems import ApiProblem, problem_response

if TYPE_CHECKING:
    from nexus.simulator.sim import Simulator


def create_app(sim: Simulator) -> ApiRoutes:
    """Build the app that serves `sim`: the read endpoints, in front of FastAPI for the rest.

    A replay makes tens of thousands of reads; FastAPI's middleware (its error
    page, telemetry, the body limit) cost each of them more than the lookup that
    answers it, and a read has no body and renders its own errors. FastAPI's
    handlers find the simulator in `app.state.sim`.
    """
    app = FastAPI(
        title="Nexus ServiceTitan simulator",
        docs_url="/_sim/docs",
        redoc_url=None,
        openapi_url="/_sim/openapi.json",
        swagger_ui_oauth2_redirect_url="/_sim/docs/oauth2-redirect",
    )
    app.state.sim = sim
    app.include_router(token_router)
    app.include_router(control_router)
    app.add_exception_handler(Refusal, _on_refusal)
    app.add_exception_handler(ApiProblem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    return ApiRoutes(app, sim, api_routes())


async def _on_refusal(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return exc.response


async def _on_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return exc.response()


async def _on_invalid(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        name = str(error["loc"][-1]) if error.get("loc") else "request"
        errors.setdefault(name, []).append(str(error.get("msg", "invalid")))
    return problem_response(400, "One or more validation errors occurred.", errors)


async def _on_http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)
