"""Work the test run does once for all its worker processes: a database built by a replay.

pytest-xdist runs a session fixture once in each worker, and each worker has its
own PostgreSQL server. A fixture that replays weeks of a scenario would replay
them in every worker; `replayed_once` replays in the first worker that asks and
leaves a dump (`pg_dump`, custom format) beside the run's temporary folders, and
every later worker restores the dump into its own server instead.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def _postgres_bin() -> Path:
    """The folder of the embedded server's client programs (pg_dump, pg_restore)."""
    from pgserver._commands import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

    return Path(POSTGRES_BIN_PATH)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def replayed_once(
    factory: pytest.TempPathFactory, name: str, url: str, build: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Fill the database at `url` (existing, empty) as `build` does, building it once a run.

    `build` fills the database and returns what the tests read besides it (JSON);
    later workers get the same from the dump and its JSON.
    """
    # Every worker's basetemp is a child of the run's own temporary folder.
    shared = factory.getbasetemp().parent
    dump, meta = shared / f"{name}.dump", shared / f"{name}.json"
    with _locked(shared / f"{name}.lock"):
        if meta.exists():
            subprocess.run(
                [_postgres_bin() / "pg_restore", "--no-owner", "--exit-on-error", "-d", url, dump],
                check=True,
                capture_output=True,
            )
            result: dict[str, Any] = json.loads(meta.read_text())
            return result
        result = build()
        subprocess.run(
            [_postgres_bin() / "pg_dump", "--format=custom", "-f", dump, url],
            check=True,
            capture_output=True,
        )
        meta.write_text(json.dumps(result))
        return result
