"""Messages print as written: brackets in them (TOML tables, lists, ids) are text, not Rich markup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nexus.store.database import Database


def _nexus(*args: str, db: Database, home: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """The real `nexus` command with no tenant anywhere: neither in nexus.toml nor the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env |= {
        "NEXUS_HOME": str(home),
        "NEXUS_DATABASE_URL": db.url,
        "NEXUS_CONFIG": str(config),
        "COLUMNS": "300",
    }
    return subprocess.run(
        [sys.executable, "-m", "nexus.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_serve_without_a_tenant_names_the_toml_table_with_its_brackets(
    db: Database, tmp_path: Path
) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text("")
    done = _nexus("serve", "--port", "0", db=db, home=tmp_path, config=config)
    assert done.returncode == 1, done.stderr
    assert (
        "error: no ServiceTitan tenant to serve: declare [[tenants]] in nexus.toml "
        "(e.g. `[[tenants]]` then `id = 1001`) or set NEXUS_ST_TENANT\n"
    ) in done.stderr
    assert "declare []" not in done.stderr


def test_a_config_error_keeps_the_double_brackets_it_asks_for(db: Database, tmp_path: Path) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text("[tenants]\nid = 1001\n")
    done = _nexus("producers", "list", db=db, home=tmp_path, config=config)
    assert done.returncode == 1, done.stderr
    assert "tenants must be a list of tables — write [[tenants]] (double brackets)" in done.stderr


def test_help_that_names_a_toml_table_shows_its_brackets() -> None:
    from typer.testing import CliRunner

    from nexus.cli import app
    from test_docs import commands

    helps = [(path, command.help) for path, command in commands()]
    helps += [(path, p.help) for path, c in commands() for p in c.params if hasattr(p, "help")]
    bracketed = [(path, text) for path, text in helps if "[" in (text or "")]
    assert len(bracketed) >= 2  # `sync --feed` names [mirror] feeds, `reconcile --repair` more
    for path, text in bracketed:
        shown = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "400"})
        assert shown.exit_code == 0, shown.output
        plain = text.replace("\\[", "[")
        assert plain in " ".join(shown.output.split()), (path, plain)
