"""Error answers in ServiceTitan's shapes: RFC 7807 JSON, or an HTML error page."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

REASONS = {
    400: ("https://tools.ietf.org/html/rfc7231#section-6.5.1", "Bad Request"),
    401: ("https://tools.ietf.org/html/rfc7235#section-3.1", "Unauthorized"),
    403: ("https://tools.ietf.org/html/rfc7231#section-6.5.3", "Forbidden"),
    404: ("https://tools.ietf.org/html/rfc7231#section-6.5.4", "Not Found"),
    429: ("https://tools.ietf.org/html/rfc6585#section-4", "Too Many Requests"),
    500: ("https://tools.ietf.org/html/rfc7231#section-6.6.1", "Internal Server Error"),
    502: ("https://tools.ietf.org/html/rfc7231#section-6.6.3", "Bad Gateway"),
    503: ("https://tools.ietf.org/html/rfc7231#section-6.6.4", "Service Unavailable"),
    504: ("https://tools.ietf.org/html/rfc7231#section-6.6.5", "Gateway Timeout"),
}


class ApiProblem(Exception):
    """A request the API refuses; rendered as an RFC 7807 body with `status`."""

    def __init__(
        self,
        status: int,
        title: str,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return problem_response(self.status, self.title, self.errors, self.headers)


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Serialize with orjson, which is several times faster than the standard encoder."""
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def problem_body(
    status: int, title: str, errors: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    kind = REASONS.get(status, ("about:blank", ""))[0]
    return {
        "type": kind,
        "title": title,
        "status": status,
        "traceId": uuid.uuid4().hex,
        "errors": dict(errors or {}),
        "data": {},
    }


def problem_response(
    status: int,
    title: str,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(problem_body(status, title, errors)),
        status,
        headers,
        media_type="application/json",
    )


def html_response(status: int) -> Response:
    """Return the bare HTML page a gateway serves when the API behind it is down."""
    reason = REASONS.get(status, ("", "Error"))[1]
    body = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n"
        f"<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(body, status, media_type="text/html")
