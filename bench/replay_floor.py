"""The floor of a replay: the least its sync runs must cost in this design.

A sync run that finds nothing new still takes its producer's lock and opens its
ledger row, reads its feeds' saved tokens, asks ServiceTitan at least once over
keep-alive HTTP, and closes its row and releases the lock. The floor does exactly
that, as many times as the replay ran each sync producer (counted from its run
ledger), on the same database server, with the same functions the runs use
(`start_locked_run`, `saved_tokens`, `finish_run`), and with one httpx GET per run
to a trivial ASGI app served by uvicorn in a thread of this process, as the
simulator is served. Nothing else: no simulator, no parsing, no loader, no retries.

It also times the rest of the replay's requests (source checks, feeds beyond a
producer's first, pages with data) as further GETs of the same kind, inside the
same runs: `with_every_request_seconds` is the floor when every request the
replay made is counted.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from nexus.catalog import FEEDS
from nexus.registry.config import Config
from nexus.registry.run_ledger import finish_run, start_locked_run
from nexus.serving import ThreadedServer
from nexus.store.database import Database
from nexus.sync.feed_sync import saved_tokens
from nexus.sync.recorded_run import lock_key

#: What the trivial app answers every GET with: an export page with nothing new.
EMPTY_PAGE = orjson.dumps({"hasMore": False, "continueFrom": "floor", "data": []})


async def empty_export(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A trivial ASGI app: every request gets `EMPTY_PAGE`."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(EMPTY_PAGE))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": EMPTY_PAGE})


@dataclass(frozen=True)
class Floor:
    #: sync runs by producer, as the replay's ledger counted them
    runs: Counter[str]
    #: every API request the replay made (the simulator's count)
    requests: int
    #: lock and ledger row, tokens, one GET, close: for every sync run
    seconds: float
    #: the same, with every other request of the replay as one more GET
    with_every_request_seconds: float

    @property
    def total_runs(self) -> int:
        return sum(self.runs.values())


def sync_runs(db: Database, config: Config, tenant: int) -> Counter[str]:
    """How often the replay ran each sync producer of `tenant`, from its run ledger."""
    with db.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT producer, count(*) FROM nexus.runs WHERE tenant_id = %s GROUP BY producer",
            (tenant,),
        ).fetchall()
    kinds = {name: p.kind for name, p in config.producers.items()}
    return Counter({producer: n for producer, n in rows if kinds.get(producer) == "sync"})


def _interleaved(runs: Counter[str]) -> list[str]:
    """The producers in turn, as a replay's ticks run them."""
    order: list[str] = []
    for i in range(max(runs.values(), default=0)):
        order += [producer for producer, n in runs.items() if n > i]
    return order


def measure_floor(db: Database, config: Config, tenant: int, requests: int, now: datetime) -> Floor:
    """Run the floor of a replay of `tenant` into `db` (see the module's docstring)."""
    runs = sync_runs(db, config, tenant)
    order = _interleaved(runs)
    feeds = {producer: [FEEDS[f] for f in config.feeds_of(producer)] for producer in runs}
    keys = {producer: lock_key(tenant, producer) for producer in runs}
    extra = max(0, requests - len(order))
    with (
        ThreadedServer(empty_export) as server,
        httpx.Client(base_url=server.url) as http,
        db.connect(autocommit=True) as conn,
    ):
        conn.execute("SET synchronous_commit = off")  # as a Syncer's connections
        path = f"/tenant/{tenant}/export/floor?from=floor"
        http.get(path).raise_for_status()  # the connection is made before timing starts
        least = more = 0.0
        for i, producer in enumerate(order):
            started = time.perf_counter()
            run = start_locked_run(conn, tenant, producer, now, keys[producer])
            assert run is not None, f"{producer}'s lock is held: is a replay still running?"
            saved_tokens(conn, tenant, feeds[producer])
            http.get(path).content  # noqa: B018 - the body is read, as a run reads it
            asked = time.perf_counter()
            # The replay's other requests, spread evenly over its runs.
            for _ in range(extra * (i + 1) // len(order) - extra * i // len(order)):
                http.get(path).content  # noqa: B018
            others = time.perf_counter()
            finish_run(conn, run, now, unlock=keys[producer])
            least += (asked - started) + (time.perf_counter() - others)
            more += others - asked
    return Floor(runs, requests, least, least + more)
