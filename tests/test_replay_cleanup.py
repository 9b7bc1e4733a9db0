"""Replays stop the embedded server they started, however they end; `db stop --all` reaches the rest."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli import command, environment, nexus
from nexus.store.embedded import embedded_url, is_running

#: One quiet day, replayed hourly: a replay that is over in seconds.
SHORT = """\
name: short
seed: 3
start: 2026-04-01T00:00:00Z
until: 2026-04-02T00:00:00Z
step: 1h
business: {completed_jobs_per_day: 4}
"""
#: Two months at the default 15-minute tick: still running when the test interrupts it.
LONG = """\
name: long
seed: 3
start: 2026-03-01T00:00:00Z
until: 2026-04-30T00:00:00Z
"""
EMBEDDED = {"NEXUS_DATABASE_URL": ""}


def scenario(home: Path, text: str) -> Path:
    path = home / "scenario.yaml"
    path.write_text(text)
    return path


def replay_pgdata(home: Path) -> Path:
    return home / "replay" / "pg"


def test_a_replay_stops_the_server_it_started(embedded_home: Path) -> None:
    home = embedded_home
    done = nexus("replay", str(scenario(home, SHORT)), "--json", db_url="", home=home, env=EMBEDDED)
    assert done.code == 0, done.err
    assert done.json()["as_of"].startswith("2026-04-02T00:00")
    assert (replay_pgdata(home) / "PG_VERSION").exists()  # it ran on its own server
    assert not is_running(replay_pgdata(home))


def test_a_failing_replay_stops_its_server_and_names_the_problem(embedded_home: Path) -> None:
    home = embedded_home
    bad = home / "nexus.toml"
    bad.write_text('[producers.job_sync]\nevry = "15m"\n')
    text = SHORT + "config: nexus.toml\n"
    done = nexus("replay", str(scenario(home, text)), db_url="", home=home, env=EMBEDDED)
    assert done.code == 1
    assert f"{bad}:" in done.err and "evry" in done.err
    assert (replay_pgdata(home) / "PG_VERSION").exists()  # it failed after starting it
    assert not is_running(replay_pgdata(home))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_replay_stops_its_server(embedded_home: Path, signum: int) -> None:
    home = embedded_home
    running = subprocess.Popen(
        command("replay", str(scenario(home, LONG))),
        env=environment("", home, EMBEDDED),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert running.stderr is not None
        first = running.stderr.readline()  # printed once its database is ready
        assert first.startswith("replaying long:"), first
        assert is_running(replay_pgdata(home))
        running.send_signal(signum)
        _, err = running.communicate(timeout=120)
        assert running.returncode == 128 + signum, err  # as a shell reports a signal
        assert not is_running(replay_pgdata(home))
    finally:
        running.kill()
        running.wait()


def test_db_stop_all_stops_every_embedded_server_under_home(embedded_home: Path) -> None:
    home = embedded_home
    embedded_url(home)  # the mirror's own server, NEXUS_HOME/pg
    embedded_url(home / "replay")  # one a replay left behind
    done = nexus("db", "stop", "--all", db_url="", home=home, env=EMBEDDED)
    assert done.code == 0, done.err
    for pgdata in (home / "pg", replay_pgdata(home)):
        assert f"stopped the embedded database in {pgdata}" in done.out
        assert not is_running(pgdata)
    again = nexus("db", "stop", "--all", db_url="", home=home, env=EMBEDDED)
    assert again.code == 0 and f"no embedded database was running under {home}" in again.out


def test_replay_serve_shows_the_replay_on_the_dashboard_until_stopped(embedded_home: Path) -> None:
    home, token = embedded_home, "replay-serve-test-token"
    port = free_port()
    serving = subprocess.Popen(
        command("replay", str(scenario(home, SHORT)), "--json", "--serve", "--port", str(port)),
        env=environment("", home, {**EMBEDDED, "NEXUS_WEB_TOKEN": token}),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        proof = wait_for_proof(f"http://127.0.0.1:{port}/proof.json", token, serving)
        assert proof["as_of"].startswith("2026-04-02T00:00")  # the replay's `until`, not today
        assert proof["tenant"] == 1001
        serving.send_signal(signal.SIGINT)
        printed, _ = serving.communicate(timeout=120)
        assert json.loads(printed)["as_of"] == proof["as_of"]  # the same proof, printed first
        assert not is_running(replay_pgdata(home))
        assert (replay_pgdata(home) / "PG_VERSION").exists()  # the data stays for a later look
    finally:
        serving.kill()
        serving.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_proof(url: str, token: str, process: subprocess.Popen[str]) -> Any:
    """The page's JSON once the server answers; fails if the command exits first."""
    while process.poll() is None:
        try:
            answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        except httpx.TransportError:
            time.sleep(0.2)  # not listening yet
            continue
        assert answer.status_code == 200, answer.text
        return answer.json()
    raise AssertionError(f"`nexus replay --serve` exited with {process.returncode} before serving")
