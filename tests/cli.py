"""Run the real `nexus` command in a subprocess against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "nexus.cli", *args]


def environment(db_url: str, home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `nexus` runs in: this one without NEXUS_*, then the test's settings."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")},
        "NEXUS_HOME": str(home),
        "NEXUS_DATABASE_URL": db_url,
        "NEXUS_ST_TENANT": "1001",
        "COLUMNS": "200",
        **(env or {}),
    }


def nexus(*args: str, db_url: str, home: Path, env: dict[str, str] | None = None) -> Result:
    done = subprocess.run(
        command(*args),
        env=environment(db_url, home, env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)
