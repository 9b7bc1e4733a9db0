"""A ServiceTitan client with a hook before each export page of one feed, and what it saw."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nexus.catalog import Feed
from nexus.servicetitan import ServiceTitanClient
from nexus.servicetitan.pages import ExportPage
from nexus.store.database import Database
from nexus.store.rows import TABLES
from stsim import TENANT


@dataclass
class Export:
    """One pass over a feed's export: where it began, what the mirror held then, its pages."""

    began_from: str | None
    mirrored: set[int]
    pages: list[ExportPage] = field(default_factory=list)


def mirrored_ids(db: Database, table: str = "titan.jobs") -> set[int]:
    with db.connect(autocommit=True) as conn:
        rows = conn.execute(f"SELECT id FROM {table} WHERE tenant_id = %s", (TENANT,))
        return {r[0] for r in rows}


def saved_token(db: Database, feed: str) -> str | None:
    with db.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT token FROM nexus.feeds WHERE tenant_id = %s AND feed = %s", (TENANT, feed)
        ).fetchone()
    return None if row is None else row[0]


def ids_of(pages: list[ExportPage]) -> set[int]:
    return {int(record["id"]) for page in pages for record in page.data}


class Hooked:
    """Delegate to `client`; call `before_page(n)` before handing out the nth page of `feed`."""

    def __init__(
        self,
        client: ServiceTitanClient,
        db: Database,
        feed: str = "jobs",
        before_page: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self._client = client
        self._db = db
        self.feed = feed
        self.before_page = before_page
        self.exports: list[Export] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def export_pages(self, feed: Feed, continue_from: str | None = None) -> Iterator[ExportPage]:
        if feed.name != self.feed:
            yield from self._client.export_pages(feed, continue_from)
            return
        export = Export(continue_from, mirrored_ids(self._db, TABLES[feed.name].table))
        self.exports.append(export)
        for page in self._client.export_pages(feed, continue_from):
            self.before_page(sum(len(e.pages) for e in self.exports))
            export.pages.append(page)
            yield page
