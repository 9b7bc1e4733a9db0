"""Terminal output helpers shared by the CLI: one console, tables, progress bars, error rendering.

Both consoles have Rich markup turned off, so every message prints exactly as
written: "declare [[tenants]] in nexus.toml" keeps its brackets, and so do TOML
tables, lists and ids in text that came from anywhere. Colour comes from
`rich.text.Text` styles (`styled`, `error`), never from markup inside a string.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from nexus import times
from nexus.sync.feed_sync import Progress as SyncProgress

console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def styled(text: str, style: str) -> Text:
    """`text` in `style`, printed as written (brackets are not markup)."""
    return Text(text, style=style)


def error(message: str) -> None:
    """Print one red "error:" line on stderr, the message exactly as written."""
    err_console.print(
        Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True
    )


def table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    right: Collection[str] = (),
) -> Table:
    """A table of `rows` under `columns`, left-aligned but for the columns in `right`."""
    shown = Table(title=title)
    for column in columns:
        shown.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        shown.add_row(*row)
    return shown


@contextmanager
def sync_progress(enabled: bool = True) -> Iterator[Callable[[SyncProgress], None]]:
    """Yield a callback that draws one progress bar per feed (rows loaded / expected)."""
    if not enabled:
        yield lambda _p: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<24}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[pages]} pages", markup=False),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bars:
        tasks: dict[str, TaskID] = {}

        def update(step: SyncProgress) -> None:
            if step.feed not in tasks:
                tasks[step.feed] = bars.add_task(step.feed, total=step.expected, pages=0)
            task = tasks[step.feed]
            total = step.expected if step.expected and step.expected >= step.rows else None
            if step.done:
                total = step.rows
            bars.update(task, completed=step.rows, total=total, pages=step.pages)

        yield update


@contextmanager
def replay_progress(scenario: Any, enabled: bool = True) -> Iterator[Callable[[datetime], None]]:
    """Yield a callback that advances one bar through the scenario's virtual days.

    The bar shows the virtual moment on the wall clock of the scenario's zone.
    """
    if not enabled:
        yield lambda _t: None
        return
    zone = ZoneInfo(scenario.timezone)
    total = (scenario.until - scenario.start).total_seconds()
    with Progress(
        SpinnerColumn(),
        TextColumn(f"replaying {scenario.name}", style="bold", markup=False),
        BarColumn(),
        TextColumn("{task.fields[day]}", markup=False),
        TimeElapsedColumn(),
        console=err_console,
    ) as bars:
        task = bars.add_task("replay", total=total, day="")

        def tick(now: datetime) -> None:
            bars.update(
                task,
                completed=(now - scenario.start).total_seconds(),
                day=times.local(now, zone),
            )

        yield tick
