"""OAuth2 client credentials and the bearer tokens the simulator issues.

Token lifetimes run on the machine's monotonic clock, not the virtual one:
expiry is an HTTP concern, and a replay that jumps a week must not expire a
client's token in the middle of a page.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    """What a client must present: OAuth client id and secret, and the app key."""

    client_id: str = "sim-client"
    client_secret: str = "sim-secret"  # noqa: S105 - a fake tenant's well-known default
    app_key: str = "sim-app-key"


class TokenBook:
    """Issue bearer tokens and say when a presented one was issued."""

    def __init__(self, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError("token_ttl_s must be positive")
        self.ttl_s = ttl_s
        self._tokens: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        now = time.monotonic()
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens = {t: span for t, span in self._tokens.items() if span[1] > now}
            self._tokens[token] = (now, now + self.ttl_s)
        return token

    def issued_at(self, token: str) -> float | None:
        """Return when a live token was issued (monotonic), or None if unknown or expired."""
        with self._lock:
            span = self._tokens.get(token)
        if span is None or span[1] <= time.monotonic():
            return None
        return span[0]
