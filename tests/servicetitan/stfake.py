"""A small scripted ServiceTitan over real HTTP, and fake time, for wire-level client tests.

The fake checks credentials like ServiceTitan does (token endpoint: client id
and secret; API: bearer token, then app key), then answers each path from a
queue of canned responses, and records every request it receives.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, Request, Response

from nexus.servicetitan import ServiceTitanClient

TENANT = 1001
CLIENT_ID = "nexus-test-client"
CLIENT_SECRET = "cs-S3CRET-7a6b5c4d"
APP_KEY = "ak-S3CRET-9f8e7d6c"
TOKEN_PATH = "/connect/token"


@dataclass
class Canned:
    """One scripted answer: JSON (`json`) or raw bytes (`body`), after `delay` seconds."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def response(self) -> Response:
        if self.body is not None:
            content = self.body
            media = self.headers.get("content-type", "text/plain")
        else:
            content = orjson.dumps(self.json)
            media = "application/json"
        return Response(content, status_code=self.status, headers=self.headers, media_type=media)


def problem(status: int, title: str, errors: dict[str, list[str]] | None = None) -> Canned:
    """Return an RFC 7807 error answer as ServiceTitan sends them."""
    return Canned(
        status,
        {
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
            "title": title,
            "status": status,
            "traceId": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "errors": errors or {},
            "data": {},
        },
    )


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]


class FakeST:
    """Scripted answers per path, real credential checks, and a request log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()
        self.app = self._build_app()

    def reset(self) -> None:
        with self._lock:
            self.queues: dict[str, deque[Canned]] = defaultdict(deque)
            self.defaults: dict[str, Canned | Callable[[Seen], Canned]] = {}
            self.requests: list[Seen] = []
            self.valid_tokens: set[str] = set()
            self.token_ttl = 900
            self._serial = itertools.count(1)

    def queue(self, path: str, *answers: Canned) -> None:
        """Answer the next requests to `path` with these, in order."""
        with self._lock:
            self.queues[path].extend(answers)

    def always(self, path: str, answer: Canned | Callable[[Seen], Canned]) -> None:
        """Answer `path` with this (or what this callable returns) once its queue is empty."""
        with self._lock:
            self.defaults[path] = answer

    def revoke_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def api_requests(self, path: str | None = None) -> list[Seen]:
        return [
            r for r in self.requests if r.path != TOKEN_PATH and (path is None or r.path == path)
        ]

    @property
    def token_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path == TOKEN_PATH]

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def anything(request: Request) -> Response:
            body = await request.body()
            seen = Seen(
                request.method,
                request.url.path,
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
                dict(parse_qsl(body.decode())) if request.method == "POST" else {},
            )
            answer = self._answer(seen)
            if answer.delay:
                await asyncio.sleep(answer.delay)
            return answer.response()

        return app

    def _answer(self, seen: Seen) -> Canned:
        with self._lock:
            self.requests.append(seen)
            if seen.path == TOKEN_PATH:
                return self._token(seen)
            refusal = self._check_auth(seen)
            if refusal is not None:
                return refusal
            return self._scripted(seen) or problem(404, f"No route for {seen.path}")

    def _scripted(self, seen: Seen) -> Canned | None:
        if self.queues[seen.path]:
            return self.queues[seen.path].popleft()
        default = self.defaults.get(seen.path)
        return default(seen) if callable(default) else default

    def _token(self, seen: Seen) -> Canned:
        scripted = self._scripted(seen)
        if scripted is not None:
            return scripted
        if (
            seen.form.get("grant_type") != "client_credentials"
            or seen.form.get("client_id") != CLIENT_ID
            or seen.form.get("client_secret") != CLIENT_SECRET
        ):
            return Canned(401, {"error": "invalid_client"})
        token = f"tok{next(self._serial)}-S3CRET-access"
        self.valid_tokens.add(token)
        return Canned(
            json={"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"}
        )

    def _check_auth(self, seen: Seen) -> Canned | None:
        scheme, _, token = seen.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.valid_tokens:
            return problem(401, "Unauthorized", {"Authorization": ["invalid token"]})
        if seen.headers.get("st-app-key") != APP_KEY:
            return problem(403, "Forbidden", {"ST-App-Key": ["The app key is not valid"]})
        return None


class Sleeps(list[float]):
    """An injected sleep that records how long it was asked to wait, and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


MakeClient = Callable[..., ServiceTitanClient]


class FakeClock:
    """A monotonic clock whose sleep moves it, so waits take no real time."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
