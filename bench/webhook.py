"""Webhook latency under bursts, and the proof page's server time on a big tenant.

(a) A simulated tenant's jobs are mirrored without their invoices, so every
    job's invoice_total is 0. The simulator then posts five bursts of signed
    invoice webhooks (default 1,000 each, one per job, 32 at a time) to one
    real `nexus serve` app on loopback, each burst naming jobs of its own. A
    poller watches titan.jobs; the latency of one webhook is from its receipt
    (the hint's received_at, stamped by the server) to the moment its job's
    invoice_total is visible with the right value. Every delivery must be
    answered 202 (none refused, not even by a dropped connection) and every job
    must end with the simulator's true total (no lost update).
(b) One million jobs and their invoices, spread over three years, are loaded
    straight through the loader (the generator of bench/proof.py); the proof
    page (HTML) and /proof.json are timed by the server (its Server-Timing
    header) over HTTP, warm, median of five.

Usage: python bench/webhook.py [--webhooks 1000] [--bursts 5] [--workers 32]
       [--proof-jobs 1000000]
Each burst prints one `burst=<n> …` line; the last line is
`RESULT webhook_p99_ms=<p99 of every burst's webhooks> refused=<n> lost=<n>`.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from _common import bench_database, peak_rss_mb
from fastapi import FastAPI
from pydantic import SecretStr

from nexus.clock import SystemClock, VirtualClock
from nexus.mirror import sync_all
from nexus.registry.config import Config
from nexus.servicetitan import ServiceTitanClient
from nexus.serving import ThreadedServer
from nexus.settings import Settings
from nexus.simulator import BusinessConfig, Credentials, Simulator
from nexus.store.database import Database
from nexus.web import create_app
from proof import NOW as PROOF_NOW
from proof import TENANT as PROOF_TENANT
from proof import generate

TENANT = 1001
SECRET = "bench-webhook-secret-0123456789abcdef"
TOKEN = "bench-token"
CREDENTIALS = Credentials(client_id="bench", client_secret="bench-secret", app_key="bench-app")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def settings() -> Settings:
    return Settings(
        web_token=SecretStr(TOKEN),
        webhook_secret=SecretStr(SECRET),
        st_tenant=TENANT,
        metrics_open=False,
    )


def pick_invoices(sim: Simulator, count: int) -> dict[int, tuple[int, Decimal]]:
    """`count` invoices, each the only active invoice of its job, with a non-zero total."""
    invoices = sim.tenant(TENANT).truth_invoices()
    by_job: dict[int, list[dict[str, object]]] = {}
    for record in invoices.values():
        if record["active"]:
            by_job.setdefault(record["job"]["id"], []).append(record)  # type: ignore[index]
    picked: dict[int, tuple[int, Decimal]] = {}
    for job, records in sorted(by_job.items()):
        if len(records) == 1 and Decimal(str(records[0]["total"])) > 0:
            picked[int(records[0]["id"])] = (job, Decimal(str(records[0]["total"])))  # type: ignore[call-overload]
        if len(picked) == count:
            break
    if len(picked) < count:
        raise SystemExit(f"the simulated tenant has only {len(picked)} usable invoices")
    return picked


@dataclass(frozen=True)
class Burst:
    """What one burst measured."""

    refused: int
    lost: int
    refresh_runs: int
    send_s: float
    all_visible_s: float
    latencies_ms: list[float]  # receipt -> visible in titan.jobs, one per measured webhook
    server_ms: list[float]  # receipt -> refreshed, as the server recorded it

    def figures(self) -> dict[str, float]:
        lat, srv = self.latencies_ms, self.server_ms
        nan = float("nan")
        return {
            "refused": self.refused,
            "lost_updates": self.lost,
            "refresh_runs": self.refresh_runs,
            "send_s": self.send_s,
            "all_visible_s": self.all_visible_s,
            "webhook_p50_ms": percentile(lat, 0.5) if lat else nan,
            "webhook_p99_ms": percentile(lat, 0.99) if lat else nan,
            "server_p50_ms": percentile(srv, 0.5) if srv else nan,
            "server_p99_ms": percentile(srv, 0.99) if srv else nan,
        }


def burst(
    db: Database, sim: Simulator, app: FastAPI, picked: dict[int, tuple[int, Decimal]]
) -> Burst:
    """Post one signed webhook per picked invoice at once; watch their jobs' totals arrive."""
    expected = {job: total for job, total in picked.values()}
    seen: dict[int, float] = {}
    done = threading.Event()

    def poll() -> None:
        pending = set(expected)
        with db.connect(autocommit=True) as conn:
            while pending and not done.is_set():
                rows = conn.execute(
                    "SELECT id, invoice_total FROM titan.jobs"
                    " WHERE tenant_id = %s AND id = ANY(%s)",
                    (TENANT, sorted(pending)),
                ).fetchall()
                now = time.time()
                for job, total in rows:
                    if total == expected[job]:
                        seen[job] = now
                        pending.discard(job)
                time.sleep(0.002)

    runs_before = refresh_runs(db)
    poller = threading.Thread(target=poll)
    poller.start()
    sim.webhooks.announce(TENANT, "invoices", list(picked))
    started = time.perf_counter()
    deliveries = sim.webhooks.deliver()
    sent_s = time.perf_counter() - started
    refused = [d for d in deliveries if d.status != 202]
    for d in refused[:5]:
        print(f"  refused {d.event_id}: {d.status or 'no answer'} {d.error}")
    app.state.refresher.wait_idle(120)
    poller.join(timeout=30)
    done.set()
    total_s = time.perf_counter() - started
    with db.connect(autocommit=True) as conn:
        received = {
            int(r[0]): (float(r[1]), None if r[2] is None else float(r[2]))
            for r in conn.execute(
                "SELECT (targets->'invoices'->>0)::bigint,"
                " extract(epoch FROM received_at), extract(epoch FROM refreshed_at)"
                " FROM nexus.webhook_hints WHERE tenant_id = %s"
                " AND (targets->'invoices'->>0)::bigint = ANY(%s)",
                (TENANT, sorted(picked)),
            )
        }
        totals = dict(
            conn.execute(
                "SELECT id, invoice_total FROM titan.jobs WHERE tenant_id = %s AND id = ANY(%s)",
                (TENANT, sorted(expected)),
            ).fetchall()
        )
    latencies, server_side = [], []
    for invoice, (job, _) in picked.items():
        if invoice in received and job in seen:
            got, refreshed = received[invoice]
            latencies.append((seen[job] - got) * 1000)
            if refreshed is not None:
                server_side.append((refreshed - got) * 1000)
    return Burst(
        refused=len(refused),
        lost=sum(1 for job, total in expected.items() if totals.get(job) != total),
        refresh_runs=refresh_runs(db) - runs_before,
        send_s=sent_s,
        all_visible_s=total_s,
        latencies_ms=latencies,
        server_ms=server_side,
    )


