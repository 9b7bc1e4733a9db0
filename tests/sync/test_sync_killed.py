"""A backfill killed with SIGKILL at random points resumes without loss or duplicates."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mirror_check import assert_mirror_equals_truth
from nexus.simulator import SimServer, Simulator
from nexus.store.database import Database
from stsim import TENANT, st_env


def sync_command(server: SimServer, db: Database, home: Path) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "NEXUS_HOME": str(home),
        "NEXUS_DATABASE_URL": db.url,
        "NEXUS_ST_TENANT": str(TENANT),
        **st_env(server, NEXUS_ST_RATE_LIMIT="200"),
    }
    return [sys.executable, "-m", "nexus.cli", "sync", "--json"], env


def last_run_id(db: Database, status: str | None = None) -> int:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT coalesce(max(id), 0) FROM nexus.runs"
            " WHERE %(status)s::text IS NULL OR status = %(status)s",
            {"status": status},
        ).fetchone()
    return int(row[0]) if row else 0


def kill_mid_run(
    proc: subprocess.Popen[bytes], db: Database, rng: random.Random, before: int
) -> bool:
    """Wait until the sync is inside a run of its own, let it load a little, then SIGKILL it."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and last_run_id(db, "running") <= before:
        if time.monotonic() > deadline:
            raise AssertionError("the sync never started a run")
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.4))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_sigkill_during_backfill_then_rerun_ends_with_exactly_the_source(
    db: Database, make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_sim(seed=4, history_days=45, page_size=50, completed_jobs_per_day=40)
    rng = random.Random(20261125)
    kills = 0
    with sim.serve() as server:
        cmd, env = sync_command(server, db, tmp_path)
        for _ in range(6):
            before = last_run_id(db)
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            kills += kill_mid_run(proc, db, rng, before)
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr
    assert kills >= 3, "the backfill finished too quickly to be interrupted"
    assert_mirror_equals_truth(db, sim)
    with db.connect() as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM nexus.runs GROUP BY status").fetchall()
        )
        pages = conn.execute("SELECT sum(pages) FROM nexus.feeds").fetchone()[0]  # type: ignore[index]
        failed = conn.execute("SELECT producer, error FROM nexus.runs WHERE status = 'failed'")
        failures = failed.fetchall()
    assert failures == [], failures
    assert statuses.get("running", 0) == 0, "the final run closes every run a kill left open"
    # A kill can land between two runs of one sync; every kill inside a run leaves one.
    assert 1 <= statuses.get("abandoned", 0) <= kills, "killed runs are marked abandoned"
    assert pages > 0
