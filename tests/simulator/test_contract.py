"""Every response the simulator serves validates against ServiceTitan's own OpenAPI documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from simclient import ALL_ROWS, START, TENANT, StClient

from nexus.clock import VirtualClock
from nexus.simulator import REMOVE, BusinessConfig, Simulator

OPENAPI = Path(__file__).resolve().parent.parent / "openapi"
DOCUMENT = {"jpm": "jpm", "accounting": "accounting", "crm": "crm", "sales": "salestech"}
T = "/tenant/{tenant}"

# (module, path in the document, example path) for every API route the simulator serves
EXPORTS = [
    ("jpm", f"{T}/export/jobs", "jobs"),
    ("accounting", f"{T}/export/invoices", "invoices"),
    ("crm", f"{T}/export/customers", "customers"),
    ("sales", f"{T}/estimates/export", "estimates"),
    ("sales", f"{T}/export/estimates", "estimates"),
]
LISTS = [
    ("jpm", f"{T}/jobs", "jobs"),
    ("accounting", f"{T}/invoices", "invoices"),
    ("crm", f"{T}/customers", "customers"),
    ("sales", f"{T}/estimates", "estimates"),
    ("jpm", f"{T}/job-types", "job_types"),
]
BY_ID = [
    ("jpm", f"{T}/jobs/{{id}}", "jobs"),
    ("crm", f"{T}/customers/{{id}}", "customers"),
    ("sales", f"{T}/estimates/{{id}}", "estimates"),
    ("jpm", f"{T}/job-types/{{id}}", "job_types"),
]


@cache
def _document(name: str) -> dict[str, Any]:
    return json.loads((OPENAPI / f"{name}-v2.json").read_text())  # type: ignore[no-any-return]


@cache
def validator(module: str, path: str, status: int) -> OAS31Validator:
    """Return a validator for the documented response body of GET `path` with `status`."""
    name = DOCUMENT[module]
    document = _document(name)
    content = document["paths"][path]["get"]["responses"][str(status)]["content"]
    ref = content["application/json"]["schema"]["$ref"]
    uri = f"urn:servicetitan:{name}-v2"
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(uri, resource)
    return OAS31Validator(
        {"$ref": f"{uri}{ref}"}, registry=registry, format_checker=oas31_format_checker
    )


def assert_valid(module: str, path: str, status: int, body: Any) -> None:
    error = best_match(validator(module, path, status).iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise AssertionError(f"GET {path} {status}: at {where}: {error.message}")


def url(module: str, path: str, **values: Any) -> str:
    return f"/{module}/v2" + path.format(tenant=TENANT, **values)


@pytest.fixture(scope="module")
def varied() -> Iterator[tuple[Simulator, StClient]]:
    """A tenant with every kind of record: inactive, adjusted, uninvoiced, phantom."""
    sim = Simulator(clock=VirtualClock(START), export_page_size=200)
    tenant = sim.add_tenant(
        TENANT,
        BusinessConfig(
            seed=3,
            inactive_share=0.2,
            adjustment_share=0.2,
            uninvoiced_share=0.1,
            invoice_edit_share=0.5,
        ),
        history_days=40,
    )
    tenant.faults.phantom_jobs(20)
    with sim.serve() as server:
        client = StClient(server)
        yield sim, client
        client.close()


def test_every_served_api_route_is_covered(varied: tuple[Simulator, StClient]) -> None:
    sim, _ = varied
    served = {
        path for path in sim.app.openapi()["paths"] if path.split("/")[1] not in ("_sim", "connect")
    }
    covered = {f"/{m}/v2{p}" for m, p, _ in EXPORTS + LISTS + BY_ID}
    assert served == covered


@pytest.mark.parametrize(("module", "path", "feed"), EXPORTS)
def test_export_pages_match_the_schema(
    varied: tuple[Simulator, StClient], module: str, path: str, feed: str
) -> None:
    sim, st = varied
    token = None
    seen = 0
    while True:
        body = st.ok(url(module, path), **({"from": token} if token else {}))
        assert_valid(module, path, 200, body)
        seen += len(body["data"])
        token = body["continueFrom"]
        if not body["hasMore"]:
            break
    rows = sim.tenant(TENANT).business.feed(feed).rows.values()
    assert seen == len(rows)
    assert feed == "jobs" or any(not row.active for row in rows), "no inactive row was checked"


@pytest.mark.parametrize(("module", "path", "feed"), LISTS)
def test_list_pages_match_the_schema(
    varied: tuple[Simulator, StClient], module: str, path: str, feed: str
) -> None:
    _, st = varied
    pages = [
        st.ok(url(module, path)),
        st.ok(url(module, path), includeTotal="true", page=2, pageSize=7),
        st.ok(url(module, path), pageSize=5000, **ALL_ROWS[feed]),
    ]
    assert pages[-1]["data"], f"{feed} list is empty"
    for body in pages:
        assert_valid(module, path, 200, body)


@pytest.mark.parametrize(("module", "path", "feed"), BY_ID)
def test_records_by_id_match_the_schema(
    varied: tuple[Simulator, StClient], module: str, path: str, feed: str
) -> None:
    sim, st = varied
    rows = sim.tenant(TENANT).business.feed(feed).sorted_rows()
    picks = [rows[0], rows[-1], *[r for r in rows if not r.active][:3]]
    for row in picks:
        body = st.ok(url(module, path, id=row.id))
        assert body["id"] == row.id
        assert_valid(module, path, 200, body)


@pytest.mark.parametrize(("module", "path", "feed"), BY_ID)
def test_missing_records_answer_a_documented_404(
    varied: tuple[Simulator, StClient], module: str, path: str, feed: str
) -> None:
    _, st = varied
    response = st.get(url(module, path, id=12345))
    assert response.status_code == 404
    documented = "404" in _document(DOCUMENT[module])["paths"][path]["get"]["responses"]
    assert_valid(module, path, 404 if documented else 400, response.json())


@pytest.mark.parametrize(("module", "path", "feed"), EXPORTS)
def test_bad_tokens_answer_a_documented_400(
    varied: tuple[Simulator, StClient], module: str, path: str, feed: str
) -> None:
    _, st = varied
    response = st.get(url(module, path), **{"from": "not-a-token"})
    assert response.status_code == 400
    assert_valid(module, path, 400, response.json())


@pytest.mark.parametrize(("module", "path", "feed"), LISTS)
def test_bad_list_parameters_answer_a_documented_400(
    varied: tuple[Simulator, StClient], module: str, path: str, feed: str
) -> None:
    _, st = varied
    for params in ({"ids": ",".join(str(i) for i in range(51))}, {"pageSize": 0}):
        response = st.get(url(module, path), **params)
        assert response.status_code == 400
        assert_valid(module, path, 400, response.json())


def test_refusals_are_rfc7807_bodies(varied: tuple[Simulator, StClient]) -> None:
    _, st = varied
    module, path, _ = LISTS[0]
    no_token = st.http.get(url(module, path))
    wrong_key = st.http.get(url(module, path), headers={**st.headers(), "ST-App-Key": "nope"})
    unknown_tenant = st.http.get("/jpm/v2/tenant/999/jobs", headers=st.headers())
    for response, status in ((no_token, 401), (wrong_key, 403), (unknown_tenant, 404)):
        assert response.status_code == status
        assert_valid(module, path, 400, response.json())  # the 400 schema is ApiErrorResponse


@pytest.mark.parametrize(("module", "path", "feed"), EXPORTS[:4])
def test_the_contract_check_catches_a_malformed_record(
    varied: tuple[Simulator, StClient], module: str, path: str, feed: str
) -> None:
    sim, st = varied
    if feed == "invoices":  # the default, total "abc", is a string as the schema allows
        sim.tenant(TENANT).faults.malformed_record(feed, "createdOn", REMOVE)
    else:
        sim.tenant(TENANT).faults.malformed_record(feed)
    body = st.ok(url(module, path))
    with pytest.raises(AssertionError):
        assert_valid(module, path, 200, body)
