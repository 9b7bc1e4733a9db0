"""Per-tenant credentials: the tenant's own pair, else the global pair; errors name variables."""

from __future__ import annotations

import pytest

from nexus.errors import ConfigError
from nexus.registry.config import parse_config
from nexus.settings import Settings
from nexus.tenants import credentials_for, require_credentials, tenant_ids


def settings(**values: object) -> Settings:
    base: dict[str, object] = {
        "st_client_id": None,
        "st_client_secret": None,
        "st_app_key": "app-key-value",
        "st_tenant": None,
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def test_a_tenant_pair_wins_over_the_global_pair() -> None:
    env = {"NEXUS_ST_1002_CLIENT_ID": "id-1002", "NEXUS_ST_1002_CLIENT_SECRET": "secret-1002"}
    found = credentials_for(
        1002, settings(st_client_id="global-id", st_client_secret="global-secret"), env
    )
    assert (found.client_id, found.client_secret.get_secret_value()) == ("id-1002", "secret-1002")
    assert found.app_key.get_secret_value() == "app-key-value"
    assert found.source == "NEXUS_ST_1002_CLIENT_ID and NEXUS_ST_1002_CLIENT_SECRET"


def test_without_a_pair_of_its_own_a_tenant_uses_the_global_pair() -> None:
    found = credentials_for(
        1001, settings(st_client_id="global-id", st_client_secret="global-secret"), {}
    )
    assert (found.client_id, found.client_secret.get_secret_value()) == (
        "global-id",
        "global-secret",
    )


def test_half_a_tenant_pair_is_refused_rather_than_mixed_with_the_global_secret() -> None:
    env = {"NEXUS_ST_1002_CLIENT_ID": "id-1002"}
    with pytest.raises(ConfigError) as caught:
        credentials_for(
            1002, settings(st_client_id="global-id", st_client_secret="global-secret"), env
        )
    assert str(caught.value) == (
        "tenant 1002: ServiceTitan credentials are not set: export NEXUS_ST_1002_CLIENT_SECRET"
    )


def test_every_missing_variable_of_every_tenant_is_named_and_no_value_is_shown() -> None:
    env = {"NEXUS_ST_1003_CLIENT_ID": "id-1003", "NEXUS_ST_1003_CLIENT_SECRET": "secret-1003"}
    with pytest.raises(ConfigError) as caught:
        require_credentials([1001, 1002, 1003], settings(st_app_key=None), env)
    assert str(caught.value).splitlines() == [
        "tenant 1001: ServiceTitan credentials are not set: export NEXUS_ST_1001_CLIENT_ID"
        " (or NEXUS_ST_CLIENT_ID for every tenant), NEXUS_ST_1001_CLIENT_SECRET"
        " (or NEXUS_ST_CLIENT_SECRET for every tenant), NEXUS_ST_APP_KEY",
        "tenant 1002: ServiceTitan credentials are not set: export NEXUS_ST_1002_CLIENT_ID"
        " (or NEXUS_ST_CLIENT_ID for every tenant), NEXUS_ST_1002_CLIENT_SECRET"
        " (or NEXUS_ST_CLIENT_SECRET for every tenant), NEXUS_ST_APP_KEY",
        "tenant 1003: ServiceTitan credentials are not set: export NEXUS_ST_APP_KEY",
    ]
    assert "secret-1003" not in str(caught.value) and "id-1003" not in str(caught.value)


def test_empty_variables_count_as_unset() -> None:
    env = {"NEXUS_ST_1001_CLIENT_ID": "", "NEXUS_ST_1001_CLIENT_SECRET": ""}
    found = credentials_for(1001, settings(st_client_id="g", st_client_secret="s"), env)
    assert found.client_id == "g"
    with pytest.raises(ConfigError, match="NEXUS_ST_APP_KEY"):
        credentials_for(1001, settings(st_client_id="g", st_client_secret="s", st_app_key=""), {})


def test_tenants_come_from_the_configuration_else_from_nexus_st_tenant() -> None:
    declared = parse_config("[[tenants]]\nid = 1001\n\n[[tenants]]\nid = 1002\n")
    assert tenant_ids(declared, settings(st_tenant=9)) == [1001, 1002]
    assert tenant_ids(parse_config(""), settings(st_tenant=9)) == [9]
    with pytest.raises(
        ConfigError, match=r"declare \[\[tenants\]\] in nexus.toml .* NEXUS_ST_TENANT"
    ):
        tenant_ids(parse_config(""), settings())
