"""Schedule hygiene against real files: crontabs and units from tests/registry/fixtures.

The fixtures name files under @ROOT@; each test builds that tree in tmp_path
with real permissions, so "missing" and "not executable" are true facts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nexus.errors import ConfigError
from nexus.registry.config import load_config, parse_config
from nexus.registry.hygiene import (
    CommandPath,
    Finding,
    check_schedules,
    command_paths,
    exec_start_paths,
    parse_cron_line,
    read_crontab,
    render_findings,
)

FIXTURES = Path(__file__).parent / "fixtures"

EXECUTABLE = [
    "opt/titan/titan_sync_daemon.py",
    "opt/titan/titan_invoice_sync.py",
    "opt/titan/titan_killer.py",
    "opt/zeus/st_enforce.sh",
    "opt/zeus/ai_intake.sh",
    "opt/zeus/anomaly_log.sh",
    "opt/titan/purgatory/st_data_fixer_v1.py",
    "opt/titan/one_time_migrations/nexus_titan_migration.py",
]
PLAIN = [  # scripts run through an interpreter need no execute bit
    "opt/zeus/ad_throttler.sh",
    "opt/titan/purgatory/monday_sync.py",  # moved and chmod -x on Apr 12
    "opt/titan/backups/titan_nightly_backfill.sh",
]
FOLDERS = ["var/log/titan", "var/log/zeus", "var/cache"]


def _tree(root: Path) -> None:
    for name in EXECUTABLE + PLAIN:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755 if name in EXECUTABLE else 0o644)
    for name in FOLDERS:
        (root / name).mkdir(parents=True, exist_ok=True)


def _fill(text: str, root: Path) -> str:
    return text.replace("@ROOT@", str(root)).replace("@PYTHON@", sys.executable)


def _fixture(name: str, root: Path) -> Path:
    """Copy a fixture (a file or the systemd folder) into `root`, with its paths filled in."""
    source = FIXTURES / name
    target = root / name
    if source.is_dir():
        target.mkdir()
        for unit in source.iterdir():
            (target / unit.name).write_text(_fill(unit.read_text(), root))
    else:
        target.write_text(_fill(source.read_text(), root))
    return target


def _line(path: Path, text: str) -> str:
    """`path:line` of the first line containing `text`."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return f"{path}:{number}"
    raise AssertionError(f"{text!r} not in {path}")


def test_exactly_the_four_dead_crontab_lines_are_reported(tmp_path: Path) -> None:
    _tree(tmp_path)
    crontab = _fixture("crontab.txt", tmp_path)

    findings = check_schedules(load_config(None), crontab, None, set())

    assert [(f.kind, f.source) for f in findings] == [
        ("quarantined", _line(crontab, "purgatory/monday_sync.py")),
        ("quarantined", _line(crontab, "purgatory/st_data_fixer.py")),
        ("quarantined", _line(crontab, "backups/titan_nightly_backfill.sh")),
        ("missing_file", _line(crontab, "st_cache_writer.py")),
    ]
    titan = tmp_path / "opt" / "titan"
    assert [f.message for f in findings] == [
        f"runs {titan}/purgatory/monday_sync.py, which is in a quarantine folder (purgatory/) "
        "— remove this crontab line; if the job is still needed, move it out and declare it "
        "as a producer in nexus.toml",
        f"runs {titan}/purgatory/st_data_fixer.py, which is in a quarantine folder "
        "(purgatory/) — remove this crontab line; if the job is still needed, move it out and "
        "declare it as a producer in nexus.toml",
        f"runs {titan}/backups/titan_nightly_backfill.sh, which is in a quarantine folder "
        "(backups/) — remove this crontab line; if the job is still needed, move it out and "
        "declare it as a producer in nexus.toml",
        f"runs {titan}/st_cache_writer.py, which does not exist — remove this crontab line, "
        "or restore the file if the job is still needed",
    ]
    assert str(findings[3]) == f"{findings[3].source}: {findings[3].message}"


def test_a_program_without_the_execute_bit_is_reported(tmp_path: Path) -> None:
    _tree(tmp_path)
    program = tmp_path / "opt/zeus/ad_throttler.sh"  # 0644: fine for /bin/sh, not on its own
    crontab = tmp_path / "crontab"
    crontab.write_text(f"0 * * * * /bin/sh {program}\n5 * * * * {program} --quiet\n")

    (finding,) = check_schedules(load_config(None), crontab, None, set())

    assert finding == Finding(
        "not_executable",
        f"{crontab}:2",
        f"runs {program}, which is not executable — remove this crontab line if it was "
        f"disabled on purpose, or chmod +x {program}",
        path=str(program),
    )


