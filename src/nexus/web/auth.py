"""Who may use the dashboard and its API.

Two ways in, both checked in constant time:

* `Authorization: Bearer <NEXUS_WEB_TOKEN>` — for scripts, monitors and `curl`;
* the login form, backed by NEXUS_WEB_USER / NEXUS_WEB_PASSWORD (or the token
  itself, for a one-person setup), which sets a signed, HttpOnly session cookie.

With neither configured nobody gets in: `serve` generates a token on loopback
and refuses to listen anywhere else. Requests without access are answered
with a redirect to the login form when a person's browser asks for a page, and
401 otherwise (JSON, /metrics, scripts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable

import orjson

from nexus.settings import Settings

SESSION_COOKIE = "nexus_session"
SESSION_TTL_S = 12 * 3600
#: Failed logins per client and window before the form answers 429.
LOGIN_FAILURES = 10
LOGIN_WINDOW_S = 600.0


def _digest(value: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison's time independent of length too.
    return hashlib.sha256(value.encode()).digest()


def same_secret(given: str, expected: str) -> bool:
    """Compare a presented secret with the configured one in constant time."""
    return hmac.compare_digest(_digest(given), _digest(expected))


class Access:
    """The configured credentials, and signed sessions derived from them."""

    def __init__(self, settings: Settings, now: Callable[[], float] = time.time) -> None:
        self.token = settings.web_token.get_secret_value() if settings.web_token else None
        self.user = settings.web_user or None
        self.password = settings.web_password.get_secret_value() if settings.web_password else None
        self.token = self.token or None
        self.password = self.password or None
        self._now = now
        # Derived from the credentials: sessions survive a restart and die when they change.
        material = "\0".join(
            ("nexus-session-v1", self.token or "", self.user or "", self.password or "")
        )
        self._key = hashlib.sha256(material.encode()).digest()

    @property
    def configured(self) -> bool:
        return self.token is not None or self.has_password

    @property
    def has_password(self) -> bool:
        return self.user is not None and self.password is not None

    def bearer_ok(self, authorization: str | None) -> bool:
        """Whether an `Authorization` header carries the configured bearer token."""
        if self.token is None or not authorization:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return False
        return same_secret(value.strip(), self.token)

    def login_ok(self, user: str, password: str, token: str) -> str | None:
        """Who logged in (the user name, or "token"), or None. Every branch is compared."""
        by_password = False
        if self.has_password:
            assert self.user is not None and self.password is not None
            # Both comparisons always run: `&` does not short-circuit.
            by_password = same_secret(user, self.user) & same_secret(password, self.password)
        by_token = self.token is not None and bool(token) and same_secret(token, self.token)
        if by_password:
            return user
        if by_token:
            return "token"
        return None

    def issue(self, who: str) -> str:
        """A session cookie value for `who`, valid for SESSION_TTL_S."""
        payload = base64.urlsafe_b64encode(
            orjson.dumps({"u": who, "exp": int(self._now()) + SESSION_TTL_S})
        ).decode()
        return f"{payload}.{self._sign(payload)}"

    def session_user(self, cookie: str | None) -> str | None:
        """The user a session cookie belongs to, if it is ours and not expired."""
        if not cookie or not self.configured:
            return None
        payload, _, signature = cookie.partition(".")
        if not payload or not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(payload.encode()))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int):
            return None
        if data["exp"] < self._now():
            return None
        who = data.get("u")
        return who if isinstance(who, str) else None

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


class LoginThrottle:
    """Refuse a client's logins for a while after too many failures (guessing slows down)."""

    def __init__(
        self,
        failures: int = LOGIN_FAILURES,
        window_s: float = LOGIN_WINDOW_S,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window_s = window_s
        self._now = now
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again (0: now)."""
        with self._lock:
            times = self._recent(client)
            if len(times) < self.failures:
                return 0
            return max(1, int(times[0] + self.window_s - self._now()) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(self._now())
            if len(self._seen) > 10_000:  # bounded memory under a spray of clients
                self._seen = {k: v for k, v in self._seen.items() if v}

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._seen.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        cutoff = self._now() - self.window_s
        while times and times[0] < cutoff:
            times.popleft()
        return times


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path on this site, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target
