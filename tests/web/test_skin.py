"""The web is a skin: it asks the core for data and never speaks SQL itself."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "src" / "nexus" / "web"

#: A statement run, or SQL written out: what belongs in the core module of its concept.
SQL = re.compile(
    r"\.execute(many)?\(|\.copy\(|\b(SELECT|INSERT INTO|DELETE FROM|TRUNCATE)\b|\bUPDATE \S+ SET\b"
)

#: "path:line text" a scan may pass, each with why; empty, and best kept so.
ALLOWED: dict[str, str] = {}


def sql_in(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line of `text` that runs or writes SQL."""
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if SQL.search(line)
    ]


def test_the_scan_finds_sql_where_there_is_some() -> None:
    found = sql_in('x = 1\nconn.execute("SELECT 1")\n"UPDATE nexus.runs SET status"\n')
    assert [number for number, _ in found] == [2, 3]
    assert sql_in('<select id="f-kind">\nSelected runs: update the page\n') == []


def test_no_web_module_or_template_runs_sql() -> None:
    scanned = sorted(p for p in WEB.rglob("*") if p.suffix in {".py", ".html"})
    assert WEB / "views.py" in scanned and WEB / "templates" / "proof.html" in scanned
    offenders = [
        f"{path.relative_to(WEB.parent)}:{number} {line}"
        for path in scanned
        for number, line in sql_in(path.read_text(encoding="utf-8"))
        if f"{path.relative_to(WEB.parent)}:{line}" not in ALLOWED
    ]
    assert offenders == [], (
        "SQL in the web skin: move each query into the core module of its concept "
        "(e.g. nexus.registry.run_history, nexus.registry.timeline, nexus.sync.hints) as a named "
        "function returning typed rows, and call that instead:\n  " + "\n  ".join(offenders)
    )
