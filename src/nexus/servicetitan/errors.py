"""Errors from talking to ServiceTitan, classified by what the caller should do.

::

    ServiceTitanError               talking to ST failed (endpoint, status, tenant)
    ├── RetriableAPIError           429, 5xx, timeouts: try again later
    │   ├── RateLimited             429; `retry_after` seconds when ST said so
    │   └── Unreachable             no HTTP answer: timeout, refused, reset
    └── FatalAPIError               other 4xx: retrying will not help
        ├── AuthError               credentials refused: fix the setting it names
        └── MalformedPageError      a 2xx body that breaks the documented envelope

Foreign exceptions are translated here, once: `error_for_response` for HTTP
answers and `error_for_transport` for httpx failures. Messages name the tenant,
the endpoint (method and path, never the query string) and the fix; callers
pass the secrets they hold so that nothing echoed by a server leaks through.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx
import orjson

from nexus.errors import NexusError

_MAX_DETAIL = 300


class ServiceTitanError(NexusError):
    """Talking to ServiceTitan failed; `str()` says what, where and the fix."""

    def __init__(
        self,
        problem: str,
        *,
        tenant: int,
        endpoint: str,
        status: int | None = None,
        fix: str = "",
        attempts: int = 1,
    ) -> None:
        self.problem = problem
        self.tenant = tenant
        self.endpoint = endpoint
        self.status = status
        self.fix = fix
        self.attempts = attempts
        super().__init__(self._compose())

    def note_attempts(self, attempts: int) -> None:
        """Record how many attempts were made, so the message can say so."""
        self.attempts = attempts
        self.args = (self._compose(),)

    def _compose(self) -> str:
        text = f"tenant {self.tenant}: {self.problem}"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        if self.fix:
            text += f" — {self.fix}"
        return text

    def __str__(self) -> str:
        return self._compose()


class RetriableAPIError(ServiceTitanError):
    """A failure that may pass: 429, 5xx, timeouts, connection errors."""


class RateLimited(RetriableAPIError):
    """ServiceTitan answered 429; wait `retry_after` seconds when it is known."""

    def __init__(self, problem: str, *, retry_after: float | None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(problem, **kwargs)


class Unreachable(RetriableAPIError):
    """No HTTP answer came back: timeout, refused or dropped connection."""


class FatalAPIError(ServiceTitanError):
    """A failure that retrying will not fix: other 4xx, unreadable answers."""


class AuthError(FatalAPIError):
    """ServiceTitan refused the credentials; the message names the setting to fix."""


class MalformedPageError(FatalAPIError):
    """A successful answer whose body breaks the documented envelope."""


def endpoint_of(method: str, path: str) -> str:
    """Return 'METHOD /path' without any query string."""
    return f"{method.upper()} {path.split('?', 1)[0]}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each (non-trivial) secret with '***'."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def describe_body(body: bytes, content_type: str | None = None, secrets: Iterable[str] = ()) -> str:
    """Summarise an error body in one short line, secrets redacted; never raises.

    RFC 7807 problems give their title, field errors and traceId; OAuth errors
    their code; HTML pages their <title> or first text; anything else its first
    characters.
    """
    try:
        return _describe(body, (content_type or "").lower(), list(secrets))
    except Exception:  # a summary must never hide the real error
        return f"unreadable body of {len(body)} bytes"


def _describe(body: bytes, content_type: str, secrets: list[str]) -> str:
    def clean(summary: str) -> str:
        # Redact before clipping, so no clipped-off half of a secret survives.
        return _clip(redact(summary, secrets))

    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "empty body"
    if "json" in content_type or text[0] in "{[":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            return clean(_describe_json(parsed))
    if "html" in content_type or text[0] == "<":
        return f'HTML error page: "{clean(_html_headline(text))}"'
    return f'"{clean(_squash(text))}"'


def _describe_json(parsed: object) -> str:
    if not isinstance(parsed, dict):
        return _squash(orjson.dumps(parsed).decode())
    if isinstance(parsed.get("error"), str):  # OAuth 2 token endpoint (RFC 6749 §5.2)
        code = parsed["error"]
        desc = parsed.get("error_description")
        return f"{code}: {_squash(str(desc))}" if desc else code
    parts: list[str] = []
    title = parsed.get("title") or parsed.get("message") or parsed.get("Message")
    if title is not None:
        parts.append(f'"{_squash(str(title))}"')
    errors = parsed.get("errors")
    if isinstance(errors, dict):
        for field, messages in errors.items():
            if isinstance(messages, list):
                joined = ", ".join(_squash(str(m)) for m in messages)
            else:
                joined = _squash(str(messages))
            parts.append(f"{field}: {joined}" if field else joined)
    elif errors:
        parts.append(_squash(str(errors)))
    if not parts:
        return _squash(orjson.dumps(parsed, default=str).decode())
    trace = parsed.get("traceId")
    summary = "; ".join(parts)
    return f"{summary} (traceId {_squash(str(trace))})" if trace else summary


def _html_headline(text: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if match and match.group(1).strip():
        return _squash(html.unescape(match.group(1)))
    without_scripts = re.sub(
        r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL
    )
    stripped = _squash(html.unescape(re.sub(r"<[^>]*>", " ", without_scripts)))
    return stripped or "no text"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Return the Retry-After wait in seconds: delta-seconds or an HTTP date.

    A date is measured against the response's own Date header, so no local
    clock is consulted; without one the wait is unknown.
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        until = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(headers["date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return max(0.0, (until - sent).total_seconds())


def status_text(status: int, reason: str = "") -> str:
    """Return '503 Service Unavailable', with the standard phrase when none was sent."""
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".strip()


def error_for_response(
    *,
    tenant: int,
    endpoint: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    reason: str = "",
    secrets: Iterable[str] = (),
) -> ServiceTitanError:
    """Classify a non-2xx API answer and word its message."""
    detail = describe_body(body, headers.get("content-type"), secrets)
    problem = f"{endpoint} failed with {status_text(status, reason)} ({detail})"
    where: dict[str, Any] = {"tenant": tenant, "endpoint": endpoint, "status": status}
    if status == 429:
        retry_after = parse_retry_after(headers)
        return RateLimited(
            problem,
            retry_after=retry_after,
            fix="ServiceTitan is rate-limiting this app; lower NEXUS_ST_RATE_LIMIT if it persists",
            **where,
        )
    if status >= 500 or status == 408:
        return RetriableAPIError(
            problem,
            fix="ServiceTitan is unavailable; Nexus will retry on the next run",
            **where,
        )
    if status == 401:
        return AuthError(
            problem,
            fix="ServiceTitan rejected a freshly issued token; check that NEXUS_ST_CLIENT_ID "
            f"and NEXUS_ST_CLIENT_SECRET belong to tenant {tenant}",
            **where,
        )
    if status == 403:
        return AuthError(
            problem,
            fix=f"check NEXUS_ST_APP_KEY and that the app is connected to tenant {tenant} "
            "with access to this API",
            **where,
        )
    if status == 404:
        fix = f"check NEXUS_ST_TENANT ({tenant}) and NEXUS_ST_API_URL"
    elif 300 <= status < 400:
        location = headers.get("location", "elsewhere")
        fix = f"ServiceTitan redirected to {location}; check NEXUS_ST_API_URL"
    else:
        fix = "retrying will not help; report it with the endpoint and traceId"
    return FatalAPIError(problem, fix=fix, **where)


def error_for_token_response(
    *,
    tenant: int,
    endpoint: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    reason: str = "",
    secrets: Iterable[str] = (),
) -> ServiceTitanError:
    """Classify a refused token request; credentials problems name the settings."""
    if status in (400, 401, 403):
        code = _oauth_code(body, secrets) or describe_body(
            body, headers.get("content-type"), secrets
        )
        return AuthError(
            f"ServiceTitan refused the token request ({status} {code})",
            fix="check NEXUS_ST_CLIENT_ID and NEXUS_ST_CLIENT_SECRET",
            tenant=tenant,
            endpoint=endpoint,
            status=status,
        )
    return error_for_response(
        tenant=tenant,
        endpoint=endpoint,
        status=status,
        headers=headers,
        body=body,
        reason=reason,
        secrets=secrets,
    )


def _oauth_code(body: bytes, secrets: Iterable[str]) -> str | None:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return _clip(redact(_squash(parsed["error"]), secrets))
    return None


def error_for_transport(
    exc: Exception,
    *,
    tenant: int,
    endpoint: str,
    host: str,
    timeout: float,
    secrets: Iterable[str] = (),
) -> ServiceTitanError:
    """Translate an httpx failure (no HTTP answer) into the tree."""
    reason = redact(_squash(str(exc)), secrets) or type(exc).__name__
    where: dict[str, Any] = {"tenant": tenant, "endpoint": endpoint, "status": None}
    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting"
        return Unreachable(
            f"{endpoint} timed out {kind} for {host} after {timeout:g} s",
            fix="ServiceTitan is slow or unreachable; Nexus will retry on the next run "
            "(NEXUS_ST_TIMEOUT sets the limit)",
            **where,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FatalAPIError(
            f"{endpoint} has an unusable URL ({reason})",
            fix="check NEXUS_ST_API_URL and NEXUS_ST_AUTH_URL",
            **where,
        )
    if isinstance(exc, httpx.TransportError):
        return Unreachable(
            f"{endpoint} could not reach {host} ({reason})",
            fix="check the network and NEXUS_ST_API_URL; Nexus will retry on the next run",
            **where,
        )
    return RetriableAPIError(
        f"{endpoint} failed while reading the answer from {host} ({reason})",
        fix="Nexus will retry on the next run",
        **where,
    )
