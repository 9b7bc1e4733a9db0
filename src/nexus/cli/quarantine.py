"""`nexus quarantine`: batches held back because they look like phantom writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from nexus import times
from nexus.cli.common import JsonOption, _clock, _config, _connection, _print_json, friendly
from nexus.cli.console import console, table

if TYPE_CHECKING:
    from nexus.registry.config import Config
    from nexus.sync.quarantine import Held

app = typer.Typer(
    help="Batches held back because they look like phantom writes.", no_args_is_help=True
)


@app.command("list")
@friendly
def quarantine_list(
    every: Annotated[bool, typer.Option("--all", help="Include released and dropped.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List quarantined batches (held ones, unless --all)."""
    from nexus.sync import quarantine

    with _connection() as conn:
        held = quarantine.listing(conn, None, None if every else "held")
    if as_json:
        _print_json([h.as_dict() for h in held])
        return
    if not held:
        console.print("nothing is held in quarantine")
        return
    _print_held(held, _config())


def _print_held(held: list[Held], config: Config) -> None:
    """One row per quarantined batch, held at its tenant's wall clock."""
    rows = [
        (
            str(h.id),
            str(h.tenant),
            h.feed,
            times.local(h.held_at, config.zone(h.tenant)),
            str(h.rows),
            h.status,
            h.reason,
        )
        for h in held
    ]
    columns = ("id", "tenant", "feed", "held at", "rows", "status", "reason")
    console.print(table("Quarantine", columns, rows))


@app.command("show")
@friendly
def quarantine_show(
    held_id: Annotated[int, typer.Argument(help="The batch id from `nexus quarantine list`.")],
    limit: Annotated[int, typer.Option(help="How many records to print.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Show a quarantined batch: why it is held and a sample of its records."""
    from nexus.sync import quarantine

    with _connection() as conn:
        held, records = quarantine.get(conn, held_id)
    if as_json:
        _print_json({**held.as_dict(), "records": records[:limit]})
        return
    console.print(f"#{held.id} {held.feed} — {held.status} — {held.rows} rows")
    console.print(f"reason: {held.reason}", highlight=False)
    for record in records[:limit]:
        console.print_json(data=record)


@app.command("release")
@friendly
def quarantine_release(
    held_id: Annotated[int, typer.Argument(help="The batch to load after review.")],
) -> None:
    """Load a reviewed batch through the normal loader and let its feed move on."""
    from nexus.registry.timeline import current_actor
    from nexus.sync import quarantine

    zone_of = _config().zone
    with _connection(autocommit=True) as conn:
        changed = quarantine.release(
            conn, held_id, actor=current_actor(), now=_clock().now(), zone_of=zone_of
        )
    console.print(f"released #{held_id}: {changed} rows changed; the next sync continues after it")


@app.command("drop")
@friendly
def quarantine_drop(
    held_id: Annotated[int, typer.Argument(help="The batch to discard.")],
) -> None:
    """Discard a held batch; its feed moves past it without loading it."""
    from nexus.registry.timeline import current_actor
    from nexus.sync import quarantine

    zone_of = _config().zone
    with _connection(autocommit=True) as conn:
        quarantine.drop(conn, held_id, actor=current_actor(), now=_clock().now(), zone_of=zone_of)
    console.print(f"dropped #{held_id}; `nexus reconcile` will report any real record it held")
