"""How long Nexus waits for a database that refuses connections: a minute is tolerated.

The waits are recorded instead of slept, so the test proves the configured policy
without spending the minute.
"""

from __future__ import annotations

import time

import pytest
from pgfault import FaultServer

from nexus.errors import DatabaseUnavailable
from nexus.settings import Settings
from nexus.store.database import Database
from nexus.store.patience import MAX_WAIT_S, Patience


def test_by_default_a_refusing_database_is_waited_for_well_over_a_minute(
    db: Database, pg: FaultServer
) -> None:
    waits: list[float] = []
    patient = Patience(sleep=waits.append)  # the default, NEXUS_DATABASE_RETRY_S unset
    pg.stop()
    with pytest.raises(DatabaseUnavailable) as info:
        patient.run("tenant 1001: job_sync", lambda: db.connect().close())
    assert sum(waits) >= 60, f"gave up after {sum(waits):.0f} s of waiting"
    # A database back after a minute is noticed within MAX_WAIT_S, not after a long backoff.
    assert max(waits) <= MAX_WAIT_S
    message = str(info.value)
    assert message.startswith("tenant 1001: job_sync: the database stayed unavailable")
    assert "NEXUS_DATABASE_RETRY_S=120" in message
    assert "Start the database server or correct NEXUS_DATABASE_URL" in message
    assert "cannot connect to the database at" in message  # the last error, with its place


def test_the_setting_reaches_every_database_made_from_settings(pg: FaultServer) -> None:
    settings = Settings(database_url=pg.url, database_retry_s=75)
    assert Database.from_settings(settings).patience.wait_s == 75
    assert Settings(database_url=pg.url).database_retry_s >= 60


def test_only_an_unavailable_database_is_waited_for(db: Database) -> None:
    waits: list[float] = []
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        with db.connect() as conn:
            conn.execute("SELECT no_such_column FROM nexus.runs")

    with pytest.raises(Exception, match="no_such_column"):
        Patience(sleep=waits.append).run("probe", refused)
    assert (len(calls), waits) == (1, [])


def test_only_the_waits_count_not_the_work_before_them(db: Database, pg: FaultServer) -> None:
    """A run that worked longer than the allowance before the database went away still waits."""
    waits: list[float] = []
    attempts: list[int] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            pg.start()

    def work() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            time.sleep(0.6)  # longer than the whole allowance below
            pg.stop()
        with db.connect() as conn:
            conn.execute("SELECT 1")
        return "done"

    # 0.5 s of waiting allows two waits (0.25 s, then 0.5 s).
    assert Patience(wait_s=0.5, sleep=sleep).run("probe", work) == "done"
    assert (len(attempts), waits) == (3, [0.25, 0.5])
