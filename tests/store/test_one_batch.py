"""A small page goes in one batch, staged from JSON: it must write what the COPY writes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_records import load_page, whole_rows
from nexus.catalog import FEEDS
from nexus.catalog.columns import Column
from nexus.store.database import Database
from nexus.store.rows import TABLES

T0 = datetime(2026, 4, 1, 12, tzinfo=UTC)
_tenants = itertools.count(50_000, 2)

#: Offsets a time may carry, seconds included, which Python reads and Postgres keeps.
_OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30, seconds=15))]
)
_TIMES = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_OFFSETS
).map(lambda t: t.isoformat())
#: Within money's numeric(14, 2), which refuses more on either path.
_AMOUNTS = st.one_of(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
    ),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**11), max_value=10**11),
    st.sampled_from(["1E+2", "0E-7", "-0", "-0.00", "12.50", "1.50E+1"]),
).map(str)
#: What each kind of column may hold in a record, as the API's JSON gives it.
_KINDS: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(-(2**63), 2**63 - 1),
    # Postgres text holds no NUL, in a typed column or the raw record, whichever the path;
    # JSON no lone surrogate.
    "text": st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
    ),
    "bool": st.booleans(),
    "time": _TIMES,
    "date": st.dates().map(lambda d: d.isoformat()),
    "money": _AMOUNTS,
    "number": _AMOUNTS | st.integers(-(10**6), 10**6),
    "float": st.floats(allow_nan=False, allow_infinity=False),
}


def _put(record: dict[str, Any], column: Column, value: Any) -> None:
    if len(column.path) == 1:
        record[column.path[0]] = value
    else:
        outer, inner = column.path
        record.setdefault(outer, {})[inner] = value


@st.composite
def pages(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A feed and a page of its records, keys repeated at times, parsed back from JSON."""
    feed = FEEDS[draw(st.sampled_from(sorted(FEEDS)))]
    page = []
    for _ in range(draw(st.integers(1, 6))):
        record: dict[str, Any] = {}
        for column in feed.columns:
            if column.name in feed.key_columns:
                value = (
                    draw(st.integers(1, 3)) if column.kind == "int" else draw(st.sampled_from("ab"))
                )
            elif column.required:
                value = draw(_KINDS[column.kind])
            else:
                value = draw(st.none() | _KINDS[column.kind])
            _put(record, column, value)
        page.append(record)
    return feed.name, orjson.loads(orjson.dumps(page))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(page=pages())
def test_a_page_in_one_batch_writes_the_rows_the_copy_writes(
    db: Database, page: tuple[str, list[dict[str, Any]]]
) -> None:
    """Any feed, any value its columns take: typed columns, raw record and load times."""
    name, records = page
    spec = TABLES[name]
    in_one_batch = next(_tenants)
    copied = in_one_batch + 1
    with db.connect(autocommit=True) as conn:
        one = load_page(conn, spec, in_one_batch, records, T0)
        other = load_page(conn, spec, copied, records, T0, one_batch_rows=0)
    assert one == other
    assert whole_rows(db, spec, in_one_batch) == whole_rows(db, spec, copied)


def test_amounts_keep_their_scale_and_times_their_instant(db: Database) -> None:
    """Known values, read back: what a JSON document could round or lose."""
    record = {
        "id": 1,
        "total": "1.50E+1",
        "createdOn": "2026-04-01T12:00:00.000045+05:30:15",
        "modifiedOn": "0001-01-01T00:00:00Z",
        "job": {"id": 3},
        "active": True,
    }
    with db.connect(autocommit=True) as conn:
        load_page(conn, TABLES["invoices"], 7, [record], T0)
        row = conn.execute(
            "SELECT total::text, created_on, modified_on FROM titan.invoices"
            " WHERE tenant_id = 7 AND id = 1"
        ).fetchone()
    assert row == (
        "15.00",  # money is numeric(14, 2)
        datetime(2026, 4, 1, 6, 29, 45, 45, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
    )
