"""The soak: tenants, worker processes killed at random, ServiceTitan faults, webhooks on.

Several `nexus worker` processes serve several tenants with the default feed set on a
scaled clock shared with the simulator, while Nexus's web app receives the simulator's
webhooks. Every few virtual minutes one worker is SIGKILLed and a new one started in its
place; now and then a tenant's ServiceTitan answers 503s, throttles, stalls past the
client's timeout, or sends one malformed record (fixed on the next read). When the time
is up the faults stop, every producer runs once more, and the report counts what a
person would call lost or duplicated:

- lost: records missing, extra or different (raw or typed) in any mirrored feed of any
  tenant, and jobs whose derived columns differ from the source;
- duplicates: pairs of runs of one producer and tenant that overlapped, and
  notifications a real receiver got more often than the send log says they went;

and the problems besides: runs never closed, quarantines nobody asked for.

`bench/soak.py` runs a virtual day; `test_soak.py` a shorter one.
"""

from __future__ import annotations

import itertools
import random
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from workerkit import (
    CREDENTIALS,
    SimDriver,
    Worker,
    overlaps,
    query,
    runs,
    virtual,
    wait_for,
    worker_env,
)

from mirror_check import derived_differences, feed_difference
from nexus.clock import VirtualClock
from nexus.registry.config import load_config
from nexus.scheduling import ScaledClock
from nexus.serving import ThreadedServer
from nexus.settings import Settings
from nexus.simulator import BusinessConfig, SimServer, Simulator
from nexus.store.database import Database
from nexus.web import create_app
from notifykit import Hook, json_receiver

START = datetime(2026, 4, 1, tzinfo=UTC)
#: The client's timeout in the soak; a stall fault answers a little later than this.
TIMEOUT_S = 2.0
#: Feeds a malformed record may arrive on.
MALFORMED_FEEDS = ("jobs", "invoices", "customers", "appointments", "payments")


@dataclass(frozen=True)
class SoakPlan:
    hours: float
    tenants: tuple[int, ...] = (1001, 1002, 1003)
    workers: int = 2
    scale: float = 120.0  # virtual seconds per real second
    seed: int = 1
    kill_every_min: tuple[float, float] = (5.0, 20.0)  # virtual minutes between kills
    fault_every_min: tuple[float, float] = (10.0, 40.0)  # virtual minutes between faults
    jobs_per_day: int = 40


@dataclass
class SoakReport:
    plan: SoakPlan
    kills: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    runs: int = 0
    abandoned: int = 0
    notifications: int = 0
    lost: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def result_line(self) -> str:
        return f"RESULT soak_lost={self.lost} soak_duplicates={self.duplicates}"

    def summary(self) -> str:
        plan = self.plan
        lines = [
            f"soak seed {plan.seed}: {plan.hours:g} virtual hours, {len(plan.tenants)} tenants, "
            f"{plan.workers} workers, {self.seconds:.0f} s",
            f"  {self.runs} runs ({self.abandoned} abandoned by a kill), "
            f"{len(self.kills)} kills, {len(self.faults)} faults, "
            f"{self.notifications} notifications",
            *(f"  problem: {p}" for p in self.problems),
            self.result_line(),
        ]
        return "\n".join(lines)


