"""The cyclic garbage collector rests while a sync fetches and loads a page, and only then."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from nexus.clock import VirtualClock
from nexus.errors import BadRecordError
from nexus.servicetitan import ServiceTitanClient
from nexus.servicetitan.feeds import JOBS
from nexus.servicetitan.pages import ExportPage
from nexus.store.database import Database
from nexus.sync.feed_sync import sync_feed
from stsim import TENANT


class Watched:
    """The simulated tenant's client, noting whether the collector runs as each page arrives."""

    def __init__(self, client: ServiceTitanClient, *, spoil: int | None = None) -> None:
        self.client = client
        self.spoil = spoil
        self.collecting: list[bool] = []

    def export_pages(self, feed: Any, continue_from: str | None = None) -> Iterator[ExportPage]:
        for n, page in enumerate(self.client.export_pages(feed, continue_from)):
            self.collecting.append(gc.isenabled())
            if n == self.spoil:
                page.data[0]["createdOn"] = "yesterday"
            yield page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_the_collector_rests_for_each_page_and_runs_again_after_the_sync(
    db: Database, client: ServiceTitanClient, clock: VirtualClock
) -> None:
    watched = Watched(client)
    result = sync_feed(db, watched, TENANT, JOBS, clock)  # type: ignore[arg-type]
    assert result.pages >= 2 and watched.collecting == [False] * result.pages
    assert gc.isenabled()


def test_the_collector_runs_again_after_a_page_fails(
    db: Database, client: ServiceTitanClient, clock: VirtualClock
) -> None:
    watched = Watched(client, spoil=1)
    with pytest.raises(BadRecordError):
        sync_feed(db, watched, TENANT, JOBS, clock)  # type: ignore[arg-type]
    assert watched.collecting == [False, False]
    assert gc.isenabled()
