"""What the registry needs to know of the configuration, as small protocols.

The registry works from any object with producers and products shaped like
these; `nexus.registry.config.Config` is the real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo


class ProducerLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def every(self) -> timedelta: ...
    @property
    def enabled(self) -> bool: ...


class ProductLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def max_age(self) -> timedelta: ...
    @property
    def path(self) -> Path | None: ...


class RegistryConfig(Protocol):
    @property
    def producers(self) -> Mapping[str, ProducerLike]: ...
    @property
    def products(self) -> Sequence[ProductLike]: ...
    def resolve_path(self, path: Path) -> Path: ...
    def syncer_of(self, feed: str) -> str | None: ...
    def zone(self, tenant_id: int | None = None) -> ZoneInfo: ...
