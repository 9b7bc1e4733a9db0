"""Fixtures for the simulator: a small seeded tenant served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simclient import START, TENANT, StClient

from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, SimServer, Simulator, Tenant


@pytest.fixture
def sim() -> Simulator:
    """A simulator with one tenant and 30 days of business behind it."""
    simulator = Simulator(clock=VirtualClock(START))
    simulator.add_tenant(TENANT, BusinessConfig(seed=7, inactive_share=0.1), history_days=30)
    return simulator


@pytest.fixture
def tenant(sim: Simulator) -> Tenant:
    return sim.tenant(TENANT)


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimServer]:
    with sim.serve() as running:
        yield running


@pytest.fixture
def st(server: SimServer) -> Iterator[StClient]:
    client = StClient(server)
    yield client
    client.close()
