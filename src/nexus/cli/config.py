"""`nexus init`: the configuration file, written with every default and a comment for each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nexus.cli.common import friendly
from nexus.cli.console import console, error


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
