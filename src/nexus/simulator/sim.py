"""The simulator: tenants on one virtual clock, behind one HTTP app."""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from nexus.clock import VirtualClock
from nexus.serving import ThreadedServer
from nexus.simulator.api import ApiRoutes
from nexus.simulator.app import create_app
from nexus.simulator.auth import Credentials, TokenBook
from nexus.simulator.business import BusinessConfig
from nexus.simulator.tenant import Tenant
from nexus.simulator.webhooks import WebhookSender


class Simulator:
    """Fake ServiceTitan tenants whose business moves with a virtual clock.

    One re-entrant lock guards all state: the server thread answers requests
    while tests or replays move the clock from another thread.
    """

    def __init__(
        self,
        clock: VirtualClock | None = None,
        credentials: Credentials | None = None,
        export_page_size: int = 1000,
        token_ttl_s: float = 900,
    ) -> None:
        if export_page_size < 1:
            raise ValueError("export_page_size must be at least 1")
        self.clock = clock or VirtualClock(datetime.now(UTC).replace(microsecond=0))
        self.credentials = credentials or Credentials()
        self.export_page_size = export_page_size
        self.tokens = TokenBook(token_ttl_s)
        self.tenants: dict[int, Tenant] = {}
        self.token_requests = 0
        self._lock = threading.RLock()
        # Signed change notices to a URL, off until switched on (see webhooks.py).
        self.webhooks = WebhookSender(self._lock, self.tenants, self.clock)
        # A weak reference: the app refers to the simulator, and a strong one back
        # would keep a large business alive until a full garbage collection.
        self._app: weakref.ref[ApiRoutes] | None = None

    def add_tenant(
        self, tenant_id: int, config: BusinessConfig | None = None, history_days: int = 0
    ) -> Tenant:
        """Add a tenant whose business has been running `history_days` before now."""
        with self._lock:
            if tenant_id in self.tenants:
                raise ValueError(f"tenant {tenant_id} already exists")
            tenant = Tenant(
                tenant_id, config or BusinessConfig(seed=1), self.clock, self._lock, history_days
            )
            self.tenants[tenant_id] = tenant
            return tenant

    def tenant(self, tenant_id: int) -> Tenant:
        try:
            return self.tenants[tenant_id]
        except KeyError:
            known = ", ".join(str(t) for t in sorted(self.tenants)) or "none"
            raise KeyError(f"no simulated tenant {tenant_id} (tenants: {known})") from None

    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` and apply the business events it passes."""
        with self._lock:
            return self.advance_to(self.clock.now() + delta)

    def advance_to(self, when: datetime) -> datetime:
        """Move the clock to `when` and apply the business events it passes."""
        with self._lock:
            self.clock.set(when)
            for tenant in self.tenants.values():
                tenant.catch_up()
            self.webhooks.collect()
            return self.clock.now()

    # -- HTTP ------------------------------------------------------------------

    @property
    def app(self) -> ApiRoutes:
        """Return the ASGI app serving the API, the token endpoint and `/_sim`."""
        app = self._app() if self._app is not None else None
        if app is None:
            app = create_app(self)
            self._app = weakref.ref(app)
        return app

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> SimServer:
        """Return a server for the app on a real socket; start it with `with`."""
        return serve_app(self.app, host, port)

    def count_token_request(self) -> None:
        with self._lock:
            self.token_requests += 1

    def refuses_new_tokens(self) -> bool:
        """Say whether a tenant sharing these credentials has token rejection switched on."""
        with self._lock:
            return any(t.faults.refuses_new_tokens() for t in self.tenants.values())


def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0) -> SimServer:
    """Return a (not yet started) server for any ASGI app, with Nagle's algorithm off."""
    server = ThreadedServer(app, host, port)
    return SimServer(server)


class SimServer:
    """A running simulator: `base_url` is the API host, `auth_url` the token endpoint."""

    def __init__(self, server: ThreadedServer) -> None:
        self._server = server

    @property
    def base_url(self) -> str:
        return self._server.url

    @property
    def auth_url(self) -> str:
        return f"{self._server.url}/connect/token"

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> SimServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
