"""Migration 0008 gives rows loaded before it the typed columns their raw records carry."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from psycopg.types.json import Jsonb

from nexus.store.database import MIGRATIONS, Database


@pytest.fixture
def fresh(pg_url: str) -> Iterator[str]:
    """A database of its own on the test server, dropped afterwards."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS nexus_migration_test")
        conn.execute("CREATE DATABASE nexus_migration_test")
    url = urlsplit(pg_url)._replace(path="/nexus_migration_test").geturl()
    try:
        yield url
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS nexus_migration_test WITH (FORCE)")


def _upgrade(url: str, target: str) -> None:
    engine_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(engine_url, poolclass=NullPool)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS nexus")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def test_rows_from_before_the_catalog_get_their_new_columns_from_raw(fresh: str) -> None:
    _upgrade(fresh, "0007")
    raw = {
        "id": 5,
        "jobStatus": "Completed",
        "createdOn": "2026-04-01T08:00:00Z",
        "modifiedOn": "2026-04-02T08:00:00Z",
        "priority": "High",
        "campaignId": 20001,
        "notificationsEnabled": True,
        "jobGeneratedLeadSource": {"jobId": 4, "employeeId": None},
        "customerPo": 17,  # not text in the record: still read as text
        "appointmentCount": "two",  # not a number: left NULL rather than failing the upgrade
    }
    with psycopg.connect(fresh, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO titan.jobs (tenant_id, id, job_status, created_on, modified_on, raw,"
            " created_at, updated_at) VALUES (1, 5, 'Completed', now(), now(), %s, now(), now())",
            (Jsonb(raw),),
        )
    _upgrade(fresh, "head")
    with psycopg.connect(fresh) as conn:
        row = conn.execute(
            "SELECT priority, campaign_id, notifications_enabled,"
            " job_generated_lead_source_job_id, customer_po, appointment_count, scheduled_at"
            " FROM titan.jobs WHERE id = 5"
        ).fetchone()
    assert row == ("High", 20001, True, 4, "17", None, None)
    Database(fresh).ensure_schema()  # at head: nothing left to do
