"""The catalog's feeds as the client sees them: endpoints to read (see `nexus.catalog`)."""

from __future__ import annotations

from collections.abc import Mapping

from nexus.catalog import FEEDS, Feed, feed_named

__all__ = ["ALL_FEEDS", "EXPORT_FEEDS", "Feed", "feed_named"]

ALL_FEEDS: Mapping[str, Feed] = FEEDS
#: the feeds with an export endpoint (every feed but the reference lists)
EXPORT_FEEDS: Mapping[str, Feed] = {n: f for n, f in FEEDS.items() if not f.reference}

JOBS = FEEDS["jobs"]
INVOICES = FEEDS["invoices"]
CUSTOMERS = FEEDS["customers"]
ESTIMATES = FEEDS["estimates"]
JOB_TYPES = FEEDS["job_types"]