def run_soak(db: Database, home: Path, plan: SoakPlan) -> SoakReport:
    report = SoakReport(plan)
    began = time.monotonic()
    rng = random.Random(plan.seed)
    sim = Simulator(clock=VirtualClock(START), credentials=CREDENTIALS, export_page_size=100)
    for i, tenant in enumerate(plan.tenants):
        business = BusinessConfig(
            seed=plan.seed * 100 + i, completed_jobs_per_day=plan.jobs_per_day
        )
        sim.add_tenant(tenant, business, history_days=3)
    config_path = home / "nexus.toml"
    config_path.write_text("".join(f"[[tenants]]\nid = {t}\n\n" for t in plan.tenants))
    config = load_config(config_path)
    clock = ScaledClock(plan.scale, START)
    end = START + timedelta(hours=plan.hours)
    with ExitStack() as stack:
        server = stack.enter_context(sim.serve())
        stack.enter_context(_webhooks_on(sim, server, db, home, config_path, clock, plan))
        driver = stack.enter_context(SimDriver(sim, clock, until=end))
        hook, port = stack.enter_context(json_receiver())
        env = worker_env(
            db,
            server,
            home,
            NEXUS_ST_TIMEOUT=str(TIMEOUT_S),
            NEXUS_NOTIFY_URLS=f"owner=json://127.0.0.1:{port}/notify",
        )
        pool = stack.enter_context(_workers(config_path, clock, env, home, plan.workers))
        next_kill = _after(clock.now(), rng, plan.kill_every_min)
        next_fault = _after(clock.now(), rng, plan.fault_every_min)
        while (now := clock.now()) < end:
            if now >= next_kill:
                report.kills.append(pool.kill_one(rng, db, clock))
                next_kill = _after(now, rng, plan.kill_every_min)
            if now >= next_fault:
                report.faults.append(_fault(sim, rng, plan.tenants, now))
                next_fault = _after(now, rng, plan.fault_every_min)
            time.sleep(0.02)
        for tenant in plan.tenants:
            sim.tenant(tenant).faults.clear()
        producers = {name for name, p in config.producers.items() if p.enabled}
        producers = {p for p in producers if config.producers[p].kind == "sync"}
        settled = driver.settled()
        wait_for(
            "every sync producer of every tenant to succeed after the soak",
            lambda: _all_succeeded_since(db, settled, plan.tenants, producers),
            timeout=300,
            every=0.5,
        )
        wait_for("the last webhooks", lambda: sim.webhooks.pending == 0, timeout=60)
        pool.stop_all()
    _judge(report, hook, db, sim, config.mirror.feeds, plan.tenants)
    report.seconds = time.monotonic() - began
    return report


def _after(now: datetime, rng: random.Random, minutes: tuple[float, float]) -> datetime:
    return now + timedelta(minutes=rng.uniform(*minutes))


def _fault(sim: Simulator, rng: random.Random, tenants: tuple[int, ...], now: datetime) -> str:
    """Switch one fault on for a random tenant, for a few virtual minutes; say which."""
    tenant = rng.choice(tenants)
    faults = sim.tenant(tenant).faults
    minutes = rng.uniform(2, 10)
    until = now + timedelta(minutes=minutes)
    kind = rng.choice(("5xx", "429", "timeout", "malformed"))
    if kind == "5xx":
        faults.outage(rng.choice((500, 502, 503)), html=rng.random() < 0.5, until=until)
    elif kind == "429":
        faults.rate_limit(per_second=2, until=until)
    elif kind == "timeout":
        faults.slow(TIMEOUT_S + 0.5, until=until)
    else:
        feed = rng.choice(MALFORMED_FEEDS)
        faults.malformed_record(feed, times=1)
        return f"{now:%H:%M} tenant {tenant}: one malformed {feed} record"
    return f"{now:%H:%M} tenant {tenant}: {kind} for {minutes:.0f} min"


def _all_succeeded_since(
    db: Database, since: datetime, tenants: tuple[int, ...], producers: set[str]
) -> bool:
    done = query(
        db,
        "SELECT DISTINCT tenant_id, producer FROM nexus.runs"
        " WHERE status = 'succeeded' AND started_at >= %s",
        since,
    )
    return {(t, p) for t in tenants for p in producers} <= set(done)


class _Pool:
    """The worker processes; one at a time is killed and replaced."""

    def __init__(
        self, config: Path, clock: ScaledClock, env: dict[str, str], logs: Path, size: int
    ) -> None:
        self._config, self._clock, self._env, self._logs = config, clock, env, logs
        self._names = (f"worker-{n}" for n in itertools.count(1))
        self.live: list[Worker] = []
        self.dead: list[Worker] = []
        for _ in range(size):
            self._start()

    def _start(self) -> None:
        worker = Worker(next(self._names), self._config, self._clock, self._env, self._logs)
        self.live.append(worker)

    def kill_one(self, rng: random.Random, db: Database, clock: ScaledClock) -> str:
        worker = rng.choice(self.live)
        running = query(
            db, "SELECT tenant_id, producer FROM nexus.runs WHERE status = 'running' ORDER BY id"
        )
        worker.signal(signal.SIGKILL)
        at = virtual(clock, time.time())
        worker.wait(10)
        self.live.remove(worker)
        self.dead.append(worker)
        self._start()
        doing = ", ".join(f"{t}/{p}" for t, p in running) or "nothing"
        return f"{at:%H:%M} {worker.name} killed (running then: {doing})"

    def stop_all(self) -> None:
        """SIGTERM every worker once it serves (a process still starting has no handler yet)."""
        for worker in self.live:
            wait_for(
                f"{worker.name} to serve",
                lambda w=worker: "producer runs scheduled" in w.log(),
                timeout=60,
                every=0.1,
            )
        time.sleep(1.0)  # from its first log line to its signal handlers
        for worker in self.live:
            worker.signal(signal.SIGTERM)
        for worker in self.live:
            code = worker.wait(60)
            if code != 0:
                raise AssertionError(f"{worker.name} ended with {code}:\n{worker.log()[-3000:]}")

    def close(self) -> None:
        for worker in self.live + self.dead:
            worker.stop()


