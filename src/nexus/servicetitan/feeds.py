"""The ServiceTitan feeds Nexus mirrors, declared once.

A feed is a kind of record with an export endpoint (the source of truth for
the mirror), a list endpoint (for reconciliation and lookups by id) and the
`titan` table it lands in. Paths are relative to ``{api_url}/{module}/v2/tenant/{tenant}/``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feed:
    name: str
    module: str
    list_path: str
    export_path: str | None
    table: str
    producer: str
    # The list endpoint's filter (name, value) that stops it hiding inactive rows.
    list_all_filter: tuple[str, str] | None = ("active", "Any")

    def path(self, tenant: int, tail: str) -> str:
        return f"/{self.module}/v2/tenant/{tenant}/{tail}"

    def export_url_path(self, tenant: int) -> str:
        if self.export_path is None:
            raise ValueError(f"{self.name} has no export endpoint")
        return self.path(tenant, self.export_path)

    def list_url_path(self, tenant: int) -> str:
        return self.path(tenant, self.list_path)

    def item_url_path(self, tenant: int, record_id: int) -> str:
        return self.path(tenant, f"{self.list_path}/{record_id}")


JOBS = Feed("jobs", "jpm", "jobs", "export/jobs", "titan.jobs", "job_sync", None)
INVOICES = Feed(
    "invoices",
    "accounting",
    "invoices",
    "export/invoices",
    "titan.invoices",
    "invoice_sync",
    ("activeState", "All"),
)
CUSTOMERS = Feed(
    "customers", "crm", "customers", "export/customers", "titan.customers", "customer_sync"
)
ESTIMATES = Feed(
    "estimates", "sales", "estimates", "estimates/export", "titan.estimates", "estimate_sync"
)
# Job types have no export endpoint; the small list is refreshed whole with jobs.
JOB_TYPES = Feed("job_types", "jpm", "job-types", None, "titan.job_types", "job_sync")

EXPORT_FEEDS: dict[str, Feed] = {f.name: f for f in (JOBS, INVOICES, CUSTOMERS, ESTIMATES)}
ALL_FEEDS: dict[str, Feed] = {**EXPORT_FEEDS, JOB_TYPES.name: JOB_TYPES}


def feed_named(name: str) -> Feed:
    try:
        return ALL_FEEDS[name]
    except KeyError:
        known = ", ".join(sorted(ALL_FEEDS))
        raise ValueError(f"unknown feed '{name}': choose one of {known}") from None
