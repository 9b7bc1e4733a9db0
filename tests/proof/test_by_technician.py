"""Invoice coverage by technician: one alert for the slice, noise on small samples.

Jobs, technicians and their assignments are loaded into the real mirror tables;
the proof is built from them as of a fixed moment and read as JSON (validated
against the schema).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nexus.clock import VirtualClock
from nexus.proof.service import current_proof
from nexus.registry.config import Config
from nexus.registry.ownership import retire
from nexus.store.database import Database

TENANT = 1001
NOW = datetime(2026, 4, 18, 2, 0, tzinfo=UTC)
MIN_N = Config().checks.invoice_coverage.min_n


def load(db: Database, crew: dict[str, tuple[int, int]]) -> None:
    """Per technician name: (jobs completed three days ago, how many of them are at $0)."""
    done = NOW - timedelta(days=3)
    job = 0
    with db.connect() as conn:
        for number, (name, (n, k)) in enumerate(crew.items(), start=1):
            technician = 40_000 + number
            conn.execute(
                "INSERT INTO titan.technicians (tenant_id, id, name, active, created_on,"
                " modified_on, raw, created_at, updated_at)"
                " VALUES (%s, %s, %s, true, %s, %s, '{}', %s, %s)",
                (TENANT, technician, name, *[done - timedelta(days=60)] * 4),
            )
            for i in range(n):
                job += 1
                # Each job booked and finished at its own time, as real work is.
                booked = done - timedelta(hours=4, minutes=job)
                conn.execute(
                    "INSERT INTO titan.jobs (tenant_id, id, job_status, completed_on,"
                    " created_on, modified_on, invoice_total, raw, created_at, updated_at)"
                    " VALUES (%s, %s, 'Completed', %s, %s, %s, %s, '{}', %s, %s)",
                    (TENANT, job, done, booked, booked, 0 if i < k else 380, done, done),
                )
                conn.execute(
                    "INSERT INTO titan.appointment_assignments (tenant_id, id, technician_id,"
                    " technician_name, job_id, active, created_on, modified_on, raw,"
                    " created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, true, %s, %s, '{}', %s, %s)",
                    (TENANT, 900_000 + job, technician, name, job, *[done] * 4),
                )


def proof_json(db: Database) -> dict[str, Any]:
    return current_proof(db, Config(), TENANT, VirtualClock(NOW)).to_json()


def slice_alerts(proof: dict[str, Any]) -> list[dict[str, Any]]:
    """The slice's alerts: its verdict, then the noise beside it, whichever there are."""
    return [a for a in proof["alerts"] if a["check"] == "invoice_coverage_by_technician"]


def slice_alert(proof: dict[str, Any]) -> dict[str, Any]:
    [alert] = slice_alerts(proof)
    return alert


def noise_line(label: str, technician: dict[str, Any]) -> str:
    """The story's sentence on a technician's rate that is too few jobs to judge."""
    low, rate, high = (f"{technician[k] * 100:.0f} %" for k in ("ci_low", "rate", "ci_high"))
    return (
        f"{label} is noise for {technician['name']}: {technician['k']} of {technician['n']} "
        f"completed chargeable jobs without a total ({rate}, 95 % CI {low}–{high}) are too few "
        f"to judge anyone on (minimum {MIN_N}). The tenant-wide invoice coverage is the "
        "measurement to read."
    )


def technician(proof: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in proof["coverage_by_technician"] if s["name"] == name)


