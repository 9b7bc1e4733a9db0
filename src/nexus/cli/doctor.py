"""`nexus doctor`: check this installation end to end, or one part of it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nexus.cli.common import JsonOption, TenantOption, _print_json, friendly
from nexus.cli.console import console

app = typer.Typer(help="Check this installation end to end, or one part of it.")

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


@app.callback(invoke_without_command=True)
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


@app.command("config")
@friendly
def doctor_config(as_json: JsonOption = False) -> None:
    """Check that the NEXUS_* settings and nexus.toml parse and name a tenant."""
    _doctor(("config",), as_json=as_json)


@app.command("database")
@friendly
def doctor_database(as_json: JsonOption = False) -> None:
    """Check that the database answers, is migrated, and has its write guard installed."""
    _doctor(("database",), as_json=as_json)


@app.command("servicetitan")
@friendly
def doctor_servicetitan(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Check that ServiceTitan issues a token and one page of each mirrored feed can be read."""
    _doctor(("servicetitan",), tenant=tenant, as_json=as_json)


@app.command("schedules")
@friendly
def doctor_schedules(
    crontab: CrontabOption = None,
    systemd: SystemdOption = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Find dead schedules: producers whose slots pass without a run, dead cron lines and units."""
    _doctor(("schedules",), tenant=tenant, crontab=crontab, systemd=systemd, as_json=as_json)


@app.command("notify")
@friendly
def doctor_notify(as_json: JsonOption = False) -> None:
    """Check that the notification channels in NEXUS_NOTIFY_URLS parse (nothing is sent)."""
    _doctor(("notify",), as_json=as_json)
