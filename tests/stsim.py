"""A simulated tenant over real HTTP and a client pointed at it, for sync and proof tests.

Import the fixtures into a conftest.py: `from stsim import clock, make_sim, sim, server`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from nexus.clock import VirtualClock
from nexus.servicetitan import ServiceTitanClient
from nexus.simulator import BusinessConfig, Credentials, SimServer, Simulator

START = datetime(2026, 4, 1, 12, tzinfo=UTC)
TENANT = 1001
CREDENTIALS = Credentials(client_id="sync-client", client_secret="sync-secret", app_key="sync-app")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def make_sim(clock: VirtualClock) -> Callable[..., Simulator]:
    def make(
        seed: int = 1, history_days: int = 30, page_size: int = 200, **business: object
    ) -> Simulator:
        sim = Simulator(clock=clock, credentials=CREDENTIALS, export_page_size=page_size)
        sim.add_tenant(TENANT, BusinessConfig(seed=seed, **business), history_days=history_days)  # type: ignore[arg-type]
        return sim

    return make


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim()


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimServer]:
    with sim.serve() as running:
        yield running


def client_for(server: SimServer, **overrides: object) -> ServiceTitanClient:
    return ServiceTitanClient(**client_options(server, **overrides))  # type: ignore[arg-type]


def client_options(server: SimServer, **overrides: object) -> dict[str, object]:
    """The keyword arguments of a client pointed at `server`, with `overrides` on top."""
    options: dict[str, object] = {
        "api_url": server.base_url,
        "auth_url": server.auth_url,
        "tenant": TENANT,
        "client_id": CREDENTIALS.client_id,
        "client_secret": SecretStr(CREDENTIALS.client_secret),
        "app_key": SecretStr(CREDENTIALS.app_key),
        "rate_limit": 1000.0,
        "sleep": lambda _s: None,
    }
    options.update(overrides)
    return options


@pytest.fixture
def client(server: SimServer) -> Iterator[ServiceTitanClient]:
    with client_for(server) as st:
        yield st


def st_env(server: SimServer, **overrides: str) -> dict[str, str]:
    """The NEXUS_ST_* variables that point a `nexus` process at the simulated tenant."""
    return {
        "NEXUS_ST_API_URL": server.base_url,
        "NEXUS_ST_AUTH_URL": server.auth_url,
        "NEXUS_ST_CLIENT_ID": CREDENTIALS.client_id,
        "NEXUS_ST_CLIENT_SECRET": CREDENTIALS.client_secret,
        "NEXUS_ST_APP_KEY": CREDENTIALS.app_key,
        **overrides,
    }