def test_every_technician_on_a_few_jobs_is_noise_not_a_warning(db: Database) -> None:
    # 6 of 8 jobs at $0 is the incident's "techs not closing jobs" — on 8 jobs.
    load(db, {"Ana Reyes": (8, 6), "Bo Chen": (7, 1), "Cy Park": (9, 2), "Di Moss": (6, 0)})
    proof = proof_json(db)
    alert = slice_alert(proof)
    assert (alert["status"], alert["severity"]) == ("insufficient_data", "info")
    assert alert["grouped_under"] is None and alert["probable_cause"]["kind"] == "none_found"
    assert alert["questions"]["sample_sufficient"] is False
    # The busiest technician is shown, with the minimum every technician falls short of.
    assert (alert["measurement"]["n"], alert["measurement"]["k"]) == (9, 2)
    assert f"every technician has n < {MIN_N}" in alert["measurement"]["counts"]
    slices = {s["name"]: s for s in proof["coverage_by_technician"]}
    assert {name: (s["n"], s["k"]) for name, s in slices.items()} == {
        "Ana Reyes": (8, 6),
        "Bo Chen": (7, 1),
        "Cy Park": (9, 2),
        "Di Moss": (6, 0),
    }
    assert all(s["status"] == "insufficient_data" for s in slices.values())
    assert slices["Ana Reyes"]["ci_low"] < 0.5 < slices["Ana Reyes"]["ci_high"]
    assert proof["verdict"] != "warning" and not proof["causes"]
    [noise] = [line for line in proof["story"] if "no technician can be blamed" in line]
    assert "each of the 4 technicians has fewer than" in noise and "Cy Park, has n=9" in noise
    assert "tenant-wide invoice coverage is the measurement to read" in noise


def test_the_highest_rate_on_an_apprentices_few_jobs_is_noise_beside_a_crew_with_enough(
    db: Database,
) -> None:
    # Three full-timers within the threshold on enough jobs; the apprentice's 3 of 5 (60 %)
    # is the rate a per-technician table would shout about — on five jobs.
    load(db, {"Ana Reyes": (30, 4), "Bo Chen": (28, 3), "Cy Park": (25, 3), "Sam Lee": (5, 3)})
    proof = proof_json(db)
    alert = slice_alert(proof)
    assert (alert["status"], alert["severity"]) == ("insufficient_data", "info")
    assert alert["grouped_under"] is None and alert["probable_cause"]["kind"] == "none_found"
    assert (alert["measurement"]["n"], alert["measurement"]["k"]) == (5, 3)
    assert alert["measurement"]["counts"] == (
        f"completed jobs without an invoice total by Sam Lee, 3 of 5 — noise: n=5 < {MIN_N}"
    )
    assert alert["questions"]["sample_sufficient"] is False
    assert alert["questions"]["evidence"]["sample_sufficient"] == (
        f"Sam Lee has n=5 completed chargeable jobs; the minimum is {MIN_N}"
    )
    statuses = {s["name"]: s["status"] for s in proof["coverage_by_technician"]}
    assert statuses == {
        "Ana Reyes": "ok",
        "Bo Chen": "ok",
        "Cy Park": "ok",
        "Sam Lee": "insufficient_data",
    }
    sam = technician(proof, "Sam Lee")
    assert (sam["n"], sam["k"], sam["rate"]) == (5, 3, 0.6)
    assert noise_line(alert["label"], sam) in proof["story"]
    assert proof["verdict"] != "warning"


def test_a_few_jobs_within_the_threshold_beside_a_crew_with_enough_say_nothing(
    db: Database,
) -> None:
    # Nobody is past the threshold, not even on a point estimate: no alert at all.
    load(db, {"Ana Reyes": (30, 2), "Bo Chen": (28, 1), "Sam Lee": (5, 0)})
    proof = proof_json(db)
    assert not [a for a in proof["alerts"] if a["check"] == "invoice_coverage_by_technician"]


