"""`nexus replay`: run a scenario on the virtual clock and print the proof as of `until`.

The simulated tenant serves the real HTTP API; Nexus's producers run on their
schedules through the same client, loader and ledger as in production, with
time taken from the virtual clock. Scenario events change the world as they
would in life: a retirement is a forced retirement in the timeline, a stop
silently stops a producer, an outage makes ServiceTitan answer 503, a bulk
insert is a rogue write into the mirror that meets the database's guard, phantom
jobs are a bad bulk write inside ServiceTitan that meets the loader's quarantine.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from nexus.catalog import FEEDS
from nexus.clock import Clock, VirtualClock
from nexus.errors import ConfigError, NexusError, WriteRefused
from nexus.notify.channels import Channel
from nexus.notify.producer import with_notifier
from nexus.proof.build import build_proof
from nexus.proof.inputs import proof_inputs
from nexus.proof.model import Proof
from nexus.registry.config import Config, TenantConfig, load_config
from nexus.registry.ownership import RegistryError, restore, retire
from nexus.registry.timeline import record_event
from nexus.scenario import DROP_HOURS, Scenario, ScenarioEvent
from nexus.servicetitan import ServiceTitanClient
from nexus.serving import ThreadedServer
from nexus.settings import Settings
from nexus.simulator import BusinessConfig, Credentials, Simulator
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.sync.feed_sync import Syncer
from nexus.sync.producer_kinds import PRODUCER_KINDS, ProducerRun, ProducerTask
from nexus.sync.quiet import KnownAnswers, QuietRuns, QuietSource
from nexus.sync.refresh import IdSource

log = logging.getLogger(__name__)

ACTOR = "replay"
CREDENTIALS = Credentials(
    client_id="replay-client",
    client_secret="replay-secret",  # noqa: S106 - the simulator's own credentials
    app_key="replay-app-key",
)


class WebApp(Protocol):
    """Builds Nexus's web app, whose webhook endpoint receives the simulator's webhooks.

    `nexus.web.create_app` is one; the replay takes it as a parameter because
    orchestration never imports the web skin.
    """

    def __call__(
        self,
        settings: Settings,
        config: Config,
        db: Database,
        clock: Clock,
        *,
        tenants: Sequence[int] | None = ...,
        clients: Callable[[int], IdSource] | None = ...,
    ) -> Any: ...


@dataclass
class ReplayResult:
    checkpoints: dict[datetime, Proof] = field(default_factory=dict)
    runs: int = 0
    failed_runs: int = 0
    #: runs recorded as they would have ended without being made (`nexus.sync.quiet`)
    quiet_runs: int = 0
    simulator: Simulator | None = None
    final: Proof | None = None

    @property
    def proof(self) -> Proof:
        """The proof as of the scenario's `until`."""
        if self.final is None:
            raise RuntimeError("the replay did not reach its `until`")
        return self.final


@contextlib.contextmanager
def replay_database(home: Path) -> Iterator[Database]:
    """The replays' own embedded database under `home/replay`, emptied; never the real mirror.

    Its server runs for the length of the block and stops when the block ends,
    however it ends; the data stays for a look with `nexus replay --serve`.
    """
    from nexus.store.embedded import embedded_server

    with embedded_server(home / "replay", durable=False) as url:
        db = Database(url)
        db.reset()
        yield db


def replay_config(scenario: Scenario) -> Config:
    """The configuration a replay runs and is served with: the scenario's `config:` or the
    defaults, its tenant declared in the scenario's zone unless that file declares it.

    So the dashboard, the notifier's quiet hours and every message read the replayed
    tenant's moments on the scenario's wall clock, as the proof does.
    """
    config = load_config(scenario.config)
    if any(t.id == scenario.tenant for t in config.tenants):
        return config
    tenant = TenantConfig(id=scenario.tenant, timezone=scenario.timezone)
    return config.model_copy(update={"tenants": [*config.tenants, tenant]})


def business_config(scenario: Scenario) -> BusinessConfig:
    """The simulated business a scenario's `business:` describes, on its seed and in its zone."""
    b = scenario.business
    return BusinessConfig(
        seed=scenario.seed,
        timezone=scenario.timezone,
        completed_jobs_per_day=b.completed_jobs_per_day,
        canceled_share=b.canceled_share,
        no_charge_share=b.no_charge_share,
        ticket_median=b.ticket_median,
        ticket_p90=b.ticket_p90,
        invoice_lag_median_hours=b.invoice_lag_median_hours,
        invoice_lag_p90_hours=b.invoice_lag_p90_hours,
        invoice_edit_share=b.invoice_edit_share,
        uninvoiced_share=b.uninvoiced_share,
        technicians=b.technicians,
    )


