"""Every catalog feed: records that join up, a truth per feed, and a business that stays itself."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from simclient import START, TENANT

from nexus.catalog import FEEDS, Feed
from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, Simulator, Tenant, generated
from nexus.simulator.catalog import TECHNICIANS


def make(seed: int = 3, history_days: int = 40, **settings: Any) -> Simulator:
    sim = Simulator(clock=VirtualClock(START))
    config = BusinessConfig(seed=seed, inactive_share=0.1, invoice_edit_share=0.5, **settings)
    sim.add_tenant(TENANT, config, history_days=history_days)
    return sim


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return make().tenant(TENANT)


@pytest.fixture(scope="module")
def truth(tenant: Tenant) -> dict[str, dict[Any, dict[str, Any]]]:
    return {name: tenant.truth(name) for name in FEEDS}


def value_at(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def test_every_feed_has_records_keyed_as_the_catalog_says(
    truth: dict[str, dict[Any, dict[str, Any]]],
) -> None:
    for name, feed in FEEDS.items():
        records = truth[name]
        assert records, f"{name} has no records"
        for key, record in records.items():
            expected = (
                record[feed.key[0]] if len(feed.key) == 1 else tuple(record[k] for k in feed.key)
            )
            assert key == expected
    assert all(isinstance(k, tuple) for k in truth["technician_ratings"])
    assert all(isinstance(k, int) for k in truth["job_history"])


@pytest.mark.parametrize("name", list(FEEDS))
def test_joins_point_at_real_records(
    truth: dict[str, dict[Any, dict[str, Any]]], name: str
) -> None:
    feed: Feed = FEEDS[name]
    paths = {c.name: c.path for c in feed.columns}
    checked = 0
    for column, target in feed.joins.items():
        known = truth[target]
        for record in truth[name].values():
            value = value_at(record, paths[column])
            # 0 is how ServiceTitan says "none" in a required id (an invoice line's membershipTypeId)
            if value in (None, 0):
                continue
            assert value in known, f"{name}.{column} = {value}: no such {target} record"
            checked += 1
    if feed.joins and name not in ("business_units", "membership_types", "payment_types"):
        assert checked, f"no join of {name} was checked"


def test_appointments_are_consistent_with_their_jobs(
    tenant: Tenant, truth: dict[str, dict[Any, dict[str, Any]]]
) -> None:
    jobs, appointments = truth["jobs"], truth["appointments"]
    by_job: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for appointment in appointments.values():
        by_job[appointment["jobId"]].append(appointment)
        assert appointment["customerId"] == jobs[appointment["jobId"]]["customerId"]
        assert appointment["start"] < appointment["end"]
    for job_id, job in jobs.items():
        active = sorted(
            (a for a in by_job[job_id] if a["active"]), key=lambda a: (a["start"], a["id"])
        )
        assert job["appointmentCount"] == len(active), job_id
        assert job["firstAppointmentId"] == active[0]["id"]
        assert job["lastAppointmentId"] == active[-1]["id"]
        earliest = min(datetime.fromisoformat(a["start"]) for a in active)
        assert tenant.job_scheduled_at(job_id) == earliest
        if job["jobStatus"] == "Completed":
            assert active[-1]["status"] == "Done"
            assert active[-1]["end"] == job["completedOn"]
        if job["jobStatus"] == "Canceled":
            assert active[-1]["status"] == "Canceled"
    assert tenant.job_scheduled_at(1) is None
    two_visits = [j for j in jobs.values() if j["appointmentCount"] == 2]
    assert two_visits, "jobs put on hold come back for a second visit"
    replaced = [a for a in appointments.values() if not a["active"]]
    assert replaced and all(a["status"] == "Canceled" for a in replaced)
    moved = [a for a in appointments.values() if a["active"] and a["modifiedOn"] > a["createdOn"]]
    assert moved


def test_a_rescheduled_appointment_starts_later_than_first_booked() -> None:
    sim = make(seed=5, history_days=1, completed_jobs_per_day=40)
    tenant = sim.tenant(TENANT)
    starts: dict[int, set[int]] = defaultdict(set)
    was_active: set[int] = set()
    for _ in range(4 * 24):
        for row in tenant.business.appointments.rows.values():
            starts[row.id].add(row.start)
            if row.active:
                was_active.add(row.id)
        sim.advance(timedelta(hours=1))
    appointments = tenant.truth("appointments")
    jobs = tenant.truth("jobs")
    moved = [i for i, seen in starts.items() if len(seen) > 1]
    assert moved
    for appointment_id in moved:
        assert appointments[appointment_id]["start"] == datetime.fromtimestamp(
            max(starts[appointment_id]), UTC
        ).strftime("%Y-%m-%dT%H:%M:%SZ"), "moved later, never earlier"
    replaced = [i for i in was_active if not appointments[i]["active"]]
    assert replaced
    for appointment_id in replaced:
        job = jobs[appointments[appointment_id]["jobId"]]
        new = appointments[job["firstAppointmentId"]]
        assert new["id"] != appointment_id and new["active"]
        assert new["start"] > appointments[appointment_id]["start"]


def test_assignments_name_the_technicians_of_the_technicians_feed(
    truth: dict[str, dict[Any, dict[str, Any]]],
) -> None:
    technicians = truth["technicians"]
    assert set(TECHNICIANS) <= set(technicians)
    assert any(not t["active"] for t in technicians.values()), "former technicians are kept"
    appointments = truth["appointments"]
    per_appointment = Counter()
    for assignment in truth["appointment_assignments"].values():
        technician = technicians[assignment["technicianId"]]
        assert technician["active"] and assignment["technicianName"] == technician["name"]
        appointment = appointments[assignment["appointmentId"]]
        assert assignment["jobId"] == appointment["jobId"]
        if not appointment["active"] or appointment["status"] == "Canceled":
            assert not assignment["active"]
        per_appointment[assignment["appointmentId"]] += 1
    assert set(per_appointment.values()) == {1, 2}


def test_invoice_items_add_up_to_the_subtotal(
    truth: dict[str, dict[Any, dict[str, Any]]],
) -> None:
    lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in truth["invoice_items"].values():
        lines[item["invoiceId"]].append(item)
    edited = 0
    for invoice_id, invoice in truth["invoices"].items():
        active = [i for i in lines[invoice_id] if i["active"]]
        total = sum((Decimal(i["total"]) for i in active), Decimal("0.00"))
        assert total == Decimal(invoice["subTotal"]) or (not active and total == 0), invoice_id
        assert {i["id"] for i in active} == {i["id"] for i in invoice["items"]}
        edited += any(i["modifiedOn"] > i["createdOn"] for i in lines[invoice_id])
    assert edited, "edited invoices edit their lines"
    assert any(not i["active"] for i in truth["invoice_items"].values()), "dropped lines stay"


def test_a_payment_is_applied_to_each_paid_invoice(
    truth: dict[str, dict[Any, dict[str, Any]]],
) -> None:
    invoices = truth["invoices"]
    paid = {i for i, inv in invoices.items() if inv["paidOn"] is not None}
    applied: dict[int, list[dict[str, Any]]] = defaultdict(list)
    payment_types = truth["payment_types"]
    for payment in truth["payments"].values():
        [application] = payment["appliedTo"]
        applied[application["appliedTo"]].append(payment)
        invoice = invoices[application["appliedTo"]]
        assert application["appliedAmount"] == payment["total"]
        assert payment["customer"]["id"] == invoice["customer"]["id"]
        assert int(payment["typeId"]) in payment_types
        assert payment["date"] == invoice["paidOn"]
    assert set(applied) == paid and all(len(p) == 1 for p in applied.values())


def test_every_customer_has_its_location(truth: dict[str, dict[Any, dict[str, Any]]]) -> None:
    customers, locations = truth["customers"], truth["locations"]
    assert len(locations) == len(customers)
    for location in locations.values():
        customer = customers[location["customerId"]]
        assert location["active"] == customer["active"]
        assert location["address"]["street"] == customer["address"]["street"]
        if customer["mergedToId"] is not None:
            assert locations[location["mergedToId"]]["customerId"] == customer["mergedToId"]
    for job in truth["jobs"].values():
        assert locations[job["locationId"]]["customerId"] == job["customerId"]


def test_some_customers_hold_memberships(truth: dict[str, dict[Any, dict[str, Any]]]) -> None:
    memberships = truth["memberships"].values()
    assert 0.03 < len(memberships) / len(truth["customers"]) < 0.2
    assert {m["membershipTypeId"] for m in memberships} <= set(truth["membership_types"])
    assert len({m["membershipTypeId"] for m in memberships}) > 1
    assert {m["status"] for m in memberships} >= {"Active"}
    assert {m["businessUnitId"] for m in memberships} <= set(truth["business_units"])
    assert set(truth["business_units"]) == {101, 102, 103}


def test_generated_feeds_are_deterministic_and_change_as_the_clock_moves() -> None:
    one, two = make(seed=9, history_days=10), make(seed=9, history_days=10)
    names = [n for n in generated.generated_feeds()]
    assert {n: one.tenant(TENANT).truth(n) for n in names} == {
        n: two.tenant(TENANT).truth(n) for n in names
    }
    other = make(seed=10, history_days=10).tenant(TENANT).truth("calls")
    assert other != one.tenant(TENANT).truth("calls")
    before = {n: one.tenant(TENANT).truth(n) for n in names}
    one.advance(timedelta(days=10))
    after = {n: one.tenant(TENANT).truth(n) for n in names}
    assert set(before["calls"]) < set(after["calls"]), "ids are stable and new records come"
    changed = [(n, i) for n in names for i in before[n] if after[n][i] != before[n][i]]
    assert len({n for n, _ in changed}) > len(names) // 4
    assert all(
        after[n][i]["modifiedOn"] > before[n][i]["modifiedOn"]
        for n, i in changed
        if "modifiedOn" in before[n][i]
    )
    assert any(before[n][i]["active"] and not after[n][i]["active"] for n, i in changed)


def test_generated_feeds_stay_small_beside_the_business(tenant: Tenant) -> None:
    business = tenant.business
    jobs = len(business.jobs)
    for name in generated.generated_feeds():
        assert len(business.feed(name)) < jobs / 4, name


def test_the_feeds_added_leave_the_business_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs, invoices, customers and estimates do not depend on the new feeds' draws."""

    def core(sim: Simulator) -> dict[str, Any]:
        tenant = sim.tenant(TENANT)
        return {
            "jobs": {
                i: {k: v for k, v in r.items() if "ppointment" not in k and k != "modifiedOn"}
                for i, r in tenant.truth_jobs().items()
            },
            "invoices": {
                i: {k: v for k, v in r.items() if k != "items"}
                for i, r in tenant.truth_invoices().items()
            },
            "customers": tenant.truth_customers(),
            "estimates": tenant.truth_estimates(),
            "revenue": tenant.revenue_by_day(),
        }

    with_everything = core(make(seed=4, history_days=15))
    monkeypatch.setattr(generated, "day_events", lambda *args: [])
    monkeypatch.setattr(generated, "setup_events", lambda *args: [])
    from nexus.simulator import plan

    monkeypatch.setattr(plan.Planner, "_plan_visits", lambda *args: None)
    monkeypatch.setattr(plan.Planner, "_plan_memberships", lambda *args: None)
    assert core(make(seed=4, history_days=15)) == with_everything


def test_truth_refuses_an_unknown_feed(tenant: Tenant) -> None:
    with pytest.raises(ValueError, match="unknown feed 'appointment'"):
        tenant.truth("appointment")
