"""`[web] public_url`: behind a TLS-terminating proxy, the session cookie is still Secure."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nexus.clock import VirtualClock
from nexus.errors import ConfigError
from nexus.registry.config import default_config_text, parse_config
from nexus.store.database import Database
from nexus.web.app import create_app
from stsim import START
from webkit import PASSWORD, USER, web_settings


def session_cookie(db: Database, toml: str) -> str:
    app = create_app(web_settings(), parse_config(toml), db, VirtualClock(START), tenants=[1001])
    # The proxy speaks plain HTTP to Nexus: the request Nexus sees is http://.
    with TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False) as web:
        response = web.post("/login", data={"user": USER, "password": PASSWORD})
    assert response.status_code == 303
    return response.headers["set-cookie"]


def test_an_https_public_url_marks_the_session_cookie_secure(db: Database) -> None:
    cookie = session_cookie(db, '[web]\npublic_url = "https://nexus.example.com"\n')
    assert "; Secure" in cookie
    assert "HttpOnly" in cookie


def test_without_a_public_url_plain_http_gets_a_cookie_it_can_send_back(db: Database) -> None:
    assert "Secure" not in session_cookie(db, "")


def test_a_public_url_that_is_not_an_address_is_named_with_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[web]\npublic_url = "nexus.example.com"\n')
    assert str(caught.value) == (
        "nexus.toml:2: web: public_url 'nexus.example.com' is not an http(s) address — "
        'write e.g. public_url = "https://nexus.example.com"'
    )


def test_the_default_file_documents_web_public_url() -> None:
    assert '# public_url = "https://nexus.example.com"' in default_config_text()
