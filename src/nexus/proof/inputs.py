"""Turn the configuration into the proof's inputs: the tenant's zone and the reference revenue."""

from __future__ import annotations

from collections.abc import Mapping

from nexus.checks.revenue import read_reference_csv, read_reference_sql
from nexus.proof.build import ProofInputs, table_reference
from nexus.registry.config import Config
from nexus.store.connection import Connection


def proof_inputs(
    config: Config,
    tenant: int,
    timezone: str | None = None,
    sync_miss_ids: frozenset[int] = frozenset(),
) -> ProofInputs:
    zone = timezone or config.tenant(tenant).timezone
    reference = config.reference_revenue

    def read_reference(conn: Connection) -> tuple[Mapping[str, float] | None, str | None]:
        if reference is not None and reference.csv is not None:
            return read_reference_csv(config.resolve_path(reference.csv)), reference.name
        if reference is not None and reference.sql is not None:
            return read_reference_sql(conn, reference.sql, tenant), reference.name
        return table_reference(conn, tenant)

    return ProofInputs(
        config=config,
        tenant=tenant,
        timezone=zone,
        reference=read_reference,
        sync_miss_ids=sync_miss_ids,
    )
