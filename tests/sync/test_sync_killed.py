"""A backfill killed with SIGKILL at random points resumes without loss or duplicates.

The sync mirrors the default feeds, several producers of several feeds each;
the kills land at random moments of the whole sync, so they hit different
feeds and phases (fetching a page, copying it, upserting, saving the token,
deriving totals and start times).
"""

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
from nexus.catalog import DEFAULT_FEEDS
from nexus.registry.config import load_config
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


def kill_at_random(proc: subprocess.Popen[bytes], rng: random.Random) -> bool:
    """SIGKILL the sync at a random moment of its life (False if it finished first)."""
    deadline = time.monotonic() + rng.uniform(0.3, 3.0)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_sigkill_during_backfill_then_rerun_ends_with_exactly_the_source(
    db: Database, make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_sim(seed=4, history_days=45, page_size=50, completed_jobs_per_day=40)
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    kills = 0
    with sim.serve() as server:
        cmd, env = sync_command(server, db, tmp_path)
        for _ in range(8):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            kills += kill_at_random(proc, rng)
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr
    assert kills >= 3, f"the backfill finished too quickly to be interrupted (seed {seed})"
    assert_mirror_equals_truth(db, sim, DEFAULT_FEEDS)
    with db.connect() as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM nexus.runs GROUP BY status").fetchall()
        )
        pages = conn.execute("SELECT sum(pages) FROM nexus.feeds").fetchone()[0]  # type: ignore[index]
        failed = conn.execute("SELECT producer, error FROM nexus.runs WHERE status = 'failed'")
        failures = failed.fetchall()
        killed_in = {
            r[0] for r in conn.execute("SELECT producer FROM nexus.runs WHERE status = 'abandoned'")
        }
    assert failures == [], failures
    assert statuses.get("running", 0) == 0, "the final run closes every run a kill left open"
    # A kill can land between two runs of one sync; every kill inside a run leaves one.
    assert 1 <= statuses.get("abandoned", 0) <= kills, "killed runs are marked abandoned"
    assert killed_in <= set(load_config(None).producers), killed_in
    assert pages > 0
