"""Reconcile when things go wrong: ServiceTitan unreachable midway, another run holding the lock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from mirror_check import FIRST_FEEDS, mirror, truth
from nexus.clock import VirtualClock
from nexus.mirror import sync_all
from nexus.servicetitan import RetriableAPIError, ServiceTitanClient, Unreachable
from nexus.simulator import Simulator
from nexus.store.database import Database
from nexus.sync.reconcile import PRODUCER, run_reconcile
from nexus.sync.recorded_run import ProducerBusy, lock_key
from stsim import TENANT, client_for


class OutageOnInvoices(ServiceTitanClient):
    """A client whose ServiceTitan goes down the moment invoices are first asked for."""

    sim: Simulator

    def get_json(self, path: str, params: Mapping[str, str]) -> Any:
        if "/invoices" in path:
            self.sim.tenant(TENANT).faults.outage(503)
        return super().get_json(path, params)


def snapshot(db: Database) -> dict[str, Any]:
    with db.connect() as conn:
        extra = {
            t: conn.execute(f"SELECT count(*) FROM nexus.{t}").fetchone()
            for t in ("reconciliations", "events")
        }
    return {**{feed: mirror(db, feed) for feed in FIRST_FEEDS}, **extra}


def runs(db: Database) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(
            "SELECT status, error_kind, error FROM nexus.runs WHERE producer = %s ORDER BY id",
            (PRODUCER,),
        ).fetchall()


def test_st_unreachable_midway_fails_the_run_and_repairs_nothing(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=11, history_days=20)
    sim.tenant(TENANT).faults.drop_export_share({"jobs": 0.3, "invoices": 0.3})
    with sim.serve() as server:
        with client_for(server) as client:
            sync_all(db, client, TENANT, clock)
            sim.advance(timedelta(hours=12))
            sync_all(db, client, TENANT, clock)
        before = snapshot(db)
        jobs = truth(sim, "jobs")
        assert any(before["jobs"].get(i) != r for i, r in jobs.items()), "jobs to repair"
        failing = client_for(server, max_attempts=2)
        failing.__class__ = OutageOnInvoices
        failing.sim = sim  # type: ignore[attr-defined]
        with failing, pytest.raises(RetriableAPIError) as info:
            run_reconcile(db, failing, TENANT, clock, repair=True)
    message = str(info.value)
    assert "503" in message and "/invoices" in message
    # The jobs feed was compared and its repairs spooled before invoices failed:
    # none of them reached the mirror, and no reconciliation or event was kept.
    assert snapshot(db) == before
    status, kind, error = runs(db)[-1]
    assert (status, kind) == ("failed", "unreachable")
    assert error == message


def test_st_unreachable_from_the_start_says_so_and_records_the_failure(
    db: Database, clock: VirtualClock
) -> None:
    client = ServiceTitanClient(
        api_url="http://127.0.0.1:9",  # discard port: nothing listens
        auth_url="http://127.0.0.1:9/connect/token",
        tenant=TENANT,
        client_id="x",
        client_secret=SecretStr("y"),
        app_key=SecretStr("z"),
        max_attempts=1,
        sleep=lambda _s: None,
    )
    with client, pytest.raises(Unreachable) as info:
        run_reconcile(db, client, TENANT, clock)
    assert "127.0.0.1:9" in str(info.value)
    assert runs(db) == [("failed", "unreachable", str(info.value))]


def test_a_second_reconcile_is_refused_while_one_runs(
    db: Database, make_sim: Callable[..., Simulator], clock: VirtualClock
) -> None:
    sim = make_sim(seed=12, history_days=5)
    with db.connect(autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key(TENANT, PRODUCER),))
        with sim.serve() as server, client_for(server) as client:
            with pytest.raises(ProducerBusy, match="reconcile is already running"):
                run_reconcile(db, client, TENANT, clock)
            assert client.api_calls == 0
    assert runs(db) == []
