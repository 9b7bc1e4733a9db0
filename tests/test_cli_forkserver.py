"""The tests' forked commands behave as the command started afresh: same code, same streams."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli import ForkServer, Result, command, environment, nexus, spawn
from nexus.store.database import Database


def started_afresh(*args: str, db_url: str, home: Path) -> Result:
    done = subprocess.run(
        command(*args),
        env=environment(db_url, home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("db", "status"),
        ("producers", "list"),
        ("sync",),  # no credentials: exit 1, the variables named on stderr
        ("db", "bogus"),  # a usage error: exit 2 from click
        ("producers", "retire", "no_such_producer"),
    ],
    ids=" ".join,
)
def test_a_forked_command_answers_as_one_started_afresh(
    args: tuple[str, ...], db: Database, tmp_path: Path
) -> None:
    forked = nexus(*args, db_url=db.url, home=tmp_path)
    fresh = started_afresh(*args, db_url=db.url, home=tmp_path)
    assert (forked.code, forked.out, forked.err) == (fresh.code, fresh.out, fresh.err)


def test_a_command_sees_its_own_environment_not_the_servers(db: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[mirror\n")
    server = ForkServer(env={**os.environ, "NEXUS_CONFIG": str(bad)})
    try:
        fine = server.run(["producers", "list"], environment(db.url, tmp_path))
        broken = server.run(
            ["producers", "list"], environment(db.url, tmp_path, {"NEXUS_CONFIG": str(bad)})
        )
    finally:
        server.stop()
    assert fine.code == 0, fine.err
    assert broken.code == 1 and str(bad) in broken.err


@pytest.mark.parametrize(
    "body",
    ["import sys; sys.exit(3)", "raise RuntimeError('boom')", "raise KeyboardInterrupt", "pass"],
    ids=["exit-3", "exception", "interrupt", "clean"],
)
def test_a_forked_script_ends_with_the_code_of_one_started_afresh(
    body: str, tmp_path: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text(body + "\n")
    fresh = subprocess.run(
        [sys.executable, str(script)], capture_output=True, timeout=60, check=False
    ).returncode
    forked = spawn([], dict(os.environ), tmp_path / "out.log", script=script).wait(60)
    assert forked == fresh
