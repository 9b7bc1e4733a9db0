"""List and by-id endpoints: paging, filters, and the active-only defaults that lose rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from simclient import LISTS, START, TENANT, StClient

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
