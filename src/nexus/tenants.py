"""The ServiceTitan tenants Nexus serves, and each tenant's credentials and webhook secret.

Credentials come from the environment, never from `nexus.toml`::

    NEXUS_ST_<TENANT>_CLIENT_ID      per tenant, e.g. NEXUS_ST_1001_CLIENT_ID
    NEXUS_ST_<TENANT>_CLIENT_SECRET
    NEXUS_ST_CLIENT_ID               for every tenant without its own pair
    NEXUS_ST_CLIENT_SECRET
    NEXUS_ST_APP_KEY                 one per ServiceTitan app, shared by all tenants

Each tenant's webhook secret is `NEXUS_WEBHOOK_SECRET`, or the variable its
`webhook_secret_env` names in `nexus.toml`.

A client id and its secret are taken as a pair: a tenant with only one of its
own two variables is an error rather than a mix of its id and the global
secret. Messages name the variables to set and never their values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from nexus.errors import ConfigError
from nexus.registry.config import Config
from nexus.servicetitan import ServiceTitanClient
from nexus.servicetitan.ratelimit import RateLimiter
from nexus.settings import Settings

GLOBAL_ID = "NEXUS_ST_CLIENT_ID"
GLOBAL_SECRET = "NEXUS_ST_CLIENT_SECRET"  # noqa: S105 - a variable's name, not a secret
APP_KEY = "NEXUS_ST_APP_KEY"


@dataclass(frozen=True)
class TenantCredentials:
    """What one tenant's client presents to ServiceTitan."""

    tenant: int
    client_id: str
    client_secret: SecretStr
    app_key: SecretStr
    #: where the client id and secret came from: the tenant's own variables or the global pair
    source: str


def tenant_variables(tenant: int) -> tuple[str, str]:
    """The names of a tenant's own client id and secret variables."""
    return f"NEXUS_ST_{tenant}_CLIENT_ID", f"NEXUS_ST_{tenant}_CLIENT_SECRET"


def tenant_ids(config: Config, settings: Settings) -> list[int]:
    """The tenants to serve: those declared in `nexus.toml`, else NEXUS_ST_TENANT."""
    if config.tenants:
        return [t.id for t in config.tenants]
    if settings.st_tenant is not None:
        return [settings.st_tenant]
    raise ConfigError(
        "no ServiceTitan tenant to serve: declare [[tenants]] in nexus.toml "
        "(e.g. `[[tenants]]` then `id = 1001`) or set NEXUS_ST_TENANT"
    )


def credentials_for(
    tenant: int, settings: Settings, environ: Mapping[str, str] | None = None
) -> TenantCredentials:
    """Return one tenant's credentials, or raise `ConfigError` naming what to set."""
    found, problem = _lookup(tenant, settings, os.environ if environ is None else environ)
    if found is None:
        raise ConfigError(problem)
    return found


def require_credentials(
    tenants: Iterable[int], settings: Settings, environ: Mapping[str, str] | None = None
) -> dict[int, TenantCredentials]:
    """Return every tenant's credentials, or one `ConfigError` listing each tenant's problem."""
    env = os.environ if environ is None else environ
    found: dict[int, TenantCredentials] = {}
    problems: list[str] = []
    for tenant in tenants:
        credentials, problem = _lookup(tenant, settings, env)
        if credentials is None:
            problems.append(problem)
        else:
            found[tenant] = credentials
    if problems:
        raise ConfigError("\n".join(problems))
    return found


def client_for(
    settings: Settings, credentials: TenantCredentials, limiter: RateLimiter | None = None
) -> ServiceTitanClient:
    """A client for one tenant; clients of a tenant may share one rate `limiter`."""
    return ServiceTitanClient(
        api_url=settings.st_api_url,
        auth_url=settings.st_auth_url,
        tenant=credentials.tenant,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        app_key=credentials.app_key,
        rate_limit=settings.st_rate_limit,
        timeout=settings.st_timeout,
        max_attempts=settings.st_max_attempts,
        limiter=limiter,
    )


def _lookup(
    tenant: int, settings: Settings, env: Mapping[str, str]
) -> tuple[TenantCredentials | None, str]:
    id_var, secret_var = tenant_variables(tenant)
    own_id, own_secret = env.get(id_var) or None, env.get(secret_var) or None
    missing: list[str] = []
    if own_id or own_secret:
        # A secret belongs to its client id: never pair a tenant's id with the global secret.
        if not own_id:
            missing.append(id_var)
        if not own_secret:
            missing.append(secret_var)
        client_id, secret = own_id, SecretStr(own_secret) if own_secret else None
        source = f"{id_var} and {secret_var}"
    else:
        client_id, secret = settings.st_client_id or None, settings.st_client_secret
        if secret is not None and not secret.get_secret_value():
            secret = None
        if client_id is None:
            missing.append(f"{id_var} (or {GLOBAL_ID} for every tenant)")
        if secret is None:
            missing.append(f"{secret_var} (or {GLOBAL_SECRET} for every tenant)")
        source = f"{GLOBAL_ID} and {GLOBAL_SECRET}"
    app_key = settings.st_app_key
    if app_key is None or not app_key.get_secret_value():
        missing.append(APP_KEY)
    if missing:
        return None, f"tenant {tenant}: ServiceTitan credentials are not set: export " + ", ".join(
            missing
        )
    assert client_id is not None and secret is not None and app_key is not None
    return TenantCredentials(tenant, client_id, secret, app_key, source), ""


def secret_for(
    tenant: int, settings: Settings, config: Config, environ: Mapping[str, str] | None = None
) -> tuple[bytes | None, str]:
    """The tenant's webhook secret and where it comes from (for messages; never the value).

    A tenant whose `webhook_secret_env` is declared uses only that variable:
    falling back to the shared secret would accept what the tenant meant to refuse.
    """
    env = os.environ if environ is None else environ
    declared = next((t for t in config.tenants if t.id == tenant), None)
    if declared is not None and declared.webhook_secret_env:
        name = declared.webhook_secret_env
        value = env.get(name) or ""
        return (value.encode() if value else None), name
    shared = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    return (shared.encode() if shared else None), "NEXUS_WEBHOOK_SECRET"
