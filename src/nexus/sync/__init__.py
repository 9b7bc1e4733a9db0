"""Producers that move ServiceTitan feeds into the mirror."""

from nexus.sync.feed_sync import Progress, Syncer, SyncResult, sync_feed

__all__ = ["Progress", "SyncResult", "Syncer", "sync_feed"]
