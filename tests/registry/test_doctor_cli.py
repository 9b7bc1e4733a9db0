"""`nexus doctor schedules` end to end: exit code and exactly the dead lines."""

from __future__ import annotations

from pathlib import Path

from test_hygiene import _fixture, _tree

from cli import nexus
from nexus.store.database import Database


def test_doctor_reports_exactly_the_four_dead_crontab_lines_and_fails(
    db: Database, tmp_path: Path
) -> None:
    _tree(tmp_path)
    crontab = _fixture("crontab.txt", tmp_path)
    result = nexus(
        "doctor", "schedules", "--crontab", str(crontab), "--json", db_url=db.url, home=tmp_path
    )
    assert result.code == 1, result.err
    [schedules] = result.json()["checks"]
    findings = schedules["problems"]
    dead = [f for f in findings if f["kind"] in ("quarantined", "missing_file", "not_executable")]
    assert len(dead) == 4
    lines = crontab.read_text().splitlines()
    reported = {int(f["source"].rsplit(":", 1)[1]) for f in dead}
    assert {lines[n - 1].split()[-1][-30:] for n in reported} == {
        lines[i].split()[-1][-30:]
        for i, text in enumerate(lines)
        if "purgatory/" in text or "backups/" in text or "st_cache_writer" in text
    }


def test_doctor_on_healthy_schedules_exits_zero(db: Database, tmp_path: Path) -> None:
    _tree(tmp_path)
    crontab = tmp_path / "crontab"
    crontab.write_text(f"*/15 * * * * {tmp_path}/opt/titan/titan_sync_daemon.py\n")
    result = nexus("doctor", "schedules", "--crontab", str(crontab), db_url=db.url, home=tmp_path)
    assert result.code == 0, result.out + result.err
    assert f"ok    {crontab}: every schedule runs a live, executable producer" in result.out
