"""Slots, scaled time, what gets scheduled and the retry policy, without a database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from procrastinate import jobs

from nexus.errors import BadRecordError, DatabaseError
from nexus.registry.config import parse_config
from nexus.scheduling import (
    RETRIES,
    Abandoned,
    RetryPolicy,
    ScaledClock,
    Scheduled,
    plan,
    slot_key,
    slot_start,
)
from nexus.servicetitan.errors import AuthError, RetriableAPIError

T = datetime(2026, 4, 1, 12, 7, 30, tzinfo=UTC)


def test_slots_sit_on_a_grid_from_the_epoch() -> None:
    assert slot_start(T, timedelta(minutes=15)) == datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    assert slot_start(T, timedelta(minutes=5)) == datetime(2026, 4, 1, 12, 5, tzinfo=UTC)
    assert slot_start(T, timedelta(hours=1, minutes=30)) == datetime(2026, 4, 1, 12, tzinfo=UTC)
    # Weekly slots start on Thursdays 00:00 UTC, like the epoch.
    assert slot_start(T, timedelta(days=7)) == datetime(2026, 3, 26, tzinfo=UTC)
    on_boundary = datetime(2026, 4, 1, 12, 15, tzinfo=UTC)
    assert slot_start(on_boundary, timedelta(minutes=15)) == on_boundary
    assert slot_key(on_boundary, timedelta(minutes=15)) == int(on_boundary.timestamp())


def test_a_scaled_clock_runs_faster_from_a_shared_origin() -> None:
    wall = [1000.0]
    clock = ScaledClock(120, T, real_origin=1000.0, wall=lambda: wall[0])
    assert clock.now() == T
    wall[0] += 30
    assert clock.now() == T + timedelta(hours=1)
    assert clock.real_seconds(timedelta(minutes=15)) == 7.5
    other = ScaledClock(120, T, real_origin=1000.0, wall=lambda: wall[0])
    assert other.now() == clock.now()
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0, T)


def test_plan_schedules_enabled_implemented_producers_for_every_tenant(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse_config(
        "[[tenants]]\nid = 1\n\n[[tenants]]\nid = 2\n\n"
        '[mirror]\nfeeds = ["jobs", "invoices", "customers", "estimates", "job_types"]\n\n'
        '[producers.job_sync]\nkind = "sync"\nfeed = "jobs"\nevery = "10m"\n\n'
        '[producers.invoice_sync]\nkind = "sync"\nfeed = "invoices"\nevery = "15m"\n'
        "enabled = false\n\n"
        '[producers.customer_sync]\nkind = "sync"\nfeed = "customers"\nevery = "15m"\n\n'
        '[producers.estimate_sync]\nkind = "sync"\nfeed = "estimates"\nevery = "15m"\n\n'
        '[producers.reconcile]\nkind = "reconcile"\nevery = "7d"\n\n'
        '[producers.report]\nkind = "external"\nevery = "1d"\ncommand = "/bin/true"\n'
    )
    with caplog.at_level(logging.INFO, logger="nexus.scheduling"):
        planned = plan(config, [1, 2], {"sync"})
    assert [(s.tenant, s.producer, s.every) for s in planned] == [
        (t, p, timedelta(minutes=10 if p == "job_sync" else 15))
        for t in (1, 2)
        for p in ("job_sync", "customer_sync", "estimate_sync")
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert "producer invoice_sync is disabled in the configuration: not scheduled" in messages
    assert "producer report is external: Nexus watches it but never runs it" in messages
    assert (
        "producer reconcile (kind reconcile) has no implementation in this Nexus yet:"
        " not scheduled" in messages
    )


def test_each_producer_of_a_tenant_has_its_own_lock_and_queue_slot() -> None:
    every = timedelta(minutes=15)
    jobs_ = Scheduled(1001, "job_sync", "sync", every)
    invoices = Scheduled(1001, "invoice_sync", "sync", every)
    customers = Scheduled(1001, "customer_sync", "sync", every)
    # Jobs and invoices take turns page by page in the loader, not producer by producer.
    assert (jobs_.lock, invoices.lock) == ("1001:job_sync", "1001:invoice_sync")
    assert customers.lock == "1001:customer_sync"
    assert (jobs_.queueing_lock, invoices.queueing_lock) == ("1001:job_sync", "1001:invoice_sync")
    assert Scheduled(1002, "job_sync", "sync", every).lock != jobs_.lock


def job(attempts: int = 0) -> jobs.Job:
    return jobs.Job(
        id=1,
        queue="producers",
        lock="1:job_sync",
        queueing_lock="1:job_sync",
        task_name="nexus.run_producer",
        attempts=attempts,
    )


def unreachable() -> RetriableAPIError:
    return RetriableAPIError("503", tenant=1, endpoint="GET /x", status=503)


def wait(decision: object) -> float:
    assert decision is not None
    retry_at = decision.retry_at  # type: ignore[attr-defined]
    return (retry_at - datetime.now(UTC)).total_seconds()


def test_transient_failures_are_retried_with_exponential_backoff_then_given_up() -> None:
    policy = RetryPolicy()
    waits = [wait(policy.get_retry_decision(exception=unreachable(), job=job(n))) for n in range(3)]
    assert [round(w) for w in waits] == [30, 60, 120]
    assert policy.get_retry_decision(exception=unreachable(), job=job(RETRIES)) is None
    database = DatabaseError("down")
    assert policy.get_retry_decision(exception=database, job=job(0)) is not None


def test_backoff_is_virtual_time_so_a_fast_clock_waits_less() -> None:
    decision = RetryPolicy(scale=60).get_retry_decision(exception=unreachable(), job=job(1))
    assert round(wait(decision), 1) == 1.0


def test_failures_a_retry_cannot_fix_wait_for_the_next_slot() -> None:
    policy = RetryPolicy()
    refused = AuthError("401", tenant=1, endpoint="POST /connect/token", status=401)
    assert policy.get_retry_decision(exception=refused, job=job()) is None
    bad = BadRecordError("jobs", 7, "id", "not a number")
    assert policy.get_retry_decision(exception=bad, job=job()) is None


def test_no_retry_when_the_next_slot_is_already_queued() -> None:
    policy = RetryPolicy(queued=lambda lock: lock == "1:job_sync")
    assert policy.get_retry_decision(exception=unreachable(), job=job()) is None


def test_an_abandoned_run_goes_back_in_the_queue_at_once_unless_a_person_aborted_it() -> None:
    policy = RetryPolicy(queued=lambda lock: True)
    shutdown = Abandoned(1, "job_sync", "the worker was told to stop twice")
    assert abs(wait(policy.get_retry_decision(exception=shutdown, job=job(RETRIES)))) < 1
    aborted = Abandoned(1, "job_sync", "an abort was requested", by_user=True)
    assert policy.get_retry_decision(exception=aborted, job=job()) is None
