"""The `database` check: reachable, migrated to this Nexus's schema, and the write guard whole."""

from __future__ import annotations

from nexus.doctor.report import CheckReport, Installation
from nexus.store.guard import check_guard


def check(installation: Installation, report: CheckReport) -> None:
    """Check that the database answers, is migrated, and has its write guard installed."""
    db = installation.database()
    embedded = installation.settings().database_url is None
    report.passed.append(
        f"reachable at {db.safe_url}" + (" (the embedded server)" if embedded else "")
    )
    installation.migrated()
    report.passed.append(f"schema at revision {db.head_revision()}, the one this Nexus needs")
    guard = check_guard(db)
    report.passed += [what for ok, what in guard.checks if ok]
    if guard.superuser and not embedded:
        report.notes.append(guard.notes[-1])  # on a shared server, that defeats the guard
    for fix in guard.fixes:
        report.problem(
            "guard",
            f"write guard: {fix.problem} — run `nexus db guard` for the SQL that fixes it "
            f"(to be run by {fix.run_by})",
        )
