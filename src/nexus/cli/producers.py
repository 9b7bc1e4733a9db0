"""`nexus producers` and `nexus heartbeat`: who keeps each data product fresh, and their runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from nexus import times
from nexus.cli.common import (
    JsonOption,
    TenantOption,
    _clock,
    _config,
    _connection,
    _database,
    _print_json,
    _tenant,
    friendly,
)
from nexus.cli.console import console, styled, table

app = typer.Typer(
    help="Producers: who keeps each data product fresh, retirements and hand-overs.",
    no_args_is_help=True,
)


@app.command("list")
@friendly
def producers_list(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Show producers, the products they own and their vitals (from the run ledger)."""
    from nexus.registry.producers import producers_report

    config = _config()
    chosen = _tenant(config, tenant)
    report = producers_report(_database(), config, chosen, _clock().now())
    if as_json:
        _print_json(report)
        return
    _print_producers(report, config.zone(chosen))


def _print_producers(report: dict[str, Any], zone: ZoneInfo) -> None:
    """One row per producer, then each orphaned product; moments on the wall clock of `zone`."""
    now = datetime.fromisoformat(report["as_of"])

    def at(value: str | None, missing: str) -> str:
        return times.readable(
            None if value is None else datetime.fromisoformat(value), now, zone, missing
        )

    rows = [
        (
            p["producer"],
            p["kind"],
            f"{p['every_s'] // 60} min",
            p["status"],
            at(p["last_success"], "never"),
            ", ".join(p["products"]) or "—",
        )
        for p in report["producers"]
    ]
    columns = ("producer", "kind", "every", "status", "last success", "products")
    console.print(table(f"Producers of tenant {report['tenant']}", columns, rows))
    for o in report["orphans"]:
        console.print(
            styled("orphaned:", "bold red"),
            f"{o['product']} (last producer {o['last_producer']}, "
            f"{o['why']}, since {at(o['since'], 'an unknown time')})",
        )


def _pairs(values: list[str] | None) -> dict[str, str]:
    pairs = {}
    for item in values or []:
        product, sep, other = item.partition("=")
        if not sep or not product or not other:
            raise typer.BadParameter(
                f"'{item}' is not PRODUCT=OTHER, e.g. titan.invoices=backup_sync",
                param_hint="--hand-over",
            )
        pairs[product] = other
    return pairs


@app.command("retire")
@friendly
def producers_retire(
    name: Annotated[str, typer.Argument(help="The producer to retire.")],
    reason: Annotated[str, typer.Option(help="Why it is retired (kept in the timeline).")],
    hand_over: Annotated[
        list[str] | None,
        typer.Option("--hand-over", help="PRODUCT=OTHER: give a product to another producer."),
    ] = None,
    retire_product: Annotated[
        list[str] | None, typer.Option("--retire-product", help="Retire a product with it.")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Retire anyway, recording every product it orphans.")
    ] = False,
) -> None:
    """Retire a producer — refused while it owns products nobody else covers."""
    from nexus.registry.ownership import retire
    from nexus.registry.timeline import current_actor

    with _connection(autocommit=True) as conn:
        done = retire(
            conn,
            _config(),
            name,
            reason=reason,
            actor=current_actor(),
            now=_clock().now(),
            hand_over=_pairs(hand_over),
            retire_products=retire_product or [],
            force=force,
        )
    console.print(f"retired {name} (event {done.event_id})")
    for product, other in done.handed_over.items():
        console.print(f"  {product} handed over to {other}")
    for product in done.retired_products:
        console.print(f"  {product} retired")
    for product in done.orphaned:
        console.print(styled(f"  {product} is now orphaned", "bold red"))


@app.command("restore")
@friendly
def producers_restore(
    name: Annotated[str, typer.Argument(help="The retired producer to bring back.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the timeline).")] = "",
) -> None:
    """Bring a retired producer back with the products retired or orphaned with it."""
    from nexus.registry.ownership import restore
    from nexus.registry.timeline import current_actor

    with _connection(autocommit=True) as conn:
        owned = restore(
            conn, _config(), name, actor=current_actor(), now=_clock().now(), reason=reason
        )
    console.print(f"restored {name}; it owns: {', '.join(owned) or 'nothing'}")


@app.command("hand-over")
@friendly
def producers_hand_over(
    product: Annotated[str, typer.Argument(help="The product, e.g. titan.jobs.invoice_total.")],
    to: Annotated[str, typer.Argument(help="The producer that takes it over.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the timeline).")] = "",
) -> None:
    """Give a product to another producer (e.g. an orphan of a retired one)."""
    from nexus.registry.ownership import hand_over
    from nexus.registry.timeline import current_actor

    with _connection(autocommit=True) as conn:
        previous = hand_over(
            conn,
            _config(),
            product,
            to,
            actor=current_actor(),
            now=_clock().now(),
            reason=reason,
        )
    console.print(f"{product}: handed from {previous} to {to}")


@friendly
def heartbeat(
    producer: Annotated[str, typer.Argument(help="The outside producer that just ran.")],
    failed: Annotated[bool, typer.Option(help="Record a failed run.")] = False,
    error: Annotated[str | None, typer.Option(help="The failure's message.")] = None,
    rows: Annotated[int, typer.Option(help="Rows it wrote.")] = 0,
    tenant: TenantOption = None,
) -> None:
    """Record a run of an outside producer (call it at the end of a cron job or unit)."""
    from nexus.registry.run_ledger import record_outside_run

    config = _config()
    if producer not in config.producers:
        raise typer.BadParameter(
            f"no producer named '{producer}' in the configuration", param_hint="PRODUCER"
        )
    with _connection(autocommit=True) as conn:
        run_id = record_outside_run(
            conn,
            _tenant(config, tenant),
            producer,
            _clock().now(),
            error=(error or "failed") if failed else None,
            rows=rows,
        )
    console.print(f"recorded run {run_id} of {producer}")
