"""`nexus serve`: the dashboard on a real socket, refusing to be exposed without credentials."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable, Sequence

import uvicorn
from pydantic import SecretStr

from nexus.clock import Clock
from nexus.errors import ConfigError
from nexus.registry.config import Config, load_config
from nexus.serving import KEEP_ALIVE_S
from nexus.settings import Settings
from nexus.store.clock import DatabaseClock
from nexus.store.database import Database
from nexus.sync.refresh import ClientFactory
from nexus.web.app import create_app
from nexus.web.auth import Access


def is_loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to listen beyond loopback when nobody could be asked for credentials."""
    if not is_loopback(host) and not Access(settings).configured:
        raise ConfigError(
            f"refusing to serve on {host} without credentials: anyone who can reach it would "
            "see the dashboard. Set NEXUS_WEB_TOKEN (or NEXUS_WEB_USER and NEXUS_WEB_PASSWORD), "
            "or serve on 127.0.0.1."
        )


def with_access(settings: Settings, announce: Callable[[str], None]) -> Settings:
    """Settings with credentials: as given, or with a fresh token for this run (loopback only)."""
    if Access(settings).configured:
        return settings
    token = secrets.token_urlsafe(24)
    announce(
        "No NEXUS_WEB_TOKEN or NEXUS_WEB_USER/NEXUS_WEB_PASSWORD is set; "
        "sign in with this run's access token:"
    )
    announce(f"  {token}")  # on a line of its own, so no wrapping can split it
    return settings.model_copy(update={"web_token": SecretStr(token)})


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    config: Config | None = None,
    db: Database | None = None,
    clock: Clock | None = None,
    tenants: Sequence[int] | None = None,
    clients: ClientFactory | None = None,
    announce: Callable[[str], None] = print,
    log_level: str = "warning",
) -> None:
    """Serve the dashboard, API, webhooks and metrics until interrupted (Ctrl-C).

    Raises `ConfigError` for a non-loopback `host` without credentials.
    """
    check_bind(settings, host)
    settings = with_access(settings, announce)
    config = config if config is not None else load_config(settings.config)
    db = db if db is not None else Database.from_settings(settings)
    db.ensure_schema()
    app = create_app(
        settings, config, db, clock or DatabaseClock(db), tenants=tenants, clients=clients
    )
    shown = f"[{host}]" if ":" in host else host
    announce(f"Nexus dashboard: http://{shown}:{port}/  (metrics at /metrics, health at /healthz)")
    if not is_loopback(host):
        announce("Serving plain HTTP beyond this machine: put a TLS-terminating proxy in front.")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
