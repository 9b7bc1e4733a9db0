"""A backfill copied straight into the mirror, killed between two pages, loses nothing.

The pages of a first sync bring keys the mirror has none of, so the loader
copies them straight into `titan.jobs`. A SIGKILL between two pages must
leave exactly the pages whose token was saved, whole; the next run resumes
from that token and ends with every record once, at its newest version.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from cli import Forked, run, spawn
from mirror_check import assert_feed_equals_truth, truth
from nexus.servicetitan.feeds import JOBS
from nexus.simulator import SimServer, Simulator
from nexus.store.database import Database
from stsim import TENANT, client_for, st_env

APP = "nexus-backfill-under-kill"
PAGE = 100


def sync_jobs(server: SimServer, db: Database, home: Path) -> tuple[list[str], dict[str, str]]:
    """`nexus sync --feed jobs` against the simulated tenant, slowed to 20 requests a second
    so that a kill lands inside the backfill; its sessions are named APP."""
    env = {
        **os.environ,
        "NEXUS_HOME": str(home),
        "NEXUS_DATABASE_URL": db.url,
        "NEXUS_ST_TENANT": str(TENANT),
        "PGAPPNAME": APP,
        **st_env(server, NEXUS_ST_RATE_LIMIT="20"),
    }
    return ["sync", "--feed", "jobs", "--json"], env


def kill_between_pages(proc: Forked, db: Database, after: int) -> int:
    """SIGKILL the sync once `after` pages are committed and it is reading the next one.

    Returns the pages committed.
    """
    give_up = time.monotonic() + 120
    with db.connect(autocommit=True) as conn:
        while proc.poll() is None and time.monotonic() < give_up:
            row = conn.execute(
                "SELECT f.pages, a.state FROM nexus.feeds f, LATERAL (SELECT state"
                " FROM pg_stat_activity WHERE application_name = %s ORDER BY backend_start"
                " DESC LIMIT 1) a WHERE f.tenant_id = %s AND f.feed = 'jobs'",
                (APP, TENANT),
            ).fetchone()
            if row is not None and row[0] >= after and row[1] == "idle":
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                pages = conn.execute(
                    "SELECT pages FROM nexus.feeds WHERE tenant_id = %s AND feed = 'jobs'",
                    (TENANT,),
                ).fetchone()
                assert pages is not None
                return int(pages[0])
            time.sleep(0.002)
    proc.kill()
    proc.wait(10)
    raise AssertionError(f"the backfill ended (or stalled) before {after} pages were committed")


def test_a_backfill_killed_between_pages_resumes_with_every_record_once(
    db: Database, make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_sim(seed=6, history_days=60, page_size=PAGE, completed_jobs_per_day=40)
    with sim.serve() as server:
        cmd, env = sync_jobs(server, db, tmp_path)
        proc = spawn(cmd, env, tmp_path / "killed.log")
        committed = kill_between_pages(proc, db, after=3)
        with client_for(server) as st:
            pages = iter(st.export_pages(JOBS))
            first = [next(pages) for _ in range(committed)]
        with db.connect() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM titan.jobs ORDER BY id")]
            (token,) = conn.execute(
                "SELECT token FROM nexus.feeds WHERE tenant_id = %s AND feed = 'jobs'", (TENANT,)
            ).fetchone() or (None,)
        assert len(ids) < len(truth(sim, "jobs")), "the kill landed inside the backfill"
        # Exactly the committed pages, whole, and their last token: nothing of the next one.
        assert ids == sorted({r["id"] for page in first for r in page.data})
        assert token == first[-1].continue_from
        resumed = run(cmd, env)
        assert resumed.code == 0, resumed.err
    assert_feed_equals_truth(db, sim, "jobs")
