"""The SQL that creates a feed's table, written from the catalog.

Migrations are frozen history and import nothing of the runtime: a migration
that adds feeds carries the statements this module wrote when it was made
(`python -m nexus.catalog.ddl FEED …` prints them). A test compares the
migrated database with the catalog, column by column and type by type.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from nexus.catalog.derived import DERIVED, derived_on
from nexus.catalog.feed import Feed
from nexus.catalog.feeds import FEEDS

#: The types the database reports for each catalog type (information_schema.columns).
REPORTED_TYPES = {
    "bigint": "bigint",
    "text": "text",
    "boolean": "boolean",
    "timestamptz": "timestamp with time zone",
    "date": "date",
    "numeric": "numeric",
    "numeric(14, 2)": "numeric",
    "double precision": "double precision",
    "jsonb": "jsonb",
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def expected_columns(feed: Feed) -> list[tuple[str, str]]:
    """(column, reported type) of the feed's table, in the order the catalog declares them."""
    columns = [("tenant_id", "bigint")]
    columns += [(c.name, REPORTED_TYPES[c.pg_type]) for c in feed.columns]
    columns += [(d.column, REPORTED_TYPES[d.pg_type]) for d in derived_on(feed.name)]
    columns += [
        ("raw", "jsonb"),
        ("created_at", "timestamp with time zone"),
        ("updated_at", "timestamp with time zone"),
    ]
    return columns


def create_table(feed: Feed) -> str:
    """`CREATE TABLE titan.<feed>` with typed columns, bookkeeping and its primary key."""
    lines = ["    tenant_id bigint NOT NULL"]
    for column in feed.columns:
        not_null = " NOT NULL" if column.required and column.name in feed.key_columns else ""
        default = ""
        if column.default is not None:
            default = f" NOT NULL DEFAULT {str(column.default).lower()}"
        lines.append(f"    {_quote(column.name)} {column.pg_type}{not_null}{default}")
    for derived in derived_on(feed.name):
        lines.append(f"    {_derived_column(derived.column, derived.pg_type, derived.default)}")
    lines += [
        "    raw jsonb NOT NULL",
        "    created_at timestamptz NOT NULL",
        "    updated_at timestamptz NOT NULL",
        f"    PRIMARY KEY (tenant_id, {', '.join(map(_quote, feed.key_columns))})",
    ]
    body = ",\n".join(lines)
    statements = [f"CREATE TABLE {feed.table} (\n{body}\n);"]
    for derived in DERIVED:
        if derived.source == feed.name:
            statements.append(
                f"CREATE INDEX {feed.name}_{derived.via}_idx"
                f" ON {feed.table} (tenant_id, {_quote(derived.via)});"
            )
    newest = newest_index(feed)
    if newest is not None:
        statements.append(newest)
    return "\n".join(statements)


def newest_index(feed: Feed) -> str | None:
    """The index that finds the mirror's newest change of a feed checked against the source.

    Each source check reads `max(modified_on)` of the tenant's rows; without
    it, that is a scan of the whole table.
    """
    if feed.newest_first is None or feed.modified_column is None:
        return None
    column = feed.modified_column
    return f"CREATE INDEX {feed.name}_{column}_idx ON {feed.table} (tenant_id, {_quote(column)});"


def _derived_column(name: str, pg_type: str, default: str | None) -> str:
    tail = "" if default is None else f" NOT NULL DEFAULT {default}"
    return f"{_quote(name)} {pg_type}{tail}"


def add_columns(feed: Feed, existing: Iterable[str]) -> str:
    """`ALTER TABLE … ADD COLUMN` for the catalog's columns a table lacks, then fill them.

    The new columns are filled from each row's raw record, so rows loaded
    before the migration carry them too.
    """
    have = set(existing)
    new = [c for c in feed.columns if c.name not in have]
    new_derived = [d for d in derived_on(feed.name) if d.column not in have]
    if not new and not new_derived:
        return ""
    adds = [f"ADD COLUMN {_quote(c.name)} {c.pg_type}" for c in new]
    adds += [f"ADD COLUMN {_derived_column(d.column, d.pg_type, d.default)}" for d in new_derived]
    statements = [f"ALTER TABLE {feed.table}\n    " + ",\n    ".join(adds) + ";"]
    if new:
        sets = ",\n    ".join(f"{_quote(c.name)} = {_from_raw(c.path, c.pg_type)}" for c in new)
        statements.append(f"UPDATE {feed.table} SET\n    {sets};")
    return "\n".join(statements)


def _from_raw(path: tuple[str, ...], pg_type: str) -> str:
    """The column's value read from `raw`; NULL where the stored value does not fit its type."""
    node = "raw" + "".join(f"->'{p}'" for p in path)
    text = "raw" + "".join(f"->'{p}'" for p in path[:-1]) + f"->>'{path[-1]}'"
    if pg_type == "text":
        return text
    if pg_type == "boolean":
        return f"CASE WHEN jsonb_typeof({node}) = 'boolean' THEN ({text})::boolean END"
    if pg_type == "bigint":
        return f"CASE WHEN {text} ~ '^-?[0-9]{{1,18}}$' THEN ({text})::bigint END"
    if pg_type in ("numeric", "double precision"):
        number = "'^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$'"
        return f"CASE WHEN {text} ~ {number} THEN ({text})::{pg_type} END"
    stamp = "'^[0-9]{4}-[0-9]{2}-[0-9]{2}'"
    if pg_type == "date":
        return f"CASE WHEN {text} ~ {stamp} THEN left({text}, 10)::date END"
    return f"CASE WHEN {text} ~ {stamp} THEN ({text})::timestamptz END"


def main(names: list[str]) -> None:
    for name in names or list(FEEDS):
        print(create_table(FEEDS[name]), end="\n\n")


if __name__ == "__main__":
    main(sys.argv[1:])
