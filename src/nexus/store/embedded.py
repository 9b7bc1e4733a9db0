"""The embedded PostgreSQL server, from the `pgserver` wheel.

It lives under ``NEXUS_HOME/pg``, starts on the first command that needs it and
keeps running for the commands after it (``nexus db stop`` stops it), so a
laptop needs nothing installed but Python.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from nexus.errors import DatabaseError

log = logging.getLogger(__name__)


def embedded_url(home: Path) -> str:
    """Start (or reuse) the embedded server under `home` and return its URL."""
    pgdata = home / "pg"
    try:
        pgdata.mkdir(parents=True, exist_ok=True)
        server = _server(pgdata)
    except Exception as exc:  # pgserver raises bare exceptions from initdb/pg_ctl
        raise DatabaseError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            "Check that the folder is writable, or set NEXUS_DATABASE_URL to an existing server."
        ) from exc
    url: str = server.get_uri()
    log.debug("embedded postgres at %s", pgdata)
    return url


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server under `home`; return whether one was running."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import _commands

    pgdata = home / "pg"
    if not (pgdata / "postmaster.pid").exists():
        return False
    server = _server(pgdata)
    _commands.pg_ctl(["-w", "stop"], pgdata=pgdata, user=server.system_user)  # type: ignore[attr-defined]
    return True


def _server(pgdata: Path) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); pgserver copes.
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
