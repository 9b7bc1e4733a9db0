"""Records drawn from a schema of ServiceTitan's documents, for what the business does not model.

A schema is compiled once into a `Shape` tree. `Generator` then draws a
record of a feed from two seeded streams: one keyed by the record's id
(most fields, stable for the record's life) and one keyed by its version
(every third field, so a changed record really changes). The record's own
bookkeeping comes from the row: `id`, `createdOn`, `modifiedOn`, `active`,
and the ids it joins to (`jobId`, `businessUnit.id`, …), which the business
picked among real records when the row was made.

Every value follows its schema: the type, the format (date-time, date,
email, int32, …), the enum, required fields, `additionalProperties: false`.
Nullable fields are null now and then. Strings a mirror reads as money
(the catalog's rule: `total`, `amount`, `price`, … without a format) carry
decimal strings such as "123.45".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any

from nexus.catalog import spec
from nexus.catalog.columns import _MONEY

NULL_SHARE = 0.2
MAX_DEPTH = 5
DAY = 86_400
WORDS = (
    "north",
    "main",
    "service",
    "repair",
    "water",
    "heater",
    "drain",
    "filter",
    "valve",
    "copper",
    "annual",
    "priority",
    "standard",
    "premium",
    "river",
    "oak",
    "cedar",
    "unit",
)
NAMES = ("Avery", "Blake", "Casey", "Drew", "Emery", "Finley", "Harper", "Jordan", "Quinn")


@dataclass(frozen=True)
class Shape:
    """One compiled schema: what kind of value, and the details that constrain it."""

    kind: str  # integer, number, string, boolean, array, object, free (any JSON), null
    nullable: bool = False
    fmt: str | None = None
    enum: tuple[Any, ...] | None = None
    props: tuple[Prop, ...] = ()
    items: Shape | None = None
    min_length: int = 0


@dataclass(frozen=True)
class Prop:
    name: str
    shape: Shape
    required: bool


def compile_shape(doc: str, schema: spec.Schema, depth: int = 0) -> Shape:
    """Compile `schema` (of document `doc`) into a Shape, cutting off `$ref` cycles."""
    schema = spec.resolve(doc, schema)
    nullable = bool(schema.get("nullable"))
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branches = [spec.resolve(doc, s) for s in schema[key]]
            real = [s for s in branches if s.get("type") != "null"]
            nullable = nullable or len(real) < len(branches)
            if not real:
                return Shape("null", True)
            merged = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
            schema = {**real[0], **{k: v for k, v in merged.items() if k != "type"}}
            schema = spec.resolve(doc, schema) if "$ref" in schema else schema
    if "allOf" in schema and "properties" not in schema:
        parts = [spec.resolve(doc, s) for s in schema["allOf"]]
        schema = {k: v for p in parts for k, v in p.items()}
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        rest = [k for k in kind if k != "null"]
        kind = rest[0] if rest else "null"
    if kind is None:
        kind = "object" if "properties" in schema else "string" if "enum" in schema else "free"
    enum = tuple(schema["enum"]) if "enum" in schema else None
    if kind == "object":
        if depth >= MAX_DEPTH:
            required = set(schema.get("required", ()))
            if nullable or not required:
                return Shape("object", nullable)
        if not schema.get("properties"):
            free = schema.get("additionalProperties") is not False
            return Shape("free" if free else "object", nullable)
        required = set(schema.get("required", ()))
        props = tuple(
            Prop(name, compile_shape(doc, sub, depth + 1), name in required)
            for name, sub in schema["properties"].items()
            if depth < MAX_DEPTH or name in required
        )
        return Shape("object", nullable, props=props)
    if kind == "array":
        items = None
        if depth < MAX_DEPTH and isinstance(schema.get("items"), dict):
            items = compile_shape(doc, schema["items"], depth + 1)
        return Shape("array", nullable, items=items)
    return Shape(
        kind,
        nullable,
        schema.get("format"),
        enum,
        min_length=int(schema.get("minLength", 0)),
    )


def iso(when: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


@dataclass
class Draw:
    """What one record is drawn from: its streams and its times."""

    base: Callable[[], float]
    change: Callable[[], float]
    created: int


def _value(shape: Shape, name: str, u: Callable[[], float], draw: Draw, depth: int) -> Any:
    if shape.nullable and u() < NULL_SHARE:
        return None
    if shape.enum is not None:
        return shape.enum[int(u() * len(shape.enum))]
    kind = shape.kind
    if kind == "integer":
        if shape.fmt == "int32" or not name.endswith("Id"):
            return int(u() * 1000)
        return 1 + int(u() * 999_999)
    if kind == "number":
        if shape.fmt in ("double", "float"):
            return round(u() * 100, 4)
        return round(u() * 1000, 2)
    if kind == "boolean":
        return u() < 0.5
    if kind == "string":
        return _string(shape, name, u, draw)
    if kind == "array":
        if shape.items is None or depth >= MAX_DEPTH:
            return []
        count = int(u() * (3 if depth < 2 else 2))
        return [_value(shape.items, name, u, draw, depth + 1) for _ in range(count)]
    if kind == "object":
        return {p.name: _value(p.shape, p.name, u, draw, depth + 1) for p in shape.props}
    if kind == "free":
        return {}
    return None


def _string(shape: Shape, name: str, u: Callable[[], float], draw: Draw) -> str:
    fmt = shape.fmt
    if fmt == "date-time":
        return iso(draw.created + int((u() - 0.3) * 30 * DAY))
    if fmt == "date":
        return iso(draw.created + int((u() - 0.3) * 30 * DAY))[:10]
    if fmt == "email":
        return f"{NAMES[int(u() * len(NAMES))].lower()}{int(u() * 100)}@example.com"
    if fmt == "phone":
        return f"512555{int(u() * 10_000):04d}"
    if fmt == "duration":
        minutes = 15 + int(u() * 12) * 15
        return f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    if fmt is None and _MONEY.search(name):
        return f"{int(u() * 100_000) / 100:.2f}"
    lowered = name.lower()
    if lowered.endswith("name"):
        text = f"{NAMES[int(u() * len(NAMES))]} {WORDS[int(u() * len(WORDS))].title()}"
    elif lowered.endswith(("number", "code")):
        text = f"{int(u() * 1_000_000)}"
    else:
        text = f"{WORDS[int(u() * len(WORDS))]} {WORDS[int(u() * len(WORDS))]}"
    if len(text) < shape.min_length:
        text = text.ljust(shape.min_length, "x")
    return text


@dataclass(frozen=True)
class Special:
    """How the top-level fields that come from the row are filled in."""

    #: field → what it takes from the row: "id", "created", "modified", "active", "ref:<n>"
    fields: Mapping[str, str] = field(default_factory=dict)
    #: (outer field, inner field) → ref slot, for nested references such as businessUnit.id
    nested: Mapping[tuple[str, str], int] = field(default_factory=dict)


def _row_value(what: str, row: Any, refs: Sequence[int | None]) -> Any:
    if what == "id":
        return row.id
    if what == "created":
        return iso(row.created)
    if what == "modified":
        return iso(row.modified)
    if what == "active":
        return row.active
    slot = int(what.removeprefix("ref:"))
    return refs[slot] if slot < len(refs) else None


class Generator:
    """Draw records of one shape; `record(row, refs)` is deterministic in (seed, row, version)."""

    def __init__(self, shape: Shape, special: Special, seed: tuple[object, ...]) -> None:
        self.shape = shape
        self.special = special
        self._seed = ":".join(str(p) for p in seed)

    def record(self, row: Any, refs: Sequence[int | None] = ()) -> dict[str, Any]:
        base = Random(f"{self._seed}:{row.id}")
        change = Random(f"{self._seed}:{row.id}:v{row.version}")
        draw = Draw(base.random, change.random, row.created)
        fields = self.special.fields
        nested = self.special.nested
        out: dict[str, Any] = {}
        for n, prop in enumerate(self.shape.props):
            what = fields.get(prop.name)
            if what is not None:
                out[prop.name] = _row_value(what, row, refs)
                continue
            u = draw.change if n % 3 == 1 else draw.base
            value = _value(prop.shape, prop.name, u, draw, 1)
            if isinstance(value, dict) or (value is None and prop.shape.kind == "object"):
                value = self._nested(prop, value, u, draw, nested, refs)
            out[prop.name] = value
        return out

    def _nested(
        self,
        prop: Prop,
        value: dict[str, Any] | None,
        u: Callable[[], float],
        draw: Draw,
        nested: Mapping[tuple[str, str], int],
        refs: Sequence[int | None],
    ) -> dict[str, Any] | None:
        slots = {inner: slot for (outer, inner), slot in nested.items() if outer == prop.name}
        if not slots:
            return value
        ids = {inner: refs[slot] if slot < len(refs) else None for inner, slot in slots.items()}
        if all(v is None for v in ids.values()):
            if prop.shape.nullable:
                return None
            ids = {k: 0 for k in ids}
        if value is None:
            value = {p.name: _value(p.shape, p.name, u, draw, 2) for p in prop.shape.props}
        value.update(ids)
        return value


class Projection:
    """Reshape records drawn for `source` into `target` (a list or by-id schema of the feed).

    Fields both schemas describe alike are copied; fields only the target has
    (or has differently) are drawn afresh, from a stream keyed by the record.
    """

    def __init__(
        self, source: Shape, target: Shape, special: Special, seed: tuple[object, ...]
    ) -> None:
        mine = {p.name: p.shape for p in source.props}
        self.target = target
        self.special = special
        self.copy = tuple(mine.get(p.name) == p.shape for p in target.props)
        self.identity = target == source
        self._seed = ":".join(str(p) for p in seed)

    def __call__(
        self, record: dict[str, Any], row: Any, refs: Sequence[int | None] = ()
    ) -> dict[str, Any]:
        if self.identity:
            return record
        rng: Random | None = None
        out: dict[str, Any] = {}
        fields = self.special.fields
        for prop, copy in zip(self.target.props, self.copy, strict=True):
            if copy and prop.name in record:
                out[prop.name] = record[prop.name]
                continue
            what = fields.get(prop.name)
            if what is not None:
                out[prop.name] = _row_value(what, row, refs)
                continue
            if rng is None:
                rng = Random(f"{self._seed}:{row.id}")
            u = rng.random
            out[prop.name] = _value(prop.shape, prop.name, u, Draw(u, u, row.created), 1)
        return out


def wrong_value(feed_key: Sequence[str], shape: Shape) -> tuple[str, Any]:
    """A field of the record and a value of the wrong type for it: the feed's malformed record.

    Prefer a required integer field that is not the key (the record stays
    identifiable), then a required date-time, number or boolean, then the key.
    """
    required = [p for p in shape.props if p.required and not p.shape.nullable]
    others = [p for p in required if p.name not in feed_key]
    for kinds in (("integer",), ("string:date-time",), ("number",), ("boolean",)):
        for prop in others:
            kind = prop.shape.kind
            tag = f"{kind}:{prop.shape.fmt}" if kind == "string" else kind
            if tag in kinds and prop.shape.enum is None:
                return prop.name, _WRONG[tag]
    for prop in shape.props:
        if prop.name in feed_key:
            return prop.name, "abc"
    return shape.props[0].name, "abc"


_WRONG: dict[str, Any] = {
    "integer": "abc",
    "string:date-time": "not a date-time",
    "number": "abc",
    "boolean": "maybe",
}