class _Schedule:
    """When each enabled producer is next due, on the virtual clock."""

    def __init__(self, config: Config, start: datetime, kinds: Mapping[str, ProducerTask]) -> None:
        self.every = {
            name: p.every
            for name, p in config.producers.items()
            if p.enabled and p.run_by_nexus and p.kind in kinds
        }
        self.next_due = dict.fromkeys(self.every, start)
        self.stopped: set[str] = set()  # silently not running
        self.retired: set[str] = set()  # retired in the registry: never scheduled

    def due(self, now: datetime) -> list[str]:
        idle = self.stopped | self.retired
        ready = [n for n, at in self.next_due.items() if at <= now and n not in idle]
        for name in self.next_due:
            while self.next_due[name] <= now:
                self.next_due[name] += self.every[name]
        return ready


def run_replay(
    scenario: Scenario,
    db: Database,
    *,
    observe_at: Iterable[datetime] = (),
    on_tick: Callable[[datetime], None] | None = None,
    step: timedelta | None = None,
    web_app: WebApp | None = None,
    channels: Sequence[Channel] = (),
    every_request: bool = False,
) -> ReplayResult:
    """Replay `scenario` into `db` (which should hold nothing of its tenant).

    The clock moves by `step` per tick (the scenario's own step unless given). A
    scenario that switches webhooks needs `web_app` to serve Nexus's webhook endpoint.
    The notifier runs on the virtual clock like every producer and sends to `channels`
    what Nexus would have sent (with none it does nothing). A sync run the simulator
    says would find nothing new is recorded as it would have ended, without being made
    (`nexus.sync.quiet`); `every_request` makes every run.
    """
    step = step or scenario.step
    switches_webhooks = any(e.kind == "webhooks" for e in scenario.events)
    if switches_webhooks and web_app is None:
        raise ConfigError(
            f"scenario {scenario.name} switches webhooks, so replaying it needs Nexus's web app "
            "to receive them: pass web_app=nexus.web.create_app (`nexus replay` does)"
        )
    db.ensure_schema()
    config = replay_config(scenario)
    tenant = scenario.tenant
    clock = VirtualClock(scenario.start)
    sim = Simulator(clock=clock, credentials=CREDENTIALS)
    sim.add_tenant(tenant, business_config(scenario), history_days=scenario.history_days)
    kinds = with_notifier(
        PRODUCER_KINDS,
        config,
        channels,
        proof_at=lambda conn, _tenant, at: _proof(conn, config, scenario, sim, at),
        sleep=lambda _s: None,  # virtual time: retries do not wait
    )
    schedule = _Schedule(config, scenario.start, kinds)
    # Worked out once: a replay runs its producers tens of thousands of times.
    feeds_of = {name: config.feeds_of(name) for name in schedule.every}
    events = list(scenario.events)
    checkpoints = sorted(observe_at)
    result = ReplayResult(simulator=sim)
    kinds_of = {name: config.producers[name].kind for name in schedule.every}
    syncs = {
        name: [FEEDS[feed] for feed in feeds_of[name]]
        for name in schedule.every
        if kinds_of[name] == "sync" and not every_request
    }
    # With no channel the notifier reads and records nothing: quiet runs may wait past it.
    inert = set() if channels else {n for n in schedule.every if kinds_of[n] == "notifier"}
    with (
        contextlib.ExitStack() as stack,
        sim.serve() as server,
        _client(scenario, server, clock, None if every_request else sim.tenant(tenant)) as client,
        Syncer(
            db,
            client,
            tenant,
            clock,
            source_check_every=config.mirror.source_check_every,
            zone=ZoneInfo(scenario.timezone),
        ) as syncer,
        db.connect(autocommit=True) as conn,
    ):
        quiet = QuietRuns(
            sim.tenant(tenant), client, tenant, source_check_every=config.mirror.source_check_every
        )
        hooks = _webhooks(scenario, sim, server, db, config, clock, stack, web_app)
        now = scenario.start
        while True:
            # A run that waited (a retry's backoff, a Retry-After) moved the clock past `now`.
            sim.advance_to(max(now, clock.now()))
            # Quiet runs are written before anything else reads or writes the database.
            if events and events[0].at <= now:
                quiet.flush(conn)
            while events and events[0].at <= now:
                _apply(events.pop(0), scenario, sim, conn, config, schedule)
            if hooks is not None and sim.webhooks.enabled:
                quiet.flush(conn)
                sim.webhooks.deliver()
                hooks.wait_idle(timeout=60)
            for producer in schedule.due(now):
                result.runs += 1
                feeds = syncs.get(producer)
                # A run reads the clock, which a retry's wait in this tick may have moved on.
                if feeds is not None and quiet.take(producer, feeds, clock.now()):
                    continue
                if producer not in inert:
                    quiet.flush(conn)
                started = clock.now()
                versions = quiet.versions(feeds) if feeds is not None else {}
                try:
                    _run_producer(
                        producer, config, feeds_of[producer], syncer, db, tenant, clock, kinds
                    )
                except NexusError as exc:
                    result.failed_runs += 1
                    log.info("replay %s: %s failed: %s", now.isoformat(), producer, exc)
                    if feeds is not None:
                        quiet.failed(feeds)
                else:
                    if feeds is not None:
                        quiet.succeeded(conn, feeds, versions, started)
            if on_tick or (checkpoints and checkpoints[0] <= now):
                quiet.flush(conn)
            while checkpoints and checkpoints[0] <= now:
                at = checkpoints.pop(0)
                result.checkpoints[at] = _proof(conn, config, scenario, sim, at)
            if on_tick:
                on_tick(now)
            if now >= scenario.until:
                break
            now = min(now + step, scenario.until)
        quiet.flush(conn)
        result.final = _proof(conn, config, scenario, sim, scenario.until)
        result.quiet_runs = quiet.taken
    return result


