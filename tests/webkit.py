"""The web tests' helpers and fixtures: one replayed database per session, apps serving it.

The replay runs a short incident-shaped scenario (`scenario-web.yaml`) into a
database of its own on the session's Postgres server, so the per-test `db`
fixture (which empties its database) never touches it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from nexus.clock import VirtualClock
from nexus.registry.config import Config
from nexus.replay import run_replay
from nexus.scenario import load_scenario
from nexus.settings import Settings
from nexus.store.database import Database
from nexus.web import create_app
from nexus.web.site import Page
from once import replayed_once
from stsim import client, clock, make_sim, server, sim

__all__ = ["client", "clock", "make_sim", "server", "sim"]

HERE = Path(__file__).parent / "web"
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "web"
TENANT = 1001
TOKEN = "test-token-7c1f0e7a9b2d4e6f8a0b"
USER = "owner"
PASSWORD = "correct horse battery staple"
SECRET = "whsec-test-0123456789abcdef0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Replayed:
    db: Database
    until: datetime
    tenant: int
    proof: dict[str, Any]


def web_settings(**overrides: Any) -> Settings:
    """Settings with every credential the web needs; override any of them."""
    values: dict[str, Any] = {
        "web_token": SecretStr(TOKEN),
        "web_user": USER,
        "web_password": SecretStr(PASSWORD),
        "webhook_secret": SecretStr(SECRET),
        "st_tenant": TENANT,
        "metrics_open": False,
    }
    values.update(overrides)
    return Settings(**values)


def _sibling(url: str, name: str) -> str:
    """The URL of another database on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def replayed(
    pg_url: str, _migrated: Database, tmp_path_factory: pytest.TempPathFactory
) -> Replayed:
    """The web scenario replayed into its own database, once a run; read-only for the tests.

    (`_migrated` has made the server's roles, which a restored dump grants to.)
    """
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS nexus_web WITH (FORCE)")
        conn.execute("CREATE DATABASE nexus_web")
    db = Database(_sibling(pg_url, "nexus_web"))
    scenario = load_scenario(HERE / "scenario-web.yaml")

    def build() -> dict[str, Any]:
        db.upgrade()
        result = run_replay(scenario, db, step=timedelta(minutes=30))
        return result.proof.to_json()

    proof = replayed_once(tmp_path_factory, "web-replay", db.url, build)
    return Replayed(db, scenario.until, scenario.tenant, proof)


def replay_app(replayed: Replayed, **settings: Any) -> FastAPI:
    return create_app(
        web_settings(**settings),
        Config(),
        replayed.db,
        VirtualClock(replayed.until),
        tenants=[replayed.tenant],
    )


@pytest.fixture
def app(replayed: Replayed) -> FastAPI:
    return replay_app(replayed)


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    """The app over ASGI, without credentials (add headers or log in per test)."""
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


#: The name each declared page with a `{name}` in its path is shown for in the tests.
PAGE_EXAMPLES = {
    "/producers/{name}": "invoice_sync",
    "/products/{name}": "titan.jobs.invoice_total",
}


def shown_at(page: Page[Any]) -> list[str]:
    """Where `page` is read in the replayed incident: its path, named, then its aliases."""
    named = "{" in page.path
    assert not named or page.path in PAGE_EXAMPLES, (
        f"{page.path} has a name in its path: add the name to show it for to PAGE_EXAMPLES"
    )
    path = re.sub(r"\{\w+\}", PAGE_EXAMPLES.get(page.path, ""), page.path)
    return [path, *page.aliases]
