"""A fake ServiceTitan tenant over HTTP, with a seeded business on a virtual clock.

    from nexus.simulator import Simulator, BusinessConfig, Credentials
    sim = Simulator(clock=VirtualClock(start), credentials=Credentials())
    tenant = sim.add_tenant(1001, BusinessConfig(seed=1), history_days=60)
    with sim.serve() as server:
        ...  # point a ServiceTitan client at server.base_url and server.auth_url

Every feed of `nexus.catalog` is served at its official paths. Modules:
`business` (config and the business on the clock), `plan` (the seeded day
plans: jobs, invoices, appointments, memberships, …), `generated` (the feeds
the business does not model: their sizes and changes), `generate` (records
drawn from a schema), `catalog` (ids, job types, names), `entities` and
`records` (records and their API shapes), `sources` (how each feed's
endpoints shape its records), `feedlog` (change logs and export tokens),
`faults`, `auth`, `tenant` (what the API asks of a tenant), `api` (routes
from the catalog), `control` and `app` (the HTTP app), `problems` (error
bodies), `sim` (the Simulator), `live` (`serve_forever`).

Ground truth: `tenant.truth(feed)` gives every record of a feed as its export
returns it, keyed by the feed's key; `tenant.job_scheduled_at(job_id)` the
earliest start of the job's active appointments.
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