def test_a_system_crontab_has_a_user_field(tmp_path: Path) -> None:
    _tree(tmp_path)
    crontab = _fixture("system_crontab.txt", tmp_path)

    schedules, malformed = read_crontab(crontab)
    findings = check_schedules(load_config(None), crontab, None, set())

    assert malformed == []
    assert [(s.when, s.user) for s in schedules] == [
        ("17 * * * *", "root"),
        ("0 1 * * *", "root"),
        ("@weekly", "root"),
    ]
    assert [(f.kind, f.source) for f in findings] == [
        ("quarantined", _line(crontab, "attic/old_audit.sh"))
    ]


def test_units_run_from_timers_and_daemons(tmp_path: Path) -> None:
    _tree(tmp_path)
    units = _fixture("systemd", tmp_path)

    findings = check_schedules(load_config(None), None, units, set())

    assert [(f.kind, f.source) for f in findings] == [
        ("missing_unit", f"{units}/st-cache.timer:3"),
        ("quarantined", f"{units}/st-migration.service:3"),
    ]
    assert findings[0].message == (
        f"starts st-cache-writer.service, which is not in {units} — disable and remove "
        "st-cache.timer (systemctl disable --now st-cache.timer) or restore "
        "st-cache-writer.service"
    )
    migration = tmp_path / "opt/titan/one_time_migrations/nexus_titan_migration.py"
    assert findings[1].message == (
        f"runs {migration}, which is in a quarantine folder (one_time_migrations/) — disable "
        "and remove st-migration.timer (systemctl disable --now st-migration.timer); if the "
        "job is still needed, move it out and declare it as a producer in nexus.toml"
    )


