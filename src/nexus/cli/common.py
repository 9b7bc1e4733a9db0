"""What every command shares: errors as one line, options, settings, database and configuration.

Errors Nexus raises on purpose (`NexusError`) are printed as one clear message
and exit with status 1; anything else is a bug and shows its traceback. The
underscored names are the CLI's own, shared by its modules; nothing outside
`nexus.cli` uses them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from nexus.cli.console import error
from nexus.clock import Clock
from nexus.errors import NexusError
from nexus.settings import Settings, get_settings

if TYPE_CHECKING:
    from nexus.notify.channels import Channel
    from nexus.registry.config import Config
    from nexus.store.connection import Connection
    from nexus.store.database import Database

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn a `NexusError` into one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NexusError as exc:
            error(str(exc))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


TenantOption = Annotated[
    int | None, typer.Option("--tenant", help="Tenant id (default: NEXUS_ST_TENANT).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _settings() -> Settings:
    return get_settings()


def _database() -> Database:
    from nexus.store.database import Database

    return Database.from_settings(_settings())


@contextlib.contextmanager
def _connection(*, autocommit: bool = False) -> Iterator[Connection]:
    """A connection to the database, its schema checked first (or the command says what to run)."""
    db = _database()
    db.ensure_schema()
    with db.connect(autocommit=autocommit) as conn:
        yield conn


def _clock() -> Clock:
    """Production's clock: the database server's, shared by every machine running Nexus."""
    from nexus.store.clock import DatabaseClock

    return DatabaseClock(_database())


def _config() -> Config:
    from nexus.registry.config import load_config

    return load_config(_settings().config)


def _tenant(config: Config, tenant: int | None) -> int:
    """The tenant a command is about: --tenant, NEXUS_ST_TENANT, or the only declared one."""
    from nexus.errors import ConfigError

    if tenant is not None:
        return tenant
    configured = _settings().st_tenant
    if configured is not None:
        return configured
    if len(config.tenants) == 1:
        return int(config.tenants[0].id)
    declared = ", ".join(str(t.id) for t in config.tenants) or "none declared"
    raise ConfigError(
        f"which tenant? pass --tenant, or set NEXUS_ST_TENANT (tenants in nexus.toml: {declared})"
    )


def _channels() -> list[Channel]:
    from nexus.notify.producer import channels_from

    return channels_from(_settings().notify_urls)


def _check_feeds(config: Config, feeds: list[str] | None) -> None:
    """Refuse --feed names the catalog does not know or the configuration does not mirror."""
    from nexus.mirror import check_feeds

    try:
        check_feeds(config, feeds or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--feed") from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
