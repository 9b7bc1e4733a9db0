"""The README's test command sets up the browser itself: apt-get as root, else the exact command."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[1]


def _tasks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_apt_get(folder: Path, chromium: Path) -> Path:
    """An apt-get that logs its arguments and environment, and 'installs' by creating `chromium`."""
    log = folder / "apt-get.log"
    script = folder / "apt-get"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$DEBIAN_FRONTEND $*" >> {log}\n'
        f'if [ "$1" = install ]; then : > {chromium}; fi\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


def test_a_missing_browser_stops_a_user_with_the_command_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = tmp_path / "chromium"
    log = _fake_apt_get(tmp_path, chromium)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        _tasks().browser(chromium, as_root=False)
    assert str(stopped.value) == (
        f"{chromium} is missing and the browser tests need it: run "
        "`sudo apt-get update && sudo apt-get install -y chromium`, "
        "then `python3 tasks.py test` again"
    )
    assert not log.exists()  # nothing was attempted without the rights to do it


def test_root_installs_debians_chromium_with_apt_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = tmp_path / "chromium"
    log = _fake_apt_get(tmp_path, chromium)
    monkeypatch.setenv("PATH", str(tmp_path))
    _tasks().browser(chromium, as_root=True)
    assert chromium.exists()
    assert log.read_text().splitlines() == [
        "noninteractive update -qq",
        "noninteractive install -y -qq chromium",
    ]
    _tasks().browser(chromium, as_root=True)  # present now: apt-get is not asked again
    assert len(log.read_text().splitlines()) == 2


def test_without_apt_get_the_message_says_where_the_browser_must_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = tmp_path / "chromium"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(
        SystemExit, match=r"no apt-get: install Chromium .* so that .*chromium exists"
    ):
        _tasks().browser(chromium, as_root=True)
