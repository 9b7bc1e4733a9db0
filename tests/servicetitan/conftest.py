"""Fixtures: one scripted fake ServiceTitan server per run, reset for each test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from stfake import (
    APP_KEY,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    TOKEN_PATH,
    FakeST,
    MakeClient,
    Sleeps,
)

from nexus.servicetitan import ServiceTitanClient
from nexus.serving import ThreadedServer


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[tuple[FakeST, ThreadedServer]]:
    fake = FakeST()
    server = ThreadedServer(fake.app)
    # Without TCP_NODELAY each answer waits ~40 ms for the client's delayed ACK;
    # accepted sockets inherit the option from the listener.
    server._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with server:
        yield fake, server


@pytest.fixture
def fake(_fake_server: tuple[FakeST, ThreadedServer]) -> FakeST:
    fake, _ = _fake_server
    fake.reset()
    return fake


@pytest.fixture
def server_url(_fake_server: tuple[FakeST, ThreadedServer]) -> str:
    return _fake_server[1].url


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(server_url: str, sleeps: Sleeps) -> Iterator[MakeClient]:
    """Build clients against the fake; keyword arguments override the defaults."""
    made: list[ServiceTitanClient] = []

    def make(**overrides: Any) -> ServiceTitanClient:
        options: dict[str, Any] = {
            "api_url": server_url,
            "auth_url": server_url + TOKEN_PATH,
            "tenant": TENANT,
            "client_id": CLIENT_ID,
            "client_secret": SecretStr(CLIENT_SECRET),
            "app_key": SecretStr(APP_KEY),
            # Fast enough that the limiter never slows the suite.
            "rate_limit": 1000.0,
            "timeout": 5.0,
            "sleep": sleeps,
        }
        options.update(overrides)
        client = ServiceTitanClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> ServiceTitanClient:
    return make_client()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL whose port is bound but not listening, so connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
