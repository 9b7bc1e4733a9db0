"""The `nexus` command line: each command parses, calls one core function, prints.

One module per group of commands, named for its concept; `common` holds what
they share (options, settings, errors as one red line) and `console` the
terminal's Rich helpers. This module builds the root app, registering the
commands and then the groups in the order `nexus --help` lists them.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from nexus.cli import (
    config,
    db,
    doctor,
    feeds,
    notify,
    producers,
    proof,
    quarantine,
    replay,
    service,
    sync,
)

app = typer.Typer(
    help="Nexus: a ServiceTitan → Postgres mirror that knows when it can be trusted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.command()(sync.sync)
app.command()(replay.simulate)
app.command()(config.init)
app.command()(proof.proof)
app.command()(replay.replay)
app.command()(producers.heartbeat)
app.command()(sync.reconcile)
app.command()(service.worker)
app.command()(service.serve)
app.command()(replay.demo)

app.add_typer(db.app, name="db")
app.add_typer(producers.app, name="producers")
app.add_typer(doctor.app, name="doctor")
app.add_typer(sync.diagnose_app, name="diagnose")
app.add_typer(feeds.app, name="feeds")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(service.deploy_app, name="deploy")
app.add_typer(notify.notify_app, name="notify")
app.add_typer(notify.silence_app, name="silence")


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more detail.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
