"""The ServiceTitan API client: authenticated, rate-limited, retried reads.

Every request carries `ST-App-Key` and a bearer token, passes the client-side
rate limiter, and is retried on `RetriableAPIError` with capped, jittered
exponential backoff — or exactly `Retry-After` on a 429. Nothing from httpx
escapes: failures arrive as the `nexus.servicetitan.errors` tree.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.cookiejar import CookieJar
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from nexus.retrying import retried_after
from nexus.servicetitan.auth import TokenProvider
from nexus.servicetitan.errors import (
    FatalAPIError,
    MalformedPageError,
    RateLimited,
    RetriableAPIError,
    describe_body,
    endpoint_of,
    error_for_response,
    error_for_transport,
)
from nexus.servicetitan.feeds import INVOICES, Feed
from nexus.servicetitan.pages import ExportPage, ListPage, parse_export_page, parse_list_page
from nexus.servicetitan.ratelimit import RateLimiter
from nexus.settings import Settings

log = logging.getLogger(__name__)

# ServiceTitan's `ids` filter takes at most 50 ids.
IDS_PER_REQUEST = 50
# Backoff between attempts: 1, 2, 4, 8 … seconds plus up to 1 s of jitter,
# never more than a minute.
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 60.0
# Retry-After is honoured exactly up to this; a longer one is cut short so a
# single run cannot hang for hours on one odd header.
MAX_RETRY_AFTER = 600.0


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing a response sets."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.Client):
    """httpx's client, keeping no cookie between requests.

    ServiceTitan authenticates every request by its bearer token and app key, and
    none of its answers depends on a cookie; yet httpx copies each response's
    headers into urllib's cookie machinery, about a tenth of the client's time
    for a small request.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(
        self, cookies: httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]] | None
    ) -> None:
        self._no_cookies = _NoCookies(cookies)


