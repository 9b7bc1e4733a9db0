"""How a ServiceTitan record becomes a mirror row, as the store sees it.

Nothing here is written per feed: a `TableSpec` is read off the catalog's
declaration of the feed — its table, typed columns, key, and the flattener
that turns one API record into the columns' values (see `nexus.catalog`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property

from nexus.catalog import FEEDS
from nexus.catalog.columns import Kind
from nexus.catalog.derived import Derived, derived_from, derived_on
from nexus.catalog.parse import Record, Row, flattener

__all__ = ["TABLES", "Record", "Row", "TableSpec", "table_spec"]

#: The binary COPY type of each kind of column.
COPY_TYPES: dict[Kind, str] = {
    "int": "int8",
    "text": "text",
    "bool": "bool",
    "time": "timestamptz",
    "date": "date",
    "money": "numeric",
    "number": "numeric",
    "float": "float8",
}


@dataclass(frozen=True)
class TableSpec:
    """A mirrored table: its name, typed columns (with COPY types), key and flattener."""

    feed: str
    table: str
    columns: tuple[tuple[str, str], ...]
    flatten: Callable[[Record], Row]
    key: tuple[str, ...] = ("id",)
    #: the column that orders versions of one record (`modified_on`), if the feed has one
    modified: str | None = "modified_on"
    #: derived columns on this table, and derived columns its rows feed
    derives: tuple[Derived, ...] = ()
    feeds_into: tuple[Derived, ...] = ()

    # Worked out once: the loader and the checks read them for every page.
    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @cached_property
    def types(self) -> tuple[str, ...]:
        return tuple(kind for _, kind in self.columns)

    @cached_property
    def key_index(self) -> tuple[int, ...]:
        """Positions of the key columns in a flattened row."""
        names = self.names
        return tuple(names.index(k) for k in self.key)


@cache
def table_spec(feed: str) -> TableSpec:
    """The table spec of the catalog feed `feed`."""
    declared = FEEDS[feed]
    return TableSpec(
        feed=declared.name,
        table=declared.table,
        columns=tuple((c.name, COPY_TYPES[c.kind]) for c in declared.columns),
        flatten=flattener(declared.name, declared.columns),
        key=declared.key_columns,
        modified=declared.modified_column,
        derives=derived_on(feed),
        feeds_into=derived_from(feed),
    )


class _Tables(Mapping[str, TableSpec]):
    """Every feed's table spec, built on first use."""

    def __getitem__(self, feed: str) -> TableSpec:
        if feed not in FEEDS:
            raise KeyError(feed)
        return table_spec(feed)

    def __iter__(self) -> Iterator[str]:
        return iter(FEEDS)

    def __len__(self) -> int:
        return len(FEEDS)


TABLES: Mapping[str, TableSpec] = _Tables()
