"""The notifier against a real Postgres and real channels on loopback (SMTP and a JSON webhook).

The world here is the run ledger: every producer succeeds every 15 minutes
except invoice_sync, which fails while it is broken, so the proof holds one
real root cause (`producer_failing:invoice_sync`) with titan.invoices and
the tables it derives from behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from nexus.clock import VirtualClock
from nexus.errors import NexusError
from nexus.notify.channels import parse_channels
from nexus.notify.notifier import NotifyReport
from nexus.notify.producer import live_proof, notifier_task, notify_once
from nexus.notify.silences import SilenceError, add_silence, expire_silence, silences
from nexus.notify.state import failing_channels, send_log
from nexus.proof.build import build_proof
from nexus.proof.inputs import proof_inputs
from nexus.registry.config import Config, default_config_text, parse_config
from nexus.registry.run_ledger import finish_run, start_run
from nexus.registry.timeline import events
from nexus.store.database import Database
from nexus.sync.producer_kinds import ProducerRun
from notifykit import Receivers, receivers, text_of
from wallclock import wall

TENANT = 1001
T0 = datetime(2026, 4, 14, 12, 0, tzinfo=UTC)  # 07:00 in Chicago
STEP = timedelta(minutes=15)
CAUSE = "producer_failing:invoice_sync"


def config(notify: str = "") -> Config:
    return parse_config(
        default_config_text() + '\n[web]\npublic_url = "https://nexus.example.com"\n'
        "\n[notify]\n" + notify
    )


class World:
    """The run ledger on a 15-minute beat; invoice_sync fails while `broken`."""

    def __init__(self, db: Database, cfg: Config) -> None:
        self.db, self.config, self.now = db, cfg, T0
        self.broken = False
        self.tick()

    def tick(self, steps: int = 1) -> datetime:
        for _ in range(steps):
            with self.db.connect(autocommit=True) as conn:
                for name, producer in self.config.producers.items():
                    if not producer.enabled or producer.kind in ("notifier", "external"):
                        continue
                    if producer.every > STEP and self.now != T0 and self.now.minute != 0:
                        continue
                    run = start_run(conn, TENANT, name, self.now)
                    if name == "invoice_sync" and self.broken:
                        finish_run(conn, run, self.now, error="bad record 7", error_kind="other")
                    else:
                        finish_run(conn, run, self.now)
            self.now += STEP
        return self.now

    def notify(self, r: Receivers, **kwargs: object) -> NotifyReport:
        return notify_once(self.db, self.config, TENANT, self.now, r.channels, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def loopback() -> Iterator[Receivers]:
    with receivers() as r:
        yield r


def break_invoice_sync(world: World, r: Receivers) -> None:
    """Break invoice_sync until its tables are behind: the cause is in the proof, seen once."""
    world.broken = True
    before = len(r.received())
    for _ in range(12):
        world.tick()
        world.notify(r)
        if len(r.received()) > before:
            return


def test_a_cause_fires_once_after_it_holds_with_its_symptoms_inside_then_resolves(
    db: Database, loopback: Receivers
) -> None:
    world = World(db, config())
    world.tick(4)
    assert world.notify(loopback).outcomes == []  # healthy: nothing
    world.broken = True
    sent_at = None
    for _ in range(8):  # two hours of failing runs, evaluated every cycle
        world.tick()
        report = world.notify(loopback)
        if report.outcomes and sent_at is None:
            sent_at = world.now
    assert sent_at is not None
    # Each channel got exactly one message: the cause, not one per symptom.
    assert len(loopback.hook.posts) == 1 and len(loopback.inbox.messages) == 1
    title = loopback.hook.titles[0]
    assert title.startswith("[WARNING] tenant 1001: titan.invoices freshness")
    assert title.endswith("invoice_sync fails")
    with db.connect(autocommit=True) as conn:
        proof = build_proof(conn, proof_inputs(world.config, TENANT), sent_at)
    group = next(g for g in proof.causes if g.key == ("producer_failing", "invoice_sync"))
    body = loopback.hook.posts[0]["message"]
    for symptom in group.alerts[1:]:
        assert symptom in body  # symptoms listed inside, never sent apart
    assert group.since is not None
    since = wall(group.since, "America/Chicago")  # the default tenant's zone
    assert f"Since: {since}" in body
    assert "$ nexus producers show invoice_sync" in body
    assert "Dashboard: https://nexus.example.com/proof?tenant=1001" in body
    # The email has a plain-text part and a readable HTML part, each with cause, command, link.
    plain, html = text_of(loopback.inbox.messages[0])
    for part in (plain, html):
        assert "invoice_sync" in part
        assert "nexus producers show invoice_sync" in part
        assert "https://nexus.example.com/proof?tenant=1001" in part
    assert "<a href=" in html and "<li>" in html
    assert f"<b>Since:</b> {since}" in html
    # Two hours on the tables are twice their limit: critical, so it is sent again at once.
    for _ in range(8):
        world.tick()
        world.notify(loopback)
    assert len(loopback.hook.posts) == 2
    assert loopback.hook.titles[1].startswith("[CRITICAL]")
    assert loopback.hook.titles[1].endswith("(still holding)")
    # The fix lands: one resolved notice on each channel, nothing else.
    world.broken = False
    world.tick(2)
    world.notify(loopback)
    world.tick(2)
    world.notify(loopback)
    assert [t.split("]")[0] for t in loopback.hook.titles] == ["[WARNING", "[CRITICAL", "[RESOLVED"]
    assert len(loopback.inbox.messages) == 3
    with db.connect() as conn:
        log = send_log(conn, TENANT)
    assert {(s.kind, s.channel, s.outcome) for s in log} == {
        ("firing", "hook", "sent"),
        ("firing", "mailto", "sent"),
        ("repeat", "hook", "sent"),
        ("repeat", "mailto", "sent"),
        ("resolved", "hook", "sent"),
        ("resolved", "mailto", "sent"),
    }
    # The resolved notice says until when the cause held on the tenant's clock.
    resolved_at = next(s.at for s in log if s.kind == "resolved")
    resolved = loopback.hook.posts[2]["message"]
    assert f" to {wall(resolved_at, 'America/Chicago')} and is no longer in" in resolved


def test_one_failed_run_pages_nobody(db: Database, loopback: Receivers) -> None:
    world = World(db, config('for = "15m"'))
    world.broken = True
    world.tick(5)  # behind long enough to be in the proof
    report = world.notify(loopback)
    assert CAUSE in report.pending and report.outcomes == []
    world.broken = False
    world.tick()
    assert world.notify(loopback).outcomes == []
    world.tick(4)
    world.notify(loopback)
    assert loopback.received() == []


def test_a_cause_still_holding_is_sent_again_after_the_repeat_interval(
    db: Database, loopback: Receivers
) -> None:
    world = World(db, config('repeat_interval = "1h"'))
    break_invoice_sync(world, loopback)
    assert len(loopback.hook.posts) == 1
    for _ in range(3):  # 45 minutes: no repeat yet
        world.tick()
        world.notify(loopback)
    assert len(loopback.hook.posts) == 1
    world.tick()
    world.notify(loopback)
    assert len(loopback.hook.posts) == 2
    assert loopback.hook.titles[1].endswith("(still holding)")


def test_two_notifiers_at_once_send_each_message_once(db: Database, loopback: Receivers) -> None:
    world = World(db, config())
    world.broken = True
    world.tick(6)

    def at_once() -> None:
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def notifier() -> None:
            try:
                start.wait()
                world.notify(loopback)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=notifier) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    at_once()  # both see the cause first: one episode
    world.tick()
    at_once()  # both find it due: one message per channel
    assert len(loopback.hook.posts) == 1 and len(loopback.inbox.messages) == 1
    with db.connect() as conn:
        row = conn.execute("SELECT count(*) FROM nexus.notify_episodes").fetchone()
    assert row == (1,)


def test_two_workers_running_the_notifier_producer_send_once(
    db: Database, loopback: Receivers
) -> None:
    world = World(db, config())
    world.broken = True
    world.tick(6)
    task = notifier_task(world.config, loopback.channels)
    clock = VirtualClock(world.now)

    def run() -> None:
        task(
            ProducerRun(
                TENANT,
                "notifier",
                world.config.producers["notifier"],
                db,
                clock,
                syncer=lambda: None,  # type: ignore[arg-type,return-value]
            )
        )

    run()  # pending
    clock.advance(timedelta(minutes=20))
    outcomes: list[str] = []

    def worker() -> None:
        try:
            run()
            outcomes.append("ran")
        except NexusError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loopback.hook.posts) == 1 and len(loopback.inbox.messages) == 1
    assert "ran" in outcomes


def test_a_silence_holds_its_cause_back_and_ends_on_time(db: Database, loopback: Receivers) -> None:
    world = World(db, config())
    with db.connect(autocommit=True) as conn:
        silence = add_silence(
            conn,
            TENANT,
            cause="producer_failing",
            producer="invoice_sync",
            duration=timedelta(hours=2),
            reason="vendor fixing the invoice export",
            actor="owner",
            now=world.now,
        )
    world.broken = True
    until = silence.ends_at
    while world.now < until - STEP:
        world.tick()
        report = world.notify(loopback)
        assert report.outcomes == []
    assert loopback.received() == []
    assert CAUSE in report.silenced
    world.tick(2)  # past the end: the silence is over on its own and the cause goes out
    world.notify(loopback)
    assert len(loopback.hook.posts) == 1
    with db.connect(autocommit=True) as conn:
        assert silences(conn, TENANT, world.now) == []
        timeline = events(conn, tenant=TENANT)
        kinds = [e.kind for e in timeline]
        assert "silence_added" in kinds
        # It ended on its own: on the timeline once, at its end, however often it is evaluated.
        world.notify(loopback)
        ended = [e for e in events(conn, tenant=TENANT) if e.kind == "silence_ended"]
        assert len(ended) == 1
        assert ended[0].at == until and ended[0].producer == "invoice_sync"
        with pytest.raises(SilenceError, match="already ended"):
            expire_silence(conn, TENANT, silence.id, actor="owner", now=world.now)


def test_a_silence_expired_early_lets_the_cause_through(db: Database, loopback: Receivers) -> None:
    world = World(db, config())
    with db.connect(autocommit=True) as conn:
        silence = add_silence(
            conn,
            TENANT,
            cause="producer_failing",
            producer=None,
            duration=timedelta(days=1),
            reason="maintenance",
            actor="owner",
            now=world.now,
        )
    break_invoice_sync(world, loopback)
    world.tick(2)
    world.notify(loopback)
    assert loopback.received() == []
    with db.connect(autocommit=True) as conn:
        expire_silence(conn, TENANT, silence.id, actor="owner", now=world.now)
        assert "silence_expired" in [e.kind for e in events(conn, tenant=TENANT)]
    world.tick()
    world.notify(loopback)
    assert len(loopback.hook.posts) == 1


def test_a_silence_names_a_known_cause_and_a_reason(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        with pytest.raises(SilenceError, match="not a kind of cause — use one of: st_auth"):
            add_silence(
                conn,
                TENANT,
                cause="techs_not_closing",
                producer=None,
                duration=timedelta(hours=1),
                reason="x",
                actor="owner",
                now=T0,
            )
        with pytest.raises(SilenceError, match="needs a reason"):
            add_silence(
                conn,
                TENANT,
                cause="producer_failing",
                producer=None,
                duration=timedelta(hours=1),
                reason=" ",
                actor="owner",
                now=T0,
            )


def test_a_failing_channel_is_retried_reported_and_never_blocks_the_proof(
    db: Database, loopback: Receivers
) -> None:
    world = World(db, config())
    loopback.hook.fail = True
    world.broken = True
    world.tick(6)
    task = notifier_task(world.config, loopback.channels, sleep=lambda _s: None)
    clock = VirtualClock(world.now)
    producer = world.config.producers["notifier"]
    run = ProducerRun(TENANT, "notifier", producer, db, clock, syncer=lambda: None)  # type: ignore[arg-type,return-value]
    task(run)  # the cause is seen
    clock.advance(timedelta(minutes=20))
    with pytest.raises(NexusError, match=r"not delivered to hook \(json\) after retries") as info:
        task(run)
    assert "127.0.0.1" not in str(info.value)  # the channel by name, never its URL
    assert loopback.hook.refused == 3  # tried with backoff
    assert len(loopback.inbox.messages) == 1  # the other channel was not held up
    with db.connect(autocommit=True) as conn:
        assert set(failing_channels(conn, TENANT)) == {"hook"}
        proof = live_proof(world.config)(conn, TENANT, clock.now())
    notifier = next(v for v in proof.vitals if v.producer == "notifier")
    assert notifier.status == "failing" and "hook (json)" in (notifier.error or "")
    assert proof.verdict in ("warning", "critical")  # the proof still builds and still speaks
    # The channel answers again: the next run delivers there, and only there.
    loopback.hook.fail = False
    clock.advance(timedelta(minutes=15))
    task(run)
    assert len(loopback.hook.posts) == 1 and len(loopback.inbox.messages) == 1
    with db.connect(autocommit=True) as conn:
        assert failing_channels(conn, TENANT) == {}


def test_quiet_hours_hold_warnings_until_they_end_and_never_criticals(
    db: Database, loopback: Receivers
) -> None:
    # T0 is 07:00 in Chicago; quiet until 10:00 (15:00 UTC).
    world = World(db, config('quiet_hours = "22:00-10:00"'))
    world.broken = True
    while world.now < datetime(2026, 4, 14, 14, 45, tzinfo=UTC):
        world.tick()
        report = world.notify(loopback)
    assert loopback.received() == []
    assert CAUSE in report.pending  # held back, not forgotten
    world.tick()
    world.notify(loopback)
    assert [t.split("]")[0] for t in loopback.hook.titles] == ["[WARNING"]


def test_a_critical_goes_out_in_quiet_hours(db: Database, loopback: Receivers) -> None:
    world = World(db, config('quiet_hours = "06:00-23:00"'))  # quiet all day in Chicago
    world.broken = True
    while world.now < datetime(2026, 4, 14, 16, 30, tzinfo=UTC):
        world.tick()
        world.notify(loopback)
    # The warning waited; once the same cause turned critical it went at once.
    assert [t.split("]")[0] for t in loopback.hook.titles] == ["[CRITICAL"]


def test_the_morning_report_goes_once_a_day_to_the_channels_that_ask(
    db: Database, loopback: Receivers
) -> None:
    world = World(db, config('morning_report = ["mailto"]\nmorning_hour = 8'))
    world.tick(2)
    world.notify(loopback)
    assert loopback.received() == []  # 07:45 local
    world.tick(2)
    world.notify(loopback)
    world.tick()
    world.notify(loopback)
    assert loopback.hook.posts == []
    assert loopback.inbox.subjects == ["Nexus morning report, tenant 1001: insufficient_data"]
    plain, _ = text_of(loopback.inbox.messages[0])
    assert (
        "Verdict: insufficient_data" in plain
        and "https://nexus.example.com/proof?tenant=1001" in plain
    )


def test_dry_run_sends_nothing_and_remembers_nothing(db: Database, loopback: Receivers) -> None:
    world = World(db, config('for = "1m"'))
    world.broken = True
    world.tick(6)
    world.notify(loopback)
    world.tick()
    report = world.notify(loopback, dry_run=True)
    assert [(o.kind, o.channel) for o in report.outcomes] == [
        ("firing", "hook"),
        ("firing", "mailto"),
    ]
    assert loopback.received() == []
    with db.connect() as conn:
        assert send_log(conn, TENANT) == []


def test_bad_notify_urls_name_the_entry_not_the_secret() -> None:
    with pytest.raises(NexusError, match=r"entry 2 \(nope://…\)") as info:
        parse_channels("json://localhost/x, nope://user:hunter2@host")
    assert "hunter2" not in str(info.value)
    named = parse_channels("oncall=json://u:hunter2@localhost/x,json://localhost/y")
    assert [(c.name, c.service) for c in named] == [("oncall", "json"), ("json", "json")]
    assert all("hunter2" not in str(c) for c in named)


def test_the_dashboard_shows_silences_and_a_failing_channel(
    db: Database, loopback: Receivers
) -> None:
    from fastapi.testclient import TestClient

    from nexus.web import create_app
    from webkit import BEARER, web_settings

    world = World(db, config())
    loopback.hook.fail = True
    break_invoice_sync(world, loopback)
    with db.connect(autocommit=True) as conn:
        add_silence(
            conn,
            TENANT,
            cause="st_unreachable",
            producer=None,
            duration=timedelta(hours=3),
            reason="ServiceTitan maintenance window",
            actor="owner",
            now=world.now,
        )
    app = create_app(web_settings(), world.config, db, VirtualClock(world.now), tenants=[TENANT])
    with TestClient(app) as client:
        page = client.get("/proof", headers=BEARER)
    assert page.status_code == 200
    assert "Channel <b>hook</b> (json) is failing" in page.text
    assert "Silenced: <b>" in page.text and "ServiceTitan maintenance window" in page.text
    assert "nexus silence expire 1" in page.text
    assert "127.0.0.1" not in page.text.split('id="notifications"')[1].split("</section>")[0]


def test_without_resolved_notices_a_cleared_cause_closes_and_a_new_breakage_fires_anew(
    db: Database, loopback: Receivers
) -> None:
    world = World(db, config("send_resolved = false"))
    break_invoice_sync(world, loopback)
    world.broken = False
    world.tick(2)
    world.notify(loopback)
    assert len(loopback.hook.posts) == 1  # no resolved notice
    break_invoice_sync(world, loopback)
    assert [t.split("]")[0] for t in loopback.hook.titles] == ["[WARNING", "[WARNING"]