def _run_producer(
    producer: str,
    config: Config,
    feeds: tuple[str, ...],
    syncer: Syncer,
    db: Database,
    tenant: int,
    clock: VirtualClock,
    kinds: Mapping[str, ProducerTask],
) -> None:
    """Run one producer (a sync producer over `feeds`) through the same table the worker uses."""
    declared = config.producers[producer]
    if declared.path is not None:
        declared = declared.model_copy(update={"path": config.resolve_path(declared.path)})
    run = ProducerRun(
        tenant,
        producer,
        declared,
        db,
        clock,
        syncer=lambda: contextlib.nullcontext(syncer),
        feeds=feeds,
        mirrored=config.enabled_feeds,
        reconcile=config.reconcile,
    )
    kinds[declared.kind](run)


def _webhooks(
    scenario: Scenario,
    sim: Simulator,
    server: Any,
    db: Database,
    config: Config,
    clock: VirtualClock,
    stack: contextlib.ExitStack,
    web_app: WebApp | None,
) -> Any:
    """When the scenario switches webhooks, serve Nexus's webhook endpoint to the simulator.

    Webhooks start in the opposite state of the scenario's first `webhooks` event
    (a scenario that turns them off had them on). Returns the app's refresher.
    """
    switches = [e for e in scenario.events if e.kind == "webhooks"]
    if not switches or web_app is None:
        return None
    secret = secrets.token_hex(32)
    settings = Settings(
        webhook_secret=SecretStr(secret), web_token=SecretStr(secrets.token_urlsafe(16))
    )
    hook_client = stack.enter_context(_client(scenario, server, clock))
    app = web_app(
        settings, config, db, clock, tenants=[scenario.tenant], clients=lambda _t: hook_client
    )
    web = stack.enter_context(ThreadedServer(app))
    sim.webhooks.configure(f"{web.url}/webhooks/servicetitan/{{tenant}}", secret)
    sim.webhooks.switch(not switches[0].value)
    return app.state.refresher


