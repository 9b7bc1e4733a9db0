"""Fixtures for the simulator: a small seeded tenant served over real HTTP.

Starting and stopping a server costs a few hundred milliseconds, so the tests
share one real server and plug each test's simulator into it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest
from simclient import START, TENANT, StClient

from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, SimServer, Simulator, Tenant
from nexus.simulator.sim import serve_app

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Switchboard:
    """An ASGI app that forwards every request to the simulator plugged in now."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def switchboard() -> Iterator[tuple[Switchboard, SimServer]]:
    board = Switchboard()
    with serve_app(board) as running:
        yield board, running


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
def server(sim: Simulator, switchboard: tuple[Switchboard, SimServer]) -> SimServer:
    """The shared server, now answering for this test's simulator."""
    board, running = switchboard
    board.app = sim.app
    return running


@pytest.fixture
def st(server: SimServer) -> Iterator[StClient]:
    client = StClient(server)
    yield client
    client.close()
