"""Nexus as a service: the worker, the dashboard server, and their systemd units."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from nexus.cli.common import _config, _settings, friendly
from nexus.cli.console import console, err_console

deploy_app = typer.Typer(help="Run Nexus as a service.", no_args_is_help=True)


@deploy_app.command("systemd")
@friendly
def deploy_systemd(
    out: Annotated[Path, typer.Option(help="Folder to write the units into.")] = Path("systemd"),
    user: Annotated[str, typer.Option(help="The user the services run as.")] = "nexus",
    env_file: Annotated[
        Path, typer.Option(help="Where the units read their NEXUS_* settings from.")
    ] = Path("/etc/nexus/nexus.env"),
) -> None:
    """Write systemd units for `nexus worker` and `nexus serve`, and a settings template."""
    from nexus.deploy import write_systemd

    for path in write_systemd(out, user=user, env_file=env_file):
        console.print(f"wrote {path}", markup=False, highlight=False)
    console.print(
        f"next: fill in {out / 'nexus.env'} and install it as {env_file} (mode 600), copy the "
        "units to /etc/systemd/system, then `systemctl daemon-reload` and "
        "`systemctl enable --now nexus-worker nexus-serve`",
        markup=False,
        highlight=False,
    )


@friendly
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, help="Producer runs at once in this process.")
    ] = 4,
    graceful_timeout: Annotated[
        float | None,
        typer.Option(help="Seconds a first SIGTERM waits for runs before abandoning them."),
    ] = None,
    time_scale: Annotated[
        float, typer.Option(hidden=True, help="Run time this many times faster (tests).")
    ] = 1.0,
) -> None:
    """Run every producer on its schedule, with other workers sharing the work, until stopped."""
    from datetime import UTC, datetime

    from nexus.scheduling import ScaledClock
    from nexus.worker import run_worker

    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    clock = ScaledClock(time_scale, datetime.now(UTC)) if time_scale != 1.0 else None
    run_worker(
        _settings(),
        _config(),
        clock=clock,
        concurrency=concurrency,
        graceful_timeout=graceful_timeout,
    )


@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    tenant: Annotated[
        list[int] | None, typer.Option("--tenant", help="Tenant to show (repeatable).")
    ] = None,
) -> None:
    """Serve the dashboard, its JSON API, ServiceTitan webhooks and /metrics."""
    from nexus.web.serve import serve as serve_dashboard

    serve_dashboard(
        _settings(),
        host,
        port,
        tenants=tenant or None,
        announce=lambda text: err_console.print(text, highlight=False),
    )
