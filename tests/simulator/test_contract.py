"""Every response the simulator serves validates against ServiceTitan's own OpenAPI documents."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from simclient import START, TENANT, StClient

from nexus.catalog import FEEDS, Feed, spec
from nexus.clock import VirtualClock
from nexus.simulator import REMOVE, BusinessConfig, Simulator
from nexus.simulator.api import ApiRoutes, served_paths
from nexus.simulator.faults import malformation

# (kind, path as routed, feed) for every API route the simulator serves, from the catalog
SERVED = served_paths()
EXPORTS = [(path, feed) for kind, path, feed in SERVED if kind == "export"]
LISTS = [(path, feed) for kind, path, feed in SERVED if kind == "list"]
BY_ID = [(path, feed) for kind, path, feed in SERVED if kind == "item"]


def _ids(cases: list[tuple[str, Feed]]) -> list[str]:
    return [path.split("/tenant/{tenant}/", 1)[1] + f"@{feed.doc}" for path, feed in cases]


def documented(feed: Feed, path: str) -> str:
    """The path as the document writes it (without its base; by-id with its own parameter)."""
    local = path.removeprefix(feed.base)
    if local.endswith("/{id}") and feed.by_id_path is not None:
        return feed.by_id_path
    return local


@cache
def validator(doc: str, path: str, status: int) -> OAS31Validator:
    """Return a validator for the documented response body of GET `path` with `status`."""
    document = spec.document(doc)
    content = document["paths"][path]["get"]["responses"][str(status)]["content"]
    media = "application/json" if "application/json" in content else next(iter(content))
    uri = f"urn:servicetitan:{doc}"
    pointer = "/".join(
        quote(part.replace("~", "~0").replace("/", "~1"), safe="")
        for part in ("paths", path, "get", "responses", str(status), "content", media, "schema")
    )
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(uri, resource)
    return OAS31Validator(
        {"$ref": f"{uri}#/{pointer}"}, registry=registry, format_checker=oas31_format_checker
    )


def assert_valid(feed: Feed, path: str, status: int, body: Any) -> None:
    doc_path = documented(feed, path)
    error = best_match(validator(feed.doc, doc_path, status).iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise AssertionError(f"GET {feed.base}{doc_path} {status}: at {where}: {error.message}")


def assert_problem(feed: Feed, path: str, status: int, body: Any) -> None:
    """An error body: valid against the documented error schema, or RFC 7807 where none is."""
    documented_statuses = responses(feed, path)
    for candidate in (str(status), "400"):
        if candidate in documented_statuses:
            assert_valid(feed, path, int(candidate), body)
            return
    assert {"type", "title", "status", "traceId"} <= set(body), body
    assert body["status"] == status


def responses(feed: Feed, path: str) -> dict[str, Any]:
    op = spec.operation(feed.doc, documented(feed, path))
    assert op is not None
    result: dict[str, Any] = op["responses"]
    return result


def url(path: str, **values: Any) -> str:
    return path.format(tenant=TENANT, **values)


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


def test_every_served_path_is_found_by_the_router_as_what_it_was_documented(
    varied: tuple[Simulator, StClient],
) -> None:
    sim, _ = varied
    router = sim.app
    assert isinstance(router, ApiRoutes)
    assert set(router.routes) == {path for _, path, _ in SERVED}
    for kind, path, feed in SERVED:
        concrete = path.replace("{tenant}", str(TENANT)).replace("{id}", "42")
        found = router.find(concrete)
        assert found is not None, concrete
        route, tenant, record_id = found
        assert (route.kind, route.feed.name, tenant) == (kind, feed.name, str(TENANT)), concrete
        assert record_id == ("42" if kind == "item" else None), concrete
    # Nothing else is an API path: the token endpoint, control, a bare tenant, a deeper path.
    for other in (
        "/connect/token",
        "/_sim/tenants",
        f"/jpm/v2/tenant/{TENANT}",
        f"/jpm/v2/tenant/{TENANT}/jobs/42/notes/7",
    ):
        assert router.find(other) is None, other


def test_every_catalog_path_is_served(varied: tuple[Simulator, StClient]) -> None:
    sim, _ = varied
    served = set(sim.app.routes)
    for feed in FEEDS.values():
        paths = [feed.export, feed.list_path]
        if feed.by_id_path is not None:
            paths.append(feed.by_id_path.rsplit("/", 1)[0] + "/{id}")
        for path in filter(None, paths):
            assert feed.base + path in served, f"{feed.name}: {feed.base}{path} is not served"
    assert len({feed.name for _, _, feed in SERVED}) == len(FEEDS) == 56


@pytest.mark.parametrize(("path", "feed"), EXPORTS, ids=_ids(EXPORTS))
def test_export_pages_match_the_schema(
    varied: tuple[Simulator, StClient], path: str, feed: Feed
) -> None:
    sim, st = varied
    token = None
    seen = 0
    while True:
        body = st.ok(url(path), **({"from": token} if token else {}))
        assert_valid(feed, path, 200, body)
        seen += len(body["data"])
        token = body["continueFrom"]
        if not body["hasMore"]:
            break
    rows = sim.tenant(TENANT).business.feed(feed.name).rows.values()
    assert seen == len(rows) > 0, f"{feed.name} export is empty"


def test_inactive_records_are_served_too(varied: tuple[Simulator, StClient]) -> None:
    """So that the schema checks above see inactive records of (nearly) every feed."""
    from nexus.simulator.generated import POPULATION

    sim, _ = varied
    business = sim.tenant(TENANT).business
    without = {n for n in FEEDS if all(row.active for row in business.feed(n).rows.values())}
    # Jobs are never deactivated, payments never refunded; fixed lists do not change.
    fixed = {"jobs", "payments", "business_units", "campaigns", "membership_types", "payment_types"}
    daily = {n for n, pop in POPULATION.items() if pop.per_job > 0}
    assert without - daily <= fixed, without - daily
    assert len(without & daily) <= len(daily) // 4, sorted(without & daily)


@pytest.mark.parametrize(("path", "feed"), LISTS, ids=_ids(LISTS))
def test_list_pages_match_the_schema(
    varied: tuple[Simulator, StClient], path: str, feed: Feed
) -> None:
    _, st = varied
    everything = dict([feed.list_all_filter]) if feed.list_all_filter else {}
    pages = [
        st.ok(url(path)),
        st.ok(url(path), includeTotal="true", page=2, pageSize=3),
        st.ok(url(path), pageSize=5000, **everything),
    ]
    last = pages[-1] if isinstance(pages[-1], list) else pages[-1]["data"]  # a few are bare arrays
    assert last, f"{feed.name} list is empty"
    for body in pages:
        assert_valid(feed, path, 200, body)


@pytest.mark.parametrize(("path", "feed"), BY_ID, ids=_ids(BY_ID))
def test_records_by_id_match_the_schema(
    varied: tuple[Simulator, StClient], path: str, feed: Feed
) -> None:
    sim, st = varied
    rows = sim.tenant(TENANT).business.feed(feed.name).sorted_rows()
    picks = [rows[0], rows[-1], *[r for r in rows if not r.active][:3]]
    for row in picks:
        body = st.ok(url(path, id=row.id))
        assert body["id"] == row.id
        assert_valid(feed, path, 200, body)


@pytest.mark.parametrize(("path", "feed"), BY_ID, ids=_ids(BY_ID))
def test_missing_records_answer_a_documented_404(
    varied: tuple[Simulator, StClient], path: str, feed: Feed
) -> None:
    _, st = varied
    response = st.get(url(path, id=12345))
    assert response.status_code == 404
    assert_problem(feed, path, 404, response.json())


@pytest.mark.parametrize(("path", "feed"), EXPORTS, ids=_ids(EXPORTS))
def test_bad_tokens_answer_a_documented_400(
    varied: tuple[Simulator, StClient], path: str, feed: Feed
) -> None:
    _, st = varied
    response = st.get(url(path), **{"from": "not-a-token"})
    assert response.status_code == 400
    assert_problem(feed, path, 400, response.json())


@pytest.mark.parametrize(("path", "feed"), LISTS, ids=_ids(LISTS))
def test_bad_list_parameters_answer_a_documented_400(
    varied: tuple[Simulator, StClient], path: str, feed: Feed
) -> None:
    _, st = varied
    bad: list[dict[str, Any]] = [{"pageSize": 0}, {"page": "x"}]
    if "ids" in feed.list_filters:
        bad.append({"ids": ",".join(str(i) for i in range(51))})
    if "sort" in feed.list_filters:
        bad.append({"sort": "-noSuchField"})
    for params in bad:
        response = st.get(url(path), **params)
        assert response.status_code == 400, params
        assert_problem(feed, path, 400, response.json())


def test_refusals_are_rfc7807_bodies(varied: tuple[Simulator, StClient]) -> None:
    _, st = varied
    path, feed = LISTS[0]
    no_token = st.http.get(url(path))
    wrong_key = st.http.get(url(path), headers={**st.headers(), "ST-App-Key": "nope"})
    unknown_tenant = st.http.get("/jpm/v2/tenant/999/jobs", headers=st.headers())
    for response, status in ((no_token, 401), (wrong_key, 403), (unknown_tenant, 404)):
        assert response.status_code == status
        assert_valid(feed, path, 400, response.json())  # the 400 schema is ApiErrorResponse


def test_unserved_paths_answer_an_rfc7807_404(varied: tuple[Simulator, StClient]) -> None:
    _, st = varied
    customers = FEEDS["customers"]
    for path in (
        f"/crm/v2/tenant/{TENANT}/customers/custom-fields",  # documented, but not served
        f"/crm/v2/tenant/{TENANT}/no-such-thing",
        f"/nowhere/v2/tenant/{TENANT}/export/jobs",
    ):
        response = st.get(path)
        assert response.status_code == 404, (path, response.text)
        body = response.json()
        assert {"type", "title", "status", "traceId"} <= set(body)
        assert body["status"] == 404
        assert_valid(customers, customers.base + customers.list_path, 400, body)
    bad_id = st.get(f"/crm/v2/tenant/{TENANT}/customers/abc")
    assert bad_id.status_code == 400 and "id" in bad_id.json()["errors"]


@pytest.mark.parametrize(("path", "feed"), EXPORTS[:4], ids=_ids(EXPORTS[:4]))
def test_the_contract_check_catches_a_malformed_record(
    varied: tuple[Simulator, StClient], path: str, feed: Feed
) -> None:
    sim, st = varied
    if feed.name == "invoices":  # the default, total "abc", is a string as the schema allows
        sim.tenant(TENANT).faults.malformed_record(feed.name, "createdOn", REMOVE)
    else:
        sim.tenant(TENANT).faults.malformed_record(feed.name)
    body = st.ok(url(path))
    with pytest.raises(AssertionError):
        assert_valid(feed, path, 200, body)


DEFAULTED = [
    (p, f) for p, f in EXPORTS if f.name not in ("jobs", "invoices", "customers", "estimates")
]


@pytest.mark.parametrize(("path", "feed"), DEFAULTED, ids=_ids(DEFAULTED))
def test_every_feed_has_a_malformed_record_the_contract_and_parser_refuse(
    varied: tuple[Simulator, StClient], path: str, feed: Feed
) -> None:
    from nexus.catalog.parse import flattener
    from nexus.errors import BadRecordError

    sim, st = varied
    field, value = malformation(feed.name)
    sim.tenant(TENANT).faults.malformed_record(feed.name)
    body = st.ok(url(path))
    assert body["data"][0][field] == value
    with pytest.raises(AssertionError):
        assert_valid(feed, path, 200, body)
    with pytest.raises(BadRecordError):
        flattener(feed.name, feed.columns)(body["data"][0])
    assert_valid(feed, path, 200, st.ok(url(path)))  # only the next page was spoiled


@pytest.mark.parametrize("name", list(FEEDS))
def test_every_record_parses_into_the_catalog_columns(
    varied: tuple[Simulator, StClient], name: str
) -> None:
    """What the mirror will load: every record of the truth flattens without a complaint."""
    from nexus.catalog.parse import flattener

    sim, _ = varied
    feed = FEEDS[name]
    flatten = flattener(name, feed.columns)
    rows = [flatten(record) for record in sim.tenant(TENANT).truth(name).values()]
    assert rows
    keys = [tuple(row[: len(feed.key)]) for row in rows]
    assert len(set(keys)) == len(keys), f"{name}: keys repeat"
