"""`nexus proof` on a big tenant: 10 million jobs and 10 million invoices.

The rows are generated straight through the Nexus loader (export-shaped
records with every field the checks read, COPY to stage, upsert), spread over
three years, then the proof is built warm several times and the median kept.
A fixed calibration workload is timed in the same run as the yardstick.

Usage: python bench/proof.py [--jobs 10000000]
The last line is `RESULT proof_seconds=<median seconds, warm>`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import bench_database, calibration

from nexus.clock import VirtualClock
from nexus.proof.service import current_proof
from nexus.registry.config import load_config
from nexus.store.guard import mark_sync_run
from nexus.store.loader import Loader
from nexus.store.rows import TABLES

JOBS, INVOICES = TABLES["jobs"], TABLES["invoices"]

TENANT = 1001
NOW = datetime(2026, 4, 18, 2, 42, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
BATCH = 10_000


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def records(start: int, count: int, total: int, rng: random.Random) -> tuple[list, list]:
    jobs, invoices = [], []
    for i in range(start, start + count):
        created = NOW - SPAN + SPAN * (i / total)
        done = created + timedelta(hours=rng.randint(2, 72))
        status = "Completed" if done < NOW and rng.random() < 0.93 else "Canceled"
        amount = f"{rng.lognormvariate(5.94, 1.2):.2f}" if status == "Completed" else "0.00"
        jobs.append(
            {
                "id": i,
                "jobNumber": str(i),
                "customerId": i % 50_000,
                "locationId": i % 50_000,
                "jobStatus": status,
                "completedOn": iso(done) if status == "Completed" else None,
                "createdOn": iso(created),
                "modifiedOn": iso(done),
                "businessUnitId": 1,
                "jobTypeId": i % 9,
                "noCharge": rng.random() < 0.05,
                "invoiceId": i,
                "active": True,
            }
        )
        invoices.append(
            {
                "id": i,
                "referenceNumber": str(i),
                "createdOn": iso(created),
                "modifiedOn": iso(done),
                "subTotal": amount,
                "salesTax": "0.00",
                "total": amount,
                "balance": "0.00",
                "job": {"id": i, "number": str(i), "type": "Service"},
                "customer": {"id": i % 50_000, "name": "c"},
                "active": True,
                "invoiceConfiguration": "JobInvoice",
            }
        )
    return jobs, invoices


def generate(db, total: int) -> float:
    rng = random.Random(1)
    start = time.perf_counter()
    with db.connect(autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        job_loader = Loader(conn, JOBS, TENANT)
        invoice_loader = Loader(conn, INVOICES, TENANT)
        for first in range(1, total + 1, BATCH):
            jobs, invoices = records(first, min(BATCH, total + 1 - first), total, rng)
            with conn.transaction():
                mark_sync_run(conn, "bench")
                invoice_loader.load(invoices, NOW)
                job_loader.load(jobs, NOW)
        conn.execute("VACUUM ANALYZE titan.jobs")
        conn.execute("VACUUM ANALYZE titan.invoices")
        conn.execute(
            "INSERT INTO nexus.runs (tenant_id, producer, started_at, finished_at, status)"
            " SELECT %s, p, %s, %s, 'succeeded' FROM unnest(ARRAY['job_sync', 'invoice_sync',"
            " 'customer_sync', 'estimate_sync']) p",
            (TENANT, NOW - timedelta(minutes=10), NOW - timedelta(minutes=9)),
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the generated tenant in this folder and reuse it when it has --jobs rows",
    )
    args = parser.parse_args()
    db = bench_database(args.keep, fresh=args.keep is None)
    with db.connect() as conn:
        row = conn.execute("SELECT count(*) FROM titan.jobs WHERE tenant_id = %s", (TENANT,))
        present = row.fetchone()[0]  # type: ignore[index]
    if present != args.jobs:
        db.reset()
        load_seconds = generate(db, args.jobs)
        print(f"jobs={args.jobs} invoices={args.jobs} load_seconds={load_seconds:.0f}")
    else:
        print(f"jobs={args.jobs} invoices={args.jobs} (reused)")
    config = load_config(None)
    clock = VirtualClock(NOW)
    current_proof(db, config, TENANT, clock)  # warm
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        proof = current_proof(db, config, TENANT, clock)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    yardstick = calibration()
    print(f"verdict={proof.verdict} alerts={len(proof.alerts)} groups={len(proof.causes)}")
    print("runs=" + " ".join(f"{t:.3f}" for t in times))
    print(f"calibration_seconds={yardstick:.3f}")
    print(f"proof_vs_calibration={median / yardstick:.2f}")
    print(f"RESULT proof_seconds={median:.3f}")


if __name__ == "__main__":
    main()
