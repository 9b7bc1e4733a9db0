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
from nexus.simulator import Simulator
from nexus.store.database import Database
from stsim import CREDENTIALS, TENANT


def sync_command(
    server_url: str, auth_url: str, db: Database, home: Path
) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "NEXUS_HOME": str(home),
        "NEXUS_DATABASE_URL": db.url,
        "NEXUS_ST_API_URL": server_url,
        "NEXUS_ST_AUTH_URL": auth_url,
        "NEXUS_ST_TENANT": str(TENANT),
        "NEXUS_ST_CLIENT_ID": CREDENTIALS.client_id,
        "NEXUS_ST_CLIENT_SECRET": CREDENTIALS.client_secret,
        "NEXUS_ST_APP_KEY": CREDENTIALS.app_key,
        "NEXUS_ST_RATE_LIMIT": "200",
    }
    return [sys.executable, "-m", "nexus.cli", "sync", "--json"], env


def test_sigkill_during_backfill_then_rerun_ends_with_exactly_the_source(
    db: Database, make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_sim(seed=4, history_days=45, page_size=50, completed_jobs_per_day=40)
    rng = random.Random(20261125)
    kills = 0
    with sim.serve() as server:
        cmd, env = sync_command(server.base_url, server.auth_url, db, tmp_path)
        for _ in range(6):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.3, 2.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
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
    assert statuses.get("running", 0) == 0, "the final run closes every run a kill left open"
    assert statuses.get("abandoned", 0) >= 1, "killed runs are marked abandoned by the next run"
    assert pages > 0
