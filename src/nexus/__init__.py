"""Nexus: a ServiceTitan to Postgres mirror that knows when it can be trusted."""

__version__ = "0.1.0"
