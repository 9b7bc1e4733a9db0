"""A fake ServiceTitan tenant over HTTP, with a seeded business on a virtual clock.

    from nexus.simulator import Simulator, BusinessConfig, Credentials
    sim = Simulator(clock=VirtualClock(start), credentials=Credentials())
    tenant = sim.add_tenant(1001, BusinessConfig(seed=1), history_days=60)
    with sim.serve() as server:
        ...  # point a ServiceTitan client at server.base_url and server.auth_url

Modules: `business` (config and the business on the clock), `plan` (the seeded
day plans), `catalog` (ids, job types, names), `entities` and `records`
(records and their API shapes), `feedlog` (change logs and export tokens),
`faults`, `auth`, `tenant` (what the API asks of a tenant), `api`, `control`
and `app` (the HTTP app), `problems` (error bodies), `sim` (the Simulator),
`live` (`serve_forever`).
"""

from nexus.simulator.auth import Credentials
from nexus.simulator.business import TRUTH_CLASSES, BusinessConfig
from nexus.simulator.faults import AS_STRING, REMOVE, Faults
from nexus.simulator.live import WallClockFollower, serve_forever
from nexus.simulator.sim import SimServer, Simulator
from nexus.simulator.tenant import Tenant

__all__ = [
    "AS_STRING",
    "REMOVE",
    "TRUTH_CLASSES",
    "BusinessConfig",
    "Credentials",
    "Faults",
    "SimServer",
    "Simulator",
    "Tenant",
    "WallClockFollower",
    "serve_forever",
]
