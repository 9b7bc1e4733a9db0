"""Run the real `nexus` command in a process of its own against the test database.

Each command runs in a process forked from a server that has imported everything
already (`cli_forkserver`): the command's own argv, environment, streams and exit
code, without paying its second of imports. `command()` is for tests that start the
process themselves, with its imports.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_S = 300


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
    """`nexus ARGS` run to its end with the test's settings, as `subprocess.run` would."""
    return _server().run(list(args), environment(db_url, home, env))


class ForkServer:
    """This test process's `cli_forkserver`, started on first use, gone when the tests are."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="nxcli"))
        self.socket = str(self.folder / "s")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("cli_forkserver.py")), self.socket],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"cli_forkserver did not start (exit {self.process.wait()})")
        atexit.register(self.stop)

    def run(self, argv: list[str], env: dict[str, str]) -> Result:
        with (
            tempfile.NamedTemporaryFile(dir=self.folder) as out,
            tempfile.NamedTemporaryFile(dir=self.folder) as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
        ):
            conn.connect(self.socket)
            request = {
                "argv": argv,
                "env": env,
                "cwd": os.getcwd(),
                "out": out.name,
                "err": err.name,
            }
            conn.sendall(json.dumps(request).encode() + b"\n")
            conn.settimeout(TIMEOUT_S)
            with conn.makefile("rb") as answers:
                pid = int(answers.readline())
                try:
                    code = int(answers.readline())
                except TimeoutError:
                    os.kill(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired(["nexus", *argv], TIMEOUT_S) from None
            return Result(code, _text(out.name), _text(err.name))

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=10)


def _text(path: str) -> str:
    """A stream's bytes as `subprocess.run(text=True)` gives them."""
    with open(path, newline=None) as stream:
        return stream.read()


_started: ForkServer | None = None
_starting = threading.Lock()


def _server() -> ForkServer:
    global _started
    with _starting:
        if _started is None or _started.process.poll() is not None:
            _started = ForkServer()
        return _started
