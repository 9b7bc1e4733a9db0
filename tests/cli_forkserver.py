"""A fork server for the `nexus` command: each command is its own process, without the import.

A command's process spends most of its life importing (typer, rich, pydantic, psycopg,
httpx and Nexus itself), and the tests run a hundred commands. This server imports
all of that once, then forks a process per command: the process gets the command's
argv, environment, working directory, stdin from /dev/null and stdout and stderr into
files, runs `python -m nexus.cli` there with `runpy` as the interpreter would, and
exits with its code. Nothing of `nexus.cli` itself is imported here: each command
imports it fresh, so its consoles read the command's own environment.

It also runs a Python file the same way (`script`), as `python SCRIPT ARGV` would.
What a forked process cannot have of its own: a hash seed (all share the server's)
and the stream encodings, fixed when the server started.

Run as `python cli_forkserver.py SOCKET`; it serves until its stdin closes. One request
per connection, a JSON line `{"argv", "script", "env", "cwd", "out", "err"}`; the answer
is the process's pid, then its exit code as `subprocess` gives it (negative for a signal).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import pkgutil
import runpy
import select
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any, NoReturn


def preload() -> None:
    """Import what commands import, then forget `nexus.cli` so each command imports it."""
    import nexus
    import nexus.cli  # its third-party imports stay

    for module in pkgutil.walk_packages(nexus.__path__, "nexus."):
        if not module.name.startswith(("nexus.cli", "nexus.store.migrations")):
            importlib.import_module(module.name)
    for name in [m for m in sys.modules if m == "nexus.cli" or m.startswith("nexus.cli.")]:
        del sys.modules[name]
    del nexus.cli


def exit_code(exc: SystemExit) -> int:
    """The status the interpreter exits with for `exc`."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run_command(request: dict[str, Any]) -> NoReturn:
    """In the forked process: become the command, run it, exit with its status."""
    code, interrupted = 1, False
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()  # TZ, read at start-up
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["out"], os.O_WRONLY | os.O_TRUNC),
            (2, request["err"], os.O_WRONLY | os.O_TRUNC),
        ):
            if fd == 2 and path == request["out"]:
                os.dup2(1, 2)  # stderr=STDOUT
                continue
            opened = os.open(path, flags)
            os.dup2(opened, fd)
            os.close(opened)
        script = request["script"]
        try:
            if script is None:
                sys.argv = ["nexus", *request["argv"]]
                sys.path[0] = request["cwd"]  # as `python -m` has it
                runpy.run_module("nexus.cli", run_name="__main__", alter_sys=True)
            else:
                sys.argv = [script, *request["argv"]]
                sys.path[0] = os.path.dirname(os.path.abspath(script))
                runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exit_code(exc)
        except KeyboardInterrupt:
            # The interpreter ends by the signal, as the shell then sees it.
            sys.excepthook(*sys.exc_info())
            interrupted = True
        except BaseException:
            sys.excepthook(*sys.exc_info())
        # As the interpreter ends: its threads' exit hooks (thread pools), the wait for
        # non-daemon threads, then the `atexit` functions.
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        if interrupted:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code)


def serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    # SIGCHLD wakes the loop to reap a finished command and answer for it.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    waiting: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([listener, wake_r, sys.stdin], [], [])
        if sys.stdin in ready and not sys.stdin.readline():
            return  # the tests are gone
        if wake_r in ready:
            os.read(wake_r, 4096)
        if listener in ready:
            conn, _ = listener.accept()
            try:
                with conn.makefile("rb") as lines:
                    request = json.loads(lines.readline())
                pid = os.fork()
            except (OSError, ValueError) as exc:  # a bad request fails alone, not the server
                with contextlib.suppress(OSError):
                    conn.sendall(f"error {exc!r}\n".encode())
                conn.close()
            else:
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    for fd in (listener, conn, *waiting.values()):  # not the other commands'
                        fd.close()
                    os.close(wake_r)
                    os.close(wake_w)
                    run_command(request)
                with contextlib.suppress(OSError):  # a client gone is told nothing more
                    conn.sendall(f"{pid}\n".encode())
                waiting[pid] = conn
        # Always, even after a bad request: this pass may have read the wake-up of an end.
        while waiting:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            if (conn := waiting.pop(pid, None)) is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                conn.close()


if __name__ == "__main__":
    preload()
    serve(sys.argv[1])
