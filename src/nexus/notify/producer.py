"""The `notifier` producer: every cycle, build the proof and send what is due.

It runs under the same scaffold as every producer (`recorded_run`: its lock,
its ledger row), so two workers never evaluate one tenant at once and its
health is in the vitals: a channel that keeps refusing fails the run with the
channel's name (never its URL), and the next run tries it again. The proof
itself never waits on it. With no channel configured (NEXUS_NOTIFY_URLS unset)
a run does nothing and records nothing, so its vitals say `never_ran`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from pydantic import SecretStr

from nexus.clock import Clock, fresh_now
from nexus.errors import NexusError
from nexus.notify.channels import Channel, Sleep, parse_channels
from nexus.notify.notifier import NotifyReport, evaluate
from nexus.proof.build import build_proof
from nexus.proof.inputs import proof_inputs
from nexus.proof.model import Proof
from nexus.registry.config import NOTIFIER, Config
from nexus.store.connection import Connection
from nexus.store.database import Database
from nexus.sync.producer_kinds import ProducerRun, ProducerTask
from nexus.sync.recorded_run import producer_lock, recorded_run

log = logging.getLogger(__name__)

#: How long `nexus notify` waits for a notifier run of the worker to finish.
LOCK_WAIT_S = 60.0

#: Build the proof of a tenant as of a moment (the replay writes its reference revenue first).
ProofAt = Callable[[Connection, int, datetime], Proof]


class ChannelFailed(NexusError):
    """A notification channel refused every try; the message is tried again next run."""


def live_proof(config: Config) -> ProofAt:
    """The proof as production builds it, from the configuration's inputs."""

    def proof_at(conn: Connection, tenant: int, at: datetime) -> Proof:
        return build_proof(conn, proof_inputs(config, tenant), at)

    return proof_at


def notify_once(
    db: Database,
    config: Config,
    tenant: int,
    at: datetime,
    channels: Sequence[Channel],
    *,
    proof_at: ProofAt | None = None,
    dry_run: bool = False,
    sleep: Sleep | None = None,
) -> NotifyReport:
    """Build the proof of `tenant` as of `at` and send what is due (the core of `nexus notify`)."""
    with db.connect(autocommit=True) as conn:
        proof = (proof_at or live_proof(config))(conn, tenant, at)
        return evaluate(conn, config, proof, channels, dry_run=dry_run, sleep=sleep)


def channels_from(urls: SecretStr | None) -> list[Channel]:
    """The channels of NEXUS_NOTIFY_URLS."""
    return parse_channels(urls.get_secret_value() if urls is not None else None)


def with_notifier(
    kinds: Mapping[str, ProducerTask],
    config: Config,
    channels: Sequence[Channel],
    *,
    proof_at: ProofAt | None = None,
    sleep: Sleep | None = None,
) -> dict[str, ProducerTask]:
    """`kinds` and the notifier: the producer table the worker and the replay run from."""
    task = notifier_task(config, channels, proof_at=proof_at, sleep=sleep)
    return {**kinds, "notifier": task}


def notify_now(
    db: Database,
    config: Config,
    tenant: int,
    clock: Clock,
    channels: Sequence[Channel],
    *,
    dry_run: bool = False,
) -> NotifyReport:
    """`nexus notify`: evaluate now, one notifier at a time per tenant (the producer's lock)."""
    db.ensure_schema()
    with (
        db.connect(autocommit=True) as control,
        producer_lock(control, tenant, NOTIFIER, wait_s=LOCK_WAIT_S),
    ):
        return notify_once(db, config, tenant, fresh_now(clock), channels, dry_run=dry_run)


def notifier_task(
    config: Config,
    channels: Sequence[Channel],
    *,
    proof_at: ProofAt | None = None,
    sleep: Sleep | None = None,
) -> ProducerTask:
    """The `notifier` kind's implementation, for the worker's and the replay's producer table."""

    def run_notifier(run: ProducerRun) -> None:
        run.checkpoint()
        if not channels:
            return  # nowhere to send: nothing to evaluate, nothing to record
        with (
            run.db.connect(autocommit=True) as control,
            recorded_run(control, run.tenant, run.producer, run.clock) as ledger,
        ):
            report = notify_once(
                run.db,
                config,
                run.tenant,
                ledger.started_at,
                channels,
                proof_at=proof_at,
                sleep=sleep,
            )
            ledger.rows_read = len(report.outcomes)
            ledger.rows_changed = len([o for o in report.outcomes if o.sent])
            if report.failed:
                names = sorted({f"{o.channel} ({o.service})" for o in report.failed})
                raise ChannelFailed(
                    f"tenant {run.tenant}: {len(report.failed)} notification(s) not delivered to "
                    f"{', '.join(names)} after retries — check the channel's URL in "
                    "NEXUS_NOTIFY_URLS and that its service answers (`nexus notify test`); "
                    "they are tried again next run"
                )

    return run_notifier
