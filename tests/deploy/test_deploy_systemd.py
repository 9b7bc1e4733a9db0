"""`nexus deploy systemd`: units systemd accepts, that `nexus doctor schedules` passes, and a
settings template that lists every setting at its default."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from cli import nexus
from nexus.deploy import SERVICES, env_template
from nexus.registry.hygiene import read_units
from nexus.settings import Settings
from nexus.store.database import Database

INSTALL = "sudo apt-get install -y systemd"


def systemd_analyze() -> str:
    """The systemd-analyze program: installed from Debian's systemd package when root may."""
    found = shutil.which("systemd-analyze")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        for step in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "systemd"]):
            subprocess.run(step, check=True, capture_output=True, timeout=600)
        found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail(f"systemd-analyze is missing: install it with `{INSTALL}`, then rerun")
    return found


def deploy(db: Database, home: Path, *args: str) -> Path:
    out = home / "units"
    result = nexus("deploy", "systemd", "--out", str(out), *args, db_url=db.url, home=home)
    assert result.code == 0, result.err
    return out


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_units_pass_systemd_analyze_verify(db: Database, tmp_path: Path) -> None:
    out = deploy(db, tmp_path)
    units = [str(out / s.name) for s in SERVICES]
    done = subprocess.run(
        [systemd_analyze(), "verify", *units], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if str(out) in line], done.stderr


def test_doctor_schedules_passes_on_what_deploy_wrote(db: Database, tmp_path: Path) -> None:
    out = deploy(db, tmp_path)
    result = nexus("doctor", "schedules", "--systemd", str(out), db_url=db.url, home=tmp_path)
    assert result.code == 0, result.out + result.err
    assert f"ok    {out}: every schedule runs a live, executable producer" in result.out


def test_the_units_run_nexus_as_the_user_with_restarts_and_hardening(
    db: Database, tmp_path: Path
) -> None:
    out = deploy(db, tmp_path, "--user", "mirror", "--env-file", "/srv/nexus/env")
    schedules, findings = read_units(out)
    assert not findings
    assert sorted(s.command.split(" ", 1)[1] for s in schedules) == [
        "serve --host 127.0.0.1 --port 8080",
        "worker",
    ]
    for service in SERVICES:
        unit = unit_settings(out / service.name)
        assert Path(unit["ExecStart"][0].split()[0]).name == "nexus"
        assert unit["User"] == ["mirror"]
        assert unit["EnvironmentFile"] == ["/srv/nexus/env"]
        assert unit["Restart"] == ["always"]
        for key, value in {
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "PrivateTmp": "yes",
            "CapabilityBoundingSet": "",
        }.items():
            assert unit[key] == [value], key


def test_the_template_lists_every_setting_once_at_its_default(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = deploy(db, tmp_path) / "nexus.env"
    assert stat.S_IMODE(template.stat().st_mode) == 0o600
    assignments = [
        line.removeprefix("#").split("=", 1)
        for line in template.read_text().splitlines()
        if line.startswith("#NEXUS_")
    ]
    assert [name for name, _ in assignments] == [
        f"NEXUS_{field.upper()}" for field in Settings.model_fields
    ]
    assert template.read_text() == env_template()
    # Uncommented as written, the template changes nothing.
    for name in list(os.environ):
        if name.startswith("NEXUS_"):
            monkeypatch.delenv(name)
    for name, value in assignments:
        if value:
            monkeypatch.setenv(name, value)
    assert Settings().model_dump(exclude={"home"}) == Settings.model_construct().model_dump(
        exclude={"home"}
    )
