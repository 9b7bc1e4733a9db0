"""Turn one ServiceTitan record into the typed values of its columns.

The flattener of a feed is built once from its columns: one small converter
per column, chosen by the column's kind. Money strings become `Decimal`,
date-times aware `datetime`s (UTC when the API leaves the zone out), nested
refs (`job.id`) flat values. A value that breaks the contract raises
`BadRecordError` naming the feed, the record and the field, so a bad page
fails before anything of it reaches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from nexus.catalog.columns import Column, Kind
from nexus.errors import BadRecordError

Record = Mapping[str, Any]
Row = tuple[Any, ...]
Convert = Callable[[Record], Any]


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fail(feed: str, rec: Record, field: str, problem: str) -> BadRecordError:
    return BadRecordError(feed, rec.get("id", "?"), field, problem)


#: The range of Postgres's bigint, which every integer column is.
INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1


def _to_int(value: Any) -> int | None:
    return value if type(value) is int and INT8_MIN <= value <= INT8_MAX else None


def _to_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _to_bool(value: Any) -> bool | None:
    return value if type(value) is bool else None


def _to_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The API documents every timestamp as UTC, with or without the "Z".
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _to_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = Decimal(value) if isinstance(value, str) else Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


#: kind → (converter returning None for a value it refuses, what it expected)
_KINDS: dict[Kind, tuple[Callable[[Any], Any], str]] = {
    "int": (_to_int, "an integer (64-bit)"),
    "text": (_to_text, "text"),
    "bool": (_to_bool, "true or false"),
    "time": (_to_time, "an ISO 8601 date-time"),
    "date": (_to_date, "an ISO 8601 date"),
    "money": (_to_decimal, 'an amount such as "12.50"'),
    "number": (_to_decimal, "a number"),
    "float": (_to_float, "a number"),
}


def _converter(feed: str, column: Column) -> Convert:
    convert, expected = _KINDS[column.kind]
    if column.path == ("id",) and column.kind == "int":
        expected = "an integer id (64-bit)"
    required, default = column.required, column.default
    if len(column.path) == 1:
        (field,) = column.path

        def read(rec: Record) -> Any:
            return rec.get(field)

    else:
        outer, inner = column.path

        def read(rec: Record) -> Any:
            ref = rec.get(outer)
            if ref is None:
                return None
            if not isinstance(ref, dict):
                raise _fail(feed, rec, outer, f"expected an object, got {_show(ref)}")
            return ref.get(inner)

    where = column.source

    def one(rec: Record) -> Any:
        value = read(rec)
        if value is None:
            if default is not None:
                return default
            if required:
                raise _fail(feed, rec, where, "is missing")
            return None
        out = convert(value)
        if out is None:
            raise _fail(feed, rec, where, f"expected {expected}, got {_show(value)}")
        return out

    return one


def column_reader(feed: str, column: Column) -> Convert:
    """Read one column's typed value from a record; raise `BadRecordError` naming a bad field."""
    return _converter(feed, column)


def checked_flattener(feed: str, columns: Sequence[Column]) -> Callable[[Record], Row]:
    """The flattener that checks each value with its column's converter (and names failures)."""
    converters = tuple(_converter(feed, column) for column in columns)

    def flatten(rec: Record) -> Row:
        if not isinstance(rec, dict):
            raise BadRecordError(feed, "?", "(record)", f"expected an object, got {_show(rec)}")
        return tuple([convert(rec) for convert in converters])

    return flatten


def flattener(feed: str, columns: Sequence[Column]) -> Callable[[Record], Row]:
    """The function that flattens one record of `feed` into its columns' values, in order.

    A page of thousands of records is flattened in the loader's hot path, so
    the usual case runs as one function generated for the feed's columns,
    with each kind's conversion written inline. Anything unusual in a record
    (a wrong type, a bad date, a missing required field) sends that record
    to `checked_flattener`, which converts what it can and names the field it
    cannot: the results are the same, only the common case is faster.
    """
    checked = checked_flattener(feed, columns)
    # Every top-level field is read in one go (`map` of the record's `get`, unpacked into
    # locals), which costs half as much as a call of `get` per field.
    names: list[str] = []
    fields: list[str] = []
    refs: dict[str, str] = {}
    for n, column in enumerate(columns):
        if len(column.path) == 1:
            names.append(f"v{n}")
            fields.append(column.path[0])
        elif column.path[0] not in refs:
            refs[column.path[0]] = f"r{len(refs)}"
            names.append(refs[column.path[0]])
            fields.append(column.path[0])
    lines = ["def flatten(rec):", "    try:", f"        {', '.join(names)}, = map(rec.get, FIELDS)"]
    for ref in refs.values():
        lines += [
            f"        if {ref} is None: {ref} = EMPTY",
            f"        elif type({ref}) is not dict: raise Unusual",
        ]
    values = []
    for n, column in enumerate(columns):
        v = f"v{n}"
        if len(column.path) > 1:
            outer, inner = column.path
            lines.append(f"        {v} = {refs[outer]}.get({inner!r})")
        lines += [f"        {line}" for line in _inline(v, column)]
        values.append(v)
    lines += [
        f"        return ({', '.join(values)}{',' if len(values) == 1 else ''})",
        "    except Exception:",
        "        return checked(rec)",
    ]
    scope: dict[str, Any] = {
        "FIELDS": tuple(fields),
        "EMPTY": {},
        "Unusual": _Unusual,
        "checked": checked,
        "UTC": UTC,
        "fromiso": datetime.fromisoformat,
        "datefromiso": date.fromisoformat,
        "D": Decimal,
    }
    exec(compile("\n".join(lines), f"<flatten {feed}>", "exec"), scope)  # noqa: S102
    fast: Callable[[Record], Row] = scope["flatten"]
    return fast


class _Unusual(Exception):
    """A value the inline conversion leaves to the checked flattener."""


def _inline(v: str, column: Column) -> list[str]:
    """Inline conversion of `v` for a column; raise on anything but the common case."""
    if column.default is not None:
        missing = [f"if {v} is None: {v} = {column.default!r}"]
    elif column.required:
        missing = [f"if {v} is None: raise Unusual"]
    else:
        missing = []
    kind = column.kind
    if kind == "int":
        return [
            *missing,
            f"if {v} is not None and (type({v}) is not int"
            f" or not {INT8_MIN} <= {v} <= {INT8_MAX}): raise Unusual",
        ]
    if kind in ("text", "bool"):
        python = {"text": "str", "bool": "bool"}[kind]
        return [*missing, f"if {v} is not None and type({v}) is not {python}: raise Unusual"]
    if kind == "time":
        convert = [
            f"if {v} is not None:",
            f"    if type({v}) is not str: raise Unusual",
            f"    {v} = fromiso({v})",
            f"    if {v}.tzinfo is None: {v} = {v}.replace(tzinfo=UTC)",
        ]
    elif kind == "date":
        convert = [
            f"if {v} is not None:",
            f"    if type({v}) is not str: raise Unusual",
            f"    {v} = datefromiso({v}[:10])",
        ]
    elif kind in ("money", "number"):
        convert = [
            f"if {v} is not None:",
            f"    if type({v}) is str: {v} = D({v})",
            f"    elif type({v}) is int or type({v}) is float: {v} = D(str({v}))",
            "    else: raise Unusual",
            f"    if not {v}.is_finite(): raise Unusual",
        ]
    else:  # float
        convert = [
            f"if {v} is not None:",
            f"    if type({v}) is not float and type({v}) is not int: raise Unusual",
            f"    {v} = float({v})",
        ]
    return [*missing, *convert]