def refresh_runs(db: Database) -> int:
    with db.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM nexus.runs WHERE producer = 'webhook_refresh'"
        ).fetchone()
    return int(row[0]) if row else 0


def webhook_bursts(db: Database, count: int, bursts: int, workers: int) -> list[Burst]:
    """`bursts` bursts of `count` webhooks, each about jobs of its own, at one Nexus app."""
    clock = VirtualClock(datetime.now(UTC).replace(microsecond=0))
    sim = Simulator(clock=clock, credentials=CREDENTIALS)
    per_day = max(9.0, count * bursts / 40)
    sim.add_tenant(TENANT, BusinessConfig(seed=3, completed_jobs_per_day=per_day), history_days=75)
    with sim.serve() as st:

        def client(_tenant: int = TENANT) -> ServiceTitanClient:
            return ServiceTitanClient(
                api_url=st.base_url,
                auth_url=st.auth_url,
                tenant=TENANT,
                client_id=CREDENTIALS.client_id,
                client_secret=SecretStr(CREDENTIALS.client_secret),
                app_key=SecretStr(CREDENTIALS.app_key),
                rate_limit=100_000.0,
            )

        with client() as backfill:
            sync_all(db, backfill, TENANT, clock, feeds=("jobs",))
        every = list(pick_invoices(sim, count * bursts).items())
        app = create_app(settings(), Config(), db, SystemClock(), tenants=[TENANT], clients=client)
        results = []
        with ThreadedServer(app) as nexus:
            sim.webhooks.configure(f"{nexus.url}/webhooks/servicetitan/{{tenant}}", SECRET)
            sim.webhooks.workers = workers
            for n in range(bursts):
                picked = dict(every[n * count : (n + 1) * count])
                results.append(burst(db, sim, app, picked))
                figures = " ".join(_show(k, v) for k, v in results[-1].figures().items())
                print(f"burst={n + 1} webhooks={count} {figures}", flush=True)
    return results


