"""The embedded PostgreSQL server, from the `pgserver` wheel.

It lives under ``NEXUS_HOME/pg``, starts on the first command that needs it and
keeps running for the commands after it (``nexus db stop`` stops it), so a
laptop needs nothing installed but Python. Replays and the demo keep their own
servers (``NEXUS_HOME/replay/pg``, ``NEXUS_HOME/demo/pg``) only while they run:
`embedded_server` stops a server its block started, however the block ends.
``nexus db stop --all`` stops every server under ``NEXUS_HOME``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from nexus.errors import DatabaseError

log = logging.getLogger(__name__)

#: The data folder's name under a home; `stop_all` looks for folders with this name.
PGDATA = "pg"
#: The exit status of a process ended by SIGTERM, as a shell reports it.
TERMINATED = 128 + signal.SIGTERM


def embedded_url(home: Path) -> str:
    """Start (or reuse) the embedded server under `home` and return its URL."""
    pgdata = home / PGDATA
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


def not_durable(url: str) -> None:
    """Let the server at `url` skip waiting for the disk: for data that can be made again.

    Replays, the demo and the tests rebuild their data from a scenario; a crash of
    their server loses nothing anyone keeps, so fsync and synchronous commits only
    slow every page and every run.
    """
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


@contextlib.contextmanager
def embedded_server(home: Path, *, durable: bool = True) -> Iterator[str]:
    """The embedded server under `home` for the length of a block; yields its URL.

    `durable=False` is for data a scenario can make again (see `not_durable`).

    A server this block started is stopped when the block ends: normally, on an
    error, on Ctrl-C, or on SIGTERM (which ends the block with `SystemExit` while
    it runs). A server that was already running belongs to someone else and stays.
    """
    started = not is_running(home / PGDATA)
    try:
        with _sigterm_exits():
            url = embedded_url(home)
            if not durable:
                not_durable(url)
            yield url
    finally:
        if started:
            stop_embedded(home)


def is_running(pgdata: Path) -> bool:
    """Whether a server runs on the data folder `pgdata` (its postmaster is alive)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, run by the server's own system user
    return True


def stop_embedded(home: Path) -> bool:
    """Stop the embedded server under `home`; return whether one was running."""
    return _stop(home / PGDATA)


def stop_all(home: Path) -> list[Path]:
    """Stop every embedded server whose data folder lies under `home`; return their folders."""
    if not home.is_dir():
        return []
    folders = sorted(p.parent for p in home.rglob("postmaster.pid") if p.parent.name == PGDATA)
    return [folder for folder in folders if _stop(folder)]


def _stop(pgdata: Path) -> bool:
    if not is_running(pgdata):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver import _commands

    # pgserver keeps one handle per folder for the process; a stopped server's is stale.
    handle = pgserver.PostgresServer._instances.get(pgdata.resolve())  # type: ignore[attr-defined]
    if handle is not None:
        handle._cleanup()  # forgets this process's use of the server (it stops nothing)
        atexit.unregister(handle._cleanup)
        pgserver.PostgresServer._instances.pop(pgdata.resolve(), None)  # type: ignore[attr-defined]
    user = _system_user()
    if user is not None:
        # Under root the server's own user must reach the folder again: something may have
        # closed a folder above it since the start (pytest re-closes its temporary root).
        from pgserver.utils import ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
    try:
        _commands.pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)  # type: ignore[attr-defined]
    except subprocess.CalledProcessError as exc:
        if is_running(pgdata):
            raise DatabaseError(
                f"could not stop the embedded PostgreSQL in {pgdata}: pg_ctl exited with "
                f"{exc.returncode}. Its log is {pgdata / 'log'}; stop it by hand with "
                f"`pg_ctl -D {pgdata} stop`."
            ) from exc
    log.debug("stopped embedded postgres at %s", pgdata)
    return True


def _system_user() -> str | None:
    """The system user pgserver runs the server as: its own user under root, else ours."""
    return "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """While the block runs, SIGTERM raises `SystemExit` so that `finally` blocks run.

    Python's default for SIGTERM is to die on the spot, leaving children such as
    the embedded server behind. Only the main thread may set handlers; elsewhere
    the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(TERMINATED)

    previous = signal.signal(signal.SIGTERM, exit_cleanly)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _server(pgdata: Path) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI); pgserver copes.
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
