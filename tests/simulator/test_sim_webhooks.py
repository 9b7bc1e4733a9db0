"""The simulator's webhook sender: signed notices of changes, appointments included."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import timedelta
from typing import Any

import orjson
import pytest
from simclient import START, TENANT

from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, SimServer, Simulator
from nexus.simulator.sim import serve_app

SECRET = b"a-webhook-secret-of-thirty-two-bytes!"


class Inbox:
    """An ASGI app that keeps every POST it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, body))
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, SimServer]]:
    box = Inbox()
    with serve_app(box) as server:
        yield box, server


def test_appointment_changes_are_announced_like_the_others(
    inbox: tuple[Inbox, SimServer],
) -> None:
    box, server = inbox
    sim = Simulator(clock=VirtualClock(START))
    tenant = sim.add_tenant(TENANT, BusinessConfig(seed=2), history_days=3)
    sim.webhooks.configure(
        f"{server.base_url}/hooks/{{tenant}}", SECRET, feeds=("appointments", "invoices")
    )
    sim.webhooks.switch(True)
    sim.advance(timedelta(hours=36))
    deliveries = sim.webhooks.deliver()
    assert deliveries and all(d.status == 202 for d in deliveries)
    assert {d.feed for d in deliveries} == {"appointments", "invoices"}
    appointments = tenant.truth("appointments")
    seen = 0
    for headers, body in box.received:
        expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        assert headers["x-servicetitan-signature"] == expected
        payload = orjson.loads(body)
        assert set(payload) == {"eventId", "eventType", "tenantId", "createdOn", "data"}
        assert payload["tenantId"] == TENANT
        if payload["eventType"].startswith("Appointment."):
            record = appointments[payload["data"]["id"]]
            assert payload["data"]["jobId"] == record["jobId"]
            assert payload["eventId"].startswith(f"sim-{TENANT}-appointments-{record['id']}-v")
            seen += 1
    assert seen == sum(1 for d in deliveries if d.feed == "appointments")
    created = [orjson.loads(b)["eventType"] for _, b in box.received]
    assert "Appointment.Created" in created and "Appointment.Updated" in created


def test_announce_sends_appointments_on_demand(inbox: tuple[Inbox, SimServer]) -> None:
    _, server = inbox
    sim = Simulator(clock=VirtualClock(START))
    tenant = sim.add_tenant(TENANT, BusinessConfig(seed=2), history_days=3)
    sim.webhooks.configure(f"{server.base_url}/hooks/{{tenant}}", SECRET)
    some = sorted(tenant.truth("appointments"))[:3]
    assert sim.webhooks.announce(TENANT, "appointments", some) == 3
    assert [d.record_id for d in sim.webhooks.deliver()] == some


def test_only_catalog_feeds_keyed_by_id_can_be_announced() -> None:
    sim = Simulator(clock=VirtualClock(START))
    with pytest.raises(ValueError, match="no webhooks for appointment"):
        sim.webhooks.configure("http://127.0.0.1:9/", SECRET, feeds=("appointment",))
    with pytest.raises(ValueError, match="technician_ratings"):
        sim.webhooks.configure("http://127.0.0.1:9/", SECRET, feeds=("technician_ratings",))
    sim.webhooks.configure("http://127.0.0.1:9/", SECRET, feeds=("payments", "calls"))
