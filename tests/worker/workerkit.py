"""Helpers for the worker tests: simulated tenants, worker subprocesses, ledger queries."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cli import spawn
from nexus.scheduling import ScaledClock
from nexus.simulator import Credentials, SimServer, Simulator
from nexus.store.database import Database

CREDENTIALS = Credentials(
    client_id="worker-client", client_secret="worker-secret", app_key="worker-app"
)
ENTRY = Path(__file__).with_name("worker_main.py")
SYNC_PRODUCERS = ("job_sync", "invoice_sync", "customer_sync", "estimate_sync")
#: Worker tests mirror the first release's five feeds: one sync producer each of four modules.
FIVE_FEEDS = '[mirror]\nfeeds = ["jobs", "invoices", "customers", "estimates", "job_types"]\n\n'


def write_config(path: Path, tenants: Iterable[int]) -> Path:
    """A nexus.toml declaring `tenants`, the five feeds and the default producers."""
    path.write_text(FIVE_FEEDS + "".join(f"[[tenants]]\nid = {t}\n\n" for t in tenants))
    return path


def worker_env(db: Database, server: SimServer, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_ST_")}
    env.update(
        {
            "NEXUS_HOME": str(home),
            "NEXUS_DATABASE_URL": db.url,
            "NEXUS_ST_API_URL": server.base_url,
            "NEXUS_ST_AUTH_URL": server.auth_url,
            "NEXUS_ST_CLIENT_ID": CREDENTIALS.client_id,
            "NEXUS_ST_CLIENT_SECRET": CREDENTIALS.client_secret,
            "NEXUS_ST_APP_KEY": CREDENTIALS.app_key,
            "NEXUS_ST_RATE_LIMIT": "1000",
            "NEXUS_ST_MAX_ATTEMPTS": "3",
        }
    )
    env.update(extra)
    return env


class Worker:
    """A worker subprocess; its log goes to a file so that no pipe fills up."""

    def __init__(
        self,
        name: str,
        config: Path,
        clock: ScaledClock,
        env: dict[str, str],
        logs: Path,
        **options: object,
    ) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        args = [
            "--config",
            str(config),
            "--scale",
            str(clock.scale),
            "--virtual-origin",
            clock.virtual_origin.isoformat(),
            "--real-origin",
            repr(clock.real_origin),
            "--name",
            name,
        ]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.proc = spawn(args, env, self.log_path, script=ENTRY)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Make sure the process is gone (test teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class SimDriver:
    """Move the simulator's clock along with a scaled clock, never past `until`."""

    def __init__(self, sim: Simulator, clock: ScaledClock, until: datetime) -> None:
        self.sim, self.clock, self.until = sim, clock, until
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SimDriver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def settled(self, timeout: float = 30.0) -> datetime:
        """Wait until the simulator has reached `until`; return the scaled clock's time then.

        The simulator follows the clock every 50 ms, so a run started at `until` itself may
        still read the business just before it: only a run started after this instant is
        sure to see the final truth.
        """
        wait_for("the simulator to reach its end", lambda: self.sim.now() >= self.until, timeout)
        return self.clock.now()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            target = min(self.clock.now(), self.until)
            if target > self.sim.now():
                self.sim.advance_to(target)


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def query(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.connect(autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def runs(db: Database) -> list[dict[str, Any]]:
    rows = query(
        db,
        "SELECT id, tenant_id, producer, status, started_at, finished_at, rows_read, error,"
        " error_kind FROM nexus.runs ORDER BY id",
    )
    keys = (
        "id",
        "tenant",
        "producer",
        "status",
        "started",
        "finished",
        "rows_read",
        "error",
        "kind",
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]


def overlaps(all_runs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs of closed runs of one (tenant, producer) that were in progress at the same time."""
    by_key: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for run in all_runs:
        if run["finished"] is not None:
            by_key[(run["tenant"], run["producer"])].append(run)
    for items in by_key.values():
        items.sort(key=lambda r: r["started"])
        for before, after in itertools.pairwise(items):
            if before["finished"] > after["started"]:
                yield before, after


def assert_no_overlap(all_runs: list[dict[str, Any]]) -> None:
    """Every run finished, and no two runs of one (tenant, producer) overlapped."""
    for run in all_runs:
        assert run["finished"] is not None, f"run {run['id']} never finished: {run}"
    for before, after in overlaps(all_runs):
        raise AssertionError(
            f"{(before['tenant'], before['producer'])}: run {before['id']} "
            f"({before['started']}–{before['finished']}) overlaps run {after['id']} "
            f"(from {after['started']})"
        )


def assert_mirror_equals_truth(db: Database, sim: Simulator, tenant: int) -> None:
    """Jobs, invoices and every job's invoice total equal the simulator's truth."""
    truth = sim.tenant(tenant)
    for table, expected in (("jobs", truth.truth_jobs()), ("invoices", truth.truth_invoices())):
        got = dict(query(db, f"SELECT id, raw FROM titan.{table} WHERE tenant_id = %s", tenant))
        assert got.keys() == expected.keys(), f"tenant {tenant}: {table} ids differ"
        differ = [i for i in expected if got[i] != expected[i]]
        assert not differ, f"tenant {tenant}: {len(differ)} {table} differ, e.g. {differ[:3]}"
    totals = dict(
        query(db, "SELECT id, invoice_total FROM titan.jobs WHERE tenant_id = %s", tenant)
    )
    wrong = [j for j, total in totals.items() if total != truth.job_invoice_total(j)]
    assert not wrong, f"tenant {tenant}: invoice_total wrong for jobs {wrong[:5]}"
    mirrored = sum(totals.values(), Decimal(0))
    expected_total = sum((truth.job_invoice_total(j) for j in totals), Decimal(0))
    assert mirrored == expected_total


def virtual(clock: ScaledClock, real: float) -> datetime:
    """The virtual time at wall-clock instant `real`."""
    return clock.virtual_origin + timedelta(seconds=(real - clock.real_origin) * clock.scale)
