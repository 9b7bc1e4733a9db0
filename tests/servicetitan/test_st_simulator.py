"""The client against the full simulated ServiceTitan tenant, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from nexus.clock import VirtualClock
from nexus.servicetitan import (
    AuthError,
    RateLimited,
    RetriableAPIError,
    ServiceTitanClient,
)
from nexus.servicetitan.feeds import CUSTOMERS, EXPORT_FEEDS, INVOICES, JOB_TYPES, JOBS, Feed
from nexus.simulator import BusinessConfig, Credentials, SimServer, Simulator, Tenant

TENANT = 1001
START = datetime(2026, 3, 1, 12, tzinfo=UTC)
CREDENTIALS = Credentials(
    client_id="sim-test-client", client_secret="sim-S3CRET-secret", app_key="sim-S3CRET-app"
)


@pytest.fixture(scope="module")
def sim() -> Simulator:
    simulator = Simulator(clock=VirtualClock(START), credentials=CREDENTIALS, export_page_size=100)
    simulator.add_tenant(TENANT, BusinessConfig(seed=1, inactive_share=0.1), history_days=60)
    return simulator


@pytest.fixture(scope="module")
def server(sim: Simulator) -> Iterator[SimServer]:
    with sim.serve() as running:
        yield running


@pytest.fixture
def tenant(sim: Simulator) -> Iterator[Tenant]:
    found = sim.tenant(TENANT)
    yield found
    found.faults.clear()


@pytest.fixture
def make_client(server: SimServer) -> Iterator[Callable[..., ServiceTitanClient]]:
    made: list[ServiceTitanClient] = []

    def make(**overrides: Any) -> ServiceTitanClient:
        options: dict[str, Any] = {
            "api_url": server.base_url,
            "auth_url": server.auth_url,
            "tenant": TENANT,
            "client_id": CREDENTIALS.client_id,
            "client_secret": SecretStr(CREDENTIALS.client_secret),
            "app_key": SecretStr(CREDENTIALS.app_key),
            "rate_limit": 1000.0,
            "timeout": 10.0,
            "sleep": lambda _seconds: None,
        }
        options.update(overrides)
        client = ServiceTitanClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def key_of(feed: Feed, record: dict[str, Any]) -> Any:
    """A record's key as the simulator's truth gives it: the id, one field, or a tuple."""
    if len(feed.key) == 1:
        return record[feed.key[0]]
    return tuple(record[k] for k in feed.key)


@pytest.mark.parametrize("feed", list(EXPORT_FEEDS.values()), ids=list(EXPORT_FEEDS))
def test_export_every_feed_to_the_end(
    feed: Feed, tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    client = make_client()
    latest: dict[Any, dict[str, Any]] = {}
    pages = list(client.export_pages(feed))
    for page in pages:
        for record in page.data:
            latest[key_of(feed, record)] = record  # later versions replace earlier ones
    truth = tenant.truth(feed.name)
    assert len(pages) > 1 or len(truth) <= 100  # pages of 100
    assert latest == truth
    assert [p.has_more for p in pages] == [True] * (len(pages) - 1) + [False]
    assert [p.requested_from for p in pages[1:]] == [p.continue_from for p in pages[:-1]]
    assert client.calls_by_path == {feed.export_url_path(TENANT): len(pages)}
    # Resuming from the saved token finds nothing new until the business moves on.
    [again] = client.export_pages(feed, pages[-1].continue_from)
    assert (again.data, again.has_more) == ([], False)


def test_export_resumes_with_changes_after_the_clock_moves(
    sim: Simulator, tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    client = make_client()
    token = [p.continue_from for p in client.export_pages(JOBS)][-1]
    sim.advance(timedelta(days=2))
    changed = [r for p in client.export_pages(JOBS, token) for r in p.data]
    assert changed
    truth = tenant.truth_jobs()
    for record in changed:
        assert record["id"] in truth


def test_list_with_active_filters(
    tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    client = make_client()
    truth = tenant.truth_customers()

    def ids(**filters: Any) -> set[int]:
        return {r["id"] for p in client.list_pages(CUSTOMERS, **filters) for r in p.data}

    every = ids(page_size=100)
    active = ids(active="True")
    inactive = ids(active="False")
    default_only = ids(all_states=False)
    assert every == set(truth)
    assert active == {i for i, r in truth.items() if r["active"]}
    assert inactive == {i for i, r in truth.items() if not r["active"]}
    assert inactive  # the business has deactivated customers to lose
    assert active | inactive == every
    assert default_only == active  # what a mirror on the default list would see

    first = next(iter(client.list_pages(CUSTOMERS, page_size=100)))
    assert first.total_count == len(truth)
    assert first.page == 1 and first.page_size == 100


def test_job_types_list_is_read_whole(
    tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    client = make_client()
    records = [r for p in client.list_pages(JOB_TYPES) for r in p.data]
    assert {r["id"] for r in records} == set(tenant.truth_job_types())


def test_get_by_ids_in_chunks_of_50(
    tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    client = make_client()
    wanted = sorted(tenant.truth_invoices())[:120]
    records = client.get_by_ids(INVOICES, [*wanted, *wanted[:30]])
    assert sorted(r["id"] for r in records) == wanted
    assert client.calls_by_path == {INVOICES.list_url_path(TENANT): 3}


def test_invoices_for_job(tenant: Tenant, make_client: Callable[..., ServiceTitanClient]) -> None:
    invoices = tenant.truth_invoices()
    job_id = next(r["job"]["id"] for r in invoices.values() if r.get("job"))
    expected = {i for i, r in invoices.items() if r.get("job") and r["job"]["id"] == job_id}
    found = make_client().invoices_for_job(job_id)
    assert {r["id"] for r in found} == expected


def test_revoked_token_is_renewed_once_and_the_call_retried(
    sim: Simulator, tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    client = make_client()
    path = JOB_TYPES.list_url_path(TENANT)
    client.get_json(path, {})
    before = sim.token_requests
    tenant.faults.token_rejection(token_endpoint=False, revoke_issued=True)
    client.get_json(path, {})
    assert sim.token_requests == before + 1
    assert client.calls_by_path[path] == 3


def test_refused_new_tokens_are_an_auth_error(
    tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    tenant.faults.token_rejection(token_endpoint=True, revoke_issued=True)
    with pytest.raises(AuthError, match="NEXUS_ST_CLIENT_SECRET"):
        make_client().get_json(JOB_TYPES.list_url_path(TENANT), {})


def test_html_outage_is_retried_then_reported(
    tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    tenant.faults.outage(status=503, html=True)
    with pytest.raises(RetriableAPIError) as info:
        list(make_client(max_attempts=3).export_pages(JOBS))
    message = str(info.value)
    assert "503" in message
    assert "HTML error page" in message
    assert "after 3 attempts" in message


def test_server_rate_limit_is_waited_out_as_retry_after_says(
    sim: Simulator, tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        sim.advance(timedelta(seconds=seconds))  # the simulator counts calls on its clock

    tenant.faults.rate_limit(per_second=2)
    client = make_client(sleep=sleep)
    path = JOB_TYPES.list_url_path(TENANT)
    for _ in range(3):
        client.get_json(path, {})
    assert len(waits) == 1
    assert waits[0] == 1.0


def test_server_rate_limit_without_patience_fails_clearly(
    tenant: Tenant, make_client: Callable[..., ServiceTitanClient]
) -> None:
    tenant.faults.rate_limit(per_second=1)
    client = make_client(max_attempts=2)
    path = JOB_TYPES.list_url_path(TENANT)
    with pytest.raises(RateLimited, match="after 2 attempts"):
        for _ in range(3):
            client.get_json(path, {})
