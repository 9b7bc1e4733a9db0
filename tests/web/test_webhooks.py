"""Webhooks end to end: the simulator signs and posts, Nexus verifies, acknowledges
re-deliveries, refuses forgeries and replays, records the hint and refreshes the named ids
through the loader — over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from dbstate import fingerprint
from fastapi import FastAPI

from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.registry.config import Config, TenantConfig
from nexus.servicetitan import ServiceTitanClient
from nexus.servicetitan.webhook_signature import SignatureScheme
from nexus.serving import ThreadedServer
from nexus.simulator import SimServer, Simulator
from nexus.store.database import Database
from nexus.sync.hints import BadHint, parse_hint
from nexus.web import create_app
from stsim import client_for
from webkit import BEARER, SECRET, TENANT, web_settings

HEADER = "X-ServiceTitan-Signature"


def sign(body: bytes, secret: str = SECRET, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, algorithm).hexdigest()


@dataclass
class Nexus:
    url: str
    app: FastAPI
    db: Database

    def post(
        self, body: bytes, headers: dict[str, str] | None = None, tenant: int = TENANT
    ) -> httpx.Response:
        return httpx.post(
            f"{self.url}/webhooks/servicetitan/{tenant}",
            content=body,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=30,
        )

    def signed(self, body: bytes, tenant: int = TENANT) -> httpx.Response:
        return self.post(body, {HEADER: sign(body)}, tenant)

    def settle(self) -> None:
        assert self.app.state.refresher.wait_idle(60), "the refresh did not finish"


@pytest.fixture
def mirrored(db: Database, client: ServiceTitanClient, clock: VirtualClock) -> Database:
    """The simulated tenant's 30 days of history, synced into the mirror."""
    sync_all(db, client, TENANT, clock)
    return db


def serve_nexus(
    db: Database, server: SimServer, clock: VirtualClock, **settings: Any
) -> Callable[[], Iterator[Nexus]]:
    def run() -> Iterator[Nexus]:
        config = settings.pop("config", Config())
        app = create_app(
            web_settings(**settings),
            config,
            db,
            clock,
            tenants=[TENANT],
            clients=lambda _t: client_for(server),
        )
        with ThreadedServer(app) as running:
            yield Nexus(running.url, app, db)

    return run


@pytest.fixture
def nexus(mirrored: Database, server: SimServer, clock: VirtualClock) -> Iterator[Nexus]:
    yield from serve_nexus(mirrored, server, clock)()


def invoice_totals(db: Database, ids: list[int]) -> dict[int, Decimal]:
    with db.connect(autocommit=True) as conn:
        return dict(
            conn.execute(
                "SELECT id, total FROM titan.invoices WHERE tenant_id = %s AND id = ANY(%s)",
                (TENANT, ids),
            ).fetchall()
        )


def job_totals(db: Database, ids: list[int]) -> dict[int, Decimal]:
    with db.connect(autocommit=True) as conn:
        return dict(
            conn.execute(
                "SELECT id, invoice_total FROM titan.jobs WHERE tenant_id = %s AND id = ANY(%s)",
                (TENANT, ids),
            ).fetchall()
        )


def runs_of(db: Database, producer: str) -> int:
    with db.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM nexus.runs WHERE producer = %s", (producer,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def hints(db: Database) -> list[tuple[str, dict[str, list[int]], str | None]]:
    with db.connect(autocommit=True) as conn:
        return conn.execute(
            "SELECT status, targets, error FROM nexus.webhook_hints ORDER BY id"
        ).fetchall()


# -- the simulator's webhooks keep the mirror current without a sync --------------------------