def test_one_technician_with_enough_jobs_and_a_high_gap_is_a_warning_naming_them(
    db: Database,
) -> None:
    # The tenant as a whole is within its threshold; one technician's jobs are not, beyond
    # doubt (12 of 24, 95 % CI from 31 %), while 4 of 22 (18 %, CI from 7 %) is only chance.
    load(
        db,
        {
            "Ana Reyes": (24, 12),
            "Bo Chen": (60, 0),
            "Cy Park": (60, 1),
            "Di Moss": (5, 5),
            "Ed Nash": (22, 4),
        },
    )
    proof = proof_json(db)
    assert proof["coverage"]["status"] == "ok"
    alert, noise = slice_alerts(proof)
    assert alert["severity"] == "warning" and alert["status"] == "warning"
    assert "by Ana Reyes, the worst of 5 technicians" in alert["measurement"]["counts"]
    assert (alert["measurement"]["n"], alert["measurement"]["k"]) == (24, 12)
    assert alert["questions"]["sample_sufficient"] is True
    assert alert["grouped_under"] is None
    assert proof["verdict"] == "warning"
    # Di Moss's 5 of 5 is too few jobs to judge: not the one named, but noise beside it.
    assert (noise["status"], noise["severity"], noise["grouped_under"]) == (
        "insufficient_data",
        "info",
        None,
    )
    assert noise["measurement"]["counts"] == (
        f"completed jobs without an invoice total by Di Moss, 5 of 5 — noise: n=5 < {MIN_N}"
    )
    assert noise_line(noise["label"], technician(proof, "Di Moss")) in proof["story"]
    statuses = {s["name"]: s["status"] for s in proof["coverage_by_technician"]}
    assert statuses == {
        "Ana Reyes": "warning",
        "Bo Chen": "ok",
        "Cy Park": "ok",
        "Di Moss": "insufficient_data",
        "Ed Nash": "ok",
    }
    assert any("Ana Reyes" in line and "warning" in line for line in proof["story"])
    assert "nexus diagnose invoices --sample 30" in [a["command"] for a in proof["actions"]]


def test_under_a_retired_invoice_sync_the_slice_is_a_symptom_of_that_cause(db: Database) -> None:
    load(db, {"Ana Reyes": (40, 30), "Bo Chen": (40, 28), "Cy Park": (4, 4)})
    with db.connect(autocommit=True) as conn:
        retire(
            conn,
            Config(),
            "invoice_sync",
            reason="quarantined script",
            actor="ops",
            now=NOW - timedelta(days=6),
            force=True,
        )
    proof = proof_json(db)
    coverage = next(a for a in proof["alerts"] if a["check"] == "invoice_coverage")
    alert, noise = slice_alerts(proof)
    assert (coverage["severity"], alert["severity"]) == ("critical", "warning")
    # One group: the retirement, led by the tenant-wide gap, with the slice under it.
    [group] = [c for c in proof["causes"] if c["kind"] == "producer_retired"]
    assert (group["producer"], group["primary"]) == ("invoice_sync", "invoice_coverage")
    assert coverage["grouped_under"] == alert["grouped_under"] == proof["causes"].index(group)
    assert group["alerts"] == [coverage["label"], alert["label"]]
    assert any(
        "symptoms of this cause" in line and alert["label"] in line for line in proof["story"]
    )
    assert not any("no technician can be blamed" in line for line in proof["story"])
    # Cy Park's 4 of 4 is noise beside the symptom, explained by nothing but chance.
    assert (noise["status"], noise["grouped_under"]) == ("insufficient_data", None)
    assert noise["probable_cause"]["kind"] == "none_found"
    assert noise_line(noise["label"], technician(proof, "Cy Park")) in proof["story"]


def test_a_small_slice_under_a_retired_invoice_sync_stays_noise(db: Database) -> None:
    load(db, {"Ana Reyes": (12, 9), "Bo Chen": (11, 8), "Cy Park": (10, 7)})
    with db.connect(autocommit=True) as conn:
        retire(
            conn,
            Config(),
            "invoice_sync",
            reason="quarantined script",
            actor="ops",
            now=NOW - timedelta(days=6),
            force=True,
        )
    proof = proof_json(db)
    coverage = next(a for a in proof["alerts"] if a["check"] == "invoice_coverage")
    alert = slice_alert(proof)
    assert coverage["severity"] == "critical" and coverage["grouped_under"] is not None
    assert alert["status"] == "insufficient_data" and alert["grouped_under"] is None
    [group] = [c for c in proof["causes"] if c["kind"] == "producer_retired"]
    assert alert["label"] not in group["alerts"]
    assert any("no technician can be blamed" in line for line in proof["story"])
