"""A short soak: three tenants, two worker processes killed at random, ServiceTitan faults,
webhooks on, the default feed set; at the end nothing is lost and nothing ran twice.

`bench/soak.py` runs the same soak for a virtual day.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from soakkit import SoakPlan, run_soak

from nexus.store.database import Database

pytestmark = pytest.mark.slow


def test_a_soak_with_kills_and_faults_loses_nothing_and_runs_nothing_twice(
    db: Database, tmp_path: Path
) -> None:
    seed = int(os.environ.get("NEXUS_SOAK_SEED", "0")) or int.from_bytes(os.urandom(2))
    plan = SoakPlan(hours=1, seed=seed, kill_every_min=(3.0, 10.0), fault_every_min=(6.0, 20.0))
    report = run_soak(db, tmp_path, plan)
    print(report.summary())
    assert report.kills, "the soak killed no worker"
    assert not report.problems, f"seed {seed} (NEXUS_SOAK_SEED={seed} repeats it):\n" + (
        report.summary()
    )
    assert (report.lost, report.duplicates) == (0, 0)
