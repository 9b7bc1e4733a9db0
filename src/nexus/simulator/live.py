"""Run the simulator as a standing server whose business keeps going in real time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import uvicorn

from nexus.clock import VirtualClock
from nexus.serving import KEEP_ALIVE_S
from nexus.simulator.auth import Credentials
from nexus.simulator.business import BusinessConfig
from nexus.simulator.sim import Simulator


class WallClockFollower:
    """Move a simulator's virtual clock along with the wall clock, `speed` times as fast."""

    def __init__(self, sim: Simulator, speed: float = 1.0, every_s: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._sim = sim
        self._speed = speed
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-clock", daemon=True)

    def start(self) -> WallClockFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        virtual_start = self._sim.now()
        wall_start = time.monotonic()
        while not self._stop.wait(self._every_s):
            elapsed = (time.monotonic() - wall_start) * self._speed
            target = virtual_start + timedelta(seconds=elapsed)
            if target > self._sim.now():
                self._sim.advance_to(target)


def serve_forever(
    port: int = 8765,
    tenants: list[int] | None = None,
    seed: int = 1,
    history_days: int = 60,
    client_id: str | None = None,
    client_secret: str | None = None,
    app_key: str | None = None,
    drop_export_share: dict[str, float] | None = None,
    host: str = "127.0.0.1",
    speed: float = 1.0,
) -> None:
    """Serve simulated tenants until interrupted; the business follows real time from now."""
    defaults = Credentials()
    credentials = Credentials(
        client_id or defaults.client_id,
        client_secret or defaults.client_secret,
        app_key or defaults.app_key,
    )
    sim = Simulator(
        clock=VirtualClock(datetime.now(UTC).replace(microsecond=0)), credentials=credentials
    )
    for tenant_id in tenants or [1001]:
        tenant = sim.add_tenant(tenant_id, BusinessConfig(seed=seed), history_days=history_days)
        if drop_export_share:
            tenant.faults.drop_export_share(drop_export_share)
    base_url = f"http://{host}:{port}"
    print(f"ServiceTitan simulator: tenants {', '.join(str(t) for t in sim.tenants)}")
    print(f"  API base URL   {base_url}")
    print(f"  auth URL       {base_url}/connect/token")
    print(f"  client id      {credentials.client_id}")
    print(f"  client secret  {credentials.client_secret}")
    print(f"  app key        {credentials.app_key}")
    print(f"  control        {base_url}/_sim/docs")
    follower = WallClockFollower(sim, speed).start()
    try:
        uvicorn.run(
            sim.app, host=host, port=port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S
        )
    finally:
        follower.stop()