def test_simulated_changes_reach_the_mirror_through_webhooks_alone(
    nexus: Nexus, sim: Simulator
) -> None:
    syncs_before = runs_of(nexus.db, "invoice_sync")
    sim.webhooks.configure(f"{nexus.url}/webhooks/servicetitan/{{tenant}}", SECRET)
    sim.webhooks.switch(True)
    sim.advance(timedelta(hours=30))
    deliveries = sim.webhooks.deliver()
    assert deliveries, "thirty hours of business changed no invoice or job"
    assert {d.status for d in deliveries} == {202}, [d.error for d in deliveries if d.error]
    nexus.settle()

    tenant = sim.tenant(TENANT)
    truth = tenant.truth_invoices()
    invoice_ids = sorted({d.record_id for d in deliveries if d.feed == "invoices"})
    assert invoice_ids
    mirrored = invoice_totals(nexus.db, invoice_ids)
    assert mirrored == {i: Decimal(truth[i]["total"]) for i in invoice_ids}
    job_ids = sorted({truth[i]["job"]["id"] for i in invoice_ids})
    assert job_totals(nexus.db, job_ids) == {j: tenant.job_invoice_total(j) for j in job_ids}
    # No export sync ran: the webhooks alone did it, as recorded runs of their own.
    assert runs_of(nexus.db, "invoice_sync") == syncs_before
    assert runs_of(nexus.db, "webhook_refresh") >= 1
    assert {status for status, _, _ in hints(nexus.db)} == {"refreshed"}
    page = httpx.get(f"{nexus.url}/webhooks.json", headers=BEARER).json()
    assert page["counts"]["refreshed"] == len(deliveries)
    assert page["latency_s"]["p99"] is not None
    # Each hint links to the run that refreshed it, and that run is on the producer page.
    html = httpx.get(f"{nexus.url}/webhooks", headers=BEARER).text
    run = page["hints"][0]["run_id"]
    assert f'href="/producers/webhook_refresh#run-{run}"' in html
    producer = httpx.get(f"{nexus.url}/producers/webhook_refresh", headers=BEARER).text
    assert f'<tr id="run-{run}">' in producer
    assert "Targeted refreshes of the ids named by ServiceTitan webhooks" in producer


def test_switched_off_the_simulator_announces_nothing(nexus: Nexus, sim: Simulator) -> None:
    sim.webhooks.configure(f"{nexus.url}/webhooks/servicetitan/{{tenant}}", SECRET)
    sim.webhooks.switch(True)
    sim.webhooks.switch(False)
    sim.advance(timedelta(hours=30))
    assert sim.webhooks.deliver() == []
    assert hints(nexus.db) == []
    # Switched on again, only what changes from then on is announced.
    sim.webhooks.switch(True)
    assert sim.webhooks.deliver() == []
    sim.advance(timedelta(hours=6))
    assert sim.webhooks.deliver()


def test_amounts_in_the_payload_are_never_believed(nexus: Nexus, sim: Simulator) -> None:
    tenant = sim.tenant(TENANT)
    invoice = next(r for r in tenant.truth_invoices().values() if Decimal(r["total"]) > 0)
    body = orjson.dumps(
        {
            "eventId": "forged-amount-1",
            "eventType": "Invoice.Updated",
            "data": {"id": invoice["id"], "total": "999999.99", "jobId": invoice["job"]["id"]},
        }
    )
    with nexus.db.connect(autocommit=True) as conn:
        conn.execute(
            # The mirror holds a stale version (as if an edit had been missed).
            "UPDATE titan.invoices SET total = 0, raw = jsonb_set(raw, '{total}', '\"0.00\"')"
            " WHERE tenant_id = %s AND id = %s",
            (TENANT, invoice["id"]),
        )
    assert nexus.signed(body).status_code == 202
    nexus.settle()
    assert invoice_totals(nexus.db, [invoice["id"]]) == {invoice["id"]: Decimal(invoice["total"])}
    job = invoice["job"]["id"]
    assert job_totals(nexus.db, [job]) == {job: tenant.job_invoice_total(job)}


def test_an_invoice_of_a_job_the_mirror_lacks_brings_the_job_too(
    db: Database, server: SimServer, clock: VirtualClock, sim: Simulator
) -> None:
    """Nothing mirrored yet: a hint about one invoice loads it, its job, and the job's total."""
    tenant = sim.tenant(TENANT)
    invoice = next(r for r in tenant.truth_invoices().values() if Decimal(r["total"]) > 0)
    job = invoice["job"]["id"]
    for running in serve_nexus(db, server, clock)():
        body = orjson.dumps({"eventType": "invoice.updated", "id": invoice["id"]})
        assert running.signed(body).status_code == 202
        running.settle()
    assert job_totals(db, [job]) == {job: tenant.job_invoice_total(job)}


