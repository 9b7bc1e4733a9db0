"""The /_sim control routes: the clock, tenants, faults, truth and request counts over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from simclient import EXPORTS, LISTS, START, TENANT, StClient

from nexus.simulator import Simulator, Tenant


def test_the_clock_moves_forward_only(st: StClient, sim: Simulator, tenant: Tenant) -> None:
    assert st.http.get("/_sim/clock").json() == {"now": START.isoformat()}
    jobs_before = len(tenant.truth_jobs())
    moved = st.http.post("/_sim/clock", json={"advance_s": 86_400})
    assert moved.json()["now"] == (START + timedelta(days=1)).isoformat()
    assert sim.now() == START + timedelta(days=1)
    assert len(tenant.truth_jobs()) > jobs_before
    target = START + timedelta(days=2, hours=3)
    assert st.http.post("/_sim/clock", json={"set": target.isoformat()}).json()["now"] == (
        target.isoformat()
    )
    for body in (
        {"set": START.isoformat()},  # backwards
        {"advance_s": 5, "set": target.isoformat()},
        {},
        {"advance_s": -1},
        {"set": "2026-05-01T00:00:00"},  # naive
    ):
        response = st.http.post("/_sim/clock", json=body)
        assert response.status_code == 400, body
        assert response.json()["status"] == 400


def test_faults_are_switched_over_http(st: StClient, tenant: Tenant) -> None:
    st.token()
    until = (START + timedelta(hours=1)).isoformat()
    body = {
        "outage": {"status": 502, "html": True, "until": until},
        "drop_export_share": {"invoices": 0.2},
    }
    described = st.http.post(f"/_sim/tenants/{TENANT}/faults", json=body).json()
    assert described["outage"] == {"status": 502, "html": True, "until": until}
    assert described["drop_export_share"] == {"invoices": 0.2}
    assert st.get(LISTS["jobs"]).status_code == 502
    assert st.http.get(f"/_sim/tenants/{TENANT}/faults").json() == described
    assert st.http.delete(f"/_sim/tenants/{TENANT}/faults").json() == {}
    assert st.get(LISTS["jobs"]).status_code == 200

    more = {
        "rate_limit": {"per_second": 2},
        "slow": {"delay_s": 0.01},
        "token_rejection": {"token_endpoint": True},
        "malformed_record": {"feed": "jobs", "field": "createdOn", "remove": True},
    }
    described = st.http.post(f"/_sim/tenants/{TENANT}/faults", json=more).json()
    assert set(described) == set(more)
    assert st.request_token().status_code == 401
    assert "createdOn" not in st.ok(EXPORTS["jobs"])["data"][0]
    st.http.delete(f"/_sim/tenants/{TENANT}/faults")

    custom = {"malformed_record": {"feed": "invoices", "field": "total", "value": None}}
    st.http.post(f"/_sim/tenants/{TENANT}/faults", json=custom)
    assert st.ok(EXPORTS["invoices"])["data"][0]["total"] is None
    unknown = st.http.post(f"/_sim/tenants/{TENANT}/faults", json={"earthquake": {}})
    assert unknown.status_code == 400
    for bad_feed in (
        {"malformed_record": {"feed": "paymints"}},
        {"drop_export_share": {"paymints": 0.1}},
    ):
        refused = st.http.post(f"/_sim/tenants/{TENANT}/faults", json=bad_feed)
        assert refused.status_code == 400
        assert "unknown feed 'paymints': did you mean 'payments'?" in refused.json()["title"]
    no_export = st.http.post(
        f"/_sim/tenants/{TENANT}/faults", json={"drop_export_share": {"job_types": 0.1}}
    )
    assert no_export.status_code == 400 and "no export" in no_export.json()["title"]
    for feed in ("payments", "appointments", "calls", "job_types"):
        body = {"malformed_record": {"feed": feed}, "drop_export_share": {"payments": 0.1}}
        assert st.http.post(f"/_sim/tenants/{TENANT}/faults", json=body).status_code == 200
    st.http.delete(f"/_sim/tenants/{TENANT}/faults")
    assert st.http.get("/_sim/tenants/77/faults").status_code == 404


def test_truth_is_readable_over_http(st: StClient, tenant: Tenant) -> None:
    summary = st.http.get(f"/_sim/tenants/{TENANT}/truth/summary").json()
    assert summary["tenant"] == TENANT
    assert summary["feeds"]["jobs"]["total"] == len(tenant.truth_jobs())
    assert sum(summary["job_truth_class"].values()) == len(tenant.truth_jobs())
    revenue = st.http.get(f"/_sim/tenants/{TENANT}/truth/revenue").json()["days"]
    assert {d["day"]: Decimal(d["revenue"]) for d in revenue} == {
        day.isoformat(): total for day, total in tenant.revenue_by_day().items()
    }
    job_id = next(iter(tenant.truth_jobs()))
    job = st.http.get(f"/_sim/tenants/{TENANT}/truth/jobs/{job_id}").json()
    assert job["truth_class"] == tenant.job_truth_class(job_id)
    assert Decimal(job["invoice_total"]) == tenant.job_invoice_total(job_id)
    assert st.http.get(f"/_sim/tenants/{TENANT}/truth/jobs/1").status_code == 404


def test_tenants_are_added_over_http(st: StClient, sim: Simulator) -> None:
    body = {"tenant": 2002, "business": {"seed": 4, "completed_jobs_per_day": 3}, "history_days": 7}
    response = st.http.post("/_sim/tenants", json=body)
    assert response.status_code == 201
    assert response.json()["tenant"] == 2002
    assert sim.tenant(2002).config.completed_jobs_per_day == 3
    assert st.ok("/jpm/v2/tenant/2002/jobs")["data"]
    listed = st.http.get("/_sim/tenants").json()["tenants"]
    assert {t["tenant"] for t in listed} == {TENANT, 2002}
    assert st.http.post("/_sim/tenants", json=body).status_code == 400
    unknown = {"tenant": 2003, "business": {"seed": 1, "jobs_per_day": 3}}
    bad = st.http.post("/_sim/tenants", json=unknown)
    assert bad.status_code == 400 and "jobs_per_day" in bad.json()["title"]


def test_phantom_jobs_over_http(st: StClient, tenant: Tenant) -> None:
    body = {"rows": 40, "same_created_at": True, "total_each": "1234.50"}
    response = st.http.post(f"/_sim/tenants/{TENANT}/phantom-jobs", json=body)
    assert response.status_code == 201
    ids = response.json()["job_ids"]
    assert response.json()["count"] == 40
    jobs = tenant.truth_jobs()
    assert len({jobs[i]["createdOn"] for i in ids}) == 1
    assert tenant.job_invoice_total(ids[0]) == Decimal("1234.50")
    created = datetime.fromisoformat(jobs[ids[0]]["createdOn"])
    assert created == START


def test_request_counts_over_http(st: StClient) -> None:
    st.ok(LISTS["jobs"])
    st.ok(LISTS["jobs"])
    counts = st.http.get(f"/_sim/tenants/{TENANT}/requests").json()
    assert counts["paths"] == {LISTS["jobs"]: 2}
    assert counts["token_requests"] == 1
    st.http.delete(f"/_sim/tenants/{TENANT}/requests")
    assert st.http.get(f"/_sim/tenants/{TENANT}/requests").json()["paths"] == {}
