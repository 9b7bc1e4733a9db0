"""One ServiceTitan feed: what is declared about it, and what follows from its document.

A declaration names the feed, its document and its export path (or, for a
reference list without an export, its list path). Everything else is read
from the document when first asked for: the list and by-id endpoints, the
list filter that shows inactive rows, the typed columns, and the joins
(a column `x_id` joins the feed named `xs`, unless the declaration says
otherwise). Paths are written as in the document (`/tenant/{tenant}/…`);
the document's base path (`/jpm/v2`) goes in front of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nexus.catalog import spec
from nexus.catalog.columns import Column, derive
from nexus.catalog.derived import derived_on

TENANT_PREFIX = "/tenant/{tenant}/"
_ID_PARAM = re.compile(r"^\{[A-Za-z]+\}$")
#: how a document names the fields its list sorts by, in the `sort` parameter's description
_SORTS_NAMED = re.compile(r"Available fields are:\s*([^\n]*)")
#: the fields a list sorts by when its document takes `sort` but names none
DEFAULT_SORTS = ("Id", "CreatedOn", "ModifiedOn")


@dataclass(frozen=True, eq=False)
class Feed:
    """A ServiceTitan feed and the `titan` table it lands in."""

    name: str
    doc: str
    #: the export path in the document, or None for a reference list
    export: str | None
    producer: str
    #: the list path; derived from the export path when the document has it
    list: str | None = None
    #: the record fields (dotted) that identify a row; ("id",) for nearly every feed
    key: tuple[str, ...] = ("id",)
    require: tuple[str, ...] = ()
    defaults: Mapping[str, bool] = field(default_factory=dict)
    renames: Mapping[str, str] = field(default_factory=dict)
    #: joins the naming rule gets wrong or cannot see: column → feed
    joins_declared: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Feed({self.name!r})"

    # -- where it lives ---------------------------------------------------------

    @property
    def table(self) -> str:
        return f"titan.{self.name}"

    @property
    def reference(self) -> bool:
        """A reference list without an export: reloaded whole now and then."""
        return self.export is None

    @cached_property
    def base(self) -> str:
        return spec.base_path(self.doc)

    @cached_property
    def list_path(self) -> str | None:
        if self.list is not None:
            return self.list
        if self.export is None:
            return None
        prefix, _, tail = self.export.rpartition(TENANT_PREFIX)
        for candidate in (tail.removeprefix("export/"), tail.removesuffix("/export")):
            path = prefix + TENANT_PREFIX + candidate
            if candidate != tail and spec.operation(self.doc, path) is not None:
                return path
        return None

    @cached_property
    def by_id_path(self) -> str | None:
        """The by-id path (`…/jobs/{id}`) when the document has one."""
        if self.list_path is None:
            return None
        prefix = self.list_path + "/"
        paths: list[str] = list(spec.document(self.doc)["paths"])
        for path in paths:
            rest = path.removeprefix(prefix)
            if rest != path and _ID_PARAM.match(rest) and spec.operation(self.doc, path):
                return path
        return None

    def url(self, path: str, tenant: int, **params: object) -> str:
        return self.base + path.format(tenant=tenant, **params)

    def export_url_path(self, tenant: int) -> str:
        if self.export is None:
            raise ValueError(f"{self.name} has no export endpoint")
        return self.url(self.export, tenant)

    def list_url_path(self, tenant: int) -> str:
        if self.list_path is None:
            raise ValueError(f"{self.name} has no list endpoint")
        return self.url(self.list_path, tenant)

    def item_url_path(self, tenant: int, record_id: int) -> str:
        if self.by_id_path is None:
            raise ValueError(f"{self.name} has no by-id endpoint")
        tail = self.by_id_path.rsplit("/", 1)[-1]
        return self.url(self.by_id_path.replace(tail, str(record_id)), tenant)

    @cached_property
    def list_all_filter(self) -> tuple[str, str] | None:
        """The list filter (name, value) that stops it hiding inactive rows."""
        if self.list_path is None:
            return None
        params = spec.query_parameters(self.doc, self.list_path)
        if "activeState" in params:
            return ("activeState", "All")
        if "active" in params:
            return ("active", "Any")
        return None

    @property
    def refreshable(self) -> bool:
        """Whether records can be read back by id (a list with `ids`, or a by-id endpoint)."""
        return "ids" in self.list_filters or self.by_id_path is not None

    @cached_property
    def list_filters(self) -> frozenset[str]:
        """The query parameters the list endpoint takes (`ids`, `modifiedOnOrAfter`, …)."""
        return spec.query_parameters(self.doc, self.list_path) if self.list_path else frozenset()

    @cached_property
    def list_sorts(self) -> tuple[str, ...]:
        """The fields the list sorts by, as its document names them (`Id`, `ModifiedOn`, …)."""
        if "sort" not in self.list_filters:
            return ()
        assert self.list_path is not None
        op = spec.operation(self.doc, self.list_path) or {}
        for declared in op.get("parameters", []):
            param = spec.resolve(self.doc, declared)
            if param.get("name") != "sort":
                continue
            named = _SORTS_NAMED.search(param.get("description") or "")
            if named:
                names = (n.strip(" .") for n in named.group(1).split(","))
                return tuple(n for n in names if n)
        return DEFAULT_SORTS

    @cached_property
    def newest_first(self) -> str | None:
        """The list's `sort` value that puts the latest change first (`-ModifiedOn`), if any.

        Only a list whose records carry the field of `modified_column` and that
        sorts by it qualifies: its first record, in any state, is ServiceTitan's
        newest change of the feed.
        """
        if self.modified_column is None or self.list_record_schema is None:
            return None
        (column,) = (c for c in self.columns if c.name == self.modified_column)
        if len(column.path) != 1 or column.path[0] not in self.list_record_schema.get(
            "properties", {}
        ):
            return None
        (field,) = column.path
        for shown in self.list_sorts:
            if shown[:1].lower() + shown[1:] == field:
                return "-" + shown
        return None

    # -- its records ------------------------------------------------------------

    @cached_property
    def record_schema(self) -> spec.Schema:
        """The schema of one record: the export's, or the list's for a reference list."""
        path = self.export or self.list_path
        assert path is not None, f"{self.name} declares neither an export nor a list path"
        return spec.record_schema(self.doc, path)

    @cached_property
    def list_record_schema(self) -> spec.Schema | None:
        """The schema of one record of the list (whose answer is a bare array for a few)."""
        if self.list_path is None:
            return None
        schema = spec.record_schema(self.doc, self.list_path)
        if schema.get("type") == "array":
            schema = spec.resolve(self.doc, schema["items"])
        return schema

    @cached_property
    def columns(self) -> tuple[Column, ...]:
        return derive(
            self.doc,
            self.record_schema,
            key=self.key,
            require=self.require,
            defaults={"active": True, **self.defaults},
            renames=self.renames,
            reserved=tuple(d.column for d in derived_on(self.name)),
        )

    @cached_property
    def key_columns(self) -> tuple[str, ...]:
        by_source = {c.source: c.name for c in self.columns}
        return tuple(by_source[k] for k in self.key)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def modified_column(self) -> str | None:
        """The column of `modifiedOn`, which orders versions of one record, if it has one."""
        return "modified_on" if "modified_on" in self.column_names else None

    @cached_property
    def joins(self) -> dict[str, str]:
        """column → the feed it points at (by that feed's id)."""
        from nexus.catalog.feeds import FEEDS

        joins: dict[str, str] = {}
        for name in self.column_names:
            if name in self.key_columns and len(self.key_columns) == 1:
                continue
            target = join_target(name, FEEDS)
            if target is not None:
                joins[name] = target
        for column, target in self.joins_declared.items():
            if column not in self.column_names or target not in FEEDS:
                raise spec.SpecError(f"{self.name}: join {column} → {target} names no such thing")
            joins[column] = target
        return joins

    def describe(self) -> dict[str, Any]:
        return {
            "feed": self.name,
            "table": self.table,
            "producer": self.producer,
            "export": None if self.export is None else self.base + self.export,
            "list": None if self.list_path is None else self.base + self.list_path,
            "by_id": None if self.by_id_path is None else self.base + self.by_id_path,
            "key": list(self.key_columns),
            "joins": dict(self.joins),
        }


def join_target(column: str, feeds: Mapping[str, Feed]) -> str | None:
    """The feed a column `…x_id` points at: the longest tail `x` whose plural is a feed."""
    stem = column.removesuffix("_id")
    if stem == column:
        return None
    parts = stem.split("_")
    for i in range(len(parts)):
        tail = "_".join(parts[i:])
        plural = tail[:-1] + "ies" if tail.endswith("y") else tail + "s"
        if plural in feeds:
            return plural
    return None