def _client(
    scenario: Scenario, server: Any, clock: VirtualClock, known: QuietSource | None = None
) -> ServiceTitanClient:
    """Nexus's ServiceTitan client for the replay, waiting on the virtual clock.

    A retry's backoff or a Retry-After moves the virtual clock on instead of
    sleeping, so a throttled run takes the virtual time it would take in life and
    ServiceTitan's rate window passes as it would. With `known`, the simulated
    tenant, reads whose answers it knows are not made (`KnownAnswers`).
    """

    def wait(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    kind = ServiceTitanClient if known is None else partial(KnownAnswers, source=known)
    return kind(
        api_url=server.base_url,
        auth_url=server.auth_url,
        tenant=scenario.tenant,
        client_id=CREDENTIALS.client_id,
        client_secret=SecretStr(CREDENTIALS.client_secret),
        app_key=SecretStr(CREDENTIALS.app_key),
        # Its own pacing is off: it would wait in real time. ServiceTitan's limit still holds.
        rate_limit=1_000_000.0,
        max_attempts=3,
        sleep=wait,
    )


def _proof(
    conn: Connection, config: Config, scenario: Scenario, sim: Simulator, at: datetime
) -> Proof:
    """The proof as of `at`, with the sales ledger written from the simulated truth."""
    write_reference_revenue(conn, scenario.tenant, sim.tenant(scenario.tenant).revenue_by_day())
    return build_proof(conn, proof_inputs(config, scenario.tenant, scenario.timezone), at)


def write_reference_revenue(conn: Connection, tenant: int, by_day: dict[Any, Any]) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM nexus.reference_revenue WHERE tenant_id = %s", (tenant,))
        with conn.cursor().copy(
            "COPY nexus.reference_revenue (tenant_id, day, revenue, source) FROM STDIN"
        ) as copy:
            for day, revenue in sorted(by_day.items()):
                copy.write_row((tenant, day, revenue, "sales ledger (simulated truth)"))


def _apply(
    event: ScenarioEvent,
    scenario: Scenario,
    sim: Simulator,
    conn: Connection,
    config: Config,
    schedule: _Schedule,
) -> None:
    tenant = scenario.tenant
    faults = sim.tenant(tenant).faults
    kind, value, at = event.kind, event.value, event.at
    reason = f"scenario {scenario.name}, line {event.line}"
    if kind == "retire":
        try:
            retire(conn, config, value, reason=reason, actor=ACTOR, now=at, force=True)
        except RegistryError as exc:
            log.warning("replay: %s", exc)
        schedule.retired.add(value)
    elif kind == "restore":
        schedule.stopped.discard(value)
        schedule.retired.discard(value)
        try:
            restore(conn, config, value, actor=ACTOR, now=at, reason=reason)
        except RegistryError as exc:
            log.info("replay: %s", exc)
    elif kind == "stop":
        schedule.stopped.add(value)  # silently: no event, no run
    elif kind == "st_outage":
        until = at + timedelta(hours=value["hours"])
        faults.outage(status=value.get("status", 503), until=until)
        _scenario_event(conn, tenant, at, "st_outage", reason, value)
    elif kind == "credentials_rotated":
        until = at + timedelta(hours=value["hours"])
        faults.token_rejection(revoke_issued=True, until=until)
        _scenario_event(conn, tenant, at, "st_credentials_rotated", reason, value)
    elif kind == "rate_limit":
        until = at + timedelta(hours=value["hours"])
        faults.rate_limit(per_second=max(1, int(value["per_second"])), until=until)
        _scenario_event(conn, tenant, at, "st_rate_limit", reason, value)
    elif kind == "drop_export_share":
        shares = {feed: share for feed, share in value.items() if feed != DROP_HOURS}
        hours = value.get(DROP_HOURS)
        faults.drop_export_share(
            shares, until=None if hours is None else at + timedelta(hours=hours)
        )
        _scenario_event(conn, tenant, at, "st_drop_export_share", reason, value)
    elif kind == "webhooks":
        sim.webhooks.switch(bool(value))
        _scenario_event(conn, tenant, at, "webhooks_on" if value else "webhooks_off", reason, {})
    elif kind == "phantom_jobs":
        ids = faults.phantom_jobs(value["rows"], value.get("same_created_at", True))
        _scenario_event(conn, tenant, at, "st_phantom_jobs", reason, {"rows": len(ids)})
    elif kind == "bulk_insert":
        rogue_bulk_insert(conn, tenant, at, value["rows"], value.get("same_created_at", True))


def _scenario_event(
    conn: Connection,
    tenant: int,
    at: datetime,
    kind: str,
    reason: str,
    detail: dict[str, Any],
) -> None:
    record_event(
        conn, at=at, kind=kind, actor="scenario", tenant=tenant, reason=reason, detail=detail
    )


def rogue_bulk_insert(
    conn: Connection, tenant: int, at: datetime, rows: int, same_created_at: bool
) -> bool:
    """Write phantom jobs into the mirror from outside Nexus, as the incident's script did.

    Returns whether the database accepted them; either way the attempt is an event.
    """
    created = "%(at)s" if same_created_at else "%(at)s - g * interval '1 minute'"
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO titan.jobs (tenant_id, id, job_number, job_status, completed_on,"
                " created_on, modified_on, invoice_total, raw, created_at, updated_at)"
                # Negative ids never collide with ServiceTitan's.
                f" SELECT %(tenant)s, -g, 'PH' || g, 'Completed', {created},"
                f" {created}, %(at)s, 612.00, '{{}}'::jsonb, %(at)s, %(at)s"
                " FROM generate_series(1, %(rows)s) g",
                {"tenant": tenant, "at": at, "rows": rows},
            )
    except WriteRefused as exc:
        record_event(
            conn,
            at=at,
            kind="bulk_write_refused",
            actor="outside writer",
            tenant=tenant,
            product="titan.jobs",
            reason=str(exc).splitlines()[0],
            detail={"rows": rows, "same_created_at": same_created_at},
        )
        return False
    record_event(
        conn,
        at=at,
        kind="bulk_write_landed",
        actor="outside writer",
        tenant=tenant,
        product="titan.jobs",
        reason=f"{rows} rows inserted from outside Nexus",
        detail={"rows": rows, "same_created_at": same_created_at},
    )
    return True
