"""`nexus feeds list` and `nexus sync --feed`: every feed, what is mirrored, refusals named."""

from __future__ import annotations

from pathlib import Path

from cli import nexus
from nexus.catalog import DEFAULT_FEEDS, FEEDS
from nexus.simulator import Simulator
from nexus.store.database import Database
from stsim import st_env


def test_feeds_list_shows_every_feed_and_what_a_sync_mirrored(
    db: Database, sim: Simulator, tmp_path: Path
) -> None:
    with sim.serve() as server:
        env = st_env(server, NEXUS_ST_RATE_LIMIT="500")
        synced = nexus(
            "sync", "--feed", "payments", "--json", db_url=db.url, home=tmp_path, env=env
        )
        assert synced.code == 0, synced.err
        listed = nexus("feeds", "list", "--json", db_url=db.url, home=tmp_path, env=env)
    assert listed.code == 0, listed.err
    feeds = {f["feed"]: f for f in listed.json()["feeds"]}
    assert set(feeds) == set(FEEDS)
    assert {n for n, f in feeds.items() if f["enabled"]} == set(DEFAULT_FEEDS)
    payments = feeds["payments"]
    assert payments["table"] == "titan.payments"
    assert payments["endpoint"] == "/accounting/v2/tenant/{tenant}/export/payments"
    assert payments["producer"] == "invoice_sync"
    assert payments["rows"] == len(sim.tenant(1001).truth("payments")) > 0
    assert payments["token_moved_at"] is not None
    assert feeds["jobs"]["rows"] == 0 and feeds["jobs"]["token_moved_at"] is None
    assert feeds["calls"]["enabled"] is False and feeds["calls"]["producer"] == "call_sync"
    assert feeds["technician_ratings"]["key"] == ["technician_id", "job_id"]
    table = nexus("feeds", "list", db_url=db.url, home=tmp_path, env=env)
    assert table.code == 0, table.err
    assert "titan.payments" in table.out and "16 of 56 feeds mirrored" in table.out


def test_sync_refuses_a_feed_that_is_unknown_or_not_mirrored(db: Database, tmp_path: Path) -> None:
    env = {"NEXUS_ST_CLIENT_ID": "x", "NEXUS_ST_CLIENT_SECRET": "y", "NEXUS_ST_APP_KEY": "z"}
    unknown = nexus("sync", "--feed", "paymnets", db_url=db.url, home=tmp_path, env=env)
    assert unknown.code == 2
    assert "unknown feed 'paymnets': did you mean 'payments'?" in unknown.err
    off = nexus("sync", "--feed", "calls", db_url=db.url, home=tmp_path, env=env)
    assert off.code == 2
    assert "feed 'calls' is not mirrored — add it to [mirror] feeds" in off.err
