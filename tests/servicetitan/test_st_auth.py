"""Tokens: cached, renewed before expiry, renewed once on a 401, refusals named."""

from __future__ import annotations

import threading

import pytest
from pydantic import SecretStr
from stfake import TENANT, TOKEN_PATH, Canned, FakeClock, FakeST, MakeClient, problem

from nexus.servicetitan import AuthError, FatalAPIError, RetriableAPIError

PATH = f"/jpm/v2/tenant/{TENANT}/ping"


@pytest.fixture(autouse=True)
def _ping(fake: FakeST) -> None:
    fake.always(PATH, Canned(json={"ok": True}))


def test_one_token_serves_many_calls(fake: FakeST, make_client: MakeClient) -> None:
    client = make_client()
    for _ in range(25):
        assert client.get_json(PATH, {}) == {"ok": True}
    assert len(fake.token_requests) == 1
    assert client.auth.token_requests == 1
    form = fake.token_requests[0].form
    assert form["grant_type"] == "client_credentials"
    assert form["client_id"] == "nexus-test-client"


def test_every_call_carries_bearer_token_and_app_key(fake: FakeST, make_client: MakeClient) -> None:
    make_client().get_json(PATH, {})
    headers = fake.api_requests(PATH)[0].headers
    assert headers["authorization"].startswith("Bearer tok1-")
    assert headers["st-app-key"] == "ak-S3CRET-9f8e7d6c"


def test_concurrent_first_calls_fetch_one_token(fake: FakeST, make_client: MakeClient) -> None:
    client = make_client()
    threads = [threading.Thread(target=client.get_json, args=(PATH, {})) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.api_requests(PATH)) == 8
    assert len(fake.token_requests) == 1


def test_token_is_renewed_shortly_before_expiry(fake: FakeST, make_client: MakeClient) -> None:
    clock = FakeClock()
    client = make_client(monotonic=clock.monotonic)
    client.get_json(PATH, {})
    clock.now += 839  # 61 s left of 900: still good
    client.get_json(PATH, {})
    assert len(fake.token_requests) == 1
    clock.now += 2  # 59 s left: renew now rather than risk a 401 mid-run
    client.get_json(PATH, {})
    assert len(fake.token_requests) == 2
    tokens = [r.headers["authorization"] for r in fake.api_requests(PATH)]
    assert tokens[0] == tokens[1] != tokens[2]


def test_short_lived_token_renews_at_nine_tenths_of_its_life(
    fake: FakeST, make_client: MakeClient
) -> None:
    fake.token_ttl = 100
    clock = FakeClock()
    client = make_client(monotonic=clock.monotonic)
    client.get_json(PATH, {})
    clock.now += 89
    client.get_json(PATH, {})
    assert len(fake.token_requests) == 1
    clock.now += 2
    client.get_json(PATH, {})
    assert len(fake.token_requests) == 2


def test_api_401_renews_once_and_retries(fake: FakeST, make_client: MakeClient) -> None:
    client = make_client()
    client.get_json(PATH, {})
    fake.revoke_tokens()
    assert client.get_json(PATH, {}) == {"ok": True}
    assert len(fake.token_requests) == 2
    statuses = len(fake.api_requests(PATH))
    assert statuses == 3  # ok, 401, ok after renewal
    assert client.api_calls == 3


def test_persistent_401_raises_auth_error_after_one_renewal(
    fake: FakeST, make_client: MakeClient, sleeps: list[float]
) -> None:
    fake.queue(PATH, problem(401, "Unauthorized"), problem(401, "Unauthorized"))
    client = make_client()
    with pytest.raises(AuthError) as info:
        client.get_json(PATH, {})
    assert len(fake.token_requests) == 2
    assert len(fake.api_requests(PATH)) == 2
    assert sleeps == []  # fatal: not retried
    message = str(info.value)
    assert f"GET {PATH} failed with 401 Unauthorized" in message
    assert "NEXUS_ST_CLIENT_ID" in message


def test_token_endpoint_401_names_the_client_settings(
    fake: FakeST, make_client: MakeClient
) -> None:
    client = make_client(client_secret=SecretStr("wrong-S3CRET-value"))
    with pytest.raises(AuthError) as info:
        client.get_json(PATH, {})
    assert str(info.value) == (
        "tenant 1001: ServiceTitan refused the token request (401 invalid_client) "
        "— check NEXUS_ST_CLIENT_ID and NEXUS_ST_CLIENT_SECRET"
    )
    assert info.value.endpoint == f"POST {TOKEN_PATH}"
    assert fake.api_requests() == []
    assert len(fake.token_requests) == 1  # refusals are not retried


def test_token_endpoint_400_invalid_client_is_an_auth_error(
    fake: FakeST, make_client: MakeClient
) -> None:
    fake.queue(TOKEN_PATH, Canned(400, {"error": "invalid_client"}))
    with pytest.raises(AuthError, match=r"\(400 invalid_client\)"):
        make_client().get_json(PATH, {})


def test_403_names_the_app_key_setting(fake: FakeST, make_client: MakeClient) -> None:
    client = make_client(app_key=SecretStr("not-the-S3CRET-key"))
    with pytest.raises(AuthError) as info:
        client.get_json(PATH, {})
    message = str(info.value)
    assert "403 Forbidden" in message
    assert "NEXUS_ST_APP_KEY" in message
    assert "not-the-S3CRET-key" not in message
    assert len(fake.api_requests(PATH)) == 1


def test_token_endpoint_outage_is_retried(
    fake: FakeST, make_client: MakeClient, sleeps: list[float]
) -> None:
    fake.queue(TOKEN_PATH, Canned(503, body=b"busy"), Canned(503, body=b"busy"))
    assert make_client().get_json(PATH, {}) == {"ok": True}
    assert len(fake.token_requests) == 3
    assert len(sleeps) == 2


def test_token_answer_without_access_token_is_fatal(fake: FakeST, make_client: MakeClient) -> None:
    fake.queue(TOKEN_PATH, Canned(json={"token": "x"}))
    with pytest.raises(FatalAPIError, match=r"without an access_token.*NEXUS_ST_AUTH_URL"):
        make_client().get_json(PATH, {})


def test_unreachable_token_endpoint(make_client: MakeClient, refused_url: str) -> None:
    client = make_client(auth_url=refused_url + TOKEN_PATH, max_attempts=2)
    with pytest.raises(RetriableAPIError, match=f"POST {TOKEN_PATH} could not reach"):
        client.get_json(PATH, {})
