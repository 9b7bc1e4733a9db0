#!/usr/bin/env python3
"""The project's one task runner; needs nothing but Python 3.11+.

    python3 tasks.py demo     set up, then run the demo on the embedded database
    python3 tasks.py test     set up (Chromium too), then run lint, types, layer contract, tests
    python3 tasks.py setup    only create .venv and install the project
    python3 tasks.py bench    run the benchmarks under bench/

Setup creates `.venv` next to this file and installs the project with its
development extras; it reinstalls only when pyproject.toml changes. The browser
tests drive Debian's Chromium: `test` installs it with apt-get when it runs as
root, and otherwise stops before anything runs with the command to install it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".nexus-installed"
#: Where the browser tests look for the browser: Debian's `chromium` package puts it here.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_PACKAGE = "chromium"


def echo(*cmd: str | Path) -> None:
    """Say which command runs (or whose output follows), as a shell's `set -x` does."""
    print("+", " ".join(str(c) for c in cmd), flush=True)


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    echo(*cmd)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env, check=False)
    if result.returncode:
        sys.exit(result.returncode)


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs on whatever python3 is
        sys.exit(f"Nexus needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print(f"+ creating {VENV.name}", flush=True)
        venv.create(VENV, with_pip=True)
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(digest)


def browser(chromium: Path = CHROMIUM, as_root: bool | None = None) -> None:
    """Make sure the browser tests find Chromium: install it as root, else say how."""
    if chromium.exists():
        return
    apt = shutil.which("apt-get")
    install = f"apt-get install -y {CHROMIUM_PACKAGE}"
    if as_root is None:
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if apt is None:
        sys.exit(
            f"{chromium} is missing and the browser tests need it; this machine has no apt-get: "
            f"install Chromium with its package manager so that {chromium} exists, then run "
            "`python3 tasks.py test` again"
        )
    if not as_root:
        sys.exit(
            f"{chromium} is missing and the browser tests need it: run "
            f"`sudo apt-get update && sudo {install}`, then `python3 tasks.py test` again"
        )
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(apt, "update", "-qq", env=quiet)
    run(apt, "install", "-y", "-qq", CHROMIUM_PACKAGE, env=quiet)
    if not chromium.exists():
        sys.exit(f"`{install}` ran but {chromium} is still missing: install Chromium there")


def demo(args: list[str]) -> None:
    setup()
    run(BIN / "nexus", "demo", *args)


#: The style checks, quick, and the type and layer checks, which take a while from cold.
STYLE: tuple[tuple[str, ...], ...] = (
    ("ruff", "check", "src", "tests", "bench", "tasks.py"),
    ("ruff", "format", "--check", "src", "tests", "bench", "tasks.py"),
)
CHECKS: tuple[tuple[str, ...], ...] = (("mypy",), ("lint-imports",))


def lint() -> None:
    setup()
    for cmd in (*STYLE, *CHECKS):
        run(BIN / cmd[0], *cmd[1:])


def test(args: list[str]) -> None:
    """The style checks, then the tests; the type and layer checks run beside the tests
    on the CPU they leave idle, and their output follows the tests'."""
    browser()
    setup()
    for cmd in STYLE:
        run(BIN / cmd[0], *cmd[1:])
    beside = [(cmd, _idle_priority(cmd)) for cmd in CHECKS]
    echo(BIN / "pytest", *args)
    failed = subprocess.run([str(BIN / "pytest"), *args], cwd=ROOT, check=False).returncode
    for cmd, check in beside:
        output, _ = check.communicate()
        echo(BIN / cmd[0], *cmd[1:])
        print(output, end="", flush=True)
        failed = failed or check.returncode
    if failed:
        sys.exit(failed)


def _idle_priority(cmd: tuple[str, ...]) -> subprocess.Popen[str]:
    """`cmd` started with its output kept, at the lowest priority where the OS has one."""
    process = subprocess.Popen(
        [str(BIN / cmd[0]), *cmd[1:]],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if hasattr(os, "setpriority"):
        os.setpriority(os.PRIO_PROCESS, process.pid, 19)
    return process


def bench(args: list[str]) -> None:
    setup()
    for script in args or ["loader.py", "replay.py"]:
        run(BIN / "python", ROOT / "bench" / script)


def main() -> None:
    task, *args = sys.argv[1:] or ["help"]
    tasks = {
        "setup": setup,
        "demo": lambda: demo(args),
        "lint": lint,
        "test": lambda: test(args),
        "bench": lambda: bench(args),
    }
    if task not in tasks:
        print(__doc__)
        sys.exit(0 if task == "help" else 2)
    tasks[task]()


if __name__ == "__main__":
    main()