class ServiceTitanClient:
    """Read one ServiceTitan tenant over its v2 API; use as a context manager.

    `sleep` waits between attempts and `monotonic` times token expiry; tests
    inject both. `limiter` replaces the default `RateLimiter(rate_limit)`,
    which runs on real time so that an injected sleep cannot skew it.
    """

    def __init__(
        self,
        *,
        api_url: str,
        auth_url: str,
        tenant: int,
        client_id: str,
        client_secret: SecretStr,
        app_key: SecretStr,
        rate_limit: float = 20.0,
        timeout: float = 100.0,
        max_attempts: int = 6,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        limiter: RateLimiter | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.tenant = tenant
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._app_key = app_key
        self._client_secret = client_secret
        self._sleep = sleep
        self._host = urlsplit(api_url).netloc
        self._api_url = api_url.rstrip("/")
        # Connecting should be quick even when answers are slow (up to 100 s).
        self._http = _CookielessClient(
            base_url=api_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "nexus-mirror"},
        )
        self.auth = TokenProvider(
            http=self._http,
            auth_url=auth_url,
            tenant=tenant,
            client_id=client_id,
            client_secret=client_secret,
            timeout=timeout,
            monotonic=monotonic,
        )
        self.limiter = limiter or RateLimiter(rate_limit)
        self._count_lock = threading.Lock()
        self.api_calls = 0
        self.calls_by_path: Counter[str] = Counter()

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceTitanClient:
        """Build a client from `NEXUS_ST_*` settings; say which are missing."""
        tenant, client_id, client_secret, app_key = settings.require_st_credentials()
        return cls(
            api_url=settings.st_api_url,
            auth_url=settings.st_auth_url,
            tenant=tenant,
            client_id=client_id,
            client_secret=client_secret,
            app_key=app_key,
            rate_limit=settings.st_rate_limit,
            timeout=settings.st_timeout,
            max_attempts=settings.st_max_attempts,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ServiceTitanClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- feeds -------------------------------------------------------------

    def export_pages(
        self,
        feed: Feed,
        continue_from: str | None = None,
        *,
        include_recent_changes: bool = False,
    ) -> Iterator[ExportPage]:
        """Yield export pages from `continue_from` until ServiceTitan says there is no more.

        Save each page's `continue_from` only after loading its data.
        """
        path = feed.export_url_path(self.tenant)
        token = continue_from
        while True:
            params: dict[str, str] = {}
            if token is not None:
                params["from"] = token
            if include_recent_changes:
                params["includeRecentChanges"] = "true"
            body = self.get_json(path, params)
            page = parse_export_page(
                body, tenant=self.tenant, endpoint=endpoint_of("GET", path), requested_from=token
            )
            yield page
            if not page.has_more:
                return
            token = page.continue_from

    def reference_pages(self, feed: Feed) -> Iterator[ListPage]:
        """A reference list as its reload reads it: every page, inactive rows included."""
        return self.list_pages(feed, page_size=5000, all_states=True)

    def list_pages(
        self,
        feed: Feed,
        *,
        page_size: int = 5000,
        all_states: bool = True,
        **filters: str,
    ) -> Iterator[ListPage]:
        """Yield list pages from page 1 until `hasMore` is false.

        With `all_states`, the feed's filter that includes inactive rows is
        added unless `filters` sets that parameter itself.
        """
        if not 1 <= page_size <= 5000:
            raise ValueError(f"page_size must be 1–5000, got {page_size}")
        path = feed.list_url_path(self.tenant)
        params = dict(filters)
        if all_states and feed.list_all_filter is not None:
            name, value = feed.list_all_filter
            params.setdefault(name, value)
        number = 1
        while True:
            body = self.get_json(
                path,
                {**params, "page": str(number), "pageSize": str(page_size), "includeTotal": "true"},
            )
            page = parse_list_page(
                body, tenant=self.tenant, endpoint=endpoint_of("GET", path), page=number
            )
            yield page
            if not page.has_more:
                return
            number += 1

    def newest_change(self, feed: Feed) -> dict[str, Any] | None:
        """Return the record ServiceTitan changed last, in any state; None when it holds none.

        One list request for one record sorted newest first (`feed.newest_first`),
        without asking for the total: a real tenant counts millions of jobs slowly.
        """
        if feed.newest_first is None:
            raise ValueError(f"{feed.name}'s list cannot be sorted by its modified time")
        path = feed.list_url_path(self.tenant)
        params = {"sort": feed.newest_first, "page": "1", "pageSize": "1"}
        if feed.list_all_filter is not None:
            name, value = feed.list_all_filter
            params[name] = value
        page = parse_list_page(
            self.get_json(path, params),
            tenant=self.tenant,
            endpoint=endpoint_of("GET", path),
            page=1,
        )
        return page.data[0] if page.data else None

    def get_by_ids(self, feed: Feed, ids: Iterable[int]) -> list[dict[str, Any]]:
        """Return the records with these ids, in any state.

        A list endpoint that takes `ids` is read 50 ids per request; otherwise
        each id is read from the by-id endpoint, and an id ServiceTitan does not
        know is left out (as the list leaves it out).
        """
        unique = list(dict.fromkeys(ids))
        records: list[dict[str, Any]] = []
        if "ids" not in feed.list_filters:
            if feed.by_id_path is None:
                raise ValueError(f"{feed.name} cannot be read by id: it has no list or by-id path")
            for record_id in unique:
                try:
                    record = self.get_json(feed.item_url_path(self.tenant, record_id), {})
                except FatalAPIError as exc:
                    if exc.status == 404:
                        continue
                    raise
                if isinstance(record, dict):
                    records.append(record)
            return records
        for start in range(0, len(unique), IDS_PER_REQUEST):
            chunk = ",".join(str(i) for i in unique[start : start + IDS_PER_REQUEST])
            for page in self.list_pages(feed, page_size=IDS_PER_REQUEST, ids=chunk):
                records.extend(page.data)
        return records

    def invoices_for_job(self, job_id: int) -> list[dict[str, Any]]:
        """Return every invoice of one job, including inactive ones."""
        return [
            record for page in self.list_pages(INVOICES, jobId=str(job_id)) for record in page.data
        ]

    # -- requests ----------------------------------------------------------

    def get_json(self, path: str, params: Mapping[str, str]) -> Any:
        """GET `path` (relative to the API URL) and return its parsed JSON body."""
        endpoint = endpoint_of("GET", path)
        attempts = 0

        def attempt() -> bytes:
            nonlocal attempts
            attempts += 1
            return self._get_once(path, params, endpoint)

        try:
            try:
                content = attempt()  # the retry policy is built only once it is needed
            except RetriableAPIError as failure:
                content = retried_after(failure, self._retrying(), attempt)
        except RetriableAPIError as exc:
            exc.note_attempts(attempts)
            raise
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            raise MalformedPageError(
                f"{endpoint} answered 200 with a body that is not JSON "
                f"({describe_body(content, None, self._secrets())})",
                fix="check NEXUS_ST_API_URL points at the ServiceTitan API",
                tenant=self.tenant,
                endpoint=endpoint,
                status=200,
            ) from None

    def _retrying(self) -> Retrying:
        """The retry policy of a request: `max_attempts`, backoff or Retry-After, logged."""
        return Retrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(RetriableAPIError),
            before_sleep=self._log_retry,
            reraise=True,
        )

    def _get_once(self, path: str, params: Mapping[str, str], endpoint: str) -> bytes:
        token = self.auth.token()
        response = self._send(path, params, endpoint, token)
        if response.status_code == 401:
            # The token may have been revoked or expired early: renew once.
            log.info("tenant %s: %s answered 401; renewing the token", self.tenant, endpoint)
            token = self.auth.renew(rejected=token)
            response = self._send(path, params, endpoint, token)
        if response.is_success:
            return response.content
        raise error_for_response(
            tenant=self.tenant,
            endpoint=endpoint,
            status=response.status_code,
            headers=response.headers,
            body=response.content,
            reason=response.reason_phrase,
            secrets=self._secrets(),
        )

    def _send(
        self, path: str, params: Mapping[str, str], endpoint: str, token: str
    ) -> httpx.Response:
        self.limiter.acquire()
        with self._count_lock:
            self.api_calls += 1
            self.calls_by_path[path] += 1
        # One absolute URL, encoded once: httpx would parse a relative one and its
        # params three times, which costs more than the rest of a small request.
        url = self._api_url + path + ("?" + urlencode(params) if params else "")
        try:
            return self._http.get(
                url,
                headers={
                    "Authorization": f"Bearer {token}",
                    "ST-App-Key": self._app_key.get_secret_value(),
                },
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise error_for_transport(
                exc,
                tenant=self.tenant,
                endpoint=endpoint,
                host=self._host,
                timeout=self.timeout,
                secrets=self._secrets(),
            ) from None

    def _secrets(self) -> list[str]:
        return [
            self._app_key.get_secret_value(),
            self._client_secret.get_secret_value(),
            *self.auth.recent_tokens(),
        ]

    _backoff = wait_exponential_jitter(initial=BACKOFF_INITIAL, max=BACKOFF_MAX, jitter=1.0)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER)
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.upcoming_sleep
        if isinstance(exc, RetriableAPIError):
            log.warning(
                "%s; retrying in %.1f s (attempt %d of %d)",
                exc,
                wait,
                state.attempt_number,
                self.max_attempts,
                extra={
                    "tenant": self.tenant,
                    "endpoint": exc.endpoint,
                    "status": exc.status,
                    "attempt": state.attempt_number,
                },
            )