def test_an_appointment_webhook_refreshes_it_and_its_jobs_scheduled_start(
    nexus: Nexus, sim: Simulator, clock: VirtualClock
) -> None:
    tenant = sim.tenant(TENANT)
    appointment = next(
        r for r in tenant.truth("appointments").values() if r["active"] and r["jobId"]
    )
    job = appointment["jobId"]
    with nexus.db.connect(autocommit=True) as conn:
        # The mirror missed a reschedule: its copy starts a day later than ServiceTitan's.
        conn.execute(
            "UPDATE titan.appointments SET start = start + interval '1 day',"
            " raw = jsonb_set(raw, '{start}', '\"2030-01-01T00:00:00Z\"')"
            " WHERE tenant_id = %s AND id = %s",
            (TENANT, appointment["id"]),
        )
        conn.execute(
            "UPDATE titan.jobs SET scheduled_at = scheduled_at + interval '1 day'"
            " WHERE tenant_id = %s AND id = %s",
            (TENANT, job),
        )
    body = orjson.dumps({"eventType": "Appointment.Rescheduled", "id": appointment["id"]})
    assert nexus.signed(body).status_code == 202
    nexus.settle()
    with nexus.db.connect(autocommit=True) as conn:
        raw, scheduled = conn.execute(
            "SELECT a.raw, j.scheduled_at FROM titan.appointments a JOIN titan.jobs j"
            " ON j.tenant_id = a.tenant_id AND j.id = a.job_id"
            " WHERE a.tenant_id = %s AND a.id = %s",
            (TENANT, appointment["id"]),
        ).fetchone()
    assert raw == appointment
    assert scheduled == tenant.job_scheduled_at(job)
    assert hints(nexus.db)[-1][1] == {"appointments": [appointment["id"]]}


# -- deliveries a sender repeats or sends on a kept connection -----------------------------------

#: ServiceTitan retries a delivery it did not see accepted after 10, 30, 60 and 300 s.
SERVICETITAN_RETRIES_S = (10, 30, 60, 300)


def post_on(sock: socket.socket, body: bytes, signature: str) -> int:
    """POST one delivery on an open keep-alive connection, as a sender's pool reuses it."""
    head = (
        f"POST /webhooks/servicetitan/{TENANT} HTTP/1.1\r\nHost: nexus\r\n"
        f"Content-Type: application/json\r\n{HEADER}: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    received = b""
    try:
        sock.sendall(head.encode() + body)
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("Nexus closed the sender's connection without an answer")
            received += chunk
        headers, _, rest = received.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: *(\d+)", headers)
        assert length is not None, headers
        while len(rest) < int(length.group(1)):
            rest += sock.recv(65536)
    except ConnectionError as exc:
        raise AssertionError(f"Nexus dropped the sender's connection: {exc!r}") from None
    return int(headers.split()[1])


def test_a_connection_the_sender_keeps_idle_still_delivers(nexus: Nexus, sim: Simulator) -> None:
    """The burst failure, one connection at a time: the server must not close first.

    HTTP/1.1 senders keep idle connections for reuse (httpx for 5 s, .NET's pool
    for a minute). A server that closes an idle connection races the sender's next
    request on it: in a burst, Nexus once closed a connection holding a delivery it
    had not read yet, the sender saw a reset and the update was lost. Nexus keeps
    idle connections longer than senders do, so the sender always closes first.
    """
    invoices = sorted(sim.tenant(TENANT).truth_invoices())[:2]
    bodies = [
        orjson.dumps({"eventId": f"kept-{i}", "eventType": "Invoice.Updated", "id": i})
        for i in invoices
    ]
    host, port = nexus.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        assert post_on(sock, bodies[0], sign(bodies[0])) == 202
        time.sleep(6)  # idle past uvicorn's default keep-alive (5 s), within a sender's pool
        assert post_on(sock, bodies[1], sign(bodies[1])) == 202
    nexus.settle()
    assert [targets for _, targets, _ in hints(nexus.db)] == [{"invoices": [i]} for i in invoices]


def corrupt_invoice(db: Database, invoice: dict[str, Any]) -> None:
    """Make the mirror hold a stale copy of `invoice`, and its job a wrong total."""
    with db.connect(autocommit=True) as conn:
        conn.execute(
            "UPDATE titan.invoices SET total = 0, raw = jsonb_set(raw, '{total}', '\"0.00\"')"
            " WHERE tenant_id = %s AND id = %s",
            (TENANT, invoice["id"]),
        )
        conn.execute(
            "UPDATE titan.jobs SET invoice_total = 0 WHERE tenant_id = %s AND id = %s",
            (TENANT, invoice["job"]["id"]),
        )


def refresh_runs(db: Database) -> list[str]:
    with db.connect(autocommit=True) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT status FROM nexus.runs WHERE producer = 'webhook_refresh' ORDER BY id"
            )
        ]


