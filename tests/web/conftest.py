"""Web tests share the replayed database and app fixtures of `webkit`."""

from webkit import app, client, clock, make_sim, replayed, server, sim, web

__all__ = ["app", "client", "clock", "make_sim", "replayed", "server", "sim", "web"]
