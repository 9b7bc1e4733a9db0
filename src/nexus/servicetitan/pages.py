"""The two page envelopes ServiceTitan returns, checked before anything is used.

Export: ``{hasMore, continueFrom, data}``. List: ``{page, pageSize, hasMore,
totalCount?, data}``. A page that breaks its envelope is refused whole, so a
caller never saves a continuation token for data it did not get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexus.servicetitan.errors import MalformedPageError


@dataclass(frozen=True)
class ExportPage:
    """One page of an export feed and the token to resume after it."""

    data: list[dict[str, Any]]
    continue_from: str
    has_more: bool
    requested_from: str | None


@dataclass(frozen=True)
class ListPage:
    """One page of a list endpoint."""

    data: list[dict[str, Any]]
    page: int
    page_size: int
    has_more: bool
    total_count: int | None


def _malformed(tenant: int, endpoint: str, kind: str, what: str) -> MalformedPageError:
    return MalformedPageError(
        f"{endpoint} returned a malformed {kind} page: {what}",
        fix="nothing from this page was used; report it to ServiceTitan with the endpoint",
        tenant=tenant,
        endpoint=endpoint,
        status=200,
    )


def _records(body: dict[str, Any], tenant: int, endpoint: str, kind: str) -> list[dict[str, Any]]:
    data = body.get("data")
    if not isinstance(data, list):
        raise _malformed(tenant, endpoint, kind, f"'data' is {_kind_of(data)}, not a list")
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise _malformed(
                tenant, endpoint, kind, f"data[{index}] is {_kind_of(record)}, not an object"
            )
    return data


def _kind_of(value: object) -> str:
    if value is None:
        return "missing or null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def parse_export_page(
    body: object, *, tenant: int, endpoint: str, requested_from: str | None
) -> ExportPage:
    """Check an export envelope and wrap it; raise MalformedPageError naming the flaw."""
    if not isinstance(body, dict):
        raise _malformed(tenant, endpoint, "export", f"the body is {_kind_of(body)}, not an object")
    has_more = body.get("hasMore")
    if not isinstance(has_more, bool):
        raise _malformed(tenant, endpoint, "export", f"'hasMore' is {_kind_of(has_more)}")
    continue_from = body.get("continueFrom")
    if not isinstance(continue_from, str) or not continue_from:
        what = "an empty string" if continue_from == "" else _kind_of(continue_from)
        raise _malformed(tenant, endpoint, "export", f"'continueFrom' is {what}")
    data = _records(body, tenant, endpoint, "export")
    if has_more and not data and continue_from == requested_from:
        # Following this page would ask for the same page forever.
        raise _malformed(
            tenant,
            endpoint,
            "export",
            "'hasMore' is true but the page is empty and 'continueFrom' did not move",
        )
    return ExportPage(data, continue_from, has_more, requested_from)


def parse_list_page(body: object, *, tenant: int, endpoint: str, page: int) -> ListPage:
    """Check a list envelope and wrap it; raise MalformedPageError naming the flaw."""
    if not isinstance(body, dict):
        raise _malformed(tenant, endpoint, "list", f"the body is {_kind_of(body)}, not an object")
    has_more = body.get("hasMore")
    if not isinstance(has_more, bool):
        raise _malformed(tenant, endpoint, "list", f"'hasMore' is {_kind_of(has_more)}")
    data = _records(body, tenant, endpoint, "list")
    if has_more and not data:
        raise _malformed(tenant, endpoint, "list", "'hasMore' is true but the page is empty")
    page_size = body.get("pageSize")
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise _malformed(tenant, endpoint, "list", f"'pageSize' is {_kind_of(page_size)}")
    total = body.get("totalCount")
    if isinstance(total, bool) or not (total is None or isinstance(total, int)):
        raise _malformed(tenant, endpoint, "list", f"'totalCount' is {_kind_of(total)}")
    returned_page = body.get("page", page)
    if returned_page != page:
        raise _malformed(
            tenant, endpoint, "list", f"asked for page {page} but got page {returned_page!r}"
        )
    return ListPage(data, page, page_size, has_more, total)