def test_servicetitan_retries_of_an_accepted_delivery_are_acknowledged_not_refused(
    nexus: Nexus, sim: Simulator, clock: VirtualClock
) -> None:
    """A retry (same body, same signature) of a delivery whose answer the sender missed."""
    tenant = sim.tenant(TENANT)
    invoice = next(r for r in tenant.truth_invoices().values() if Decimal(r["total"]) > 0)
    corrupt_invoice(nexus.db, invoice)
    body = orjson.dumps(
        {"eventId": "evt-retried", "eventType": "Invoice.Updated", "data": {"id": invoice["id"]}}
    )
    headers = {HEADER: sign(body)}
    first = nexus.post(body, headers)
    assert first.status_code == 202
    nexus.settle()
    accepted = fingerprint(nexus.db)
    started = clock.now()
    for after in SERVICETITAN_RETRIES_S:
        clock.set(started + timedelta(seconds=after))
        retry = nexus.post(body, headers)
        assert retry.status_code == 202, (after, retry.text)
        assert retry.json()["hint"] == first.json()["hint"]
        assert retry.json()["redelivery"] is True
        nexus.settle()
    # Acknowledged, not refreshed again: one hint, one refresh, nothing else written.
    assert fingerprint(nexus.db) == accepted
    assert refresh_runs(nexus.db) == ["succeeded"]
    job = invoice["job"]["id"]
    assert job_totals(nexus.db, [job]) == {job: tenant.job_invoice_total(job)}
    metrics = httpx.get(f"{nexus.url}/metrics", headers=BEARER).text
    assert 'nexus_webhooks_received_total{outcome="redelivered",tenant="1001"} 4.0' in metrics


def test_a_retry_after_a_failed_refresh_brings_the_update(
    mirrored: Database, server: SimServer, clock: VirtualClock, sim: Simulator
) -> None:
    """ServiceTitan is down for 45 s: the delivery is accepted, its refresh fails, and the
    retries at 10 and 30 s fail again; the one at 60 s brings the update."""
    tenant = sim.tenant(TENANT)
    invoice = next(r for r in tenant.truth_invoices().values() if Decimal(r["total"]) > 0)
    job = invoice["job"]["id"]
    corrupt_invoice(mirrored, invoice)
    started = clock.now()
    tenant.faults.outage(status=503, until=started + timedelta(seconds=45))
    body = orjson.dumps(
        {"eventId": "evt-outage", "eventType": "Invoice.Updated", "data": {"id": invoice["id"]}}
    )
    for running in serve_nexus(mirrored, server, clock)():
        running.app.state.refresher.clients = lambda _t: client_for(
            server, max_attempts=1, sleep=lambda _s: None
        )
        assert running.signed(body).status_code == 202
        running.settle()
        assert hints(mirrored)[0][0] == "failed"
        for after in SERVICETITAN_RETRIES_S:
            clock.set(started + timedelta(seconds=after))
            retry = running.signed(body)
            assert retry.status_code == 202, (after, retry.text)
            running.settle()
    assert refresh_runs(mirrored) == ["failed", "failed", "failed", "succeeded"]
    [(status, targets, error)] = hints(mirrored)
    assert (status, targets, error) == ("refreshed", {"invoices": [invoice["id"]]}, None)
    assert job_totals(mirrored, [job]) == {job: tenant.job_invoice_total(job)}


# -- refusals ------------------------------------------------------------------------------------


