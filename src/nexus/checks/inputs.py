"""What every check is given, and what every check returns.

A check is one function from `CheckInputs` to a `CheckResult`: its alerts,
plus the sections of the proof it measures (named as the proof names them).
Its parameters come from its own section of `[checks]` in nexus.toml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from nexus.checks.alert import Alert, Cause, DbFresh, Model
from nexus.registry.config import ChecksConfig, Config
from nexus.store.connection import Connection

if TYPE_CHECKING:
    from nexus.checks.freshness import Freshness

#: Reads the reference revenue: (weeks → revenue, what people call it), or (None, None).
Reference = Callable[[Connection], tuple[Mapping[str, float] | None, str | None]]


@dataclass(frozen=True)
class CheckInputs:
    conn: Connection
    config: Config
    tenant: int
    now: datetime
    timezone: str
    freshness: tuple[Freshness, ...]
    db_fresh: DbFresh
    #: The probable cause behind a symptom on a product, found by lineage.
    cause: Callable[[str], Cause]
    reference: Reference
    sync_miss_ids: frozenset[int] = frozenset()

    @property
    def settings(self) -> ChecksConfig:
        return self.config.checks

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's zone, in which the checks' sentences read their moments."""
        return ZoneInfo(self.timezone)


class CheckResult(Model):
    alerts: tuple[Alert, ...] = ()

    def sections(self) -> dict[str, object]:
        """The proof's sections this check filled, by the proof's field names."""
        return {name: getattr(self, name) for name in type(self).model_fields if name != "alerts"}
