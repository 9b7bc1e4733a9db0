"""`nexus db`: the database's schema, its embedded server and its write guard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from nexus.cli.common import _database, _settings, friendly
from nexus.cli.console import console, styled

if TYPE_CHECKING:
    from nexus.store.guard import GuardSetup

app = typer.Typer(help="Manage the Nexus database.", no_args_is_help=True)


@app.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Apply pending schema migrations."""
    from nexus.worker import ensure_worker_schema

    db = _database()
    before, after = db.upgrade()
    ensure_worker_schema(db)
    if before == after:
        console.print(f"schema already at revision {after}")
    else:
        console.print(f"schema upgraded from {before or 'empty'} to {after}")


@app.command("status")
@friendly
def db_status() -> None:
    """Show where the database is and its schema revision."""
    db = _database()
    current = db.current_revision()
    head = db.head_revision()
    console.print(f"database: {db.safe_url}")
    state = "up to date" if current == head else "behind: run `nexus db upgrade`"
    console.print(f"schema:   {current or 'empty'} (code needs {head}) — {state}")


@app.command("stop")
@friendly
def db_stop(
    every: Annotated[
        bool,
        typer.Option(
            "--all", help="Stop every embedded server under NEXUS_HOME (replays, the demo)."
        ),
    ] = False,
) -> None:
    """Stop the embedded database server (it restarts on the next command)."""
    from nexus.store.embedded import stop_all, stop_embedded

    settings = _settings()
    if every:
        stopped = stop_all(settings.home)
        for folder in stopped:
            console.print(f"stopped the embedded database in {folder}", highlight=False)
        if not stopped:
            console.print(f"no embedded database was running under {settings.home}")
        return
    if settings.database_url is not None:
        console.print("NEXUS_DATABASE_URL is set: Nexus does not manage that server.")
        return
    stopped_one = stop_embedded(settings.home)
    console.print(
        "embedded database stopped" if stopped_one else "embedded database was not running"
    )


@app.command("guard")
@friendly
def db_guard(
    max_rows: Annotated[
        int | None,
        typer.Option(min=1, help="Largest insert into titan.jobs allowed outside a sync run."),
    ] = None,
) -> None:
    """Check the write guard's setup (exits 1 with the SQL that fixes it); show or set its limit."""
    from nexus.store.guard import check_guard, guard_limit, set_guard_limit

    db = _database()
    db.ensure_schema()
    if max_rows is not None:
        set_guard_limit(db, max_rows)
    setup = check_guard(db)
    _print_guard(db.safe_url, guard_limit(db), setup)
    if not setup.ok:
        raise typer.Exit(1)


def _print_guard(where: str, limit: int, setup: GuardSetup) -> None:
    """The guard's limit, each part of its setup, then each problem with the SQL that fixes it."""
    from nexus.store.guard import WRITER_ROLE

    console.print(
        f"write guard on {where}: at most {limit} rows per insert into "
        f"titan.jobs unless the writer acts as {WRITER_ROLE}, as Nexus's loader does",
        highlight=False,
    )
    for ok, what in setup.checks:
        mark = styled("ok", "green") if ok else styled("no", "bold red")
        console.print("  ", mark, f"  {what}", sep="", highlight=False)
    for fix in setup.fixes:
        console.print(
            "\n", styled("problem:", "bold red"), f" {fix.problem}", sep="", highlight=False
        )
        console.print(f"fix, run by {fix.run_by}:", highlight=False)
        console.print(
            "\n".join(f"    {line}" for line in fix.sql.splitlines()),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for note in setup.notes:
        console.print(f"\nnote: {note}", highlight=False)
