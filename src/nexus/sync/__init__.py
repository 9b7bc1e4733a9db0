"""Producers that move ServiceTitan feeds into the mirror."""

from nexus.sync.feed_sync import PRODUCERS, Progress, Syncer, SyncResult, sync_feed

__all__ = ["PRODUCERS", "Progress", "SyncResult", "Syncer", "sync_feed"]
