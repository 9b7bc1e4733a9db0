"""The client over real HTTP: retries, error messages, pages, ids, call counts, secrets."""

from __future__ import annotations

import logging

import orjson
import pytest
from pydantic import SecretStr
from stfake import (
    APP_KEY,
    CLIENT_SECRET,
    TENANT,
    TOKEN_PATH,
    Canned,
    FakeST,
    MakeClient,
    Seen,
    problem,
)

from nexus.errors import ConfigError
from nexus.servicetitan import (
    FatalAPIError,
    MalformedPageError,
    RateLimited,
    RetriableAPIError,
    ServiceTitanClient,
    Unreachable,
)
from nexus.servicetitan.feeds import CUSTOMERS, ESTIMATES, INVOICES, JOBS
from nexus.settings import Settings

EXPORT_JOBS = f"/jpm/v2/tenant/{TENANT}/export/jobs"
LIST_JOBS = f"/jpm/v2/tenant/{TENANT}/jobs"
LIST_CUSTOMERS = f"/crm/v2/tenant/{TENANT}/customers"
LIST_INVOICES = f"/accounting/v2/tenant/{TENANT}/invoices"
HTML_503 = (
    b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>Service Unavailable</h1><p>The server is temporarily busy.</p></body></html>"
)


def export(token: str, has_more: bool, *ids: int) -> Canned:
    return Canned(
        json={"hasMore": has_more, "continueFrom": token, "data": [{"id": i} for i in ids]}
    )


# -- retries -------------------------------------------------------------------


def test_429_waits_exactly_retry_after(
    fake: FakeST, client: ServiceTitanClient, sleeps: list[float]
) -> None:
    fake.queue(EXPORT_JOBS, Canned(429, body=b"slow down", headers={"Retry-After": "2"}))
    fake.queue(EXPORT_JOBS, export("t1", False, 1))
    pages = list(client.export_pages(JOBS))
    assert [p.data for p in pages] == [[{"id": 1}]]
    assert sleeps == [2.0]


def test_429_without_retry_after_backs_off(
    fake: FakeST, client: ServiceTitanClient, sleeps: list[float]
) -> None:
    fake.queue(EXPORT_JOBS, Canned(429, body=b""), export("t1", False))
    list(client.export_pages(JOBS))
    assert len(sleeps) == 1
    assert 1.0 <= sleeps[0] <= 2.0


def test_persistent_429_says_rate_limited_and_attempts(
    fake: FakeST, make_client: MakeClient, sleeps: list[float]
) -> None:
    fake.always(EXPORT_JOBS, Canned(429, body=b"", headers={"Retry-After": "1"}))
    with pytest.raises(RateLimited) as info:
        list(make_client(max_attempts=3).export_pages(JOBS))
    assert info.value.retry_after == 1.0
    assert "after 3 attempts" in str(info.value)
    assert sleeps == [1.0, 1.0]


def test_burst_of_5xx_is_retried_with_growing_capped_backoff(
    fake: FakeST, client: ServiceTitanClient, sleeps: list[float]
) -> None:
    fake.queue(EXPORT_JOBS, *(Canned(s, body=b"oops") for s in (500, 502, 503, 504)))
    fake.queue(EXPORT_JOBS, export("t1", False, 7))
    assert [p.data for p in client.export_pages(JOBS)] == [[{"id": 7}]]
    assert len(sleeps) == 4
    for attempt, wait in enumerate(sleeps):
        assert 2**attempt <= wait <= 2**attempt + 1  # exponential plus up to 1 s of jitter
    assert client.api_calls == 5


def test_backoff_is_capped(fake: FakeST, make_client: MakeClient, sleeps: list[float]) -> None:
    fake.always(EXPORT_JOBS, Canned(500, body=b""))
    with pytest.raises(RetriableAPIError):
        list(make_client(max_attempts=10).export_pages(JOBS))
    assert max(sleeps) <= 60.0
    assert len(sleeps) == 9


