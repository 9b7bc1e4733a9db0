"""Reconcile a 100,000-job tenant: calls per endpoint against 1 + ⌈records / 5000⌉, time, memory.

Starts a simulated tenant (~100,000 jobs over 70 days, 2 % of invoice changes
lost from the export feed) in its own process, backfills a fresh database with
the normal sync, then runs three reconciliations, each in its own process so
its peak RSS is its own: a look, a repair, and a look after the repair. Each
process then reconciles once more under tracemalloc to report the most Python
memory a reconciliation holds at once (the records are streamed page by page).

Usage: python bench/reconcile.py [--per-day 1550] [--days 70]
The last line is `RESULT reconcile_calls_within_bound=<true|false>`.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from _common import bench_database

from nexus.clock import SystemClock
from nexus.mirror import sync_all
from nexus.servicetitan import ServiceTitanClient

ROOT = Path(__file__).resolve().parents[1]
TENANT = 1001

SIMULATOR = """
import sys, time
from datetime import UTC, datetime
from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, Credentials, Simulator
per_day, days = float(sys.argv[1]), int(sys.argv[2])
sim = Simulator(clock=VirtualClock(datetime(2026, 4, 1, tzinfo=UTC)), export_page_size=5000,
                credentials=Credentials("bench", "bench-secret", "bench-app"))
sim.add_tenant(1001, BusinessConfig(seed=1, completed_jobs_per_day=per_day), history_days=days)
sim.tenant(1001).faults.drop_export_share({"invoices": 0.02})
server = sim.serve().start()
print(server.base_url, len(sim.tenant(1001).truth_jobs()), flush=True)
while True:
    time.sleep(3600)
"""

# One reconciliation in a fresh process: its report, its time and its own peak RSS.
RECONCILE = """
import json, sys, time, tracemalloc
from pydantic import SecretStr
from nexus.clock import SystemClock
from nexus.sync.reconcile import run_reconcile
from nexus.servicetitan import ServiceTitanClient
from nexus.store.database import Database
db = Database(sys.argv[1])
client = ServiceTitanClient(api_url=sys.argv[2], auth_url=sys.argv[2] + "/connect/token",
    tenant=1001, client_id="bench", client_secret=SecretStr("bench-secret"),
    app_key=SecretStr("bench-app"), rate_limit=1000)
def peak_rss_mb():
    # VmHWM belongs to this process's memory map; ru_maxrss would include the parent's.
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
db.ensure_schema()
before = peak_rss_mb()
start = time.perf_counter()
report = run_reconcile(db, client, 1001, SystemClock(), repair=sys.argv[3] == "repair")
seconds = time.perf_counter() - start
peak = peak_rss_mb()
# Once more under tracemalloc (slower): the most Python memory the run held at once.
tracemalloc.start()
run_reconcile(db, client, 1001, SystemClock())
heap = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps({"report": report.as_dict(), "seconds": seconds,
                  "rss_before_mb": before, "rss_peak_mb": peak, "heap_peak_mb": heap}))
"""


def client_for(base_url: str) -> ServiceTitanClient:
    from pydantic import SecretStr

    return ServiceTitanClient(
        api_url=base_url,
        auth_url=f"{base_url}/connect/token",
        tenant=TENANT,
        client_id="bench",
        client_secret=SecretStr("bench-secret"),
        app_key=SecretStr("bench-app"),
        rate_limit=1000,
    )


def reconcile(db_url: str, base_url: str, mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", RECONCILE, db_url, base_url, mode],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"reconcile failed: {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=float, default=1550)
    parser.add_argument("--days", type=int, default=70)
    args = parser.parse_args()

    start = time.perf_counter()
    sim = subprocess.Popen(
        [sys.executable, "-c", SIMULATOR, str(args.per_day), str(args.days)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        base_url, jobs = sim.stdout.readline().split()
        print(f"simulated tenant: {int(jobs):,} jobs in {time.perf_counter() - start:.1f} s")
        db = bench_database()
        start = time.perf_counter()
        with client_for(base_url) as client:
            sync_all(db, client, TENANT, SystemClock())
        print(f"backfill (normal sync): {time.perf_counter() - start:.1f} s")

        within = True
        for mode in ("look", "repair", "look"):
            result = reconcile(db.url, base_url, mode)
            report = result["report"]
            assert isinstance(report, dict)
            print(
                f"\nreconcile ({mode}): {result['seconds']:.1f} s, peak RSS "
                f"{result['rss_peak_mb']:.0f} MiB (after imports {result['rss_before_mb']:.0f}), "
                f"peak Python heap {result['heap_peak_mb']:.0f} MiB, "
                f"repaired {report['repaired']}"
            )
            print(f"  {'feed':<10} {'records':>8} {'calls':>6} {'bound':>6}  differences")
            for feed, f in report["feeds"].items():
                bound = 1 + math.ceil(f["records"] / 5000)
                within = within and f["api_calls"] <= bound
                diffs = ", ".join(
                    f"{k}={f[k]}"
                    for k in ("missing_in_mirror", "missing_in_st", "field_mismatch", "timing_only")
                    if f[k]
                )
                print(
                    f"  {feed:<10} {f['records']:>8} {f['api_calls']:>6} {bound:>6}  {diffs or '-'}"
                )
        print(f"RESULT reconcile_calls_within_bound={str(within).lower()}")
    finally:
        sim.kill()
        sim.wait()


if __name__ == "__main__":
    main()