def test_a_missing_unit_program_is_reported(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    (units / "gone.service").write_text("[Service]\nExecStart=/opt/nowhere/gone.sh\n")

    (finding,) = check_schedules(load_config(None), None, units, set())

    assert (finding.kind, finding.source, finding.message) == (
        "missing_file",
        f"{units}/gone.service:2",
        "runs /opt/nowhere/gone.sh, which does not exist — disable and remove gone.service "
        "(systemctl disable --now gone.service), or restore the file if the job is still needed",
    )


WATCHED = """\
[producers.job_sync]
kind = "sync"
feed = "jobs"
every = "15m"

[producers.titan_invoice_sync]
kind = "external"
every = "1d"
command = "@ROOT@/opt/titan/titan_invoice_sync.py"

[producers.titan_api]
kind = "external"
every = "1m"
unit = "titan-killer.service"

[producers.zeus_throttler]
kind = "external"
every = "1h"
cron = "0 * * * * /bin/sh @ROOT@/opt/zeus/ad_throttler.sh > /dev/null 2>&1"

[producers.job_number_sync]
kind = "external"
every = "1d"
command = "@PYTHON@ @ROOT@/opt/titan/job_number_sync.py"

[producers.nexus_titan_migration]
kind = "external"
every = "1d"
unit = "st-migration"

[producers.legacy_cache_writer]
kind = "external"
every = "1d"
enabled = false
command = "@ROOT@/opt/titan/st_cache_writer.py"

[[products]]
name = "titan.jobs"
kind = "table"
owner = "job_sync"
max_age = "1h"

[[products]]
name = "titan.jobs.invoice_total"
kind = "column"
owner = "titan_invoice_sync"
max_age = "1d"
"""


def test_watched_producers_retired_disabled_and_unscheduled(tmp_path: Path) -> None:
    _tree(tmp_path)
    crontab = _fixture("crontab.txt", tmp_path)
    units = _fixture("systemd", tmp_path)
    config_path = tmp_path / "nexus.toml"
    config_path.write_text(_fill(WATCHED, tmp_path))
    config = load_config(config_path)

    findings = check_schedules(config, crontab, units, {"nexus_titan_migration"})

    assert [(f.kind, f.source, f.producer) for f in findings] == [
        ("quarantined", _line(crontab, "monday_sync.py"), None),
        ("quarantined", _line(crontab, "st_data_fixer.py"), None),
        ("quarantined", _line(crontab, "titan_nightly_backfill.sh"), None),
        ("disabled_scheduled", _line(crontab, "st_cache_writer.py"), "legacy_cache_writer"),
        ("missing_unit", f"{units}/st-cache.timer:3", None),
        ("retired_scheduled", f"{units}/st-migration.service:3", "nexus_titan_migration"),
        ("unscheduled", f"{config_path}:21", "job_number_sync"),
    ]
    assert findings[3].message == (
        "runs producers.legacy_cache_writer, which nexus.toml declares with enabled = false — "
        "remove this crontab line, or set enabled = true"
    )
    assert findings[5].message == (
        "still runs nexus_titan_migration, which was retired in the registry — disable and "
        "remove st-migration.timer (systemctl disable --now st-migration.timer), or "
        "`nexus producers restore nexus_titan_migration` if it should run"
    )
    assert findings[6].message == (
        f"producers.job_number_sync (command '{sys.executable} {tmp_path}/opt/titan/"
        "job_number_sync.py') has no schedule: no crontab line or systemd unit runs it — "
        "schedule it, or retire it with `nexus producers retire job_number_sync`"
    )


def test_a_retired_script_is_recognised_by_name_when_not_declared(tmp_path: Path) -> None:
    _tree(tmp_path)
    units = _fixture("systemd", tmp_path)

    findings = check_schedules(load_config(None), None, units, {"nexus_titan_migration"})

    assert [(f.kind, f.producer) for f in findings] == [
        ("missing_unit", None),
        ("retired_scheduled", "nexus_titan_migration"),
    ]


def test_external_producers_are_unchecked_without_their_kind_of_schedule(tmp_path: Path) -> None:
    config = parse_config(
        _fill(WATCHED, tmp_path).replace("enabled = false\n", ""), tmp_path / "nexus.toml"
    )
    crontab = tmp_path / "empty"
    crontab.write_text("")

    findings = check_schedules(config, crontab, None, set())

    assert [(f.kind, f.producer) for f in findings] == [
        ("unscheduled", "titan_invoice_sync"),
        ("unchecked", "titan_api"),
        ("unscheduled", "zeus_throttler"),
        ("unscheduled", "job_number_sync"),
        ("unchecked", "nexus_titan_migration"),
        ("unscheduled", "legacy_cache_writer"),
    ]
    assert findings[1].message == (
        "producers.titan_api runs as unit titan-killer.service, but no --systemd DIR was "
        "given, so its schedule was not checked — pass --systemd DIR"
    )


def test_malformed_lines_and_unreadable_files(tmp_path: Path) -> None:
    crontab = tmp_path / "crontab"
    crontab.write_text("0 5 * * *\n@often /bin/true\n")
    findings = check_schedules(load_config(None), crontab, None, set())
    assert [(f.kind, f.source) for f in findings] == [
        ("malformed", f"{crontab}:1"),
        ("malformed", f"{crontab}:2"),
    ]
    assert findings[0].message == (
        "is not a crontab entry (five time fields, then the command) — fix it or remove it"
    )
    with pytest.raises(ConfigError, match="cannot read the crontab"):
        check_schedules(load_config(None), tmp_path / "nope", None, set())
    with pytest.raises(ConfigError, match="not a directory of systemd units"):
        check_schedules(load_config(None), None, tmp_path / "nope", set())


def test_render() -> None:
    assert render_findings([]) == (
        "Schedules are clean: nothing dead, quarantined, retired or unscheduled."
    )
    findings = [Finding("missing_file", "c:1", "a"), Finding("unscheduled", "n:2", "b")]
    assert render_findings(findings) == "c:1: a\nn:2: b"
    assert findings[0].as_dict()["kind"] == "missing_file"


# --- finding the script in a command line ---------------------------------------------------


def _paths(found: list[CommandPath]) -> list[tuple[str, str]]:
    return [(str(p.path), p.role) for p in found]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "cd /opt/x && /usr/bin/python3 /opt/x/purgatory/monday_sync.py >> /var/log/x.log 2>&1",
            [
                ("/opt/x", "directory"),
                ("/usr/bin/python3", "program"),
                ("/opt/x/purgatory/monday_sync.py", "script"),
            ],
        ),
        ("/usr/bin/env python3 -u /opt/x/a.py --out /tmp/o.json", [("/opt/x/a.py", "script")]),
        ("python3 -m package.module", []),
        ("cd /opt/q; python3 sub/x.py", [("/opt/q", "directory"), ("/opt/q/sub/x.py", "script")]),
        (
            "bash -lc 'cd /opt/y/backups && ./fix.sh'",
            [("/opt/y/backups", "directory"), ("/opt/y/backups/fix.sh", "program")],
        ),
        ("timeout 1h nice -n 10 /opt/z/job 2>/dev/null", [("/opt/z/job", "program")]),
        ("flock -n /tmp/x.lock /opt/x/run.sh", [("/opt/x/run.sh", "program")]),
        ("FOO=1 /opt/a/b.sh | logger -t b", [("/opt/a/b.sh", "program")]),
        ("/opt/x/y.sh > /opt/x/purgatory/out.log", [("/opt/x/y.sh", "program")]),
        ("$HOME/bin/job.sh", []),
    ],
)
def test_command_paths(command: str, expected: list[tuple[str, str]]) -> None:
    assert _paths(command_paths(command)) == expected


def test_exec_start_prefixes_and_argv0() -> None:
    found = exec_start_paths('-@/usr/bin/python3 my-name "/opt/svc/the daemon.py" --flag')
    assert _paths(found) == [("/usr/bin/python3", "program"), ("/opt/svc/the daemon.py", "script")]


def test_parse_cron_line() -> None:
    assert parse_cron_line("*/5 * * * * /x/y.sh 50% off") == ("*/5 * * * *", None, "/x/y.sh 50")
    assert parse_cron_line("@daily root /x/y", system=True) == ("@daily", "root", "/x/y")
    assert parse_cron_line("15 5 * * *") is None
