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
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from nexus.clock import Clock
from nexus.cli.console import console, err_console, error, replay_progress, styled, sync_progress
from nexus.errors import NexusError
from nexus.settings import Settings, get_settings

app = typer.Typer(
    help="Nexus: a ServiceTitan → Postgres mirror that knows when it can be trusted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the Nexus database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
producers_app = typer.Typer(
    help="Producers: who keeps each data product fresh, retirements and hand-overs.",
    no_args_is_help=True,
)
app.add_typer(producers_app, name="producers")
doctor_app = typer.Typer(help="Check this installation end to end, or one part of it.")
app.add_typer(doctor_app, name="doctor")
diagnose_app = typer.Typer(
    help="Ask ServiceTitan directly about what the mirror shows.", no_args_is_help=True
)
app.add_typer(diagnose_app, name="diagnose")
feeds_app = typer.Typer(help="The ServiceTitan feeds Nexus knows.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
quarantine_app = typer.Typer(
    help="Batches held back because they look like phantom writes.", no_args_is_help=True
)
app.add_typer(quarantine_app, name="quarantine")

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn a `NexusError` into one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NexusError as exc:
            error(str(exc))
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


def _clock() -> Clock:
    """Production's clock: the database server's, shared by every machine running Nexus."""
    from nexus.store.clock import DatabaseClock

    return DatabaseClock(_database())


def _config() -> Any:
    from nexus.registry.config import load_config

    return load_config(_settings().config)


def _tenant(config: Any, tenant: int | None) -> int:
    """The tenant a command is about: --tenant, NEXUS_ST_TENANT, or the only declared one."""
    from nexus.errors import ConfigError

    if tenant is not None:
        return tenant
    if _settings().st_tenant is not None:
        return int(_settings().st_tenant)  # type: ignore[arg-type]
    if len(config.tenants) == 1:
        return int(config.tenants[0].id)
    declared = ", ".join(str(t.id) for t in config.tenants) or "none declared"
    raise ConfigError(
        f"which tenant? pass --tenant, or set NEXUS_ST_TENANT (tenants in nexus.toml: {declared})"
    )


TenantOption = Annotated[
    int | None, typer.Option("--tenant", help="Tenant id (default: NEXUS_ST_TENANT).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# -- db ----------------------------------------------------------------------


@db_app.command("upgrade")
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


@db_app.command("guard")
@friendly
def db_guard(
    max_rows: Annotated[
        int | None,
        typer.Option(min=1, help="Largest insert into titan.jobs allowed outside a sync run."),
    ] = None,
) -> None:
    """Check the write guard's setup (exits 1 with the SQL that fixes it); show or set its limit."""
    from nexus.store.guard import WRITER_ROLE, check_guard, guard_limit, set_guard_limit

    db = _database()
    db.ensure_schema()
    if max_rows is not None:
        set_guard_limit(db, max_rows)
    setup = check_guard(db)
    console.print(
        f"write guard on {db.safe_url}: at most {guard_limit(db)} rows per insert into "
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
    if not setup.ok:
        raise typer.Exit(1)


# -- sync --------------------------------------------------------------------


@app.command()
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
    from nexus.mirror import check_feeds, results_as_dicts, sync_all
    from nexus.servicetitan import ServiceTitanClient

    settings = _settings()
    config = _config()
    try:
        check_feeds(config, feed or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--feed") from None
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


# -- simulate ----------------------------------------------------------------


@feeds_app.command("list")
@friendly
def feeds_list(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Show every feed: its endpoint, table, whether it is mirrored, its producer and rows."""
    from nexus.mirror import feeds_report

    config = _config()
    report = feeds_report(_database(), config, _tenant(config, tenant))
    if as_json:
        _print_json(report)
        return
    table = Table(title=f"ServiceTitan feeds of tenant {report['tenant']}")
    for col in ("feed", "mirrored", "producer", "rows", "token moved", "endpoint"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for f in report["feeds"]:
        table.add_row(
            f["table"],
            "yes" if f["enabled"] else "no",
            f["producer"],
            f"{f['rows']:,}",
            f["token_moved_at"] or "never",
            f["endpoint"],
        )
    console.print(table, markup=False)
    mirrored = sum(1 for f in report["feeds"] if f["enabled"])
    console.print(
        f"{mirrored} of {len(report['feeds'])} feeds mirrored; choose them with "
        "[mirror] feeds in nexus.toml",
        markup=False,
        highlight=False,
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


# -- configuration -------------------------------------------------------------


@app.command()
@friendly
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the configuration file.")] = Path(
        "nexus.toml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented default nexus.toml."""
    from nexus.registry.config import default_config_text

    if path.exists() and not force:
        error(f"{path} exists; pass --force to overwrite it")
        raise typer.Exit(1)
    path.write_text(default_config_text(), encoding="utf-8")
    console.print(f"wrote {path} — declare tenants, producers and products there")


# -- proof -----------------------------------------------------------------------


@app.command()
@friendly
def proof(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Show the Evolution Proof: can the mirror's numbers be trusted, why not, what to do."""
    from nexus.proof.render import render
    from nexus.proof.service import current_proof

    config = _config()
    result = current_proof(_database(), config, _tenant(config, tenant), _clock())
    if as_json:
        _print_json(result.to_json())
    else:
        render(result, console)


@app.command()
@friendly
def replay(
    scenario: Annotated[Path, typer.Argument(help="A scenario YAML file (see scenarios/).")],
    as_json: JsonOption = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the dashboard on the replay until Ctrl-C.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for the dashboard (with --serve).")] = 8080,
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
            err_console.print(
                f"replaying {parsed.name}: "
                f"{parsed.start:%Y-%m-%d} → {parsed.until:%Y-%m-%d %H:%M} UTC"
            )
        result = run_replay(parsed, db, web_app=create_app, channels=_channels())
        if as_json:
            _print_json(result.proof.to_json())
        else:
            render(result.proof, console)
        if serve:
            _serve_replayed(settings, parsed, db, port)


def _serve_replayed(settings: Settings, scenario: Any, db: Any, port: int) -> None:
    """Serve the dashboard on a replayed database, read as of the scenario's `until`."""
    from nexus.clock import VirtualClock
    from nexus.registry.config import load_config
    from nexus.web.serve import serve as serve_dashboard

    serve_dashboard(
        settings,
        "127.0.0.1",
        port,
        config=load_config(scenario.config),
        db=db,
        clock=VirtualClock(scenario.until),
        tenants=[scenario.tenant],
        announce=lambda text: err_console.print(text, highlight=False),
    )


# -- producers -------------------------------------------------------------------


@producers_app.command("list")
@friendly
def producers_list(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Show producers, the products they own and their vitals (from the run ledger)."""
    from nexus.registry.producers import producers_report

    config = _config()
    report = producers_report(_database(), config, _tenant(config, tenant), _clock().now())
    if as_json:
        _print_json(report)
        return
    table = Table(title=f"Producers of tenant {report['tenant']}")
    for col in ("producer", "kind", "every", "status", "last success", "products"):
        table.add_column(col)
    for p in report["producers"]:
        table.add_row(
            p["producer"],
            p["kind"],
            f"{p['every_s'] // 60} min",
            p["status"],
            p["last_success"] or "never",
            ", ".join(p["products"]) or "—",
        )
    console.print(table)
    for o in report["orphans"]:
        console.print(
            styled("orphaned:", "bold red"),
            f"{o['product']} (last producer {o['last_producer']}, "
            f"{o['why']}, since {o['since'] or 'unknown'})",
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


@producers_app.command("retire")
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

    db = _database()
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
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


@producers_app.command("restore")
@friendly
def producers_restore(
    name: Annotated[str, typer.Argument(help="The retired producer to bring back.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the timeline).")] = "",
) -> None:
    """Bring a retired producer back with the products retired or orphaned with it."""
    from nexus.registry.ownership import restore
    from nexus.registry.timeline import current_actor

    db = _database()
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        owned = restore(
            conn, _config(), name, actor=current_actor(), now=_clock().now(), reason=reason
        )
    console.print(f"restored {name}; it owns: {', '.join(owned) or 'nothing'}")


@producers_app.command("hand-over")
@friendly
def producers_hand_over(
    product: Annotated[str, typer.Argument(help="The product, e.g. titan.jobs.invoice_total.")],
    to: Annotated[str, typer.Argument(help="The producer that takes it over.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the timeline).")] = "",
) -> None:
    """Give a product to another producer (e.g. an orphan of a retired one)."""
    from nexus.registry.ownership import hand_over
    from nexus.registry.timeline import current_actor

    db = _database()
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
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


# -- doctor ----------------------------------------------------------------------

CrontabOption = Annotated[
    Path | None, typer.Option(help="A crontab file to check too (e.g. from `crontab -l`).")
]
SystemdOption = Annotated[
    Path | None, typer.Option(help="A directory of systemd .service and .timer units to check.")
]


def _doctor(
    names: tuple[str, ...] | None,
    *,
    tenant: int | None = None,
    crontab: Path | None = None,
    systemd: Path | None = None,
    as_json: bool = False,
) -> None:
    """Run the doctor's checks, print what they found, exit 1 on a problem."""
    from nexus.doctor import Installation, run_doctor

    installation = Installation(crontab=crontab, systemd=systemd, tenant=tenant)
    report = run_doctor(installation, names)
    if as_json:
        _print_json(report.to_json())
    else:
        for line in report.lines():
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@doctor_app.callback(invoke_without_command=True)
@friendly
def doctor(
    ctx: typer.Context,
    tenant: TenantOption = None,
    crontab: CrontabOption = None,
    systemd: SystemdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the whole installation: config, database, servicetitan, schedules and notify."""
    if ctx.invoked_subcommand is None:
        _doctor(None, tenant=tenant, crontab=crontab, systemd=systemd, as_json=as_json)


@doctor_app.command("config")
@friendly
def doctor_config(as_json: JsonOption = False) -> None:
    """Check that the NEXUS_* settings and nexus.toml parse and name a tenant."""
    _doctor(("config",), as_json=as_json)


@doctor_app.command("database")
@friendly
def doctor_database(as_json: JsonOption = False) -> None:
    """Check that the database answers, is migrated, and has its write guard installed."""
    _doctor(("database",), as_json=as_json)


@doctor_app.command("servicetitan")
@friendly
def doctor_servicetitan(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Check that ServiceTitan issues a token and one page of each mirrored feed can be read."""
    _doctor(("servicetitan",), tenant=tenant, as_json=as_json)


@doctor_app.command("schedules")
@friendly
def doctor_schedules(
    crontab: CrontabOption = None,
    systemd: SystemdOption = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find dead schedules: producers whose slots pass without a run, dead cron lines and units."""
    _doctor(("schedules",), tenant=tenant, crontab=crontab, systemd=systemd, as_json=as_json)


@doctor_app.command("notify")
@friendly
def doctor_notify(as_json: JsonOption = False) -> None:
    """Check that the notification channels in NEXUS_NOTIFY_URLS parse (nothing is sent)."""
    _doctor(("notify",), as_json=as_json)


@app.command()
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
    db = _database()
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        run_id = record_outside_run(
            conn,
            _tenant(config, tenant),
            producer,
            _clock().now(),
            error=(error or "failed") if failed else None,
            rows=rows,
        )
    console.print(f"recorded run {run_id} of {producer}")


# -- diagnose and reconcile --------------------------------------------------------


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

    settings = _settings()
    tenant = settings.require_st_credentials()[0]
    coverage = _config().checks.invoice_coverage  # the window and lag of nexus.toml
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
        for line in result.summary_lines():
            console.print(line, highlight=False)


@app.command()
@friendly
def reconcile(
    feed: Annotated[
        list[str] | None,
        typer.Option(help="Only this feed (any mirrored feed with a list endpoint; repeat)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only records modified on or after this date (UTC).")
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
    from datetime import UTC, datetime

    from nexus.mirror import check_feeds
    from nexus.servicetitan import ServiceTitanClient
    from nexus.sync.reconcile import reconcilable, run_reconcile

    config = _config()
    try:
        check_feeds(config, feed or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--feed") from None
    feeds = feed or reconcilable(config.enabled_feeds)
    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise typer.BadParameter(
                f"'{since}' is not a date such as 2026-04-01", param_hint="--since"
            ) from None
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start
    settings = _settings()
    tenant = settings.require_st_credentials()[0]
    with ServiceTitanClient.from_settings(settings) as client:
        try:
            report = run_reconcile(
                _database(),
                client,
                tenant,
                _clock(),
                feeds,
                start,
                config.reconcile.repair if repair is None else repair,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--feed") from None
    if as_json:
        _print_json(report.as_dict())
    else:
        for line in report.summary_lines():
            console.print(line, highlight=False)


# -- deploy ----------------------------------------------------------------------

deploy_app = typer.Typer(help="Run Nexus as a service.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")


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


# -- worker ----------------------------------------------------------------------


@app.command()
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


# -- serve -----------------------------------------------------------------------


@app.command()
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


# -- quarantine ------------------------------------------------------------------


@quarantine_app.command("list")
@friendly
def quarantine_list(
    every: Annotated[bool, typer.Option("--all", help="Include released and dropped.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List quarantined batches (held ones, unless --all)."""
    from nexus.sync import quarantine

    db = _database()
    db.ensure_schema()
    with db.connect() as conn:
        held = quarantine.listing(conn, None, None if every else "held")
    if as_json:
        _print_json([h.as_dict() for h in held])
        return
    if not held:
        console.print("nothing is held in quarantine")
        return
    table = Table(title="Quarantine")
    for col in ("id", "tenant", "feed", "held at", "rows", "status", "reason"):
        table.add_column(col)
    for h in held:
        table.add_row(
            str(h.id),
            str(h.tenant),
            h.feed,
            h.held_at.isoformat(),
            str(h.rows),
            h.status,
            h.reason,
        )
    console.print(table)


@quarantine_app.command("show")
@friendly
def quarantine_show(
    held_id: Annotated[int, typer.Argument(help="The batch id from `nexus quarantine list`.")],
    limit: Annotated[int, typer.Option(help="How many records to print.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Show a quarantined batch: why it is held and a sample of its records."""
    from nexus.sync import quarantine

    db = _database()
    db.ensure_schema()
    with db.connect() as conn:
        held, records = quarantine.get(conn, held_id)
    if as_json:
        _print_json({**held.as_dict(), "records": records[:limit]})
        return
    console.print(f"#{held.id} {held.feed} — {held.status} — {held.rows} rows")
    console.print(f"reason: {held.reason}", highlight=False)
    for record in records[:limit]:
        console.print_json(data=record)


@quarantine_app.command("release")
@friendly
def quarantine_release(
    held_id: Annotated[int, typer.Argument(help="The batch to load after review.")],
) -> None:
    """Load a reviewed batch through the normal loader and let its feed move on."""
    from nexus.registry.timeline import current_actor
    from nexus.sync import quarantine

    db = _database()
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        changed = quarantine.release(conn, held_id, actor=current_actor(), now=_clock().now())
    console.print(f"released #{held_id}: {changed} rows changed; the next sync continues after it")


@quarantine_app.command("drop")
@friendly
def quarantine_drop(
    held_id: Annotated[int, typer.Argument(help="The batch to discard.")],
) -> None:
    """Discard a held batch; its feed moves past it without loading it."""
    from nexus.registry.timeline import current_actor
    from nexus.sync import quarantine

    db = _database()
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        quarantine.drop(conn, held_id, actor=current_actor(), now=_clock().now())
    console.print(f"dropped #{held_id}; `nexus reconcile` will report any real record it held")


# -- demo --------------------------------------------------------------------


@app.command()
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


def _print_summary(report: dict[str, Any]) -> None:
    table = Table(title=f"Mirror of tenant {report['tenant']}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in report["rows"].items():
        table.add_row(f"titan.{name}", f"{count:,}")  # one row per mirrored feed
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


# -- notify and silences -----------------------------------------------------------

notify_app = typer.Typer(
    help="Tell the owner: one notification per root cause of the proof.",
    invoke_without_command=True,
)
app.add_typer(notify_app, name="notify")
silence_app = typer.Typer(help="Hold back notifications of one cause for a while.")
app.add_typer(silence_app, name="silence")


def _channels() -> Any:
    from nexus.notify.producer import channels_from

    return channels_from(_settings().notify_urls)


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

    config, db = _config(), _database()
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        silence = add_silence(
            conn,
            _tenant(config, tenant),
            cause=cause,
            producer=producer,
            duration=parse_duration(hold),
            reason=reason,
            actor=current_actor(),
            now=fresh_now(_clock()),
        )
    console.print(f"silence {silence.id}: {cause} quiet until {silence.ends_at:%Y-%m-%d %H:%M} UTC")


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

    config, db = _config(), _database()
    db.ensure_schema()
    with db.connect() as conn:
        found = silences(conn, _tenant(config, tenant), fresh_now(_clock()), every=every)
    if as_json:
        _print_json([s.as_dict() for s in found])
        return
    table = Table(title="Silences")
    for col in ("id", "cause", "producer", "until", "reason", "by"):
        table.add_column(col)
    for s in found:
        table.add_row(
            str(s.id),
            s.cause_kind,
            s.producer or "any",
            f"{s.ends_at:%Y-%m-%d %H:%M}",
            s.reason,
            s.actor,
        )
    console.print(table if found else "no silence is in force")


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

    config, db = _config(), _database()
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        expire_silence(
            conn,
            _tenant(config, tenant),
            silence_id,
            actor=current_actor(),
            now=fresh_now(_clock()),
        )
    console.print(f"silence {silence_id} ended")

