"""One feed's records and its change log, which export pages are read from.

Every change appends the record's id to the log and remembers the position
on the record. A log entry older than its record's latest change is stale and
skipped, so an export walk yields each changed record once, in its latest
state, roughly in modification order — as ServiceTitan's export feeds do.
A continuation token is a position in this log.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import orjson

from nexus.simulator.entities import Tracked

T = TypeVar("T", bound=Tracked)

# Says whether a record's change (id, version) is hidden from the export.
Dropper = Callable[[int, int], bool]


class BadToken(ValueError):
    """A continuation token this feed did not issue."""


class FeedLog(Generic[T]):
    """Records of one kind, keyed by id, with a monotonic change log."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: dict[int, T] = {}
        self._log_ids: list[int] = []
        self._log_times: list[int] = []
        self._sorted: list[T] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[T]:
        return iter(self.sorted_rows())

    def get(self, record_id: int) -> T | None:
        return self.rows.get(record_id)

    def touch(self, row: T, when: int) -> None:
        """Record that `row` changed at `when` (adding it if it is new)."""
        if row.id not in self.rows:
            self.rows[row.id] = row
            self._sorted = None
        row.modified = when
        row.version += 1
        row.seq = len(self._log_ids)
        self._log_ids.append(row.id)
        self._log_times.append(when)

    def sorted_rows(self) -> list[T]:
        """Return every record ordered by id."""
        if self._sorted is None:
            self._sorted = [self.rows[i] for i in sorted(self.rows)]
        return self._sorted

    @property
    def log_ids(self) -> list[int]:
        """The id of each change, in order (read-only: for picking recently changed records)."""
        return self._log_ids

    @property
    def end(self) -> int:
        return len(self._log_ids)

    def position_at(self, when: int) -> int:
        """Return the first log position whose change happened at or after `when`."""
        return bisect_left(self._log_times, when)

    def read(self, position: int, limit: int, dropped: Dropper | None) -> tuple[list[T], int]:
        """Return up to `limit` records changed since `position`, and the position after them.

        The returned position also skips stale and dropped entries that follow,
        so it equals `end` exactly when the reader has caught up.
        """
        ids, rows = self._log_ids, self.rows
        out: list[T] = []
        end = len(ids)
        i = position
        while i < end:
            row = rows[ids[i]]
            if row.seq == i and (dropped is None or not dropped(row.id, row.version)):
                if len(out) == limit:
                    break
                out.append(row)
            i += 1
        return out, i

    def select(self, keep: Callable[[T], bool] | None, ids: Iterable[int] | None = None) -> list[T]:
        """Return records ordered by id, limited to `ids` when given, that `keep` accepts."""
        if ids is not None:
            candidates = [self.rows[i] for i in sorted(set(ids)) if i in self.rows]
        else:
            candidates = self.sorted_rows()
        if keep is None:
            return list(candidates)
        return [row for row in candidates if keep(row)]


def encode_token(tenant: int, feed: str, position: int) -> str:
    """Return the opaque continuation token for a log position."""
    raw = orjson.dumps({"v": 1, "t": tenant, "f": feed, "p": position})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str, tenant: int, feed: str, end: int) -> int:
    """Return the log position a token encodes; raise BadToken if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadToken(f"'{token}' is not a continuation token") from None
    if not isinstance(data, dict) or data.get("v") != 1:
        raise BadToken(f"'{token}' is not a continuation token")
    position = data.get("p")
    if data.get("t") != tenant or data.get("f") != feed:
        raise BadToken(f"the token was issued for another feed or tenant, not {feed} of {tenant}")
    if not isinstance(position, int) or not 0 <= position <= end:
        raise BadToken(f"the token points outside the {feed} feed")
    return position
