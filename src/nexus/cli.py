"""The `nexus` command line: parse, call one core function, print.

Errors Nexus raises on purpose (`NexusError`) are printed as one clear message
and exit with status 1; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from nexus.clock import SystemClock
from nexus.console import console, err_console, sync_progress
from nexus.errors import NexusError
from nexus.settings import Settings, get_settings

app = typer.Typer(
    help="Nexus: a ServiceTitan → Postgres mirror that knows when it can be trusted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the Nexus database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn a `NexusError` into one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NexusError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more detail.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _settings() -> Settings:
    return get_settings()


def _database() -> Any:
    from nexus.store.database import Database

    return Database.from_settings(_settings())


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# -- db ----------------------------------------------------------------------


@db_app.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Apply pending schema migrations."""
    db = _database()
    before, after = db.upgrade()
    if before == after:
        console.print(f"schema already at revision {after}")
    else:
        console.print(f"schema upgraded from {before or 'empty'} to {after}")


@db_app.command("status")
@friendly
def db_status() -> None:
    """Show where the database is and its schema revision."""
    db = _database()
    current = db.current_revision()
    head = db.head_revision()
    console.print(f"database: {db.safe_url}")
    state = "up to date" if current == head else "behind: run `nexus db upgrade`"
    console.print(f"schema:   {current or 'empty'} (code needs {head}) — {state}")


@db_app.command("stop")
@friendly
def db_stop() -> None:
    """Stop the embedded database server (it restarts on the next command)."""
    from nexus.store.embedded import stop_embedded

    settings = _settings()
    if settings.database_url is not None:
        console.print("NEXUS_DATABASE_URL is set: Nexus does not manage that server.")
        return
    stopped = stop_embedded(settings.home)
    console.print("embedded database stopped" if stopped else "embedded database was not running")


@db_app.command("guard")
@friendly
def db_guard(
    max_rows: Annotated[
        int | None,
        typer.Option(min=1, help="Largest insert into titan.jobs allowed outside a sync run."),
    ] = None,
) -> None:
    """Show or set the write guard's limit on bulk inserts into titan.jobs."""
    from nexus.store.guard import guard_limit, set_guard_limit

    db = _database()
    db.ensure_schema()
    if max_rows is not None:
        set_guard_limit(db, max_rows)
    console.print(f"write guard: at most {guard_limit(db)} rows per insert outside a sync run")


# -- sync --------------------------------------------------------------------


@app.command()
@friendly
def sync(
    feed: Annotated[
        list[str] | None,
        typer.Option(help="Sync only this feed (jobs, invoices, customers, estimates)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Pull every ServiceTitan feed from its saved token into the mirror."""
    from nexus.mirror import SYNC_ORDER, results_as_dicts, sync_all
    from nexus.servicetitan import ServiceTitanClient
    from nexus.servicetitan.feeds import EXPORT_FEEDS

    settings = _settings()
    feeds = feed or list(SYNC_ORDER)
    for name in feeds:
        if name not in EXPORT_FEEDS:
            raise typer.BadParameter(
                f"unknown feed '{name}': choose from {', '.join(SYNC_ORDER)}", param_hint="--feed"
            )
    tenant = settings.require_st_credentials()[0]
    db = _database()
    with ServiceTitanClient.from_settings(settings) as client, sync_progress(not as_json) as bar:
        results = sync_all(db, client, tenant, SystemClock(), feeds, on_progress=bar)
    if as_json:
        _print_json(results_as_dicts(results))
        return
    for r in results:
        console.print(
            f"{r.producer}: {r.rows_read} rows read, {r.rows_changed} changed"
            f" in {r.pages} pages (run {r.run_id})"
        )


# -- simulate ----------------------------------------------------------------


def _parse_shares(values: list[str] | None) -> dict[str, float]:
    shares: dict[str, float] = {}
    for item in values or []:
        name, sep, share = item.partition("=")
        try:
            value = float(share)
        except ValueError:
            value = -1.0
        if not sep or not 0.0 <= value <= 1.0:
            raise typer.BadParameter(
                f"'{item}' is not FEED=SHARE with a share between 0 and 1, e.g. invoices=0.1",
                param_hint="--drop-export-share",
            )
        shares[name] = value
    return shares


@app.command()
@friendly
def simulate(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    tenant: Annotated[list[int] | None, typer.Option(help="Tenant id (repeatable).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated business.")] = 1,
    history_days: Annotated[int, typer.Option(help="Days of past business to create.")] = 60,
    client_id: Annotated[str | None, typer.Option(help="Client id to accept.")] = None,
    client_secret: Annotated[str | None, typer.Option(help="Client secret to accept.")] = None,
    app_key: Annotated[str | None, typer.Option(help="App key to accept.")] = None,
    drop_export_share: Annotated[
        list[str] | None,
        typer.Option(help="FEED=SHARE: that share of changes never appears in FEED's export."),
    ] = None,
) -> None:
    """Serve a simulated ServiceTitan until stopped (Ctrl-C)."""
    from nexus.simulator import serve_forever

    serve_forever(
        port=port,
        tenants=tenant or [1001],
        seed=seed,
        history_days=history_days,
        client_id=client_id,
        client_secret=client_secret,
        app_key=app_key,
        drop_export_share=_parse_shares(drop_export_share),
    )


# -- demo --------------------------------------------------------------------


@app.command()
@friendly
def demo(
    serve: Annotated[bool, typer.Option(help="Serve the dashboard afterwards.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the simulated business.")] = 1,
) -> None:
    """Backfill a simulated tenant into a fresh embedded database and summarise it."""
    from nexus.demo import run_demo

    with sync_progress(not as_json) as bar:
        report = run_demo(_settings().home, seed=seed, on_progress=bar)
    if as_json:
        _print_json(report)
        return
    _print_summary(report)


def _print_summary(report: dict[str, Any]) -> None:
    table = Table(title=f"Mirror of tenant {report['tenant']}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in report["rows"].items():
        table.add_row(f"titan.{name}", f"{count:,}")
    console.print(table)
    runs = Table(title="Latest runs")
    for col in ("producer", "status", "rows read", "rows changed", "error"):
        runs.add_column(col)
    for run in report["runs"]:
        runs.add_row(
            run["producer"],
            run["status"],
            f"{run['rows_read']:,}",
            f"{run['rows_changed']:,}",
            run["error"] or "",
        )
    console.print(runs)
    console.print(f"database: {report['database']}")


if __name__ == "__main__":
    app()
