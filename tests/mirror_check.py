"""Compare the mirror with the simulated ServiceTitan's truth."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nexus.simulator import Simulator
from nexus.store.database import Database
from stsim import TENANT

FEEDS = ("jobs", "invoices", "customers", "estimates", "job_types")


def mirror(db: Database, table: str) -> dict[int, dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT id, raw FROM titan.{table} WHERE tenant_id = %s", (TENANT,)
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def truth(sim: Simulator, table: str) -> dict[int, dict[str, Any]]:
    tenant = sim.tenant(TENANT)
    return {
        "jobs": tenant.truth_jobs,
        "invoices": tenant.truth_invoices,
        "customers": tenant.truth_customers,
        "estimates": tenant.truth_estimates,
        "job_types": tenant.truth_job_types,
    }[table]()


def invoice_totals(db: Database) -> dict[int, Decimal]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, invoice_total FROM titan.jobs WHERE tenant_id = %s", (TENANT,)
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def assert_mirror_equals_truth(db: Database, sim: Simulator) -> None:
    for table in FEEDS:
        expected = truth(sim, table)
        got = mirror(db, table)
        assert got.keys() == expected.keys(), f"{table}: ids differ"
        different = [i for i in expected if got[i] != expected[i]]
        assert not different, f"{table}: {len(different)} records differ, e.g. id {different[:3]}"
    tenant = sim.tenant(TENANT)
    totals = invoice_totals(db)
    wrong = {j: t for j, t in totals.items() if t != tenant.job_invoice_total(j)}
    assert not wrong, f"invoice_total differs from the truth for jobs {sorted(wrong)[:5]}"
