"""Doctor tests run the real `nexus doctor` against the test database and the simulated tenant."""

from stsim import clock, make_sim, server, sim

__all__ = ["clock", "make_sim", "server", "sim"]