@contextmanager
def _workers(
    config: Path, clock: ScaledClock, env: dict[str, str], logs: Path, size: int
) -> Iterator[_Pool]:
    pool = _Pool(config, clock, env, logs, size)
    try:
        yield pool
    finally:
        pool.close()


@contextmanager
def _webhooks_on(
    sim: Simulator,
    server: SimServer,
    db: Database,
    home: Path,
    config_path: Path,
    clock: ScaledClock,
    plan: SoakPlan,
) -> Iterator[None]:
    """Serve Nexus's web app and have the simulator post its webhooks to it."""
    secret = secrets.token_hex(32)
    settings = Settings(
        home=home,
        database_url=db.url,
        st_api_url=server.base_url,
        st_auth_url=server.auth_url,
        st_client_id=CREDENTIALS.client_id,
        st_client_secret=SecretStr(CREDENTIALS.client_secret),
        st_app_key=SecretStr(CREDENTIALS.app_key),
        st_rate_limit=1000,
        st_timeout=TIMEOUT_S,
        webhook_secret=SecretStr(secret),
        web_token=SecretStr(secrets.token_urlsafe(16)),
    )
    app = create_app(settings, load_config(config_path), db, clock, tenants=list(plan.tenants))
    with ThreadedServer(app) as web:
        sim.webhooks.configure(f"{web.url}/webhooks/servicetitan/{{tenant}}", secret)
        sim.webhooks.switch(True)
        sim.webhooks.start()
        try:
            yield
        finally:
            sim.webhooks.stop()


def _judge(
    report: SoakReport,
    hook: Hook,
    db: Database,
    sim: Simulator,
    feeds: list[str],
    tenants: tuple[int, ...],
) -> None:
    ledger = runs(db)
    report.runs = len(ledger)
    report.abandoned = sum(1 for r in ledger if r["status"] == "abandoned")
    for tenant in tenants:
        for feed in feeds:
            difference = feed_difference(db, sim, feed, tenant)
            if difference.count:
                report.lost += difference.count
                report.problems.append(f"tenant {tenant}: {difference}")
        for column, jobs in derived_differences(db, sim, tenant).items():
            if jobs:
                report.lost += len(jobs)
                report.problems.append(f"tenant {tenant}: {column} wrong for jobs {jobs[:5]}")
    for before, after in overlaps(ledger):
        report.duplicates += 1
        report.problems.append(f"runs {before['id']} and {after['id']} of one producer overlapped")
    twice = _notified_twice(db, hook)
    if twice:
        report.duplicates += twice
        report.problems.append(f"{twice} notification(s) arrived more than once")
    report.notifications = len(hook.posts)
    open_runs = [r for r in ledger if r["finished"] is None or r["status"] == "running"]
    report.problems += [f"run {r['id']} was never closed: {r}" for r in open_runs]
    held = query(db, "SELECT id, tenant_id, feed, reason FROM nexus.quarantine")
    report.problems += [f"quarantine nobody asked for: {h}" for h in held]


def _notified_twice(db: Database, hook: Hook) -> int:
    """Messages the receiver got beyond those the send log records as sent once each."""
    sent = query(db, "SELECT count(*) FROM nexus.notifications WHERE outcome = 'sent'")[0][0]
    return max(0, len(hook.posts) - int(sent))
