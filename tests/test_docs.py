"""Everything a user can type or set is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main

from nexus.cli import app
from nexus.settings import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def commands() -> list[tuple[str, Any]]:
    """Every leaf command as (path, command), e.g. ("db upgrade", <Command>)."""
    found: list[tuple[str, Any]] = []

    def walk(group: Any, prefix: str) -> None:
        for name, command in group.commands.items():
            path = f"{prefix} {name}".strip()
            if hasattr(command, "commands"):
                walk(command, path)
            else:
                found.append((path, command))

    walk(typer.main.get_command(app), "")
    assert len(found) > 10
    return found


def test_every_command_has_help_and_is_in_the_readme() -> None:
    missing_help = [path for path, cmd in commands() if not (cmd.help or "").strip()]
    assert not missing_help
    missing_docs = [path for path, _ in commands() if f"nexus {path}" not in README]
    assert not missing_docs, f"add these commands to the README: {missing_docs}"


def test_every_option_has_help() -> None:
    undocumented = [
        f"{path} {param.name}"
        for path, cmd in commands()
        for param in cmd.params
        if getattr(param, "param_type_name", "") == "option" and not (param.help or "").strip()
    ]
    assert not undocumented


def test_every_setting_is_described_and_in_the_readme() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description"
        assert f"NEXUS_{name.upper()}" in README, f"NEXUS_{name.upper()} is not in the README"
