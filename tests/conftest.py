"""Shared fixtures: one real embedded PostgreSQL for the whole run, cleaned per test."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from emptied import empty
from nexus.proof.model import Proof
from nexus.store.database import Database
from proofjson import validated

# Every proof a test prints or reads as JSON is checked against the published schema.
_to_json = Proof.to_json
Proof.to_json = lambda self: validated(_to_json(self))  # type: ignore[method-assign]

# A shell starts a background job with SIGINT ignored, and its children inherit that:
# the commands the tests interrupt would go on. The tests start theirs as a terminal would.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# pgserver asks platformdirs for a runtime dir, which must be private (0700).
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="nxrun"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL: NEXUS_TEST_DATABASE_URL if given, else a fresh embedded server."""
    given = os.environ.get("NEXUS_TEST_DATABASE_URL")
    if given:
        yield given
        return
    from nexus.store.embedded import embedded_url, not_durable, stop_embedded

    # A short path: the server's unix socket lives here and socket paths are short.
    home = Path(tempfile.mkdtemp(prefix="nxt"))
    try:
        url = embedded_url(home)
        not_durable(url)  # a throwaway server: nothing on it outlives the run
        yield url
    finally:
        stop_embedded(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def embedded_home() -> Iterator[Path]:
    """A NEXUS_HOME for commands that start their own embedded servers (demo, replays).

    Short, for the servers' sockets, and outside pytest's temporary root, whose
    permissions a concurrent pytest session resets under a running server. Every
    server left under it is stopped afterwards.
    """
    from nexus.store.embedded import stop_all

    home = Path(tempfile.mkdtemp(prefix="nxh"))
    try:
        yield home
    finally:
        stop_all(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def _migrated(pg_url: str) -> Database:
    db = Database(pg_url)
    with db.connect(autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS titan CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS nexus CASCADE")
    db.upgrade()
    return db


@pytest.fixture
def db(_migrated: Database) -> Database:
    """The test database with an up-to-date schema and empty tables."""
    empty(_migrated)
    return Database(_migrated.url)


# Machines here are shared and noisy: property tests judge behaviour, not speed.
settings.register_profile(
    "nexus", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("nexus")
