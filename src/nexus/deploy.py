"""`nexus deploy systemd`: unit files for `nexus worker` and `nexus serve`, and their settings.

Both services run as an unprivileged user, restart when they stop on their
own, and see as little of the machine as they need: a read-only file system
but for their state directory, no home directories (read-only when Nexus itself
is installed under one), a private /tmp, no new privileges, no capabilities.
Their settings come from one environment file, whose template lists every
field of `nexus.settings.Settings`, with its description and default.

The worker stops gracefully on the first SIGTERM (runs end at a page boundary);
`TimeoutStopSec` gives it that long before systemd kills it. The embedded
database is for a laptop; a service should point NEXUS_DATABASE_URL at a
PostgreSQL server (see the README).
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from nexus.errors import ConfigError
from nexus.settings import Settings

DEFAULT_USER = "nexus"
DEFAULT_ENV_FILE = Path("/etc/nexus/nexus.env")
STATE_DIRECTORY = "nexus"  # /var/lib/nexus, made by systemd for the service's user
ENV_TEMPLATE = "nexus.env"
#: Seconds the worker may take to finish its runs after SIGTERM before it is killed.
STOP_TIMEOUT_S = 120

_HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome={protect_home}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
UMask=0077"""

_UNIT = """\
# Written by `nexus deploy systemd`. Install with:
#   sudo cp {name} /etc/systemd/system/ && sudo systemctl daemon-reload
#   sudo systemctl enable --now {name}
[Unit]
Description={description}
After=network-online.target postgresql.service
Wants=network-online.target
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
Type=exec
User={user}
Group={user}
StateDirectory={state}
WorkingDirectory=/var/lib/{state}
Environment=NEXUS_HOME=/var/lib/{state}
EnvironmentFile={env_file}
ExecStart={exec_start}
Restart=always
RestartSec=5s
TimeoutStopSec={stop_timeout}s
{hardening}

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class Service:
    """One unit `nexus deploy systemd` writes."""

    name: str
    description: str
    command: str  # the nexus subcommand and its options


SERVICES = (
    Service(
        "nexus-worker.service",
        "Nexus worker: runs every producer on its schedule",
        "worker",
    ),
    Service(
        "nexus-serve.service",
        "Nexus dashboard, JSON API, ServiceTitan webhooks and /metrics",
        "serve --host 127.0.0.1 --port 8080",
    ),
)


def nexus_executable() -> Path:
    """The `nexus` program of this installation, as an absolute path (units need one)."""
    beside = Path(sys.executable).with_name("nexus")
    if beside.exists():
        return beside
    found = shutil.which("nexus")
    if found is None:
        raise ConfigError(
            "cannot find the `nexus` program to put in the units: install Nexus "
            "(pip install nexus-mirror) into the environment the services should run from"
        )
    return Path(found).resolve()


def unit_text(service: Service, *, user: str, env_file: Path, executable: Path) -> str:
    """The unit file of one service."""
    under_home = any(executable.is_relative_to(home) for home in ("/home", "/root"))
    return _UNIT.format(
        name=service.name,
        description=service.description,
        user=user,
        state=STATE_DIRECTORY,
        env_file=env_file,
        exec_start=f"{executable} {service.command}",
        stop_timeout=STOP_TIMEOUT_S,
        hardening=_HARDENING.format(protect_home="read-only" if under_home else "yes"),
    )


def env_template() -> str:
    """Every setting, commented out at its default, with what it is: the environment file."""
    lines = [
        "# Nexus settings for its systemd services (written by `nexus deploy systemd`).",
        "# Uncomment what you set. Keep this file readable only by root and the service:",
        "#   sudo install -m 600 -o root -g root nexus.env /etc/nexus/nexus.env",
        "# NEXUS_HOME is set by the units to the service's state directory.",
    ]
    for name, field in Settings.model_fields.items():
        variable = f"NEXUS_{name.upper()}"
        secret = field.annotation is not None and SecretStr in getattr(
            field.annotation, "__args__", (field.annotation,)
        )
        default = "" if field.default in (None, PydanticUndefined) else field.default
        if isinstance(default, bool):
            default = str(default).lower()
        about = f"{field.description}" + (" Secret." if secret else "")
        lines += ["", *(f"# {line}" for line in textwrap.wrap(about, 86)), f"#{variable}={default}"]
    return "\n".join(lines) + "\n"


def write_systemd(out: Path, *, user: str, env_file: Path) -> list[Path]:
    """Write both units and the environment-file template into `out`; return their paths."""
    executable = nexus_executable()
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for service in SERVICES:
            path = out / service.name
            path.write_text(
                unit_text(service, user=user, env_file=env_file, executable=executable),
                encoding="utf-8",
            )
            written.append(path)
        template = out / ENV_TEMPLATE
        template.write_text(env_template(), encoding="utf-8")
        template.chmod(0o600)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the units into {out} ({exc.strerror}) — pass --out with a "
            "folder you may write to"
        ) from None
    return [*written, template]