def test_html_503_outage_gives_one_clear_message(
    fake: FakeST, client: ServiceTitanClient, sleeps: list[float]
) -> None:
    fake.always(EXPORT_JOBS, Canned(503, body=HTML_503, headers={"content-type": "text/html"}))
    with pytest.raises(RetriableAPIError) as info:
        list(client.export_pages(JOBS, "tok-5"))
    assert str(info.value) == (
        f"tenant 1001: GET {EXPORT_JOBS} failed with 503 Service Unavailable "
        '(HTML error page: "503 Service Unavailable") after 6 attempts — ServiceTitan is '
        "unavailable; Nexus will retry on the next run"
    )
    assert info.value.status == 503
    assert info.value.attempts == 6
    assert len(sleeps) == 5
    assert len(fake.api_requests(EXPORT_JOBS)) == 6


def test_rfc7807_400_is_fatal_and_names_title_and_errors(
    fake: FakeST, client: ServiceTitanClient, sleeps: list[float]
) -> None:
    fake.queue(
        EXPORT_JOBS,
        problem(
            400,
            "One or more validation errors occurred.",
            {"from": ["The continuation token is not valid."]},
        ),
    )
    with pytest.raises(FatalAPIError) as info:
        list(client.export_pages(JOBS, "garbage"))
    message = str(info.value)
    assert f"GET {EXPORT_JOBS} failed with 400 Bad Request" in message
    assert '"One or more validation errors occurred."' in message
    assert "from: The continuation token is not valid." in message
    assert "traceId 00-4bf92f" in message
    assert "garbage" not in message  # the query string stays out
    assert sleeps == []
    assert len(fake.api_requests(EXPORT_JOBS)) == 1


def test_404_points_at_tenant_and_url(fake: FakeST, client: ServiceTitanClient) -> None:
    with pytest.raises(FatalAPIError, match="check NEXUS_ST_TENANT"):
        client.get_json(f"/jpm/v2/tenant/{TENANT}/nothing-here", {})


def test_timeouts_are_retried_then_reported(
    fake: FakeST, make_client: MakeClient, sleeps: list[float]
) -> None:
    fake.always(EXPORT_JOBS, Canned(json={}, delay=0.6))
    client = make_client(timeout=0.15, max_attempts=2)
    with pytest.raises(Unreachable) as info:
        list(client.export_pages(JOBS))
    message = str(info.value)
    assert f"GET {EXPORT_JOBS} timed out waiting for 127.0.0.1" in message
    assert "after 0.15 s after 2 attempts" in message
    assert "NEXUS_ST_TIMEOUT" in message
    assert info.value.status is None
    assert len(sleeps) == 1


def test_slow_answer_within_timeout_succeeds(fake: FakeST, make_client: MakeClient) -> None:
    fake.queue(EXPORT_JOBS, Canned(json={}, delay=0.5), export("t", False, 1))
    client = make_client(timeout=0.1, max_attempts=3)
    assert [p.data for p in client.export_pages(JOBS)] == [[{"id": 1}]]


def test_connection_refused_is_unreachable(
    make_client: MakeClient, refused_url: str, server_url: str, sleeps: list[float]
) -> None:
    client = make_client(api_url=refused_url, max_attempts=3)
    with pytest.raises(Unreachable) as info:
        client.get_json(EXPORT_JOBS, {})
    message = str(info.value)
    assert f"GET {EXPORT_JOBS} could not reach 127.0.0.1:" in message
    assert "after 3 attempts" in message
    assert info.value.__cause__ is None  # no httpx exception is chained
    assert len(sleeps) == 2


def test_fatal_errors_are_not_retried(
    fake: FakeST, client: ServiceTitanClient, sleeps: list[float]
) -> None:
    fake.queue(EXPORT_JOBS, problem(422, "Unprocessable"))
    with pytest.raises(FatalAPIError):
        client.get_json(EXPORT_JOBS, {})
    assert sleeps == []


