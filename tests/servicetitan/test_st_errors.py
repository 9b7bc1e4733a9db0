"""The error tree and the error-body parser, without a network."""

from __future__ import annotations

import httpx
import orjson
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from nexus.errors import NexusError
from nexus.servicetitan import errors as e

ENDPOINT = "GET /jpm/v2/tenant/1001/export/jobs"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
problems = st.fixed_dictionaries(
    {},
    optional={
        "type": json_values,
        "title": json_values,
        "status": json_values,
        "traceId": json_values,
        "errors": json_values
        | st.dictionaries(st.text(max_size=10), st.lists(st.text(max_size=20), max_size=3)),
        "data": json_values,
        "error": json_values,
    },
)
content_types = st.sampled_from(
    [None, "", "application/json", "application/problem+json", "text/html", "text/plain", "x/y"]
)


def test_tree_is_classified_by_what_to_do() -> None:
    assert issubclass(e.ServiceTitanError, NexusError)
    assert issubclass(e.RateLimited, e.RetriableAPIError)
    assert issubclass(e.Unreachable, e.RetriableAPIError)
    assert issubclass(e.AuthError, e.FatalAPIError)
    assert issubclass(e.MalformedPageError, e.FatalAPIError)
    assert not issubclass(e.FatalAPIError, e.RetriableAPIError)


def test_message_gives_tenant_endpoint_attempts_and_fix() -> None:
    exc = e.error_for_response(
        tenant=1001,
        endpoint=ENDPOINT,
        status=503,
        headers={"content-type": "text/html"},
        body=b"<html><head><title>503 Service Unavailable</title></head><body>x</body></html>",
    )
    exc.note_attempts(6)
    assert str(exc) == (
        "tenant 1001: GET /jpm/v2/tenant/1001/export/jobs failed with 503 Service Unavailable "
        '(HTML error page: "503 Service Unavailable") after 6 attempts — ServiceTitan is '
        "unavailable; Nexus will retry on the next run"
    )
    assert (exc.tenant, exc.endpoint, exc.status, exc.attempts) == (1001, ENDPOINT, 503, 6)


def test_endpoint_drops_the_query_string() -> None:
    assert e.endpoint_of("get", "/a/b?from=tok&x=1") == "GET /a/b"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, e.RateLimited),
        (500, e.RetriableAPIError),
        (502, e.RetriableAPIError),
        (408, e.RetriableAPIError),
        (400, e.FatalAPIError),
        (404, e.FatalAPIError),
        (401, e.AuthError),
        (403, e.AuthError),
        (302, e.FatalAPIError),
    ],
)
def test_status_decides_the_class(status: int, kind: type[e.ServiceTitanError]) -> None:
    exc = e.error_for_response(tenant=7, endpoint=ENDPOINT, status=status, headers={}, body=b"")
    assert type(exc) is kind
    assert ENDPOINT in str(exc)


def test_forbidden_names_the_app_key_setting() -> None:
    exc = e.error_for_response(tenant=7, endpoint=ENDPOINT, status=403, headers={}, body=b"")
    assert "NEXUS_ST_APP_KEY" in str(exc)


def test_rfc7807_body_gives_title_field_errors_and_trace() -> None:
    body = orjson.dumps(
        {
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "traceId": "00-abc-01",
            "errors": {"pageSize": ["must be between 1 and 5000"], "": ["bad request"]},
            "data": {},
        }
    )
    text = e.describe_body(body, "application/problem+json")
    assert text == (
        '"One or more validation errors occurred."; pageSize: must be between 1 and 5000; '
        "bad request (traceId 00-abc-01)"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"", None, "empty body"),
        (
            b"<html><title> Bad &amp; Gateway </title></html>",
            "text/html",
            'HTML error page: "Bad & Gateway"',
        ),
        (
            b"<html><style>p{}</style><body><h1>Down</h1> for maintenance</body></html>",
            None,
            'HTML error page: "Down for maintenance"',
        ),
        (
            b"upstream connect error\nor disconnect",
            "text/plain",
            '"upstream connect error or disconnect"',
        ),
        (b'{"error":"invalid_client"}', "application/json", "invalid_client"),
        (
            b'{"error":"invalid_grant","error_description":"expired"}',
            None,
            "invalid_grant: expired",
        ),
        (b'{"Message":"An error has occurred."}', None, '"An error has occurred."'),
        (b"[1,2]", "application/json", "[1,2]"),
        (b"{not json", "application/json", '"{not json"'),
        (b"\xff\xfe\x00garbage", None, '"\ufffd\ufffd\x00garbage"'),
    ],
)
def test_describe_body(body: bytes, content_type: str | None, expected: str) -> None:
    assert e.describe_body(body, content_type) == expected


