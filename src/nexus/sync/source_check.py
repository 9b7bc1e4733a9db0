"""Freshness as lag behind the source: does the mirror hold ServiceTitan's newest change?

A table's newest row alone says nothing about freshness: a quiet table (no
customer edited for eleven days) is current when ServiceTitan has nothing
newer. So a sync run asks ServiceTitan for a feed's newest change — one
record of its list, sorted by its modified time, newest first
(`Feed.newest_first`) — *before* it reads the feed's export. Once the export
has been read to its end, the mirror must hold everything up to that answer.
The run then records, beside the feed's token in `nexus.feeds`, the answer,
when it asked (the run's clock), the mirror's newest modified time right
after loading, and itself. `source_checks` reads them back for the proof.

- A feed is asked at most every `[mirror] source_check_every`. Only recorded
  checks count, and only a feed that synced in the run records its check, so
  a failed check or a failed sync is asked again on the next run.
- A check that fails (a timeout, a 5xx, a 4xx, a malformed page or record) is
  logged and skipped; the export is read as usual. After a timeout or a 5xx
  the run asks no more (its exports meet the same trouble). Refused
  credentials (`AuthError`) stop the run, as they do for the export.
- A feed whose list cannot be sorted by its modified time is never asked.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from psycopg import sql

from nexus.catalog import Feed
from nexus.catalog.parse import column_reader
from nexus.clock import Clock
from nexus.errors import BadRecordError
from nexus.servicetitan.errors import AuthError, RetriableAPIError, ServiceTitanError
from nexus.store.connection import Connection, rendered

log = logging.getLogger(__name__)


class NewestSource(Protocol):
    """What a source check needs from a ServiceTitan client."""

    def newest_change(self, feed: Feed) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class SourceAnswer:
    """ServiceTitan's newest change of a feed, as it said when asked."""

    feed: Feed
    #: the newest record's modified time; None when ServiceTitan holds no record
    newest: datetime | None
    asked_at: datetime


@dataclass(frozen=True)
class SourceCheck:
    """A recorded check: how far the mirror was behind ServiceTitan after a run synced a feed."""

    feed: str
    #: ServiceTitan's newest modified time when asked; None: it held no record
    source_newest: datetime | None
    #: the mirror's newest modified time right after the run loaded the feed; None: no rows
    mirror_newest: datetime | None
    #: when ServiceTitan was asked (the run's clock)
    checked_at: datetime
    run_id: int
    #: seconds the mirror's newest change is behind ServiceTitan's, rounded up; 0 when it
    #: holds it (or ServiceTitan holds nothing); None when the mirror holds no row of a
    #: feed ServiceTitan has records of — behind by everything
    lag_s: int | None

    @property
    def behind(self) -> bool:
        """Whether the mirror lacked ServiceTitan's newest change after the run."""
        return self.lag_s != 0


def lag_seconds(source_newest: datetime | None, mirror_newest: datetime | None) -> int | None:
    """How many seconds `mirror_newest` is behind `source_newest` (see `SourceCheck.lag_s`)."""
    if source_newest is None:
        return 0
    if mirror_newest is None:
        return None
    return max(0, math.ceil((source_newest - mirror_newest).total_seconds()))


class RunChecks:
    """One run's source checks: which feeds are due, asking ServiceTitan, recording answers."""

    def __init__(
        self,
        conn: Connection,
        client: NewestSource,
        tenant: int,
        clock: Clock,
        *,
        due: set[str],
    ) -> None:
        self._conn = conn
        self._client = client
        self._tenant = tenant
        self._clock = clock
        #: the feeds still to ask about in this run (see `checks_due`)
        self.due = due

    def ask(self, feed: Feed) -> SourceAnswer | None:
        """Ask ServiceTitan for the feed's newest change if due; None when not, or when it fails.

        ServiceTitan failing after its retries (5xx, timeouts) ends this run's
        checks: its exports are about to meet the same trouble, and should not
        wait out a check's retries once per feed.
        """
        if feed.name not in self.due:
            return None
        try:
            return ask_newest(self._client, feed, self._clock.now())
        except AuthError:
            raise  # the whole tenant's trouble: the run stops, as it does for the export
        except (ServiceTitanError, BadRecordError) as exc:
            if isinstance(exc, RetriableAPIError):
                self.due.clear()
            problem = str(exc) if isinstance(exc, ServiceTitanError) else _bad_record(exc)
            log.warning(
                "tenant %s: could not ask ServiceTitan for the newest change of %s: %s — its "
                "export is read as usual and the next run asks again",
                self._tenant,
                feed.name,
                problem,
            )
            return None

    def record(self, answer: SourceAnswer, run_id: int) -> None:
        """Record a check once the run synced its feed, with the mirror's newest change now."""
        record_check(self._conn, self._tenant, answer, run_id)


def ask_newest(client: NewestSource, feed: Feed, asked_at: datetime) -> SourceAnswer:
    """Ask ServiceTitan for the feed's newest change, at `asked_at` (the run's clock)."""
    record = client.newest_change(feed)
    return SourceAnswer(feed, None if record is None else _modified(feed, record), asked_at)


