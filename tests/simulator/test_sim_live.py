"""The standing simulator: its clock follows the wall clock, and `serve_forever` serves."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import timedelta

import httpx
from simclient import START, TENANT

from nexus.clock import VirtualClock
from nexus.simulator import BusinessConfig, Simulator, WallClockFollower


def test_the_follower_keeps_the_business_going() -> None:
    sim = Simulator(clock=VirtualClock(START))
    tenant = sim.add_tenant(TENANT, BusinessConfig(seed=1), history_days=1)
    jobs = len(tenant.truth_jobs())
    follower = WallClockFollower(sim, speed=4 * 86_400, every_s=0.05).start()
    try:
        time.sleep(0.4)
    finally:
        follower.stop()
    assert sim.now() - START > timedelta(hours=12)
    assert len(tenant.truth_jobs()) > jobs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_forever_serves_until_stopped() -> None:
    port = _free_port()
    code = (
        "from nexus.simulator import serve_forever; "
        f"serve_forever(port={port}, tenants=[1001, 1002], history_days=3, "
        "client_id='me', drop_export_share={'invoices': 0.5})"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/_sim/clock", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "serve_forever exited"
                assert time.monotonic() < deadline, "serve_forever did not start"
                time.sleep(0.1)
        form = {"grant_type": "client_credentials", "client_id": "me"}
        token = httpx.post(f"{base}/connect/token", data={**form, "client_secret": "sim-secret"})
        headers = {
            "Authorization": f"Bearer {token.json()['access_token']}",
            "ST-App-Key": "sim-app-key",
        }
        for tenant in (1001, 1002):
            page = httpx.get(f"{base}/jpm/v2/tenant/{tenant}/export/jobs", headers=headers)
            assert page.status_code == 200 and page.json()["data"]
        faults = httpx.get(f"{base}/_sim/tenants/1001/faults").json()
        assert faults["drop_export_share"] == {"invoices": 0.5}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/connect/token" in output
    assert "client id      me" in output
    assert "sim-secret" in output and "sim-app-key" in output
