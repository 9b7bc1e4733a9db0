"""Sync tests share the simulated tenant fixtures."""

from stsim import client, clock, make_sim, server, sim

__all__ = ["client", "clock", "make_sim", "server", "sim"]