def record_check(conn: Connection, tenant: int, answer: SourceAnswer, run_id: int) -> None:
    """Write a check beside the feed's token, with the mirror's newest change now."""
    feed = answer.feed
    conn.execute(
        _record_statement(feed),
        (answer.newest, answer.asked_at, run_id, tenant, tenant, feed.name),
    )


def record_checks(
    conn: Connection, tenant: int, checks: Sequence[tuple[SourceAnswer, int]]
) -> None:
    """Write checks (each with the run that asked it) as `record_check` would one by one.

    A feed's row keeps only its last check, so only each feed's last one is
    written, all in one statement; the mirror must not change meanwhile (the
    checks of a replay's quiet runs, which are written before anything else).
    """
    last = {answer.feed.name: (answer, run_id) for answer, run_id in checks}
    if not last:
        return
    feeds = tuple(sorted((answer.feed for answer, _ in last.values()), key=lambda f: f.name))
    ordered = [last[feed.name] for feed in feeds]
    conn.execute(
        _record_many_statement(feeds),
        {
            "tenant": tenant,
            "feeds": [feed.name for feed in feeds],
            "newest": [answer.newest for answer, _ in ordered],
            "asked": [answer.asked_at for answer, _ in ordered],
            "runs": [run_id for _, run_id in ordered],
        },
    )


@functools.cache
def _record_many_statement(feeds: tuple[Feed, ...]) -> bytes:
    """`record_checks`' statement for this set of feeds (each feed's mirror is read once)."""
    mirror = sql.SQL(" ").join(
        sql.SQL(
            "WHEN {name} THEN (SELECT max({column}) FROM {table} WHERE tenant_id = %(tenant)s)"
        ).format(name=sql.Literal(feed.name), **_newest_of(feed))
        for feed in feeds
    )
    return rendered(
        sql.SQL(
            "UPDATE nexus.feeds f SET source_newest = c.newest, source_checked_at = c.asked,"
            " source_check_run_id = c.run, mirror_newest = CASE c.feed {mirror} END"
            " FROM unnest(%(feeds)s::text[], %(newest)s::timestamptz[], %(asked)s::timestamptz[],"
            " %(runs)s::int8[]) AS c(feed, newest, asked, run)"
            " WHERE f.tenant_id = %(tenant)s AND f.feed = c.feed"
        ).format(mirror=mirror)
    )


def _newest_of(feed: Feed) -> dict[str, sql.Composable]:
    """The feed's modified column and its table, to read the mirror's newest change."""
    assert feed.modified_column is not None, f"{feed.name} has no modified time to check"
    return {
        "column": sql.Identifier(feed.modified_column),
        "table": sql.Identifier(*feed.table.split(".")),
    }


@functools.cache
def _record_statement(feed: Feed) -> bytes:
    return rendered(
        sql.SQL(
            "UPDATE nexus.feeds SET source_newest = %s, source_checked_at = %s,"
            " source_check_run_id = %s,"
            " mirror_newest = (SELECT max({column}) FROM {table} WHERE tenant_id = %s)"
            " WHERE tenant_id = %s AND feed = %s"
        ).format(**_newest_of(feed))
    )


def checks_due(
    feeds: Sequence[Feed],
    last_checked: Mapping[str, datetime | None],
    now: datetime,
    every: timedelta,
) -> set[str]:
    """The feeds to ask about now: checkable, and without a recorded check in the last `every`.

    `last_checked` is each feed's `nexus.feeds.source_checked_at`, which the
    run reads with its tokens.
    """
    # A check recorded "later" than now is from another timeline (a clock set back): ask.
    return {
        feed.name
        for feed in feeds
        if feed.newest_first is not None
        and (
            (checked := last_checked.get(feed.name)) is None or not checked <= now < checked + every
        )
    }


def _modified(feed: Feed, record: Mapping[str, Any]) -> datetime:
    """The record's modified time, parsed as the mirror's column is."""
    (column,) = (c for c in feed.columns if c.name == feed.modified_column)
    value: datetime | None = column_reader(feed.name, column)(record)
    if value is None:
        raise BadRecordError(feed.name, record.get("id", "?"), column.source, "is missing")
    return value


def _bad_record(exc: BadRecordError) -> str:
    return f"its newest record (id={exc.record_id}) has a bad field '{exc.field}': {exc.problem}"


def source_checks(conn: Connection, tenant: int, now: datetime) -> dict[str, SourceCheck]:
    """Each feed's last recorded check made at or before `now`, by feed name."""
    rows = conn.execute(
        "SELECT feed, source_newest, mirror_newest, source_checked_at, source_check_run_id"
        " FROM nexus.feeds WHERE tenant_id = %s AND source_checked_at <= %s ORDER BY feed",
        (tenant, now),
    ).fetchall()
    return {
        feed: SourceCheck(
            feed=feed,
            source_newest=source,
            mirror_newest=mirror,
            checked_at=checked,
            run_id=run_id,
            lag_s=lag_seconds(source, mirror),
        )
        for feed, source, mirror, checked, run_id in rows
    }
