"""A bare-bones ServiceTitan client for the simulator's tests (the real one lives elsewhere)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from nexus.simulator import Credentials, SimServer

START = datetime(2026, 4, 18, 2, 42, tzinfo=UTC)
TENANT = 1001

EXPORTS = {
    "jobs": f"/jpm/v2/tenant/{TENANT}/export/jobs",
    "invoices": f"/accounting/v2/tenant/{TENANT}/export/invoices",
    "customers": f"/crm/v2/tenant/{TENANT}/export/customers",
    "estimates": f"/sales/v2/tenant/{TENANT}/estimates/export",
}
LISTS = {
    "jobs": f"/jpm/v2/tenant/{TENANT}/jobs",
    "invoices": f"/accounting/v2/tenant/{TENANT}/invoices",
    "customers": f"/crm/v2/tenant/{TENANT}/customers",
    "estimates": f"/sales/v2/tenant/{TENANT}/estimates",
    "job_types": f"/jpm/v2/tenant/{TENANT}/job-types",
}
# The list parameter that makes each list endpoint return inactive rows too.
ALL_ROWS: dict[str, dict[str, str]] = {
    "jobs": {},
    "invoices": {"activeState": "All"},
    "customers": {"active": "Any"},
    "estimates": {"active": "Any"},
    "job_types": {"active": "Any"},
}


class StClient:
    """Fetch a token once and call the API with the headers ServiceTitan wants."""

    def __init__(self, server: SimServer, credentials: Credentials | None = None) -> None:
        self.credentials = credentials or Credentials()
        self.server = server
        self.http = httpx.Client(base_url=server.base_url, timeout=10)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def request_token(self, **overrides: str) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
            **overrides,
        }
        return self.http.post("/connect/token", data=form)

    def token(self, renew: bool = False) -> str:
        if self._token is None or renew:
            response = self.request_token()
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}", "ST-App-Key": self.credentials.app_key}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params, headers=self.headers())

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def export_all(
        self, feed: str, start: str | None = None
    ) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]], str]:
        """Follow continueFrom until hasMore is false; return rows by id, pages, last token."""
        rows: dict[int, dict[str, Any]] = {}
        pages = []
        token = start
        while True:
            params = {"from": token} if token else {}
            page = self.ok(EXPORTS[feed], **params)
            pages.append(page)
            for record in page["data"]:
                rows[record["id"]] = record
            token = page["continueFrom"]
            if not page["hasMore"]:
                return rows, pages, token

    def list_all(self, feed: str, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.ok(LISTS[feed], page=page, pageSize=5000, **params)
            out.extend(body["data"])
            if not body["hasMore"]:
                return out
            page += 1
