"""Business on the virtual clock: replay a scenario, the demo's story, a simulated ServiceTitan."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nexus.cli.common import JsonOption, _channels, _print_json, _settings, friendly
from nexus.cli.console import console, err_console, replay_progress, table

if TYPE_CHECKING:
    from nexus.scenario import Scenario
    from nexus.settings import Settings
    from nexus.store.database import Database


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


@friendly
def replay(
    scenario: Annotated[Path, typer.Argument(help="A scenario YAML file (see scenarios/).")],
    as_json: JsonOption = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the dashboard on the replay until Ctrl-C.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for the dashboard (with --serve).")] = 8080,
    every_request: Annotated[
        bool,
        typer.Option(
            "--every-request",
            help="Make every sync run over HTTP, also those the simulator says find nothing new.",
        ),
    ] = False,
) -> None:
    """Replay a scenario on the virtual clock into a fresh database; print the proof at `until`."""
    from nexus.proof.render import render
    from nexus.replay import replay_database, run_replay
    from nexus.scenario import load_scenario
    from nexus.web.app import create_app

    parsed = load_scenario(scenario)
    settings = _settings()
    with replay_database(settings.home) as db:
        if not as_json:
            err_console.print(f"replaying {parsed.name}: {parsed.span()}", highlight=False)
        result = run_replay(
            parsed, db, web_app=create_app, channels=_channels(), every_request=every_request
        )
        if as_json:
            _print_json(result.proof.to_json())
        else:
            render(result.proof, console)
        if serve:
            _serve_replayed(settings, parsed, db, port)


@friendly
def demo(
    serve: Annotated[bool, typer.Option(help="Serve the dashboard afterwards.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the proof as JSON.")] = False,
    port: Annotated[int, typer.Option(help="Port for the dashboard.")] = 8080,
) -> None:
    """Replay the incident's story into a fresh embedded database, then serve the dashboard."""
    from nexus.demo import demo_database, demo_scenario, run_demo
    from nexus.proof.render import render
    from nexus.web.app import create_app

    settings = _settings()
    scenario = demo_scenario()
    with demo_database(settings.home) as db:
        with replay_progress(scenario, enabled=not as_json) as tick:
            result, report = run_demo(db, on_tick=tick, web_app=create_app)
        if as_json:
            _print_json(result.proof.to_json())
        else:
            _print_summary(report)
            render(result.proof, console)
        if serve:
            _serve_replayed(settings, scenario, db, port)


def _serve_replayed(settings: Settings, scenario: Scenario, db: Database, port: int) -> None:
    """Serve the dashboard on a replayed database, read as of the scenario's `until`."""
    from nexus.clock import VirtualClock
    from nexus.replay import replay_config
    from nexus.web.serve import serve as serve_dashboard

    serve_dashboard(
        settings,
        "127.0.0.1",
        port,
        config=replay_config(scenario),
        db=db,
        clock=VirtualClock(scenario.until),
        tenants=[scenario.tenant],
        announce=lambda text: err_console.print(text, highlight=False),
    )


def _print_summary(report: dict[str, Any]) -> None:
    """What the demo's mirror holds: rows per table, then the latest run of each producer."""
    rows = [(f"titan.{name}", f"{count:,}") for name, count in report["rows"].items()]
    console.print(
        table(f"Mirror of tenant {report['tenant']}", ("table", "rows"), rows, right={"rows"})
    )
    runs = [
        (
            run["producer"],
            run["status"],
            f"{run['rows_read']:,}",
            f"{run['rows_changed']:,}",
            run["error"] or "",
        )
        for run in report["runs"]
    ]
    columns = ("producer", "status", "rows read", "rows changed", "error")
    console.print(table("Latest runs", columns, runs))
    console.print(f"database: {report['database']}")
