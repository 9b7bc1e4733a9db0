"""Typed columns derived from a record schema of ServiceTitan's documents.

Every scalar field of the record becomes one column, named in snake_case
(`jobId` → `job_id`). A nested object is flattened one level (`job.id` →
`job_id`, `businessUnit.name` → `business_unit_name`); deeper objects and
arrays stay in the raw record only. Types follow the schema:

    integer → bigint          boolean → boolean        string, enum → text
    number (decimal) → numeric   number (double, float) → double precision
    string date-time → timestamptz   string date → date

Money arrives as a JSON string in the accounting module ("123.45"): a string
field without a format whose name ends in total, amount, tax, balance, cost,
price or quantity is stored as numeric. A field whose name would collide
with Nexus's own bookkeeping columns is prefixed `st_`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from nexus.catalog import spec

Kind = Literal["int", "text", "bool", "time", "date", "money", "number", "float"]

#: The Postgres type each kind of column is stored as.
PG_TYPES: dict[Kind, str] = {
    "int": "bigint",
    "text": "text",
    "bool": "boolean",
    "time": "timestamptz",
    "date": "date",
    "money": "numeric",
    "number": "numeric",
    "float": "double precision",
}
#: Columns every mirror table has that no ServiceTitan field may take.
BOOKKEEPING = frozenset({"tenant_id", "raw", "created_at", "updated_at"})

_MONEY = re.compile(r"(?i)(total|amount|tax|balance|cost|price|quantity)$")
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(name: str) -> str:
    """`businessUnitId` → `business_unit_id`, `leadURL` → `lead_url`."""
    return _WORD.sub("_", name).replace("-", "_").lower()


@dataclass(frozen=True)
class Column:
    """One typed column: its name, kind, and where its value sits in the record."""

    name: str
    kind: Kind
    path: tuple[str, ...]
    required: bool = False
    #: the value stored when the record leaves the field out (not when it sends null)
    default: bool | None = None

    @property
    def pg_type(self) -> str:
        return PG_TYPES[self.kind]

    @property
    def source(self) -> str:
        """The field's dotted path in the record, e.g. `job.id`."""
        return ".".join(self.path)


def _branches(doc: str, schema: spec.Schema) -> tuple[spec.Schema | None, bool]:
    """The one non-null shape of a field (None when it has several), and whether null is allowed."""
    schema = spec.resolve(doc, schema)
    nullable = bool(schema.get("nullable"))
    for key in ("oneOf", "anyOf"):
        if key in schema:
            shapes = [spec.resolve(doc, s) for s in schema[key]]
            real = [s for s in shapes if s.get("type") != "null"]
            nullable = nullable or len(real) < len(shapes)
            if len(real) != 1:
                return None, nullable
            schema = real[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        rest = [k for k in kind if k != "null"]
        schema = {**schema, "type": rest[0] if len(rest) == 1 else None}
    return schema, nullable


def scalar_kind(name: str, schema: spec.Schema) -> Kind | Literal["object"] | None:
    """The column kind of a resolved, non-null field shape; "object" to flatten; None to skip."""
    kind = schema.get("type")
    if "enum" in schema:
        return "text"
    if kind == "integer":
        return "int"
    if kind == "number":
        return "float" if schema.get("format") in ("double", "float") else "number"
    if kind == "boolean":
        return "bool"
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "time"
        if fmt == "date":
            return "date"
        if fmt is None and _MONEY.search(name):
            return "money"
        return "text"
    if kind == "object" or (kind is None and "properties" in schema):
        return "object" if schema.get("properties") else None
    return None


def derive(
    doc: str,
    record: spec.Schema,
    *,
    key: Iterable[str] = ("id",),
    require: Iterable[str] = (),
    defaults: Mapping[str, bool] | None = None,
    renames: Mapping[str, str] | None = None,
    reserved: Iterable[str] = (),
) -> tuple[Column, ...]:
    """Columns for every scalar field of `record` (a resolved schema): the key, then the rest
    in document order.

    `key` and `require` name fields (dotted paths) a record must carry;
    `defaults` gives the value of a field the record leaves out; `renames`
    maps a dotted path to the column name it keeps from an earlier schema.
    """
    required = {*key, *require}
    defaults = dict(defaults or {})
    renames = dict(renames or {})
    taken = set(BOOKKEEPING) | set(reserved)
    direct: list[Column] = []
    nested: list[Column] = []
    for field, raw_shape in record.get("properties", {}).items():
        shape, _ = _branches(doc, raw_shape)
        if shape is None:
            continue
        kind = scalar_kind(field, shape)
        if kind is None:
            continue
        if kind != "object":
            direct.append(_column(field, (field,), kind, required, defaults, renames))
            continue
        for sub, sub_raw in shape.get("properties", {}).items():
            sub_shape, _ = _branches(doc, sub_raw)
            sub_kind = None if sub_shape is None else scalar_kind(sub, sub_shape)
            if sub_kind is None or sub_kind == "object":
                continue
            path = (field, sub)
            nested.append(_column(f"{field}_{sub}", path, sub_kind, required, defaults, renames))
    columns: list[Column] = []
    for column in (*direct, *nested):
        name = column.name
        if name in taken and column.source not in renames:
            if len(column.path) > 1:
                continue  # a flattened ref never displaces a field of the record itself
            name = f"st_{name}"
        if name in taken:
            continue
        taken.add(name)
        columns.append(column if name == column.name else _renamed(column, name))
    missing = required - {c.source for c in columns}
    if missing:
        raise spec.SpecError(f"fields {sorted(missing)} are not scalar fields of the record")
    # The key comes first, in the key's order: rows and tables read naturally from their id.
    keys = list(key)
    ordered = sorted(columns, key=lambda c: keys.index(c.source) if c.source in keys else len(keys))
    return tuple(ordered)


def _column(
    field: str,
    path: tuple[str, ...],
    kind: Kind,
    required: set[str],
    defaults: dict[str, bool],
    renames: dict[str, str],
) -> Column:
    dotted = ".".join(path)
    name = renames.get(dotted) or "_".join(snake(p) for p in path)
    return Column(name, kind, path, dotted in required, defaults.get(dotted))


def _renamed(column: Column, name: str) -> Column:
    return Column(name, column.kind, column.path, column.required, column.default)
