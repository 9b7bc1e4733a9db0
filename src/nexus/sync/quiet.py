"""Quiet runs: how a replay records the sync runs that would find nothing new, without them.

Most sync runs of a replay find nothing: a business of ten jobs a day changes a
feed in one 15-minute cycle of five, or far fewer. Such a run asks ServiceTitan
for each feed's export from its saved token, gets an empty page with the same
token back, leaves the token alone and records a run that read nothing. Only a
replay can know that answer without asking, because its simulator runs in the
same process: `QuietSource` tells, for each feed, a version that grows with
every change to its records, and whether any fault is switched on.

`QuietRuns` remembers, for each feed, the version its last successful run read
to the end. A run of a sync producer whose feeds all still stand at that
version, with no fault on that changes an answer (`calm`), is *quiet*: it is
queued instead of made, and written as the ledger row the run would have left
(`record_idle_runs`). Its due source checks are asked as the run would ask them
and recorded with it. A reference list is reloaded whole on a timer, not read
from a token: a run whose reference lists are not due for their reload leaves
them alone, and is quiet if its other feeds are; one with a reload due is made,
and so is a producer without feeds.

Queued runs are written by `flush`, which the replay calls before anything else
touches the database (another run, a scenario event, a webhook, a proof), so
every reader sees the ledger, ids and order included, that making the runs
would have left. `tests/test_replay_quiet.py` replays a scenario both ways and
compares the two databases.

Runs that are made, and quiet runs' checks, ask only what their client
(`KnownAnswers`) does not know. While no fault is on it answers from its last
answer, for a feed unchanged since: an export read from the token its last read
ended at (an empty page), a feed's newest change, and the pages of a reference
list reloaded whole. Every other read goes over HTTP, and is counted (reconcile
records its calls).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from nexus.catalog import Feed
from nexus.errors import BadRecordError
from nexus.registry.config import SOURCE_CHECK_EVERY
from nexus.registry.run_ledger import record_idle_runs
from nexus.servicetitan import ServiceTitanClient
from nexus.servicetitan.errors import ServiceTitanError
from nexus.servicetitan.pages import ExportPage, ListPage
from nexus.store.connection import Connection
from nexus.sync.feed_sync import reload_due, saved_tokens
from nexus.sync.source_check import (
    NewestSource,
    SourceAnswer,
    ask_newest,
    checks_due,
    record_checks,
)


class QuietSource(Protocol):
    """What a replay's simulated tenant tells in process."""

    def version(self, feed: str) -> int:
        """A number that grows with every change to the feed's records."""
        ...

    def calm(self) -> bool:
        """Whether the API answers as it would with no fault switched on."""
        ...


@dataclass
class _Read:
    """One feed as its last successful run left it."""

    #: the source's version just before the run, which read the export to its end
    version: int
    #: the feed's last recorded source check (`nexus.feeds.source_checked_at`)
    checked_at: datetime | None
    #: a reference list's last reload (`nexus.feeds.updated_at`); None for an export
    reloaded_at: datetime | None = None


@dataclass(frozen=True)
class _Queued:
    producer: str
    at: datetime
    feeds: tuple[str, ...]
    #: the due source checks this run asked, to record beside its feeds' tokens
    checks: tuple[SourceAnswer, ...]


