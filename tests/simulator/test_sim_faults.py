"""Faults: outages, throttling, slowness, bad records, token trouble, lost changes, phantoms."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from simclient import EXPORTS, LISTS, TENANT, StClient

from nexus.catalog import FEEDS
from nexus.simulator import AS_STRING, REMOVE, Simulator, Tenant
from nexus.simulator.faults import malformation


def test_an_outage_answers_503_with_a_json_problem(st: StClient, tenant: Tenant) -> None:
    st.token()
    tenant.faults.outage()
    response = st.get(LISTS["jobs"])
    assert response.status_code == 503
    assert response.json()["status"] == 503
    assert st.http.get("/_sim/clock").status_code == 200, "control routes keep working"
    assert st.request_token().status_code == 200, "the token endpoint is another host"
    tenant.faults.clear()
    assert st.get(LISTS["jobs"]).status_code == 200


@pytest.mark.parametrize("status", [502, 503])
def test_an_outage_can_serve_an_html_page(st: StClient, tenant: Tenant, status: int) -> None:
    tenant.faults.outage(status=status, html=True)
    response = st.get(EXPORTS["jobs"])
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    reason = "Bad Gateway" if status == 502 else "Service Unavailable"
    assert f"<title>{status} {reason}</title>" in response.text


def test_an_outage_ends_at_its_until(sim: Simulator, st: StClient, tenant: Tenant) -> None:
    tenant.faults.outage(until=sim.now() + timedelta(hours=6))
    assert st.get(LISTS["jobs"]).status_code == 503
    sim.advance(timedelta(hours=5, minutes=59))
    assert st.get(LISTS["jobs"]).status_code == 503
    sim.advance(timedelta(minutes=1))
    assert st.get(LISTS["jobs"]).status_code == 200


def test_the_rate_limit_answers_429_with_retry_after(
    sim: Simulator, st: StClient, tenant: Tenant
) -> None:
    st.token()
    tenant.faults.rate_limit(per_second=3)
    statuses = [st.get(LISTS["job_types"]) for _ in range(8)]
    refused = [r for r in statuses if r.status_code == 429]
    assert 3 <= sum(r.status_code == 200 for r in statuses) <= 6
    assert refused
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert refused[0].json()["status"] == 429
    # The window is a second of the simulator's clock, not of the machine's.
    time.sleep(1.05)
    assert st.get(LISTS["job_types"]).status_code == 429
    sim.advance(timedelta(seconds=1))
    assert st.get(LISTS["job_types"]).status_code == 200


def test_slow_responses_trip_client_timeouts(st: StClient, tenant: Tenant) -> None:
    st.token()
    tenant.faults.slow(0.3)
    began = time.perf_counter()
    assert st.get(LISTS["job_types"]).status_code == 200
    assert time.perf_counter() - began >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        st.http.get(LISTS["job_types"], headers=st.headers(), timeout=0.1)


@pytest.mark.parametrize(
    ("feed", "field", "check"),
    [
        ("invoices", "total", lambda v, r: v == "abc"),
        ("jobs", "id", lambda v, r: isinstance(v, str)),
        ("customers", "createdOn", lambda v, r: "createdOn" not in r),
        ("estimates", "subtotal", lambda v, r: v == "abc"),
    ],
)
def test_the_next_export_page_carries_one_malformed_record(
    st: StClient, tenant: Tenant, feed: str, field: str, check: object
) -> None:
    tenant.faults.malformed_record(feed)
    page = st.ok(EXPORTS[feed])
    first = page["data"][0]
    assert check(first.get(field), first)  # type: ignore[operator]
    for record in page["data"][1:]:
        assert not check(record.get(field), record)  # type: ignore[operator]
    again = st.ok(EXPORTS[feed])
    assert (
        (again["data"][0] == tenant.business.feed(feed) and False)
        or again["data"][0]["id"] == page["data"][0]["id"]
        or feed == "jobs"
    )
    assert not check(again["data"][0].get(field), again["data"][0])  # type: ignore[operator]


def test_a_malformed_record_can_be_chosen_and_can_persist(st: StClient, tenant: Tenant) -> None:
    tenant.faults.malformed_record("jobs", "createdOn", REMOVE, times=None)
    for _ in range(2):
        assert "createdOn" not in st.ok(EXPORTS["jobs"])["data"][0]
    tenant.faults.malformed_record("invoices", "total", 12.5)
    assert st.ok(EXPORTS["invoices"])["data"][0]["total"] == 12.5
    tenant.faults.malformed_record("customers", "id", AS_STRING)
    assert isinstance(st.ok(EXPORTS["customers"])["data"][0]["id"], str)
    tenant.faults.clear()
    assert "createdOn" in st.ok(EXPORTS["jobs"])["data"][0]


def test_token_rejection_refuses_new_tokens(st: StClient, tenant: Tenant) -> None:
    tenant.faults.token_rejection()
    response = st.request_token()
    assert response.status_code == 401
    assert response.json()["status"] == 401
    tenant.faults.clear()
    assert st.request_token().status_code == 200


def test_revoked_tokens_get_401_and_a_renewed_token_works(st: StClient, tenant: Tenant) -> None:
    old = st.token()
    tenant.faults.token_rejection(token_endpoint=False, revoke_issued=True)
    assert st.get(LISTS["jobs"]).status_code == 401
    new = st.token(renew=True)
    assert new != old
    assert st.get(LISTS["jobs"]).status_code == 200


def test_revoked_tokens_with_a_refusing_token_endpoint(st: StClient, tenant: Tenant) -> None:
    st.token()
    tenant.faults.token_rejection(token_endpoint=True, revoke_issued=True)
    assert st.get(LISTS["jobs"]).status_code == 401
    assert st.request_token().status_code == 401


def test_dropped_changes_are_missing_from_the_export_only(st: StClient, tenant: Tenant) -> None:
    tenant.faults.drop_export_share({"invoices": 0.3})
    exported, _, _ = st.export_all("invoices")
    truth = tenant.truth_invoices()
    missing = set(truth) - set(exported)
    assert 0.2 <= len(missing) / len(truth) <= 0.4
    again, _, _ = st.export_all("invoices")
    assert set(again) == set(exported), "the same changes are dropped every time"
    sample = sorted(missing)[:50]
    listed = st.ok(LISTS["invoices"], ids=",".join(map(str, sample)), activeState="All")
    assert [i["id"] for i in listed["data"]] == sample
    jobs, _, _ = st.export_all("jobs")
    assert set(jobs) == set(tenant.truth_jobs()), "other feeds are untouched"


def test_a_dropped_change_can_surface_with_a_later_change(
    sim: Simulator, st: StClient, tenant: Tenant
) -> None:
    tenant.faults.drop_export_share({"invoices": 0.5})
    _, _, token = st.export_all("invoices")
    sim.advance(timedelta(days=3))
    changed, _, _ = st.export_all("invoices", start=token)
    assert changed
    assert all(changed[i] == tenant.truth_invoices()[i] for i in changed)


def test_a_drop_ends_at_its_until_and_what_it_hid_stays_lost(
    sim: Simulator, st: StClient, tenant: Tenant
) -> None:
    tenant.faults.drop_export_share({"invoices": 0.3}, until=sim.now() + timedelta(days=1))
    assert tenant.faults.describe()["drop_export_share"] == {"invoices": 0.3}
    read_at = sim.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    seen, _, token = st.export_all("invoices")
    hidden = set(tenant.truth_invoices()) - set(seen)
    assert hidden
    sim.advance(timedelta(days=2))
    assert "drop_export_share" not in tenant.faults.describe()
    later, _, _ = st.export_all("invoices", start=token)
    truth = tenant.truth_invoices()
    changed = {i for i, r in truth.items() if r["modifiedOn"] > read_at}
    assert changed and changed <= set(later), "after its end the export shows every change"
    lacking = {i for i, r in truth.items() if later.get(i, seen.get(i)) != r}
    assert lacking and lacking <= hidden, "what it hid before its end stays lost to the cursor"


def test_phantom_jobs_arrive_through_the_feed_with_one_created_on(
    st: StClient, tenant: Tenant
) -> None:
    _, _, jobs_token = st.export_all("jobs")
    _, _, invoices_token = st.export_all("invoices")
    ids = tenant.faults.phantom_jobs(1200, same_created_at=True, total_each="4000.00")
    jobs, _, _ = st.export_all("jobs", start=jobs_token)
    assert set(jobs) == set(ids)
    assert len({j["createdOn"] for j in jobs.values()}) == 1
    invoices, _, _ = st.export_all("invoices", start=invoices_token)
    assert len(invoices) == 1200
    assert {Decimal(i["total"]) for i in invoices.values()} == {Decimal("4000.00")}
    assert {i["job"]["id"] for i in invoices.values()} == set(ids)


def test_requests_are_counted_per_path(st: StClient, tenant: Tenant) -> None:
    st.ok(LISTS["jobs"])
    st.ok(LISTS["jobs"], page=2)
    tenant.faults.outage()
    st.get(EXPORTS["jobs"])
    counts = tenant.request_counts()
    assert counts[LISTS["jobs"]] == 2
    assert counts[EXPORTS["jobs"]] == 1
    tenant.reset_request_counts()
    assert tenant.request_counts() == {}


def test_faults_are_checked(tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="status"):
        tenant.faults.outage(status=200)
    with pytest.raises(ValueError, match="unknown feed 'paymnts': did you mean 'payments'"):
        tenant.faults.drop_export_share({"paymnts": 0.1})
    with pytest.raises(ValueError, match="unknown feed"):
        tenant.faults.malformed_record("earthquakes")
    with pytest.raises(ValueError, match="job_types has no export"):
        tenant.faults.drop_export_share({"job_types": 0.1})
    with pytest.raises(ValueError, match="share"):
        tenant.faults.drop_export_share({"jobs": 2})
    with pytest.raises(ValueError, match="naive"):
        tenant.faults.slow(1, until=datetime(2026, 1, 1))


def test_faults_describe_themselves(sim: Simulator, tenant: Tenant) -> None:
    tenant.faults.outage(status=502, html=True, until=sim.now() + timedelta(hours=1))
    tenant.faults.rate_limit(5)
    tenant.faults.drop_export_share({"jobs": 0.1})
    described = tenant.faults.describe()
    assert described["outage"]["status"] == 502
    assert described["rate_limit"]["per_second"] == 5
    assert described["drop_export_share"] == {"jobs": 0.1}
    sim.advance(timedelta(hours=2))
    assert "outage" not in tenant.faults.describe()
    tenant.faults.clear()
    assert tenant.faults.describe() == {}
    assert tenant.id == TENANT


# -- every feed ------------------------------------------------------------------------


@pytest.mark.parametrize("feed", ["payments", "appointments", "invoice_items", "calls"])
def test_dropped_changes_of_any_feed_miss_its_export_only(
    st: StClient, tenant: Tenant, feed: str
) -> None:
    catalog = FEEDS[feed]
    tenant.faults.drop_export_share({feed: 0.4})
    exported: dict[int, dict[str, object]] = {}
    token = None
    while True:
        page = st.ok(catalog.export_url_path(TENANT), **({"from": token} if token else {}))
        exported.update((r["id"], r) for r in page["data"])
        token = page["continueFrom"]
        if not page["hasMore"]:
            break
    truth = tenant.truth(feed)
    missing = set(truth) - set(exported)
    assert 0.2 <= len(missing) / len(truth) <= 0.6, (len(missing), len(truth))
    if catalog.list_path is not None and "ids" in catalog.list_filters:
        sample = sorted(missing)[:20]
        everything = dict([catalog.list_all_filter]) if catalog.list_all_filter else {}
        listed = st.ok(catalog.list_url_path(TENANT), ids=",".join(map(str, sample)), **everything)
        assert [r["id"] for r in listed["data"]] == sample
    jobs, _, _ = st.export_all("jobs")
    assert set(jobs) == set(tenant.truth_jobs()), "other feeds are untouched"


@pytest.mark.parametrize("feed", ["appointments", "memberships", "technician_ratings"])
def test_any_feed_can_carry_a_malformed_record(st: StClient, tenant: Tenant, feed: str) -> None:
    field, value = malformation(feed)
    tenant.faults.malformed_record(feed)
    first = st.ok(FEEDS[feed].export_url_path(TENANT))["data"][0]
    assert first[field] == value
    assert st.ok(FEEDS[feed].export_url_path(TENANT))["data"][0][field] != value


def test_a_reference_list_carries_its_malformed_record_on_the_list(
    st: StClient, tenant: Tenant
) -> None:
    tenant.faults.malformed_record("campaigns", "id", AS_STRING)
    first = st.ok(FEEDS["campaigns"].list_url_path(TENANT))["data"][0]
    assert isinstance(first["id"], str)
    assert isinstance(st.ok(FEEDS["campaigns"].list_url_path(TENANT))["data"][0]["id"], int)


def test_outages_and_rate_limits_cover_every_feed(st: StClient, tenant: Tenant) -> None:
    st.token()
    tenant.faults.outage(status=503)
    for feed in ("calls", "appointments", "payments"):
        assert st.get(FEEDS[feed].export_url_path(TENANT)).status_code == 503
    assert st.get(FEEDS["zones"].list_url_path(TENANT)).status_code == 503
    tenant.faults.clear()
    tenant.faults.rate_limit(per_second=2)
    statuses = [st.get(FEEDS["technicians"].list_url_path(TENANT)).status_code for _ in range(6)]
    assert 429 in statuses and 200 in statuses
