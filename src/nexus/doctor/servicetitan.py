"""The `servicetitan` check: each tenant's credentials get a token and read every enabled feed.

One page of each feed is read, as a sync would read it (the export; a reference
list's first page), so a module the app may not read shows up here, with the fix,
before a sync fails on it. A failing request is tried twice, not the usual six
times with backoff: the doctor answers now.
"""

from __future__ import annotations

from nexus.catalog import FEEDS
from nexus.doctor.report import CheckReport, Installation
from nexus.servicetitan import ServiceTitanClient
from nexus.servicetitan.errors import ServiceTitanError
from nexus.tenants import client_for, require_credentials

ATTEMPTS = 2


def check(installation: Installation, report: CheckReport) -> None:
    """Check that ServiceTitan issues a token and one page of each mirrored feed can be read."""
    settings = installation.settings()
    settings = settings.model_copy(
        update={"st_max_attempts": min(ATTEMPTS, settings.st_max_attempts)}
    )
    feeds = installation.config().enabled_feeds
    for tenant, credentials in require_credentials(installation.tenants(), settings).items():
        with client_for(settings, credentials) as client:
            try:
                client.auth.token()
            except ServiceTitanError as exc:
                report.problem(type(exc).__name__, str(exc), source=credentials.source)
                continue
            report.passed.append(
                f"tenant {tenant}: ServiceTitan issued a token for {credentials.source}"
            )
            unread = [name for name in feeds if not _read_one_page(client, name, report)]
            if not unread:
                report.passed.append(
                    f"tenant {tenant}: read one page of each of the {len(feeds)} mirrored feeds"
                )


def _read_one_page(client: ServiceTitanClient, name: str, report: CheckReport) -> bool:
    feed = FEEDS[name]
    try:
        if feed.reference:
            next(iter(client.list_pages(feed, page_size=1)))
        else:
            next(iter(client.export_pages(feed)))
    except ServiceTitanError as exc:
        report.problem(type(exc).__name__, f"feed {name}: {exc}")
        return False
    return True
