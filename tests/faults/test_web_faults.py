"""The webhook endpoint and the dashboard while the database restarts, refuses or times out.

The webhook refresh waits for the database and runs again, so a hint killed
mid-refresh still ends refreshed and nothing of it is half-written; a delivery
the database cannot record is refused with 503 (ServiceTitan sends it again).
The dashboard answers 503 — a page that names the problem, or JSON — and
answers again by itself once the database is back.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from pgfault import Faults, FaultServer

from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.registry.config import Config
from nexus.servicetitan import ServiceTitanClient
from nexus.serving import ThreadedServer
from nexus.simulator import SimServer, Simulator
from nexus.store.database import Database
from nexus.web import create_app
from stsim import TENANT, client_for
from webkit import BEARER, SECRET, web_settings

HTML = {**BEARER, "Accept": "text/html"}


@dataclass
class Nexus:
    url: str
    app: Any

    def webhook(self, body: bytes) -> httpx.Response:
        signature = hmac.new(SECRET.encode(), body, "sha256").hexdigest()
        return httpx.post(
            f"{self.url}/webhooks/servicetitan/{TENANT}",
            content=body,
            headers={"Content-Type": "application/json", "X-ServiceTitan-Signature": signature},
            timeout=30,
        )

    def get(self, path: str, headers: dict[str, str] = BEARER) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=30)

    def settle(self) -> None:
        assert self.app.state.refresher.wait_idle(60), "the refresh did not finish"


def serve(db: Database, server: SimServer, clock: VirtualClock) -> Iterator[Nexus]:
    app = create_app(
        web_settings(),
        Config(),
        db,
        clock,
        tenants=[TENANT],
        clients=lambda _t: client_for(server),
    )
    with ThreadedServer(app) as running:
        yield Nexus(running.url, app)


@pytest.fixture
def mirrored(db: Database, client: ServiceTitanClient, clock: VirtualClock) -> Database:
    sync_all(db, client, TENANT, clock, feeds=("jobs", "invoices"))
    return db


@pytest.fixture
def nexus(mirrored: Database, server: SimServer, clock: VirtualClock) -> Iterator[Nexus]:
    yield from serve(mirrored, server, clock)


def query(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.connect(autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def body_about(invoice: int) -> bytes:
    return orjson.dumps({"eventType": "invoice.updated", "id": invoice})


# -- the webhook endpoint --------------------------------------------------------------------


def test_a_refresh_terminated_in_its_transaction_runs_again_and_refreshes_the_hint(
    nexus: Nexus, mirrored: Database, faults: Faults, sim: Simulator
) -> None:
    tenant = sim.tenant(TENANT)
    invoice = next(r for r in tenant.truth_invoices().values() if Decimal(r["total"]) > 0)
    job = invoice["job"]["id"]
    with mirrored.connect(autocommit=True) as conn:
        # The mirror missed an edit: its invoice and the job's derived total are stale.
        conn.execute(
            "UPDATE titan.invoices SET total = 0, raw = jsonb_set(raw, '{total}', '\"0.00\"')"
            " WHERE tenant_id = %s AND id = %s",
            (TENANT, invoice["id"]),
        )
        conn.execute(
            "UPDATE titan.jobs SET invoice_total = 0 WHERE tenant_id = %s AND id = %s",
            (TENANT, job),
        )
    tokens = query(mirrored, "SELECT feed, token, pages FROM nexus.feeds ORDER BY feed")
    # The refresh's upsert into titan.invoices ends its own session, mid-transaction.
    faults.arm("titan.invoices", "terminate")
    assert nexus.webhook(body_about(invoice["id"])).status_code == 202
    nexus.settle()
    assert faults.fired()
    assert query(mirrored, "SELECT status, error FROM nexus.webhook_hints") == [("refreshed", None)]
    raw, total = query(
        mirrored,
        "SELECT i.raw, j.invoice_total FROM titan.invoices i JOIN titan.jobs j"
        " ON j.tenant_id = i.tenant_id AND j.id = i.job_id WHERE i.id = %s",
        invoice["id"],
    )[0]
    assert raw == invoice
    assert total == tenant.job_invoice_total(job)
    statuses = query(
        mirrored,
        "SELECT status, error_kind FROM nexus.runs WHERE producer = 'webhook_refresh' ORDER BY id",
    )
    assert statuses == [("failed", "database"), ("succeeded", None)]
    # A refresh never moves a feed's token: the export still delivers every change.
    assert query(mirrored, "SELECT feed, token, pages FROM nexus.feeds ORDER BY feed") == tokens


def test_a_delivery_the_database_cannot_record_is_refused_with_503_then_accepted(
    nexus: Nexus, pg: FaultServer, sim: Simulator
) -> None:
    invoice = next(iter(sim.tenant(TENANT).truth_invoices()))
    pg.stop()
    refused = nexus.webhook(body_about(invoice))
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    error = refused.json()["error"]
    assert error.startswith(f"tenant {TENANT}: the webhook was not recorded because the database")
    assert "cannot connect to the database at" in error and "ServiceTitan sends it again" in error
    pg.start()
    # Not recorded, so the same delivery sent again is no replay.
    assert nexus.webhook(body_about(invoice)).status_code == 202


def test_a_pooled_connection_lost_in_a_restart_is_replaced_unnoticed(
    nexus: Nexus, pg: FaultServer, sim: Simulator
) -> None:
    first, second = list(sim.tenant(TENANT).truth_invoices())[:2]
    assert nexus.webhook(body_about(first)).status_code == 202
    nexus.settle()
    pg.restart()  # the endpoint's idle pooled connection dies with it
    assert nexus.webhook(body_about(second)).status_code == 202
    nexus.settle()
    assert [
        s for (s,) in query(nexus.app.state.site.db, "SELECT status FROM nexus.webhook_hints")
    ] == [
        "refreshed",
        "refreshed",
    ]


# -- the dashboard ---------------------------------------------------------------------------


def test_the_dashboard_answers_503_while_the_database_is_down_and_recovers_by_itself(
    nexus: Nexus, pg: FaultServer
) -> None:
    assert nexus.get("/proof", HTML).status_code == 200
    pg.stop()
    page = nexus.get("/proof", HTML)
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["Retry-After"] == page.headers["Refresh"] == "10"
    assert "<h1>The database is unavailable</h1>" in page.text
    assert "cannot connect to the database at" in page.text
    assert "Start the database server" in page.text and "nexus db status" in page.text
    data = nexus.get("/producers.json")
    assert data.status_code == 503
    answer = data.json()
    assert answer["error"].startswith("the database is unavailable: cannot connect")
    assert answer["database"].startswith("postgresql://")
    assert answer["retry_after_s"] == 10 and "Start the database server" in answer["fix"]
    assert nexus.get("/healthz").status_code == 503
    pg.start()
    # Nothing to reset: the next request finds the database again.
    assert nexus.get("/proof.json").status_code == 200
    assert nexus.get("/proof", HTML).status_code == 200
    assert nexus.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_a_statement_timeout_on_a_page_is_a_503_that_names_it(
    mirrored: Database, server: SimServer, clock: VirtualClock
) -> None:
    timed = Database(f"{mirrored.url}&options={quote('-c statement_timeout=300')}")
    for nexus in serve(timed, server, clock):
        with mirrored.connect() as holder:
            # Someone holds the run ledger locked: the proof's read of it waits, then is cancelled.
            holder.execute("LOCK TABLE nexus.runs IN ACCESS EXCLUSIVE MODE")
            answer = nexus.get("/proof.json")
            assert answer.status_code == 503
            body = answer.json()
            assert body["sqlstate"] == "57014"
            assert body["error"].startswith("the database took too long to answer: ")
            assert "canceling statement due to statement timeout" in body["error"]
            assert "statement_timeout" in body["error"] and "pg_locks" in body["error"]
            holder.rollback()
        assert nexus.get("/proof.json").status_code == 200
