"""Checks: freshness, invoice coverage, volume and revenue, each with its evidence."""
