"""A backfill killed with SIGKILL in every phase resumes without loss or duplicates.

The sync mirrors the default feeds, several producers of several feeds each. Each
kill waits a random while, then aims at one phase — fetching a page, copying it to
the stage, upserting, saving the token, deriving totals and start times — read from
the sync's session in pg_stat_activity, and fires when the sync is seen in it (or a
second later whatever it does). After the kills a last run resumes; its rows,
every column but the load times, must equal those of one uninterrupted sync of the
same source into an emptied mirror, and the records must equal the source's.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from cli import Forked, run, spawn
from emptied import empty
from export_records import whole_rows
from mirror_check import assert_mirror_equals_truth
from nexus.catalog import DEFAULT_FEEDS
from nexus.registry.config import load_config
from nexus.simulator import SimServer, Simulator
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.store.rows import TABLES
from stsim import TENANT, st_env


def sync_command(server: SimServer, db: Database, home: Path) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "NEXUS_HOME": str(home),
        "NEXUS_DATABASE_URL": db.url,
        "NEXUS_ST_TENANT": str(TENANT),
        **st_env(server, NEXUS_ST_RATE_LIMIT="200"),
    }
    return ["sync", "--json"], env


#: The phases a kill can land in, read from the sync's session in pg_stat_activity.
PHASES = ("fetch", "copy", "upsert", "token", "derived")
APP = "nexus-sync-under-kill"


def phase_of(state: str | None, query: str | None) -> str | None:
    """What the sync is doing, from its session's state and (last) statement."""
    if state == "idle":
        return "fetch"  # between statements, outside a transaction: reading ServiceTitan
    text = (query or "").lstrip().upper()
    if text.startswith("COPY"):
        return "copy"
    if "NEXUS.FEEDS" in text and text.startswith(("INSERT", "UPDATE")):
        return "token"
    if text.startswith("INSERT INTO TITAN."):
        return "upsert"
    if text.startswith("UPDATE TITAN."):
        return "derived"
    return None


def sync_phase(conn: Connection) -> str | None:
    """What the sync is doing: a phase, "other" for a statement of none, None before its
    session shows."""
    row = conn.execute(
        "SELECT state, query FROM pg_stat_activity WHERE application_name = %s"
        " AND pid <> pg_backend_pid() ORDER BY backend_start DESC LIMIT 1",
        (APP,),
    ).fetchone()
    return None if row is None else phase_of(row[0], row[1]) or "other"


def kill_in_phase(proc: Forked, db: Database, target: str, rng: random.Random) -> str | None:
    """SIGKILL the sync once it is seen in `target`, a random while after its session showed
    (at most 1 s later whatever it is doing); return the phase it was killed in, None if it
    finished first.

    The while is counted from the session, not from the start of the process: a start
    takes from a few hundredths of a second (forked) to most of a second (a fresh
    interpreter), and a fast machine loads what is left of a backfill in about that.
    """
    start: float | None = None
    with db.connect(autocommit=True) as conn:  # one session for the polling: it must be quick
        while proc.poll() is None:
            now = time.monotonic()
            phase = sync_phase(conn)
            if start is None and phase is not None:
                start = now + rng.uniform(0.0, 0.3)
            if start is not None and now >= start and (phase == target or now >= start + 1.0):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return phase if phase in PHASES else "between runs"
            time.sleep(0.002)
    return None


BUSINESS: dict[str, Any] = {"seed": 4, "completed_jobs_per_day": 80}
#: Kills aimed at phases; more follow (up to the most) while fewer than three phases
#: were hit or the last one missed — on a fast machine a backfill can end before its
#: tenth kill.
KILLS, MOST_KILLS = len(PHASES) * 2, len(PHASES) * 4
#: Columns a load stamps with its own time; everything else must match exactly.
LOAD_TIMES = ("created_at", "updated_at")


def test_sigkill_at_every_phase_then_rerun_ends_with_the_rows_of_an_uninterrupted_sync(
    db: Database, make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_sim(history_days=60, page_size=500, **BUSINESS)
    seed = int(os.environ.get("NEXUS_KILL_SEED", "0")) or int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    landed: list[str] = []
    with sim.serve() as server:
        cmd, env = sync_command(server, db, tmp_path)
        env["PGAPPNAME"] = APP
        for n in range(MOST_KILLS):
            if n == len(PHASES):
                # Midway the business moves on: the pages still to come hold changes to
                # records already mirrored, which are merged (upserted), not copied in.
                sim.advance(timedelta(days=5))
            target = rng.choice([p for p in PHASES if p not in landed] or PHASES)
            proc = spawn(cmd, env, tmp_path / f"killed-{n}.log")
            phase = kill_in_phase(proc, db, target, rng)
            if phase is not None:
                landed.append(phase)
            else:
                # The backfill ended before this kill: the resume after the earlier kills
                # must have mirrored the source; the kills go on into a new backfill.
                try:
                    assert_mirror_equals_truth(db, sim, DEFAULT_FEEDS)
                except AssertionError as exc:
                    raise AssertionError(f"{exc} (seed {seed}, after kills {landed})") from exc
                empty(db)
            hit = set(landed) & set(PHASES)
            if n + 1 >= KILLS and len(hit) >= 3 and phase is not None:
                break
        resumed = run(cmd, env)
        assert resumed.code == 0, resumed.err
        where = f"(seed {seed}, NEXUS_KILL_SEED={seed} repeats it; kills landed in {landed})"
        print(where)
        killed = {
            feed: whole_rows(db, TABLES[feed], leave_out=LOAD_TIMES) for feed in DEFAULT_FEEDS
        }
        try:
            assert_mirror_equals_truth(db, sim, DEFAULT_FEEDS)
        except AssertionError as exc:
            raise AssertionError(f"{exc} {where}") from exc
        with db.connect() as conn:
            statuses = dict(
                conn.execute("SELECT status, count(*) FROM nexus.runs GROUP BY status").fetchall()
            )
            failures = conn.execute(
                "SELECT producer, error FROM nexus.runs WHERE status = 'failed'"
            ).fetchall()
            killed_in = {
                r[0]
                for r in conn.execute("SELECT producer FROM nexus.runs WHERE status = 'abandoned'")
            }
        # The same source, synced once without a kill, into an emptied mirror.
        empty(db)
        once = run(cmd, env)
        assert once.code == 0, once.err
    assert len(landed) >= 3, f"the backfill finished too quickly to be interrupted {where}"
    # Each kill aims at a phase; on a busy machine a short one can slip past the polling.
    assert len(set(landed) & set(PHASES)) >= 3, f"kills landed in too few phases {where}"
    for feed in DEFAULT_FEEDS:
        uninterrupted = whole_rows(db, TABLES[feed], leave_out=LOAD_TIMES)
        differ = [k for k in uninterrupted if killed[feed].get(k) != uninterrupted[k]]
        assert killed[feed].keys() == uninterrupted.keys() and not differ, (
            f"{feed}: rows after the kills differ from an uninterrupted sync's, "
            f"e.g. {differ[:3]} {where}"
        )
    assert failures == [], failures
    assert statuses.get("running", 0) == 0, "the final run closes every run a kill left open"
    # A kill can land between two runs of one sync; every kill inside a run leaves one.
    assert 1 <= statuses.get("abandoned", 0) <= len(landed), "killed runs are marked abandoned"
    assert killed_in <= set(load_config(None).producers), killed_in
