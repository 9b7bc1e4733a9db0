"""The optional `jobs_cache_export` producer: a JSON snapshot of recent jobs for legacy readers.

Some consumers read a cache file instead of the database. This producer writes
that file from the mirror each cycle, atomically (a reader never sees half a
file), stamps it with the run's time (so a replayed month ages like a real
one) and records the run in the ledger like any other producer.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from nexus.clock import Clock
from nexus.store.database import Database
from nexus.sync.recorded_run import recorded_run

PRODUCER = "jobs_cache_export"


@dataclass(frozen=True)
class CacheExport:
    path: Path
    jobs: int
    run_id: int


def export_jobs_cache(
    db: Database,
    tenant: int,
    path: Path,
    days: int,
    clock: Clock,
    producer: str = PRODUCER,
) -> CacheExport:
    """Write the jobs created or completed in the last `days` days to `path`.

    A database that refuses or drops connections is waited for (`Database.patience`)
    and the export made again; the file is replaced only by a whole snapshot.
    """

    def attempt() -> CacheExport:
        with (
            db.connect(autocommit=True) as control,
            recorded_run(control, tenant, producer, clock) as run,
        ):
            now = run.started_at
            jobs = _recent_jobs(db, tenant, now, days)
            _write_atomically(
                path,
                orjson.dumps(
                    {"generated_at": now, "tenant": tenant, "days": days, "jobs": jobs},
                    option=orjson.OPT_INDENT_2,
                ),
                now,
            )
            run.rows_read = run.rows_changed = len(jobs)
        return CacheExport(path, len(jobs), run.id)

    return db.patience.run(f"tenant {tenant}: {producer}", attempt)


def _recent_jobs(db: Database, tenant: int, now: datetime, days: int) -> list[dict[str, Any]]:
    since = now - timedelta(days=days)
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, job_number, job_status, created_on, completed_on, job_type_id,"
            " customer_id, invoice_total, no_charge, active FROM titan.jobs"
            " WHERE tenant_id = %s AND (created_on > %s OR completed_on > %s)"
            " AND created_on <= %s ORDER BY id",
            (tenant, since, since, now),
        ).fetchall()
    names = (
        "id",
        "job_number",
        "job_status",
        "created_on",
        "completed_on",
        "job_type_id",
        "customer_id",
        "invoice_total",
        "no_charge",
        "active",
    )
    return [
        {
            name: (str(value) if name == "invoice_total" else value)
            for name, value in zip(names, r, strict=True)
        }
        for r in rows
    ]


def _write_atomically(path: Path, data: bytes, stamp: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        when = stamp.timestamp()
        os.utime(tmp, (when, when))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
