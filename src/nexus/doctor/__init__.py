"""`nexus doctor`: check a Nexus installation end to end, one check at a time.

Each check is one module with one function, in the order they depend on each
other; `run_doctor` runs all of them or the ones named. A problem says what
failed, where and the fix; `nexus doctor` exits 1 when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from nexus.doctor import config, database, notify, schedules, servicetitan
from nexus.doctor.report import Blocked, CheckReport, DoctorReport, Installation
from nexus.errors import NexusError

__all__ = ["CHECKS", "CheckReport", "DoctorReport", "Installation", "run_doctor"]

Check = Callable[[Installation, CheckReport], None]

#: Every check, by the name `nexus doctor NAME` runs it under.
CHECKS: dict[str, Check] = {
    "config": config.check,
    "database": database.check,
    "servicetitan": servicetitan.check,
    "schedules": schedules.check,
    "notify": notify.check,
}


def run_doctor(installation: Installation, names: Iterable[str] | None = None) -> DoctorReport:
    """Run the checks named (all of them by default), in their order."""
    wanted = set(CHECKS if names is None else names)
    unknown = wanted - set(CHECKS)
    if unknown:
        raise ValueError(f"no doctor check named {sorted(unknown)}; the checks: {list(CHECKS)}")
    reports = []
    for name, check in CHECKS.items():
        if name not in wanted:
            continue
        report = CheckReport(check=name)
        installation.check = name
        try:
            check(installation, report)
        except Blocked as exc:
            report.skipped = str(exc)
        except NexusError as exc:
            for line in str(exc).splitlines():  # one problem a line, as ConfigFileError lists
                report.problem(type(exc).__name__, line)
        reports.append(report)
    return DoctorReport(checks=reports)
