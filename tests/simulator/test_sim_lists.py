"""List and by-id endpoints: paging, filters, and the active-only defaults that lose rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from simclient import LISTS, START, TENANT, StClient

from nexus.catalog import FEEDS
from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, SimServer, Simulator, Tenant

# Nothing here changes the tenant, so one server serves the whole module.


@pytest.fixture(scope="module")
def sim() -> Simulator:
    simulator = Simulator(clock=VirtualClock(START))
    simulator.add_tenant(TENANT, BusinessConfig(seed=7, inactive_share=0.1), history_days=30)
    return simulator


@pytest.fixture(scope="module")
def server(sim: Simulator) -> Iterator[SimServer]:
    with sim.serve() as running:  # Simulator.serve itself, not the shared switchboard
        yield running


@pytest.fixture(scope="module")
def st(server: SimServer) -> Iterator[StClient]:
    client = StClient(server)
    yield client
    client.close()


def test_paging_is_stable_by_id_with_an_optional_total(st: StClient, tenant: Tenant) -> None:
    first = st.ok(LISTS["jobs"], pageSize=10)
    assert first["page"] == 1 and first["pageSize"] == 10 and first["hasMore"]
    assert first["totalCount"] is None
    second = st.ok(LISTS["jobs"], pageSize=10, page=2, includeTotal="true")
    ids = [j["id"] for j in first["data"] + second["data"]]
    assert ids == sorted(ids) and len(set(ids)) == 20
    assert second["totalCount"] == len(tenant.truth_jobs())
    last_page = -(-len(tenant.truth_jobs()) // 10)
    last = st.ok(LISTS["jobs"], pageSize=10, page=last_page)
    assert not last["hasMore"] and last["data"]
    beyond = st.ok(LISTS["jobs"], pageSize=10, page=last_page + 1)
    assert beyond["data"] == [] and not beyond["hasMore"]
    assert len(st.ok(LISTS["jobs"])["data"]) == 50


def test_the_job_list_returns_every_job_without_an_active_field(
    st: StClient, tenant: Tenant
) -> None:
    jobs = st.list_all("jobs")
    truth = tenant.truth_jobs()
    assert [j["id"] for j in jobs] == sorted(truth)
    assert all("active" not in j for j in jobs)
    assert {**jobs[0], "active": truth[jobs[0]["id"]]["active"]} == truth[jobs[0]["id"]]


@pytest.mark.parametrize("feed", ["customers", "estimates", "job_types"])
def test_active_defaults_to_true_and_hides_inactive_rows(
    st: StClient, tenant: Tenant, feed: str
) -> None:
    truth = {
        "customers": tenant.truth_customers,
        "estimates": tenant.truth_estimates,
        "job_types": tenant.truth_job_types,
    }[feed]()
    inactive = {i for i, r in truth.items() if not r["active"]}
    assert inactive, f"the fixture should have inactive {feed}"
    default = {r["id"] for r in st.list_all(feed)}
    assert default == set(truth) - inactive
    assert {r["id"] for r in st.list_all(feed, active="True")} == default
    assert {r["id"] for r in st.list_all(feed, active="False")} == inactive
    assert {r["id"] for r in st.list_all(feed, active="Any")} == set(truth)


def test_invoice_active_state_filter(st: StClient, tenant: Tenant) -> None:
    truth = tenant.truth_invoices()
    inactive = {i for i, r in truth.items() if not r["active"]}
    assert inactive
    assert {r["id"] for r in st.list_all("invoices")} == set(truth) - inactive
    assert {r["id"] for r in st.list_all("invoices", activeState="InactiveOnly")} == inactive
    assert {r["id"] for r in st.list_all("invoices", activeState="All")} == set(truth)
    bad = st.get(LISTS["invoices"], activeState="Some")
    assert bad.status_code == 400 and "activeState" in bad.json()["errors"]


def test_job_id_filters_invoices_and_estimates(st: StClient, tenant: Tenant) -> None:
    estimate = next(e for e in tenant.truth_estimates().values() if e["jobId"])
    job_id = estimate["jobId"]
    found = st.ok(LISTS["estimates"], jobId=job_id, active="Any")["data"]
    assert estimate["id"] in {e["id"] for e in found}
    assert all(e["jobId"] == job_id for e in found)
    invoices = st.ok(LISTS["invoices"], jobId=job_id, activeState="All")["data"]
    assert [i["job"]["id"] for i in invoices] == [job_id] * len(invoices)
    assert tenant.truth_jobs()[job_id]["invoiceId"] in {i["id"] for i in invoices}


def test_ids_look_up_at_most_fifty_records(st: StClient, tenant: Tenant) -> None:
    ids = sorted(tenant.truth_customers())[:50]
    found = st.ok(LISTS["customers"], ids=",".join(map(str, ids)), active="Any")["data"]
    assert [c["id"] for c in found] == ids
    too_many = st.get(LISTS["customers"], ids=",".join(map(str, range(1, 52))))
    assert too_many.status_code == 400
    assert "ids" in too_many.json()["errors"]
    assert st.get(LISTS["customers"], ids="1,two").status_code == 400


def test_date_filters(st: StClient, tenant: Tenant) -> None:
    since = START - timedelta(days=2)
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    modified = st.list_all("jobs", modifiedOnOrAfter=stamp)
    expected = {
        i
        for i, j in tenant.truth_jobs().items()
        if datetime.fromisoformat(j["modifiedOn"]) >= since
    }
    assert {j["id"] for j in modified} == expected
    older = st.list_all("jobs", modifiedBefore=stamp)
    assert len(modified) + len(older) == len(tenant.truth_jobs())
    created = st.list_all("invoices", activeState="All", createdOnOrAfter=stamp)
    created_before = st.list_all("invoices", activeState="All", createdBefore=stamp)
    assert len(created) + len(created_before) == len(tenant.truth_invoices())
    assert all(datetime.fromisoformat(i["createdOn"]) >= since for i in created)
    assert st.get(LISTS["jobs"], modifiedOnOrAfter="yesterday").status_code == 400


@pytest.mark.parametrize(
    "params", [{"pageSize": 0}, {"pageSize": 5001}, {"page": 0}, {"page": "x"}]
)
def test_bad_paging_is_a_400(st: StClient, params: dict[str, object]) -> None:
    response = st.get(LISTS["jobs"], **params)
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_records_by_id(st: StClient, tenant: Tenant) -> None:
    job = next(iter(tenant.truth_jobs().values()))
    by_id = st.ok(f"/jpm/v2/tenant/{TENANT}/jobs/{job['id']}")
    assert by_id == {k: v for k, v in job.items() if k != "active"}
    inactive = next(c for c in tenant.truth_customers().values() if not c["active"])
    assert st.ok(f"/crm/v2/tenant/{TENANT}/customers/{inactive['id']}") == inactive
    estimate = next(iter(tenant.truth_estimates().values()))
    assert st.ok(f"/sales/v2/tenant/{TENANT}/estimates/{estimate['id']}") == estimate
    job_type = next(iter(tenant.truth_job_types().values()))
    assert st.ok(f"/jpm/v2/tenant/{TENANT}/job-types/{job_type['id']}") == job_type
    missing = st.get(f"/jpm/v2/tenant/{TENANT}/jobs/1")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert st.get(f"/jpm/v2/tenant/{TENANT}/jobs/abc").status_code == 400


def test_an_unknown_tenant_is_a_404(st: StClient) -> None:
    response = st.get("/crm/v2/tenant/4242/customers")
    assert response.status_code == 404
    assert "4242" in response.json()["title"]


# -- every list: sorting, the active filters, millisecond bookmarks -------------------


def list_path(feed: str) -> str:
    return FEEDS[feed].list_url_path(TENANT)


@pytest.mark.parametrize(
    ("feed", "sort", "field", "reverse"),
    [
        ("jobs", "-modifiedOn", "modifiedOn", True),
        ("jobs", "+id", "id", False),
        ("appointments", "createdOn", "createdOn", False),
        ("appointments", "-ModifiedOn", "modifiedOn", True),
        ("customers", "-createdOn", "createdOn", True),
        ("campaigns", "-name", "name", True),
        ("memberships", "-id", "id", True),
    ],
)
def test_lists_sort_by_the_documented_fields(
    st: StClient, feed: str, sort: str, field: str, reverse: bool
) -> None:
    everything = dict([FEEDS[feed].list_all_filter]) if FEEDS[feed].list_all_filter else {}
    rows = st.ok(list_path(feed), sort=sort, pageSize=5000, **everything)["data"]
    assert len(rows) > 2
    keys = [(r[field], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=reverse)
    by_id = st.ok(list_path(feed), pageSize=5000, **everything)["data"]
    assert sorted(r["id"] for r in rows) == [r["id"] for r in by_id]


def test_a_list_without_sort_ignores_it(st: StClient) -> None:
    rows = st.ok(list_path("technicians"), sort="-id", active="Any")["data"]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_a_plus_sent_unescaped_still_sorts_ascending(st: StClient) -> None:
    # "?sort=+modifiedOn" written by hand arrives as " modifiedOn"
    response = st.http.get(
        f"{list_path('jobs')}?sort=+modifiedOn&pageSize=100", headers=st.headers()
    )
    rows = response.json()["data"]
    assert [r["modifiedOn"] for r in rows] == sorted(r["modifiedOn"] for r in rows)


def test_an_unknown_sort_field_is_a_400_problem(st: StClient) -> None:
    response = st.get(list_path("appointments"), sort="-start")
    assert response.status_code == 400
    body = response.json()
    assert {"type", "title", "status", "traceId"} <= set(body)
    [message] = body["errors"]["sort"]
    assert "'-start'" in message and "Id, ModifiedOn, CreatedOn" in message


@pytest.mark.parametrize("feed", ["appointments", "locations", "memberships", "payments", "calls"])
def test_new_lists_honour_active_ids_and_include_total(
    st: StClient, tenant: Tenant, feed: str
) -> None:
    catalog = FEEDS[feed]
    truth = tenant.truth(feed)
    inactive = {i for i, r in truth.items() if not r["active"]}
    everything = dict([catalog.list_all_filter]) if catalog.list_all_filter else {}
    listed = st.ok(list_path(feed), pageSize=5000, includeTotal="true", **everything)
    assert {r["id"] for r in listed["data"]} == set(truth)
    assert listed["totalCount"] == len(truth)
    if catalog.list_all_filter is not None:
        default = {r["id"] for r in st.ok(list_path(feed), pageSize=5000)["data"]}
        assert default == set(truth) - inactive
    some = sorted(truth)[:5]
    found = st.ok(list_path(feed), ids=",".join(map(str, some)), **everything)["data"]
    assert [r["id"] for r in found] == some
    if feed != "calls":  # telecom's list answers another model of a call than its export
        assert {r["id"]: r for r in found} == {i: truth[i] for i in some}


def test_appointments_filter_by_job(st: StClient, tenant: Tenant) -> None:
    appointment = next(iter(tenant.truth("appointments").values()))
    found = st.ok(list_path("appointments"), jobId=appointment["jobId"], active="Any")["data"]
    assert appointment["id"] in {a["id"] for a in found}
    assert {a["jobId"] for a in found} == {appointment["jobId"]}


def test_adding_a_millisecond_to_the_bookmark_skips_the_last_record(st: StClient) -> None:
    """A client that resumes at its last modifiedOn + 1 ms must not get that record again."""
    for feed in ("jobs", "appointments", "invoices"):
        everything = dict([FEEDS[feed].list_all_filter]) if FEEDS[feed].list_all_filter else {}
        rows = st.ok(list_path(feed), sort="-modifiedOn", pageSize=1, **everything)["data"]
        [last] = rows
        stamp = datetime.fromisoformat(last["modifiedOn"])
        bookmark = (stamp + timedelta(milliseconds=1)).isoformat(timespec="milliseconds")
        after = st.ok(list_path(feed), modifiedOnOrAfter=bookmark, **everything)["data"]
        assert last["id"] not in {r["id"] for r in after}, feed
        exactly = stamp.isoformat(timespec="milliseconds")
        again = st.ok(list_path(feed), modifiedOnOrAfter=exactly, **everything)["data"]
        assert last["id"] in {r["id"] for r in again}, feed
        before = st.ok(
            list_path(feed), modifiedBefore=bookmark, sort="-modifiedOn", pageSize=1, **everything
        )["data"]
        assert before[0]["modifiedOn"] == last["modifiedOn"]
    created = st.ok(list_path("jobs"), sort="-createdOn", pageSize=1)["data"][0]
    later = datetime.fromisoformat(created["createdOn"]) + timedelta(milliseconds=1)
    newer = st.ok(list_path("jobs"), createdOnOrAfter=later.isoformat())["data"]
    assert created["id"] not in {r["id"] for r in newer}


def test_an_export_from_a_date_is_exact_to_the_millisecond(st: StClient, tenant: Tenant) -> None:
    newest = max(tenant.truth_jobs().values(), key=lambda j: j["modifiedOn"])
    stamp = datetime.fromisoformat(newest["modifiedOn"])
    later = (stamp + timedelta(milliseconds=1)).isoformat(timespec="milliseconds")
    page = st.ok(FEEDS["jobs"].export_url_path(TENANT), **{"from": later})
    assert newest["id"] not in {r["id"] for r in page["data"]}
    page = st.ok(FEEDS["jobs"].export_url_path(TENANT), **{"from": stamp.isoformat()})
    assert newest["id"] in {r["id"] for r in page["data"]}


def test_unserved_paths_are_404_problems_not_bad_ids(st: StClient) -> None:
    response = st.get(f"/crm/v2/tenant/{TENANT}/customers/custom-fields")
    assert response.status_code == 404
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not Found" and body["traceId"]
    assert "custom-fields" in body["errors"]["path"][0]
    assert "integer" not in response.text