def _show(name: str, value: float) -> str:
    return f"{name}={value:.0f}" if float(value).is_integer() else f"{name}={value:.1f}"


def proof_page_times(db: Database, repeat: int = 5) -> dict[str, float]:
    """Median server time (Server-Timing) of the proof page and its JSON, warm."""
    app = create_app(settings(), Config(), db, VirtualClock(PROOF_NOW), tenants=[PROOF_TENANT])
    times: dict[str, list[float]] = {"/": [], "/proof.json": []}
    with ThreadedServer(app) as nexus, httpx.Client(base_url=nexus.url, timeout=300) as http:
        http.get("/proof.json", headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()
        for _ in range(repeat):
            for path, took in times.items():
                r = http.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
                r.raise_for_status()
                took.append(float(r.headers["Server-Timing"].split("dur=")[1]))
    return {path: statistics.median(values) for path, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=1000, help="webhooks per burst")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--workers", type=int, default=32, help="deliveries in flight at once")
    parser.add_argument("--proof-jobs", type=int, default=1_000_000, help="0 skips part (b)")
    args = parser.parse_args()
    db = bench_database()
    results = webhook_bursts(db, args.webhooks, args.bursts, args.workers)
    latencies = [ms for b in results for ms in b.latencies_ms]
    p99 = percentile(latencies, 0.99) if latencies else float("nan")
    refused = sum(b.refused for b in results)
    lost = sum(b.lost for b in results)
    unmeasured = args.webhooks * args.bursts - len(latencies)
    burst_p99 = statistics.median(b.figures()["webhook_p99_ms"] for b in results)
    print(
        f"all_bursts webhooks={args.webhooks * args.bursts} refused={refused} lost={lost}"
        f" unmeasured={unmeasured} webhook_p50_ms={percentile(latencies, 0.5):.1f}"
        f" webhook_p99_ms={p99:.1f}"
        f" median_burst_p99_ms={burst_p99:.1f}"
    )
    if args.proof_jobs:
        # The same tenant as bench/proof.py: jobs and their invoices over three years.
        db.reset()
        load_s = generate(db, args.proof_jobs)
        print(f"proof_tenant_jobs={args.proof_jobs} invoices={args.proof_jobs} load_s={load_s:.0f}")
        for path, ms in proof_page_times(db).items():
            print(f"proof_page_server_ms[{path}]={ms:.0f}")
    print(f"peak_rss_mb={peak_rss_mb():.0f}")
    if refused or lost:
        failed = [n + 1 for n, b in enumerate(results) if b.refused or b.lost]
        raise SystemExit(
            f"FAILED: {lost} lost, {refused} refused (bursts {', '.join(map(str, failed))})"
        )
    print(f"RESULT webhook_p99_ms={p99:.1f} refused={refused} lost={lost}")


if __name__ == "__main__":
    main()
