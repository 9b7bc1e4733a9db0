"""`nexus feeds`: the ServiceTitan feeds of the catalog, and which of them the mirror holds."""

from __future__ import annotations

from typing import Any

import typer

from nexus.cli.common import (
    JsonOption,
    TenantOption,
    _config,
    _database,
    _print_json,
    _tenant,
    friendly,
)
from nexus.cli.console import console, table

app = typer.Typer(help="The ServiceTitan feeds Nexus knows.", no_args_is_help=True)


@app.command("list")
@friendly
def feeds_list(tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """Show every feed: its endpoint, table, whether it is mirrored, its producer and rows."""
    from nexus.mirror import feeds_report

    config = _config()
    report = feeds_report(_database(), config, _tenant(config, tenant))
    if as_json:
        _print_json(report)
        return
    _print_feeds(report)


def _print_feeds(report: dict[str, Any]) -> None:
    """One row per feed, then how many are mirrored and where to choose them."""
    rows = [
        (
            f["table"],
            "yes" if f["enabled"] else "no",
            f["producer"],
            f"{f['rows']:,}",
            f["token_moved_at"] or "never",
            f["endpoint"],
        )
        for f in report["feeds"]
    ]
    columns = ("feed", "mirrored", "producer", "rows", "token moved", "endpoint")
    title = f"ServiceTitan feeds of tenant {report['tenant']}"
    console.print(table(title, columns, rows, right={"rows"}), markup=False)
    mirrored = sum(1 for f in report["feeds"] if f["enabled"])
    console.print(
        f"{mirrored} of {len(report['feeds'])} feeds mirrored; choose them with "
        "[mirror] feeds in nexus.toml",
        markup=False,
        highlight=False,
    )
