"""`nexus notify` and `nexus silence`: tell the owner about each root cause, or hold it back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from nexus import times
from nexus.cli.common import (
    JsonOption,
    TenantOption,
    _channels,
    _clock,
    _config,
    _connection,
    _database,
    _print_json,
    _tenant,
    friendly,
)
from nexus.cli.console import console, table

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from rich.table import Table

    from nexus.notify.notifier import NotifyReport
    from nexus.notify.silences import Silence

notify_app = typer.Typer(
    help="Tell the owner: one notification per root cause of the proof.",
    invoke_without_command=True,
)
silence_app = typer.Typer(help="Hold back notifications of one cause for a while.")


@notify_app.callback()
@friendly
def notify(
    context: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what is due; send and record nothing.")
    ] = False,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate the proof and send what is due (the worker does this every cycle)."""
    if context.invoked_subcommand is not None:
        return
    from nexus.errors import ConfigError
    from nexus.notify.producer import notify_now

    channels, config = _channels(), _config()
    if not channels and not dry_run:
        raise ConfigError(
            "no notification channel: set NEXUS_NOTIFY_URLS (apprise URLs, comma-separated)"
        )
    report = notify_now(
        _database(), config, _tenant(config, tenant), _clock(), channels, dry_run=dry_run
    )
    if as_json:
        _print_json(report.as_dict())
        return
    _print_notified(report, dry_run)


def _print_notified(report: NotifyReport, dry_run: bool) -> None:
    """What was due and how each channel took it, then what is held back and why."""
    for title in report.due or ["nothing is due"]:
        console.print(("would send: " if dry_run else "due: ") + title, highlight=False)
    for o in report.outcomes:
        state = "sent" if o.sent else f"failed: {o.error}"
        console.print(f"  {o.channel} ({o.service}): {state}", highlight=False)
    for key in report.pending:
        console.print(f"holding (not yet for long enough): {key}", highlight=False)
    for key in report.silenced:
        console.print(f"silenced: {key}", highlight=False)


@notify_app.command("test")
@friendly
def notify_test() -> None:
    """Send a test message to every URL in NEXUS_NOTIFY_URLS and report each result."""
    from nexus.notify.channels import send_test

    deliveries = send_test(_channels())
    if not deliveries:
        console.print("no notification channel: set NEXUS_NOTIFY_URLS")
    for d in deliveries:
        state = "delivered" if d.ok else f"failed ({d.error})"
        console.print(f"{d.channel.name}: {state}", highlight=False)
    if any(not d.ok for d in deliveries):
        raise typer.Exit(1)


@silence_app.command("add")
@friendly
def silence_add(
    cause: Annotated[
        str, typer.Option("--cause", help="The kind of cause, e.g. producer_failing.")
    ],
    hold: Annotated[str, typer.Option("--for", help='How long, e.g. "2h".')],
    reason: Annotated[str, typer.Option("--reason", help="Why it may stay quiet.")],
    producer: Annotated[
        str | None, typer.Option("--producer", help="Only this producer's cause.")
    ] = None,
    tenant: TenantOption = None,
) -> None:
    """Hold back notifications of a cause until the silence ends."""
    from nexus.clock import fresh_now
    from nexus.duration import parse_duration
    from nexus.notify.silences import add_silence
    from nexus.registry.timeline import current_actor

    config = _config()
    chosen = _tenant(config, tenant)
    with _connection(autocommit=True) as conn:
        silence = add_silence(
            conn,
            chosen,
            cause=cause,
            producer=producer,
            duration=parse_duration(hold),
            reason=reason,
            actor=current_actor(),
            now=fresh_now(_clock()),
        )
    until = times.local(silence.ends_at, config.zone(chosen))
    console.print(f"silence {silence.id}: {cause} quiet until {until}", highlight=False)


@silence_app.command("list")
@friendly
def silence_list(
    every: Annotated[bool, typer.Option("--all", help="Include ended silences.")] = False,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the silences in force (all of them with --all)."""
    from nexus.clock import fresh_now
    from nexus.notify.silences import silences

    config = _config()
    chosen = _tenant(config, tenant)
    with _connection() as conn:
        found = silences(conn, chosen, fresh_now(_clock()), every=every)
    if as_json:
        _print_json([s.as_dict() for s in found])
        return
    zone = config.zone(chosen)
    console.print(_silences_table(found, zone) if found else "no silence is in force")


def _silences_table(found: list[Silence], zone: ZoneInfo) -> Table:
    """One row per silence: what it holds back, until when (in `zone`), why and who set it."""
    rows = [
        (
            str(s.id),
            s.cause_kind,
            s.producer or "any",
            times.local(s.ended_at, zone),
            s.reason,
            s.actor,
        )
        for s in found
    ]
    return table("Silences", ("id", "cause", "producer", "until", "reason", "by"), rows)


@silence_app.command("expire")
@friendly
def silence_expire(
    silence_id: Annotated[int, typer.Argument(help="The id from `nexus silence list`.")],
    tenant: TenantOption = None,
) -> None:
    """End a silence now."""
    from nexus.clock import fresh_now
    from nexus.notify.silences import expire_silence
    from nexus.registry.timeline import current_actor

    config = _config()
    chosen = _tenant(config, tenant)
    with _connection(autocommit=True) as conn:
        expire_silence(
            conn,
            chosen,
            silence_id,
            actor=current_actor(),
            now=fresh_now(_clock()),
            zone=config.zone(chosen),
        )
    console.print(f"silence {silence_id} ended")
