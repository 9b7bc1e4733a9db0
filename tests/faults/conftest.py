"""Fault tests run on a PostgreSQL of their own, which they restart, stop and sabotage."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgfault import Faults, FaultServer

from emptied import empty
from nexus.store.database import Database
from nexus.store.patience import Patience
from stsim import client, clock, make_sim, server, sim

__all__ = ["client", "clock", "make_sim", "server", "sim"]

#: Enough waiting for the restarts and short refusals these tests make, far from the default.
TEST_PATIENCE = Patience(wait_s=30)


@pytest.fixture(scope="session")
def pg() -> Iterator[FaultServer]:
    """The fault tests' own embedded server, migrated once."""
    home = Path(tempfile.mkdtemp(prefix="nxf"))  # short: the socket lives here
    running = FaultServer(home)
    try:
        Database(running.url).upgrade()
        Faults(running.url).install()
        yield running
    finally:
        running.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def faults(pg: FaultServer) -> Iterator[Faults]:
    armed = Faults(pg.url)
    yield armed
    pg.start()
    armed.clear()


@pytest.fixture
def db(pg: FaultServer, faults: Faults) -> Iterator[Database]:
    """The fault server's database, empty, with patience for the faults the test makes."""
    pg.start()  # a test that failed half-way may have left it stopped
    database = Database(pg.url, patience=TEST_PATIENCE)
    empty(database)
    yield database
