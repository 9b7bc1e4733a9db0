"""The ServiceTitan API client: auth, rate limit, retries, export and list feeds."""

from nexus.servicetitan.auth import TokenProvider
from nexus.servicetitan.client import ServiceTitanClient
from nexus.servicetitan.errors import (
    AuthError,
    FatalAPIError,
    MalformedPageError,
    RateLimited,
    RetriableAPIError,
    ServiceTitanError,
    Unreachable,
    describe_body,
)
from nexus.servicetitan.feeds import ALL_FEEDS, EXPORT_FEEDS, Feed, feed_named
from nexus.servicetitan.pages import ExportPage, ListPage
from nexus.servicetitan.ratelimit import RateLimiter

__all__ = [
    "ALL_FEEDS",
    "EXPORT_FEEDS",
    "AuthError",
    "ExportPage",
    "FatalAPIError",
    "Feed",
    "ListPage",
    "MalformedPageError",
    "RateLimited",
    "RateLimiter",
    "RetriableAPIError",
    "ServiceTitanClient",
    "ServiceTitanError",
    "TokenProvider",
    "Unreachable",
    "describe_body",
    "feed_named",
]