class QuietRuns:
    """One replayed tenant's quiet runs: which they are, and writing them (see the module)."""

    def __init__(
        self,
        source: QuietSource,
        client: NewestSource,
        tenant: int,
        *,
        source_check_every: timedelta = SOURCE_CHECK_EVERY,
    ) -> None:
        self._source = source
        self._client = client
        self._tenant = tenant
        self._every = source_check_every
        self._read: dict[str, _Read] = {}
        self._queued: list[_Queued] = []
        #: how many runs were queued instead of made
        self.taken = 0

    def take(self, producer: str, feeds: Sequence[Feed], now: datetime) -> bool:
        """Queue `producer`'s run at `now` if it would find nothing new; say whether it did.

        Its due source checks are asked as the run would ask them (`KnownAnswers`
        asks ServiceTitan only when the feed changed since its last answer).
        """
        if not feeds or not self._source.calm():
            return False
        due: list[Feed] = []
        for feed in feeds:
            read = self._read.get(feed.name)
            if read is None:
                return False
            if feed.reference:
                # Read whole when due, whatever changed; left alone until then.
                if reload_due(read.reloaded_at, now):
                    return False
            elif self._source.version(feed.name) != read.version:
                return False
            if checks_due([feed], {feed.name: read.checked_at}, now, self._every):
                due.append(feed)
        try:
            checks = tuple(ask_newest(self._client, feed, now) for feed in due)
        except (ServiceTitanError, BadRecordError):
            return False  # made instead, which asks again and says what went wrong
        for feed in due:
            self._read[feed.name].checked_at = now
        self._queued.append(_Queued(producer, now, tuple(f.name for f in feeds), checks))
        self.taken += 1
        return True

    def versions(self, feeds: Sequence[Feed]) -> dict[str, int]:
        """Each feed's version now, taken just before a run is made."""
        return {feed.name: self._source.version(feed.name) for feed in feeds}

    def succeeded(
        self,
        conn: Connection,
        feeds: Sequence[Feed],
        versions: dict[str, int],
        started: datetime,
    ) -> None:
        """After a made run that started at `started` and succeeded: what it read and checked.

        When every feed is known, none had a check due and no reference list a reload,
        the run recorded none of them; otherwise they are read back.
        """
        known = [self._read.get(feed.name) for feed in feeds]
        checked = {f.name: r.checked_at for f, r in zip(feeds, known, strict=True) if r}
        reloaded = {f.name: r.reloaded_at for f, r in zip(feeds, known, strict=True) if r}
        reloads = any(f.reference and reload_due(reloaded.get(f.name), started) for f in feeds)
        if None in known or reloads or checks_due(feeds, checked, started, self._every):
            saved, checked = saved_tokens(conn, self._tenant, feeds)
            reloaded = {name: moved for name, (_, moved) in saved.items()}
        for feed in feeds:
            self._read[feed.name] = _Read(
                versions[feed.name],
                checked.get(feed.name),
                reloaded.get(feed.name) if feed.reference else None,
            )

    def failed(self, feeds: Sequence[Feed]) -> None:
        """After a made run that failed: its feeds are made again until one succeeds."""
        for feed in feeds:
            self._read.pop(feed.name, None)

    def flush(self, conn: Connection) -> None:
        """Write the queued runs, in order, and the checks they asked."""
        queued, self._queued = self._queued, []
        if not queued:
            return
        runs = [
            (q.producer, q.at, {feed: {"read": 0, "changed": 0} for feed in q.feeds})
            for q in queued
        ]
        if not any(q.checks for q in queued):
            record_idle_runs(conn, self._tenant, runs)  # one statement: no transaction to open
            return
        with conn.transaction():
            ids = record_idle_runs(conn, self._tenant, runs)
            checks = [
                (answer, run_id)
                for run_id, q in zip(ids, queued, strict=True)
                for answer in q.checks
            ]
            record_checks(conn, self._tenant, checks)


class KnownAnswers(ServiceTitanClient):
    """A replay's ServiceTitan client, which does not ask what it knows ServiceTitan would say.

    `source` is the replay's simulated tenant (see the module). An answer is known
    only while no fault is on and the feed's version is the one it was given at.
    """

    def __init__(self, *, source: QuietSource, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._source = source
        #: feed → the token its export's last page ended at, and the feed's version then
        self._ended: dict[str, tuple[str, int]] = {}
        #: feed → its version when last asked for its newest change, and the answer
        self._newest: dict[str, tuple[int, dict[str, Any] | None]] = {}
        #: reference list → its version when last read whole, and its pages then
        self._lists: dict[str, tuple[int, list[ListPage]]] = {}

    def export_pages(
        self,
        feed: Feed,
        continue_from: str | None = None,
        *,
        include_recent_changes: bool = False,
    ) -> Iterator[ExportPage]:
        known = self._ended.get(feed.name)
        if (
            known is not None
            and known[0] == continue_from
            and not include_recent_changes
            and self._source.calm()
            and self._source.version(feed.name) == known[1]
        ):
            yield ExportPage(
                data=[], continue_from=known[0], has_more=False, requested_from=known[0]
            )
            return
        calm = self._source.calm()
        for page in super().export_pages(
            feed, continue_from, include_recent_changes=include_recent_changes
        ):
            if not page.has_more and calm and self._source.calm():
                # Read after the answer, on the clock it was given at: the version it ended at.
                self._ended[feed.name] = (
                    page.continue_from,
                    self._source.version(feed.name),
                )
            yield page

    def reference_pages(self, feed: Feed) -> Iterator[ListPage]:
        version = self._source.version(feed.name)
        known = self._lists.get(feed.name)
        if known is not None and known[0] == version and self._source.calm():
            yield from known[1]
            return
        calm = self._source.calm()
        pages = []
        for page in super().reference_pages(feed):
            pages.append(page)
            yield page
        if calm and self._source.calm():
            self._lists[feed.name] = (version, pages)

    def newest_change(self, feed: Feed) -> dict[str, Any] | None:
        version = self._source.version(feed.name)
        known = self._newest.get(feed.name)
        if known is not None and known[0] == version and self._source.calm():
            return known[1]
        # Taken before asking: should the feed change meanwhile, the answer is not reused;
        # nor is one given while a fault was on (a broken record, say).
        calm = self._source.calm()
        record = super().newest_change(feed)
        if calm and self._source.calm():
            self._newest[feed.name] = (version, record)
        return record
