"""Bring the mirror up to ServiceTitan, and ask ServiceTitan about it: sync, reconcile, diagnose."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated

import typer
from rich.markup import escape

from nexus.cli.common import (
    JsonOption,
    _check_feeds,
    _clock,
    _config,
    _database,
    _print_json,
    _settings,
    friendly,
)
from nexus.cli.console import console, sync_progress

diagnose_app = typer.Typer(
    help="Ask ServiceTitan directly about what the mirror shows.", no_args_is_help=True
)


@friendly
def sync(
    feed: Annotated[
        list[str] | None,
        # Typer reads help as Rich markup: escaped, the TOML table keeps its brackets.
        typer.Option(help=escape("Sync only this feed (any of [mirror] feeds; repeat for more).")),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Pull every mirrored ServiceTitan feed from its saved token into the mirror."""
    from nexus.mirror import results_as_dicts, sync_all
    from nexus.servicetitan import ServiceTitanClient

    settings = _settings()
    config = _config()
    _check_feeds(config, feed)
    tenant = settings.require_st_credentials()[0]
    db = _database()
    with ServiceTitanClient.from_settings(settings) as client, sync_progress(not as_json) as bar:
        results = sync_all(db, client, tenant, _clock(), feed, on_progress=bar, config=config)
    if as_json:
        _print_json(results_as_dicts(results))
        return
    for r in results:
        console.print(
            f"{r.producer} {r.feed}: {r.rows_read} rows read, {r.rows_changed} changed"
            f" in {r.pages} pages (run {r.run_id})",
            highlight=False,
        )


@diagnose_app.command("invoices")
@friendly
def diagnose_invoices(
    sample: Annotated[
        int, typer.Option(min=1, help="How many zero-invoice jobs to ask ServiceTitan about.")
    ] = 30,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the sample (printed with every diagnosis).")
    ] = None,
    repair: Annotated[
        bool, typer.Option(help="Load the sync misses found through the normal loader.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Sample completed $0 jobs and tell sync misses from genuinely unbilled work."""
    from nexus.servicetitan import ServiceTitanClient
    from nexus.sync.diagnose import diagnose_invoices as diagnose

    settings, config = _settings(), _config()
    tenant = settings.require_st_credentials()[0]
    coverage = config.checks.invoice_coverage  # the window and lag of nexus.toml
    with ServiceTitanClient.from_settings(settings) as client:
        result = diagnose(
            _database(),
            client,
            tenant,
            _clock(),
            sample=sample,
            seed=seed,
            repair=repair,
            params=coverage,
        )
    if as_json:
        _print_json(result.as_dict())
    else:
        for line in result.summary_lines(config.zone(tenant)):
            console.print(line, highlight=False)


@friendly
def reconcile(
    feed: Annotated[
        list[str] | None,
        typer.Option(help="Only this feed (any mirrored feed with a list endpoint; repeat)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only records modified on or after this date, on the tenant's clock "
            "unless it names a zone."
        ),
    ] = None,
    repair: Annotated[
        bool | None,
        typer.Option(
            "--repair/--no-repair",
            help=escape(
                "Load what differs from ServiceTitan through the loader, or only report it "
                "(default: [reconcile] repair in nexus.toml)."
            ),
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the mirror with ServiceTitan in full, report every difference, repair by config."""
    from nexus.servicetitan import ServiceTitanClient
    from nexus.sync.reconcile import reconcile_mirror

    config = _config()
    _check_feeds(config, feed)
    settings = _settings()
    tenant = settings.require_st_credentials()[0]
    start = _since(since, config.zone(tenant))
    with ServiceTitanClient.from_settings(settings) as client:
        try:
            report = reconcile_mirror(
                _database(), client, tenant, _clock(), config, feed, start, repair
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--feed") from None
    if as_json:
        _print_json(report.as_dict())
    else:
        for line in report.summary_lines(config.zone(tenant)):
            console.print(line, highlight=False)


def _since(since: str | None, zone: tzinfo) -> datetime | None:
    """The --since date, on the tenant's clock (`zone`) unless it names its own zone."""
    if since is None:
        return None
    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        raise typer.BadParameter(
            f"'{since}' is not a date such as 2026-04-01", param_hint="--since"
        ) from None
    return start.replace(tzinfo=zone) if start.tzinfo is None else start
