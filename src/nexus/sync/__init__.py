"""Producers that move ServiceTitan feeds into the mirror."""

from nexus.sync.feed_sync import PRODUCERS, SyncResult, sync_feed, sync_producer

__all__ = ["PRODUCERS", "SyncResult", "sync_feed", "sync_producer"]