def test_retries_are_logged_at_warning(
    fake: FakeST, client: ServiceTitanClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nexus.servicetitan")
    fake.queue(EXPORT_JOBS, Canned(502, body=b"bad gateway"), export("t", False))
    list(client.export_pages(JOBS))
    [record] = [r for r in caplog.records if r.name.startswith("nexus.servicetitan")]
    assert record.levelno == logging.WARNING
    assert record.endpoint == f"GET {EXPORT_JOBS}"  # type: ignore[attr-defined]
    assert record.status == 502  # type: ignore[attr-defined]
    assert record.attempt == 1  # type: ignore[attr-defined]
    assert "502 Bad Gateway" in record.getMessage()
    assert "(attempt 1 of 6)" in record.getMessage()


# -- export pages --------------------------------------------------------------


def test_export_follows_continue_from_until_has_more_is_false(
    fake: FakeST, client: ServiceTitanClient
) -> None:
    fake.queue(
        EXPORT_JOBS,
        export("t1", True, 1, 2),
        export("t2", True, 3),
        export("t3", False),
    )
    pages = list(client.export_pages(JOBS))
    assert [(p.requested_from, p.continue_from, p.has_more) for p in pages] == [
        (None, "t1", True),
        ("t1", "t2", True),
        ("t2", "t3", False),
    ]
    assert [len(p.data) for p in pages] == [2, 1, 0]
    assert [r.params.get("from") for r in fake.api_requests(EXPORT_JOBS)] == [None, "t1", "t2"]
    assert client.calls_by_path == {EXPORT_JOBS: 3}


def test_export_resumes_from_a_saved_token_with_recent_changes(
    fake: FakeST, client: ServiceTitanClient
) -> None:
    fake.queue(f"/sales/v2/tenant/{TENANT}/estimates/export", export("t9", False))
    list(client.export_pages(ESTIMATES, "t8", include_recent_changes=True))
    [seen] = fake.api_requests()
    assert seen.path == f"/sales/v2/tenant/{TENANT}/estimates/export"
    assert seen.params == {"from": "t8", "includeRecentChanges": "true"}


def test_export_is_lazy_so_callers_save_each_token(
    fake: FakeST, client: ServiceTitanClient
) -> None:
    fake.queue(EXPORT_JOBS, export("t1", True, 1), export("t2", False, 2))
    pages = client.export_pages(JOBS)
    first = next(pages)
    assert first.continue_from == "t1"
    assert len(fake.api_requests()) == 1


@pytest.mark.parametrize(
    ("body", "flaw"),
    [
        ([], "the body is a list, not an object"),
        ({"continueFrom": "t", "data": []}, "'hasMore' is missing or null"),
        ({"hasMore": "false", "continueFrom": "t", "data": []}, "'hasMore' is a string"),
        ({"hasMore": False, "data": []}, "'continueFrom' is missing or null"),
        ({"hasMore": False, "continueFrom": "", "data": []}, "'continueFrom' is an empty string"),
        ({"hasMore": False, "continueFrom": 5, "data": []}, "'continueFrom' is a number"),
        ({"hasMore": False, "continueFrom": "t"}, "'data' is missing or null, not a list"),
        ({"hasMore": False, "continueFrom": "t", "data": {}}, "'data' is an object, not a list"),
        ({"hasMore": False, "continueFrom": "t", "data": [{}, 3]}, "data[1] is a number"),
        (
            {"hasMore": True, "continueFrom": "same", "data": []},
            "'hasMore' is true but the page is empty and 'continueFrom' did not move",
        ),
    ],
)
def test_malformed_export_envelope_is_refused(
    fake: FakeST, client: ServiceTitanClient, body: object, flaw: str, sleeps: list[float]
) -> None:
    fake.queue(EXPORT_JOBS, Canned(json=body))
    with pytest.raises(MalformedPageError) as info:
        list(client.export_pages(JOBS, "same"))
    message = str(info.value)
    assert message.startswith(f"tenant 1001: GET {EXPORT_JOBS} returned a malformed export page")
    assert flaw in message
    assert sleeps == []


def test_non_json_success_is_malformed(fake: FakeST, client: ServiceTitanClient) -> None:
    fake.queue(EXPORT_JOBS, Canned(body=b"<html><title>Sign in</title></html>", headers={}))
    with pytest.raises(MalformedPageError, match=r'not JSON \(HTML error page: "Sign in"\)'):
        list(client.export_pages(JOBS))


def test_a_cookie_an_answer_sets_is_not_sent_back(fake: FakeST, client: ServiceTitanClient) -> None:
    # A gateway's cookie (load balancer stickiness, bot scoring) means nothing to the
    # API: requests carry their bearer token and app key, and no cookie.
    set_cookie = {"Set-Cookie": "AWSALB=sticky-7; Path=/"}
    fake.queue(EXPORT_JOBS, Canned(json=export("t1", True, 1).json, headers=set_cookie))
    fake.queue(EXPORT_JOBS, export("t2", False, 2))
    fake.queue(LIST_JOBS, Canned(json={"page": 1, "pageSize": 1, "hasMore": False, "data": []}))
    assert [p.data for p in client.export_pages(JOBS)] == [[{"id": 1}], [{"id": 2}]]
    assert client.newest_change(JOBS) is None
    assert [r.params.get("from") for r in fake.api_requests()] == [None, "t1", None]
    assert all("cookie" not in r.headers for r in fake.requests), [
        r.headers.get("cookie") for r in fake.requests
    ]


# -- list pages, ids, invoices ---------------------------------------------------


def listing(page: int, has_more: bool, ids: list[int], total: int | None = None) -> Canned:
    return Canned(
        json={
            "page": page,
            "pageSize": 2,
            "hasMore": has_more,
            "totalCount": total,
            "data": [{"id": i} for i in ids],
        }
    )


def test_list_pages_from_1_until_has_more_is_false_with_all_states(
    fake: FakeST, client: ServiceTitanClient
) -> None:
    fake.queue(LIST_CUSTOMERS, listing(1, True, [1, 2], 3), listing(2, False, [3], 3))
    pages = list(client.list_pages(CUSTOMERS, page_size=2, modifiedOnOrAfter="2026-01-01"))
    assert [(p.page, p.has_more, p.total_count, len(p.data)) for p in pages] == [
        (1, True, 3, 2),
        (2, False, 3, 1),
    ]
    params = [r.params for r in fake.api_requests(LIST_CUSTOMERS)]
    assert params[0] == {
        "modifiedOnOrAfter": "2026-01-01",
        "active": "Any",
        "page": "1",
        "pageSize": "2",
        "includeTotal": "true",
    }
    assert params[1]["page"] == "2"


def test_list_filters_can_override_or_skip_the_all_states_filter(
    fake: FakeST, client: ServiceTitanClient
) -> None:
    fake.always(LIST_CUSTOMERS, listing(1, False, []))
    fake.always(LIST_JOBS, listing(1, False, []))
    list(client.list_pages(CUSTOMERS, active="False"))
    list(client.list_pages(CUSTOMERS, all_states=False))
    list(client.list_pages(JOBS))  # jobs lists show every state already
    first, second = (r.params for r in fake.api_requests(LIST_CUSTOMERS))
    assert first["active"] == "False"
    assert "active" not in second
    assert "active" not in fake.api_requests(LIST_JOBS)[0].params


@pytest.mark.parametrize(
    ("body", "flaw"),
    [
        ({"page": 1, "pageSize": 2, "data": []}, "'hasMore' is missing or null"),
        ({"page": 1, "pageSize": 2, "hasMore": False}, "'data' is missing or null"),
        ({"page": 1, "hasMore": False, "data": []}, "'pageSize' is missing or null"),
        ({"page": 1, "pageSize": 2, "hasMore": True, "data": []}, "the page is empty"),
        (
            {"page": 3, "pageSize": 2, "hasMore": False, "data": []},
            "asked for page 1 but got page 3",
        ),
        (
            {"page": 1, "pageSize": 2, "hasMore": False, "data": [], "totalCount": "9"},
            "'totalCount' is a string",
        ),
    ],
)
def test_malformed_list_envelope_is_refused(
    fake: FakeST, client: ServiceTitanClient, body: object, flaw: str
) -> None:
    fake.queue(LIST_JOBS, Canned(json=body))
    with pytest.raises(MalformedPageError, match="malformed list page") as info:
        list(client.list_pages(JOBS))
    assert flaw in str(info.value)


def test_get_by_ids_chunks_by_50_and_dedupes(fake: FakeST, client: ServiceTitanClient) -> None:
    def by_ids(seen: Seen) -> Canned:
        ids = [int(i) for i in seen.params["ids"].split(",")]
        return Canned(
            json={"page": 1, "pageSize": 50, "hasMore": False, "data": [{"id": i} for i in ids]}
        )

    fake.always(LIST_INVOICES, by_ids)
    wanted = list(range(1, 121))
    records = client.get_by_ids(INVOICES, wanted + wanted[:10])
    assert [r["id"] for r in records] == wanted
    seen = fake.api_requests(LIST_INVOICES)
    assert len(seen) == 3
    assert [len(r.params["ids"].split(",")) for r in seen] == [50, 50, 20]
    assert all(r.params["activeState"] == "All" and r.params["pageSize"] == "50" for r in seen)
    assert client.get_by_ids(INVOICES, []) == []
    assert len(fake.api_requests(LIST_INVOICES)) == 3


def test_invoices_for_job_asks_for_all_states(fake: FakeST, client: ServiceTitanClient) -> None:
    fake.queue(LIST_INVOICES, listing(1, False, [41, 42]))
    assert client.invoices_for_job(7) == [{"id": 41}, {"id": 42}]
    [seen] = fake.api_requests(LIST_INVOICES)
    assert seen.params["jobId"] == "7"
    assert seen.params["activeState"] == "All"


# -- counting, settings, lifecycle ---------------------------------------------------


def test_calls_are_counted_per_path_including_retries(
    fake: FakeST, client: ServiceTitanClient
) -> None:
    fake.queue(EXPORT_JOBS, Canned(500, body=b""), export("t", False))
    fake.queue(LIST_JOBS, listing(1, False, []))
    list(client.export_pages(JOBS))
    list(client.list_pages(JOBS, jobStatus="Completed"))
    assert client.api_calls == 3
    assert client.calls_by_path == {EXPORT_JOBS: 2, LIST_JOBS: 1}


def test_from_settings_uses_the_nexus_st_settings(fake: FakeST, server_url: str) -> None:
    settings = Settings(
        st_api_url=server_url,
        st_auth_url=server_url + TOKEN_PATH,
        st_tenant=TENANT,
        st_client_id="nexus-test-client",
        st_client_secret=SecretStr(CLIENT_SECRET),
        st_app_key=SecretStr(APP_KEY),
        st_max_attempts=2,
    )
    fake.queue(EXPORT_JOBS, export("t", False, 1))
    with ServiceTitanClient.from_settings(settings) as client:
        assert client.max_attempts == 2
        assert client.tenant == TENANT
        assert [p.data for p in client.export_pages(JOBS)] == [[{"id": 1}]]


def test_from_settings_names_missing_variables() -> None:
    with pytest.raises(ConfigError, match=r"NEXUS_ST_TENANT.*NEXUS_ST_APP_KEY"):
        ServiceTitanClient.from_settings(Settings(st_client_id="x", st_client_secret="y"))


def test_secrets_never_reach_logs_or_messages(
    fake: FakeST, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    client = make_client(max_attempts=2)
    fake.always(f"/jpm/v2/tenant/{TENANT}/ping", Canned(json={}))
    client.get_json(f"/jpm/v2/tenant/{TENANT}/ping", {})
    token = fake.api_requests()[0].headers["authorization"].split()[1]
    # A careless server echoes credentials back in its error bodies.
    echo = orjson.dumps(
        {"title": f"key {APP_KEY} token {token}", "errors": {"secret": [CLIENT_SECRET]}}
    )
    messages: list[str] = []
    for status in (400, 403, 500):
        fake.always(EXPORT_JOBS, Canned(status, body=echo, headers={"content-type": "text/json"}))
        with pytest.raises(Exception) as info:
            list(client.export_pages(JOBS))
        messages.append(str(info.value))
    fake.always(EXPORT_JOBS, Canned(200, body=f"<p>{token}</p>".encode()))
    with pytest.raises(MalformedPageError) as info:
        list(client.export_pages(JOBS))
    messages.append(str(info.value))
    fake.always(EXPORT_JOBS, lambda seen: Canned(401, body=seen.headers["authorization"].encode()))
    with pytest.raises(Exception) as info:
        list(client.export_pages(JOBS))  # echoes the old token, then the renewed one
    messages.append(str(info.value))
    assert '401 Unauthorized ("Bearer ***")' in messages[-1]
    fake.queue(TOKEN_PATH, Canned(401, body=f"bad secret {CLIENT_SECRET}".encode()))
    fake.revoke_tokens()
    with pytest.raises(Exception) as info:
        list(client.export_pages(JOBS))
    messages.append(str(info.value))
    assert len(caplog.records) > 5
    logged = [r.getMessage() for r in caplog.records] + [str(r.__dict__) for r in caplog.records]
    for secret in (APP_KEY, CLIENT_SECRET, token, "S3CRET"):
        for text in messages + logged:
            assert secret not in text, text
