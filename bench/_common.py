"""Helpers shared by the benchmarks: a database to measure against, fake records, peak RSS."""

from __future__ import annotations

import atexit
import hashlib
import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psutil

from nexus.store.database import Database
from nexus.store.embedded import embedded_url, not_durable, stop_embedded

BASE = datetime(2025, 1, 1, tzinfo=UTC)


def bench_database(
    home: Path | None = None, *, fresh: bool = True, durable: bool = True
) -> Database:
    """A database on NEXUS_DATABASE_URL, or on an embedded server (throwaway unless `home`).

    `fresh` empties it first; a kept `home` lets a big generated tenant be reused.
    `durable=False` relaxes an embedded server as replays relax theirs (`not_durable`).
    """
    url = os.environ.get("NEXUS_DATABASE_URL")
    if url is None:
        where = home or Path(tempfile.mkdtemp(prefix="nxb"))
        url = embedded_url(where)
        if not durable:
            not_durable(url)
        if home is None:  # a throwaway server goes away with the benchmark, data and all
            atexit.register(_throw_away, where)
    db = Database(url)
    if fresh:
        db.reset()
    else:
        db.ensure_schema()
    return db


def _throw_away(where: Path) -> None:
    """Stop a throwaway server and remove its folder: a loader run leaves a gigabyte there."""
    try:
        stop_embedded(where)
    finally:
        shutil.rmtree(where, ignore_errors=True)


def job_record(i: int, rng: random.Random) -> dict[str, object]:
    """One job shaped like the export endpoint's records (all required fields)."""
    created = BASE + timedelta(minutes=i * 7)
    done = rng.random() < 0.8
    return {
        "id": 10_000_000 + i,
        "jobNumber": str(10_000_000 + i),
        "projectId": None,
        "customerId": 5_000_000 + i % 40_000,
        "locationId": 6_000_000 + i % 40_000,
        "jobStatus": "Completed" if done else "Scheduled",
        "completedOn": (created + timedelta(hours=5)).isoformat().replace("+00:00", "Z")
        if done
        else None,
        "businessUnitId": 1000 + i % 7,
        "jobTypeId": 2000 + i % 12,
        "priority": "Normal",
        "campaignId": 3000 + i % 20,
        "summary": "Replace water heater; customer reports no hot water since Monday.",
        "customFields": [],
        "appointmentCount": 1,
        "firstAppointmentId": 7_000_000 + i,
        "lastAppointmentId": 7_000_000 + i,
        "recallForId": None,
        "warrantyId": None,
        "jobGeneratedLeadSource": None,
        "noCharge": rng.random() < 0.05,
        "notificationsEnabled": True,
        "createdOn": created.isoformat().replace("+00:00", "Z"),
        "createdById": 42,
        "modifiedOn": (created + timedelta(hours=6)).isoformat().replace("+00:00", "Z"),
        "tagTypeIds": [11, 12],
        "customerPo": None,
        "leadCallId": None,
        "partnerLeadCallId": None,
        "bookingId": None,
        "soldById": None,
        "externalData": [],
        "invoiceId": 8_000_000 + i,
        "membershipId": None,
        "total": f"{rng.randint(0, 500000) / 100:.2f}",
        "createdFromEstimateId": None,
        "estimateIds": [],
        "equipmentIds": [],
        "active": True,
    }


def job_pages(count: int, page_size: int = 1000, seed: int = 1) -> Iterator[bytes]:
    """Export pages (`{hasMore, continueFrom, data}`) of `count` job records, as JSON bytes."""
    rng = random.Random(seed)
    for start in range(0, count, page_size):
        data = [job_record(i, rng) for i in range(start, min(count, start + page_size))]
        more = start + page_size < count
        yield orjson.dumps({"hasMore": more, "continueFrom": f"t{start}", "data": data})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def calibration() -> float:
    """Seconds for a fixed single-core workload: the yardstick for this machine right now."""
    start = time.perf_counter()
    digest = b"nexus"
    for _ in range(300_000):
        digest = hashlib.sha256(digest).digest()
    return time.perf_counter() - start


def server_cpu_seconds(db: Database) -> float:
    """CPU seconds the database server has used so far: its postmaster and every backend.

    On a shared machine CPU time moves much less with the load than wall time does;
    a backend that has ended is counted in its postmaster's children's times.
    """
    with db.connect(autocommit=True) as conn:  # open while its backend is asked its parent
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        postmaster = psutil.Process(int(row[0])).parent()
    assert postmaster is not None
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in postmaster.children():
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return float(total)


class CpuSpent:
    """CPU seconds this process and `db`'s server spend inside a `with` block."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.process = self.server = 0.0

    def __enter__(self) -> CpuSpent:
        self.server = -server_cpu_seconds(self._db)
        self.process = -time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.process += time.process_time()
        self.server += server_cpu_seconds(self._db)

    def __str__(self) -> str:
        return f"cpu_seconds={self.process:.1f} server_cpu_seconds={self.server:.1f}"