def test_forged_unsigned_and_replayed_webhooks_are_refused_and_change_nothing(
    nexus: Nexus, sim: Simulator
) -> None:
    invoice = next(iter(sim.tenant(TENANT).truth_invoices()))
    body = orjson.dumps(
        {"eventId": "evt-1", "eventType": "Invoice.Updated", "data": {"id": invoice}}
    )
    before = fingerprint(nexus.db)
    refusals = [
        ({}, 401),  # unsigned
        ({HEADER: ""}, 401),
        ({HEADER: sign(body, "not-the-secret")}, 401),  # forged
        ({HEADER: sign(body + b" ")}, 401),  # signature of another body
        ({HEADER: sign(body)[:-2]}, 401),  # truncated
        ({HEADER: "zz" * 32}, 401),  # not hex
        ({HEADER: sign(body, algorithm="sha1")}, 401),  # the wrong hash
        ({"X-Other-Signature": sign(body)}, 401),  # the wrong header
    ]
    for headers, status in refusals:
        r = nexus.post(body, headers)
        assert r.status_code == status, (headers, r.text)
        assert "error" in r.json()
    assert nexus.signed(b"{not json").status_code == 400
    assert nexus.signed(orjson.dumps({"eventType": "Invoice.Updated"})).status_code == 400
    assert nexus.signed(body, tenant=4242).status_code == 404
    assert fingerprint(nexus.db) == before

    assert nexus.signed(body).status_code == 202
    nexus.settle()
    accepted = fingerprint(nexus.db)
    # A replayed body is acknowledged as the re-delivery it looks like, and does nothing.
    replay = nexus.signed(body)
    assert (replay.status_code, replay.json()["redelivery"]) == (202, True)
    nexus.settle()
    # Forging a re-delivery takes the secret like any other delivery.
    assert nexus.post(body, {HEADER: sign(body, "not-the-secret")}).status_code == 401
    # The same delivery id with another body is refused as a replay.
    for again in (
        orjson.dumps({"eventId": "evt-1", "eventType": "Invoice.Updated", "id": invoice}),
        orjson.dumps({"eventId": "evt-1", "eventType": "Invoice.Updated", "data": {"id": 1}}),
    ):
        refused = nexus.signed(again)
        assert refused.status_code == 409
        assert "evt-1 was accepted before with another body" in refused.json()["error"]
    assert fingerprint(nexus.db) == accepted
    metrics = httpx.get(f"{nexus.url}/metrics", headers=BEARER).text
    assert 'nexus_webhooks_received_total{outcome="forged",tenant="1001"} 6.0' in metrics
    assert 'nexus_webhooks_received_total{outcome="redelivered",tenant="1001"} 1.0' in metrics
    assert 'nexus_webhooks_received_total{outcome="replayed",tenant="1001"} 2.0' in metrics


def test_without_a_secret_every_webhook_is_refused(
    mirrored: Database, server: SimServer, clock: VirtualClock
) -> None:
    body = orjson.dumps({"eventType": "Invoice.Updated", "id": 1})
    for running in serve_nexus(mirrored, server, clock, webhook_secret=None)():
        before = fingerprint(mirrored)
        for secret in (SECRET, ""):
            r = running.post(body, {HEADER: sign(body, secret)})
            assert r.status_code == 401
            assert "NEXUS_WEBHOOK_SECRET" in r.json()["error"]
        assert fingerprint(mirrored) == before


