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


def _to_int(value: Any) -> int | None:
    return value if type(value) is int else None


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
    "int": (_to_int, "an integer"),
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
        expected = "an integer id"
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


def flattener(feed: str, columns: Sequence[Column]) -> Callable[[Record], Row]:
    """The function that flattens one record of `feed` into its columns' values, in order."""
    converters = tuple(_converter(feed, column) for column in columns)

    def flatten(rec: Record) -> Row:
        if not isinstance(rec, dict):
            raise BadRecordError(feed, "?", "(record)", f"expected an object, got {_show(rec)}")
        return tuple([convert(rec) for convert in converters])

    return flatten