def test_describe_body_is_short() -> None:
    assert len(e.describe_body(b"x" * 10_000)) <= 302


@given(st.binary(max_size=2000), content_types)
def test_describe_body_never_raises_on_any_bytes(body: bytes, content_type: str | None) -> None:
    assert isinstance(e.describe_body(body, content_type), str)


@given(problems, content_types, st.integers(min_value=100, max_value=599))
def test_any_problem_body_gives_a_message_naming_the_endpoint(
    body: dict[str, object], content_type: str | None, status: int
) -> None:
    raw = orjson.dumps(body)
    exc = e.error_for_response(
        tenant=1001,
        endpoint=ENDPOINT,
        status=status,
        headers={} if content_type is None else {"content-type": content_type},
        body=raw,
    )
    message = str(exc)
    assert message.startswith("tenant 1001: ")
    assert ENDPOINT in message
    title = body.get("title")
    if isinstance(title, str) and title.strip() and "error" not in body:
        assert " ".join(title.split())[:50] in message


@given(st.text(max_size=500), st.text(max_size=200))
def test_any_html_page_gives_a_message_naming_the_endpoint(title: str, text: str) -> None:
    page = f"<html><head><title>{title}</title></head><body>{text}</body></html>".encode()
    exc = e.error_for_response(
        tenant=1001, endpoint=ENDPOINT, status=503, headers={"content-type": "text/html"}, body=page
    )
    assert ENDPOINT in str(exc)
    assert "HTML error page" in str(exc)


@given(st.text(min_size=4, max_size=40).filter(lambda s: s.strip() == s and "*" not in s))
@example("page")  # a word of the HTML wording only
@example("sk-live-0123456789")
def test_echoed_secrets_are_redacted(secret: str) -> None:
    def message(body: bytes) -> str:
        return str(
            e.error_for_response(
                tenant=1, endpoint=ENDPOINT, status=400, headers={}, body=body, secrets=[secret]
            )
        )

    def body_json(word: str) -> bytes:
        return orjson.dumps({"title": f"bad key {word}", "errors": {"k": [word, word]}})

    def body_html(word: str) -> bytes:
        return f"<title>{word}</title>".encode()

    for body in (body_json, body_html):
        # A secret that is a word of the fixed wording ("page", "traceId") cannot be kept
        # out of it: the wording around a redacted secret is what such a secret must miss.
        assume(secret not in message(body("***")))
        assert secret not in message(body(secret))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        (
            {
                "retry-after": "Wed, 21 Oct 2026 07:28:30 GMT",
                "date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            30.0,
        ),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:30 GMT"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert e.parse_retry_after(headers) == expected


def test_rate_limited_carries_retry_after() -> None:
    exc = e.error_for_response(
        tenant=1, endpoint=ENDPOINT, status=429, headers={"retry-after": "7"}, body=b""
    )
    assert isinstance(exc, e.RateLimited)
    assert exc.retry_after == 7.0


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (httpx.ReadTimeout("timed out"), e.Unreachable, "timed out waiting"),
        (httpx.ConnectTimeout("timed out"), e.Unreachable, "timed out connecting"),
        (httpx.ConnectError("[Errno 111] Connection refused"), e.Unreachable, "Connection refused"),
        (httpx.RemoteProtocolError("peer closed"), e.Unreachable, "peer closed"),
        (httpx.UnsupportedProtocol("no scheme"), e.FatalAPIError, "NEXUS_ST_API_URL"),
        (httpx.DecodingError("bad gzip"), e.RetriableAPIError, "bad gzip"),
    ],
)
def test_transport_errors_are_translated(
    exc: Exception, kind: type[e.ServiceTitanError], words: str
) -> None:
    translated = e.error_for_transport(
        exc, tenant=1001, endpoint=ENDPOINT, host="api.example", timeout=100
    )
    assert type(translated) is kind
    assert words in str(translated)
    assert ENDPOINT in str(translated)


def test_a_secret_cut_by_clipping_is_still_redacted() -> None:
    secret = "k" * 20 + "S3CRET"
    body = ("x" * 290 + secret).encode()
    text = e.describe_body(body, "text/plain", [secret])
    assert "kkkkkkkkkk" not in text
    assert text.endswith('***"')