def test_a_tenant_secret_override_replaces_the_shared_one(
    mirrored: Database,
    server: SimServer,
    clock: VirtualClock,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXUS_WEBHOOK_SECRET_1001", "tenant-own-secret")
    config = Config(
        tenants=[TenantConfig(id=TENANT, webhook_secret_env="NEXUS_WEBHOOK_SECRET_1001")]
    )
    invoice = next(iter(sim.tenant(TENANT).truth_invoices()))
    body = orjson.dumps({"eventType": "Invoice.Updated", "id": invoice})
    for running in serve_nexus(mirrored, server, clock, config=config)():
        assert running.signed(body).status_code == 401  # the shared secret no longer works
        assert running.post(body, {HEADER: sign(body, "tenant-own-secret")}).status_code == 202
        running.settle()
    monkeypatch.delenv("NEXUS_WEBHOOK_SECRET_1001")
    for running in serve_nexus(mirrored, server, clock, config=config)():
        r = running.post(body + b" ", {HEADER: sign(body + b" ", SECRET)})
        assert r.status_code == 401
        assert "NEXUS_WEBHOOK_SECRET_1001" in r.json()["error"]


def test_header_hash_and_encoding_are_settings_the_simulator_follows(
    mirrored: Database, server: SimServer, clock: VirtualClock, sim: Simulator
) -> None:
    options = {
        "webhook_header": "X-Hook-Signature",
        "webhook_algorithm": "sha512",
        "webhook_encoding": "base64",
    }
    for running in serve_nexus(mirrored, server, clock, **options)():
        sim.webhooks.configure(
            f"{running.url}/webhooks/servicetitan/{{tenant}}",
            SECRET,
            header="X-Hook-Signature",
            algorithm="sha512",
            encoding="base64",
        )
        invoice = next(iter(sim.tenant(TENANT).truth_invoices()))
        assert sim.webhooks.announce(TENANT, "invoices", [invoice]) == 1
        [delivery] = sim.webhooks.deliver()
        assert delivery.status == 202, delivery.error
        body = orjson.dumps({"eventType": "Invoice.Updated", "id": invoice, "n": 2})
        hex_signature = {"X-Hook-Signature": sign(body, algorithm="sha512")}
        assert running.post(body, hex_signature).status_code == 401
        digest = hmac.new(SECRET.encode(), body, hashlib.sha512).digest()
        good = {"X-Hook-Signature": "sha512=" + base64.b64encode(digest).decode()}
        assert running.post(body, good).status_code == 202
        running.settle()


def test_a_refresh_that_cannot_reach_servicetitan_fails_visibly(
    mirrored: Database, server: SimServer, clock: VirtualClock, sim: Simulator
) -> None:
    sim.tenant(TENANT).faults.outage(status=503, until=clock.now() + timedelta(hours=1))
    invoice = next(iter(sim.tenant(TENANT).truth_invoices()))
    for running in serve_nexus(mirrored, server, clock)():
        running.app.state.refresher.clients = lambda _t: client_for(
            server, max_attempts=1, sleep=lambda _s: None
        )
        body = orjson.dumps({"eventType": "Invoice.Updated", "id": invoice})
        assert running.signed(body).status_code == 202
        running.settle()
    [(status, targets, error)] = hints(mirrored)
    assert status == "failed" and targets == {"invoices": [invoice]}
    assert error and "503" in error
    with mirrored.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT status, error_kind FROM nexus.runs WHERE producer = 'webhook_refresh'"
        ).fetchone()
    assert row == ("failed", "unreachable")


# -- reading hints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "targets"),
    [
        ({"eventType": "Invoice.Updated", "data": {"id": 7}}, {"invoices": [7]}),
        ({"eventType": "invoice_updated", "id": 7}, {"invoices": [7]}),
        ({"type": "JobCompleted", "entityId": "8"}, {"jobs": [8]}),
        ({"entityType": "Job", "ids": [1, 2, 2]}, {"jobs": [1, 2]}),
        (
            {
                "events": [
                    {"eventType": "Job.Updated", "id": 1},
                    {"eventType": "Invoice.Created", "id": 3},
                ]
            },
            {"jobs": [1], "invoices": [3]},
        ),
        ([{"eventType": "Customer.Updated", "id": 5}], {"customers": [5]}),
        ({"eventType": "Technician.Updated", "id": 5}, {"technicians": [5]}),
        ({"eventType": "InvoiceItem.Updated", "id": 6}, {}),  # no read by id: the export has it
        ({"eventType": "Form.Submitted", "id": 7}, {}),
    ],
)
def test_hints_are_read_from_the_shapes_servicetitan_may_send(
    body: Any, targets: dict[str, list[int]]
) -> None:
    assert parse_hint(orjson.dumps(body)).targets == targets


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"42",
        b'"x"',
        b'{"eventType": "Invoice.Updated", "id": -1}',
        b'{"eventType": "Invoice.Updated", "id": true}',
        b'{"eventType": "Job.Updated", "ids": 5}',
    ],
)
def test_unreadable_hints_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadHint):
        parse_hint(body)


def test_signatures_compare_in_constant_time_and_accept_a_prefix() -> None:
    scheme = SignatureScheme()
    body = b'{"id": 1}'
    assert scheme.verify(SECRET.encode(), body, sign(body))
    assert scheme.verify(SECRET.encode(), body, "sha256=" + sign(body))
    assert scheme.verify(SECRET.encode(), body, sign(body).upper())
    assert not scheme.verify(SECRET.encode(), body, None)
    assert not scheme.verify(SECRET.encode(), body, "sha256=")
    assert scheme.sign(SECRET.encode(), body) == sign(body)
