"""OAuth 2 client-credentials tokens for one ServiceTitan tenant.

ServiceTitan throttles its token endpoint and issues no refresh tokens, so a
token is cached, renewed shortly before it expires, and renewed early only
when the API rejects it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import SecretStr

from nexus.servicetitan.errors import (
    FatalAPIError,
    endpoint_of,
    error_for_token_response,
    error_for_transport,
)

log = logging.getLogger(__name__)

# Renew this long before expiry, capped at a tenth of the lifetime so that a
# short-lived token is still used for most of its life.
RENEW_MARGIN = 60.0
# When the token response omits expires_in, assume a short life rather than
# the documented 900 s: renewing early costs one request, expiring costs a 401.
DEFAULT_LIFETIME = 300.0


class TokenProvider:
    """Fetch and cache access tokens; thread-safe, one token request at a time."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        auth_url: str,
        tenant: int,
        client_id: str,
        client_secret: SecretStr,
        timeout: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._auth_url = auth_url
        self._tenant = tenant
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._recent: deque[str] = deque(maxlen=4)
        self.endpoint = endpoint_of("POST", urlsplit(auth_url).path or "/")
        self.token_requests = 0

    def recent_tokens(self) -> list[str]:
        """Return the tokens issued lately, rejected ones included, for redaction."""
        return list(self._recent)

    def token(self) -> str:
        """Return a valid access token, fetching one only when needed."""
        with self._lock:
            if self._token is None or self._monotonic() >= self._renew_at:
                self._token = self._fetch()
            return self._token

    def renew(self, rejected: str) -> str:
        """Replace a token the API rejected; reuse a newer one another thread got."""
        with self._lock:
            if self._token is None or self._token == rejected:
                self._token = self._fetch()
            return self._token

    def _fetch(self) -> str:
        self.token_requests += 1
        secret = self._client_secret.get_secret_value()
        log.info("tenant %s: requesting an access token", self._tenant)
        try:
            response = self._http.post(
                self._auth_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": secret,
                },
                headers={"Accept": "application/json"},
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise error_for_transport(
                exc,
                tenant=self._tenant,
                endpoint=self.endpoint,
                host=urlsplit(self._auth_url).netloc,
                timeout=self._timeout,
                secrets=(secret,),
            ) from None
        if not response.is_success:
            raise error_for_token_response(
                tenant=self._tenant,
                endpoint=self.endpoint,
                status=response.status_code,
                headers=response.headers,
                body=response.content,
                reason=response.reason_phrase,
                secrets=(secret,),
            )
        token, lifetime = self._parse(response.content)
        self._renew_at = self._monotonic() + lifetime - min(RENEW_MARGIN, lifetime / 10)
        self._recent.append(token)
        return token

    def _parse(self, body: bytes) -> tuple[str, float]:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("access_token"), str):
            raise FatalAPIError(
                f"{self.endpoint} answered without an access_token",
                fix="check NEXUS_ST_AUTH_URL points at ServiceTitan's token endpoint",
                tenant=self._tenant,
                endpoint=self.endpoint,
                status=200,
            )
        lifetime = parsed.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME
        return parsed["access_token"], float(lifetime)
