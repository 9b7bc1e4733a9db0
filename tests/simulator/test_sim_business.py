"""The simulated business: deterministic, realistic, and consistent with its own truth."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from simclient import EXPORTS, START, TENANT, StClient

from nexus.clock import VirtualClock
from nexus.simulator import TRUTH_CLASSES, BusinessConfig, Simulator, Tenant

CHICAGO = ZoneInfo("America/Chicago")


def make(config: BusinessConfig, history_days: int = 30, start: datetime = START) -> Simulator:
    sim = Simulator(clock=VirtualClock(start))
    sim.add_tenant(TENANT, config, history_days=history_days)
    return sim


def everything(tenant: Tenant) -> dict[str, Any]:
    return {
        "jobs": tenant.truth_jobs(),
        "invoices": tenant.truth_invoices(),
        "customers": tenant.truth_customers(),
        "estimates": tenant.truth_estimates(),
        "job_types": tenant.truth_job_types(),
        "revenue": tenant.revenue_by_day(),
        "exports": {
            feed: tenant.export_page(feed, None, 100_000)
            for feed in ("jobs", "invoices", "customers", "estimates")
        },
    }


def local_day(iso: str) -> date:
    return datetime.fromisoformat(iso).astimezone(CHICAGO).date()


@pytest.fixture(scope="module")
def default_business() -> Tenant:
    return make(BusinessConfig(seed=11), history_days=60).tenant(TENANT)


def test_same_seed_gives_the_same_business() -> None:
    first = everything(make(BusinessConfig(seed=5)).tenant(TENANT))
    second = everything(make(BusinessConfig(seed=5)).tenant(TENANT))
    assert first == second


def test_stepping_the_clock_or_jumping_gives_the_same_business() -> None:
    config = BusinessConfig(seed=5, invoice_edit_share=0.5, adjustment_share=0.1)
    stepped, jumped = make(config, history_days=10), make(config, history_days=10)
    for _ in range(4 * 24 * 3):
        stepped.advance(timedelta(minutes=15))
    jumped.advance(timedelta(days=3))
    assert stepped.now() == jumped.now()
    assert everything(stepped.tenant(TENANT)) == everything(jumped.tenant(TENANT))


def test_moving_the_shared_clock_directly_also_applies_events() -> None:
    config = BusinessConfig(seed=5)
    via_sim, via_clock = make(config), make(config)
    via_sim.advance(timedelta(days=2))
    via_clock.clock.advance(timedelta(days=2))
    assert everything(via_sim.tenant(TENANT)) == everything(via_clock.tenant(TENANT))


def test_different_seeds_and_tenants_give_different_businesses() -> None:
    one = make(BusinessConfig(seed=1)).tenant(TENANT).truth_invoices()
    two = make(BusinessConfig(seed=2)).tenant(TENANT).truth_invoices()
    assert one != two
    sim = make(BusinessConfig(seed=1))
    other = sim.add_tenant(TENANT + 1, BusinessConfig(seed=1), history_days=30)
    assert other.truth_invoices() != one


def test_history_days_put_business_before_now() -> None:
    tenant = make(BusinessConfig(seed=1), history_days=14).tenant(TENANT)
    created = sorted(job["createdOn"] for job in tenant.truth_jobs().values())
    first_visit_day = START.astimezone(CHICAGO).date() - timedelta(days=14)
    assert local_day(created[0]) >= first_visit_day - timedelta(days=8)
    assert datetime.fromisoformat(created[-1]) <= START
    completed = [j["completedOn"] for j in tenant.truth_jobs().values() if j["completedOn"]]
    assert min(local_day(c) for c in completed) == first_visit_day


def test_defaults_look_like_the_business_in_the_brief(default_business: Tenant) -> None:
    jobs = default_business.truth_jobs()
    today = START.astimezone(CHICAGO).date()
    first = today - timedelta(days=60)
    per_day = Counter(local_day(j["completedOn"]) for j in jobs.values() if j["completedOn"])
    workdays = [
        first + timedelta(days=n)
        for n in range(1, 60)
        if (first + timedelta(days=n)).weekday() != 6
    ]
    mean = statistics.mean(per_day.get(day, 0) for day in workdays)
    assert 8 <= mean <= 10, mean
    assert all(day.weekday() != 6 for day in per_day), "nobody works on Sundays"

    statuses = Counter(j["jobStatus"] for j in jobs.values())
    assert 0.025 <= statuses["Canceled"] / len(jobs) <= 0.08, statuses

    totals = [
        Decimal(inv["total"])
        for inv in default_business.truth_invoices().values()
        if inv["adjustmentToId"] is None and Decimal(inv["total"]) > 0
    ]
    assert 320 <= statistics.median(totals) <= 450, statistics.median(totals)
    p90 = statistics.quantiles(totals, n=10)[-1]
    assert 1200 <= p90 <= 2600, p90


def test_every_job_is_booked_with_its_own_zero_invoice(default_business: Tenant) -> None:
    jobs = default_business.truth_jobs()
    invoices = default_business.truth_invoices()
    for job in jobs.values():
        invoice = invoices[job["invoiceId"]]
        assert invoice["job"]["id"] == job["id"]
        assert invoice["referenceNumber"] == job["jobNumber"]
        assert invoice["createdOn"] == job["createdOn"]
        assert invoice["adjustmentToId"] is None
        assert invoice["customer"]["id"] == job["customerId"]


def test_invoice_totals_add_up(default_business: Tenant) -> None:
    for invoice in default_business.truth_invoices().values():
        sub, tax, total = (Decimal(invoice[k]) for k in ("subTotal", "salesTax", "total"))
        assert sub + tax == total
        # The lines add up to the subtotal; the tax is on top of them.
        assert sum((Decimal(i["total"]) for i in invoice["items"]), Decimal(0)) == sub or (
            total == 0 and not invoice["items"]
        )
        if invoice["paidOn"] is None:
            assert Decimal(invoice["balance"]) == total


def test_zero_invoices_are_explained(default_business: Tenant) -> None:
    tenant = default_business
    jobs = tenant.truth_jobs()
    job_types = tenant.truth_job_types()
    classes = Counter()
    for job_id, job in jobs.items():
        truth = tenant.job_truth_class(job_id)
        classes[truth] += 1
        total = tenant.job_invoice_total(job_id)
        if truth in ("canceled", "no_charge", "not_finished"):
            assert total == 0, (job_id, truth)
        if truth == "invoiced":
            assert total > 0
        if truth == "no_charge":
            assert (
                job["noCharge"]
                or job["recallForId"]
                or job["warrantyId"]
                or job_types[job["jobTypeId"]]["noCharge"]
            )
        if truth == "canceled":
            assert job["jobStatus"] == "Canceled"
    assert set(classes) <= set(TRUTH_CLASSES)
    assert classes["uninvoiced"] == 0  # uninvoiced_share defaults to 0
    assert 0.04 <= classes["no_charge"] / len(jobs) <= 0.13, classes
    kinds = Counter(
        "recall" if j["recallForId"] else "warranty" if j["warrantyId"] else "other"
        for j in jobs.values()
    )
    assert kinds["recall"] and kinds["warranty"]
    for job in jobs.values():
        for ref in (job["recallForId"], job["warrantyId"]):
            if ref:
                assert jobs[ref]["completedOn"] <= job["createdOn"]


def test_recent_jobs_are_not_finished_and_old_ones_are(default_business: Tenant) -> None:
    statuses = Counter(j["jobStatus"] for j in default_business.truth_jobs().values())
    assert statuses["Scheduled"] > 0, "jobs booked for the coming days are open"
    sim = make(BusinessConfig(seed=11), history_days=10)
    sim.advance(timedelta(days=65))
    tenant = sim.tenant(TENANT)
    cutoff = sim.now() - timedelta(days=60)  # invoice lags are capped at 60 days
    old = [
        job_id
        for job_id, job in tenant.truth_jobs().items()
        if job["completedOn"] and datetime.fromisoformat(job["completedOn"]) < cutoff
    ]
    assert old
    assert all(tenant.job_truth_class(job_id) != "not_finished" for job_id in old)
    recent = Counter(tenant.job_truth_class(j) for j in tenant.truth_jobs())
    assert recent["not_finished"] > 0


def test_job_invoice_total_sums_active_invoices_including_adjustments() -> None:
    tenant = make(BusinessConfig(seed=9, adjustment_share=0.3), history_days=40).tenant(TENANT)
    invoices = tenant.truth_invoices()
    adjustments = [i for i in invoices.values() if i["adjustmentToId"] is not None]
    assert adjustments
    for adjustment in adjustments:
        original = invoices[adjustment["adjustmentToId"]]
        assert original["job"]["id"] == adjustment["job"]["id"]
        job_id = adjustment["job"]["id"]
        expected = sum(
            (
                Decimal(i["total"])
                for i in invoices.values()
                if i["job"]["id"] == job_id and i["active"]
            ),
            Decimal("0.00"),
        )
        assert tenant.job_invoice_total(job_id) == expected
        assert expected > 0


def test_revenue_by_day_is_the_sales_ledger(default_business: Tenant) -> None:
    tenant = default_business
    jobs = tenant.truth_jobs()
    expected: dict[date, Decimal] = {}
    for job_id, job in jobs.items():
        if job["jobStatus"] != "Completed" or tenant.job_truth_class(job_id) == "no_charge":
            continue
        day = local_day(job["completedOn"])
        expected[day] = expected.get(day, Decimal(0)) + tenant.job_invoice_total(job_id)
    assert tenant.revenue_by_day() == expected
    weekly = sum(tenant.revenue_by_day().values()) / Decimal(60 / 7)
    assert 15_000 < weekly < 60_000


def test_uninvoiced_jobs_stay_at_zero_forever() -> None:
    sim = make(BusinessConfig(seed=4, uninvoiced_share=0.25), history_days=20)
    tenant = sim.tenant(TENANT)
    sim.advance(timedelta(days=70))
    classes = Counter(tenant.job_truth_class(j) for j in tenant.truth_jobs())
    completed_chargeable = classes["uninvoiced"] + classes["invoiced"]
    assert 0.15 <= classes["uninvoiced"] / completed_chargeable <= 0.35
    for job_id in tenant.truth_jobs():
        if tenant.job_truth_class(job_id) == "uninvoiced":
            assert tenant.job_invoice_total(job_id) == 0


def test_invoices_are_edited_after_their_total_is_set() -> None:
    sim = make(BusinessConfig(seed=8, invoice_edit_share=1.0), history_days=5)
    tenant = sim.tenant(TENANT)
    before = tenant.truth_invoices()
    sim.advance(timedelta(days=20))
    after = tenant.truth_invoices()
    edited = [
        i
        for i, inv in before.items()
        if Decimal(inv["total"]) > 0 and inv["total"] != after[i]["total"]
    ]
    assert edited
    assert all(after[i]["modifiedOn"] > before[i]["modifiedOn"] for i in edited)


def test_customers_and_estimates_go_inactive() -> None:
    tenant = make(BusinessConfig(seed=2, inactive_share=0.2), history_days=40).tenant(TENANT)
    customers = tenant.truth_customers()
    inactive = [c for c in customers.values() if not c["active"]]
    assert inactive
    merged = [c for c in inactive if c["mergedToId"] is not None]
    assert merged and all(c["mergedToId"] in customers for c in merged)
    estimates = tenant.truth_estimates()
    assert any(not e["active"] for e in estimates.values())
    statuses = Counter(e["status"]["name"] for e in estimates.values())
    assert set(statuses) == {"Open", "Sold", "Dismissed"}
    assert all(e["soldOn"] for e in estimates.values() if e["status"]["name"] == "Sold")
    assert any(e["jobId"] is None for e in estimates.values())
    jobs = tenant.truth_jobs()
    for estimate in estimates.values():
        if estimate["jobId"] is not None:
            assert estimate["id"] in jobs[estimate["jobId"]]["estimateIds"]


def test_phantom_jobs_share_one_created_on_and_stay_out_of_the_ledger() -> None:
    tenant = make(BusinessConfig(seed=1)).tenant(TENANT)
    revenue = tenant.revenue_by_day()
    ids = tenant.faults.phantom_jobs(300, total_each="5000.00")
    jobs = tenant.truth_jobs()
    assert len({jobs[i]["createdOn"] for i in ids}) == 1
    assert all(tenant.job_invoice_total(i) == Decimal("5000.00") for i in ids)
    assert tenant.revenue_by_day() == revenue
    spread = tenant.faults.phantom_jobs(50, same_created_at=False)
    assert len({tenant.truth_jobs()[i]["createdOn"] for i in spread}) > 1


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="canceled_share"):
        BusinessConfig(seed=1, canceled_share=1.5)
    with pytest.raises(ValueError, match="timezone"):
        BusinessConfig(seed=1, timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="unknown business setting"):
        BusinessConfig.from_dict({"seed": 1, "tickets": 3})
    assert BusinessConfig.from_dict({"seed": 1, "ticket_median": 200}).ticket_median == 200


def test_another_timezone_shifts_the_business_days() -> None:
    tenant = make(BusinessConfig(seed=1, timezone="Pacific/Auckland"), history_days=10).tenant(
        TENANT
    )
    auckland = ZoneInfo("Pacific/Auckland")
    for job in tenant.truth_jobs().values():
        if job["completedOn"]:
            local = datetime.fromisoformat(job["completedOn"]).astimezone(auckland)
            assert local.weekday() != 6
            assert 8 <= local.hour <= 23


def test_a_ten_thousand_job_tenant_is_generated_and_served_in_full_pages() -> None:
    # Scale is for the benchmarks (bench/backfill_memory.py and bench/backfill_all.py build
    # tenants of 500,000 jobs); this checks a tenant of many pages is served in full ones.
    sim = make(BusinessConfig(seed=1, completed_jobs_per_day=150), history_days=70)
    tenant = sim.tenant(TENANT)
    assert len(tenant.business.jobs) > 9_000
    with sim.serve() as server:
        st = StClient(server)
        token = None
        for _ in range(3):
            page = st.ok(EXPORTS["invoices"], **({"from": token} if token else {}))
            token = page["continueFrom"]
            assert len(page["data"]) == 1000
            assert page["hasMore"] is True
        st.close()


def test_the_crew_is_a_count_or_one_positive_workload_per_technician() -> None:
    # As the control API receives it, in JSON: a list, kept as a tuple of floats.
    crew = BusinessConfig.from_dict({"seed": 1, "technicians": [1, 1, 0.25]})
    assert crew.technicians == (1.0, 1.0, 0.25) and crew.workloads == (1.0, 1.0, 0.25)
    assert BusinessConfig(seed=1, technicians=3).workloads == (1.0, 1.0, 1.0)
    fix = "give a count, or one positive relative workload per technician, e.g. [1, 1, 0.25]"
    for wrong in ([], [1, 0], [1, "two"], True):
        with pytest.raises(ValueError) as info:
            BusinessConfig(seed=1, technicians=wrong)  # type: ignore[arg-type]
        assert str(info.value) == f"business.technicians is {wrong!r}: {fix}"
    with pytest.raises(ValueError, match=r"^business.technicians is 0: give 1 or more$"):
        BusinessConfig(seed=1, technicians=0)
