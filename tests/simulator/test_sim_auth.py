"""Auth: client credentials for a token, then a bearer token and the app key on every call."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from simclient import LISTS, START, TENANT, StClient

from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, Credentials, Simulator


def test_client_credentials_get_a_bearer_token(st: StClient, sim: Simulator) -> None:
    response = st.request_token()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
    assert body["expires_in"] == 900 and body["token_type"] == "Bearer"
    assert sim.token_requests == 1


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_bad_credentials_are_refused(
    st: StClient, overrides: dict[str, str], status: int, error: str
) -> None:
    response = st.request_token(**overrides)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["status"] == status and body["title"] and body["traceId"]


def test_calls_without_a_valid_token_get_401(st: StClient) -> None:
    key = {"ST-App-Key": st.credentials.app_key}
    for headers in (
        {},
        key,
        {**key, "Authorization": "Bearer nonsense"},
        {**key, "Authorization": "Basic x"},
    ):
        response = st.http.get(LISTS["jobs"], headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["status"] == 401


def test_calls_with_a_wrong_or_missing_app_key_get_403(st: StClient) -> None:
    bearer = {"Authorization": f"Bearer {st.token()}"}
    assert st.http.get(LISTS["jobs"], headers=bearer).status_code == 403
    wrong = st.http.get(LISTS["jobs"], headers={**bearer, "ST-App-Key": "other-app"})
    assert wrong.status_code == 403
    assert "ST-App-Key" in wrong.json()["errors"]


@pytest.fixture
def short_tokens() -> Iterator[StClient]:
    creds = Credentials(client_id="id-1", client_secret="secret-1", app_key="key-1")
    sim = Simulator(clock=VirtualClock(START), credentials=creds, token_ttl_s=1)
    sim.add_tenant(TENANT, BusinessConfig(seed=1), history_days=2)
    with sim.serve() as server:
        client = StClient(server, creds)
        yield client
        client.close()


def test_tokens_expire_on_the_wall_clock(short_tokens: StClient) -> None:
    st = short_tokens
    assert st.request_token().json()["expires_in"] == 1
    assert st.get(LISTS["jobs"]).status_code == 200
    time.sleep(1.05)
    assert st.get(LISTS["jobs"]).status_code == 401
    st.token(renew=True)
    assert st.get(LISTS["jobs"]).status_code == 200
    assert st.request_token(client_secret="sim-secret").status_code == 401
