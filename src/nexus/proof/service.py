"""The proof for the configured tenant, as the CLI and the web serve it."""

from __future__ import annotations

from datetime import datetime

from nexus.clock import Clock, fresh_now
from nexus.proof.build import build_proof
from nexus.proof.inputs import proof_inputs
from nexus.proof.model import Proof
from nexus.registry.config import Config
from nexus.store.database import Database


def current_proof(db: Database, config: Config, tenant: int, clock: Clock) -> Proof:
    """Build the Evolution Proof for `tenant` as of the clock's now, asked once."""
    return proof_as_of(db, config, tenant, fresh_now(clock))


def proof_as_of(db: Database, config: Config, tenant: int, now: datetime) -> Proof:
    """Build the Evolution Proof for `tenant` as of `now` (a moment already asked of the clock)."""
    db.ensure_schema()
    with db.connect(autocommit=True) as conn:
        return build_proof(conn, proof_inputs(config, tenant), now)
