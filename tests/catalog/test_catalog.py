"""The catalog covers ServiceTitan's documents, and the migrated database agrees with it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus.catalog import DEFAULT_FEEDS, FEEDS, feed_named, spec
from nexus.catalog.ddl import expected_columns
from nexus.catalog.parse import flattener
from nexus.errors import BadRecordError
from nexus.store.database import Database

# The columns of the first release's tables, which keep their names.
FIRST_RELEASE = {
    "jobs": "id job_number customer_id location_id job_status completed_on created_on "
    "modified_on business_unit_id job_type_id no_charge recall_for_id warranty_id invoice_id "
    "project_id total active invoice_total",
    "invoices": "id reference_number invoice_date created_on modified_on sub_total sales_tax "
    "total balance job_id job_number customer_id location_id business_unit_id adjustment_to_id "
    "project_id invoice_configuration active",
    "customers": "id name type active merged_to_id balance created_on modified_on",
    "estimates": "id job_id project_id name status sold_on subtotal tax active created_on "
    "modified_on",
    "job_types": "id name no_charge active created_on modified_on",
}


def _export_paths() -> set[str]:
    found = set()
    for name in spec.document_names():
        doc = spec.document(name)
        for path, item in doc["paths"].items():
            if "get" in item and "export" in path.split("/"):
                found.add(spec.base_path(name) + path)
    return found


def test_every_export_endpoint_of_the_documents_is_a_feed() -> None:
    served = {f.base + f.export for f in FEEDS.values() if f.export is not None}
    missing = _export_paths() - served
    # Sales publishes the estimates export twice; the catalog reads the older path.
    assert missing == {"/sales/v2/tenant/{tenant}/export/estimates"}
    assert len(served) == 52
    assert {"job_types", "payment_types", "zones", "campaigns"} == {
        f.name for f in FEEDS.values() if f.reference
    }


def test_tables_are_named_for_their_feed_with_underscores() -> None:
    tables = {f.table for f in FEEDS.values()}
    assert {
        "titan.invoice_items",
        "titan.customer_contacts",
        "titan.appointment_assignments",
        "titan.job_timesheets",
        "titan.location_contacts",
        "titan.job_splits",
    } <= tables
    assert len(tables) == len(FEEDS)


def test_the_default_set_is_what_dashboards_need() -> None:
    assert set(DEFAULT_FEEDS) >= {
        "jobs",
        "appointments",
        "appointment_assignments",
        "job_types",
        "projects",
        "invoices",
        "invoice_items",
        "payments",
        "customers",
        "locations",
        "estimates",
        "technicians",
        "business_units",
        "memberships",
    }


def test_the_first_release_columns_keep_their_names_and_types() -> None:
    for feed, names in FIRST_RELEASE.items():
        columns = dict(expected_columns(FEEDS[feed]))
        assert set(names.split()) <= set(columns), feed
    jobs = dict(expected_columns(FEEDS["jobs"]))
    assert jobs["invoice_total"] == "numeric"
    assert jobs["scheduled_at"] == "timestamp with time zone"
    invoices = dict(expected_columns(FEEDS["invoices"]))
    assert (invoices["sub_total"], invoices["job_id"], invoices["job_number"]) == (
        "numeric",
        "bigint",
        "text",
    )


def test_columns_are_typed_snake_case_and_flatten_nested_refs() -> None:
    appointments = dict(expected_columns(FEEDS["appointments"]))
    assert appointments["job_id"] == "bigint"
    assert appointments["start"] == "timestamp with time zone"
    assert appointments["arrival_window_start"] == "timestamp with time zone"
    payments = dict(expected_columns(FEEDS["payments"]))
    assert payments["total"] == "numeric"  # a money string
    assert payments["business_unit_id"] == "bigint"  # businessUnit.id
    ratings = dict(expected_columns(FEEDS["technician_ratings"]))
    assert ratings["rating"] == "double precision"
    # Arrays stay in the raw record only.
    assert "items" not in dict(expected_columns(FEEDS["invoices"]))
    assert FEEDS["appointments"].joins["job_id"] == "jobs"
    assert FEEDS["appointment_assignments"].joins["technician_id"] == "technicians"


def test_feeds_without_an_id_are_keyed_by_their_natural_key() -> None:
    assert FEEDS["job_history"].key_columns == ("job_id",)
    assert FEEDS["technician_ratings"].key_columns == ("technician_id", "job_id")
    assert FEEDS["payroll_settings"].key_columns == ("employee_id",)
    assert FEEDS["jobs"].key_columns == ("id",)


def test_an_unknown_feed_is_named_with_the_closest_one() -> None:
    with pytest.raises(ValueError, match="unknown feed 'apointments': did you mean 'appointments'"):
        feed_named("apointments")


def test_the_flattener_types_every_kind_and_names_a_bad_field() -> None:
    feed = FEEDS["invoices"]
    flatten = flattener(feed.name, feed.columns)
    record = {
        "id": 7,
        "createdOn": "2026-04-01T12:00:00.123Z",
        "subTotal": "10.50",
        "active": True,
        "job": {"id": 3, "number": "3", "type": "Service"},
        "invoiceDate": "2026-04-01T00:00:00",
    }
    row = dict(zip(feed.column_names, flatten(record), strict=True))
    assert row["id"] == 7
    assert row["created_on"] == datetime(2026, 4, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert row["invoice_date"] == datetime(2026, 4, 1, tzinfo=UTC)  # no zone: UTC
    assert row["sub_total"] == Decimal("10.50")
    assert (row["job_id"], row["job_number"]) == (3, "3")
    assert row["balance"] is None
    with pytest.raises(BadRecordError) as info:
        flatten({**record, "job": {"id": "three"}})
    assert info.value.field == "job.id" and "expected an integer" in str(info.value)
    with pytest.raises(BadRecordError) as info:
        flatten({**record, "job": [3]})
    assert info.value.field == "job" and "expected an object" in str(info.value)
    with pytest.raises(BadRecordError) as info:
        flatten({**record, "createdOn": None})
    assert info.value.field == "createdOn" and "is missing" in str(info.value)
    # A record without `active` is active (list and by-id records leave it out).
    assert dict(zip(feed.column_names, flatten({**record, "active": None}), strict=True))["active"]


def test_the_migrated_database_agrees_with_the_catalog_column_by_column(db: Database) -> None:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'titan' ORDER BY table_name, ordinal_position"
        ).fetchall()
        keys = conn.execute(
            "SELECT tc.table_name, k.column_name FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)"
            " WHERE tc.table_schema = 'titan' AND tc.constraint_type = 'PRIMARY KEY'"
            " ORDER BY tc.table_name, k.ordinal_position"
        ).fetchall()
    actual: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        actual.setdefault(table, {})[column] = kind
    expected = {name: dict(expected_columns(feed)) for name, feed in FEEDS.items()}
    assert set(actual) == set(expected)
    for table, columns in expected.items():
        assert actual[table] == columns, table
    primary: dict[str, list[str]] = {}
    for table, column in keys:
        primary.setdefault(table, []).append(column)
    assert primary == {name: ["tenant_id", *feed.key_columns] for name, feed in FEEDS.items()}


@pytest.mark.parametrize(
    ("name", "newest_first"),
    [
        ("jobs", "-ModifiedOn"),  # "Available fields are: Id, ModifiedOn, CreatedOn, Priority."
        ("invoices", "-ModifiedOn"),  # takes sort, names no field: Id, CreatedOn, ModifiedOn
        ("categories", None),  # sorts by Id and Name only
        ("technicians", None),  # its list takes no sort
        ("job_types", None),  # a reference list without sort
        ("invoice_items", None),  # no list at all
    ],
)
def test_a_feed_is_checked_against_the_source_only_where_its_list_sorts_by_modified_time(
    name: str, newest_first: str | None
) -> None:
    assert FEEDS[name].newest_first == newest_first


def test_every_checked_table_has_its_modified_time_indexed(db: Database) -> None:
    with db.connect() as conn:
        indexed = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_indexes WHERE schemaname = 'titan'"
                " AND indexdef LIKE '%%(tenant_id, modified_on)'"
            )
        }
    assert indexed == {name for name, feed in FEEDS.items() if feed.newest_first is not None}


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),  # bigint's range and past it
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2026-04-01T12:00:00Z", "2026-04-01", "12.50", "-3", "NaN", "1e3", " 7 "]),
    st.dictionaries(st.sampled_from(["id", "name", "number"]), st.integers(0, 9), max_size=2),
    st.lists(st.integers(0, 3), max_size=2),
)


@pytest.mark.parametrize("name", ["jobs", "invoices", "appointments", "technician_ratings"])
@given(data=st.data())
def test_the_fast_flattener_agrees_with_the_checked_one_on_any_record(
    name: str, data: st.DataObject
) -> None:
    from nexus.catalog.parse import checked_flattener

    feed = FEEDS[name]
    fields = sorted({c.path[0] for c in feed.columns})
    record = data.draw(st.dictionaries(st.sampled_from(fields), _VALUES, max_size=len(fields)))

    def outcome(flatten: Any) -> Any:
        try:
            return ("row", flatten(record))
        except BadRecordError as exc:
            return ("bad", exc.field, exc.problem)

    fast = outcome(flattener(feed.name, feed.columns))
    checked = outcome(checked_flattener(feed.name, feed.columns))
    assert repr(fast) == repr(checked)
