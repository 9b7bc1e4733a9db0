"""One typed settings object, read from `NEXUS_*` environment variables.

Every setting is documented here; `tests/test_docs.py` checks that the README
lists each one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from nexus.errors import ConfigError


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("nexus", appauthor=False))


class Settings(BaseSettings):
    """Nexus settings; each field is the environment variable `NEXUS_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="NEXUS_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Where Nexus keeps its embedded database and state.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL of an existing server; unset means the embedded one.",
    )
    auto_upgrade: bool = Field(
        default=True,
        description="Apply pending schema migrations automatically; false means say what to run.",
    )
    database_retry_s: float = Field(
        default=120.0,
        ge=0,
        description=(
            "Seconds a producer, the worker or a webhook refresh keeps waiting for a database "
            "that refuses or drops connections (a restart, an outage) before failing."
        ),
    )
    config: Path = Field(
        default=Path("nexus.toml"), description="Path of the nexus.toml configuration file."
    )

    st_api_url: str = Field(
        default="https://api.servicetitan.io", description="ServiceTitan API base URL."
    )
    st_auth_url: str = Field(
        default="https://auth.servicetitan.io/connect/token",
        description="ServiceTitan token endpoint.",
    )
    st_client_id: str | None = Field(default=None, description="OAuth client id of the tenant.")
    st_client_secret: SecretStr | None = Field(
        default=None, description="OAuth client secret of the tenant."
    )
    st_app_key: SecretStr | None = Field(default=None, description="ServiceTitan app key.")
    st_tenant: int | None = Field(default=None, description="ServiceTitan tenant id.")
    st_rate_limit: float = Field(
        default=20.0, gt=0, description="Client-side request rate limit, requests per second."
    )
    st_timeout: float = Field(
        default=100.0, gt=0, description="Seconds to wait for one ServiceTitan response."
    )
    st_max_attempts: int = Field(
        default=6, ge=1, description="Attempts per request on 429, 5xx and timeouts."
    )

    web_token: SecretStr | None = Field(default=None, description="Bearer token for the web UI.")
    web_user: str | None = Field(default=None, description="Login name for the web UI.")
    web_password: SecretStr | None = Field(default=None, description="Password for the web UI.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC secret for ServiceTitan webhooks."
    )
    webhook_header: str = Field(
        default="X-ServiceTitan-Signature",
        min_length=1,
        description="Request header that carries a webhook's HMAC signature.",
    )
    webhook_algorithm: Literal["sha256", "sha512", "sha1"] = Field(
        default="sha256", description="Hash of the webhook HMAC."
    )
    webhook_encoding: Literal["hex", "base64"] = Field(
        default="hex", description="How the webhook signature is written in its header."
    )
    metrics_open: bool = Field(
        default=False, description="Serve /metrics without the bearer token."
    )
    notify_urls: SecretStr | None = Field(
        default=None,
        description=(
            "Apprise URLs of the notification channels, separated by spaces or commas, each "
            "optionally name=url for routing in [notify]; unset sends nothing."
        ),
    )

    def require_st_credentials(self) -> tuple[int, str, SecretStr, SecretStr]:
        """Return tenant, client id, secret and app key, or say which variables are missing."""
        missing = [
            name
            for name, value in (
                ("NEXUS_ST_TENANT", self.st_tenant),
                ("NEXUS_ST_CLIENT_ID", self.st_client_id),
                ("NEXUS_ST_CLIENT_SECRET", self.st_client_secret),
                ("NEXUS_ST_APP_KEY", self.st_app_key),
            )
            if value is None
        ]
        if missing:
            raise ConfigError(
                "ServiceTitan credentials are not set: export "
                + ", ".join(missing)
                + " (or run `nexus demo` to use the built-in simulator)."
            )
        assert self.st_tenant is not None and self.st_client_id is not None
        assert self.st_client_secret is not None and self.st_app_key is not None
        return self.st_tenant, self.st_client_id, self.st_client_secret, self.st_app_key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
