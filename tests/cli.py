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
import select
import shutil
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


def run(argv: list[str], env: dict[str, str]) -> Result:
    """`nexus ARGV` run to its end with exactly `env`, as `subprocess.run` would."""
    return _server().run(argv, env)


def spawn(
    argv: list[str],
    env: dict[str, str],
    out: Path,
    err: Path | None = None,
    script: Path | None = None,
) -> Forked:
    """`nexus ARGV` (or the Python file `script` with ARGV) started with `env`, its stdout
    into `out` and its stderr into `err` (`out` too, unless given), as `subprocess.Popen`
    would start it: a process to signal, poll and wait for."""
    return _server().spawn(argv, env, out, err or out, script)


class Forked:
    """A process the fork server started, for this test to signal, poll and wait for."""

    def __init__(self, argv: list[str], conn: socket.socket) -> None:
        self.args, self._conn, self._read = argv, conn, b""
        self.returncode: int | None = None
        first = self._line(TIMEOUT_S)
        if not first.isdigit():
            conn.close()
            raise RuntimeError(f"the fork server could not start {argv}: {first}")
        self.pid = int(first)

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._conn], [], [], 0)[0]:
            self._end(self._line(TIMEOUT_S))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._end(self._line(timeout))
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _line(self, timeout: float | None) -> str:
        """The server's next line about this process; its exit code comes when it ends."""
        while b"\n" not in self._read:
            if not select.select([self._conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            chunk = self._conn.recv(64)
            if not chunk:
                raise RuntimeError(f"the fork server went away while {self.args} ran")
            self._read += chunk
        line, _, self._read = self._read.partition(b"\n")
        return line.decode()

    def _end(self, code: str) -> None:
        self.returncode = int(code)
        self._conn.close()


class ForkServer:
    """A `cli_forkserver` of this test process; `_server()` starts one on first use."""

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

    def spawn(
        self, argv: list[str], env: dict[str, str], out: Path, err: Path, script: Path | None = None
    ) -> Forked:
        for path in {out, err}:
            path.touch()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.socket)
        request = {
            "argv": argv,
            "script": None if script is None else str(script),
            "env": env,
            "cwd": os.getcwd(),
            "out": str(out),
            "err": str(err),
        }
        conn.sendall(json.dumps(request).encode() + b"\n")
        return Forked(["nexus", *argv] if script is None else [str(script), *argv], conn)

    def run(self, argv: list[str], env: dict[str, str]) -> Result:
        with tempfile.TemporaryDirectory(dir=self.folder) as streams:
            out, err = Path(streams, "out"), Path(streams, "err")
            forked = self.spawn(argv, env, out, err)
            try:
                code = forked.wait(TIMEOUT_S)
            except subprocess.TimeoutExpired:
                forked.kill()
                raise
            return Result(code, _text(out), _text(err))

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def _text(path: Path) -> str:
    """A stream's bytes as `subprocess.run(text=True)` gives them."""
    with path.open(newline=None) as stream:
        return stream.read()


_started: ForkServer | None = None
_starting = threading.Lock()


def _server() -> ForkServer:
    global _started
    with _starting:
        if _started is None or _started.process.poll() is not None:
            _started = ForkServer()
        return _started
