"""Jobs sharing one created timestamp: the revenue check names that moment on the tenant's clock.

The jobs are loaded into the real mirror table; the proof is built as of a fixed
moment with a configuration declaring the tenant's zone, and read as JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nexus.clock import VirtualClock
from nexus.proof.service import current_proof
from nexus.registry.config import parse_config
from nexus.store.database import Database
from wallclock import wall

TENANT = 1001
NOW = datetime(2026, 4, 18, 2, 0, tzinfo=UTC)
#: The evening of Apr 11 in Chicago, the small hours of Apr 12 in Kolkata.
STAMP = datetime(2026, 4, 11, 20, 45, tzinfo=UTC)
ROWS = 150


@pytest.mark.parametrize("zone", ["America/Chicago", "Asia/Kolkata"])
def test_jobs_sharing_one_created_timestamp_name_it_on_the_tenants_wall_clock(
    db: Database, zone: str
) -> None:
    with db.connect() as conn:
        for job in range(1, ROWS + 1):
            conn.execute(
                "INSERT INTO titan.jobs (tenant_id, id, job_status, created_on, modified_on,"
                " raw, created_at, updated_at) VALUES (%s, %s, 'Scheduled', %s, %s, '{}', %s, %s)",
                (TENANT, job, STAMP, STAMP, *[STAMP + timedelta(minutes=1)] * 2),
            )
    config = parse_config(f'[[tenants]]\nid = {TENANT}\ntimezone = "{zone}"\n')
    proof = current_proof(db, config, TENANT, VirtualClock(NOW)).to_json()
    [alert] = [a for a in proof["alerts"] if a["check"] == "revenue_spike"]
    assert alert["label"] == "Mirror rows sharing one created timestamp"
    assert alert["measurement"]["counts"] == (
        f"{ROWS} of the {ROWS} jobs created within 12 h of {wall(STAMP, zone)} share that one "
        "created timestamp"
    )
